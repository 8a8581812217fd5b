// berth: entry point. Global flags come before the command, as with docker.

#include <iostream>
#include <map>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "cli/cli.hpp"
#include "monitor/standby.hpp"
#include "plugin_host/logger.hpp"
#include "util/util.hpp"

namespace {

void usage() {
  std::cout << "\nUsage:  berth [OPTIONS] COMMAND\n\n"
               "A container engine whose drivers are plugins\n\n"
               "Common Commands:\n"
               "  run         Create and run a new container from an image\n"
               "  ps          List containers\n"
               "  images      List images\n"
               "  import      Import the contents from a tarball to create a filesystem image\n"
               "  info        Display system-wide information\n"
               "  version     Show the berth version information\n\n"
               "Management Commands:\n"
               "  container   Manage containers\n"
               "  image       Manage images\n"
               "  network     Manage networks\n"
               "  volume      Manage volumes\n"
               "  system      Manage berth\n\n"
               "Container Commands:\n"
               "  create  start  attach  exec  top  stats  stop  restart  kill  pause  unpause  rename  wait  rm  logs  inspect\n\n"
               "Image Commands:\n"
               "  tag  rmi\n\n"
               "Global Options:\n"
               "      --config string      Host configuration file (default /etc/berth/berth.toml,\n"
               "                           or $BERTH_CONFIG, or the embedded default)\n"
               "  -D, --debug              Enable debug mode\n"
               "  -l, --log-level string   Set the logging level (trace|debug|info|warn|error)\n"
               "  -v, --version            Print version information and quit\n\n"
               "Run 'berth COMMAND --help' for more information on a command.\n";
}

}  // namespace

int main(int argc, char** argv) {
  using namespace berth::cli;
  berth::util::timing_mark("cli: main");
  // Started with stdin, stdout or stderr closed, the first files opened would take their
  // numbers (and a monitor, which points 0-2 at /dev/null, would lose its channel).
  for (int fd = ::open("/dev/null", O_RDWR | O_CLOEXEC); fd >= 0; fd = ::open("/dev/null", O_RDWR | O_CLOEXEC)) {
    if (fd > 2) {
      ::close(fd);
      break;
    }
    ::fcntl(fd, F_SETFD, 0);
  }
  berth::util::remember_argv(argc, argv);
  std::vector<std::string> args(argv + 1, argv + argc);
  Globals g;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.empty() || a[0] != '-') break;
    auto value = [&](const std::string& flag) -> std::string {
      auto eq = a.find('=');
      if (eq != std::string::npos) return a.substr(eq + 1);
      if (i + 1 >= args.size()) {
        std::cerr << "flag needs an argument: " << flag << "\n";
        std::exit(kExitEngine);
      }
      return args[++i];
    };
    if (a == "--config" || a.rfind("--config=", 0) == 0) {
      g.config_path = value("--config");
    } else if (a == "-l" || a == "--log-level" || a.rfind("--log-level=", 0) == 0) {
      g.log_level = value("--log-level");
    } else if (a == "-D" || a == "--debug") {
      g.log_level = "debug";
    } else if (a == "-v" || a == "--version") {
      std::cout << "berth version " << BERTH_VERSION << "\n";
      return 0;
    } else if (a == "-h" || a == "--help") {
      usage();
      return 0;
    } else {
      std::cerr << "unknown flag: " << a << "\nSee 'berth --help'.\n";
      return kExitEngine;
    }
  }
  if (i >= args.size()) {
    usage();
    return 0;
  }
  // The container monitor's standby (monitor/standby.hpp), spawned by run and start.
  if (args[i] == "__monitor-standby" && i + 2 == args.size()) {
    return berth::monitor::standby_command(g.config_path, g.log_level, std::atoi(args[i + 1].c_str()));
  }
  std::map<std::string, Command> table;
  register_container_commands(table);
  register_image_commands(table);
  register_registry_commands(table);
  register_commit_commands(table);
  register_system_commands(table);
  register_network_commands(table);
  register_volume_commands(table);

  std::string name = args[i++];
  bool group = name == "container" || name == "image" || name == "system" || name == "network" || name == "volume";
  if (group && i < args.size() && table.count(name + " " + args[i])) {
    name += " " + args[i++];
  } else if (group) {
    // `berth container`, `berth container --help`: the group's commands, as Docker lists them.
    bool help = i >= args.size() || args[i] == "--help" || args[i] == "-h";
    std::ostream& out = help ? std::cout : std::cerr;
    if (!help) out << "berth: '" << name << " " << args[i] << "' is not a berth command.\n\n";
    out << "Usage:  berth " << name << " COMMAND\n\nManage " << (name == "system" ? "berth" : name + "s")
        << "\n\nCommands:\n";
    for (const auto& [key, fn] : table) {
      if (key.rfind(name + " ", 0) == 0) out << "  " << key.substr(name.size() + 1) << "\n";
    }
    out << "\nRun 'berth " << name << " COMMAND --help' for more information on a command.\n";
    return help ? 0 : kExitError;
  }
  auto it = table.find(name);
  if (it == table.end()) {
    if (name == "help") {
      usage();
      return 0;
    }
    std::cerr << "berth: '" << name << "' is not a berth command.\nSee 'berth --help'\n";
    return kExitError;
  }
  int rc;
  {
    Cli cli(g);
    // The container's monitor starts now, on the other core, while the command parses
    // its flags and opens the state (monitor/standby.hpp).
    if (name == "run" || name == "start" || name == "container run" || name == "container start") cli.spawn_standby();
    try {
      rc = it->second(cli, std::vector<std::string>(args.begin() + static_cast<long>(i), args.end()));
    } catch (const UsageError& e) {
      std::cerr << e.message << "\nSee 'berth " << name << " --help'.\n";
      rc = e.exit_code;
    }
    // Done: what the command changed is on disk and its output is flushed here. Tearing
    // the engine down (plugins unloaded, static destructors) changes nothing and cost 3 ms
    // of every `run` (bench/RESULTS.md); the kernel releases descriptors and locks, and the
    // database's WAL is left as after any process (no checkpoint on close by design).
    cli.drop_standby();  // (one the command did not take: told to go, and reaped)
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    berth::plugin_host::flush_logs();
    ::_exit(rc);
  }
}
