#pragma once

// The per-container monitor: a small process that outlives the CLI. It starts the
// container's first process, copies its output into the json-file log (and to the CLI
// that ran it in the foreground), releases the container's cgroups, and sees that the
// exit is recorded. It talks to the starting CLI over a socket pair, one line each:
//   monitor -> CLI   S <pid> <started_ns> <monitor_start> <runtime JSON>   running
//                    E <code> <message>   failed to start (125, 126 or 127)
//                    X <code> <finished_ns> [oom] [restart] [released]   exited
//                        (OOM-killed; restarted by its policy: the record is the
//                        monitor's, no answer; its cgroups are removed)
//   CLI -> monitor   R   the run is recorded        K   it could not be: kill it
//                    D   the exit is recorded (and an --rm container removed)
// The CLI, whose database connection is already open, writes the records while it is
// there; the monitor opens the database only when the CLI is gone (`run -d`, a killed
// CLI), so a foreground `run` costs one connection, not two. No daemon is involved.

#include <string>
#include <vector>

#include "berth/sdk/storage_driver.hpp"

#include "containers/container.hpp"
#include "engine.hpp"
#include "network/networks.hpp"

namespace berth::monitor {

// Runs in the monitor process (a Standby handed a start, standby.hpp); never returns.
// `e` may have no state open: the monitor opens it when it needs the database (the CLI
// gone) or the storage driver (a restart's mounts, the --rm sweep). `chan` is the socket
// to the CLI; `attach` keeps the CLI's stdout/stderr (fds 1 and 2) as copies of the
// output; `io`, when given, is the CLI's attach connection instead (run -i/-t; see
// attach.hpp). `networks` are the endpoints the CLI leased: joined to each run's namespace
// before its program runs, and left when it ends (a restart keeps them and joins again).
// `root_mounts` are the container's root file system for the first run, as the storage
// driver gave them to the CLI.
[[noreturn]] void monitor_main(Engine& e, const containers::Container& c,
                               const network::Plan& networks,
                               const std::vector<sdk::Mount>& root_mounts, int chan, bool attach,
                               int io = -1);

}  // namespace berth::monitor
