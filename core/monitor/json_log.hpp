#pragma once

// Docker's json-file log format: one JSON object per line,
//   {"log":"hello\n","stream":"stdout","time":"2026-11-22T13:45:42.123456789Z"}
// Output is split into lines; a line longer than 16 KiB is written in 16 KiB pieces, the
// last piece of a line carrying the "\n".

#include <string>
#include <string_view>
#include <vector>

namespace berth::monitor {

// --log-opt max-size=, max-file= (Docker's json-file rotation): when the log reaches
// max_size it becomes <path>.1 (older ones shift up to <path>.<max_file - 1>) and a new one
// starts; with max_file 1 it is emptied instead.
struct LogRotation {
  int64_t max_size = 0;  // bytes; 0: never rotate
  int max_file = 1;
};

class JsonLogWriter {
 public:
  // `fd` < 0: the "none" driver, nothing is written.
  JsonLogWriter(int fd, std::string path = "", LogRotation rotation = {});
  void write(int stream, std::string_view data);  // stream 1 = stdout, 2 = stderr
  void flush();  // writes pending partial lines
  int fd() const { return fd_; }

 private:
  void emit(int stream, std::string_view piece);
  void rotate();
  int fd_;
  std::string path_;
  LogRotation rotation_;
  int64_t size_ = 0;
  std::string pending_[3];
};

// The files of a log, oldest first: <path>.<max_file - 1> ... <path>.1, <path>.
std::vector<std::string> log_files(const std::string& path, int max_file);

// One decoded log line.
struct LogEntry {
  std::string log;
  std::string stream;
  std::string time;
};
bool parse_log_line(std::string_view line, LogEntry* out);

}  // namespace berth::monitor
