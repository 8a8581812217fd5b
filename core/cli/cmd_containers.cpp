// Container commands: run, create, start, stop, kill, restart, pause, unpause, rename, wait,
// rm, prune, ps, logs, inspect.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <iostream>
#include <map>
#include <optional>

#include "berth/sdk/fs.hpp"
#include "cli/cli.hpp"
#include "images/pull.hpp"
#include "images/reference.hpp"
#include "cli/template.hpp"
#include "monitor/attach.hpp"
#include "monitor/json_log.hpp"
#include "network/ports.hpp"
#include "util/util.hpp"

namespace berth::cli {

using containers::Container;

namespace {

int engine_unavailable() { return kExitEngine; }

// Docker's shape for commands over several containers: each name is printed when its
// action succeeds, each failure is reported and the others still run; exit 1 if any failed.
int for_each_container(Cli& cli, const std::vector<std::string>& refs,
                       const std::function<Status(Engine&, const Container&)>& action, bool echo_ref = true) {
  Engine* e = cli.engine();
  if (e == nullptr) return engine_unavailable();
  (void)containers::reconcile(*e);
  int rc = 0;
  for (const auto& ref : refs) {
    auto c = containers::find(*e, ref);
    Status s = c ? action(*e, *c) : Status(c.error());
    if (!s) {
      print_error(s.error());
      rc = kExitError;
    } else if (echo_ref) {
      std::cout << ref << "\n";
    }
  }
  if (e->trash_pending()) (void)containers::sweep(*e);
  return rc;
}

po::options_description create_flags() {
  po::options_description d("Options");
  d.add_options()
      ("detach,d", po::bool_switch(), "Run container in background and print container ID")
      ("name", po::value<std::string>(), "Assign a name to the container")
      ("env,e", po::value<std::vector<std::string>>()->composing(), "Set environment variables")
      ("volume,v", po::value<std::vector<std::string>>()->composing(), "Bind mount a volume")
      ("network", po::value<std::string>(), "Connect a container to a network")
      ("net", po::value<std::string>(), "Alias of --network")
      ("ip", po::value<std::string>(), "IPv4 address (e.g., 172.30.100.104)")
      ("publish,p", po::value<std::vector<std::string>>()->composing(), "Publish a container's port(s) to the host")
      ("publish-all,P", po::bool_switch(), "Publish all exposed ports to random ports")
      ("expose", po::value<std::vector<std::string>>()->composing(), "Expose a port or a range of ports")
      ("link", po::value<std::vector<std::string>>()->composing(), "Add link to another container")
      ("add-host", po::value<std::vector<std::string>>()->composing(), "Add a custom host-to-IP mapping (host:ip)")
      ("tmpfs", po::value<std::vector<std::string>>()->composing(), "Mount a tmpfs directory")
      ("mount", po::value<std::vector<std::string>>()->composing(), "Attach a filesystem mount to the container")
      ("volumes-from", po::value<std::vector<std::string>>()->composing(), "Mount volumes from the specified container(s)")
      ("network-alias", po::value<std::vector<std::string>>()->composing(), "Add network-scoped alias for the container")
      ("net-alias", po::value<std::vector<std::string>>()->composing(), "Alias of --network-alias")
      ("workdir,w", po::value<std::string>(), "Working directory inside the container")
      ("user,u", po::value<std::string>(), "Username or UID (format: <name|uid>[:<group|gid>])")
      ("hostname,h", po::value<std::string>(), "Container host name")
      ("label,l", po::value<std::vector<std::string>>()->composing(), "Set meta data on a container")
      ("entrypoint", po::value<std::string>(), "Overwrite the default ENTRYPOINT of the image")
      ("rm", po::bool_switch(), "Automatically remove the container when it exits")
      ("interactive,i", po::bool_switch(), "Keep STDIN open even if not attached")
      ("tty,t", po::bool_switch(), "Allocate a pseudo-TTY")
      ("memory,m", po::value<std::string>(), "Memory limit")
      ("memory-swap", po::value<std::string>(), "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
      ("cpus", po::value<std::string>(), "Number of CPUs")
      ("cpu-shares,c", po::value<int64_t>(), "CPU shares (relative weight)")
      ("cpuset-cpus", po::value<std::string>(), "CPUs in which to allow execution (0-3, 0,1)")
      ("pids-limit", po::value<int64_t>(), "Tune container pids limit (set -1 for unlimited)")
      ("ulimit", po::value<std::vector<std::string>>()->composing(), "Ulimit options")
      ("restart", po::value<std::string>()->default_value("no"), "Restart policy to apply when a container exits")
      ("detach-keys", po::value<std::string>()->default_value("ctrl-p,ctrl-q"), "Override the key sequence for detaching a container")
      ("log-driver", po::value<std::string>()->default_value("json-file"), "Logging driver for the container (json-file, none)")
      ("log-opt", po::value<std::vector<std::string>>()->composing(), "Log driver options (max-size=, max-file=)")
      ("env-file", po::value<std::vector<std::string>>()->composing(), "Read in a file of environment variables")
      ("cap-add", po::value<std::vector<std::string>>()->composing(), "Add Linux capabilities")
      ("cap-drop", po::value<std::vector<std::string>>()->composing(), "Drop Linux capabilities")
      ("privileged", po::bool_switch(), "Give extended privileges to this container")
      ("read-only", po::bool_switch(), "Mount the container's root filesystem as read only")
      ("shm-size", po::value<std::string>(), "Size of /dev/shm")
      ("sysctl", po::value<std::vector<std::string>>()->composing(), "Sysctl options")
      ("device", po::value<std::vector<std::string>>()->composing(), "Add a host device to the container")
      ("init", po::bool_switch(), "Run an init inside the container that forwards signals and reaps processes")
      ("stop-signal", po::value<std::string>(), "Signal to stop the container")
      ("stop-timeout", po::value<int>(), "Timeout (in seconds) to stop a container")
      ("cidfile", po::value<std::string>(), "Write the container ID to the file");
  return d;
}

// Docker's flag errors: 'invalid argument "1x" for "-m, --memory" flag: invalid size: '1x''.
int64_t size_flag(const po::variables_map& vm, const char* name, const char* shown) {
  if (!vm.count(name)) return 0;
  std::string v = vm[name].as<std::string>();
  if (v == "-1" && std::string(name) == "memory-swap") return -1;
  int64_t n = util::parse_ram_bytes(v);
  if (n < 0) {
    throw UsageError{std::string("invalid argument \"") + v + "\" for \"" + shown + "\" flag: invalid size: '" + v + "'"};
  }
  return n;
}

containers::CreateRequest request_from(const Parsed& p) {
  containers::CreateRequest r;
  const auto& vm = p.vm;
  r.image = p.args[0];
  r.command.assign(p.args.begin() + 1, p.args.end());
  if (vm.count("name")) r.name = vm["name"].as<std::string>();
  if (vm.count("env")) r.env = vm["env"].as<std::vector<std::string>>();
  if (vm.count("volume")) r.volumes = vm["volume"].as<std::vector<std::string>>();
  if (vm.count("net")) r.network = vm["net"].as<std::string>();
  if (vm.count("network")) r.network = vm["network"].as<std::string>();
  if (vm.count("ip")) r.ip = vm["ip"].as<std::string>();
  if (vm.count("publish")) r.publish = vm["publish"].as<std::vector<std::string>>();
  if (vm.count("expose")) r.expose = vm["expose"].as<std::vector<std::string>>();
  if (vm.count("link")) r.links = vm["link"].as<std::vector<std::string>>();
  if (vm.count("add-host")) r.add_hosts = vm["add-host"].as<std::vector<std::string>>();
  if (vm.count("tmpfs")) r.tmpfs = vm["tmpfs"].as<std::vector<std::string>>();
  if (vm.count("mount")) r.mounts = vm["mount"].as<std::vector<std::string>>();
  if (vm.count("volumes-from")) r.volumes_from = vm["volumes-from"].as<std::vector<std::string>>();
  r.publish_all = vm["publish-all"].as<bool>();
  if (r.network == "host" && (!r.publish.empty() || r.publish_all)) {
    std::cerr << "WARNING: Published ports are discarded when using host network mode\n";
  }
  for (const char* k : {"network-alias", "net-alias"}) {
    if (!vm.count(k)) continue;
    for (const auto& a : vm[k].as<std::vector<std::string>>()) r.network_aliases.push_back(a);
  }
  if (vm.count("workdir")) r.workdir = vm["workdir"].as<std::string>();
  if (vm.count("user")) r.user = vm["user"].as<std::string>();
  if (vm.count("hostname")) r.hostname = vm["hostname"].as<std::string>();
  if (vm.count("label")) {
    for (const auto& l : vm["label"].as<std::vector<std::string>>()) {
      auto eq = l.find('=');
      r.labels[l.substr(0, eq)] = eq == std::string::npos ? "" : l.substr(eq + 1);
    }
  }
  if (vm.count("entrypoint")) {
    r.entrypoint_set = true;
    std::string ep = vm["entrypoint"].as<std::string>();
    if (!ep.empty()) r.entrypoint = {ep};
  }
  r.auto_remove = vm["rm"].as<bool>();
  r.resources.memory = size_flag(vm, "memory", "-m, --memory");
  r.resources.memory_swap = size_flag(vm, "memory-swap", "--memory-swap");
  if (vm.count("cpus")) {
    std::string v = vm["cpus"].as<std::string>();
    char* end = nullptr;
    double cpus = std::strtod(v.c_str(), &end);
    if (v.empty() || end == nullptr || *end != '\0') {
      throw UsageError{"invalid argument \"" + v + "\" for \"--cpus\" flag: failed to parse " + v + " as a rational number"};
    }
    r.resources.nano_cpus = static_cast<int64_t>(cpus * 1e9 + 0.5);
  }
  if (vm.count("cpu-shares")) r.resources.cpu_shares = vm["cpu-shares"].as<int64_t>();
  if (vm.count("cpuset-cpus")) r.resources.cpuset_cpus = vm["cpuset-cpus"].as<std::string>();
  if (vm.count("pids-limit")) r.resources.pids_limit = vm["pids-limit"].as<int64_t>();
  if (vm.count("ulimit")) r.ulimits = vm["ulimit"].as<std::vector<std::string>>();
  r.restart = vm["restart"].as<std::string>();
  r.log_driver = vm["log-driver"].as<std::string>();
  if (vm.count("log-opt")) r.log_opts = vm["log-opt"].as<std::vector<std::string>>();
  auto strings = [&](const char* k) {
    return vm.count(k) ? vm[k].as<std::vector<std::string>>() : std::vector<std::string>{};
  };
  // --env-file: KEY=VALUE or KEY lines; blank lines and # comments skipped; before -e.
  std::vector<std::string> from_files;
  for (const auto& f : strings("env-file")) {
    auto text = sdk::fs::read_file(f);
    if (!text) throw UsageError{"open " + f + ": no such file or directory"};
    for (const auto& raw : util::split(*text, '\n')) {
      std::string line = raw;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      std::string t = util::trim(line);
      if (t.empty() || t[0] == '#') continue;
      from_files.push_back(line.substr(line.find_first_not_of(" \t")));
    }
  }
  r.env.insert(r.env.begin(), from_files.begin(), from_files.end());
  r.cap_add = strings("cap-add");
  r.cap_drop = strings("cap-drop");
  r.privileged = vm["privileged"].as<bool>();
  r.read_only = vm["read-only"].as<bool>();
  r.shm_size = size_flag(vm, "shm-size", "--shm-size");
  r.sysctls = strings("sysctl");
  r.devices = strings("device");
  r.init = vm["init"].as<bool>();
  if (vm.count("stop-signal")) r.stop_signal = vm["stop-signal"].as<std::string>();
  if (vm.count("stop-timeout")) r.stop_timeout = vm["stop-timeout"].as<int>();
  r.tty = vm["tty"].as<bool>();
  r.interactive = vm["interactive"].as<bool>();
  return r;
}

void run_error(const std::string& message) {
  std::cerr << "berth: ";
  print_error(message);
}

// Shared by run and create. Returns the container, or prints why not.
// --cidfile: refused if the file exists (another container may own it); written with the
// id once the container exists.
std::optional<Container> do_create(Engine& e, const containers::CreateRequest& req, const po::variables_map& vm,
                                   bool then_start = false) {
  std::string cidfile = vm.count("cidfile") ? vm["cidfile"].as<std::string>() : "";
  if (!cidfile.empty() && sdk::fs::exists(cidfile)) {
    run_error("Container ID file found, make sure the other container isn't running or delete " + cidfile);
    return std::nullopt;
  }
  (void)containers::reconcile(e);
  std::vector<std::string> warnings;
  auto c = containers::create(e, req, then_start, &warnings);
  // A missing image is pulled, its progress on stderr (stdout is the container's), and the
  // create tried again. (create looks the image up before it makes anything, so the first
  // attempt left nothing; a run of a present image pays no second look-up.)
  if (!c && c.error().code == Code::NotFound && util::starts_with(c.error().message, containers::kNoSuchImage)) {
    if (auto ref = images::parse_reference(req.image); ref) {
      std::cerr << "Unable to find image '" << (ref->digest.empty() ? ref->familiar() : ref->familiar_name() + "@" + ref->digest)
                << "' locally\n";
      images::TransferOptions o;
      o.out = stderr;
      o.tty = ::isatty(STDERR_FILENO) == 1;
      if (auto pulled = images::pull(e, req.image, o); !pulled) {
        run_error(pulled.error().what());
        return std::nullopt;
      }
      c = containers::create(e, req, then_start, &warnings);
    }
  }
  if (!c) {
    run_error(c.error().what());
    return std::nullopt;
  }
  // (Docker's CLI prints the create's warnings as it gets them, before the container runs.)
  for (const auto& w : warnings) std::cerr << "WARNING: " << w << "\n";
  if (!cidfile.empty()) {
    if (Status s = sdk::fs::write_file_atomic(cidfile, c->id, 0644, sdk::fs::Durability::Atomic); !s) {
      run_error("failed to create the container ID file: " + s.error().what());
      if (auto now = containers::find(e, c->id); now) (void)containers::remove(e, *now, true, true);
      return std::nullopt;
    }
  }
  return *c;
}

int cmd_create(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"create", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container", 1, SIZE_MAX, false};
  auto p = parse_flags(spec, create_flags(), args);
  if (p.help) return 0;
  auto req = request_from(p);
  Engine* e = cli.engine();
  if (e == nullptr) return engine_unavailable();
  auto c = do_create(*e, req, p.vm);
  if (!c) return kExitEngine;
  std::cout << c->id << "\n";
  return 0;
}

int cmd_run(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"run", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create and run a new container from an image", 1,
                   SIZE_MAX, false};
  auto p = parse_flags(spec, create_flags(), args);
  if (p.help) return 0;
  auto req = request_from(p);
  bool detach = p.vm["detach"].as<bool>();
  monitor::Standby standby = cli.take_standby();
  Engine* e = cli.engine();
  if (e == nullptr) return engine_unavailable();
  if (auto keys = attach::parse_detach_keys(p.vm["detach-keys"].as<std::string>()); !keys) {
    throw UsageError{keys.error().message};
  }
  auto c = do_create(*e, req, p.vm, /*then_start=*/true);
  if (!c) return kExitEngine;
  containers::AttachOptions a;
  a.output = !detach;
  a.input = req.interactive;
  a.detach_keys = p.vm["detach-keys"].as<std::string>();
  auto report = containers::start(*e, *c, a, &standby);
  if (!report || !report->started) {
    // A run that did not start leaves nothing behind.
    if (!e->db_open()) {
      // (the state could not be reopened after the fork; reconcile() cleans up later)
    } else if (auto now = containers::find(*e, c->id); now) {
      (void)containers::remove(*e, *now, true, true);
      (void)containers::sweep(*e);
    }
    if (p.vm.count("cidfile")) ::unlink(p.vm["cidfile"].as<std::string>().c_str());
    if (!report) {
      run_error(report.error().what());
      return kExitEngine;
    }
    run_error("failed to start container process: " + report->error);
    return report->exit_code != 0 ? report->exit_code : kExitEngine;
  }
  if (detach) {
    std::cout << c->id << "\n";
    return 0;
  }
  if (report->detached) return 0;
  if (!report->error.empty()) {
    run_error(report->error);
    return kExitEngine;
  }
  return report->exit_code;
}

int cmd_start(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"start", "[OPTIONS] CONTAINER [CONTAINER...]", "Start one or more stopped containers", 1};
  po::options_description d("Options");
  d.add_options()("attach,a", po::bool_switch(), "Attach STDOUT/STDERR and forward signals")
      ("interactive,i", po::bool_switch(), "Attach container's STDIN")
      ("detach-keys", po::value<std::string>()->default_value("ctrl-p,ctrl-q"), "Override the key sequence for detaching a container");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  bool attach = p.vm["attach"].as<bool>();
  if (attach && p.args.size() > 1) throw UsageError{"you cannot start and attach multiple containers at once", kExitError};
  monitor::Standby standby = cli.take_standby();  // for the first container started
  Engine* e = cli.engine();
  if (e == nullptr) return engine_unavailable();
  (void)containers::reconcile(*e);
  int rc = 0;
  for (const auto& ref : p.args) {
    auto c = containers::find(*e, ref);
    if (!c) {
      print_error(c.error());
      rc = kExitError;
      continue;
    }
    containers::AttachOptions a;
    a.output = attach;
    a.input = attach && p.vm["interactive"].as<bool>();
    a.detach_keys = p.vm["detach-keys"].as<std::string>();
    auto r = containers::start(*e, *c, a, &standby);
    if (!r) {
      print_error(r.error());
      rc = kExitError;
    } else if (!r->started) {
      print_error("failed to start container process: " + r->error);
      rc = attach ? r->exit_code : kExitError;
    } else if (attach) {
      return r->detached ? 0 : r->exit_code;
    } else {
      std::cout << ref << "\n";
    }
  }
  if (rc != 0 && !attach) std::cerr << "Error: failed to start containers: " << util::join(p.args, ", ") << "\n";
  return rc;
}

// stop and restart: -t/--time (and Docker's older --timeout), in seconds.
po::options_description stop_flags() {
  po::options_description d("Options");
  d.add_options()("time,t", po::value<int>(), "Seconds to wait before killing the container (default 10)")
      ("timeout", po::value<int>(), "Alias of --time");
  return d;
}

// -2 when not given: the container's --stop-timeout applies (else 10).
int stop_timeout(const Parsed& p) {
  if (p.vm.count("time")) return p.vm["time"].as<int>();
  if (p.vm.count("timeout")) return p.vm["timeout"].as<int>();
  return -2;
}

int cmd_stop(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"stop", "[OPTIONS] CONTAINER [CONTAINER...]", "Stop one or more running containers", 1};
  auto p = parse_flags(spec, stop_flags(), args);
  if (p.help) return 0;
  int timeout = stop_timeout(p);
  return for_each_container(cli, p.args, [&](Engine& e, const Container& c) { return containers::stop(e, c, timeout); });
}

int cmd_rm(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"rm", "[OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers", 1};
  po::options_description d("Options");
  d.add_options()("force,f", po::bool_switch(), "Force the removal of a running container (uses SIGKILL)")
      ("volumes,v", po::bool_switch(), "Remove anonymous volumes associated with the container");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  bool force = p.vm["force"].as<bool>();
  bool vols = p.vm["volumes"].as<bool>();
  return for_each_container(cli, p.args, [&](Engine& e, const Container& c) { return containers::remove(e, c, force, vols); });
}

// A signal by name ("KILL", "SIGKILL", "sigterm") or number, as docker kill -s takes it.
Result<int> parse_signal(const std::string& raw) {
  static const std::pair<const char*, int> kSignals[] = {
      {"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT},   {"ILL", SIGILL},     {"TRAP", SIGTRAP},
      {"ABRT", SIGABRT}, {"IOT", SIGIOT},       {"BUS", SIGBUS},     {"FPE", SIGFPE},     {"KILL", SIGKILL},
      {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},     {"USR2", SIGUSR2},   {"PIPE", SIGPIPE},   {"ALRM", SIGALRM},
      {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},   {"CONT", SIGCONT},   {"STOP", SIGSTOP},
      {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},   {"URG", SIGURG},     {"XCPU", SIGXCPU},
      {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},   {"WINCH", SIGWINCH}, {"IO", SIGIO},
      {"POLL", SIGPOLL}, {"PWR", SIGPWR},       {"SYS", SIGSYS}};
  auto invalid = [&] { return make_error(Code::InvalidArgument, "Invalid signal: " + raw); };
  if (raw.empty()) return invalid();
  if (raw.find_first_not_of("0123456789") == std::string::npos) {
    int n = std::atoi(raw.c_str());
    if (n <= 0 || n > SIGRTMAX) return invalid();
    return n;
  }
  std::string name = util::to_upper(raw);
  if (util::starts_with(name, "SIG")) name = name.substr(3);
  for (const auto& [n, v] : kSignals) {
    if (name == n) return v;
  }
  return invalid();
}

int cmd_kill(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"kill", "[OPTIONS] CONTAINER [CONTAINER...]", "Kill one or more running containers", 1};
  po::options_description d("Options");
  d.add_options()("signal,s", po::value<std::string>()->default_value("KILL"), "Signal to send to the container");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  auto sig = parse_signal(p.vm["signal"].as<std::string>());
  if (!sig) {
    print_error(sig.error());
    return kExitError;
  }
  return for_each_container(cli, p.args, [&](Engine& e, const Container& c) { return containers::kill(e, c, *sig); });
}

int cmd_pause(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"pause", "CONTAINER [CONTAINER...]", "Pause all processes within one or more containers", 1};
  auto p = parse_flags(spec, po::options_description("Options"), args);
  if (p.help) return 0;
  return for_each_container(cli, p.args, [](Engine& e, const Container& c) { return containers::pause(e, c); });
}

int cmd_unpause(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"unpause", "CONTAINER [CONTAINER...]", "Unpause all processes within one or more containers", 1};
  auto p = parse_flags(spec, po::options_description("Options"), args);
  if (p.help) return 0;
  return for_each_container(cli, p.args, [](Engine& e, const Container& c) { return containers::unpause(e, c); });
}

int cmd_rename(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"rename", "CONTAINER NEW_NAME", "Rename a container", 2, 2};
  auto p = parse_flags(spec, po::options_description("Options"), args);
  if (p.help) return 0;
  Engine* e = cli.engine();
  if (e == nullptr) return engine_unavailable();
  auto c = containers::find(*e, p.args[0]);
  Status s = c ? containers::rename(*e, *c, p.args[1]) : Status(c.error());
  if (!s) {
    print_error(s.error());
    return kExitError;
  }
  return 0;
}

int cmd_restart(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"restart", "[OPTIONS] CONTAINER [CONTAINER...]", "Restart one or more containers", 1};
  auto p = parse_flags(spec, stop_flags(), args);
  if (p.help) return 0;
  int timeout = stop_timeout(p);
  return for_each_container(cli, p.args, [&](Engine& e, const Container& c) -> Status {
    BERTH_TRY(containers::stop(e, c, timeout));
    BERTH_ASSIGN(auto now, containers::find(e, c.id));
    BERTH_ASSIGN(auto r, containers::start(e, now, false));
    if (!r.started) return make_error(Code::Internal, "failed to start container process: " + r.error);
    return {};
  });
}

// Prints each container's exit code when it has stopped (Docker's `wait`).
int cmd_wait(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"wait", "CONTAINER [CONTAINER...]", "Block until one or more containers stop, then print their exit codes", 1};
  auto p = parse_flags(spec, po::options_description("Options"), args);
  if (p.help) return 0;
  return for_each_container(
      cli, p.args,
      [](Engine& e, const Container& first) -> Status {
        // Docker's default condition, "not-running": a container that is not running
        // (created or exited) answers at once. The monitor writes the exit before it exits.
        Container c = first;
        while (c.running()) {
          int mon = static_cast<int>(::syscall(SYS_pidfd_open, c.monitor_pid, 0));
          if (mon >= 0) {
            struct pollfd pf {mon, POLLIN, 0};
            while (::poll(&pf, 1, -1) < 0 && errno == EINTR) {
            }
            ::close(mon);
          }
          (void)containers::reconcile(e);
          // (The record of an --rm container goes with it: then this is "No such container".)
          BERTH_ASSIGN(c, containers::find(e, first.id));
        }
        std::cout << c.exit_code << "\n" << std::flush;
        return {};
      },
      /*echo_ref=*/false);
}

// Docker's `container prune`: every container that is not running.
int cmd_container_prune(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"container prune", "[OPTIONS]", "Remove all stopped containers", 0, 0};
  po::options_description d("Options");
  d.add_options()("force,f", po::bool_switch(), "Do not prompt for confirmation")
      ("filter", po::value<std::vector<std::string>>()->composing(), "Provide filter values (e.g. \"until=<timestamp>\")");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  int64_t now_ns = util::now_ns();
  std::optional<int64_t> until;
  std::map<std::string, std::string> labels;
  if (p.vm.count("filter")) {
    for (const auto& f : p.vm["filter"].as<std::vector<std::string>>()) {
      auto eq = f.find('=');
      std::string key = f.substr(0, eq);
      std::string value = eq == std::string::npos ? "" : f.substr(eq + 1);
      if (key == "until") {
        auto t = util::parse_time_point(value, now_ns);
        if (!t) throw UsageError{"invalid filter 'until=" + value + "': " + t.error().message, kExitError};
        until = *t;
      } else if (key == "label") {
        auto veq = value.find('=');
        labels[value.substr(0, veq)] = veq == std::string::npos ? "" : value.substr(veq + 1);
      } else {
        throw UsageError{"invalid filter '" + key + "'", kExitError};
      }
    }
  }
  if (!p.vm["force"].as<bool>() && !confirm("This will remove all stopped containers.")) return 0;
  Engine* e = cli.engine();
  if (e == nullptr) return engine_unavailable();
  (void)containers::reconcile(*e);
  auto all = containers::list_all(*e);
  if (!all) {
    print_error(all.error());
    return kExitError;
  }
  std::vector<std::string> deleted;
  int64_t reclaimed = 0;
  for (const auto& c : *all) {
    if (c.state != "exited" && c.state != "created") continue;
    if (until && c.created_ns >= *until) continue;
    bool match = true;
    auto have = c.spec.value("Config", nlohmann::json::object()).value("Labels", nlohmann::json::object());
    for (const auto& [k, v] : labels) {
      if (!have.contains(k) || (!v.empty() && have[k] != v)) match = false;
    }
    if (!match) continue;
    if (auto u = e->storage().usage(c.id); u) reclaimed += u->size;
    if (Status s = containers::remove(*e, c, false); !s) {
      print_error(s.error());
      continue;
    }
    deleted.push_back(c.id);
  }
  if (!deleted.empty()) {
    std::cout << "Deleted Containers:\n";
    for (const auto& id : deleted) std::cout << id << "\n";
    std::cout << "\n";
  }
  std::cout << "Total reclaimed space: " << util::human_size(reclaimed) << "\n";
  if (e->trash_pending()) (void)containers::sweep(*e);
  return 0;
}

// Docker's ps filters: the same key given twice matches either value; different keys
// must all match.
struct PsFilter {
  std::multimap<std::string, std::string> by_key;

  static PsFilter parse(const std::vector<std::string>& specs) {
    static const char* kKeys[] = {"status", "name", "id", "label", "ancestor", "exited"};
    PsFilter f;
    for (const auto& spec : specs) {
      auto eq = spec.find('=');
      if (eq == std::string::npos) throw UsageError{"bad format of filter (expected name=value)", kExitError};
      std::string key = spec.substr(0, eq);
      std::string value = spec.substr(eq + 1);
      if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys)) {
        throw UsageError{"invalid filter '" + key + "'", kExitError};
      }
      if (key == "status") {
        static const char* kStates[] = {"created", "restarting", "running", "removing", "paused", "exited", "dead"};
        if (std::find(std::begin(kStates), std::end(kStates), value) == std::end(kStates)) {
          throw UsageError{"invalid filter 'status=" + value + "'", kExitError};
        }
      }
      if (key == "exited" && value.find_first_not_of("0123456789") != std::string::npos) {
        throw UsageError{"invalid filter 'exited=" + value + "'", kExitError};
      }
      f.by_key.emplace(key, value);
    }
    return f;
  }

  bool any(const std::string& key, const std::function<bool(const std::string&)>& match) const {
    auto range = by_key.equal_range(key);
    if (range.first == range.second) return true;
    for (auto it = range.first; it != range.second; ++it) {
      if (match(it->second)) return true;
    }
    return false;
  }

  bool matches(Engine& e, const containers::Summary& sum, const std::string& status) const {
    const Container& c = sum.c;
    nlohmann::json labels = by_key.count("label") ? nlohmann::json::parse(sum.labels_json, nullptr, false) : nlohmann::json();
    if (!labels.is_object()) labels = nlohmann::json::object();
    return any("status", [&](const std::string& v) { return v == status; }) &&
           any("name", [&](const std::string& v) { return c.name.find(util::starts_with(v, "/") ? v.substr(1) : v) != std::string::npos; }) &&
           any("id", [&](const std::string& v) { return util::starts_with(c.id, v); }) &&
           any("label", [&](const std::string& v) {
             auto eq = v.find('=');
             std::string k = v.substr(0, eq);
             if (!labels.contains(k)) return false;
             return eq == std::string::npos || labels[k] == v.substr(eq + 1);
           }) &&
           any("ancestor", [&](const std::string& v) {
             auto img = e.images().resolve(v);
             return (img && img->id == c.image_id) || sum.image == v;
           }) &&
           any("exited", [&](const std::string& v) { return c.state == "exited" && std::to_string(c.exit_code) == v; });
  }
};

// The fields of Docker's ps formatter (ContainerContext), as a JSON object for templates.
struct PsRow {
  std::string id, image, command, created_at, running_for, state, status, size, names, labels, mounts, networks, ports;
  nlohmann::json label_map;
};

PsRow ps_row(Engine& e, const containers::Summary& sum, int64_t now, bool no_trunc, bool size, bool need_maps) {
  const Container& c = sum.c;
  PsRow r;
  r.id = no_trunc ? c.id : c.short_id();
  r.image = sum.image;
  r.command = "\"" + (no_trunc ? sum.command : ellipsis(sum.command, 20)) + "\"";
  r.running_for = util::human_duration((now - c.created_ns) / 1000000000) + " ago";
  r.state = c.state == "creating" || c.state == "starting" ? "created" : c.paused ? "paused" : c.state;
  r.status = containers::status_text(c, now);
  r.names = c.name;
  r.networks = sum.network;
  if (c.running() && (sum.published_json.size() > 2 || sum.exposed_json.size() > 2)) {
    std::vector<sdk::PortMapping> published;
    auto all = nlohmann::json::parse(sum.published_json.empty() ? "[]" : sum.published_json, nullptr, false);
    if (all.is_array()) {
      for (const auto& ports : all) {
        if (!ports.is_array()) continue;
        for (const auto& p : ports) {
          sdk::PortMapping m;
          m.protocol = p.value("Protocol", "tcp");
          m.host_ip = p.value("HostIp", "");
          m.host_port = p.value("HostPort", uint16_t{0});
          m.container_port = p.value("ContainerPort", uint16_t{0});
          published.push_back(m);
        }
      }
    }
    auto exposed = nlohmann::json::parse(sum.exposed_json.empty() ? "{}" : sum.exposed_json, nullptr, false);
    r.ports = network::ps_ports(published, exposed);
  }
  if (size) {
    int64_t rw = 0;
    if (auto u = e.storage().usage(c.id); u) rw = u->size;
    int64_t virt = rw;
    if (auto img = e.images().resolve(c.image_id); img) virt += img->size;
    r.size = util::human_size(rw) + " (virtual " + util::human_size(virt) + ")";
  }
  if (need_maps) {
    time_t secs = static_cast<time_t>(c.created_ns / 1000000000);
    struct tm tm {};
    ::gmtime_r(&secs, &tm);
    char created[64];
    std::strftime(created, sizeof created, "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
    r.created_at = created;
    r.label_map = nlohmann::json::parse(sum.labels_json, nullptr, false);
    if (!r.label_map.is_object()) r.label_map = nlohmann::json::object();
    std::vector<std::string> pairs;
    for (auto it = r.label_map.begin(); it != r.label_map.end(); ++it) {
      pairs.push_back(it.key() + "=" + (it->is_string() ? it->get<std::string>() : it->dump()));
    }
    r.labels = util::join(pairs, ",");
    std::vector<std::string> mounts;
    auto m = nlohmann::json::parse(sum.mounts_json, nullptr, false);
    if (m.is_array()) {
      for (const auto& one : m) mounts.push_back(no_trunc ? one.value("Source", "") : ellipsis(one.value("Source", ""), 15));
    }
    r.mounts = util::join(mounts, ",");
  }
  return r;
}

nlohmann::ordered_json ps_context(const PsRow& r) {
  return {{"ID", r.id},           {"Image", r.image},       {"Command", r.command}, {"CreatedAt", r.created_at},
          {"RunningFor", r.running_for}, {"Ports", r.ports},     {"State", r.state},     {"Status", r.status},
          {"Size", r.size},       {"Names", r.names},       {"Labels", r.labels},   {"Label", r.label_map},
          {"Mounts", r.mounts},   {"Networks", r.networks}, {"LocalVolumes", "0"}};
}

const nlohmann::ordered_json kPsHeaders = {
    {"ID", "CONTAINER ID"}, {"Image", "IMAGE"},   {"Command", "COMMAND"}, {"CreatedAt", "CREATED AT"},
    {"RunningFor", "CREATED"}, {"Ports", "PORTS"}, {"State", "STATE"},     {"Status", "STATUS"},
    {"Size", "SIZE"},       {"Names", "NAMES"},   {"Labels", "LABELS"},   {"Label", "LABEL"},
    {"Mounts", "MOUNTS"},   {"Networks", "NETWORKS"}, {"LocalVolumes", "LOCAL VOLUMES"}};

int cmd_ps(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"ps", "[OPTIONS]", "List containers", 0, 0};
  po::options_description d("Options");
  d.add_options()("all,a", po::bool_switch(), "Show all containers (default shows just running)")
      ("filter,f", po::value<std::vector<std::string>>()->composing(), "Filter output based on conditions provided")
      ("format", po::value<std::string>(), "Format output using a custom template ('table', 'table TEMPLATE', or a Go template)")
      ("quiet,q", po::bool_switch(), "Only display container IDs")
      ("latest,l", po::bool_switch(), "Show the latest created container (includes all states)")
      ("last,n", po::value<int>()->default_value(-1), "Show n last created containers (includes all states)")
      ("no-trunc", po::bool_switch(), "Don't truncate output")
      ("size,s", po::bool_switch(), "Display total file sizes");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  bool all = p.vm["all"].as<bool>();
  bool quiet = p.vm["quiet"].as<bool>();
  bool no_trunc = p.vm["no-trunc"].as<bool>();
  bool size = p.vm["size"].as<bool>();
  int last = p.vm["last"].as<int>();
  if (p.vm["latest"].as<bool>()) last = 1;
  if (last > 0) all = true;
  PsFilter filter = PsFilter::parse(p.vm.count("filter") ? p.vm["filter"].as<std::vector<std::string>>()
                                                         : std::vector<std::string>{});
  // A status filter other than "running" shows stopped containers without -a, as Docker's.
  if (filter.by_key.count("status") || filter.by_key.count("exited")) all = true;
  // Docker's default columns are printed directly; a --format goes through the template.
  bool custom = p.vm.count("format") && p.vm["format"].as<std::string>() != "table" &&
                !p.vm["format"].as<std::string>().empty();
  std::optional<tmpl::Template> tpl;
  tmpl::CliFormat cf;
  if (custom && !quiet) {
    cf = tmpl::cli_format(p.vm["format"].as<std::string>());
    auto t = tmpl::Template::parse(cf.body);
    if (!t) {
      std::cerr << "template parsing error: " << t.error().message << "\n";
      return kExitError;
    }
    tpl = *t;
  }
  Engine* e = cli.engine();
  if (e == nullptr) return engine_unavailable();
  (void)containers::reconcile(*e);
  auto list = containers::list_summaries(*e);
  if (!list) {
    print_error(list.error());
    return kExitError;
  }
  int64_t now = util::now_ns();
  std::string out;
  Table table;
  if (tpl && cf.table) {
    auto header = tpl->execute(kPsHeaders);
    if (!header) {
      std::cerr << header.error().message << "\n";
      return kExitError;
    }
    out += *header + "\n";
  }
  if (!tpl && !quiet) {
    std::vector<std::string> h = {"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"};
    if (size) h.push_back("SIZE");
    table.row(h);
  }
  int shown = 0;
  for (const auto& sum : *list) {
    const Container& c = sum.c;
    if (last > 0 && shown >= last) break;
    if (!all && !c.running()) continue;
    std::string status = c.state == "creating" || c.state == "starting" ? "created" : c.paused ? "paused" : c.state;
    if (!filter.matches(*e, sum, status)) continue;
    ++shown;
    if (quiet) {
      out += (no_trunc ? c.id : c.short_id()) + "\n";
      continue;
    }
    PsRow r = ps_row(*e, sum, now, no_trunc, size, tpl.has_value());
    if (!tpl) {
      std::vector<std::string> cells = {r.id, r.image, r.command, r.running_for, r.status, r.ports, r.names};
      if (size) cells.push_back(r.size);
      table.row(cells);
      continue;
    }
    auto line = tpl->execute(ps_context(r));
    if (!line) {
      std::cerr << line.error().message << "\n";
      return kExitError;
    }
    out += *line + "\n";
  }
  if (!tpl && !quiet) out = table.str();
  else if (tpl && cf.table) out = tmpl::tabwrite(out);
  std::cout << out;
  return 0;
}

// Prints a json-file log; with `follow`, keeps printing until the container's monitor exits.
int cmd_logs(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"logs", "[OPTIONS] CONTAINER", "Fetch the logs of a container", 1, 1};
  po::options_description d("Options");
  d.add_options()("follow,f", po::bool_switch(), "Follow log output")
      ("since", po::value<std::string>(), "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)")
      ("until", po::value<std::string>(), "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)")
      ("timestamps,t", po::bool_switch(), "Show timestamps")
      ("tail,n", po::value<std::string>()->default_value("all"), "Number of lines to show from the end of the logs");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  bool follow = p.vm["follow"].as<bool>();
  bool timestamps = p.vm["timestamps"].as<bool>();
  std::string tail_s = p.vm["tail"].as<std::string>();
  long tail = -1;
  if (tail_s != "all") {
    char* end = nullptr;
    tail = std::strtol(tail_s.c_str(), &end, 10);
    if (end == tail_s.c_str() || *end != '\0') throw UsageError{"invalid value for --tail: " + tail_s};
  }
  int64_t now = util::now_ns();
  int64_t since = 0, until = 0;
  for (auto [flag, target] : {std::pair<const char*, int64_t*>{"since", &since}, {"until", &until}}) {
    if (!p.vm.count(flag)) continue;
    auto t = util::parse_time_point(p.vm[flag].as<std::string>(), now);
    if (!t) throw UsageError{std::string("invalid value for --") + flag + ": " + t.error().message, kExitError};
    *target = *t;
  }
  Engine* e = cli.engine();
  if (e == nullptr) return engine_unavailable();
  auto c = find_container(*e, p.args[0]);
  if (!c) return kExitError;
  const auto host_config = c->spec.value("HostConfig", nlohmann::json::object());
  if (!containers::logs_to_file(host_config)) {
    print_error("configured logging driver does not support reading");
    return kExitError;
  }
  std::string path = e->container_dir(c->id) + "/" + c->id + "-json.log";
  auto rotation = containers::log_rotation_of(host_config);
  // --until in the past ends the follow at once, as Docker's.
  if (until != 0 && until <= now) follow = false;
  int mon = -1;
  if (follow && c->monitored()) mon = static_cast<int>(::syscall(SYS_pidfd_open, c->monitor_pid, 0));
  auto emit = [&](const std::string& line) {
    monitor::LogEntry entry;
    if (!monitor::parse_log_line(line, &entry)) return;
    if (since != 0 || until != 0) {
      auto t = util::parse_time_point(entry.time, now);
      if (t && since != 0 && *t < since) return;
      if (t && until != 0 && *t > until) return;
    }
    std::string text = timestamps ? entry.time + " " + entry.log : entry.log;
    auto& os = entry.stream == "stderr" ? std::cerr : std::cout;
    os << text;
    os.flush();
  };
  // What the rotated files and the current one hold, oldest first.
  std::vector<std::string> lines;
  std::string pending;
  int fd = -1;
  ino_t current = 0;
  auto drain = [&](int from, bool collect) {
    char buf[65536];
    ssize_t n;
    while ((n = ::read(from, buf, sizeof buf)) > 0) {
      pending.append(buf, static_cast<size_t>(n));
      size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos) {
        if (collect) lines.push_back(pending.substr(0, nl));
        else emit(pending.substr(0, nl));
        pending.erase(0, nl + 1);
      }
    }
  };
  for (const auto& f : monitor::log_files(path, rotation.max_file)) {
    int ffd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
    if (ffd < 0) continue;
    drain(ffd, true);
    if (f == path) {
      fd = ffd;
      struct stat st {};
      if (::fstat(fd, &st) == 0) current = st.st_ino;
    } else {
      ::close(ffd);
    }
  }
  size_t from = tail < 0 || static_cast<size_t>(tail) >= lines.size() ? 0 : lines.size() - static_cast<size_t>(tail);
  for (size_t i = from; i < lines.size(); ++i) emit(lines[i]);
  if (mon >= 0) {
    // The log only grows while the monitor lives; poll it until the monitor exits (or
    // --until passes), following it across rotations.
    for (;;) {
      struct pollfd pf {mon, POLLIN, 0};
      int r = ::poll(&pf, 1, 100);
      if (fd < 0) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) drain(fd, false);
      struct stat st {};
      // (max-file 1 empties the log in place: start again from its beginning.)
      if (fd >= 0 && ::fstat(fd, &st) == 0 && st.st_size < ::lseek(fd, 0, SEEK_CUR)) ::lseek(fd, 0, SEEK_SET);
      if (fd >= 0 && ::stat(path.c_str(), &st) == 0 && st.st_ino != current) {
        ::close(fd);
        fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        current = st.st_ino;
        if (fd >= 0) drain(fd, false);
      }
      if (r > 0 || (until != 0 && util::now_ns() > until)) break;
    }
    ::close(mon);
  }
  if (fd >= 0) ::close(fd);
  return 0;
}

int cmd_inspect(Cli& cli, const std::vector<std::string>& args, const std::string& forced_type) {
  CommandSpec spec{forced_type.empty() ? "inspect" : forced_type + " inspect", "[OPTIONS] NAME|ID [NAME|ID...]",
                   "Return low-level information on berth objects", 1};
  po::options_description d("Options");
  d.add_options()("type", po::value<std::string>(), "Return JSON for specified type (container, image)")
      ("format,f", po::value<std::string>(), "Format output using a custom template ('json', or a Go template)");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  std::optional<tmpl::Template> tpl;
  std::string format = p.vm.count("format") ? p.vm["format"].as<std::string>() : "";
  if (!format.empty() && format != "json") {
    auto t = tmpl::Template::parse(format);
    if (!t) {
      std::cerr << "template parsing error: " << t.error().message << "\n";
      return kExitError;
    }
    tpl = *t;
  }
  std::string type = forced_type;
  if (p.vm.count("type")) type = p.vm["type"].as<std::string>();
  if (!type.empty() && type != "container" && type != "image") {
    throw UsageError{"\"" + type + "\" is not a valid value for --type", kExitError};
  }
  Engine* e = cli.engine();
  if (e == nullptr) return engine_unavailable();
  (void)containers::reconcile(*e);
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  int rc = 0;
  for (const auto& ref : p.args) {
    if (type.empty() || type == "container") {
      auto c = containers::find(*e, ref);
      if (c) {
        out.push_back(container_json(*e, *c));
        continue;
      }
    }
    if (type.empty() || type == "image") {
      auto img = e->images().resolve(ref);
      if (img) {
        auto j = image_json(*e, *img);
        if (j) {
          out.push_back(*j);
          continue;
        }
      }
    }
    std::cerr << "Error: No such " << (type.empty() ? "object" : type) << ": " << ref << "\n";
    rc = kExitError;
  }
  if (!tpl) {
    std::cout << out.dump(4) << "\n";
    return rc;
  }
  // One line per object, as Docker prints templates.
  for (const auto& obj : out) {
    auto line = tpl->execute(obj);
    if (!line) {
      std::cerr << line.error().message << "\n";
      return kExitError;
    }
    std::cout << *line << "\n";
  }
  return rc;
}

}  // namespace

void register_container_commands(std::map<std::string, Command>& t) {
  for (const char* prefix : {"", "container "}) {
    std::string pre = prefix;
    t[pre + "run"] = cmd_run;
    t[pre + "create"] = cmd_create;
    t[pre + "start"] = cmd_start;
    t[pre + "stop"] = cmd_stop;
    t[pre + "logs"] = cmd_logs;
    t[pre + "kill"] = cmd_kill;
    t[pre + "pause"] = cmd_pause;
    t[pre + "unpause"] = cmd_unpause;
    t[pre + "rename"] = cmd_rename;
    t[pre + "restart"] = cmd_restart;
    t[pre + "wait"] = cmd_wait;
    t[pre + "exec"] = cmd_exec;
    t[pre + "attach"] = cmd_attach;
    t[pre + "top"] = cmd_top;
    t[pre + "stats"] = cmd_stats;
  }
  t["container prune"] = cmd_container_prune;
  t["rm"] = t["container rm"] = t["container remove"] = cmd_rm;
  t["ps"] = t["container ls"] = t["container ps"] = t["container list"] = cmd_ps;
  t["inspect"] = [](Cli& c, const std::vector<std::string>& a) { return cmd_inspect(c, a, ""); };
  t["container inspect"] = [](Cli& c, const std::vector<std::string>& a) { return cmd_inspect(c, a, "container"); };
  t["image inspect"] = [](Cli& c, const std::vector<std::string>& a) { return cmd_inspect(c, a, "image"); };
}

}  // namespace berth::cli
