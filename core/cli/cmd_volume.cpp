// Volume commands: volume create, ls, inspect, rm, prune.

#include <iostream>

#include "cli/cli.hpp"
#include "cli/template.hpp"
#include "util/util.hpp"
#include "volumes/volumes.hpp"

namespace berth::cli {

namespace {

using ojson = nlohmann::ordered_json;


ojson volume_json(const sdk::VolumeInfo& v) {
  ojson labels = ojson::object(), options = ojson::object();
  for (const auto& [k, val] : v.labels) labels[k] = val;
  for (const auto& [k, val] : v.options) options[k] = val;
  return ojson{{"CreatedAt", v.created_at}, {"Driver", v.driver},
               {"Labels", labels},          {"Mountpoint", v.mountpoint},
               {"Name", v.name},            {"Options", options},
               {"Scope", v.scope}};
}

int cmd_volume_create(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"volume create", "[OPTIONS] [VOLUME]", "Create a volume", 0, 1};
  po::options_description d("Options");
  d.add_options()("driver,d", po::value<std::string>(), "Specify volume driver name")
      ("name", po::value<std::string>(), "Specify volume name")
      ("opt,o", po::value<std::vector<std::string>>()->composing(), "Set driver specific options")
      ("label", po::value<std::vector<std::string>>()->composing(), "Set metadata for a volume");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  std::string name = !p.args.empty() ? p.args[0] : p.vm.count("name") ? p.vm["name"].as<std::string>() : "";
  if (!p.args.empty() && p.vm.count("name") && p.vm["name"].as<std::string>() != p.args[0]) {
    throw UsageError{"conflicting options: either specify --name or provide positional arg, not both", kExitError};
  }
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  auto v = volumes::create(*e, name, p.vm.count("driver") ? p.vm["driver"].as<std::string>() : "",
                           key_value_flags(p.vm, "opt", true), key_value_flags(p.vm, "label", false));
  if (!v) {
    print_error(v.error());
    return kExitError;
  }
  std::cout << v->name << "\n";
  return 0;
}

int cmd_volume_ls(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"volume ls", "[OPTIONS]", "List volumes", 0, 0};
  po::options_description d("Options");
  d.add_options()("quiet,q", po::bool_switch(), "Only display volume names")
      ("filter,f", po::value<std::vector<std::string>>()->composing(), "Provide filter values (e.g. \"dangling=true\")")
      ("format", po::value<std::string>(), "Format output using a custom template");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  std::vector<std::string> filters;
  if (p.vm.count("filter")) filters = p.vm["filter"].as<std::vector<std::string>>();
  for (const auto& f : filters) {
    std::string key = f.substr(0, f.find('='));
    if (key != "dangling" && key != "name" && key != "label" && key != "driver") {
      throw UsageError{"invalid filter '" + key + "'", kExitError};
    }
  }
  std::optional<tmpl::Template> tpl;
  tmpl::CliFormat cf;
  if (p.vm.count("format")) {
    cf = tmpl::cli_format(p.vm["format"].as<std::string>());
    auto parsed = tmpl::Template::parse(cf.body);
    if (!parsed) throw UsageError{parsed.error().what(), kExitError};
    tpl = *parsed;
  }
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  auto all = volumes::list(*e);
  if (!all) {
    print_error(all.error());
    return kExitError;
  }
  // Names of volumes some container uses, once, for dangling=.
  std::set<std::string> used;
  bool need_used = std::any_of(filters.begin(), filters.end(), [](const std::string& f) { return f.rfind("dangling=", 0) == 0; });
  if (need_used) {
    auto st = e->db().prepare("SELECT DISTINCT json_extract(m.value, '$.Name') FROM containers c, json_each(c.spec, '$.Mounts') m "
                              "WHERE json_extract(m.value, '$.Type') = 'volume'");
    if (st) {
      while (true) {
        auto row = st->step();
        if (!row || !*row) break;
        used.insert(st->text(0));
      }
    }
  }
  Table t;
  if (!p.vm["quiet"].as<bool>() && !tpl) t.row({"DRIVER", "VOLUME NAME"});
  std::string out;
  for (const auto& v : *all) {
    bool keep = true;
    for (const auto& f : filters) {
      auto eq = f.find('=');
      std::string key = f.substr(0, eq), value = eq == std::string::npos ? "" : f.substr(eq + 1);
      if (key == "dangling") keep &= (used.count(v.name) == 0) == (value == "true" || value == "1");
      if (key == "name") keep &= v.name.find(value) != std::string::npos;
      if (key == "driver") keep &= v.driver == value;
      if (key == "label") {
        auto leq = value.find('=');
        auto it = v.labels.find(value.substr(0, leq));
        keep &= it != v.labels.end() && (leq == std::string::npos || it->second == value.substr(leq + 1));
      }
    }
    if (!keep) continue;
    if (p.vm["quiet"].as<bool>()) {
      out += v.name + "\n";
    } else if (tpl) {
      auto r = tpl->execute(volume_json(v));
      if (!r) {
        print_error(r.error());
        return kExitError;
      }
      out += *r + "\n";
    } else {
      t.row({v.driver, v.name});
    }
  }
  if (!p.vm["quiet"].as<bool>() && !tpl) out = t.str();
  std::cout << (tpl && cf.table ? tmpl::tabwrite(out) : out);
  return 0;
}

int cmd_volume_inspect(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"volume inspect", "[OPTIONS] VOLUME [VOLUME...]", "Display detailed information on one or more volumes", 1};
  po::options_description d("Options");
  d.add_options()("format,f", po::value<std::string>(), "Format the output using the given Go template");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  std::optional<tmpl::Template> tpl;
  if (p.vm.count("format")) {
    auto parsed = tmpl::Template::parse(p.vm["format"].as<std::string>());
    if (!parsed) throw UsageError{parsed.error().what(), kExitError};
    tpl = *parsed;
  }
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  ojson docs = ojson::array();
  std::string formatted;
  int rc = 0;
  for (const auto& name : p.args) {
    auto v = volumes::find(*e, name);
    if (!v) {
      print_error(v.error());
      rc = kExitError;
      continue;
    }
    if (tpl) {
      auto r = tpl->execute(volume_json(*v));
      if (!r) {
        print_error(r.error());
        return kExitError;
      }
      formatted += *r + "\n";
    } else {
      docs.push_back(volume_json(*v));
    }
  }
  std::cout << (tpl ? formatted : docs.dump(4) + "\n");
  return rc;
}

int cmd_volume_rm(Cli& cli, const std::vector<std::string>& args) {
  return remove_each(cli, {"volume rm", "[OPTIONS] VOLUME [VOLUME...]", "Remove one or more volumes", 1},
                     "Do not error if the volume does not exist", args,
                     [](Engine& e, const std::string& name) { return volumes::remove(e, name); });
}

int cmd_volume_prune(Cli& cli, const std::vector<std::string>& args) {
  return prune_confirmed(cli, {"volume prune", "[OPTIONS]", "Remove unused local volumes", 0, 0}, args,
                         "This will remove all local volumes not used by at least one container.", "Deleted Volumes:",
                         true, [](Engine& e) { return volumes::prune(e); });
}

}  // namespace

void register_volume_commands(std::map<std::string, Command>& table) {
  table["volume create"] = cmd_volume_create;
  table["volume ls"] = cmd_volume_ls;
  table["volume list"] = cmd_volume_ls;
  table["volume inspect"] = cmd_volume_inspect;
  table["volume rm"] = cmd_volume_rm;
  table["volume remove"] = cmd_volume_rm;
  table["volume prune"] = cmd_volume_prune;
}

}  // namespace berth::cli
