// Commands on a container's file system changes and an image's layers: diff, commit,
// history.

#include <unistd.h>

#include <iostream>

#include <nlohmann/json.hpp>

#include "build/builder.hpp"
#include "cli/cli.hpp"
#include "containers/container.hpp"
#include "containers/copy.hpp"
#include "images/commit.hpp"
#include "images/reference.hpp"
#include "util/util.hpp"

namespace berth::cli {

namespace {

using nlohmann::json;

int cmd_diff(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"diff", "CONTAINER", "Inspect changes to files or directories on a container's filesystem", 1, 1};
  auto p = parse_flags(spec, po::options_description("Options"), args);
  if (p.help) return 0;
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  auto c = containers::find(*e, p.args[0]);
  if (!c) {
    print_error(c.error());
    return kExitError;
  }
  auto changes = images::container_changes(*e, *c);
  if (!changes) {
    print_error(changes.error());
    return kExitError;
  }
  for (const auto& ch : *changes) std::cout << ch.kind << " " << ch.path << "\n";
  return 0;
}

int cmd_commit(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"commit", "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]", "Create a new image from a container's changes", 1, 2};
  po::options_description d("Options");
  d.add_options()("author,a", po::value<std::string>(), "Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")")
      ("change,c", po::value<std::vector<std::string>>()->composing(), "Apply Dockerfile instruction to the created image")
      ("message,m", po::value<std::string>(), "Commit message")
      ("pause,p", po::value<bool>()->default_value(true)->implicit_value(true), "Pause container during commit");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  images::CommitOptions o;
  if (p.vm.count("author")) o.author = p.vm["author"].as<std::string>();
  if (p.vm.count("message")) o.message = p.vm["message"].as<std::string>();
  if (p.vm.count("change")) o.changes = p.vm["change"].as<std::vector<std::string>>();
  o.pause = p.vm["pause"].as<bool>();
  if (p.args.size() > 1) o.reference = p.args[1];
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  auto c = containers::find(*e, p.args[0]);
  if (!c) {
    print_error(c.error());
    return kExitError;
  }
  auto id = images::commit(*e, *c, o);
  if (!id) {
    print_error(id.error());
    return kExitError;
  }
  std::cout << *id << "\n";
  return 0;
}

int cmd_history(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"history", "[OPTIONS] IMAGE", "Show the history of an image", 1, 1};
  po::options_description d("Options");
  d.add_options()("human,H", po::value<bool>()->default_value(true)->implicit_value(true), "Print sizes and dates in human readable format")
      ("no-trunc", po::bool_switch(), "Don't truncate output")
      ("quiet,q", po::bool_switch(), "Only show image IDs");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  auto img = e->images().resolve(p.args[0]);
  if (!img) {
    print_error(img.error());
    return kExitError;
  }
  auto config = e->images().config(*img);
  auto chains = e->images().chain_ids(img->id);
  if (!config || !chains) {
    print_error(!config ? config.error() : chains.error());
    return kExitError;
  }
  bool human = p.vm["human"].as<bool>(), no_trunc = p.vm["no-trunc"].as<bool>(), quiet = p.vm["quiet"].as<bool>();
  json history = config->value("history", json::array());
  // Each entry that is not an empty layer has the next layer, bottom first.
  struct Row {
    std::string created_by, comment;
    int64_t created_ns = 0;
    int64_t size = 0;
  };
  std::vector<Row> rows;
  size_t layer = 0;
  for (const auto& h : history) {
    Row r;
    r.created_by = h.value("created_by", "");
    r.comment = h.value("comment", "");
    if (auto t = util::parse_time_point(h.value("created", ""), 0); t) r.created_ns = *t;
    if (!h.value("empty_layer", false) && layer < chains->size()) {
      if (auto u = e->storage().usage((*chains)[layer]); u) r.size = u->size;
      ++layer;
    }
    rows.push_back(r);
  }
  std::string id = no_trunc ? img->id : img->id.substr(7, 12);
  if (quiet) {
    std::cout << id << "\n";
    return 0;
  }
  Table t;
  t.row({"IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"});
  int64_t now = util::now_ns();
  for (size_t i = rows.size(); i-- > 0;) {
    const Row& r = rows[i];
    std::string by = r.created_by;
    // Docker's Ellipsis: 45 characters, the last one "…".
    if (!no_trunc && by.size() > 45) by = by.substr(0, 44) + "…";
    std::string created = human ? util::human_duration((now - r.created_ns) / 1000000000) + " ago" : util::rfc3339_nano(r.created_ns);
    std::string size = human ? util::human_size(r.size) : std::to_string(r.size);
    t.row({i + 1 == rows.size() ? id : "<missing>", created, by, size, r.comment});
  }
  std::cout << t.str();
  return 0;
}

// "CONTAINER:PATH" -> {container, path}; a local path (starting with / or ., or without
// a colon) -> {"", path}. Docker's rule: a local path with a colon is written ./a:b.
std::pair<std::string, std::string> split_copy_arg(const std::string& a) {
  if (a.empty() || a[0] == '/' || a[0] == '.' || a == "-") return {"", a};
  auto colon = a.find(':');
  if (colon == std::string::npos) return {"", a};
  return {a.substr(0, colon), a.substr(colon + 1)};
}

int cmd_cp(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"cp", "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
                   "Copy files/folders between a container and the local filesystem", 2, 2};
  po::options_description d("Options");
  d.add_options()("archive,a", po::bool_switch(), "Archive mode (copy all uid/gid information)")
      ("follow-link,L", po::bool_switch(), "Always follow symbol link in SRC_PATH")
      ("quiet,q", po::bool_switch(), "Suppress progress output during copy");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  auto [sc, sp] = split_copy_arg(p.args[0]);
  auto [dc, dp] = split_copy_arg(p.args[1]);
  if (sc.empty() == dc.empty()) {
    print_error(make_error(Code::InvalidArgument, sc.empty() ? "must specify at least one container source"
                                                             : "copying between containers is not supported"));
    return kExitError;
  }
  if ((sc.empty() ? dp : sp).empty()) {
    print_error(make_error(Code::InvalidArgument, "filepath can not be empty"));
    return kExitError;
  }
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  auto c = containers::find(*e, sc.empty() ? dc : sc);
  if (!c) {
    print_error(c.error());
    return kExitError;
  }
  containers::CopyOptions o;
  o.archive = p.vm["archive"].as<bool>();
  o.follow_link = p.vm["follow-link"].as<bool>();
  Status s = sc.empty() ? containers::copy_to(*e, *c, sp, dp, STDIN_FILENO, o)
                        : containers::copy_from(*e, *c, sp, dp, STDOUT_FILENO, o);
  if (!s) {
    print_error(s.error());
    return kExitError;
  }
  return 0;
}

int cmd_build(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"build", "[OPTIONS] PATH", "Build an image from a Dockerfile", 1, 1};
  po::options_description d("Options");
  d.add_options()("tag,t", po::value<std::vector<std::string>>()->composing(), "Name and optionally a tag in the 'name:tag' format")
      ("file,f", po::value<std::string>(), "Name of the Dockerfile (Default is 'PATH/Dockerfile')")
      ("build-arg", po::value<std::vector<std::string>>()->composing(), "Set build-time variables")
      ("target", po::value<std::string>(), "Set the target build stage to build")
      ("no-cache", po::bool_switch(), "Do not use cache when building the image")
      ("label", po::value<std::vector<std::string>>()->composing(), "Set metadata for an image")
      ("quiet,q", po::bool_switch(), "Suppress the build output and print image ID on success")
      ("rm", po::value<bool>()->default_value(true)->implicit_value(true), "Remove intermediate containers after a successful build");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  build::BuildOptions o;
  o.context = p.args[0];
  if (p.vm.count("tag")) o.tags = p.vm["tag"].as<std::vector<std::string>>();
  if (p.vm.count("file")) o.dockerfile = p.vm["file"].as<std::string>();
  if (p.vm.count("target")) o.target = p.vm["target"].as<std::string>();
  o.no_cache = p.vm["no-cache"].as<bool>();
  o.quiet = p.vm["quiet"].as<bool>();
  auto kv = [](const std::string& s, bool from_env) -> std::pair<std::string, std::optional<std::string>> {
    auto eq = s.find('=');
    if (eq != std::string::npos) return {s.substr(0, eq), s.substr(eq + 1)};
    // --build-arg KEY takes the value from this environment, as Docker's.
    const char* v = from_env ? ::getenv(s.c_str()) : nullptr;
    return {s, v ? std::optional<std::string>(v) : std::optional<std::string>(from_env ? std::nullopt : std::optional<std::string>(""))};
  };
  if (p.vm.count("build-arg")) {
    for (const auto& a : p.vm["build-arg"].as<std::vector<std::string>>()) {
      auto [k, v] = kv(a, true);
      if (v) o.build_args[k] = *v;
    }
  }
  if (p.vm.count("label")) {
    for (const auto& a : p.vm["label"].as<std::vector<std::string>>()) {
      auto [k, v] = kv(a, false);
      o.labels[k] = v.value_or("");
    }
  }
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  (void)containers::reconcile(*e);
  int run_exit = 0;
  auto id = build::build(*e, o, &run_exit);
  if (!id) {
    print_error(id.error());
    // A failed RUN's exit code is the build's, as Docker's CLI reports it.
    return run_exit != 0 ? run_exit : kExitError;
  }
  return 0;
}

}  // namespace

void register_commit_commands(std::map<std::string, Command>& t) {
  t["diff"] = t["container diff"] = cmd_diff;
  t["commit"] = t["container commit"] = cmd_commit;
  t["history"] = t["image history"] = cmd_history;
  t["cp"] = t["container cp"] = cmd_cp;
  t["build"] = t["image build"] = t["builder build"] = cmd_build;
}

}  // namespace berth::cli
