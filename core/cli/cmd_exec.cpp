// exec (a new process in a running container, in all its namespaces and cgroups) and
// attach (a terminal to a running container's monitor).

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>

#include "cli/cli.hpp"
#include "containers/container.hpp"
#include "monitor/attach.hpp"
#include "runtime/spawn.hpp"
#include "util/util.hpp"

namespace berth::cli {

int cmd_exec(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"exec", "[OPTIONS] CONTAINER COMMAND [ARG...]", "Execute a command in a running container", 2,
                   SIZE_MAX, false};
  po::options_description d("Options");
  d.add_options()("detach,d", po::bool_switch(), "Detached mode: run command in the background")
      ("env,e", po::value<std::vector<std::string>>()->composing(), "Set environment variables")
      ("interactive,i", po::bool_switch(), "Keep STDIN open even if not attached")
      ("tty,t", po::bool_switch(), "Allocate a pseudo-TTY")
      ("user,u", po::value<std::string>(), "Username or UID (format: \"<name|uid>[:<group|gid>]\")")
      ("workdir,w", po::value<std::string>(), "Working directory inside the container")
      ("privileged", po::bool_switch(), "Give extended privileges to the command");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  const bool tty = p.vm["tty"].as<bool>();
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  auto c = find_running_container(*e, p.args[0]);
  if (!c) return kExitError;
  if (c->paused) {
    print_error("Container " + c->id + " is paused, unpause the container before exec");
    return kExitError;
  }
  const auto config = c->spec.value("Config", nlohmann::json::object());
  runtime::ExecConfig ec;
  ec.target = c->pid;
  ec.cgroup_dirs = containers::json_strings(c->runtime.value("cgroups", nlohmann::json::array()));
  ec.argv.assign(p.args.begin() + 1, p.args.end());
  ec.env = containers::with_env(containers::process_env(config),
                                p.vm.count("env") ? p.vm["env"].as<std::vector<std::string>>() : std::vector<std::string>{});
  ec.cwd = p.vm.count("workdir") ? p.vm["workdir"].as<std::string>() : config.value("WorkingDir", std::string());
  const auto host_config = c->spec.value("HostConfig", nlohmann::json::object());
  ec.rlimits = containers::rlimits_of(host_config);
  ec.capabilities = containers::capabilities_of(host_config);
  ec.privileged = host_config.value("Privileged", false) || p.vm["privileged"].as<bool>();
  ec.user = p.vm.count("user") ? p.vm["user"].as<std::string>() : config.value("User", std::string());
  bool detach = p.vm["detach"].as<bool>();
  const bool interactive = p.vm["interactive"].as<bool>();
  if (interactive && !detach) ec.stdin_fd = 0;
  if (detach) {
    // Nobody reads a detached process's output (as with Docker's exec -d).
    ec.stdout_fd = ec.stderr_fd = -1;
    ec.detached = true;
  }
  int console[2] = {-1, -1};
  if (tty && ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, console) != 0) {
    std::cerr << "berth: socketpair: " << std::strerror(errno) << "\n";
    return kExitEngine;
  }
  ec.console_socket = console[1];

  // Signals for the program arrive while we wait for it; take them through a signalfd.
  sigset_t fwd, old;
  sigemptyset(&fwd);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&fwd, s);
  if (!detach) ::sigprocmask(SIG_BLOCK, &fwd, &old);
  runtime::StartFailure failure;
  auto proc = runtime::exec_in_container(ec, &failure);
  if (console[1] >= 0) ::close(console[1]);
  int master = proc && tty ? runtime::recv_console(console[0]) : -1;
  if (console[0] >= 0) ::close(console[0]);
  if (!proc) {
    std::cerr << "berth: exec failed: unable to start container process: " << failure.message << "\n";
    return failure.exit_code;
  }
  if (detach) {
    if (master >= 0) ::close(master);
    if (proc->pidfd >= 0) ::close(proc->pidfd);
    return 0;
  }
  // With -t this process is the program's terminal: ours in raw mode, keys and window size
  // to the master, its output to our stdout.
  struct termios saved {};
  bool raw = false;
  if (master >= 0) {
    sigaddset(&fwd, SIGWINCH);
    ::sigprocmask(SIG_BLOCK, &fwd, nullptr);
    if (interactive && ::isatty(0) && ::tcgetattr(0, &saved) == 0) {
      struct termios r = saved;
      ::cfmakeraw(&r);
      raw = ::tcsetattr(0, TCSANOW, &r) == 0;
    }
    struct winsize ws {};
    if (::ioctl(0, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) ::ioctl(master, TIOCSWINSZ, &ws);
  }
  int sfd = ::signalfd(-1, &fwd, SFD_CLOEXEC);
  int status = 0;
  bool stdin_open = master >= 0 && interactive;
  for (;;) {
    struct pollfd pf[4] = {{proc->pidfd, POLLIN, 0}, {sfd, POLLIN, 0}, {master, POLLIN, 0}, {stdin_open ? 0 : -1, POLLIN, 0}};
    int r = ::poll(pf, 4, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
    if (pf[2].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[4096];
      ssize_t n = ::read(master, buf, sizeof buf);
      if (n > 0) {
        (void)util::write_all(1, std::string_view(buf, static_cast<size_t>(n)));
        continue;
      }
      ::close(master);  // (EIO: the program and its terminal are gone)
      master = -1;
    }
    if (pf[3].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[4096];
      ssize_t n = ::read(0, buf, sizeof buf);
      if (n > 0 && master >= 0) (void)util::write_all(master, std::string_view(buf, static_cast<size_t>(n)));
      if (n <= 0) stdin_open = false;
    }
    if (pf[1].revents & POLLIN) {
      struct signalfd_siginfo si {};
      if (::read(sfd, &si, sizeof si) == sizeof si) {
        struct winsize ws {};
        if (si.ssi_signo == SIGWINCH) {
          if (master >= 0 && ::ioctl(0, TIOCGWINSZ, &ws) == 0) ::ioctl(master, TIOCSWINSZ, &ws);
        } else {
          ::kill(proc->pid, static_cast<int>(si.ssi_signo));
        }
      }
    }
    // Done when the program has exited and (with a terminal) its last output is read.
    if ((pf[0].revents & (POLLIN | POLLHUP | POLLERR)) && master < 0) break;
    if ((pf[0].revents & (POLLIN | POLLHUP | POLLERR)) && master >= 0) {
      // Drain what the terminal still holds, then stop.
      char buf[4096];
      ssize_t n;
      while ((n = ::read(master, buf, sizeof buf)) > 0) (void)util::write_all(1, std::string_view(buf, static_cast<size_t>(n)));
      break;
    }
  }
  if (raw) ::tcsetattr(0, TCSANOW, &saved);
  if (master >= 0) ::close(master);
  while (::waitpid(proc->pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (sfd >= 0) ::close(sfd);
  if (proc->pidfd >= 0) ::close(proc->pidfd);
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int cmd_attach(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"attach", "[OPTIONS] CONTAINER",
                   "Attach local standard input, output, and error streams to a running container", 1, 1};
  po::options_description d("Options");
  d.add_options()("detach-keys", po::value<std::string>()->default_value("ctrl-p,ctrl-q"),
                  "Override the key sequence for detaching a container")
      ("no-stdin", po::bool_switch(), "Do not attach STDIN")
      ("sig-proxy", po::value<bool>()->default_value(true), "Proxy all received signals to the process");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  auto keys = attach::parse_detach_keys(p.vm["detach-keys"].as<std::string>());
  if (!keys) throw UsageError{keys.error().message};
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  auto c = find_container(*e, p.args[0]);
  if (!c) return kExitError;
  if (!c->running()) {
    print_error("You cannot attach to a stopped container, start it first");
    return kExitError;
  }
  if (c->paused) {
    print_error("You cannot attach to a paused container, unpause it first");
    return kExitError;
  }
  const auto config = c->spec.value("Config", nlohmann::json::object());
  const bool tty = config.value("Tty", false);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  std::string path = attach::socket_path(e->config().run_root, c->id);
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    print_error("cannot attach to container " + c->short_id() + ": its monitor does not answer at " + path + ": " +
                std::strerror(errno));
    if (fd >= 0) ::close(fd);
    return kExitError;
  }
  sigset_t sigs, old;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGWINCH);
  bool proxy = !tty && p.vm["sig-proxy"].as<bool>();
  if (proxy) {
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&sigs, s);
  }
  ::sigprocmask(SIG_BLOCK, &sigs, &old);
  int sfd = ::signalfd(-1, &sigs, SFD_CLOEXEC);
  int code = 0;
  {
    attach::Relay relay(fd, tty, !p.vm["no-stdin"].as<bool>() && config.value("OpenStdin", false), *keys);
    relay.send_winsize();
    for (;;) {
      struct pollfd pf[3] = {{sfd, POLLIN, 0}};
      relay.poll_fds(&pf[1]);
      int r = ::poll(pf, 3, -1);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) break;
      if (pf[0].revents & POLLIN) {
        struct signalfd_siginfo si {};
        if (::read(sfd, &si, sizeof si) == sizeof si) {
          if (si.ssi_signo == SIGWINCH) relay.send_winsize();
          else ::kill(c->pid, static_cast<int>(si.ssi_signo));
        }
      }
      auto ev = relay.handle(&pf[1]);
      if (ev == attach::Relay::Event::Detached) break;
      if (ev == attach::Relay::Event::Exited) {
        code = relay.exit_code();
        break;
      }
      if (ev == attach::Relay::Event::Closed) {
        // The monitor went without a word: the record says how the container ended.
        auto now = containers::find(*e, c->id);
        code = now ? now->exit_code : kExitError;
        break;
      }
    }
  }
  if (sfd >= 0) ::close(sfd);
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  return code;
}

}  // namespace berth::cli
