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

#include "containers/container.hpp"
#include "engine.hpp"
#include "network/networks.hpp"

namespace berth::monitor {

// Runs in the forked monitor process; never returns. `chan` is the socket to the CLI;
// `attach` keeps the CLI's stdout/stderr (fds 1 and 2) as copies of the output; `io`, when
// given, is the CLI's attach connection instead (run -i/-t; see attach.hpp). `networks` are
// the endpoints the CLI leased: joined to each run's namespace before its program runs,
// and left when it ends (a restart keeps them and joins again).
[[noreturn]] void monitor_main(Engine& e, const containers::Container& c,
                               const network::Plan& networks, int chan, bool attach,
                               int io = -1);

}  // namespace berth::monitor
