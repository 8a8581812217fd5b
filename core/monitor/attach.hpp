#pragma once

// Attaching a terminal (or pipes) to a container's monitor: `run -i/-t`, `start -a -i` and
// `attach`. The monitor owns the container's stdio (a pseudo-terminal master with -t, pipes
// otherwise) and serves clients on a socket pair made by `start`, and on a Unix socket
// (socket_path()) for `attach`. Both directions carry frames: one type byte, a 4-byte
// big-endian length, the payload.
//   client -> monitor   'i' stdin bytes    'e' end of stdin    'w' "<rows> <cols>"
//   monitor -> client   'o' stdout bytes   'r' stderr bytes    'x' "<exit code>" (last)

#include <poll.h>
#include <termios.h>

#include <string>
#include <string_view>

#include "berth/sdk/result.hpp"

namespace berth::attach {

bool send_frame(int fd, char type, std::string_view payload);

class FrameReader {
 public:
  // Reads what `fd` has ready; false at end of stream or on error.
  bool fill(int fd);
  // The next complete frame, if there is one.
  bool next(char* type, std::string* payload);

 private:
  std::string buf_;
};

// Where the monitor of container `id` listens for `attach` (short: sockaddr_un holds 108).
std::string socket_path(const std::string& run_root, const std::string& id);

// Docker's --detach-keys: "ctrl-p,ctrl-q" (the default), "ctrl-a,x", single characters.
Result<std::string> parse_detach_keys(const std::string& spec);

// The CLI's end: the terminal in raw mode while attached to a -t container, stdin sent as
// frames (the detach sequence held back and recognised), frames written to stdout/stderr.
class Relay {
 public:
  enum class Event { None, Detached, Closed, Exited };

  Relay(int io, bool tty, bool send_stdin, std::string detach_keys);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Two poll entries: stdin (fd -1 when not read) and the monitor connection.
  void poll_fds(struct pollfd* p) const;
  Event handle(const struct pollfd* p);
  // The terminal's size, to the monitor (at start and on SIGWINCH).
  void send_winsize();
  int exit_code() const { return exit_code_; }
  bool closed() const { return io_ < 0; }

 private:
  Event on_stdin();
  Event on_io();

  int io_;
  bool tty_;
  bool send_stdin_;
  bool stdin_open_;
  std::string keys_;
  std::string held_;  // a prefix of the detach sequence, not yet sent
  FrameReader reader_;
  bool raw_ = false;
  struct termios saved_ {};
  int exit_code_ = 0;
};

}  // namespace berth::attach
