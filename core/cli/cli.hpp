#pragma once

// The `berth` command line: Docker's verbs, flags, output shapes and exit codes. Each
// command is a function from its arguments to an exit code; they share the engine (opened
// on first use), the flag parser and the table writer here.

#include <boost/program_options.hpp>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "berth/sdk/result.hpp"
#include "containers/container.hpp"
#include "engine.hpp"
#include "images/image_store.hpp"
#include "monitor/standby.hpp"

namespace berth::cli {

namespace po = boost::program_options;

// Exit codes, as Docker's CLI uses them.
inline constexpr int kExitError = 1;         // a command that failed
inline constexpr int kExitEngine = 125;      // flag errors; engine errors of run/create
inline constexpr int kExitNotExec = 126;
inline constexpr int kExitNotFound = 127;

struct Globals {
  std::string config_path;  // --config
  std::string log_level;    // --log-level / -D
};

class Cli {
 public:
  explicit Cli(Globals g) : globals_(std::move(g)) {}
  // Opens the engine on first use. A failure (a refused plugin, a bad config) has been
  // printed when this returns nullptr; the command then exits 125.
  Engine* engine();
  // The container monitor's standby for run and start (monitor/standby.hpp): main()
  // spawns it before the command parses its flags, the command takes it (an empty one if
  // none could be spawned: start() then forks one), and main() reaps one left untaken.
  void spawn_standby();
  monitor::Standby take_standby() { return std::move(standby_); }
  void drop_standby() { standby_ = monitor::Standby(); }
  const Globals& globals() const { return globals_; }

 private:
  Globals globals_;
  std::unique_ptr<sdk::Logger> logger_;
  std::unique_ptr<Engine> engine_;
  monitor::Standby standby_;
};

// Thrown by commands for a usage error; main prints it with the "See 'berth X --help'" line.
struct UsageError {
  std::string message;
  int exit_code = kExitEngine;
};

struct Parsed {
  po::variables_map vm;
  std::vector<std::string> args;  // positional arguments
  bool help = false;
};

struct CommandSpec {
  std::string name;   // "run", "image inspect"
  std::string usage;  // "[OPTIONS] IMAGE [COMMAND] [ARG...]"
  std::string summary;
  size_t min_args = 0;
  size_t max_args = SIZE_MAX;
  bool interspersed = true;  // false: options end at the first positional (run, create)
};

// Parses `args` against `desc` (which gets --help added). Throws UsageError.
Parsed parse_flags(const CommandSpec& spec, po::options_description desc,
                   const std::vector<std::string>& args);
void print_help(const CommandSpec& spec, const po::options_description& desc);

// Go's text/tabwriter as Docker configures it (minwidth 10, padding 3, spaces).
class Table {
 public:
  void row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  std::string str() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// Prints "Error response from daemon: <message>"-style errors (Docker users' scripts match
// the text after the prefix).
void print_error(const std::string& message);
void print_error(const Error& e);
// A command's one container: reconciles the state first, prints Docker's error if `ref`
// names none.
std::optional<containers::Container> find_container(Engine& e, const std::string& ref);
// The same, refusing (with Docker's "container <id> is not running") one that is not running.
std::optional<containers::Container> find_running_container(Engine& e, const std::string& ref);

// `--opt k=v`, `--label k[=v]` flags as a map; without '=' a usage error naming the flag
// when `value_required`, else the key with an empty value.
std::map<std::string, std::string> key_value_flags(const po::variables_map& vm, const char* flag, bool value_required);
// A prune's question: prints "WARNING! <what>\nAre you sure you want to continue? [y/N] " and
// reads the answer from stdin; true for y/yes.
bool confirm(const std::string& what);

// `X rm [-f] NAME...` of volumes and networks, as Docker's: each removed name printed as
// given, an error printed for each that fails (with -f a missing one is skipped), exit 1 if
// any failed.
int remove_each(Cli& cli, const CommandSpec& spec, const std::string& force_help, const std::vector<std::string>& args,
                const std::function<Status(Engine&, const std::string&)>& remove);
// `X prune [-f]`: the question (unless -f), then "Deleted <Kind>:" and the names removed;
// `reclaimed_line` adds Docker's "Total reclaimed space" footer (volumes print it).
int prune_confirmed(Cli& cli, const CommandSpec& spec, const std::vector<std::string>& args, const std::string& question,
                    const std::string& heading, bool reclaimed_line,
                    const std::function<Result<std::vector<std::string>>(Engine&)>& prune);

// Docker's stringutils.Ellipsis: at most `max` characters, the last one "…" when cut.
std::string ellipsis(const std::string& s, size_t max);
std::string time_or_zero(int64_t ns);

using Command = std::function<int(Cli&, const std::vector<std::string>&)>;
void register_container_commands(std::map<std::string, Command>& table);
int cmd_exec(Cli& cli, const std::vector<std::string>& args);
int cmd_attach(Cli& cli, const std::vector<std::string>& args);
int cmd_top(Cli& cli, const std::vector<std::string>& args);
int cmd_stats(Cli& cli, const std::vector<std::string>& args);
void register_image_commands(std::map<std::string, Command>& table);
void register_registry_commands(std::map<std::string, Command>& table);
void register_commit_commands(std::map<std::string, Command>& table);
void register_system_commands(std::map<std::string, Command>& table);
void register_network_commands(std::map<std::string, Command>& table);
void register_volume_commands(std::map<std::string, Command>& table);

// JSON documents of `inspect`, in Docker's field order.
nlohmann::ordered_json container_json(Engine& e, const containers::Container& c);
Result<nlohmann::ordered_json> image_json(Engine& e, const images::ImageRecord& img);
}  // namespace berth::cli
namespace berth::network {
struct Network;
}
namespace berth::cli {
nlohmann::ordered_json network_json(Engine& e, const network::Network& n);

}  // namespace berth::cli
