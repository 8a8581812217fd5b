#include "monitor/monitor.hpp"

#include <sys/syscall.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <algorithm>
#include <variant>
#include <vector>

#include "berth/sdk/fs.hpp"
#include "monitor/json_log.hpp"
#include "runtime/cgroups.hpp"
#include "runtime/spawn.hpp"
#include "util/util.hpp"

namespace berth::monitor {

using nlohmann::json;
namespace fs = sdk::fs;

namespace {

void report(int fd, const std::string& line) {
  if (fd >= 0) (void)util::write_all(fd, line + "\n");
}

// The monitor must not hold any descriptor of the CLI that forked it (a test harness
// reading the CLI's output until EOF would otherwise wait for the container to end).
// close_range() around the few it keeps: listing /proc/self/fd costs a millisecond.
void close_inherited(std::vector<int> keep) {
  std::sort(keep.begin(), keep.end());
  unsigned from = 3;
  for (int fd : keep) {
    if (fd < static_cast<int>(from)) continue;
    if (static_cast<unsigned>(fd) > from) ::syscall(SYS_close_range, from, static_cast<unsigned>(fd) - 1, 0u);
    from = static_cast<unsigned>(fd) + 1;
  }
  ::syscall(SYS_close_range, from, ~0u, 0u);
}

// HOME from the container's /etc/passwd is the runtime's job; Docker sets HOSTNAME too.
std::vector<std::string> process_env(const json& config) {
  auto env = containers::json_strings(config.value("Env", json::array()));
  bool has_home = false;
  bool has_hostname = false;
  for (const auto& kv : env) {
    has_home |= util::starts_with(kv, "HOME=");
    has_hostname |= util::starts_with(kv, "HOSTNAME=");
  }
  if (!has_hostname) env.insert(env.begin() + (env.empty() ? 0 : 1), "HOSTNAME=" + config.value("Hostname", std::string()));
  if (!has_home) env.push_back("HOME=/root");
  return env;
}

using Param = std::variant<int64_t, std::string>;

Status exec_update(Engine& e, const std::string& sql, const std::vector<Param>& params) {
  BERTH_ASSIGN(auto st, e.db().prepare(sql));
  int i = 1;
  for (const auto& p : params) {
    if (const auto* n = std::get_if<int64_t>(&p)) st.bind(i++, *n);
    else st.bind(i++, std::get<std::string>(p));
  }
  return st.run();
}

}  // namespace

void monitor_main(Engine& e, const containers::Container& c, int status_fd, bool attach) {
  util::timing_mark("monitor: forked");
  ::setsid();
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGQUIT, SIG_IGN);
  int out_sink = -1, err_sink = -1;
  if (attach) {
    out_sink = ::fcntl(1, F_DUPFD_CLOEXEC, 3);
    err_sink = ::fcntl(2, F_DUPFD_CLOEXEC, 3);
  }
  int devnull = ::open("/dev/null", O_RDWR);
  for (int fd = 0; fd < 3; ++fd) ::dup2(devnull, fd);
  if (devnull > 2) ::close(devnull);
  close_inherited({status_fd, out_sink, err_sink});

  const std::string& id = c.id;
  pid_t me = ::getpid();
  auto fail = [&](int code, const std::string& msg) {
    report(status_fd, "E " + std::to_string(code) + " " + msg);
    ::_exit(code);
  };
  util::timing_mark("monitor: descriptors closed");
  if (Status s = e.reopen_db(); !s) fail(125, s.error().what());
  util::timing_mark("monitor: database open");

  // The record stays "starting", owned by the CLI, until the container runs; then one
  // update hands it to this monitor. If the CLI died meanwhile and a reconcile undid the
  // start, that update matches nothing and the container is ended again.
  const int64_t cli = c.owner_pid;
  std::vector<std::string> cgroups;
  auto undo_start = [&](int code, const std::string& msg) {
    (void)runtime::destroy_cgroups(cgroups);
    (void)exec_update(e,
                      "UPDATE containers SET state = CASE WHEN started_ns = 0 THEN 'created' ELSE 'exited' END, "
                      "exit_code = ?, owner_pid = 0, owner_start = 0, monitor_pid = 0, monitor_start = 0, "
                      "pid = 0, runtime = '{}', error = ? WHERE id = ? AND state = 'starting' AND owner_pid = ?",
                      {int64_t{code}, msg, id, cli});
    fail(code, msg);
  };

  const json& spec = c.spec;
  json config = spec.value("Config", json::object());
  json network = spec.value("Network", json::object());
  std::string dir = e.container_dir(id);

  auto made = runtime::create_cgroups(id);
  if (!made) undo_start(125, made.error().what());
  cgroups = *made;
  auto mounts = e.storage().mounts(id);
  if (!mounts) undo_start(125, mounts.error().what());
  std::string rootfs = dir + "/rootfs";
  if (Status s = fs::make_dirs(rootfs, 0700); !s) undo_start(125, s.error().what());

  int log_fd = ::open((dir + "/" + id + "-json.log").c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (log_fd < 0) undo_start(125, std::string("open the container log: ") + std::strerror(errno));
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    undo_start(125, std::string("pipe: ") + std::strerror(errno));
  }

  runtime::SpawnConfig sc;
  sc.id = id;
  sc.hostname = config.value("Hostname", std::string());
  sc.rootfs = rootfs;
  sc.root_mounts = *mounts;
  sc.new_netns = !network.value("HostNamespace", false);
  for (const auto& m : spec.value("Mounts", json::array())) {
    sc.binds.push_back({m.value("Source", ""), m.value("Destination", ""), !m.value("RW", true)});
  }
  // The engine's files go last so that they are what the container sees at those paths.
  sc.binds.push_back({dir + "/hostname", "/etc/hostname", false});
  sc.binds.push_back({dir + "/hosts", "/etc/hosts", false});
  sc.binds.push_back({dir + "/resolv.conf", "/etc/resolv.conf", false});
  sc.argv.push_back(spec.value("Path", ""));
  for (const auto& a : containers::json_strings(spec.value("Args", json::array()))) sc.argv.push_back(a);
  sc.env = process_env(config);
  sc.cwd = config.value("WorkingDir", std::string());
  sc.user = config.value("User", std::string());
  sc.cgroup_dirs = cgroups;
  sc.stdout_fd = out[1];
  sc.stderr_fd = err[1];

  util::timing_mark("monitor: cgroups made, spawning");
  runtime::StartFailure failure;
  auto spawned = runtime::spawn_container(sc, &failure);
  ::close(out[1]);
  ::close(err[1]);
  if (!spawned) undo_start(failure.exit_code, failure.message);
  util::timing_mark("monitor: container exec'd");

  {
    auto st = e.db().prepare(
        "UPDATE containers SET state = 'running', pid = ?, started_ns = ?, exit_code = 0, finished_ns = 0, "
        "owner_pid = 0, owner_start = 0, monitor_pid = ?, monitor_start = ?, runtime = ?, error = '' "
        "WHERE id = ? AND state = 'starting' AND owner_pid = ?");
    Status s = st ? Status{} : Status(st.error());
    if (s) {
      int64_t start = static_cast<int64_t>(util::process_start_time(me));
      st->bind(1, int64_t{spawned->pid}).bind(2, util::now_ns()).bind(3, int64_t{me}).bind(4, start);
      st->bind(5, json{{"cgroups", cgroups}}.dump()).bind(6, id).bind(7, cli);
      s = st->run();
      if (s && e.db().changes() != 1) {
        s = make_error(Code::Conflict, "the start of container " + c.short_id() + " was interrupted");
      }
    }
    if (!s) {
      ::kill(spawned->pid, SIGKILL);
      ::waitpid(spawned->pid, nullptr, 0);
      (void)runtime::destroy_cgroups(cgroups);
      fail(125, s.error().what());
    }
  }
  // Between starts the database is not needed; close it so a long-lived monitor holds no
  // file of the state root but its log.
  e.close_db();
  report(status_fd, "S " + std::to_string(spawned->pid));
  util::timing_mark("monitor: running recorded");

  JsonLogWriter log(log_fd);
  int sinks[3] = {-1, out_sink, err_sink};
  struct pollfd p[3] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {spawned->pidfd, POLLIN, 0}};
  int open_streams = 2;
  bool exited = false;
  int wstatus = 0;
  char buf[65536];
  while (open_streams > 0 || !exited) {
    // After the first process exits the namespace's other processes are killed by the
    // kernel and the pipes close; the timeout only guards against a descriptor passed on.
    int r = ::poll(p, 3, exited ? 2000 : -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (r == 0) break;
    for (int i = 0; i < 2; ++i) {
      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(p[i].fd, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        ::close(p[i].fd);
        p[i].fd = -1;
        --open_streams;
        continue;
      }
      std::string_view data(buf, static_cast<size_t>(n));
      log.write(i + 1, data);
      if (sinks[i + 1] >= 0 && !util::write_all(sinks[i + 1], data)) {
        ::close(sinks[i + 1]);
        sinks[i + 1] = -1;
      }
    }
    if (!exited && (p[2].revents & POLLIN)) {
      while (::waitpid(spawned->pid, &wstatus, 0) < 0 && errno == EINTR) {
      }
      exited = true;
      p[2].fd = -1;
    }
  }
  if (!exited) {
    while (::waitpid(spawned->pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
  }
  util::timing_mark("monitor: container exited, output drained");
  log.flush();
  ::close(log_fd);
  int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  for (int fd : {out_sink, err_sink}) {
    if (fd >= 0) ::close(fd);
  }
  (void)runtime::destroy_cgroups(cgroups);
  ::rmdir(rootfs.c_str());

  util::timing_mark("monitor: cgroups released");
  if (Status s = e.reopen_db(); s) {
    // With --rm the record goes straight from running to removing (an intent this
    // monitor owns), then away with the container's files.
    bool auto_remove = spec.value("HostConfig", json::object()).value("AutoRemove", false);
    int64_t start = static_cast<int64_t>(util::process_start_time(me));
    Status recorded = exec_update(
        e,
        std::string("UPDATE containers SET state = '") + (auto_remove ? "removing" : "exited") +
            "', exit_code = ?, finished_ns = ?, owner_pid = ?, owner_start = ?, pid = 0, "
            "monitor_pid = 0, monitor_start = 0, runtime = '{}' WHERE id = ? AND state = 'running'",
        {int64_t{code}, util::now_ns(), auto_remove ? int64_t{me} : int64_t{0}, auto_remove ? start : int64_t{0}, id});
    if (recorded && auto_remove && e.db().changes() == 1) (void)containers::destroy(e, id);
  }
  util::timing_mark("monitor: exit recorded (and removed)");
  report(status_fd, "X " + std::to_string(code));
  ::_exit(0);
}

}  // namespace berth::monitor
