// Observing running containers: top (the host's ps, narrowed to the container's
// processes) and stats (CPU, memory, network, block I/O and pids from its cgroups).

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>

#include "cli/cli.hpp"
#include "cli/template.hpp"
#include "containers/container.hpp"
#include "runtime/stats.hpp"
#include "util/util.hpp"

namespace berth::cli {

namespace {

// Runs a program and returns its stdout (stderr passes through), or an error.
Result<std::string> capture(const std::vector<std::string>& argv, int* status) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return sys_error("pipe");
  pid_t pid = ::fork();
  if (pid < 0) return sys_error("fork");
  if (pid == 0) {
    ::dup2(out[1], 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(out[1]);
  std::string text;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) text.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  ::waitpid(pid, status, 0);
  return text;
}

// Docker's units: BytesSize (binary, for memory) and HumanSize (decimal), 4 significant digits.
std::string units(double v, bool binary) {
  static const char* kBin[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  static const char* kDec[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  double base = binary ? 1024 : 1000;
  int i = 0;
  while (v >= base && i < 5) {
    v /= base;
    ++i;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g%s", v, binary ? kBin[i] : kDec[i]);
  return buf;
}

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", std::isfinite(v) ? v : 0.0);
  return buf;
}

}  // namespace

// Docker's top: `ps` on the host with the user's options (default -ef), narrowed to the
// processes of the container's cgroups.
int cmd_top(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"top", "CONTAINER [ps OPTIONS]", "Display the running processes of a container", 1, SIZE_MAX, false};
  auto p = parse_flags(spec, po::options_description("Options"), args);
  if (p.help) return 0;
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  auto c = find_running_container(*e, p.args[0]);
  if (!c) return kExitError;
  auto pids = runtime::cgroup_pids(containers::json_strings(c->runtime.value("cgroups", nlohmann::json::array())));
  std::vector<std::string> argv = {"ps"};
  if (p.args.size() > 1) argv.insert(argv.end(), p.args.begin() + 1, p.args.end());
  else argv.push_back("-ef");
  int status = 0;
  auto out = capture(argv, &status);
  if (!out || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    print_error("ps: " + (out ? std::string("exit status ") + std::to_string(WEXITSTATUS(status)) : out.error().message));
    return kExitError;
  }
  auto lines = util::split(*out, '\n');
  if (lines.empty()) return kExitError;
  auto header = util::split_ws(lines[0]);
  auto pid_col = std::find(header.begin(), header.end(), "PID");
  if (pid_col == header.end()) {
    print_error("Couldn't find PID field in ps output");
    return kExitError;
  }
  size_t col = static_cast<size_t>(pid_col - header.begin());
  std::set<pid_t> mine(pids.begin(), pids.end());
  Table t;
  t.row(header);
  for (size_t i = 1; i < lines.size(); ++i) {
    auto fields = util::split_ws(lines[i]);
    if (fields.size() <= col || mine.count(std::atoi(fields[col].c_str())) == 0) continue;
    // The last column (the command) keeps its spaces.
    if (fields.size() > header.size()) {
      std::vector<std::string> cut(fields.begin(), fields.begin() + static_cast<long>(header.size()) - 1);
      std::string rest;
      for (size_t k = header.size() - 1; k < fields.size(); ++k) rest += (rest.empty() ? "" : " ") + fields[k];
      cut.push_back(rest);
      fields = cut;
    }
    t.row(fields);
  }
  std::cout << t.str();
  return 0;
}

int cmd_stats(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"stats", "[OPTIONS] [CONTAINER...]", "Display a live stream of container(s) resource usage statistics"};
  po::options_description d("Options");
  d.add_options()("all,a", po::bool_switch(), "Show all containers (default shows just running)")
      ("format", po::value<std::string>(), "Format output using a custom template")
      ("no-stream", po::bool_switch(), "Disable streaming stats and only pull the first result")
      ("no-trunc", po::bool_switch(), "Do not truncate output");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  bool all = p.vm["all"].as<bool>();
  bool stream = !p.vm["no-stream"].as<bool>();
  bool no_trunc = p.vm["no-trunc"].as<bool>();
  std::string format = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
  if (p.vm.count("format") && p.vm["format"].as<std::string>() != "table") format = p.vm["format"].as<std::string>();
  auto cf = tmpl::cli_format(format);
  auto tpl = tmpl::Template::parse(cf.body);
  if (!tpl) {
    std::cerr << "template parsing error: " << tpl.error().message << "\n";
    return kExitError;
  }
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  (void)containers::reconcile(*e);
  std::vector<containers::Container> targets;
  if (!p.args.empty()) {
    for (const auto& ref : p.args) {
      auto c = containers::find(*e, ref);
      if (!c) {
        print_error(c.error());
        return kExitError;
      }
      targets.push_back(*c);
    }
  } else {
    auto list = containers::list_all(*e);
    if (!list) {
      print_error(list.error());
      return kExitError;
    }
    for (const auto& c : *list) {
      if (all || c.running()) targets.push_back(c);
    }
  }
  static const nlohmann::ordered_json kHeaders = {
      {"Container", "CONTAINER"}, {"ID", "CONTAINER ID"}, {"Name", "NAME"},   {"CPUPerc", "CPU %"},
      {"MemUsage", "MEM USAGE / LIMIT"}, {"MemPerc", "MEM %"}, {"NetIO", "NET I/O"}, {"BlockIO", "BLOCK I/O"},
      {"PIDs", "PIDS"}};
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  struct Prev {
    uint64_t cpu = 0;
    uint64_t host = 0;
  };
  std::map<std::string, Prev> prev;
  auto sample_all = [&](bool show) -> std::string {
    std::string out;
    if (cf.table) out += *tpl->execute(kHeaders) + "\n";
    uint64_t host = runtime::host_cpu_ns();
    for (const auto& c : targets) {
      auto now = containers::find(*e, c.id);
      bool running = now && now->running();
      auto dirs = running ? containers::json_strings(now->runtime.value("cgroups", nlohmann::json::array()))
                          : std::vector<std::string>{};
      runtime::CgroupSample s = running ? runtime::sample_cgroups(dirs) : runtime::CgroupSample{};
      runtime::NetSample net = running ? runtime::sample_net(now->pid) : runtime::NetSample{};
      // Docker's CPU %: the container's share of the host's CPU time since the last
      // sample, times the number of CPUs.
      double cpu = 0;
      auto& pv = prev[c.id];
      if (pv.host != 0 && host > pv.host && s.cpu_ns >= pv.cpu) {
        cpu = static_cast<double>(s.cpu_ns - pv.cpu) / static_cast<double>(host - pv.host) * static_cast<double>(cpus) * 100.0;
      }
      pv = {s.cpu_ns, host};
      double mem_pct = s.mem_limit > 0 ? 100.0 * static_cast<double>(s.mem_usage) / static_cast<double>(s.mem_limit) : 0;
      nlohmann::ordered_json row = {
          {"Container", no_trunc ? c.id : c.short_id()},
          {"ID", no_trunc ? c.id : c.short_id()},
          {"Name", c.name},
          {"CPUPerc", running ? percent(cpu) : "--"},
          {"MemUsage", running ? units(static_cast<double>(s.mem_usage), true) + " / " +
                                     units(static_cast<double>(s.mem_limit), true)
                               : "-- / --"},
          {"MemPerc", running ? percent(mem_pct) : "--"},
          {"NetIO", running ? units(static_cast<double>(net.rx), false) + " / " + units(static_cast<double>(net.tx), false)
                            : "--"},
          {"BlockIO", running ? units(static_cast<double>(s.blk_read), false) + " / " +
                                    units(static_cast<double>(s.blk_write), false)
                              : "--"},
          {"PIDs", running ? std::to_string(s.pids) : "--"}};
      auto line = tpl->execute(row);
      if (line) out += *line + "\n";
    }
    if (!show) return "";
    return cf.table ? tmpl::tabwrite(out) : out;
  };
  // CPU % needs two samples: the first is only the baseline.
  (void)sample_all(false);
  struct timespec gap {0, 250 * 1000 * 1000};
  ::nanosleep(&gap, nullptr);
  if (!stream) {
    std::cout << sample_all(true);
    return 0;
  }
  for (;;) {
    // Docker redraws the screen each second.
    std::cout << "\033[2J\033[H" << sample_all(true) << std::flush;
    struct timespec second {1, 0};
    ::nanosleep(&second, nullptr);
  }
}

}  // namespace berth::cli
