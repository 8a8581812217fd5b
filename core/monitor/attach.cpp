#include "monitor/attach.hpp"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdint>

#include "util/util.hpp"

namespace berth::attach {

bool send_frame(int fd, char type, std::string_view payload) {
  if (fd < 0) return false;
  std::string frame(5, '\0');
  frame[0] = type;
  auto n = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) frame[1 + i] = static_cast<char>((n >> (24 - 8 * i)) & 0xff);
  frame.append(payload);
  return util::write_all(fd, frame);
}

bool FrameReader::fill(int fd) {
  char buf[65536];
  ssize_t n;
  do {
    n = ::read(fd, buf, sizeof buf);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return true;
  if (n <= 0) return false;
  buf_.append(buf, static_cast<size_t>(n));
  return true;
}

bool FrameReader::next(char* type, std::string* payload) {
  if (buf_.size() < 5) return false;
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<unsigned char>(buf_[1 + i]);
  if (buf_.size() < 5 + static_cast<size_t>(n)) return false;
  *type = buf_[0];
  *payload = buf_.substr(5, n);
  buf_.erase(0, 5 + n);
  return true;
}

std::string socket_path(const std::string& run_root, const std::string& id) {
  return run_root + "/attach/" + id.substr(0, 24) + ".sock";
}

Result<std::string> parse_detach_keys(const std::string& spec) {
  std::string out;
  for (const auto& key : util::split(spec, ',')) {
    std::string k = util::to_lower(util::trim(key));
    if (k.size() == 1) {
      out += key[0];
    } else if (util::starts_with(k, "ctrl-") && k.size() == 6) {
      char c = k[5];
      // Docker's table: ctrl-a..ctrl-z, ctrl-@, ctrl-[, ctrl-\, ctrl-], ctrl-^, ctrl-_
      if (c >= 'a' && c <= 'z') out += static_cast<char>(c - 'a' + 1);
      else if (c == '@') out += '\0';
      else if (c == '[') out += '\x1b';
      else if (c == '\\') out += '\x1c';
      else if (c == ']') out += '\x1d';
      else if (c == '^') out += '\x1e';
      else if (c == '_') out += '\x1f';
      else return make_error(Code::InvalidArgument, "Invalid escape keys (" + spec + ") provided");
    } else {
      return make_error(Code::InvalidArgument, "Invalid escape keys (" + spec + ") provided");
    }
  }
  if (out.empty()) return make_error(Code::InvalidArgument, "Invalid escape keys (" + spec + ") provided");
  return out;
}

Relay::Relay(int io, bool tty, bool send_stdin, std::string detach_keys)
    : io_(io), tty_(tty), send_stdin_(send_stdin), stdin_open_(send_stdin), keys_(std::move(detach_keys)) {
  // With -t the keys go to the container's terminal as typed: ^C is a byte, not a signal.
  if (tty_ && send_stdin_ && ::isatty(0) && ::tcgetattr(0, &saved_) == 0) {
    struct termios raw = saved_;
    ::cfmakeraw(&raw);
    raw_ = ::tcsetattr(0, TCSANOW, &raw) == 0;
  }
}

Relay::~Relay() {
  if (raw_) ::tcsetattr(0, TCSANOW, &saved_);
}

void Relay::poll_fds(struct pollfd* p) const {
  p[0] = {stdin_open_ ? 0 : -1, POLLIN, 0};
  p[1] = {io_, POLLIN, 0};
}

void Relay::send_winsize() {
  struct winsize ws {};
  if (!tty_ || io_ < 0 || ::ioctl(0, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0) return;
  send_frame(io_, 'w', std::to_string(ws.ws_row) + " " + std::to_string(ws.ws_col));
}

Relay::Event Relay::handle(const struct pollfd* p) {
  if (p[0].fd >= 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
    if (Event e = on_stdin(); e != Event::None) return e;
  }
  if (p[1].fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) return on_io();
  return Event::None;
}

Relay::Event Relay::on_stdin() {
  char buf[4096];
  ssize_t n;
  do {
    n = ::read(0, buf, sizeof buf);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) {
    // End of our stdin: the container's closes too (Docker's run -i).
    stdin_open_ = false;
    send_frame(io_, 'e', "");
    return Event::None;
  }
  // The detach sequence may arrive split across reads: hold a matching prefix back.
  std::string out;
  for (ssize_t i = 0; i < n; ++i) {
    held_ += buf[i];
    if (keys_.compare(0, held_.size(), held_) == 0) {
      if (held_.size() == keys_.size()) return Event::Detached;
      continue;
    }
    out += held_;
    held_.clear();
  }
  if (!out.empty() && !send_frame(io_, 'i', out)) return Event::Closed;
  return Event::None;
}

Relay::Event Relay::on_io() {
  bool open = reader_.fill(io_);
  char type = 0;
  std::string payload;
  while (reader_.next(&type, &payload)) {
    if (type == 'o') (void)util::write_all(1, payload);
    if (type == 'r') (void)util::write_all(2, payload);
    if (type == 'x') {
      exit_code_ = std::atoi(payload.c_str());
      ::close(io_);
      io_ = -1;
      return Event::Exited;
    }
  }
  if (!open) {
    ::close(io_);
    io_ = -1;
    return Event::Closed;
  }
  return Event::None;
}

}  // namespace berth::attach
