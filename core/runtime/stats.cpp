#include "runtime/stats.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "berth/sdk/fs.hpp"
#include "util/util.hpp"

namespace berth::runtime {

namespace fs = sdk::fs;

namespace {

bool read_number(const std::string& path, int64_t* out) {
  auto text = fs::read_file(path);
  if (!text) return false;
  std::string v = util::trim(*text);
  if (v == "max") {
    *out = -1;
    return true;
  }
  if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) return false;
  *out = std::atoll(v.c_str());
  return true;
}

// "key value" lines (memory.stat, cpu.stat).
int64_t stat_value(const std::string& path, const std::string& key) {
  auto text = fs::read_file(path);
  if (!text) return 0;
  for (const auto& line : util::split(*text, '\n')) {
    if (util::starts_with(line, key + " ")) return std::atoll(line.c_str() + key.size() + 1);
  }
  return 0;
}

int64_t host_memory() {
  long pages = ::sysconf(_SC_PHYS_PAGES);
  long size = ::sysconf(_SC_PAGESIZE);
  return static_cast<int64_t>(pages) * size;
}

}  // namespace

CgroupSample sample_cgroups(const std::vector<std::string>& dirs) {
  CgroupSample s;
  s.mem_limit = host_memory();
  for (const auto& d : dirs) {
    int64_t v = 0;
    // CPU: v1 cpuacct.usage (ns), v2 cpu.stat usage_usec.
    if (read_number(d + "/cpuacct.usage", &v)) s.cpu_ns = static_cast<uint64_t>(v);
    if (fs::exists(d + "/cpu.stat") && fs::exists(d + "/cgroup.controllers")) {
      s.cpu_ns = static_cast<uint64_t>(stat_value(d + "/cpu.stat", "usage_usec")) * 1000;
    }
    // Memory: Docker shows usage less the inactive file cache.
    if (read_number(d + "/memory.usage_in_bytes", &v)) {
      s.mem_usage = std::max<int64_t>(0, v - stat_value(d + "/memory.stat", "total_inactive_file"));
      int64_t limit = 0;
      if (read_number(d + "/memory.limit_in_bytes", &limit) && limit > 0 && limit < s.mem_limit) s.mem_limit = limit;
    } else if (read_number(d + "/memory.current", &v)) {
      s.mem_usage = std::max<int64_t>(0, v - stat_value(d + "/memory.stat", "inactive_file"));
      int64_t limit = 0;
      if (read_number(d + "/memory.max", &limit) && limit > 0 && limit < s.mem_limit) s.mem_limit = limit;
    }
    // Block I/O: v1 blkio.throttle.io_service_bytes ("<dev> Read N"), v2 io.stat.
    if (auto text = fs::read_file(d + "/blkio.throttle.io_service_bytes"); text) {
      for (const auto& line : util::split(*text, '\n')) {
        std::istringstream in(line);
        std::string dev, op;
        uint64_t n = 0;
        if (!(in >> dev >> op >> n)) continue;
        if (op == "Read") s.blk_read += n;
        if (op == "Write") s.blk_write += n;
      }
    }
    if (auto text = fs::read_file(d + "/io.stat"); text) {
      for (const auto& line : util::split(*text, '\n')) {
        for (const auto& field : util::split(line, ' ')) {
          if (util::starts_with(field, "rbytes=")) s.blk_read += std::strtoull(field.c_str() + 7, nullptr, 10);
          if (util::starts_with(field, "wbytes=")) s.blk_write += std::strtoull(field.c_str() + 7, nullptr, 10);
        }
      }
    }
    if (read_number(d + "/pids.current", &v)) s.pids = v;
  }
  return s;
}

uint64_t host_cpu_ns() {
  auto text = fs::read_file("/proc/stat");
  if (!text) return 0;
  std::istringstream in(text->substr(0, text->find('\n')));
  std::string cpu;
  in >> cpu;
  uint64_t total = 0, v = 0;
  while (in >> v) total += v;
  long hz = ::sysconf(_SC_CLK_TCK);
  return total * (1000000000ULL / static_cast<uint64_t>(hz > 0 ? hz : 100));
}

NetSample sample_net(pid_t pid) {
  NetSample s;
  auto text = fs::read_file("/proc/" + std::to_string(pid) + "/net/dev");
  if (!text) return s;
  for (const auto& line : util::split(*text, '\n')) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = util::trim(line.substr(0, colon));
    if (name == "lo") continue;
    std::istringstream in(line.substr(colon + 1));
    uint64_t f[16] = {};
    for (auto& x : f) in >> x;
    s.rx += f[0];
    s.tx += f[8];
  }
  return s;
}

std::vector<pid_t> cgroup_pids(const std::vector<std::string>& dirs) {
  std::vector<pid_t> out;
  for (const auto& d : dirs) {
    auto text = fs::read_file(d + "/cgroup.procs");
    if (!text) continue;
    for (const auto& line : util::split(*text, '\n')) {
      if (!line.empty()) out.push_back(static_cast<pid_t>(std::atoi(line.c_str())));
    }
    if (!out.empty()) break;  // every hierarchy holds the same processes
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace berth::runtime
