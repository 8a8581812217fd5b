#include "monitor/monitor.hpp"

#include <sys/syscall.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <algorithm>
#include <map>
#include <optional>
#include <vector>

#include "berth/sdk/fs.hpp"
#include "monitor/attach.hpp"
#include "monitor/json_log.hpp"
#include "network/resolver.hpp"
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

// A member of the spec by reference (an empty one of `type` when missing): copies of the
// spec's three parts cost most of a millisecond of allocations and page faults.
const json& part(const json& spec, const char* key, json::value_t type = json::value_t::object) {
  static const json no_object = json::object(), no_array = json::array();
  auto it = spec.find(key);
  if (it != spec.end() && it->type() == type) return *it;
  return type == json::value_t::array ? no_array : no_object;
}

}  // namespace

void monitor_main(Engine& e, const containers::Container& c, const network::Plan& networks,
                  const std::vector<sdk::Mount>& root_mounts, int chan, bool attach, int io) {
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
  // The monitor must not hold any descriptor of the CLI that started it (a test harness
  // reading the CLI's output until EOF would otherwise wait for the container to end).
  util::close_all_except({chan, out_sink, err_sink, io, util::timing_fd()});

  const std::string& id = c.id;
  const pid_t me = ::getpid();
  const pid_t cli = c.owner_pid;
  util::timing_mark("monitor: descriptors closed");
  const json& spec = c.spec;
  const json& config = part(spec, "Config");
  const json& network = part(spec, "Network");
  const json& host_config = part(spec, "HostConfig");
  const auto policy = containers::restart_policy_of(host_config);
  const bool auto_remove = host_config.value("AutoRemove", false);
  const std::string dir = e.container_dir(id);
  const std::string rootfs = dir + "/rootfs";
  const bool tty = config.value("Tty", false);
  const bool open_stdin = config.value("OpenStdin", false);

  // Attached clients (see attach.hpp): the CLI that started us (`io`), then `attach`es.
  struct Client {
    int fd;
    bool input;  // its 'i' frames reach the container's stdin
    attach::FrameReader reader;
    bool starter = false;  // the CLI that started the run (not an `attach`)
  };
  std::vector<Client> clients;
  if (io >= 0) clients.push_back({io, open_stdin, {}, true});
  const std::string sock_path = attach::socket_path(e.config().run_root, id);
  int listener = -1;
  if (fs::make_dirs(sock_path.substr(0, sock_path.rfind('/')), 0700)) {
    listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock_path.c_str());
    ::unlink(sock_path.c_str());
    if (listener >= 0 && (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
                          ::listen(listener, 8) != 0)) {
      ::close(listener);
      listener = -1;
    }
  }
  auto end_monitor = [&](int status) {
    if (listener >= 0) ::unlink(sock_path.c_str());
    ::_exit(status);
  };

  // SIGUSR1 wakes a wait before a restart (stop() sends it); it is taken with sigtimedwait.
  sigset_t wake;
  sigemptyset(&wake);
  sigaddset(&wake, SIGUSR1);
  ::sigprocmask(SIG_BLOCK, &wake, nullptr);

  // The embedded DNS's answers (see the lookup below).
  std::optional<state::Stmt> dns_version;
  int64_t dns_seen = -1;
  std::map<std::string, std::vector<uint32_t>> dns_cache;
  auto open_db = [&]() -> bool { return e.db_open() || static_cast<bool>(e.reopen_db()); };
  // The CLI that started the first run, while it is there (see monitor.hpp).
  bool recorded = false, refused = false, cli_gone = false, exit_done = false;
  int restarts = 0;
  bool first = true;
  int log_fd = -1;

  for (;;) {
    std::vector<std::string> cgroups;
    // Before the first run starts, the start belongs to the CLI: report why it failed and
    // let the CLI give it back (or reconcile(), if the CLI is gone too). A restart that
    // fails ends the container here, with the reason recorded.
    auto fail = [&](int code, const std::string& msg) {
      if (!cgroups.empty()) (void)runtime::destroy_cgroups(cgroups);
      if (first) {
        report(chan, "E " + std::to_string(code) + " " + msg);
      } else if (open_db()) {
        if (auto st = e.db().prepare("UPDATE containers SET state = 'exited', exit_code = ?, error = ?, pid = 0, "
                                     "monitor_pid = 0, monitor_start = 0, runtime = '{}' "
                                     "WHERE id = ? AND state = 'restarting' AND monitor_pid = ?");
            st) {
          st->bind(1, int64_t{code}).bind(2, msg).bind(3, id).bind(4, int64_t{me});
          (void)st->run();
        }
      }
      end_monitor(code);
    };

    // A restart asks the storage driver again (and so opens it in this process).
    Result<std::vector<sdk::Mount>> mounts = root_mounts;
    if (!first) {
      Status opened = e.open_storage();
      mounts = opened ? e.storage().mounts(id) : Result<std::vector<sdk::Mount>>(opened.error());
    }
    if (!mounts) fail(125, mounts.error().what());
    if (Status s = fs::make_dirs(rootfs, 0700); !s) fail(125, s.error().what());
    const std::string log_path = dir + "/" + id + "-json.log";
    if (log_fd < 0 && containers::logs_to_file(host_config)) {
      log_fd = ::open(log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
      if (log_fd < 0) fail(125, std::string("open the container log: ") + std::strerror(errno));
    }
    // The container's stdio: a terminal it makes and sends us (-t), or pipes.
    int out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1}, console[2] = {-1, -1};
    if (tty) {
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, console) != 0) {
        fail(125, std::string("socketpair: ") + std::strerror(errno));
      }
    } else if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 ||
               (open_stdin && ::pipe2(in, O_CLOEXEC) != 0)) {
      fail(125, std::string("pipe: ") + std::strerror(errno));
    }

    runtime::SpawnConfig sc;
    sc.id = id;
    sc.hostname = config.value("Hostname", std::string());
    sc.rootfs = rootfs;
    sc.root_mounts = *mounts;
    sc.new_netns = !network.value("HostNamespace", false);
    for (const auto& m : part(spec, "Mounts", json::value_t::array)) {
      runtime::BindMount b{m.value("Source", ""), m.value("Destination", ""), !m.value("RW", true)};
      if (m.value("Type", "") == "bind") b.propagation = m.value("Propagation", "");
      sc.binds.push_back(b);
    }
    const json& tmpfs = part(host_config, "Tmpfs");
    for (const auto& [dst, opts] : tmpfs.items()) {
      runtime::BindMount t;
      t.destination = dst;
      t.tmpfs = true;
      t.tmpfs_options = opts.is_string() ? opts.get<std::string>() : "";
      sc.binds.push_back(t);
    }
    // The engine's files go last so that they are what the container sees at those paths.
    sc.binds.push_back({dir + "/hostname", "/etc/hostname", false});
    sc.binds.push_back({dir + "/hosts", "/etc/hosts", false});
    sc.binds.push_back({dir + "/resolv.conf", "/etc/resolv.conf", false});
    sc.argv.push_back(spec.value("Path", ""));
    for (const auto& a : containers::json_strings(spec.value("Args", json::array()))) sc.argv.push_back(a);
    sc.env = containers::process_env(config);
    sc.cwd = config.value("WorkingDir", std::string());
    sc.user = config.value("User", std::string());
    sc.cgroups = runtime::plan_cgroups(id);
    sc.limits = containers::resources_of(host_config);
    sc.rlimits = containers::rlimits_of(host_config);
    containers::apply_security(host_config, &sc);
    sc.stdout_fd = out[1];
    sc.stderr_fd = err[1];
    sc.stdin_fd = in[0];
    sc.console_socket = console[1];
    std::unique_ptr<network::Resolver> resolver;
    if (!networks.attachments.empty()) {
      sc.before_start = [&](pid_t child) -> Status {
        BERTH_TRY(network::join(networks.attachments, child));
        if (network::wants_dns(networks.attachments)) {
          auto up = e.config().dns_upstream.empty() ? network::host_nameservers() : e.config().dns_upstream;
          BERTH_ASSIGN(resolver, network::Resolver::start(child, up));
        }
        return {};
      };
    }
    // The embedded DNS answers from the database: names follow what runs now. Every name
    // the container can see is loaded in one query and kept until another berth process
    // commits anything (SQLite's data_version changes), so a query costs one cheap pragma.
    const network::NameLookup lookup = [&](const std::string& name, bool* known) -> std::vector<uint32_t> {
      *known = false;
      if (!open_db()) return {};
      if (!dns_version) {
        auto st = e.db().prepare("PRAGMA data_version");
        if (!st) return {};
        dns_version.emplace(std::move(*st));
      }
      auto row = dns_version->step();
      int64_t version = row && *row ? dns_version->integer(0) : -1;
      dns_version->reset();
      if (version != dns_seen || version < 0) {
        auto all = network::names_for(e, id);
        if (!all) return {};
        dns_cache = std::move(*all);
        dns_seen = version;
      }
      auto hit = dns_cache.find(name);
      if (hit == dns_cache.end()) return {};
      *known = true;
      return hit->second;
    };
    if (networks.share_pid > 0) {
      std::string ns = "/proc/" + std::to_string(networks.share_pid) + "/ns/net";
      sc.new_netns = false;
      sc.join_netns_fd = ::open(ns.c_str(), O_RDONLY | O_CLOEXEC);
      if (sc.join_netns_fd < 0 || !util::process_alive(networks.share_pid, networks.share_start)) {
        fail(125, "cannot join network of a non running container");
      }
    }

    util::timing_mark("monitor: spawning");
    runtime::StartFailure failure;
    auto spawned = runtime::spawn_container(sc, &failure);
    if (spawned) cgroups = spawned->cgroups;
    for (int fd : {out[1], err[1], in[0], console[1], sc.join_netns_fd}) {
      if (fd >= 0) ::close(fd);
    }
    int master = -1;
    if (spawned && tty) {
      master = runtime::recv_console(console[0]);
      if (master < 0) failure = {125, "the container did not send its terminal"};
    }
    if (console[0] >= 0) ::close(console[0]);
    if (spawned && tty && master < 0) {
      ::kill(spawned->pid, SIGKILL);
      ::waitpid(spawned->pid, nullptr, 0);
      ::close(spawned->pidfd);
      if (spawned->mount_ns >= 0) ::close(spawned->mount_ns);
      spawned = make_error(Code::Internal, failure.message);
    }
    if (!spawned) fail(failure.exit_code, failure.message);
    // Closed once the exit is reported: the namespace's teardown then happens here, off the
    // path from the program's exit to the CLI's (see Spawned::mount_ns).
    int mount_ns = spawned->mount_ns;
    auto drop_mount_ns = [&] {
      if (mount_ns >= 0) ::close(mount_ns);
      mount_ns = -1;
    };
    int stdin_w = in[1];
    util::timing_mark("monitor: container exec'd");

    containers::RunFacts facts;
    facts.pid = spawned->pid;
    facts.started_ns = util::now_ns();
    facts.monitor_pid = me;
    facts.monitor_start = util::process_start_time(me);
    facts.runtime = json{{"cgroups", cgroups}}.dump();
    if (first) {
      report(chan, "S " + std::to_string(facts.pid) + " " + std::to_string(facts.started_ns) + " " +
                       std::to_string(facts.monitor_start) + " " + facts.runtime);
    } else {
      // A restart: this monitor owns the record ("restarting") and writes it back to running.
      bool mine = false;
      if (open_db()) {
        if (auto st = e.db().prepare("UPDATE containers SET state = 'running', pid = ?, started_ns = ?, runtime = ?, "
                                     "oom_killed = 0 WHERE id = ? AND state = 'restarting' AND monitor_pid = ?");
            st) {
          st->bind(1, int64_t{facts.pid}).bind(2, facts.started_ns).bind(3, facts.runtime).bind(4, id).bind(5, int64_t{me});
          mine = st->run() && e.db().changes() == 1;
        }
      }
      if (!mine) {
        ::kill(spawned->pid, SIGKILL);
        ::waitpid(spawned->pid, nullptr, 0);
        (void)runtime::destroy_cgroups(cgroups);
        end_monitor(0);
      }
    }

    // The CLI answers R (recorded: the run is ours), K (it could not: kill the container),
    // and after the exit report, D (recorded). When it is gone before answering, this
    // process writes the record itself.
    auto take_over_start = [&] {
      if (recorded || refused || !open_db()) return;
      auto r = containers::record_running(e, id, cli, facts);
      if (r && *r) {
        recorded = true;
        return;
      }
      // The CLI may have recorded it and died before saying so; anything else means a
      // reconcile undid the start meanwhile, and the container must not outlive that.
      auto now = containers::find(e, id);
      if (now && now->running() && now->monitor_pid == me) {
        recorded = true;
      } else {
        refused = true;
        ::kill(spawned->pid, SIGKILL);
      }
    };
    // Waits up to `timeout_ms` (-1: forever) for an answer; false when none came.
    auto read_chan = [&](int timeout_ms) -> bool {
      if (cli_gone) return true;
      struct pollfd w {chan, POLLIN, 0};
      int r;
      do {
        r = ::poll(&w, 1, timeout_ms);
      } while (r < 0 && errno == EINTR);
      if (r == 0) return false;
      char answer[64];
      ssize_t n;
      do {
        n = ::recv(chan, answer, sizeof answer, MSG_DONTWAIT);
      } while (n < 0 && errno == EINTR);
      if (n < 0 && errno == EAGAIN) return true;
      if (n <= 0) {
        cli_gone = true;
        take_over_start();
        return true;
      }
      for (ssize_t i = 0; i < n; ++i) {
        if (answer[i] == 'R') recorded = true;
        if (answer[i] == 'D') exit_done = true;
        if (answer[i] == 'K' && !refused) {
          refused = true;
          ::kill(spawned->pid, SIGKILL);
        }
      }
      return true;
    };

    JsonLogWriter log(log_fd, log_path, containers::log_rotation_of(host_config));
    int sinks[3] = {-1, out_sink, err_sink};
    // Output of stream 1 (stdout; a terminal's output) or 2 to the log, the foreground
    // CLI's descriptors and every attached client.
    auto emit = [&](int stream, std::string_view data) {
      log.write(stream, data);
      if (sinks[stream] >= 0 && !util::write_all(sinks[stream], data)) {
        ::close(sinks[stream]);
        sinks[stream] = -1;
      }
      for (auto& cl : clients) {
        if (cl.fd >= 0 && !attach::send_frame(cl.fd, stream == 1 ? 'o' : 'r', data)) {
          ::close(cl.fd);
          cl.fd = -1;
        }
      }
    };
    auto to_stdin = [&](const std::string& data) {
      int fd = tty ? master : stdin_w;
      if (fd >= 0) (void)util::write_all(fd, data);
    };
    auto client_input = [&](Client& cl) {
      if (!cl.reader.fill(cl.fd)) {
        ::close(cl.fd);
        cl.fd = -1;
      }
      char type = 0;
      std::string payload;
      while (cl.reader.next(&type, &payload)) {
        if (type == 'i' && cl.input) to_stdin(payload);
        if (type == 'e' && cl.input && !tty && stdin_w >= 0) {
          ::close(stdin_w);
          stdin_w = -1;
        }
        if (type == 'w' && tty) {
          auto rc = util::split(payload, ' ');
          struct winsize ws {};
          if (rc.size() == 2) {
            ws.ws_row = static_cast<unsigned short>(std::atoi(rc[0].c_str()));
            ws.ws_col = static_cast<unsigned short>(std::atoi(rc[1].c_str()));
            ::ioctl(master, TIOCSWINSZ, &ws);
          }
        }
      }
    };
    int streams[2] = {tty ? master : out[0], tty ? -1 : err[0]};
    int open_streams = tty ? 1 : 2;
    bool exited = false;
    int wstatus = 0;
    char buf[65536];
    while (open_streams > 0 || !exited) {
      std::vector<struct pollfd> p = {{streams[0], POLLIN, 0},
                                      {streams[1], POLLIN, 0},
                                      {exited ? -1 : spawned->pidfd, POLLIN, 0},
                                      {cli_gone ? -1 : chan, POLLIN, 0},
                                      {listener, POLLIN, 0}};
      for (const auto& cl : clients) p.push_back({cl.fd, POLLIN, 0});
      const size_t dns_at = p.size();
      if (resolver && !exited) resolver->add_poll_fds(&p);
      // After the first process exits the namespace's other processes are killed by the
      // kernel and the pipes close; the timeout only guards against a descriptor passed on.
      int timeout = exited ? 2000 : -1;
      if (resolver && !exited && resolver->next_timeout_ms() >= 0) timeout = resolver->next_timeout_ms();
      int r = ::poll(p.data(), p.size(), timeout);
      if (r < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (r == 0 && exited) break;
      if (resolver && !exited && p.size() > dns_at) resolver->handle(&p[dns_at], p.size() - dns_at, lookup);
      if (r == 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = ::read(p[i].fd, buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) {  // (a terminal whose other end is gone reads EIO)
          if (p[i].fd != master) ::close(p[i].fd);
          streams[i] = -1;
          --open_streams;
          continue;
        }
        emit(i + 1, std::string_view(buf, static_cast<size_t>(n)));
      }
      if (!exited && (p[2].revents & POLLIN)) {
        while (::waitpid(spawned->pid, &wstatus, 0) < 0 && errno == EINTR) {
        }
        exited = true;
      }
      if (p[3].fd >= 0 && (p[3].revents & (POLLIN | POLLHUP | POLLERR))) read_chan(0);
      if (p[4].fd >= 0 && (p[4].revents & POLLIN)) {
        int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) clients.push_back({fd, open_stdin, {}});
      }
      for (size_t k = 5; k < dns_at; ++k) {
        if (p[k].fd < 0 || !(p[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        for (auto& cl : clients) {
          if (cl.fd == p[k].fd) client_input(cl);
        }
      }
      clients.erase(std::remove_if(clients.begin(), clients.end(), [](const Client& cl) { return cl.fd < 0; }),
                    clients.end());
    }
    if (!exited) {
      while (::waitpid(spawned->pid, &wstatus, 0) < 0 && errno == EINTR) {
      }
    }
    for (int fd : {streams[0], streams[1], master, stdin_w}) {
      if (fd >= 0) ::close(fd);
    }
    ::close(spawned->pidfd);
    int64_t finished = util::now_ns();
    util::timing_mark("monitor: container exited, output drained");
    log.flush();
    int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    // Attached clients see the exit code and go (an `attach` ends with it). The CLI that
    // started the run hears it now: it records the exit itself. An `attach` hears it once
    // the exit is recorded, so that what its user runs next (inspect, start) sees it.
    std::vector<int> attached;
    // (By flag, not by descriptor: an `attach` accepted after the starter left may have
    // been given its number.)
    for (auto& cl : clients) {
      if (!cl.starter) {
        attached.push_back(cl.fd);
        continue;
      }
      attach::send_frame(cl.fd, 'x', std::to_string(code));
      ::close(cl.fd);
    }
    clients.clear();
    auto tell_attached = [&] {
      for (int fd : attached) {
        attach::send_frame(fd, 'x', std::to_string(code));
        ::close(fd);
      }
      attached.clear();
    };
    // The foreground CLI shows the first run only (as Docker's attached run).
    for (int* fd : {&out_sink, &err_sink}) {
      if (*fd >= 0) ::close(*fd);
      *fd = -1;
    }
    // A container on networks lets its namespaces go now: its /sys holds the network
    // namespace, whose interfaces (on a bridge, still plugged in) must not outlive the
    // address lease the exit's record gives back.
    if (!networks.attachments.empty()) drop_mount_ns();
    const bool oom = runtime::oom_killed(cgroups);
    // Said in the exit report, so that an --rm removal need not look for them again.
    const bool released = static_cast<bool>(runtime::destroy_cgroups(cgroups));
    // (The rootfs mount point stays, empty, until the container is removed: an rmdir costs
    // up to half a millisecond on some file systems, here between the exit and its report.)
    util::timing_mark("monitor: cgroups released");

    // A program that ends at once can end before the CLI has recorded its start.
    // (A CLI stopped in that instant holds this wait; the CLI's own record needs the answer.)
    while (first && !recorded && !refused && !cli_gone) read_chan(-1);
    if (refused) {
      tell_attached();
      end_monitor(0);  // the start was given back; there is no run to record
    }

    // The restart policy, unless the container was stopped by hand.
    bool restart = false;
    if (policy.name != "no" && policy.restarts_after(code, restarts) && open_db()) {
      auto now = containers::find(e, id);
      restart = now && now->running() && now->monitor_pid == me && !now->manually_stopped;
    }
    if (!restart) {
      if (!cli_gone) {
        report(chan, "X " + std::to_string(code) + " " + std::to_string(finished) + (oom ? " oom" : "") +
                         (released ? " released" : ""));
        // Now, while the CLI records the exit, so that a start that follows (which mounts
        // the same root) is unlikely to find the old one still there. An --rm container
        // never starts again: its namespace goes after the CLI's removal, which would
        // otherwise wait on the unmounts.
        if (!auto_remove) drop_mount_ns();
        // A CLI that does not answer (stopped with ^Z, say) does not hold the record back;
        // when it records later, its update finds the exit written and changes nothing.
        while (!exit_done && !cli_gone) {
          if (!read_chan(5000)) break;
        }
      }
      // (Without a CLI, before the record says exited: a start that follows mounts the
      // same root, and finds the old one gone.)
      drop_mount_ns();
      if (!exit_done && open_db() && (!auto_remove || e.open_storage())) {
        if (auto now = containers::find(e, id); now) (void)containers::record_exit(e, *now, me, code, finished, oom, released);
      }
      util::timing_mark("monitor: exit recorded");
      tell_attached();
      // An --rm container's files went to the trash; the CLI is gone or about to be, and
      // nobody waits for this process any more.
      // The host ends of the veth pairs: the kernel removes them with the dead namespace
      // in its own time; this makes it prompt. Deleting a veth waits for an RCU grace
      // period (about 12 ms here), so it happens after the exit was reported.
      if (!networks.attachments.empty()) network::leave(networks.attachments, 0);
      if (auto_remove && e.open_storage()) (void)containers::sweep(e);
      end_monitor(0);
    }

    // Restart: the CLI of a foreground run ends with this exit code, as Docker's does, and
    // leaves the record to this process.
    tell_attached();  // (an `attach` ends with the run, as Docker's does)
    if (!cli_gone) {
      report(chan, "X " + std::to_string(code) + " " + std::to_string(finished) + " restart");
      ::close(chan);
      cli_gone = true;
    }
    drop_mount_ns();  // (the next run mounts the same root)
    // The next run joins the same endpoints: their interfaces must be gone first.
    if (!networks.attachments.empty()) network::leave(networks.attachments, 0);
    ++restarts;
    {
      auto st = e.db().prepare("UPDATE containers SET state = 'restarting', exit_code = ?, finished_ns = ?, pid = 0, "
                               "oom_killed = ?, restart_count = ? WHERE id = ? AND state = 'running' AND monitor_pid = ?");
      if (!st) end_monitor(0);
      st->bind(1, int64_t{code}).bind(2, finished).bind(3, int64_t{oom ? 1 : 0}).bind(4, int64_t{restarts});
      st->bind(5, id).bind(6, int64_t{me});
      if (!st->run() || e.db().changes() != 1) end_monitor(0);
    }
    // Docker's back-off: 100 ms, doubling per restart, at most a minute; a run that lasted
    // 10 s or more starts the sequence again.
    static int64_t delay_ms = 100;
    if (finished - facts.started_ns >= 10LL * 1000000000) delay_ms = 100;
    struct timespec ts {static_cast<time_t>(delay_ms / 1000), static_cast<long>((delay_ms % 1000) * 1000000)};
    (void)::sigtimedwait(&wake, nullptr, &ts);
    delay_ms = std::min<int64_t>(delay_ms * 2, 60000);
    // stop() may have marked the container meanwhile: then the run ends here.
    auto now = containers::find(e, id);
    if (!now || now->state != "restarting" || now->monitor_pid != me || now->manually_stopped) {
      if (auto st = e.db().prepare("UPDATE containers SET state = 'exited', monitor_pid = 0, monitor_start = 0, "
                                   "runtime = '{}' WHERE id = ? AND state = 'restarting' AND monitor_pid = ?");
          st) {
        st->bind(1, id).bind(2, int64_t{me});
        (void)st->run();
      }
      end_monitor(0);
    }
    first = false;
  }
}

}  // namespace berth::monitor
