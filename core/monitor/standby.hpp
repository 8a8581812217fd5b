#pragma once

// The container monitor's process before it has a container: started before the CLI
// opens its state, it waits on a socket until the CLI hands it a start.
//
// main() spawns it for `run` and `start` before their flags are parsed: this binary
// exec'd (posix_spawn, from a thread: it waits for the exec) as `berth __monitor-standby
// FD`, which loads the
// configuration and lists the plugins itself on the other core while the CLI opens the
// database, resolves the image and makes the record and the snapshot. The CLI then hands
// it what the monitor needs (the container's id and spec, the root mounts, the network
// attachments, the monitor's end of the channel of monitor.hpp) and the monitor starts the
// container at once. Nothing of the CLI's memory is shared: a fork of the CLI, even an
// early one, cost both processes copy-on-write faults (about 2 ms on this path), and a
// late one a reopened database as well. A standby that is never handed (the run failed
// first) sees its socket close and exits; the CLI reaps it.
//
// A process with its state open (`start` of a second container, `restart`, compose), or
// whose spawned standby is gone, forks one, with the database closed around the fork, and
// hands it the same way: there is one path into monitor_main().

#include <sys/types.h>

#include <memory>
#include <string>
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
  // Spawns the standby as a new process of this binary, with the same global flags.
  static Result<Standby> spawn(const std::string& config_path, const std::string& log_level);

  Standby();
  Standby(Standby&& o) noexcept;
  Standby& operator=(Standby&& o) noexcept;
  Standby(const Standby&) = delete;
  Standby& operator=(const Standby&) = delete;
  // One never handed is told to go (its socket closes) and reaped.
  ~Standby();

  // Started and not handed yet.
  bool ready() {
    settle();
    return fd_ >= 0;
  }
  pid_t pid() {
    settle();
    return pid_;
  }

  // Makes the standby the monitor of `c` (owned by `owner`, this process): monitor_main()
  // with these arguments, `chan` and `io` (-1: none) passed over as descriptors, which the
  // caller still closes. On failure the standby is gone (reaped) and the caller may fork
  // another.
  Status hand(const containers::Container& c, pid_t owner, const network::Plan& plan,
              const std::vector<sdk::Mount>& root_mounts, int chan, bool attach, int io);

 private:
  struct Spawning;
  // Waits for spawn()'s thread: then pid_ is the process (or fd_ is closed: none started).
  void settle();
  void reap();
  pid_t pid_ = -1;
  int fd_ = -1;
  std::unique_ptr<Spawning> spawning_;
};

// `berth __monitor-standby FD`, what spawn() runs: the engine's plugins listed, then the
// wait on FD. Returns (an exit code) only if it cannot get that far.
int standby_command(const std::string& config_path, const std::string& log_level, int fd);

}  // namespace berth::monitor
