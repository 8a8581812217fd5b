// Network commands: network create, ls, inspect, rm, prune, connect, disconnect; and `port`, which reads what
// the network drivers published for a container.

#include <unistd.h>

#include <iostream>

#include "cli/cli.hpp"
#include "cli/template.hpp"
#include "network/networks.hpp"
#include "network/ports.hpp"
#include "util/util.hpp"

namespace berth::cli {

namespace {

using ojson = nlohmann::ordered_json;

// "key=value" flags into a map; a flag without '=' is a usage error naming it.

ojson string_map(const std::map<std::string, std::string>& m) {
  ojson j = ojson::object();
  for (const auto& [k, v] : m) j[k] = v;
  return j;
}

}  // namespace

ojson network_json(Engine& e, const network::Network& n) {
  ojson config = ojson::array();
  if (!n.subnet.empty()) {
    ojson c = {{"Subnet", n.subnet}};
    if (!n.ip_range.empty()) c["IPRange"] = n.ip_range;
    if (!n.gateway.empty()) c["Gateway"] = n.gateway;
    config.push_back(c);
  }
  ojson containers = ojson::object();
  if (auto eps = network::endpoints_of_network(e, n.id); eps) {
    for (const auto& ep : *eps) {
      auto c = containers::find(e, ep.container_id);
      containers[ep.container_id] = {{"Name", c ? c->name : std::string()},
                                     {"EndpointID", ep.id},
                                     {"MacAddress", ep.mac},
                                     {"IPv4Address", ep.cidr()},
                                     {"IPv6Address", ""}};
    }
  }
  return ojson{
      {"Name", n.name},
      {"Id", n.id},
      {"Created", util::rfc3339_nano(n.created_ns)},
      {"Scope", "local"},
      {"Driver", n.driver},
      {"EnableIPv6", false},
      {"IPAM", {{"Driver", "default"}, {"Options", n.subnet.empty() ? ojson(nullptr) : ojson::object()}, {"Config", config}}},
      {"Internal", n.internal},
      {"Attachable", false},
      {"Ingress", false},
      {"ConfigFrom", {{"Network", ""}}},
      {"ConfigOnly", false},
      {"Containers", containers},
      {"Options", string_map(n.options)},
      {"Labels", string_map(n.labels)},
  };
}

namespace {

int cmd_network_create(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"network create", "[OPTIONS] NETWORK", "Create a network", 1, 1};
  po::options_description d("Options");
  d.add_options()("driver,d", po::value<std::string>()->default_value("bridge"), "Driver to manage the Network")
      ("subnet", po::value<std::string>(), "Subnet in CIDR format that represents a network segment")
      ("ip-range", po::value<std::string>(), "Allocate container ip from a sub-range")
      ("gateway", po::value<std::string>(), "IPv4 Gateway for the master subnet")
      ("internal", po::bool_switch(), "Restrict external access to the network")
      ("opt,o", po::value<std::vector<std::string>>()->composing(), "Set driver specific options")
      ("label", po::value<std::vector<std::string>>()->composing(), "Set metadata on a network")
      ("attachable", po::bool_switch(), "Enable manual container attachment (always on here)")
      ("ipv6", po::bool_switch(), "Enable IPv6 networking");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  network::CreateRequest req;
  req.name = p.args[0];
  req.driver = p.vm["driver"].as<std::string>();
  if (p.vm.count("subnet")) req.subnet = p.vm["subnet"].as<std::string>();
  if (p.vm.count("ip-range")) req.ip_range = p.vm["ip-range"].as<std::string>();
  if (p.vm.count("gateway")) req.gateway = p.vm["gateway"].as<std::string>();
  req.internal = p.vm["internal"].as<bool>();
  req.options = key_value_flags(p.vm, "opt", true);
  req.labels = key_value_flags(p.vm, "label", false);
  if (p.vm["ipv6"].as<bool>()) {
    print_error("IPv6 networks are not supported by this berth yet");
    return kExitError;
  }
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  auto made = network::create(*e, req);
  if (!made) {
    print_error(made.error());
    return kExitError;
  }
  std::cout << made->id << "\n";
  return 0;
}

// Docker's `network ls --filter`: name (substring), id (prefix), driver, label, type.
bool matches(const network::Network& n, const std::vector<std::string>& filters) {
  for (const auto& f : filters) {
    auto eq = f.find('=');
    std::string key = f.substr(0, eq), value = eq == std::string::npos ? "" : f.substr(eq + 1);
    if (key == "name" && n.name.find(value) == std::string::npos) return false;
    if (key == "id" && !util::starts_with(n.id, value)) return false;
    if (key == "driver" && n.driver != value) return false;
    if (key == "type" && (value == "builtin") != n.predefined) return false;
    if (key == "label") {
      auto leq = value.find('=');
      auto it = n.labels.find(value.substr(0, leq));
      if (it == n.labels.end() || (leq != std::string::npos && it->second != value.substr(leq + 1))) return false;
    }
  }
  return true;
}

int cmd_network_ls(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"network ls", "[OPTIONS]", "List networks", 0, 0};
  po::options_description d("Options");
  d.add_options()("quiet,q", po::bool_switch(), "Only display network IDs")
      ("no-trunc", po::bool_switch(), "Do not truncate the output")
      ("filter,f", po::value<std::vector<std::string>>()->composing(), "Provide filter values (e.g. \"driver=bridge\")")
      ("format", po::value<std::string>(), "Format output using a custom template");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  std::vector<std::string> filters;
  if (p.vm.count("filter")) filters = p.vm["filter"].as<std::vector<std::string>>();
  for (const auto& f : filters) {
    std::string key = f.substr(0, f.find('='));
    if (key != "name" && key != "id" && key != "driver" && key != "label" && key != "type") {
      throw UsageError{"invalid filter '" + key + "'", kExitError};
    }
  }
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  auto all = network::list(*e);
  if (!all) {
    print_error(all.error());
    return kExitError;
  }
  bool no_trunc = p.vm["no-trunc"].as<bool>();
  bool quiet = p.vm["quiet"].as<bool>();
  std::optional<tmpl::Template> tpl;
  tmpl::CliFormat cf;
  if (p.vm.count("format")) {
    cf = tmpl::cli_format(p.vm["format"].as<std::string>());
    auto parsed = tmpl::Template::parse(cf.body);
    if (!parsed) throw UsageError{parsed.error().what(), kExitError};
    tpl = *parsed;
  }
  Table t;
  if (!quiet && !tpl) t.row({"NETWORK ID", "NAME", "DRIVER", "SCOPE"});
  std::string formatted;
  for (const auto& n : *all) {
    if (!matches(n, filters)) continue;
    std::string id = no_trunc ? n.id : n.id.substr(0, 12);
    if (quiet) {
      std::cout << id << "\n";
    } else if (tpl) {
      std::string labels;
      for (const auto& [k, v] : n.labels) labels += (labels.empty() ? "" : ",") + k + "=" + v;
      ojson row = {{"ID", id}, {"Name", n.name}, {"Driver", n.driver}, {"Scope", "local"},
                   {"IPv6", "false"}, {"Internal", n.internal ? "true" : "false"}, {"Labels", labels},
                   {"CreatedAt", util::rfc3339_nano(n.created_ns)}};
      auto out = tpl->execute(row);
      if (!out) {
        print_error(out.error());
        return kExitError;
      }
      formatted += *out + "\n";
    } else {
      t.row({id, n.name, n.driver, "local"});
    }
  }
  if (tpl) {
    std::cout << (cf.table ? tmpl::tabwrite(formatted) : formatted);
  } else if (!quiet) {
    std::cout << t.str();
  }
  return 0;
}

int cmd_network_inspect(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"network inspect", "[OPTIONS] NETWORK [NETWORK...]", "Display detailed information on one or more networks", 1};
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
  (void)containers::reconcile(*e);
  ojson docs = ojson::array();
  int rc = 0;
  std::string formatted;
  for (const auto& ref : p.args) {
    auto n = network::find(*e, ref);
    if (!n) {
      print_error(n.error());
      rc = kExitError;
      continue;
    }
    ojson doc = network_json(*e, *n);
    if (tpl) {
      auto out = tpl->execute(doc);
      if (!out) {
        print_error(out.error());
        return kExitError;
      }
      formatted += *out + "\n";
    } else {
      docs.push_back(doc);
    }
  }
  if (tpl) {
    std::cout << formatted;
  } else {
    std::cout << docs.dump(4) << "\n";
  }
  return rc;
}

int cmd_network_rm(Cli& cli, const std::vector<std::string>& args) {
  return remove_each(cli, {"network rm", "NETWORK [NETWORK...]", "Remove one or more networks", 1},
                     "Do not error if the network does not exist", args, [](Engine& e, const std::string& ref) -> Status {
                       BERTH_ASSIGN(auto n, network::find(e, ref));
                       return network::remove(e, n);
                     });
}

int cmd_network_prune(Cli& cli, const std::vector<std::string>& args) {
  return prune_confirmed(cli, {"network prune", "[OPTIONS]", "Remove all unused networks", 0, 0}, args,
                         "This will remove all custom networks not used by at least one container.", "Deleted Networks:",
                         false, [](Engine& e) { return network::prune(e); });
}

int cmd_network_connect(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"network connect", "[OPTIONS] NETWORK CONTAINER", "Connect a container to a network", 2, 2};
  po::options_description d("Options");
  d.add_options()("ip", po::value<std::string>(), "IPv4 address (e.g., \"172.30.100.104\")")
      ("alias", po::value<std::vector<std::string>>()->composing(), "Add network-scoped alias for the container");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  std::string ip = p.vm.count("ip") ? p.vm["ip"].as<std::string>() : "";
  std::vector<std::string> aliases;
  if (p.vm.count("alias")) aliases = p.vm["alias"].as<std::vector<std::string>>();
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  auto c = find_container(*e, p.args[1]);
  if (!c) return kExitError;
  if (Status s = containers::connect(*e, *c, p.args[0], ip, aliases); !s) {
    print_error(s.error());
    return kExitError;
  }
  return 0;
}

int cmd_network_disconnect(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"network disconnect", "[OPTIONS] NETWORK CONTAINER", "Disconnect a container from a network", 2, 2};
  po::options_description d("Options");
  d.add_options()("force,f", po::bool_switch(), "Force the container to disconnect from a network");
  auto p = parse_flags(spec, d, args);
  if (p.help) return 0;
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  auto c = find_container(*e, p.args[1]);
  if (!c) return kExitError;
  if (Status s = containers::disconnect(*e, *c, p.args[0], p.vm["force"].as<bool>()); !s) {
    print_error(s.error());
    return kExitError;
  }
  return 0;
}

int cmd_port(Cli& cli, const std::vector<std::string>& args) {
  CommandSpec spec{"port", "CONTAINER [PRIVATE_PORT[/PROTO]]", "List port mappings or a specific mapping for the container", 1, 2};
  auto p = parse_flags(spec, po::options_description("Options"), args);
  if (p.help) return 0;
  std::string want;
  if (p.args.size() > 1) {
    want = p.args[1];
    if (want.find('/') == std::string::npos) want += "/tcp";
  }
  Engine* e = cli.engine();
  if (e == nullptr) return kExitEngine;
  auto c = find_container(*e, p.args[0]);
  if (!c) return kExitError;
  auto eps = network::endpoints_of_container(*e, c->id);
  if (!eps) {
    print_error(eps.error());
    return kExitError;
  }
  std::vector<sdk::PortMapping> all;
  for (const auto& ep : *eps) all.insert(all.end(), ep.ports.begin(), ep.ports.end());
  std::sort(all.begin(), all.end(), [](const sdk::PortMapping& a, const sdk::PortMapping& b) {
    return std::tie(a.container_port, a.protocol, a.host_port) < std::tie(b.container_port, b.protocol, b.host_port);
  });
  bool found = false;
  for (const auto& m : all) {
    std::string key = network::port_key(m);
    if (!want.empty() && key != want) continue;
    found = true;
    std::string host = (m.host_ip.empty() ? std::string("0.0.0.0") : m.host_ip) + ":" + std::to_string(m.host_port);
    std::cout << (want.empty() ? key + " -> " : "") << host << "\n";
  }
  if (!want.empty() && !found) {
    std::cerr << "Error: No public port '" << want << "' published for " << p.args[0] << "\n";
    return kExitError;
  }
  return 0;
}

}  // namespace

void register_network_commands(std::map<std::string, Command>& table) {
  table["network create"] = cmd_network_create;
  table["network ls"] = cmd_network_ls;
  table["network list"] = cmd_network_ls;
  table["network inspect"] = cmd_network_inspect;
  table["network rm"] = cmd_network_rm;
  table["network remove"] = cmd_network_rm;
  table["network prune"] = cmd_network_prune;
  table["network connect"] = cmd_network_connect;
  table["network disconnect"] = cmd_network_disconnect;
  table["port"] = cmd_port;
  table["container port"] = cmd_port;
}

}  // namespace berth::cli
