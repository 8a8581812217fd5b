#pragma once

// Per-container cgroups on whatever this host mounts: pure v1, pure v2, or hybrid (v1
// controllers plus a v2 mount, as systemd's "hybrid" layout and this project's CI host).
// Each container gets <hierarchy>/<cgroup of the creating process>/berth/<id> in every
// mounted hierarchy, so it stays inside whatever limits the caller itself runs under.

#include <sys/types.h>

#include <string>
#include <vector>

#include "berth/sdk/result.hpp"

namespace berth::runtime {

struct Hierarchy {
  std::string mount_point;  // /sys/fs/cgroup/memory, /sys/fs/cgroup/unified
  std::string own_path;     // this process's cgroup inside it, e.g. /process_api/5ea1...
  bool v2 = false;
  std::vector<std::string> controllers;  // v1: from mount options ("memory"); v2: cgroup.controllers
};

// The hierarchies mounted on this host, from /proc/self/mountinfo and /proc/self/cgroup.
std::vector<Hierarchy> discover_hierarchies();
// "cgroupfs v1", "cgroupfs v2", "cgroupfs hybrid (v1 controllers, v2 mount)" or "none".
std::string describe_layout(const std::vector<Hierarchy>& hs);

// A container's resource limits (Docker's HostConfig fields); 0 means "not set".
struct Resources {
  int64_t memory = 0;        // bytes
  int64_t memory_swap = 0;   // memory + swap in bytes; -1 unlimited; 0: twice `memory`
  int64_t nano_cpus = 0;     // CPUs x 1e9 (--cpus)
  int64_t cpu_shares = 0;    // relative weight, v1 cpu.shares (v2 cpu.weight derived)
  std::string cpuset_cpus;   // "0-1,3"
  int64_t pids_limit = 0;    // > 0: a limit; -1 or 0: none
  // Device access (the v1 devices controller): Docker's default allow-list, plus these
  // "c 1:11 rwm" rules (--device); every device with `all_devices` (--privileged).
  std::vector<std::string> device_rules;
  bool all_devices = false;
};

// What a host whose mounted hierarchies lack a controller does with a limit that needs it,
// as dockerd's verifyPlatformContainerResources: the limit is dropped from `r` and a
// warning in Docker's words is returned for each (memory, CPU shares, cpuset, pids); --cpus,
// which Docker refuses there, is an error naming the missing controller. Without limits
// it reads nothing (the mount table is read only when one is set).
Result<std::vector<std::string>> discard_unenforceable(Resources& r);

// One hierarchy's group for a container.
struct CgroupDir {
  Hierarchy hierarchy;
  std::string dir;  // <mount point><own path>/berth/<id>
};
// Where a container's groups go, in every hierarchy this process sees.
std::vector<CgroupDir> plan_cgroups(const std::string& container_id);
// Makes the planned groups of one version (the v2 group, or the v1 ones), with `limits`
// written into the controllers each hierarchy has; returns the directories made. On
// error (a limit the kernel refuses, say) removes what it made, and the error names the
// file. (Two calls because a container is born in its v2 group, made before the clone,
// and moves itself into its v1 groups, made after it: see spawn_container.)
Result<std::vector<std::string>> create_cgroups(const std::vector<CgroupDir>& plan, bool v2, const Resources& limits);
// Writes `limits` into an existing cgroup directory `dir` of hierarchy `h`, in the files
// its version and controllers have (create_cgroups() does this for each one it makes).
Status write_limits(const Hierarchy& h, const std::string& dir, const Resources& limits);
// Whether the kernel's OOM killer killed a process in these cgroups (v1
// memory.oom_control's oom_kill, v2 memory.events's oom_kill).
bool oom_killed(const std::vector<std::string>& dirs);
// Where create_cgroups() puts a container's cgroups when called from this process.
std::vector<std::string> cgroup_dirs_for(const std::string& container_id);
// Moves the calling thread, which must be its process's only one, into the v1 group whose
// `tasks` file is open as `tasks_fd` ("0": itself). A thread that moves itself is spared
// the kernel's global cgroup_threadgroup_rwsem, whose first writer waits out an RCU grace
// period (7 ms on this HZ=250 host, up to 20); v2 has no tasks file, and its groups are
// entered at birth instead (CLONE_INTO_CGROUP). The descriptor outlives a change of mount
// namespace, which is why callers open it first.
bool join_self(int tasks_fd);
// Removes the directories (retrying briefly while the last processes exit). Tries all.
Status destroy_cgroups(const std::vector<std::string>& dirs);

}  // namespace berth::runtime
