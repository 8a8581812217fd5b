#include <iostream>
#include <sstream>

#include "cli/cli.hpp"
#include "config/config.hpp"
#include "plugin_host/logger.hpp"
#include "util/util.hpp"

namespace berth::cli {

void Cli::spawn_standby() {
  if (auto s = monitor::Standby::spawn(globals_.config_path, globals_.log_level); s) standby_ = std::move(*s);
}

Engine* Cli::engine() {
  if (engine_) return engine_.get();
  auto cfg = config::load_config(globals_.config_path);
  if (!cfg) {
    print_error(cfg.error());
    return nullptr;
  }
  util::timing_mark("cli: config loaded");
  if (!globals_.log_level.empty()) cfg->log_level = globals_.log_level;
  logger_ = std::make_unique<plugin_host::SpdLogger>(plugin_host::setup_logging(cfg->log_level));
  auto e = Engine::open(std::move(*cfg), logger_.get());
  if (!e) {
    print_error(e.error());
    return nullptr;
  }
  engine_ = std::move(*e);
  util::timing_mark("cli: engine open (plugins, database)");
  return engine_.get();
}

void print_error(const std::string& message) {
  std::cerr << "Error response from daemon: " << message << "\n";
}
void print_error(const Error& e) { print_error(e.what()); }

namespace {
size_t display_width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;  // count code points, not bytes
  }
  return n;
}
}  // namespace

std::string ellipsis(const std::string& s, size_t max) {
  if (display_width(s) <= max) return s;
  std::string out;
  size_t n = 0;
  for (size_t i = 0; i < s.size();) {
    size_t len = 1;
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0xF0) len = 4;
    else if (c >= 0xE0) len = 3;
    else if (c >= 0xC0) len = 2;
    if (n + 1 >= max) break;
    out += s.substr(i, len);
    i += len;
    ++n;
  }
  return out + "\u2026";
}

std::string time_or_zero(int64_t ns) { return ns == 0 ? "0001-01-01T00:00:00Z" : util::rfc3339_nano(ns); }

std::string Table::str() const {
  // Go's tabwriter: a cell is as wide as the widest in its column plus 3 padding, at least
  // 10; the last cell of a line is not padded.
  std::vector<size_t> width;
  for (const auto& r : rows_) {
    for (size_t i = 0; i + 1 < r.size(); ++i) {
      if (width.size() <= i) width.resize(i + 1, 0);
      width[i] = std::max(width[i], std::max<size_t>(display_width(r[i]) + 3, 10));
    }
  }
  std::string out;
  for (const auto& r : rows_) {
    for (size_t i = 0; i < r.size(); ++i) {
      out += r[i];
      if (i + 1 < r.size()) out.append(width[i] - display_width(r[i]), ' ');
    }
    out += "\n";
  }
  return out;
}

void print_help(const CommandSpec& spec, const po::options_description& desc) {
  std::cout << "\nUsage:  berth " << spec.name << " " << spec.usage << "\n\n" << spec.summary << "\n\n";
  std::cout << "Options:\n";
  for (const auto& opt : desc.options()) {
    std::string names;
    std::string shortn = opt->canonical_display_name(po::command_line_style::allow_dash_for_short);
    std::string longn = opt->canonical_display_name(po::command_line_style::allow_long);
    if (shortn != longn && shortn.size() == 2) names = shortn + ", ";
    else names = "    ";
    names += longn;
    if (opt->semantic()->max_tokens() > 0) names += " " + opt->format_parameter().substr(0, 0) + "value";
    std::cout << "  " << names;
    if (names.size() < 28) std::cout << std::string(28 - names.size(), ' ');
    else std::cout << "\n" << std::string(30, ' ');
    std::cout << opt->description() << "\n";
  }
}

Parsed parse_flags(const CommandSpec& spec, po::options_description desc,
                   const std::vector<std::string>& args) {
  desc.add_options()("help", po::bool_switch(), "Print usage");
  Parsed p;
  std::vector<std::string> tokens;  // normalised to --long[=value]
  auto find = [&](const std::string& key) -> const po::option_description* {
    return desc.find_nothrow(key, false, false, false);
  };
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_done || a.size() < 2 || a[0] != '-') {
      p.args.push_back(a);
      if (!spec.interspersed) options_done = true;
      continue;
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    if (a[1] == '-') {
      std::string name = a.substr(2);
      std::string value;
      bool has_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      const auto* o = find(name);
      if (o == nullptr) throw UsageError{"unknown flag: --" + name};
      if (o->semantic()->max_tokens() > 0) {
        if (!has_value) {
          if (i + 1 >= args.size()) throw UsageError{"flag needs an argument: --" + name};
          value = args[++i];
        }
        tokens.push_back("--" + o->long_name() + "=" + value);
      } else {
        if (has_value) throw UsageError{"flag does not take a value: --" + name};
        tokens.push_back("--" + o->long_name());
      }
      continue;
    }
    // -abc: a run of short flags; one that takes a value takes the rest of the word or
    // the next word.
    for (size_t j = 1; j < a.size(); ++j) {
      const auto* o = find(std::string("-") + a[j]);
      if (o == nullptr) {
        throw UsageError{std::string("unknown shorthand flag: '") + a[j] + "' in " + a};
      }
      if (o->semantic()->max_tokens() > 0) {
        std::string value = a.substr(j + 1);
        if (value.empty()) {
          if (i + 1 >= args.size()) {
            throw UsageError{std::string("flag needs an argument: '") + a[j] + "' in -" + a[j]};
          }
          value = args[++i];
        }
        tokens.push_back("--" + o->long_name() + "=" + value);
        break;
      }
      tokens.push_back("--" + o->long_name());
    }
  }
  try {
    auto parsed = po::command_line_parser(tokens)
                      .options(desc)
                      .style(po::command_line_style::allow_long | po::command_line_style::long_allow_adjacent)
                      .run();
    po::store(parsed, p.vm);
    po::notify(p.vm);
  } catch (const po::error& e) {
    throw UsageError{std::string("invalid argument: ") + e.what()};
  }
  p.help = p.vm.count("help") && p.vm["help"].as<bool>();
  if (p.help) {
    print_help(spec, desc);
    return p;
  }
  auto plural = [](size_t n) { return n == 1 ? " argument." : " arguments."; };
  if (p.args.size() < spec.min_args) {
    std::string what = spec.min_args == spec.max_args ? "exactly " : "at least ";
    throw UsageError{"\"berth " + spec.name + "\" requires " + what + std::to_string(spec.min_args) +
                         plural(spec.min_args),
                     kExitError};
  }
  if (p.args.size() > spec.max_args) {
    std::string what = spec.min_args == spec.max_args ? "exactly " : "at most ";
    throw UsageError{"\"berth " + spec.name + "\" requires " + what + std::to_string(spec.max_args) +
                         plural(spec.max_args),
                     kExitError};
  }
  return p;
}

std::optional<containers::Container> find_container(Engine& e, const std::string& ref) {
  (void)containers::reconcile(e);
  auto c = containers::find(e, ref);
  if (!c) {
    print_error(c.error());
    return std::nullopt;
  }
  return *c;
}

std::optional<containers::Container> find_running_container(Engine& e, const std::string& ref) {
  auto c = find_container(e, ref);
  if (c && !c->running()) {
    print_error("container " + c->id + " is not running");
    return std::nullopt;
  }
  return c;
}

std::map<std::string, std::string> key_value_flags(const po::variables_map& vm, const char* flag, bool value_required) {
  std::map<std::string, std::string> out;
  if (!vm.count(flag)) return out;
  for (const auto& kv : vm[flag].as<std::vector<std::string>>()) {
    auto eq = kv.find('=');
    if (eq == std::string::npos && value_required) {
      throw UsageError{"invalid argument \"" + kv + "\" for \"--" + std::string(flag) + "\" flag: expected key=value"};
    }
    out[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
  }
  return out;
}

bool confirm(const std::string& what) {
  std::cout << "WARNING! " << what << "\nAre you sure you want to continue? [y/N] " << std::flush;
  std::string answer;
  std::getline(std::cin, answer);
  answer = util::to_lower(util::trim(answer));
  return answer == "y" || answer == "yes";
}

int remove_each(Cli& cli, const CommandSpec& spec, const std::string& force_help, const std::vector<std::string>& args,
                const std::function<Status(Engine&, const std::string&)>& remove) {
  po::options_description d("Options");
  d.add_options()("force,f", po::bool_switch(), force_help.c_str());
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  (void)containers::reconcile(*e);
  int rc = 0;
  for (const auto& name : p.args) {
    Status s = remove(*e, name);
    if (!s) {
      if (p.vm["force"].as<bool>() && s.error().code == Code::NotFound) continue;
      print_error(s.error());
      rc = kExitError;
      continue;
    }
    std::cout << name << "\n";
  }
  return rc;
}

int prune_confirmed(Cli& cli, const CommandSpec& spec, const std::vector<std::string>& args, const std::string& question,
                    const std::string& heading, bool reclaimed_line,
                    const std::function<Result<std::vector<std::string>>(Engine&)>& prune) {
  po::options_description d("Options");
  d.add_options()("force,f", po::bool_switch(), "Do not prompt for confirmation");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  if (!p.vm["force"].as<bool>() && !confirm(question)) return 0;
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  (void)containers::reconcile(*e);
  auto removed = prune(*e);
  if (!removed) {
    print_error(removed.error());
    return kExitError;
  }
  if (!removed->empty()) {
    std::cout << heading << "\n";
    for (const auto& n : *removed) std::cout << n << "\n";
    if (reclaimed_line) std::cout << "\n";
  }
  if (reclaimed_line) std::cout << "Total reclaimed space: 0B\n";
  return 0;
}

}  // namespace berth::cli
