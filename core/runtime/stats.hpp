#pragma once

// What `stats` and `top` read about a running container: its cgroups' counters (v1 or v2
// files, whichever the hierarchy has), its network namespace's interface counters, and
// the processes in its cgroups.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace berth::runtime {

struct CgroupSample {
  uint64_t cpu_ns = 0;        // CPU time used, all processes, since the cgroup was made
  int64_t mem_usage = 0;      // bytes, without the inactive page cache (as Docker shows)
  int64_t mem_limit = 0;      // bytes; the host's memory when unlimited
  uint64_t blk_read = 0;      // bytes
  uint64_t blk_write = 0;
  int64_t pids = 0;
};

CgroupSample sample_cgroups(const std::vector<std::string>& dirs);
// Nanoseconds of CPU time the host has spent (all CPUs, all states), from /proc/stat.
uint64_t host_cpu_ns();
// Received and sent bytes of every interface but lo in the network namespace of `pid`.
struct NetSample {
  uint64_t rx = 0;
  uint64_t tx = 0;
};
NetSample sample_net(pid_t pid);
// The processes in the cgroups (host pids), sorted.
std::vector<pid_t> cgroup_pids(const std::vector<std::string>& dirs);

}  // namespace berth::runtime
