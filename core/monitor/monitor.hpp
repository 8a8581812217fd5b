#pragma once

// The per-container monitor: a small process that outlives the CLI. It starts the
// container's first process, copies its output into the json-file log (and to the CLI
// that ran it in the foreground), records the exit code, releases the container's cgroups,
// and removes the container when --rm asked for it. It reports to the starting CLI over a
// pipe, one line per event:
//   S <pid>             started
//   E <code> <message>  failed to start (code 125, 126 or 127)
//   X <code>            exited (after the record and any --rm removal are done)
// No daemon is involved: each container has its own monitor.

#include <string>

#include "containers/container.hpp"
#include "engine.hpp"

namespace berth::monitor {

// Runs in the forked monitor process; never returns. `status_fd` is the pipe to the CLI;
// `attach` keeps the CLI's stdout/stderr (fds 1 and 2) as copies of the output.
[[noreturn]] void monitor_main(Engine& e, const containers::Container& c, int status_fd, bool attach);

}  // namespace berth::monitor
