// exec: a new process in a running container, in all its namespaces and cgroups.

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iostream>

#include "cli/cli.hpp"
#include "containers/container.hpp"
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
      ("workdir,w", po::value<std::string>(), "Working directory inside the container");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  if (p.vm["tty"].as<bool>()) throw UsageError{"exec -t (a pseudo-TTY) is not supported by this berth yet"};
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  (void)containers::reconcile(*e);
  auto c = containers::find(*e, p.args[0]);
  if (!c) {
    print_error(c.error());
    return kExitError;
  }
  if (!c->running()) {
    print_error("container " + c->id + " is not running");
    return kExitError;
  }
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
  ec.rlimits = containers::rlimits_of(c->spec.value("HostConfig", nlohmann::json::object()));
  ec.user = p.vm.count("user") ? p.vm["user"].as<std::string>() : config.value("User", std::string());
  bool detach = p.vm["detach"].as<bool>();
  if (p.vm["interactive"].as<bool>() && !detach) ec.stdin_fd = 0;
  if (detach) {
    // Nobody reads a detached process's output (as with Docker's exec -d).
    ec.stdout_fd = ec.stderr_fd = -1;
  }

  // Signals for the program arrive while we wait for it; take them through a signalfd.
  sigset_t fwd, old;
  sigemptyset(&fwd);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&fwd, s);
  if (!detach) ::sigprocmask(SIG_BLOCK, &fwd, &old);
  runtime::StartFailure failure;
  auto proc = runtime::exec_in_container(ec, &failure);
  if (!proc) {
    std::cerr << "berth: exec failed: unable to start container process: " << failure.message << "\n";
    return failure.exit_code;
  }
  if (detach) {
    if (proc->pidfd >= 0) ::close(proc->pidfd);
    return 0;
  }
  int sfd = ::signalfd(-1, &fwd, SFD_CLOEXEC);
  int status = 0;
  for (;;) {
    struct pollfd pf[2] = {{proc->pidfd, POLLIN, 0}, {sfd, POLLIN, 0}};
    int r = ::poll(pf, 2, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 || (pf[0].revents & (POLLIN | POLLHUP | POLLERR))) break;
    if (pf[1].revents & POLLIN) {
      struct signalfd_siginfo si {};
      if (::read(sfd, &si, sizeof si) == sizeof si) ::kill(proc->pid, static_cast<int>(si.ssi_signo));
    }
  }
  while (::waitpid(proc->pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (sfd >= 0) ::close(sfd);
  if (proc->pidfd >= 0) ::close(proc->pidfd);
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace berth::cli
