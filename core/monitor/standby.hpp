#pragma once

// The container monitor's process before it has a container: forked while the CLI is
// still small, it waits on a socket until the CLI hands it a start.
//
// `run` forks it right after the plugins are listed, before the state database opens:
// a fork of a process that has touched little is cheap, the copy-on-write faults that
// follow are few, and no SQLite connection crosses the fork. The CLI then makes the
// record and the snapshot while the standby sits idle on the other core, and hands it
// what the monitor needs (the container's id and spec, the root mounts, the network
// attachments, the CLI's end of the channel of monitor.hpp): the monitor starts the
// container at once, instead of after a fork of a CLI grown by SQLite's caches and the
// plugins. A standby that is never handed (the run failed first) sees its socket close
// and exits; the CLI reaps it.
//
// A process with its state open (`start` of a second container, `restart`, compose)
// forks one late, with the database closed around the fork, and hands it the same way:
// there is one path into monitor_main().

#include <sys/types.h>

#include <vector>

#include "berth/sdk/result.hpp"
#include "berth/sdk/storage_driver.hpp"
#include "containers/container.hpp"
#include "engine.hpp"
#include "network/networks.hpp"

namespace berth::monitor {

class Standby {
 public:
  // Forks the standby. `e` must have no database open; the standby keeps its copy of it
  // and opens the state only when the monitor needs it (see monitor.hpp).
  static Result<Standby> fork(Engine& e);

  Standby() = default;
  Standby(Standby&& o) noexcept;
  Standby& operator=(Standby&& o) noexcept;
  Standby(const Standby&) = delete;
  Standby& operator=(const Standby&) = delete;
  // One never handed is told to go (its socket closes) and reaped.
  ~Standby();

  // Forked and not handed yet.
  bool ready() const { return fd_ >= 0; }
  pid_t pid() const { return pid_; }

  // Makes the standby the monitor of `c` (owned by `owner`, this process): monitor_main()
  // with these arguments, `chan` and `io` (-1: none) passed over as descriptors, which the
  // caller still closes. On failure the standby is gone (reaped) and the caller may fork
  // another.
  Status hand(const containers::Container& c, pid_t owner, const network::Plan& plan,
              const std::vector<sdk::Mount>& root_mounts, int chan, bool attach, int io);

 private:
  void reap();
  pid_t pid_ = -1;
  int fd_ = -1;
};

}  // namespace berth::monitor
