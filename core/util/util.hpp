#pragma once

// Small helpers the engine uses everywhere: ids, digests, time, strings, processes.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "berth/sdk/result.hpp"

namespace berth::util {

// 64 lowercase hex characters from the kernel's random source.
std::string random_hex(size_t bytes = 32);
// "sha256:<hex>" of data.
std::string sha256_digest(std::string_view data);

// Incremental SHA-256.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t size);
  std::string hex();  // finishes; call once

 private:
  void* ctx_;
};

int64_t now_ns();
// "2026-11-22T13:45:42.123456789Z"
std::string rfc3339_nano(int64_t ns);
// Docker's go-units HumanDuration: "Less than a second", "About a minute", "3 hours", ...
std::string human_duration(int64_t seconds);
// go-units HumanSizeWithPrecision(size, 3): "4.26MB", "512B", "1.2GB"
std::string human_size(int64_t bytes);
// Fields separated by runs of blanks (as awk splits).
std::vector<std::string> split_ws(const std::string& s);
std::string to_upper(std::string s);
std::string to_lower(std::string s);
// Docker's RAMInBytes: "512", "32m", "1.5g", "64MiB", "100kb" (binary units); -1 if invalid.
int64_t parse_ram_bytes(const std::string& s);
// Go's time.ParseDuration: "300ms", "1.5h", "2h45m", "-10s"; nanoseconds.
Result<int64_t> parse_go_duration(const std::string& s);
// A point in time as Docker's --since/--until/--filter until= take it: a Go duration
// (that long before `now_ns`), Unix seconds ("1700000000.5"), or RFC 3339 ("2024-01-02",
// "2024-01-02T15:04:05Z", "...+01:00"). Nanoseconds since the epoch.
Result<int64_t> parse_time_point(const std::string& s, int64_t now_ns);

std::vector<std::string> split(std::string_view s, char sep);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
bool starts_with(std::string_view s, std::string_view prefix);
std::string trim(std::string_view s);

// The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), 0 if
// the process does not exist. With the pid it identifies a process across pid reuse.
uint64_t process_start_time(pid_t pid);
bool process_alive(pid_t pid, uint64_t start_time);
// The parent of `pid` (0 if it is gone).
pid_t parent_pid(pid_t pid);

// The directory holding the running executable.
std::string exe_dir();
// main() hands over its argv so that a forked process can show another command line:
// set_command_line() rewrites the argv area in place (no longer than it was), which is
// what /proc/<pid>/cmdline and ps show.
void remember_argv(int argc, char** argv);
void set_command_line(const std::string& text);

// Write all of buf, retrying on EINTR and short writes.
bool write_all(int fd, std::string_view buf);
// Closes every descriptor from 3 up but those in `keep` (-1s ignored), with close_range()
// around them: listing /proc/self/fd costs a millisecond.
void close_all_except(std::vector<int> keep);

// A forked helper that reports failure as text: the child runs `work` and exits (0 when
// it returned ""; else the text goes back on a pipe); the parent runs `after_fork` (start
// threads only there: a fork while another thread holds a lock leaves the child stuck on
// it), then reaps the child. The value is the child's text ("" for success; a child that
// died without a word gives "helper process failed"); an error only if it could not fork.
Result<std::string> run_forked(const std::function<std::string()>& work, const std::function<void()>& after_fork = {});

}  // namespace berth::util

namespace berth::util {
// Where the time goes: with BERTH_TIMING=<file>, every process of a command appends
// "<pid> <monotonic ns> <phase> [<minor page faults so far> faults]" lines to that file
// (see bench/README.md). Costs one getenv per process when unset.
// The descriptor the marks go to (-1 when BERTH_TIMING is unset); kept open across forks.
int timing_fd();
void timing_mark(const char* phase);
}  // namespace berth::util
