#pragma once

// Starting a container's first process: new mount, UTS, IPC, PID, cgroup and (unless the
// container uses the host's) network namespaces; the storage driver's mounts as the root;
// /proc, a minimal /dev, read-only /sys, bind mounts; pivot_root; hostname; user, working
// directory and environment; then execve. The child waits until the parent has put it in
// its cgroups, and reports any failure before exec on a pipe, so the caller can tell "not
// found" (127) from "not executable" (126) from an engine error (125).

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "berth/sdk/result.hpp"
#include "berth/sdk/storage_driver.hpp"
#include "runtime/cgroups.hpp"

namespace berth::runtime {

struct BindMount {
  std::string source;       // host path
  std::string destination;  // absolute path in the container
  bool readonly = false;
  bool tmpfs = false;       // --tmpfs: a new tmpfs at destination instead of a bind
  std::string tmpfs_options;  // its mount(8) options: "size=64m,mode=1777,noexec"
  // Binds: how mounts under it travel between host and container: "" or (r)private none,
  // (r)slave host -> container, (r)shared both ways (the source must be a shared mount).
  std::string propagation;
};

// --ulimit name=soft[:hard]; resource is RLIMIT_* (validated by the caller).
struct Rlimit {
  int resource = 0;
  uint64_t soft = 0;
  uint64_t hard = 0;
};

// --device HOST[:CONTAINER[:PERMISSIONS]]: a character or block device node made in the
// container's /dev with the host node's type and numbers.
struct Device {
  std::string host;
  std::string container;
};

// Docker's default capabilities for a container's processes.
const std::vector<std::string>& default_capabilities();
// The capability number of "CAP_NET_ADMIN", "NET_ADMIN" or "net_admin"; -1 if unknown.
int capability_number(const std::string& name);

struct SpawnConfig {
  std::string id;
  std::string hostname;
  std::string rootfs;                     // an empty host directory to mount the root on
  std::vector<sdk::Mount> root_mounts;    // from the storage driver
  std::vector<BindMount> binds;           // -v, and the engine's hosts/hostname/resolv.conf
  bool new_netns = true;                  // false: the host's network namespace
  int join_netns_fd = -1;                 // with new_netns false: this namespace instead
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string cwd = "/";
  std::string user;                       // "", "uid[:gid]" or "name[:group]"
  // The container's cgroups (empty: none) and their limits, made by spawn_container: the
  // v2 group before the clone, so that the child is born in it (CLONE_INTO_CGROUP); the
  // v1 groups right after it, in the parent on one core while the child mounts its root
  // on the other, and the child moves itself into them (see join_self: no process is
  // ever moved by another, which would cost an RCU grace period, 7-20 ms here).
  std::vector<CgroupDir> cgroups;
  Resources limits;
  std::vector<Rlimit> rlimits;            // set before exec (never above the current hard limit)
  std::vector<int> capabilities;          // kept in the bounding set (and, for root, effective)
  bool privileged = false;                // every capability, /sys and /proc writable, all devices
  bool readonly_rootfs = false;           // --read-only
  int64_t shm_size = 64 * 1024 * 1024;    // /dev/shm
  std::vector<std::pair<std::string, std::string>> sysctls;  // net.ipv4.ip_forward=1 ...
  std::vector<Device> devices;
  bool init = false;                      // --init: PID 1 reaps orphans, forwards signals
  // -t: the child opens a pseudo-terminal in the container's own devpts, makes it its
  // controlling terminal and stdio, and sends the master end over this socket
  // (SCM_RIGHTS; receive it with recv_console()). -1: no terminal.
  int console_socket = -1;
  int stdin_fd = -1;                      // -1: /dev/null
  int stdout_fd = -1;
  int stderr_fd = -1;
  // Called in the parent once the child exists in its namespaces, its cgroups made, before it
  // goes on to exec: network drivers join its network namespace here. An error kills the
  // child and fails the start (125).
  std::function<Status(pid_t)> before_start;
};

struct StartFailure {
  int exit_code = 125;  // 125 engine error, 126 not executable, 127 not found
  std::string message;
};

struct Spawned {
  pid_t pid = 0;
  int pidfd = -1;  // readable when the process exits
  // The container's mount namespace, held so that its teardown (every mount unmounted,
  // an RCU grace period: about a millisecond here, sometimes five) is not part of the
  // process's exit: the caller closes it once the exit has been reported. -1 if it could
  // not be opened (then the exit pays for it, nothing else changes).
  int mount_ns = -1;
  std::vector<std::string> cgroups;  // the groups made, the caller's to remove
};

// Returns the running process, or a StartFailure (in `failure`) with an error.
Result<Spawned> spawn_container(const SpawnConfig& cfg, StartFailure* failure);
// The pseudo-terminal master a child sent on `console_socket`; -1 if none came.
int recv_console(int sock);

// A process started inside a running container (`exec`).
struct ExecConfig {
  pid_t target = 0;                       // the container's first process
  std::vector<std::string> cgroup_dirs;   // the container's cgroups
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string cwd = "/";
  std::string user;
  std::vector<Rlimit> rlimits;  // the container's --ulimit, as its first process has them
  std::vector<int> capabilities;  // the container's
  bool privileged = false;
  int console_socket = -1;      // -t, as in SpawnConfig
  int stdin_fd = -1;  // -1: /dev/null
  int stdout_fd = 1;  // -1: /dev/null (both)
  int stderr_fd = 2;
  // exec -d: the program's parent is a reaper forked for it, not the caller, which gets
  // neither its exit status nor a pidfd (Spawned::pidfd is -1).
  bool detached = false;
};

// Joins every namespace of `target` (IPC, UTS, network, cgroup, PID, mount) and its
// cgroups, then execs. The process is the caller's child (an intermediate child enters the
// namespaces and clones it with CLONE_PARENT, as a process cannot enter a PID namespace
// itself). Returns it once exec has happened, or a StartFailure: 126 when the program
// cannot be run (Docker's exec code), 125 for an engine error.
Result<Spawned> exec_in_container(const ExecConfig& cfg, StartFailure* failure);

// For a forked helper: a private mount namespace of its own with `mounts` applied at
// `dir` (they vanish with the process; nothing reaches the host). "" or why not.
std::string mount_privately(const std::vector<sdk::Mount>& mounts, const std::string& dir);

}  // namespace berth::runtime
