#include "monitor/json_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "util/util.hpp"

namespace berth::monitor {

namespace {
constexpr size_t kMaxPiece = 16 * 1024;
}

JsonLogWriter::JsonLogWriter(int fd, std::string path, LogRotation rotation)
    : fd_(fd), path_(std::move(path)), rotation_(rotation) {
  struct stat st {};
  if (fd_ >= 0 && ::fstat(fd_, &st) == 0) size_ = st.st_size;
}

void JsonLogWriter::rotate() {
  if (rotation_.max_file > 1) {
    for (int i = rotation_.max_file - 1; i >= 1; --i) {
      std::string from = i == 1 ? path_ : path_ + "." + std::to_string(i - 1);
      ::rename(from.c_str(), (path_ + "." + std::to_string(i)).c_str());
    }
    int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd >= 0) {
      ::dup2(fd, fd_);  // (keeps the descriptor number the monitor knows)
      ::close(fd);
    }
  } else if (::ftruncate(fd_, 0) != 0) {
    return;
  }
  size_ = 0;
}

void JsonLogWriter::emit(int stream, std::string_view piece) {
  if (fd_ < 0) return;
  nlohmann::json j = {{"log", std::string(piece)},
                      {"stream", stream == 2 ? "stderr" : "stdout"},
                      {"time", util::rfc3339_nano(util::now_ns())}};
  // Invalid UTF-8 from a program must not stop the log: replace what cannot be encoded.
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  (void)util::write_all(fd_, line);
  size_ += static_cast<int64_t>(line.size());
  if (rotation_.max_size > 0 && size_ >= rotation_.max_size && !path_.empty()) rotate();
}

std::vector<std::string> log_files(const std::string& path, int max_file) {
  std::vector<std::string> out;
  for (int i = max_file - 1; i >= 1; --i) out.push_back(path + "." + std::to_string(i));
  out.push_back(path);
  return out;
}

void JsonLogWriter::write(int stream, std::string_view data) {
  std::string& pend = pending_[stream == 2 ? 2 : 1];
  pend.append(data);
  size_t start = 0;
  for (;;) {
    size_t nl = pend.find('\n', start);
    if (nl == std::string::npos) break;
    size_t len = nl + 1 - start;
    while (len > kMaxPiece) {
      emit(stream, std::string_view(pend).substr(start, kMaxPiece));
      start += kMaxPiece;
      len -= kMaxPiece;
    }
    emit(stream, std::string_view(pend).substr(start, len));
    start = nl + 1;
  }
  pend.erase(0, start);
  while (pend.size() >= kMaxPiece) {
    emit(stream, std::string_view(pend).substr(0, kMaxPiece));
    pend.erase(0, kMaxPiece);
  }
}

void JsonLogWriter::flush() {
  for (int s : {1, 2}) {
    if (!pending_[s].empty()) {
      emit(s, pending_[s]);
      pending_[s].clear();
    }
  }
}

bool parse_log_line(std::string_view line, LogEntry* out) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  out->log = j.value("log", "");
  out->stream = j.value("stream", "stdout");
  out->time = j.value("time", "");
  return true;
}

}  // namespace berth::monitor
