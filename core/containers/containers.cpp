#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <optional>
#include <set>

#include "berth/sdk/fs.hpp"
#include "berth/sdk/scope_guard.hpp"
#include "containers/container.hpp"
#include "containers/names.hpp"
#include "monitor/attach.hpp"
#include "monitor/monitor.hpp"
#include "monitor/standby.hpp"
#include "network/ipam.hpp"
#include "network/networks.hpp"
#include "network/ports.hpp"
#include "volumes/mount_spec.hpp"
#include "volumes/volumes.hpp"
#include "runtime/cgroups.hpp"
#include "util/util.hpp"

namespace berth::containers {

using nlohmann::json;
namespace fs = sdk::fs;

namespace {

using volumes::clean_path;
using volumes::MountSpec;
using volumes::parse_bind;
using volumes::parse_mount;

constexpr const char* kColumns =
    "id, name, image_id, created_ns, state, owner_pid, owner_start, pid, monitor_pid, "
    "monitor_start, exit_code, started_ns, finished_ns, error, spec, runtime, paused, oom_killed, restart_count, "
    "manually_stopped";

constexpr const char* kDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

Container from_row(const state::Stmt& s) {
  Container c;
  c.id = s.text(0);
  c.name = s.text(1);
  c.image_id = s.text(2);
  c.created_ns = s.integer(3);
  c.state = s.text(4);
  c.owner_pid = static_cast<pid_t>(s.integer(5));
  c.owner_start = static_cast<uint64_t>(s.integer(6));
  c.pid = static_cast<pid_t>(s.integer(7));
  c.monitor_pid = static_cast<pid_t>(s.integer(8));
  c.monitor_start = static_cast<uint64_t>(s.integer(9));
  c.exit_code = static_cast<int>(s.integer(10));
  c.started_ns = s.integer(11);
  c.finished_ns = s.integer(12);
  c.error = s.text(13);
  c.spec = json::parse(s.text(14), nullptr, false);
  c.runtime = json::parse(s.text(15), nullptr, false);
  c.paused = s.integer(16) != 0;
  c.oom_killed = s.integer(17) != 0;
  c.restart_count = static_cast<int>(s.integer(18));
  c.manually_stopped = s.integer(19) != 0;
  if (c.spec.is_discarded()) c.spec = json::object();
  if (c.runtime.is_discarded()) c.runtime = json::object();
  return c;
}

Result<std::vector<Container>> query(Engine& e, const std::string& where, const std::string& arg) {
  BERTH_ASSIGN(auto st, e.db().prepare(std::string("SELECT ") + kColumns + " FROM containers " + where));
  if (!arg.empty()) st.bind(1, arg);
  std::vector<Container> out;
  while (true) {
    BERTH_ASSIGN(bool row, st.step());
    if (!row) break;
    out.push_back(from_row(st));
  }
  return out;
}

Error no_such(const std::string& ref) { return make_error(Code::NotFound, "No such container: " + ref); }

bool is_hex(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// Takes over a container's record for this process if it is still in `expect_state` (and,
// when given, still owned by `expect_owner`). Returns false when another process got there
// first.
Result<bool> claim(Engine& e, const std::string& id, const std::string& expect_state,
                   std::optional<pid_t> expect_owner, const std::string& new_state) {
  std::string sql =
      "UPDATE containers SET state = ?, owner_pid = ?, owner_start = ? WHERE id = ? AND state = ?";
  if (expect_owner) sql += " AND owner_pid = ?";
  BERTH_ASSIGN(auto st, e.db().prepare(sql));
  pid_t me = ::getpid();
  st.bind(1, new_state).bind(2, int64_t{me}).bind(3, static_cast<int64_t>(util::process_start_time(me)));
  st.bind(4, id).bind(5, expect_state);
  if (expect_owner) st.bind(6, int64_t{*expect_owner});
  BERTH_TRY(st.run());
  return e.db().changes() == 1;
}

std::string env_key(const std::string& kv) { return kv.substr(0, kv.find('=')); }

// Image environment first, then -e in order; a later KEY replaces an earlier one in place.
std::vector<std::string> merge_env(const std::vector<std::string>& base,
                                   const std::vector<std::string>& overrides) {
  std::vector<std::string> out = base;
  for (const auto& raw : overrides) {
    std::string kv = raw;
    if (kv.find('=') == std::string::npos) {
      // `-e KEY` passes the caller's value through, and nothing when it has none.
      const char* v = ::getenv(kv.c_str());
      if (v == nullptr) continue;
      kv += "=" + std::string(v);
    }
    std::string key = env_key(kv);
    bool replaced = false;
    for (auto& existing : out) {
      if (env_key(existing) == key) {
        existing = kv;
        replaced = true;
      }
    }
    if (!replaced) out.push_back(kv);
  }
  bool has_path = false;
  for (const auto& kv : out) has_path |= env_key(kv) == "PATH";
  if (!has_path) out.insert(out.begin(), kDefaultPath);
  return out;
}

struct NetworkChoice {
  std::string name;
  std::string driver;
  bool host_namespace = false;
  std::string container;  // container:X: the id of X
  network::Choice choice;
};

// --network: a network's name or id ("" is the host's configured default), or
// container:NAME|ID to share that container's namespace.
Result<NetworkChoice> choose_network(Engine& e, const std::string& requested) {
  NetworkChoice n;
  if (util::starts_with(requested, "container:")) {
    std::string ref = requested.substr(10);
    auto other = find(e, ref);
    if (!other) return make_error(Code::NotFound, "No such container: " + ref);
    n.name = requested;
    n.container = other->id;
    return n;
  }
  BERTH_ASSIGN(n.choice, network::choose(e, requested));
  n.name = requested.empty() || requested == "default" ? n.choice.network.name : requested;
  n.driver = n.choice.network.driver;
  n.host_namespace = n.choice.host_namespace;
  return n;
}

std::string host_name() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

// resolv.conf as Docker writes it for a container that does not share the host's network:
// the host's file without loopback resolvers, which would not answer from a new namespace.
std::string container_resolv_conf(bool host_network) {
  auto host = fs::read_file("/etc/resolv.conf");
  std::string text = host ? *host : "";
  if (host_network) return text;
  std::string out;
  bool has_ns = false;
  for (const auto& line : util::split(text, '\n')) {
    std::string t = util::trim(line);
    if (util::starts_with(t, "nameserver")) {
      std::string addr = util::trim(t.substr(10));
      if (util::starts_with(addr, "127.") || addr == "::1") continue;
      has_ns = true;
    }
    if (!line.empty()) out += line + "\n";
  }
  if (!has_ns) out += "nameserver 8.8.8.8\nnameserver 8.8.4.4\n";
  return out;
}

constexpr const char* kHostsFile =
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n";

// Sends SIGKILL to every process left in the container's cgroups, then removes them.
// A monitor killed before it recorded its cgroups leaves them where this process would
// make them, so both places are looked at.
void release_cgroups(const json& runtime, const std::string& id) {
  auto dirs = json_strings(runtime.value("cgroups", json::array()));
  for (const auto& d : runtime::cgroup_dirs_for(id)) {
    if (std::find(dirs.begin(), dirs.end(), d) == dirs.end() && fs::exists(d)) dirs.push_back(d);
  }
  for (const auto& d : dirs) {
    auto procs = fs::read_file(d + "/cgroup.procs");
    if (!procs) continue;
    for (const auto& line : util::split(*procs, '\n')) {
      if (!line.empty()) ::kill(std::atoi(line.c_str()), SIGKILL);
    }
  }
  (void)runtime::destroy_cgroups(dirs);
}

Status delete_record(Engine& e, const std::string& id) {
  BERTH_ASSIGN(auto st, e.db().prepare("DELETE FROM containers WHERE id = ?"));
  st.bind(1, id);
  return st.run();
}

// Waits until the process behind `pidfd` exits, up to `timeout_ms` (-1: forever).
bool wait_pidfd(int pidfd, int timeout_ms) {
  struct pollfd p {pidfd, POLLIN, 0};
  while (true) {
    int r = ::poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    return r > 0;
  }
}

int pidfd_for(pid_t pid, uint64_t start_time) {
  if (pid <= 0) return -1;
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return -1;
  // The pid may have been reused since it was recorded.
  if (start_time != 0 && util::process_start_time(pid) != start_time) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

std::vector<std::string> json_strings(const json& j) {
  std::vector<std::string> out;
  if (j.is_array()) {
    for (const auto& v : j) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return out;
}

std::vector<std::string> process_env(const json& config) {
  auto env = json_strings(config.value("Env", json::array()));
  bool has_hostname = false;
  for (const auto& kv : env) has_hostname |= util::starts_with(kv, "HOSTNAME=");
  if (!has_hostname) env.insert(env.begin() + (env.empty() ? 0 : 1), "HOSTNAME=" + config.value("Hostname", std::string()));
  // (HOME, when not set, comes from the image's passwd for the user, in the container.)
  return env;
}

std::vector<std::string> with_env(std::vector<std::string> env, const std::vector<std::string>& overrides) {
  return merge_env(env, overrides);
}

Result<Container> find(Engine& e, const std::string& ref) {
  if (ref.empty()) return no_such(ref);
  std::string name = ref[0] == '/' ? ref.substr(1) : ref;
  BERTH_ASSIGN(auto by_id, query(e, "WHERE id = ?", ref));
  if (!by_id.empty()) return by_id.front();
  BERTH_ASSIGN(auto by_name, query(e, "WHERE name = ?", name));
  if (!by_name.empty()) return by_name.front();
  if (!is_hex(ref)) return no_such(ref);
  BERTH_ASSIGN(auto by_prefix, query(e, "WHERE substr(id, 1, " + std::to_string(ref.size()) + ") = ?", ref));
  if (by_prefix.size() > 1) {
    return make_error(Code::Conflict, "multiple IDs found with provided prefix: " + ref);
  }
  if (by_prefix.empty()) return no_such(ref);
  return by_prefix.front();
}

Result<std::vector<Container>> list_all(Engine& e) {
  return query(e, "ORDER BY created_ns DESC, rowid DESC", "");
}

Result<std::vector<Summary>> list_summaries(Engine& e) {
  // The row of query(), with spec and runtime left out (empty objects), and the fields
  // ps shows picked from the spec after it.
  std::string columns = kColumns;
  columns.replace(columns.find("spec, runtime"), 13, "'{}', '{}'");
  BERTH_ASSIGN(auto st, e.db().prepare(
      "SELECT " + columns + ", json_extract(spec, '$.Config.Image'), json_extract(spec, '$.Path'), "
      "json_extract(spec, '$.Args'), json_extract(spec, '$.Config.Labels'), json_extract(spec, '$.Mounts'), "
      "json_extract(spec, '$.Network.Name'), json_extract(spec, '$.Config.ExposedPorts'), "
      "(SELECT json_group_array(json_extract(p.spec, '$.Ports')) FROM endpoints p WHERE p.container_id = containers.id "
      "AND json_extract(p.spec, '$.Ports') IS NOT NULL) FROM containers ORDER BY created_ns DESC, rowid DESC"));
  constexpr int kExtra = 20;  // the first column after kColumns
  std::vector<Summary> out;
  for (;;) {
    BERTH_ASSIGN(bool row, st.step());
    if (!row) break;
    Summary s;
    s.c = from_row(st);
    s.image = st.text(kExtra);
    s.command = st.text(kExtra + 1);
    std::string args = st.text(kExtra + 2);
    if (args.size() > 2) {
      for (const auto& a : json_strings(json::parse(args, nullptr, false))) s.command += " " + a;
    }
    s.labels_json = st.text(kExtra + 3);
    s.mounts_json = st.text(kExtra + 4);
    s.network = st.text(kExtra + 5);
    s.exposed_json = st.text(kExtra + 6);
    s.published_json = st.text(kExtra + 7);
    out.push_back(std::move(s));
  }
  return out;
}

// A run nobody owns any more (its monitor died, or the command starting it did): kill what
// is left in its cgroups and record how it ended. False when another process got there first.
Result<bool> end_orphaned_run(Engine& e, const Container& c) {
  bool was_running = c.monitored();
  BERTH_ASSIGN(bool mine, claim(e, c.id, c.state, c.owner_pid, "starting"));
  if (!mine) return false;
  release_cgroups(c.runtime, c.id);
  (void)network::release(e, c.id);
  volumes::unmount_all(e, c.id, volumes::uses_of(c.spec));
  BERTH_ASSIGN(auto st, e.db().prepare(
      "UPDATE containers SET state = ?, exit_code = ?, finished_ns = ?, error = ?, pid = 0, "
      "monitor_pid = 0, monitor_start = 0, owner_pid = 0, owner_start = 0, runtime = '{}', paused = 0 WHERE id = ?"));
  if (was_running) {
    st.bind(1, std::string("exited")).bind(2, int64_t{255}).bind(3, util::now_ns());
    st.bind(4, std::string("the container monitor exited unexpectedly"));
  } else {
    st.bind(1, std::string(c.started_ns == 0 ? "created" : "exited")).bind(2, int64_t{c.exit_code});
    st.bind(3, c.finished_ns).bind(4, std::string("start was interrupted"));
  }
  st.bind(5, c.id);
  BERTH_TRY(st.run());
  return true;
}

Status reconcile(Engine& e) {
  BERTH_ASSIGN(auto rows, query(e, "WHERE state IN ('creating', 'starting', 'removing', 'running', 'restarting')", ""));
  for (const auto& c : rows) {
    // A running (or restarting) container belongs to its monitor; the other states to their owner.
    bool running = c.monitored();
    if (running ? util::process_alive(c.monitor_pid, c.monitor_start)
                : util::process_alive(c.owner_pid, c.owner_start)) {
      continue;
    }
    if (running || c.state == "starting") {
      BERTH_ASSIGN(bool ended, end_orphaned_run(e, c));
      if (ended && running && c.spec.value("HostConfig", json::object()).value("AutoRemove", false)) {
        BERTH_ASSIGN(bool again, claim(e, c.id, "exited", std::nullopt, "removing"));
        if (again) BERTH_TRY(destroy(e, c.id));
      }
      continue;
    }
    // "creating" or "removing" whose owner died: finish the removal.
    BERTH_ASSIGN(bool mine, claim(e, c.id, c.state, c.owner_pid, "removing"));
    if (mine) BERTH_TRY(destroy(e, c.id));
    // (A process killed while making its snapshot leaves an unreferenced directory.)
    e.note_trash();
  }
  if (e.trash_pending()) return sweep(e);
  return {};
}

namespace {

constexpr std::pair<const char*, int> kUlimits[] = {
    {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},       {"data", RLIMIT_DATA},
    {"fsize", RLIMIT_FSIZE},       {"locks", RLIMIT_LOCKS},   {"memlock", RLIMIT_MEMLOCK},
    {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},     {"nofile", RLIMIT_NOFILE},
    {"nproc", RLIMIT_NPROC},       {"rss", RLIMIT_RSS},       {"rtprio", RLIMIT_RTPRIO},
    {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING}, {"stack", RLIMIT_STACK},
    {"as", RLIMIT_AS}};

int ulimit_resource(const std::string& name) {
  for (const auto& [n, r] : kUlimits) {
    if (name == n) return r;
  }
  return -1;
}

// --ulimit name=soft[:hard] as Docker takes it, checked against what this process may set:
// without CAP_SYS_RESOURCE no hard limit can go above the current one.
Result<json> parse_ulimits(const std::vector<std::string>& specs) {
  json out = json::array();
  for (const auto& spec : specs) {
    auto eq = spec.find('=');
    if (eq == std::string::npos) return make_error(Code::InvalidArgument, "invalid ulimit argument: " + spec);
    std::string name = spec.substr(0, eq);
    int resource = ulimit_resource(name);
    if (resource < 0) return make_error(Code::InvalidArgument, "invalid ulimit type: " + name);
    auto values = util::split(spec.substr(eq + 1), ':');
    auto number = [&](const std::string& v) -> Result<int64_t> {
      if (v == "-1" || v == "unlimited") return int64_t{-1};
      if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) {
        return make_error(Code::InvalidArgument, "invalid ulimit argument: " + spec);
      }
      return static_cast<int64_t>(std::stoll(v));
    };
    if (values.empty() || values.size() > 2) return make_error(Code::InvalidArgument, "too many limit value arguments - " + spec);
    BERTH_ASSIGN(int64_t soft, number(values[0]));
    int64_t hard = soft;
    if (values.size() == 2) {
      BERTH_ASSIGN(hard, number(values[1]));
    }
    auto as_rlim = [](int64_t v) { return v < 0 ? RLIM_INFINITY : static_cast<rlim_t>(v); };
    if (as_rlim(soft) > as_rlim(hard)) {
      return make_error(Code::InvalidArgument, "ulimit soft limit must be less than or equal to hard limit: " +
                                                   values[0] + " > " + (values.size() == 2 ? values[1] : values[0]));
    }
    struct rlimit cur {};
    ::getrlimit(resource, &cur);
    if (as_rlim(hard) > cur.rlim_max) {
      std::string limit = cur.rlim_max == RLIM_INFINITY ? "unlimited" : std::to_string(cur.rlim_max);
      return make_error(Code::InvalidArgument, "ulimit " + name + ": hard limit " + std::to_string(hard) +
                                                   " is above this host's " + limit +
                                                   ", which berth cannot raise (no CAP_SYS_RESOURCE)");
    }
    out.push_back({{"Name", name}, {"Hard", hard}, {"Soft", soft}});
  }
  return out;
}

// Docker's checks of the resource flags, before anything is made.
Status validate_resources(const runtime::Resources& r) {
  if (r.memory != 0 && r.memory < 6 * 1024 * 1024) {
    return make_error(Code::InvalidArgument, "Minimum memory limit allowed is 6MB");
  }
  if (r.memory_swap != 0 && r.memory_swap != -1) {
    if (r.memory == 0) {
      return make_error(Code::InvalidArgument,
                        "You should always set the Memory limit when using Memoryswap limit, see usage");
    }
    if (r.memory_swap < r.memory) {
      return make_error(Code::InvalidArgument, "Minimum memoryswap limit should be larger than memory limit, see usage");
    }
  }
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  if (r.nano_cpus < 0 || (r.nano_cpus > 0 && (r.nano_cpus < 10000000 || r.nano_cpus > cpus * 1000000000LL))) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "Range of CPUs is from 0.01 to %ld.00, as there are only %ld CPUs available", cpus,
                  cpus);
    return make_error(Code::InvalidArgument, buf);
  }
  if (r.cpu_shares < 0) return make_error(Code::InvalidArgument, "invalid CPU shares: " + std::to_string(r.cpu_shares));
  if (!r.cpuset_cpus.empty()) {
    for (const auto& part : util::split(r.cpuset_cpus, ',')) {
      auto dash = part.find('-');
      std::string lo = part.substr(0, dash);
      std::string hi = dash == std::string::npos ? lo : part.substr(dash + 1);
      bool numbers = !lo.empty() && !hi.empty() && lo.find_first_not_of("0123456789") == std::string::npos &&
                     hi.find_first_not_of("0123456789") == std::string::npos;
      if (!numbers) return make_error(Code::InvalidArgument, "Invalid value " + r.cpuset_cpus + " for cpuset cpus");
      if (std::stol(hi) >= cpus || std::stol(lo) > std::stol(hi)) {
        return make_error(Code::InvalidArgument, "Requested CPUs are not available - requested " + r.cpuset_cpus +
                                                     ", available: 0-" + std::to_string(cpus - 1));
      }
    }
  }
  return {};
}

}  // namespace

bool RestartPolicy::restarts_after(int exit_code, int restarts_so_far) const {
  if (name == "always" || name == "unless-stopped") return true;
  if (name == "on-failure") return exit_code != 0 && (max_retries <= 0 || restarts_so_far < max_retries);
  return false;
}

bool RestartPolicy::starts_at_boot(bool manually_stopped) const {
  return name == "always" || (name == "unless-stopped" && !manually_stopped);
}

Result<RestartPolicy> parse_restart_policy(const std::string& spec) {
  RestartPolicy p;
  auto colon = spec.find(':');
  p.name = spec.substr(0, colon);
  if (p.name.empty()) p.name = "no";
  if (p.name != "no" && p.name != "always" && p.name != "unless-stopped" && p.name != "on-failure") {
    return make_error(Code::InvalidArgument, "invalid restart policy: unknown policy '" + p.name +
                                                 "'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'");
  }
  if (colon != std::string::npos) {
    std::string n = spec.substr(colon + 1);
    if (p.name != "on-failure") {
      return make_error(Code::InvalidArgument, "invalid restart policy: maximum retry count can only be used with 'on-failure'");
    }
    if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos) {
      return make_error(Code::InvalidArgument, "invalid restart policy: invalid maximum retry count: " + n);
    }
    p.max_retries = std::atoi(n.c_str());
  }
  return p;
}

RestartPolicy restart_policy_of(const json& hc) {
  RestartPolicy p;
  json rp = hc.value("RestartPolicy", json::object());
  p.name = rp.value("Name", std::string("no"));
  if (p.name.empty()) p.name = "no";
  p.max_retries = rp.value("MaximumRetryCount", 0);
  return p;
}

Status mark_manually_stopped(Engine& e, const std::string& id) {
  BERTH_ASSIGN(auto st, e.db().prepare("UPDATE containers SET manually_stopped = 1 WHERE id = ?"));
  st.bind(1, id);
  return st.run();
}

Result<std::vector<std::string>> start_at_boot(Engine& e) {
  BERTH_TRY(reconcile(e));
  BERTH_ASSIGN(auto all, list_all(e));
  std::vector<std::string> started;
  // Oldest first, as they were made.
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    const Container& c = *it;
    if (c.state != "exited" && c.state != "created") continue;
    auto policy = restart_policy_of(c.spec.value("HostConfig", json::object()));
    if (!policy.starts_at_boot(c.manually_stopped)) continue;
    BERTH_ASSIGN(auto r, start(e, c, false));
    if (r.started) started.push_back(c.id);
  }
  return started;
}

namespace {

Result<std::vector<std::string>> resolve_capabilities(const std::vector<std::string>& add, const std::vector<std::string>& drop) {
  auto norm = [](std::string n) -> Result<std::string> {
    n = util::to_upper(n);
    if (util::starts_with(n, "CAP_")) n = n.substr(4);
    if (n != "ALL" && runtime::capability_number(n) < 0) {
      return make_error(Code::InvalidArgument, "unknown capability: \"CAP_" + n + "\"");
    }
    return n;
  };
  std::vector<std::string> caps = runtime::default_capabilities();
  std::vector<std::string> dropped;
  for (const auto& d : drop) {
    BERTH_ASSIGN(std::string n, norm(d));
    dropped.push_back(n);
  }
  if (std::find(dropped.begin(), dropped.end(), "ALL") != dropped.end()) caps.clear();
  caps.erase(std::remove_if(caps.begin(), caps.end(),
                            [&](const std::string& c) { return std::find(dropped.begin(), dropped.end(), c) != dropped.end(); }),
             caps.end());
  for (const auto& a : add) {
    BERTH_ASSIGN(std::string n, norm(a));
    if (n == "ALL") return std::vector<std::string>{"ALL"};
    if (std::find(caps.begin(), caps.end(), n) == caps.end()) caps.push_back(n);
  }
  return caps;
}

// Docker allows only the sysctls of namespaces the container has its own of.
Status validate_sysctl(const std::string& kv, bool host_network) {
  auto eq = kv.find('=');
  if (eq == std::string::npos) return make_error(Code::InvalidArgument, "invalid sysctl format: " + kv + " (expected KEY=VALUE)");
  std::string key = kv.substr(0, eq);
  static const char* kIpc[] = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                               "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"};
  for (const char* k : kIpc) {
    if (key == k) return {};
  }
  if (util::starts_with(key, "fs.mqueue.")) return {};
  if (util::starts_with(key, "net.")) {
    if (host_network) return make_error(Code::InvalidArgument, "sysctl '" + key + "' not allowed in host network namespace");
    return {};
  }
  return make_error(Code::InvalidArgument, "sysctl '" + key + "' is not allowed");
}

// Docker's json-file options (those it reads; the rest are refused, as Docker does).
Result<json> parse_log_config(const std::string& driver, const std::vector<std::string>& opts) {
  if (driver != "json-file" && driver != "none") {
    return make_error(Code::InvalidArgument, "logger: no log driver named '" + driver + "' is registered");
  }
  json config = json::object();
  for (const auto& o : opts) {
    auto eq = o.find('=');
    if (eq == std::string::npos) return make_error(Code::InvalidArgument, "invalid key value pair format in logging opts: " + o);
    std::string k = o.substr(0, eq), v = o.substr(eq + 1);
    if (driver == "none" || (k != "max-size" && k != "max-file")) {
      return make_error(Code::InvalidArgument, "unknown log opt '" + k + "' for " + driver + " log driver");
    }
    if (k == "max-size" && util::parse_ram_bytes(v) <= 0) {
      return make_error(Code::InvalidArgument, "invalid max-size: " + v);
    }
    if (k == "max-file" && (v.empty() || v.find_first_not_of("0123456789") != std::string::npos || std::atoi(v.c_str()) < 1)) {
      return make_error(Code::InvalidArgument, "max-file cannot be less than 1");
    }
    config[k] = v;
  }
  if (config.contains("max-file") && std::atoi(config["max-file"].get<std::string>().c_str()) > 1 &&
      !config.contains("max-size")) {
    return make_error(Code::InvalidArgument, "max-file cannot be set without max-size");
  }
  return json{{"Type", driver}, {"Config", config}};
}

}  // namespace

std::vector<int> capabilities_of(const json& hc) {
  // BerthCapabilities holds the set create() resolved from the defaults, CapAdd and CapDrop.
  std::vector<int> out;
  for (const auto& name : json_strings(hc.value("BerthCapabilities", json::array()))) {
    if (name == "ALL") {
      for (int i = 0; i <= 63; ++i) out.push_back(i);
      return out;
    }
    int n = runtime::capability_number(name);
    if (n >= 0) out.push_back(n);
  }
  return out;
}

void apply_security(const json& hc, runtime::SpawnConfig* sc) {
  sc->capabilities = capabilities_of(hc);
  sc->privileged = hc.value("Privileged", false);
  sc->readonly_rootfs = hc.value("ReadonlyRootfs", false);
  int64_t shm = hc.value("ShmSize", int64_t{0});
  if (shm > 0) sc->shm_size = shm;
  json sysctls = hc.value("Sysctls", json::object());
  if (sysctls.is_object()) {
    for (auto it = sysctls.begin(); it != sysctls.end(); ++it) sc->sysctls.emplace_back(it.key(), it->get<std::string>());
  }
  json devices = hc.value("Devices", json::array());
  if (devices.is_array()) {
    for (const auto& d : devices) sc->devices.push_back({d.value("PathOnHost", ""), d.value("PathInContainer", "")});
  }
  sc->init = hc.contains("Init") && hc["Init"].is_boolean() && hc["Init"].get<bool>();
}

int stop_signal_of(const Container& c) {
  json v = c.spec.value("Config", json::object()).value("StopSignal", json(nullptr));
  std::string s = v.is_string() ? v.get<std::string>() : "";
  if (s.empty()) return SIGTERM;
  if (s.find_first_not_of("0123456789") == std::string::npos) return std::atoi(s.c_str());
  std::string n = util::to_upper(s);
  if (util::starts_with(n, "SIG")) n = n.substr(3);
  static const std::pair<const char*, int> kNames[] = {{"TERM", SIGTERM}, {"INT", SIGINT}, {"QUIT", SIGQUIT},
                                                       {"HUP", SIGHUP},   {"KILL", SIGKILL}, {"USR1", SIGUSR1},
                                                       {"USR2", SIGUSR2}, {"WINCH", SIGWINCH}, {"PWR", SIGPWR}};
  for (const auto& [name, v] : kNames) {
    if (n == name) return v;
  }
  return SIGTERM;
}

int stop_timeout_of(const Container& c) {
  json t = c.spec.value("Config", json::object()).value("StopTimeout", json(nullptr));
  return t.is_number_integer() ? t.get<int>() : 10;
}

bool logs_to_file(const json& hc) { return hc.value("LogConfig", json::object()).value("Type", "json-file") != "none"; }

monitor::LogRotation log_rotation_of(const json& hc) {
  monitor::LogRotation r;
  json cfg = hc.value("LogConfig", json::object()).value("Config", json::object());
  if (cfg.contains("max-size")) r.max_size = util::parse_ram_bytes(cfg["max-size"].get<std::string>());
  if (cfg.contains("max-file")) r.max_file = std::max(1, std::atoi(cfg["max-file"].get<std::string>().c_str()));
  return r;
}

runtime::Resources resources_of(const json& hc) {
  runtime::Resources r;
  auto num = [&](const char* k) { return hc.contains(k) && hc[k].is_number() ? hc[k].get<int64_t>() : int64_t{0}; };
  r.memory = num("Memory");
  r.memory_swap = num("MemorySwap");
  r.nano_cpus = num("NanoCpus");
  r.cpu_shares = num("CpuShares");
  r.pids_limit = num("PidsLimit");
  r.cpuset_cpus = hc.value("CpusetCpus", std::string());
  r.all_devices = hc.value("Privileged", false);
  json devices = hc.value("Devices", json::array());
  if (devices.is_array()) {
    for (const auto& d : devices) {
      struct stat st {};
      std::string host = d.value("PathOnHost", "");
      if (::stat(host.c_str(), &st) != 0) continue;
      std::string perms = d.value("CgroupPermissions", "rwm");
      r.device_rules.push_back(std::string(S_ISBLK(st.st_mode) ? "b " : "c ") + std::to_string(major(st.st_rdev)) +
                               ":" + std::to_string(minor(st.st_rdev)) + " " + perms);
    }
  }
  return r;
}

std::vector<runtime::Rlimit> rlimits_of(const json& hc) {
  std::vector<runtime::Rlimit> out;
  if (!hc.contains("Ulimits") || !hc["Ulimits"].is_array()) return out;
  for (const auto& u : hc["Ulimits"]) {
    int resource = ulimit_resource(u.value("Name", ""));
    if (resource < 0) continue;
    auto lim = [&](const char* k) {
      int64_t v = u.value(k, int64_t{-1});
      return v < 0 ? static_cast<uint64_t>(RLIM_INFINITY) : static_cast<uint64_t>(v);
    };
    out.push_back({resource, lim("Soft"), lim("Hard")});
  }
  return out;
}

Result<Container> create(Engine& e, const CreateRequest& req, bool then_start, std::vector<std::string>* warnings) {
  if (warnings) warnings->clear();
  auto image = e.images().resolve(req.image);
  if (!image) {
    if (image.error().code == Code::NotFound) {
      auto ref = images::parse_reference(req.image);
      std::string shown = ref ? ref->familiar() : req.image;
      return make_error(Code::NotFound, kNoSuchImage + shown);
    }
    return std::move(image).error();
  }
  util::timing_mark("create: image resolved");
  BERTH_ASSIGN(json image_config, e.images().config(*image));
  json icfg = image_config.value("config", json::object());
  if (icfg.is_null()) icfg = json::object();

  std::vector<std::string> entrypoint =
      req.entrypoint_set ? req.entrypoint : json_strings(icfg.value("Entrypoint", json::array()));
  std::vector<std::string> cmd = req.command;
  if (cmd.empty() && !req.entrypoint_set) cmd = json_strings(icfg.value("Cmd", json::array()));
  std::vector<std::string> argv = entrypoint;
  argv.insert(argv.end(), cmd.begin(), cmd.end());
  if (argv.empty()) return make_error(Code::InvalidArgument, "No command specified");

  if (!req.name.empty() && !valid_name(req.name)) {
    return make_error(Code::InvalidArgument, "Invalid container name (" + req.name +
                                                 "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
  }
  std::vector<MountSpec> binds;
  // --volumes-from CTR[:ro|:rw]: the other container's volumes and binds at the same paths.
  // Each becomes a -v of this container, so volumes gain a user and binds a source.
  std::vector<std::string> inherited;
  for (const auto& from : req.volumes_from) {
    auto colon = from.rfind(':');
    std::string ref = from, mode;
    if (colon != std::string::npos && (from.substr(colon + 1) == "ro" || from.substr(colon + 1) == "rw")) {
      ref = from.substr(0, colon);
      mode = from.substr(colon + 1);
    }
    auto other = find(e, ref);
    if (!other) return make_error(Code::NotFound, "No such container: " + ref);
    for (const auto& m : other->spec.value("Mounts", json::array())) {
      std::string type = m.value("Type", "");
      std::string src = type == "volume" ? m.value("Name", "") : m.value("Source", "");
      if (src.empty()) continue;
      bool rw = mode.empty() ? m.value("RW", true) : mode == "rw";
      std::vector<std::string> opts;
      if (!rw) opts.push_back("ro");
      std::string prop = m.value("Propagation", "");
      if (type == "bind" && !prop.empty() && prop != "rprivate") opts.push_back(prop);
      inherited.push_back(src + ":" + m.value("Destination", "") + (opts.empty() ? "" : ":" + util::join(opts, ",")));
    }
  }
  std::vector<std::string> mount_specs = req.volumes;
  // Own -v entries win over inherited ones at the same path, as with Docker.
  for (const auto& spec : inherited) {
    std::string dst = util::split(spec, ':').size() > 1 ? util::split(spec, ':')[1] : "";
    bool own = std::any_of(req.volumes.begin(), req.volumes.end(), [&](const std::string& v) {
      auto parts = util::split(v, ':');
      return (parts.size() > 1 ? parts[1] : parts[0]) == dst;
    });
    if (!own) mount_specs.push_back(spec);
  }
  const size_t dash_v = mount_specs.size();
  mount_specs.insert(mount_specs.end(), req.mounts.begin(), req.mounts.end());
  for (size_t i = 0; i < mount_specs.size(); ++i) {
    const std::string& v = mount_specs[i];
    BERTH_ASSIGN(auto b, i < dash_v ? parse_bind(v) : parse_mount(v));
    for (const auto& other : binds) {
      if (other.destination == b.destination) {
        return make_error(Code::InvalidArgument, "Duplicate mount point: " + b.destination);
      }
    }
    BERTH_TRY(volumes::check_propagation(b));
    binds.push_back(b);
  }
  BERTH_ASSIGN(NetworkChoice net, choose_network(e, req.network));
  json attached = json::array();
  if (net.choice.needs_endpoint) {
    const bool user_defined = !net.choice.network.predefined;
    if (!req.ip.empty()) {
      if (!user_defined) {
        return make_error(Code::InvalidArgument, "user specified IP address is supported on user defined networks only");
      }
      BERTH_TRY(network::parse_ip(req.ip).status());
    }
    if (!req.network_aliases.empty() && !user_defined) {
      return make_error(Code::InvalidArgument, "network-scoped alias is supported only for containers in user defined networks");
    }
    attached.push_back({{"Name", net.choice.network.name},
                        {"NetworkID", net.choice.network.id},
                        {"Aliases", req.network_aliases},
                        {"IPv4Address", req.ip}});
  } else if (!net.container.empty() && (!req.publish.empty() || req.publish_all)) {
    return make_error(Code::InvalidArgument, "conflicting options: port publishing and the container type network mode");
  } else if (!req.ip.empty() || !req.network_aliases.empty()) {
    return make_error(Code::InvalidArgument, std::string(req.ip.empty() ? "network-scoped aliases" : "user specified IP address") +
                                                 " cannot be used with network " + net.name);
  }
  // Ports: the image's EXPOSE, --expose, and what -p publishes; -P publishes every one.
  json exposed = icfg.value("ExposedPorts", json::object());
  if (!exposed.is_object()) exposed = json::object();
  for (const auto& x : req.expose) {
    BERTH_ASSIGN(auto keys, network::parse_expose(x));
    for (const auto& k : keys) exposed[k] = json::object();
  }
  std::vector<sdk::PortMapping> published;
  for (const auto& p : req.publish) {
    BERTH_ASSIGN(auto ms, network::parse_publish(p));
    for (const auto& m : ms) {
      exposed[network::port_key(m)] = json::object();
      published.push_back(m);
    }
  }
  if (req.publish_all) {
    for (auto it = exposed.begin(); it != exposed.end(); ++it) {
      bool bound = std::any_of(published.begin(), published.end(),
                               [&](const sdk::PortMapping& m) { return network::port_key(m) == it.key(); });
      if (bound) continue;
      sdk::PortMapping m;
      m.container_port = static_cast<uint16_t>(std::atoi(it.key().c_str()));
      m.protocol = it.key().substr(it.key().find('/') + 1);
      published.push_back(m);
    }
  }
  // Without a namespace of its own (host) or a network (none) there is nothing to publish
  // to; Docker drops them (the CLI warns for host).
  if (!net.choice.needs_endpoint) published.clear();
  json extra_hosts = json::array();
  for (const auto& h : req.add_hosts) {
    auto sep = h.find(':');
    if (sep == std::string::npos) sep = h.find('=');
    std::string host = sep == std::string::npos ? "" : h.substr(0, sep);
    std::string ip = sep == std::string::npos ? "" : h.substr(sep + 1);
    unsigned char buf[16];
    if (host.empty() || (::inet_pton(AF_INET, ip.c_str(), buf) != 1 && ::inet_pton(AF_INET6, ip.c_str(), buf) != 1)) {
      return make_error(Code::InvalidArgument, "invalid argument \"" + h + "\" for \"--add-host\" flag: expected HOST:IP");
    }
    extra_hosts.push_back(host + ":" + ip);
  }
  json links = json::array(), link_strings = json::array();
  for (const auto& l : req.links) {
    auto sep = l.find(':');
    std::string target = l.substr(0, sep);
    std::string alias = sep == std::string::npos ? target : l.substr(sep + 1);
    auto other = find(e, target);
    if (!other) {
      return make_error(Code::NotFound, "could not get container for " + target + ": No such container: " + target);
    }
    if (!net.container.empty() || net.host_namespace) {
      return make_error(Code::InvalidArgument, "conflicting options: --link and the " + net.name + " network mode");
    }
    links.push_back({{"Id", other->id}, {"Name", other->name}, {"Alias", alias}});
    link_strings.push_back(other->name + ":" + alias);  // Docker's "/db:/web/db" once the name is known
  }
  BERTH_TRY(validate_resources(req.resources));
  runtime::Resources limits = req.resources;
  BERTH_ASSIGN(auto dropped, runtime::discard_unenforceable(limits));
  if (warnings) *warnings = std::move(dropped);
  BERTH_ASSIGN(RestartPolicy restart, parse_restart_policy(req.restart));
  BERTH_ASSIGN(json log_config, parse_log_config(req.log_driver, req.log_opts));
  BERTH_ASSIGN(auto caps, resolve_capabilities(req.cap_add, req.cap_drop));
  json sysctls = json::object();
  for (const auto& kv : req.sysctls) {
    BERTH_TRY(validate_sysctl(kv, net.host_namespace));
    sysctls[kv.substr(0, kv.find('='))] = kv.substr(kv.find('=') + 1);
  }
  json devices = json::array();
  for (const auto& d : req.devices) {
    auto parts = util::split(d, ':');
    std::string host = parts[0];
    std::string inside = parts.size() > 1 ? parts[1] : host;
    std::string perms = parts.size() > 2 ? parts[2] : "rwm";
    struct stat st {};
    if (host.empty() || host[0] != '/' || ::stat(host.c_str(), &st) != 0) {
      return make_error(Code::InvalidArgument, "error gathering device information while adding custom device \"" + host +
                                                   "\": no such file or directory");
    }
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) {
      return make_error(Code::InvalidArgument, "error gathering device information while adding custom device \"" + host +
                                                   "\": not a device node");
    }
    if (inside.empty() || inside[0] != '/') return make_error(Code::InvalidArgument, "bad format for path: " + inside);
    devices.push_back({{"PathOnHost", host}, {"PathInContainer", inside}, {"CgroupPermissions", perms}});
  }
  if (!req.stop_signal.empty()) {
    std::string n = util::to_upper(req.stop_signal);
    if (util::starts_with(n, "SIG")) n = n.substr(3);
    bool numeric = n.find_first_not_of("0123456789") == std::string::npos;
    static const char* kKnown[] = {"TERM", "INT", "QUIT", "HUP", "KILL", "USR1", "USR2", "WINCH", "PWR"};
    if (!numeric && std::find_if(std::begin(kKnown), std::end(kKnown), [&](const char* k) { return n == k; }) == std::end(kKnown)) {
      return make_error(Code::InvalidArgument, "Invalid signal: " + req.stop_signal);
    }
  }
  if (restart.name != "no" && req.auto_remove) {
    return make_error(Code::InvalidArgument, "Conflicting options: --restart and --rm");
  }
  BERTH_ASSIGN(json ulimits, parse_ulimits(req.ulimits));

  std::string id = util::random_hex(32);
  std::string hostname = !req.hostname.empty() ? req.hostname
                         : net.host_namespace  ? host_name()
                                               : id.substr(0, 12);
  std::vector<std::string> env = merge_env(json_strings(icfg.value("Env", json::array())), req.env);
  std::string workdir = !req.workdir.empty() ? req.workdir : icfg.value("WorkingDir", std::string());
  std::string user = !req.user.empty() ? req.user : icfg.value("User", std::string());
  json labels = icfg.value("Labels", json::object());
  if (labels.is_null()) labels = json::object();
  for (const auto& [k, v] : req.labels) labels[k] = v;

  // --tmpfs PATH[:size=,mode=,ro,exec,...]: HostConfig.Tmpfs, as Docker keeps it.
  json tmpfs = json::object();
  for (const auto& b : binds) {
    if (b.is_tmpfs) tmpfs[b.destination] = b.tmpfs;
  }
  binds.erase(std::remove_if(binds.begin(), binds.end(), [](const MountSpec& b) { return b.is_tmpfs; }), binds.end());
  for (const auto& t : req.tmpfs) {
    auto colon = t.find(':');
    std::string dst = t.substr(0, colon), opts = colon == std::string::npos ? "" : t.substr(colon + 1);
    if (dst.empty() || dst[0] != '/') {
      return make_error(Code::InvalidArgument, "invalid mount path: '" + dst + "' mount path must be absolute");
    }
    dst = clean_path(dst);
    for (const auto& o : util::split(opts, ',')) {
      static const std::set<std::string> kFlags = {"ro", "rw", "exec", "noexec", "suid", "nosuid", "dev", "nodev"};
      std::string key = o.substr(0, o.find('='));
      if (o.empty() || kFlags.count(o)) continue;
      if ((key != "size" && key != "mode" && key != "nr_inodes") || o.find('=') == std::string::npos) {
        return make_error(Code::InvalidArgument, "invalid tmpfs option \"" + o + "\" in --tmpfs " + t);
      }
    }
    bool taken = tmpfs.contains(dst) || std::any_of(binds.begin(), binds.end(), [&](const MountSpec& b) { return b.destination == dst; });
    if (taken) return make_error(Code::InvalidArgument, "Duplicate mount point: " + dst);
    tmpfs[dst] = opts;
  }
  // The image's VOLUME paths that no -v covers get anonymous volumes too.
  json image_volumes = icfg.value("Volumes", json::object());
  if (image_volumes.is_object()) {
    for (auto it = image_volumes.begin(); it != image_volumes.end(); ++it) {
      std::string dst = clean_path(it.key());
      bool covered = tmpfs.contains(dst) ||
                     std::any_of(binds.begin(), binds.end(), [&](const MountSpec& b) { return b.destination == dst; });
      if (covered || dst == "/") continue;
      MountSpec b;
      b.volume = true;
      b.destination = dst;
      binds.push_back(b);
    }
  }
  // Anonymous volumes made here go again if the container is not made.
  std::vector<std::string> anonymous;
  sdk::ScopeGuard drop_anonymous([&] {
    for (const auto& n : anonymous) (void)volumes::remove(e, n);
  });
  json mounts = json::array();
  json bind_strings = json::array();
  for (const auto& b : binds) {
    if (!b.source.empty()) bind_strings.push_back(b.source + ":" + b.destination + (b.mode.empty() ? "" : ":" + b.mode));
    if (b.volume) {
      // Made now if it does not exist (Docker's -v), with the host's default driver; an
      // anonymous one gets a random name and Docker's label saying so.
      sdk::Labels labels;
      if (b.source.empty()) labels[volumes::kAnonymousLabel] = "";
      BERTH_ASSIGN(auto v, volumes::create(e, b.source, b.driver, b.volume_options, labels));
      if (b.source.empty()) anonymous.push_back(v.name);
      mounts.push_back({{"Type", "volume"},
                        {"Name", v.name},
                        {"Source", v.mountpoint},
                        {"Destination", b.destination},
                        {"Driver", v.driver},
                        {"Mode", b.mode.empty() ? "z" : b.mode},
                        {"RW", b.rw},
                        {"Propagation", ""}});
      if (b.nocopy) mounts.back()["NoCopy"] = true;
      continue;
    }
    mounts.push_back({{"Type", "bind"},
                      {"Source", b.source},
                      {"Destination", b.destination},
                      {"Mode", b.mode},
                      {"RW", b.rw},
                      {"Propagation", b.propagation.empty() ? "rprivate" : b.propagation}});
  }
  json spec = {
      {"Path", argv.front()},
      {"Args", std::vector<std::string>(argv.begin() + 1, argv.end())},
      {"Config",
       {{"Hostname", hostname},
        {"Domainname", ""},
        {"User", user},
        {"AttachStdin", req.interactive},
        {"Tty", req.tty},
        {"OpenStdin", req.interactive},
        {"StdinOnce", false},
        {"Env", env},
        {"Cmd", cmd.empty() ? json(nullptr) : json(cmd)},
        {"Image", req.image},
        {"WorkingDir", workdir},
        {"Entrypoint", entrypoint.empty() ? json(nullptr) : json(entrypoint)},
        {"Labels", labels},
        {"ExposedPorts", exposed.empty() ? json(nullptr) : exposed},
        {"StopSignal", req.stop_signal.empty() ? json(nullptr) : json(req.stop_signal)},
        {"StopTimeout", req.stop_timeout >= 0 ? json(req.stop_timeout) : json(nullptr)}}},
      {"HostConfig",
       {{"Binds", binds.empty() ? json(nullptr) : bind_strings},
        {"NetworkMode", net.name},
        {"PortBindings", network::port_bindings_json(published)},
        {"ExtraHosts", extra_hosts.empty() ? json(nullptr) : extra_hosts},
        {"Tmpfs", tmpfs.empty() ? json(nullptr) : tmpfs},
        {"VolumesFrom", req.volumes_from.empty() ? json(nullptr) : json(req.volumes_from)},
        {"Links", link_strings.empty() ? json(nullptr) : link_strings},
        {"BerthLinks", links},
        {"AutoRemove", req.auto_remove},
        {"LogConfig", log_config},
        {"Memory", limits.memory},
        {"MemorySwap", limits.memory_swap},
        {"NanoCpus", limits.nano_cpus},
        {"CpuShares", limits.cpu_shares},
        {"CpusetCpus", limits.cpuset_cpus},
        {"PidsLimit", limits.pids_limit > 0 ? json(limits.pids_limit) : json(nullptr)},
        {"Ulimits", ulimits.empty() ? json(nullptr) : ulimits},
        {"CapAdd", req.cap_add.empty() ? json(nullptr) : json(req.cap_add)},
        {"CapDrop", req.cap_drop.empty() ? json(nullptr) : json(req.cap_drop)},
        {"BerthCapabilities", caps},
        {"Privileged", req.privileged},
        {"ReadonlyRootfs", req.read_only},
        {"ShmSize", req.shm_size > 0 ? req.shm_size : int64_t{64 * 1024 * 1024}},
        {"Sysctls", sysctls.empty() ? json(nullptr) : sysctls},
        {"Devices", devices},
        {"Init", req.init ? json(true) : json(nullptr)},
        {"RestartPolicy", {{"Name", restart.name}, {"MaximumRetryCount", restart.max_retries}}}}},
      {"Mounts", mounts},
      {"Network", {{"Name", net.name}, {"Driver", net.driver}, {"HostNamespace", net.host_namespace}, {"Networks", attached},
                   {"Container", net.container}}},
  };

  // Record the intent first: a process killed from here on leaves a "creating" row owned by
  // a dead pid, which reconcile() removes with everything made for it.
  std::string name = req.name;
  pid_t me = ::getpid();
  for (int attempt = 0;; ++attempt) {
    if (req.name.empty()) name = generate_name(attempt);
    if (!link_strings.empty()) {
      json shown = json::array();
      for (const auto& l : link_strings) {
        std::string s = l.get<std::string>();
        shown.push_back("/" + s.substr(0, s.find(':')) + ":/" + name + "/" + s.substr(s.find(':') + 1));
      }
      spec["HostConfig"]["Links"] = shown;
    }
    BERTH_ASSIGN(auto ins, e.db().prepare(
        "INSERT INTO containers(id, name, image_id, created_ns, state, owner_pid, owner_start, spec) "
        "VALUES (?, ?, ?, ?, 'creating', ?, ?, ?)"));
    ins.bind(1, id).bind(2, name).bind(3, image->id).bind(4, util::now_ns());
    ins.bind(5, int64_t{me}).bind(6, static_cast<int64_t>(util::process_start_time(me))).bind(7, spec.dump());
    Status s = ins.run();
    if (s) break;
    if (s.error().code != Code::AlreadyExists) return std::move(s).error();
    if (!req.name.empty()) {
      auto holder = find(e, name);
      return make_error(Code::Conflict, "Conflict. The container name \"/" + name +
                                            "\" is already in use by container \"" +
                                            (holder ? holder->id : std::string("?")) +
                                            "\". You have to remove (or rename) that container to "
                                            "be able to reuse that name.");
    }
    if (attempt > 20) return std::move(s).error().wrap("generate a container name");
  }
  util::timing_mark("create: record inserted");
  sdk::ScopeGuard undo([&] { (void)destroy(e, id); });

  std::string dir = e.container_dir(id);
  BERTH_TRY(fs::make_dirs(dir, 0710));
  BERTH_TRY(fs::write_file_atomic(dir + "/hostname", hostname + "\n", 0644, fs::Durability::Atomic));
  std::string hosts = kHostsFile;
  if (net.host_namespace) {
    auto h = fs::read_file("/etc/hosts");
    if (h) hosts = *h;
  }
  for (const auto& h : extra_hosts) {
    std::string s = h.get<std::string>();
    hosts += s.substr(s.find(':') + 1) + "\t" + s.substr(0, s.find(':')) + "\n";
  }
  BERTH_TRY(fs::write_file_atomic(dir + "/hosts", hosts, 0644, fs::Durability::Atomic));
  BERTH_TRY(fs::write_file_atomic(dir + "/resolv.conf", container_resolv_conf(net.host_namespace), 0644,
                                     fs::Durability::Atomic));
  // Bind sources that do not exist are made as directories, as Docker does for -v.
  for (const auto& b : binds) {
    if (!b.volume && !b.must_exist && !fs::exists(b.source)) BERTH_TRY(fs::make_dirs(b.source, 0755));
  }
  util::timing_mark("create: files written");
  BERTH_TRY(e.storage().prepare(id, image->top_chain_id, {{"container", id}}).status());
  util::timing_mark("create: snapshot prepared");

  // `run` keeps the record as its own start (one write fewer than created, then claimed).
  BERTH_ASSIGN(auto upd, e.db().prepare(
      then_start ? "UPDATE containers SET state = 'starting' WHERE id = ?"
                 : "UPDATE containers SET state = 'created', owner_pid = 0, owner_start = 0 WHERE id = ?"));
  upd.bind(1, id);
  BERTH_TRY(upd.run());
  undo.dismiss();
  drop_anonymous.dismiss();
  util::timing_mark("create: done");
  return find(e, id);
}

Result<bool> record_running(Engine& e, const std::string& id, pid_t owner, const RunFacts& f) {
  BERTH_ASSIGN(auto st, e.db().prepare(
      "UPDATE containers SET state = 'running', pid = ?, started_ns = ?, exit_code = 0, finished_ns = 0, "
      "owner_pid = 0, owner_start = 0, monitor_pid = ?, monitor_start = ?, runtime = ?, error = '', paused = 0, oom_killed = 0, restart_count = 0, "
      "manually_stopped = 0 WHERE id = ? AND state = 'starting' AND owner_pid = ?"));
  st.bind(1, int64_t{f.pid}).bind(2, f.started_ns).bind(3, int64_t{f.monitor_pid});
  st.bind(4, static_cast<int64_t>(f.monitor_start)).bind(5, f.runtime).bind(6, id).bind(7, int64_t{owner});
  BERTH_TRY(st.run());
  return e.db().changes() == 1;
}

Status undo_start(Engine& e, const std::string& id, pid_t owner, int code, const std::string& message) {
  BERTH_ASSIGN(auto st, e.db().prepare(
      "UPDATE containers SET state = CASE WHEN started_ns = 0 THEN 'created' ELSE 'exited' END, "
      "exit_code = ?, owner_pid = 0, owner_start = 0, monitor_pid = 0, monitor_start = 0, "
      "pid = 0, runtime = '{}', error = ? WHERE id = ? AND state = 'starting' AND owner_pid = ?"));
  st.bind(1, int64_t{code}).bind(2, message).bind(3, id).bind(4, int64_t{owner});
  return st.run();
}

Result<bool> record_exit(Engine& e, const Container& c, pid_t monitor, int code, int64_t finished_ns, bool oom_killed,
                         bool cgroups_released) {
  // With --rm the record goes straight from running to removing, an intent this process
  // owns (reconcile() finishes it if we die), then away with the container's files.
  bool auto_remove = c.spec.value("HostConfig", json::object()).value("AutoRemove", false);
  pid_t me = ::getpid();
  BERTH_ASSIGN(auto st, e.db().prepare(
      "UPDATE containers SET state = ?, exit_code = ?, finished_ns = ?, owner_pid = ?, owner_start = ?, "
      "pid = 0, monitor_pid = 0, monitor_start = 0, runtime = '{}', paused = 0, oom_killed = ? "
      "WHERE id = ? AND state = 'running' AND monitor_pid = ?"));
  st.bind(1, std::string(auto_remove ? "removing" : "exited")).bind(2, int64_t{code}).bind(3, finished_ns);
  st.bind(4, auto_remove ? int64_t{me} : int64_t{0});
  st.bind(5, auto_remove ? static_cast<int64_t>(util::process_start_time(me)) : int64_t{0});
  st.bind(6, int64_t{oom_killed ? 1 : 0}).bind(7, c.id).bind(8, int64_t{monitor});
  BERTH_TRY(st.run());
  util::timing_mark("exit: recorded");
  if (e.db().changes() != 1) return false;
  // The run's addresses go back to their pools (the monitor has taken the interfaces down).
  if (!network::requests_of(c.spec).empty()) (void)network::release(e, c.id);
  volumes::unmount_all(e, c.id, volumes::uses_of(c.spec));
  if (auto_remove) {
    BERTH_TRY(destroy(e, c.id, cgroups_released));
    volumes::remove_anonymous(e, volumes::uses_of(c.spec));  // as Docker's --rm
  }
  return true;
}

namespace {

void send_line(int fd, const std::string& line) { (void)util::write_all(fd, line + "\n"); }

}  // namespace

// On user-defined networks names go to the container's embedded DNS server (resolver.hpp).
constexpr const char* kEmbeddedDnsResolvConf = "nameserver 127.0.0.11\noptions ndots:0\n";

// In place: a running container sees the file through a bind mount of this inode.
static Status write_in_place(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return sys_error("write " + path);
  bool ok = util::write_all(fd, text);
  int err = errno;
  ::close(fd);
  if (!ok) return sys_error("write " + path, err);
  return {};
}

// The first address a running container has, "" when none.
static std::string first_address(Engine& e, const std::string& id) {
  auto eps = network::endpoints_of_container(e, id);
  if (eps) {
    for (const auto& ep : *eps) {
      if (ep.ip != 0) return ep.address();
    }
  }
  return "";
}

// The hosts file of a container on a network: localhost and ip6 lines, its own address
// and hostname, --add-host lines, and one line per --link (IP ALIAS NAME ID12) for the
// linked containers that run.
static Status write_hosts_file(Engine& e, const Container& c);

// The running containers that --link to `id` see its address now (a restart may change it).
static void refresh_linkers(Engine& e, const std::string& id) {
  auto st = e.db().prepare(
      "SELECT id FROM containers WHERE state = 'running' AND EXISTS (SELECT 1 FROM "
      "json_each(spec, '$.HostConfig.BerthLinks') l WHERE json_extract(l.value, '$.Id') = ?)");
  if (!st) return;
  st->bind(1, id);
  std::vector<std::string> ids;
  while (true) {
    auto row = st->step();
    if (!row || !*row) break;
    ids.push_back(st->text(0));
  }
  for (const auto& linker : ids) {
    if (auto c = find(e, linker); c) (void)write_hosts_file(e, *c);
  }
}

static Status write_hosts_file(Engine& e, const Container& c) {
  std::string text = kHostsFile;
  json hc = c.spec.value("HostConfig", json::object());
  std::string hostname = c.spec.value("Config", json::object()).value("Hostname", c.short_id());
  if (std::string own = first_address(e, c.id); !own.empty()) text += own + "\t" + hostname + "\n";
  for (const auto& h : hc.value("ExtraHosts", json::array())) {
    if (!h.is_string()) continue;
    std::string s = h.get<std::string>();
    text += s.substr(s.find(':') + 1) + "\t" + s.substr(0, s.find(':')) + "\n";
  }
  for (const auto& l : hc.value("BerthLinks", json::array())) {
    auto target = find(e, l.value("Id", ""));
    if (!target || !(target->running() || target->state == "starting")) continue;
    std::string ip = first_address(e, target->id);
    if (ip.empty()) continue;
    std::string alias = l.value("Alias", target->name);
    text += ip + "\t" + (alias != target->name ? alias + " " : "") + target->name + " " + target->short_id() + "\n";
  }
  return write_in_place(e.container_dir(c.id) + "/hosts", text);
}

Result<StartReport> start(Engine& e, const Container& c, const AttachOptions& attach_opts,
                          monitor::Standby* standby) {
  StartReport report;
  if (c.state == "running") {
    report.started = true;
    report.pid = c.pid;
    report.monitor_pid = c.monitor_pid;
    return report;
  }
  const pid_t me = ::getpid();
  // `run` makes its container directly in "starting", owned by itself.
  bool mine = c.state == "starting" && c.owner_pid == me;
  for (const char* from : {"created", "exited"}) {
    if (mine || c.state != from) continue;
    BERTH_ASSIGN(mine, claim(e, c.id, from, std::nullopt, "starting"));
  }
  if (!mine) {
    return make_error(Code::Conflict, "container " + c.short_id() + " is " + c.state +
                                          "; another command is working on it");
  }
  const bool attach = attach_opts.output;
  const json config = c.spec.value("Config", json::object());
  const bool tty = config.value("Tty", false);
  const bool open_stdin = config.value("OpenStdin", false);
  // -i or -t: the terminal goes through the monitor (attach.hpp); otherwise the monitor
  // writes the output straight to our stdout and stderr.
  const bool relayed = attach && (tty || open_stdin);
  std::string keys;
  if (relayed) {
    BERTH_ASSIGN(keys, attach::parse_detach_keys(attach_opts.detach_keys));
  }
  // Until the monitor reports the container running, a failure gives the start back.
  sdk::ScopeGuard give_back([&] { (void)undo_start(e, c.id, me, 125, "start failed"); });
  // Addresses are leased here, where the database is open; the monitor, handed them with
  // the start, joins them to the container's namespace between clone and exec.
  for (const auto& l : c.spec.value("HostConfig", json::object()).value("BerthLinks", json::array())) {
    auto target = find(e, l.value("Id", ""));
    if (!target || !target->running()) {
      return make_error(Code::Conflict, "Cannot link to a non running container: /" + l.value("Name", std::string("?")) +
                                            " AS /" + c.name + "/" + l.value("Alias", std::string("?")));
    }
  }
  // The container's volumes, for this run (the drivers count their users).
  const auto volume_uses = volumes::uses_of(c.spec);
  BERTH_TRY(volumes::mount_all(e, c.id, volume_uses));
  sdk::ScopeGuard unmount_volumes([&] {
    if (!report.started) volumes::unmount_all(e, c.id, volume_uses);
  });
  // The container's root: volumes are filled from it, and the monitor mounts it.
  BERTH_ASSIGN(auto root_mounts, e.storage().mounts(c.id));
  if (!volume_uses.empty()) BERTH_TRY(volumes::copy_up(c.spec, root_mounts));
  network::Plan plan;
  std::vector<network::Attachment>& attachments = plan.attachments;
  if (auto reqs = network::requests_of(c.spec); !reqs.empty()) {
    BERTH_ASSIGN(attachments, network::attach(e, c.id, reqs));
  }
  if (std::string other = c.spec.value("Network", json::object()).value("Container", ""); !other.empty()) {
    auto target = find(e, other);
    if (!target || !target->running()) {
      return make_error(Code::Conflict, "cannot join network of a non running container: " + other);
    }
    plan.share_pid = target->pid;
    plan.share_start = util::process_start_time(target->pid);
    // Its names too: the two share one network stack.
    for (const char* f : {"/hosts", "/resolv.conf"}) {
      auto text = fs::read_file(e.container_dir(target->id) + f);
      if (text) BERTH_TRY(fs::write_file_atomic(e.container_dir(c.id) + f, *text, 0644, fs::Durability::Atomic));
    }
  }
  sdk::ScopeGuard release_net([&] {
    if (!attachments.empty() && !report.started) (void)network::release(e, c.id);
  });
  if (!attachments.empty()) {
    BERTH_TRY(write_hosts_file(e, c));
    if (network::wants_dns(attachments)) BERTH_TRY(write_in_place(e.container_dir(c.id) + "/resolv.conf", kEmbeddedDnsResolvConf));
    auto bindings = network::port_bindings_of(c.spec.value("HostConfig", json::object()).value("PortBindings", json::object()));
    BERTH_TRY(network::publish(e, attachments.front(), bindings));
    refresh_linkers(e, c.id);
  }
  util::timing_mark("start: networks attached");
  int chan[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan) != 0) return sys_error("socketpair");
  int io[2] = {-1, -1};
  if (relayed && ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, io) != 0) {
    ::close(chan[0]);
    ::close(chan[1]);
    return sys_error("socketpair");
  }

  // Signals that should reach the container while we are attached are taken through a
  // signalfd; the monitor restores the default mask. With a terminal the window size is.
  sigset_t fwd, old;
  sigemptyset(&fwd);
  if (attach && !tty) {
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&fwd, s);
  }
  if (relayed && tty) sigaddset(&fwd, SIGWINCH);
  ::sigprocmask(SIG_BLOCK, &fwd, &old);
  sdk::ScopeGuard restore_mask([&] { ::sigprocmask(SIG_SETMASK, &old, nullptr); });

  sdk::ScopeGuard close_chan([&] { ::close(chan[0]); });
  sdk::ScopeGuard close_ends([&] {
    for (int fd : {chan[1], io[0], io[1]}) {
      if (fd >= 0) ::close(fd);
    }
  });
  auto hand = [&](monitor::Standby& s) {
    return s.hand(c, me, plan, root_mounts, chan[1], attach && !relayed, io[1]);
  };
  std::optional<monitor::Standby> late;
  if (standby == nullptr || !standby->ready() || !hand(*standby)) {
    // None spawned, or it is gone: fork one now. SQLite connections must not cross
    // fork(): even an unused copy leaves the child's SQLite believing it holds descriptors
    // and locks it does not; the monitor opens its own only when this process is gone.
    e.close_db();
    util::timing_mark("start: forking monitor");
    auto forked = monitor::Standby::fork(e);
    Status reopened = e.reopen_db();
    util::timing_mark("start: database reopened");
    if (!forked) return std::move(forked).error();
    late.emplace(std::move(*forked));
    // Nothing can be recorded without the database: the standby, never handed, goes, and
    // the next reconcile() gives the start back, its owner gone.
    if (!reopened) {
      give_back.dismiss();
      return std::move(reopened).error();
    }
    BERTH_TRY(hand(*late));
    standby = &*late;
  }
  util::timing_mark("start: monitor handed the start");
  const pid_t mon = standby->pid();
  report.monitor_pid = mon;
  close_ends.dismiss();
  ::close(chan[1]);
  if (io[1] >= 0) ::close(io[1]);
  std::optional<attach::Relay> relay;
  if (relayed) relay.emplace(io[0], tty, attach_opts.input && open_stdin, keys);

  int sfd = attach ? ::signalfd(-1, &fwd, SFD_CLOEXEC) : -1;
  sdk::ScopeGuard close_sfd([&] {
    if (sfd >= 0) ::close(sfd);
  });
  std::string buf;
  bool done = false;
  bool got_exit = false;
  bool chan_open = true;
  std::string refused;  // why this process could not record the run it was told of
  // Done when the monitor has said how the run ended and, attached through it, the last
  // output has arrived.
  while (!(done && (!relay || relay->closed()))) {
    struct pollfd p[4] = {{done || !chan_open ? -1 : chan[0], POLLIN, 0}, {sfd, POLLIN, 0}};
    if (relay) relay->poll_fds(&p[2]);
    if (relay && (done || report.detached)) p[2].fd = -1;  // no more input after the exit
    if (!relay) p[2].fd = p[3].fd = -1;
    int r = ::poll(p, 4, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (sfd >= 0 && (p[1].revents & POLLIN)) {
      struct signalfd_siginfo si {};
      if (::read(sfd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGWINCH) {
          if (relay) relay->send_winsize();
        } else if (report.pid > 0) {
          ::kill(report.pid, static_cast<int>(si.ssi_signo));
        }
      }
    }
    if (relay) {
      auto ev = relay->handle(&p[2]);
      if (ev == attach::Relay::Event::Detached) {
        // The container runs on; the monitor, seeing us go, keeps its records.
        report.detached = true;
        break;
      }
    }
    if (p[0].fd < 0 || !(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    char chunk[1024];
    ssize_t n = ::read(chan[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      chan_open = false;
      if (!relay || relay->closed() || !report.started) break;
      continue;
    }
    buf.append(chunk, static_cast<size_t>(n));
    size_t nl;
    while (!done && (nl = buf.find('\n')) != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (line.size() < 2) continue;
      std::string rest = line.substr(2);
      if (line[0] == 'S') {
        util::timing_mark("start: cli saw started");
        // S <pid> <started_ns> <monitor_start> <runtime JSON>
        auto f = util::split(rest, ' ');
        RunFacts facts;
        if (f.size() >= 4) {
          facts.pid = std::atoi(f[0].c_str());
          facts.started_ns = std::atoll(f[1].c_str());
          facts.monitor_pid = mon;
          facts.monitor_start = std::strtoull(f[2].c_str(), nullptr, 10);
          facts.runtime = rest.substr(f[0].size() + f[1].size() + f[2].size() + 3);
        }
        auto recorded = facts.pid > 0 ? record_running(e, c.id, me, facts)
                                      : Result<bool>(make_error(Code::Internal, "bad report: " + line));
        if (recorded && *recorded) {
          give_back.dismiss();
          send_line(chan[0], "R");
          util::timing_mark("start: running recorded");
          report.started = true;
          report.pid = facts.pid;
          if (!attach) done = true;
          if (relay) relay->send_winsize();
        } else {
          // The monitor kills the container and exits; the start is given back below.
          refused = recorded ? "the start of container " + c.short_id() + " was interrupted"
                             : recorded.error().what();
          send_line(chan[0], "K");
        }
      } else if (line[0] == 'E') {
        auto sp = rest.find(' ');
        report.exit_code = std::atoi(rest.substr(0, sp).c_str());
        report.error = sp == std::string::npos ? "" : rest.substr(sp + 1);
        done = true;
      } else if (line[0] == 'X') {
        // X <code> <finished_ns> [oom] [restart] [released]
        util::timing_mark("start: cli saw exit");
        auto f = util::split(rest, ' ');
        report.exit_code = std::atoi(f[0].c_str());
        int64_t finished = f.size() > 1 ? std::atoll(f[1].c_str()) : util::now_ns();
        bool oom = std::find(f.begin() + std::min<size_t>(2, f.size()), f.end(), "oom") != f.end();
        bool restarting = std::find(f.begin() + std::min<size_t>(2, f.size()), f.end(), "restart") != f.end();
        bool released = std::find(f.begin() + std::min<size_t>(2, f.size()), f.end(), "released") != f.end();
        got_exit = true;
        done = true;
        // A restart policy keeps the container going: the monitor owns the record now.
        if (!restarting) {
          auto now = find(e, c.id);
          if (now) (void)record_exit(e, *now, mon, report.exit_code, finished, oom, released);
          send_line(chan[0], "D");
        }
        util::timing_mark("start: exit recorded");
      }
    }
  }
  if (!report.started) {
    if (report.error.empty()) report.error = !refused.empty() ? refused : "the container monitor exited before starting the container";
    if (report.exit_code == 0) report.exit_code = 125;
    give_back.dismiss();
    (void)undo_start(e, c.id, me, report.exit_code, report.error);
    ::waitpid(mon, nullptr, 0);
    return report;
  }
  if (report.detached) {
    relay.reset();  // (the terminal back to how it was)
    return report;
  }
  if (attach) {
    // After "D" the monitor only exits; reap it if it has, else init will.
    ::waitpid(mon, nullptr, got_exit ? WNOHANG : 0);
    if (!got_exit) {
      report.exit_code = 125;
      report.error = "the container monitor exited before the container";
    }
  }
  return report;
}

namespace {

// Reads a cgroup file until `done` holds of it (freezing takes a moment), up to 5 s.
bool wait_file(const std::string& path, const std::function<bool(const std::string&)>& done) {
  for (int i = 0; i < 500; ++i) {
    auto v = fs::read_file(path);
    if (v && done(*v)) return true;
    struct timespec ts {0, 10 * 1000 * 1000};
    ::nanosleep(&ts, nullptr);
  }
  return false;
}

Status write_cgroup_file(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return sys_error("open '" + path + "'");
  bool ok = util::write_all(fd, value);
  int err = errno;
  ::close(fd);
  return ok ? Status{} : sys_error("write '" + path + "'", err);
}

Status set_frozen(const Container& c, bool frozen) {
  auto dirs = json_strings(c.runtime.value("cgroups", json::array()));
  for (const auto& d : dirs) {
    if (!fs::exists(d + "/freezer.state")) continue;
    BERTH_TRY(write_cgroup_file(d + "/freezer.state", frozen ? "FROZEN" : "THAWED"));
    std::string want = frozen ? "FROZEN" : "THAWED";
    if (!wait_file(d + "/freezer.state", [&](const std::string& v) { return util::trim(v) == want; })) {
      return make_error(Code::Unavailable, "container " + c.short_id() + " did not reach " + want);
    }
    return {};
  }
  for (const auto& d : dirs) {
    if (!fs::exists(d + "/cgroup.freeze")) continue;
    BERTH_TRY(write_cgroup_file(d + "/cgroup.freeze", frozen ? "1" : "0"));
    std::string want = frozen ? "frozen 1" : "frozen 0";
    if (!wait_file(d + "/cgroup.events", [&](const std::string& v) { return v.find(want) != std::string::npos; })) {
      return make_error(Code::Unavailable, "container " + c.short_id() + " did not reach " + want);
    }
    return {};
  }
  return make_error(Code::Unsupported, "no cgroup freezer for container " + c.short_id() +
                                           ": neither a v1 freezer hierarchy nor cgroup v2 is mounted");
}

}  // namespace

Status kill(Engine& e, const Container& c, int signal) {
  (void)e;
  if (!c.running() || c.pid <= 0) {
    return make_error(Code::Conflict, "cannot kill container: " + c.name + ": container " + c.id + " is not running");
  }
  int pfd = static_cast<int>(::syscall(SYS_pidfd_open, c.pid, 0));
  if (pfd < 0) return sys_error("cannot kill container: " + c.name);
  sdk::ScopeGuard close_p([&] { ::close(pfd); });
  if (::syscall(SYS_pidfd_send_signal, pfd, signal, nullptr, 0) != 0) {
    return sys_error("cannot kill container: " + c.name + ": signal " + std::to_string(signal));
  }
  // A frozen process cannot die; Docker thaws a paused container it kills.
  if (c.paused && signal == SIGKILL) (void)set_frozen(c, false);
  return {};
}

Status pause(Engine& e, const Container& c) {
  if (!c.running()) return make_error(Code::Conflict, "container " + c.id + " is not running");
  if (c.paused) return make_error(Code::Conflict, "Container " + c.id + " is already paused");
  BERTH_TRY(set_frozen(c, true));
  BERTH_ASSIGN(auto st, e.db().prepare("UPDATE containers SET paused = 1 WHERE id = ? AND state = 'running'"));
  st.bind(1, c.id);
  return st.run();
}

Status unpause(Engine& e, const Container& c) {
  if (!c.running() || !c.paused) return make_error(Code::Conflict, "Container " + c.id + " is not paused");
  BERTH_TRY(set_frozen(c, false));
  BERTH_ASSIGN(auto st, e.db().prepare("UPDATE containers SET paused = 0 WHERE id = ?"));
  st.bind(1, c.id);
  return st.run();
}

namespace {

Status write_spec(Engine& e, const std::string& id, const json& spec) {
  BERTH_ASSIGN(auto st, e.db().prepare("UPDATE containers SET spec = ? WHERE id = ?"));
  st.bind(1, spec.dump()).bind(2, id);
  return st.run();
}

}  // namespace

Status connect(Engine& e, const Container& c, const std::string& network_ref, const std::string& ip,
               const std::vector<std::string>& aliases) {
  BERTH_ASSIGN(auto n, network::find(e, network_ref));
  BERTH_ASSIGN(auto driver, e.plugins().network(n.driver));
  json spec = c.spec;
  json& net = spec["Network"];
  if (!net.value("Container", "").empty() || net.value("HostNamespace", false) || net.value("Driver", "") == "null" ||
      !driver->capabilities().supports_connect) {
    return make_error(Code::Forbidden, "container cannot be connected to network " + n.name +
                                           ": host, none and container: networks, and networks of driver '" +
                                           n.driver + "' take no connections");
  }
  for (const auto& r : network::requests_of(c.spec)) {
    if (r.network_id == n.id) {
      return make_error(Code::Conflict, "endpoint with name " + c.name + " already exists in network " + n.name);
    }
  }
  if ((!ip.empty() || !aliases.empty()) && n.predefined) {
    return make_error(Code::InvalidArgument, "user specified IP address and aliases are supported on user defined networks only");
  }
  network::Request req{n.id, n.name, aliases, ip};
  net["Networks"].push_back({{"Name", n.name}, {"NetworkID", n.id}, {"Aliases", aliases}, {"IPv4Address", ip}});
  if (c.running()) {
    BERTH_ASSIGN(auto made, network::attach(e, c.id, {req}));
    if (Status s = network::join(made, c.pid, false); !s) {
      for (const auto& a : made) (void)network::detach(e, a, c.pid);
      return s;
    }
    if (Status s = write_spec(e, c.id, spec); !s) {
      for (const auto& a : made) (void)network::detach(e, a, c.pid);
      return s;
    }
    return {};
  }
  return write_spec(e, c.id, spec);
}

Status disconnect(Engine& e, const Container& c, const std::string& network_ref, bool force) {
  BERTH_ASSIGN(auto n, network::find(e, network_ref));
  json spec = c.spec;
  json& list = spec["Network"]["Networks"];
  bool found = false;
  json kept = json::array();
  for (const auto& r : list) {
    if (r.value("NetworkID", "") == n.id) {
      found = true;
    } else {
      kept.push_back(r);
    }
  }
  if (!found) {
    if (force) return {};
    return make_error(Code::Forbidden, "container " + c.id + " is not connected to network " + n.name);
  }
  list = kept;
  BERTH_TRY(write_spec(e, c.id, spec));
  auto a = network::attachment_of(e, c.id, n.id);
  if (a) return network::detach(e, *a, c.running() ? c.pid : 0);
  if (a.error().code != Code::NotFound) return std::move(a).error();
  return {};
}

Status rename(Engine& e, const Container& c, const std::string& new_name) {
  std::string name = !new_name.empty() && new_name[0] == '/' ? new_name.substr(1) : new_name;
  if (!valid_name(name)) {
    return make_error(Code::InvalidArgument, "Invalid container name (" + name +
                                                 "), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
  }
  if (name == c.name) {
    return make_error(Code::InvalidArgument, "Renaming a container with the same name as its current name");
  }
  BERTH_ASSIGN(auto st, e.db().prepare("UPDATE containers SET name = ? WHERE id = ?"));
  st.bind(1, name).bind(2, c.id);
  Status s = st.run();
  if (!s && s.error().code == Code::AlreadyExists) {
    auto holder = find(e, name);
    return make_error(Code::Conflict, "Error when allocating new name: Conflict. The container name \"/" + name +
                                          "\" is already in use by container \"" +
                                          (holder ? holder->id : std::string("?")) +
                                          "\". You have to remove (or rename) that container to be able to reuse that name.");
  }
  return s;
}

Status stop(Engine& e, const Container& c, int timeout_s) {
  if (!c.monitored()) return {};
  BERTH_TRY(mark_manually_stopped(e, c.id));
  int mon = pidfd_for(c.monitor_pid, c.monitor_start);
  if (mon < 0) return reconcile(e);
  sdk::ScopeGuard close_mon([&] { ::close(mon); });
  // A monitor waiting to restart wakes on SIGUSR1, sees the mark and ends the run.
  if (c.state == "restarting") ::syscall(SYS_pidfd_send_signal, mon, SIGUSR1, nullptr, 0);
  if (timeout_s < -1) timeout_s = stop_timeout_of(c);
  int pfd = static_cast<int>(::syscall(SYS_pidfd_open, c.pid, 0));
  if (pfd >= 0) {
    sdk::ScopeGuard close_p([&] { ::close(pfd); });
    ::syscall(SYS_pidfd_send_signal, pfd, stop_signal_of(c), nullptr, 0);
    // A paused container is thawed so that it can act on the signal (as Docker does).
    if (c.paused) (void)set_frozen(c, false);
    if (!wait_pidfd(pfd, timeout_s < 0 ? -1 : timeout_s * 1000)) {
      ::syscall(SYS_pidfd_send_signal, pfd, SIGKILL, nullptr, 0);
    }
  }
  // The monitor records the exit (and removes an --rm container) before it exits.
  if (!wait_pidfd(mon, 30000)) {
    return make_error(Code::Unavailable, "container " + c.short_id() + " did not stop: its monitor is not answering");
  }
  return {};
}

Status remove(Engine& e, const Container& c, bool force, bool anonymous_volumes) {
  BERTH_TRY(remove_container(e, c, force));
  if (anonymous_volumes) volumes::remove_anonymous(e, volumes::uses_of(c.spec));
  return {};
}

Status remove_container(Engine& e, const Container& c, bool force) {
  if (c.monitored() || c.state == "starting") {
    if (!force) {
      return make_error(Code::Conflict, "cannot remove container \"/" + c.name +
                                            "\": container is running: stop the container before "
                                            "removing or force remove");
    }
    BERTH_TRY(stop(e, c, 0));
  }
  // The monitor of an --rm container may have removed it meanwhile.
  auto now = find(e, c.id);
  if (!now) return now.error().code == Code::NotFound ? Status{} : Status(std::move(now).error());
  for (const char* from : {"created", "exited"}) {
    if (now->state != from) continue;
    BERTH_ASSIGN(bool mine, claim(e, c.id, from, std::nullopt, "removing"));
    if (mine) return destroy(e, c.id);
  }
  if (now->state == "removing") return {};
  return make_error(Code::Conflict, "container " + c.short_id() + " is " + now->state +
                                        "; another command is working on it");
}

Status destroy(Engine& e, const std::string& id, bool cgroups_released) {
  auto c = find(e, id);
  if (c && !cgroups_released) release_cgroups(c->runtime, id);
  // (A run that ended unobserved may still hold endpoints.)
  if (c && !network::requests_of(c->spec).empty()) BERTH_TRY(network::release(e, id));
  if (c) volumes::unmount_all(e, id, volumes::uses_of(c->spec));
  util::timing_mark("destroy: cgroups released");
  Status removed = e.storage().remove(id);
  if (!removed && removed.error().code != Code::NotFound) return removed;
  util::timing_mark("destroy: snapshot removed");
  e.note_trash();
  BERTH_TRY(fs::move_to_trash(e.container_dir(id), e.trash_dir(), id));
  util::timing_mark("destroy: files removed");
  return delete_record(e, id);
}

Status sweep(Engine& e) {
  e.trash_emptied();
  Status storage = e.storage().cleanup();
  Status own = fs::empty_trash(e.trash_dir());
  return storage ? own : storage;
}

std::string status_text(const Container& c, int64_t now_ns) {
  if (c.state == "running") {
    return "Up " + util::human_duration((now_ns - c.started_ns) / 1000000000) + (c.paused ? " (Paused)" : "");
  }
  if (c.state == "exited") {
    return "Exited (" + std::to_string(c.exit_code) + ") " +
           util::human_duration((now_ns - c.finished_ns) / 1000000000) + " ago";
  }
  if (c.state == "removing") return "Removal In Progress";
  if (c.state == "restarting") {
    return "Restarting (" + std::to_string(c.exit_code) + ") " +
           util::human_duration((now_ns - c.finished_ns) / 1000000000) + " ago";
  }
  return "Created";
}

}  // namespace berth::containers
