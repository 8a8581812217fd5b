#include "monitor/standby.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>

#include "config/config.hpp"
#include "monitor/monitor.hpp"
#include "plugin_host/logger.hpp"
#include "util/util.hpp"

namespace berth::monitor {

using nlohmann::json;

namespace {

// What precedes the order on the socket, with the descriptors (chan, then io) attached.
struct Header {
  uint32_t magic;
  uint32_t length;  // of the JSON that follows
  uint32_t fds;     // 1 or 2
};
constexpr uint32_t kMagic = 0x62727468;  // "brth"
// An order is a container spec and a few mounts: far below this; more means a bug.
constexpr uint32_t kMaxOrder = 64u << 20;

bool read_exact(int fd, char* buf, size_t n) {
  while (n > 0) {
    ssize_t r = ::read(fd, buf, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    buf += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reports a start the standby cannot make on the channel, as the monitor reports its own.
[[noreturn]] void refuse(int chan, const std::string& why) {
  (void)send_all(chan, "E 125 " + why + "\n");
  ::_exit(125);
}

[[noreturn]] void standby_body(Engine& e, int sock) {
  // Out of the CLI's process group and session: ^C at its terminal is not for us.
  ::setsid();
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // Ready: the CLI hands a start only to a standby that got this far (one that died
  // before sends nothing, and the CLI forks another).
  const char ready = 'r';
  if (::send(sock, &ready, 1, MSG_NOSIGNAL) != 1) ::_exit(0);
  Header h{};
  int fds[2] = {-1, -1};
  {
    struct iovec iov {&h, sizeof h};
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof fds)];
    struct msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    do {
      n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
    } while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(sizeof h)) ::_exit(0);  // the CLI went without a start for us
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        std::memcpy(fds, CMSG_DATA(c), std::min<size_t>(count, 2) * sizeof(int));
      }
    }
  }
  const int chan = fds[0];
  const int io = h.fds == 2 ? fds[1] : -1;
  if (chan < 0) ::_exit(125);
  if (h.magic != kMagic || h.length > kMaxOrder) refuse(chan, "the container monitor got a malformed start");
  std::string text(h.length, '\0');
  if (!read_exact(sock, text.data(), text.size())) ::_exit(0);
  ::close(sock);
  json order = json::parse(text, nullptr, false);
  if (!order.is_object()) refuse(chan, "the container monitor got a malformed start");
  containers::Container c;
  network::Plan plan;
  std::vector<sdk::Mount> mounts;
  try {
    c.id = order.at("Id").get<std::string>();
    c.owner_pid = order.at("Owner").get<pid_t>();
    c.spec = std::move(order.at("Spec"));
    plan.share_pid = order.at("SharePid").get<pid_t>();
    plan.share_start = order.at("ShareStart").get<uint64_t>();
    for (const auto& m : order.at("RootMounts")) {
      mounts.push_back({m.at("Type").get<std::string>(), m.at("Source").get<std::string>(),
                        m.at("Target").get<std::string>(), m.at("Options").get<std::vector<std::string>>()});
    }
  } catch (const json::exception&) {
    refuse(chan, "the container monitor got a malformed start");
  }
  for (const auto& a : order["Networks"]) {
    auto attachment = network::attachment_from_json(e, a);
    if (!attachment) refuse(chan, attachment.error().what());
    plan.attachments.push_back(std::move(*attachment));
  }
  try {
    monitor_main(e, c, plan, mounts, chan, order.value("Attach", false), io);
  } catch (const std::exception& ex) {
    // A bug, not a user error: say what it was instead of vanishing.
    refuse(chan, std::string("the container monitor failed: ") + ex.what());
  }
}

// Nothing may leave this process's standby by an exception: a forked one would unwind
// into its copy of the CLI's start() and carry on as a second CLI.
[[noreturn]] void standby_main(Engine& e, int sock) {
  try {
    standby_body(e, sock);
  } catch (...) {
  }
  ::_exit(125);
}

}  // namespace

Result<Standby> Standby::fork(Engine& e) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return sys_error("socketpair");
  util::timing_mark("standby: forking");
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(sv[0]);
    ::close(sv[1]);
    return sys_error("fork the container monitor", err);
  }
  if (pid == 0) {
    ::close(sv[0]);
    standby_main(e, sv[1]);
  }
  util::timing_mark("standby: forked");
  ::close(sv[1]);
  Standby s;
  s.pid_ = pid;
  s.fd_ = sv[0];
  return s;
}

// posix_spawn() blocks its caller until the child has exec'd (it shares the caller's
// memory until then): 1.1 to 1.5 ms here. A thread of its own takes that wait; the caller
// goes on opening its state.
struct Standby::Spawning {
  std::thread thread;
  pid_t pid = -1;
  int rc = 0;
};

Result<Standby> Standby::spawn(const std::string& config_path, const std::string& log_level) {
  int sv[2];
  // Close-on-exec both: the standby's end reaches it through a file action of its own,
  // and no other child of this process (forked meanwhile by another thread) inherits it.
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return sys_error("socketpair");
  std::vector<std::string> args = {"berth"};
  if (!config_path.empty()) args.insert(args.end(), {"--config", config_path});
  if (!log_level.empty()) args.insert(args.end(), {"--log-level", log_level});
  args.insert(args.end(), {"__monitor-standby", std::to_string(sv[1])});
  Standby s;
  s.fd_ = sv[0];
  s.spawning_ = std::make_unique<Spawning>();
  util::timing_mark("standby: spawning");
  Spawning* sp = s.spawning_.get();
  const int theirs = sv[1];
  try {
    sp->thread = std::thread([sp, theirs, args = std::move(args)]() mutable {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      // Its own session from the start (^C at the CLI's terminal is not for it), no
      // signal blocked whatever the caller blocks.
      posix_spawnattr_t attr;
      posix_spawnattr_init(&attr);
      sigset_t none;
      sigemptyset(&none);
      posix_spawnattr_setsigmask(&attr, &none);
      posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
      // (dup2 onto itself clears the descriptor's close-on-exec flag, glibc >= 2.29.)
      posix_spawn_file_actions_t actions;
      posix_spawn_file_actions_init(&actions);
      posix_spawn_file_actions_adddup2(&actions, theirs, theirs);
      sp->rc = ::posix_spawn(&sp->pid, "/proc/self/exe", &actions, &attr, argv.data(), environ);
      posix_spawn_file_actions_destroy(&actions);
      posix_spawnattr_destroy(&attr);
      ::close(theirs);
    });
  } catch (const std::system_error& e) {
    ::close(sv[0]);
    ::close(sv[1]);
    s.fd_ = -1;
    s.spawning_.reset();
    return make_error(Code::Internal, std::string("start the container monitor: ") + e.what());
  }
  return s;
}

Standby::Standby() = default;

void Standby::settle() {
  if (!spawning_) return;
  if (spawning_->thread.joinable()) spawning_->thread.join();
  if (spawning_->rc == 0) {
    pid_ = spawning_->pid;
  } else if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  spawning_.reset();
}

int standby_command(const std::string& config_path, const std::string& log_level, int fd) {
  util::timing_mark("standby: exec'd");
  // Whatever else the CLI had open without close-on-exec is not ours to hold while we wait.
  util::close_all_except({fd, util::timing_fd()});
  auto cfg = config::load_config(config_path);
  if (!cfg) return 125;  // (the CLI, which loaded the same file, says what is wrong with it)
  if (!log_level.empty()) cfg->log_level = log_level;
  static plugin_host::SpdLogger logger(plugin_host::setup_logging(cfg->log_level));
  auto e = Engine::open_plugins(std::move(*cfg), &logger);
  if (!e) return 125;
  util::timing_mark("standby: ready");
  standby_main(**e, fd);
}

Standby::Standby(Standby&& o) noexcept : pid_(o.pid_), fd_(o.fd_), spawning_(std::move(o.spawning_)) {
  o.pid_ = -1;
  o.fd_ = -1;
}

Standby& Standby::operator=(Standby&& o) noexcept {
  if (this != &o) {
    reap();
    pid_ = o.pid_;
    fd_ = o.fd_;
    spawning_ = std::move(o.spawning_);
    o.pid_ = -1;
    o.fd_ = -1;
  }
  return *this;
}

Standby::~Standby() { reap(); }

void Standby::reap() {
  settle();
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

Status Standby::hand(const containers::Container& c, pid_t owner, const network::Plan& plan,
                     const std::vector<sdk::Mount>& root_mounts, int chan, bool attach, int io) {
  settle();
  if (fd_ < 0) return make_error(Code::Internal, "the container monitor's standby is gone");
  // Its ready byte (the wait, if any, is for its start-up on the other core).
  char ready = 0;
  ssize_t got;
  do {
    got = ::read(fd_, &ready, 1);
  } while (got < 0 && errno == EINTR);
  if (got != 1) {
    reap();
    return make_error(Code::Internal, "the container monitor's standby exited before it was ready");
  }
  json order = {{"Id", c.id},
                {"Owner", owner},
                {"Spec", c.spec},
                {"Attach", attach},
                {"SharePid", plan.share_pid},
                {"ShareStart", plan.share_start},
                {"RootMounts", json::array()},
                {"Networks", json::array()}};
  for (const auto& m : root_mounts) {
    order["RootMounts"].push_back({{"Type", m.type}, {"Source", m.source}, {"Target", m.target}, {"Options", m.options}});
  }
  for (const auto& a : plan.attachments) order["Networks"].push_back(network::attachment_to_json(a));
  std::string text;
  try {
    text = order.dump();
  } catch (const json::exception& ex) {  // (a string that is not UTF-8)
    return make_error(Code::InvalidArgument, std::string("cannot hand the start to the container monitor: ") + ex.what());
  }
  Header h{kMagic, static_cast<uint32_t>(text.size()), io >= 0 ? 2u : 1u};
  int fds[2] = {chan, io};
  struct iovec iov {&h, sizeof h};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof fds)] = {};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(h.fds * sizeof(int));
  struct cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(h.fds * sizeof(int));
  std::memcpy(CMSG_DATA(cm), fds, h.fds * sizeof(int));
  ssize_t n;
  do {
    n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof h) || !send_all(fd_, text)) {
    Error err = n >= 0 && n != static_cast<ssize_t>(sizeof h) ? make_error(Code::Internal, "hand the start to the container monitor: short write")
                                                            : sys_error("hand the start to the container monitor");
    reap();
    return err;
  }
  // Handed: the process is the container's monitor now; the caller reaps it as such.
  ::close(fd_);
  fd_ = -1;
  return {};
}

}  // namespace berth::monitor
