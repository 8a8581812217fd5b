#pragma once

// Docker's json-file log format: one JSON object per line,
//   {"log":"hello\n","stream":"stdout","time":"2026-11-22T13:45:42.123456789Z"}
// Output is split into lines; a line longer than 16 KiB is written in 16 KiB pieces, the
// last piece of a line carrying the "\n".

#include <string>
#include <string_view>

namespace berth::monitor {

class JsonLogWriter {
 public:
  explicit JsonLogWriter(int fd) : fd_(fd) {}
  void write(int stream, std::string_view data);  // stream 1 = stdout, 2 = stderr
  void flush();  // writes pending partial lines

 private:
  void emit(int stream, std::string_view piece);
  int fd_;
  std::string pending_[3];
};

// One decoded log line.
struct LogEntry {
  std::string log;
  std::string stream;
  std::string time;
};
bool parse_log_line(std::string_view line, LogEntry* out);

}  // namespace berth::monitor
