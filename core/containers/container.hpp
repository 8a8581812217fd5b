#pragma once

// Containers: their records, and the lifecycle operations every command shares.
// States: creating -> created -> starting -> running -> exited (-> starting ...), and
// removing. "creating", "starting" and "removing" are intents owned by a live process
// (owner_pid); reconcile() finishes or undoes those whose owner died, and marks running
// containers whose monitor died.

#include <sys/types.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "berth/sdk/result.hpp"
#include "engine.hpp"
#include "runtime/cgroups.hpp"
#include "monitor/json_log.hpp"
#include "runtime/spawn.hpp"

namespace berth::monitor {
class Standby;
}

namespace berth::containers {

struct Container {
  std::string id;
  std::string name;
  std::string image_id;
  int64_t created_ns = 0;
  std::string state;
  pid_t owner_pid = 0;
  uint64_t owner_start = 0;
  pid_t pid = 0;
  pid_t monitor_pid = 0;
  uint64_t monitor_start = 0;
  int exit_code = 0;
  int64_t started_ns = 0;
  int64_t finished_ns = 0;
  std::string error;
  bool paused = false;     // running, with its cgroups frozen
  bool oom_killed = false; // the last run ended by the kernel's OOM killer
  int restart_count = 0;   // restarts by the restart policy since the last start
  bool manually_stopped = false;  // stopped by stop/rm -f: no restart (and, for
                                  // unless-stopped, none at boot either)
  nlohmann::json spec;     // {Path, Args, Config, HostConfig, Mounts, ImageRef}
  nlohmann::json runtime;  // {cgroups: [...]}

  bool running() const { return state == "running"; }
  // Running, or waiting to be restarted: either way its monitor is alive and owns it.
  bool monitored() const { return state == "running" || state == "restarting"; }
  std::string short_id() const { return id.substr(0, 12); }
};

struct CreateRequest {
  std::string image;                    // as the user typed it
  std::vector<std::string> command;     // after the image; replaces CMD
  std::vector<std::string> entrypoint;  // --entrypoint
  bool entrypoint_set = false;
  std::string name;
  std::vector<std::string> env;         // -e KEY=VALUE or KEY (taken from our environment)
  std::vector<std::string> volumes;     // -v SRC:DST[:OPTS]
  std::string network = "";             // --network; "" = the host's default network
  std::string ip;                       // --ip (user-defined networks)
  std::vector<std::string> network_aliases;  // --network-alias
  std::vector<std::string> publish;     // -p [[HOSTIP:][HOSTPORT]:]CTRPORT[/PROTO]
  bool publish_all = false;             // -P: every exposed port, on a chosen host port
  std::vector<std::string> expose;      // --expose PORT[/PROTO]
  std::vector<std::string> links;       // --link NAME[:ALIAS]
  std::vector<std::string> add_hosts;   // --add-host HOST:IP
  std::vector<std::string> tmpfs;       // --tmpfs PATH[:OPTIONS]
  std::vector<std::string> mounts;      // --mount type=...,source=...,target=...
  std::vector<std::string> volumes_from;  // --volumes-from CONTAINER[:ro|:rw]
  std::string workdir;                  // -w
  std::string user;                     // -u
  std::string hostname;                 // -h
  std::map<std::string, std::string> labels;
  bool auto_remove = false;
  runtime::Resources resources;         // --memory, --cpus, ... (validated by create())
  std::vector<std::string> ulimits;     // --ulimit name=soft[:hard]
  std::string restart = "no";           // --restart no|always|unless-stopped|on-failure[:N]
  std::string log_driver = "json-file"; // --log-driver json-file|none
  std::vector<std::string> log_opts;    // --log-opt max-size=10m, max-file=3
  std::vector<std::string> cap_add, cap_drop;
  bool privileged = false;
  bool read_only = false;
  int64_t shm_size = 0;                 // bytes; 0: Docker's 64 MiB
  std::vector<std::string> sysctls;     // key=value
  std::vector<std::string> devices;     // HOST[:CONTAINER[:PERMISSIONS]]
  bool init = false;
  std::string stop_signal;              // "" = SIGTERM
  int stop_timeout = -1;                // seconds; -1 = 10
  bool tty = false;
  bool interactive = false;
};

// Look-ups accept the full id, the name (with or without a leading '/'), or a unique id prefix.
Result<Container> find(Engine& e, const std::string& ref);
Result<std::vector<Container>> list_all(Engine& e);  // newest first

// What `ps` shows of a container, read without parsing each one's whole spec: SQLite's
// json_extract picks the few fields (ps of 1,000 containers spent most of its time
// allocating parsed specs).
struct Summary {
  Container c;                 // every column but spec and runtime
  std::string image;           // Config.Image as given
  std::string command;         // Path and Args, joined by spaces
  std::string labels_json;     // Config.Labels
  std::string mounts_json;     // Mounts
  std::string network;         // Network.Name
  std::string exposed_json;    // Config.ExposedPorts
  std::string published_json;  // the Ports of the container's endpoints: [[{...}], ...]
};
Result<std::vector<Summary>> list_summaries(Engine& e);  // newest first
Status reconcile(Engine& e);

// The start of create()'s NotFound message for a missing image (nothing is made by then),
// which `run` answers with a pull.
inline constexpr const char* kNoSuchImage = "No such image: ";
// With `then_start` the container is left "starting", owned by this process, for start().
// `warnings` receives what Docker returns as the create's Warnings (limits this host's
// cgroups cannot enforce, which the container goes without).
Result<Container> create(Engine& e, const CreateRequest& req, bool then_start = false,
                         std::vector<std::string>* warnings = nullptr);

// How a started container is reported to the CLI that started it.
struct StartReport {
  bool started = false;
  int exit_code = 0;          // the program's, when `wait` was set; or 125/126/127 on failure
  std::string error;          // why it did not start
  pid_t pid = 0;              // the container's first process (host pid)
  pid_t monitor_pid = 0;
  bool detached = false;      // the user typed the detach keys; the container runs on
};

struct AttachOptions {
  bool output = false;        // copy the output here and return when the container exits
  bool input = false;         // send this process's stdin (the container must have -i)
  std::string detach_keys = "ctrl-p,ctrl-q";
};

// Starts the container under a new monitor process. With `output`, the container's output
// is copied to this process's stdout/stderr and the call returns when it has exited (and,
// for --rm, been removed), or when the user detaches; signals sent to this process are
// forwarded to the container (without a terminal: with -t, ^C is a key the terminal
// turns into SIGINT inside). A container made with -i or -t is attached through the
// monitor (attach.hpp), this process's terminal in raw mode for -t.
// `standby`, when given and not used yet, becomes the monitor (see monitor/standby.hpp);
// otherwise one is forked here.
Result<StartReport> start(Engine& e, const Container& c, const AttachOptions& attach,
                          monitor::Standby* standby = nullptr);
inline Result<StartReport> start(Engine& e, const Container& c, bool attach) {
  AttachOptions a;
  a.output = attach;
  return start(e, c, a);
}

// The record of a run changes hands between the CLI that starts it and its monitor:
// the start is the CLI's ("starting", owner_pid), the run is the monitor's ("running",
// monitor_pid). Whichever of the two is still there writes each transition; the WHERE
// clauses make a second writer a no-op, and reconcile() covers both being gone.
struct RunFacts {
  pid_t pid = 0;
  int64_t started_ns = 0;
  pid_t monitor_pid = 0;
  uint64_t monitor_start = 0;
  std::string runtime;  // JSON: {"cgroups": [...]}
};
// "starting" owned by `owner` becomes "running". False when the record is no longer that
// start (recorded already, or undone by a reconcile that judged its owner dead).
Result<bool> record_running(Engine& e, const std::string& id, pid_t owner, const RunFacts& f);
// The start owned by `owner` did not happen: back to "created" (or "exited" if it ran before).
Status undo_start(Engine& e, const std::string& id, pid_t owner, int code, const std::string& message);
// Docker's restart policies. The monitor applies them when the program exits; a container
// stopped by hand (stop, rm -f) is not restarted.
struct RestartPolicy {
  std::string name = "no";  // no, always, unless-stopped, on-failure
  int max_retries = 0;      // on-failure:N (0: no limit)
  bool restarts_after(int exit_code, int restarts_so_far) const;
  // At host start-up (`berth system boot`): always, and unless-stopped unless stopped by hand.
  bool starts_at_boot(bool manually_stopped) const;
};
Result<RestartPolicy> parse_restart_policy(const std::string& spec);
RestartPolicy restart_policy_of(const nlohmann::json& host_config);
// Marks the container stopped by hand (before stop signals it), so its monitor does not
// restart it.
Status mark_manually_stopped(Engine& e, const std::string& id);
// Starts the containers whose policy asks for it after a host restart; returns their ids.
Result<std::vector<std::string>> start_at_boot(Engine& e);

// The json-file rotation a container's HostConfig.LogConfig asks for; "none" logs nothing.
bool logs_to_file(const nlohmann::json& host_config);
monitor::LogRotation log_rotation_of(const nlohmann::json& host_config);

// What the container's processes run with: capabilities (numbers), privileged, read-only
// root, /dev/shm size, sysctls, devices and --init, from its HostConfig.
void apply_security(const nlohmann::json& host_config, runtime::SpawnConfig* sc);
std::vector<int> capabilities_of(const nlohmann::json& host_config);
// The signal and timeout `stop` uses when none is given (--stop-signal, --stop-timeout).
int stop_signal_of(const Container& c);
int stop_timeout_of(const Container& c);

// A container's limits, from its HostConfig.
runtime::Resources resources_of(const nlohmann::json& host_config);
std::vector<runtime::Rlimit> rlimits_of(const nlohmann::json& host_config);

// The run watched by `monitor` ended with `code`. With AutoRemove the container is then
// removed by this process (its cgroups left alone if `cgroups_released`: the monitor
// removed them). False when another process recorded the exit first.
Result<bool> record_exit(Engine& e, const Container& c, pid_t monitor, int code, int64_t finished_ns,
                         bool oom_killed = false, bool cgroups_released = false);

// The container's stop signal (SIGTERM unless --stop-signal), then SIGKILL after
// `timeout_s` (< -1: the container's --stop-timeout, else 10); waits for the monitor to record
// the exit. A container that is not running is left as it is.
Status stop(Engine& e, const Container& c, int timeout_s);
// Sends `signal` to the container's first process. Conflict when it is not running.
Status kill(Engine& e, const Container& c, int signal);
// Freezes (thaws) every process of a running container through the cgroup freezer:
// v1's freezer.state where that hierarchy is mounted, else v2's cgroup.freeze.
Status pause(Engine& e, const Container& c);
Status unpause(Engine& e, const Container& c);
// Docker's rules for names; Conflict if another container has it.
Status rename(Engine& e, const Container& c, const std::string& new_name);
// `network connect`: the network joins the container's configuration and, while it runs,
// its namespace (a new ethN). `disconnect` undoes both.
Status connect(Engine& e, const Container& c, const std::string& network_ref, const std::string& ip,
               const std::vector<std::string>& aliases);
Status disconnect(Engine& e, const Container& c, const std::string& network_ref, bool force);

// Removes a container: refused while running unless `force` (then it is killed first).
// With `anonymous_volumes` (rm -v, and a run that did not start) the container's anonymous
// volumes go too; named ones never do.
Status remove(Engine& e, const Container& c, bool force, bool anonymous_volumes = false);
Status remove_container(Engine& e, const Container& c, bool force);
// Removes a container's snapshot, files and record; the container is not running. The
// files go to the trash (a rename each): sweep() deletes them. Its cgroups are emptied and
// removed too, unless `cgroups_released` (the monitor that saw the run end removed them
// before it reported the exit: looking again costs most of a millisecond, most of it
// finding the hierarchies).
Status destroy(Engine& e, const std::string& id, bool cgroups_released = false);
// Empties the engine's and the storage driver's trash (and whatever an interrupted
// operation left there). Run where nobody waits: after a command's work, in the monitor.
Status sweep(Engine& e);

// A process's environment in the container: Config.Env, with HOSTNAME added as Docker's
// runtime adds it when missing (HOME is added in the container, from its passwd).
std::vector<std::string> process_env(const nlohmann::json& config);
// `env` with KEY=VALUE (or KEY, taken from this process's environment) entries applied
// in order, as -e does; PATH is added when missing.
std::vector<std::string> with_env(std::vector<std::string> env, const std::vector<std::string>& overrides);

// The strings of a JSON array (non-strings skipped; anything else gives none).
std::vector<std::string> json_strings(const nlohmann::json& j);

// Docker's `ps` STATUS column: "Up 5 seconds", "Exited (0) 3 minutes ago", "Created".
std::string status_text(const Container& c, int64_t now_ns);

}  // namespace berth::containers
