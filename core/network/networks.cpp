#include "network/networks.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "berth/sdk/netlink.hpp"
#include "berth/sdk/scope_guard.hpp"
#include "network/ipam.hpp"
#include "network/ports.hpp"
#include "util/util.hpp"

namespace berth::network {

using nlohmann::json;

namespace {

json map_json(const std::map<std::string, std::string>& m) {
  json j = json::object();
  for (const auto& [k, v] : m) j[k] = v;
  return j;
}

std::map<std::string, std::string> json_map(const json& j) {
  std::map<std::string, std::string> m;
  if (!j.is_object()) return m;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it->is_string()) m[it.key()] = it->get<std::string>();
  }
  return m;
}

std::string str_of(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A network from its columns, `spec` being the stored spec column (Network::to_json).
Network network_from(std::string id, std::string name, std::string driver, int64_t created_ns, json spec) {
  Network n;
  n.id = std::move(id);
  n.name = std::move(name);
  n.driver = std::move(driver);
  n.created_ns = created_ns;
  if (!spec.is_object()) spec = json::object();
  n.subnet = str_of(spec, "Subnet");
  n.ip_range = str_of(spec, "IPRange");
  n.gateway = str_of(spec, "Gateway");
  n.internal = spec.value("Internal", false);
  n.predefined = spec.value("Predefined", false);
  n.options = json_map(spec.value("Options", json::object()));
  n.labels = json_map(spec.value("Labels", json::object()));
  return n;
}

Network from_row(const state::Stmt& s) {
  return network_from(s.text(0), s.text(1), s.text(2), s.integer(3), json::parse(s.text(4), nullptr, false));
}

constexpr const char* kNetworkColumns = "SELECT id, name, driver, created_ns, spec FROM networks ";

Result<std::vector<Network>> query(Engine& e, const std::string& where, const std::string& arg = "") {
  BERTH_ASSIGN(auto st, e.db().prepare(kNetworkColumns + where));
  if (!arg.empty()) st.bind(1, arg);
  std::vector<Network> out;
  for (;;) {
    BERTH_ASSIGN(bool row, st.step());
    if (!row) break;
    out.push_back(from_row(st));
  }
  return out;
}

Status insert(Engine& e, const Network& n) {
  BERTH_ASSIGN(auto st, e.db().prepare(
      "INSERT INTO networks(id, name, driver, created_ns, spec) VALUES (?, ?, ?, ?, ?)"));
  st.bind(1, n.id).bind(2, n.name).bind(3, n.driver).bind(4, n.created_ns).bind(5, n.to_json().dump());
  return st.run();
}

// The predefined networks: the host's default (from the TOML), host and none. Made the
// first time any network is looked at; the default network follows the TOML's subnet while
// no container is on it.
Status ensure_predefined(Engine& e) {
  static Engine* done_for = nullptr;
  if (done_for == &e) return {};
  const auto& def = e.config().default_network;
  struct Want {
    std::string name, driver, subnet, gateway;
    bool is_default;
  };
  std::vector<Want> wants;
  if (def.name != "host" && def.name != "none") {
    wants.push_back({def.name, def.driver, def.subnet, def.gateway, true});
  }
  wants.push_back({"host", "host", "", "", false});
  wants.push_back({"none", "null", "", "", false});
  BERTH_ASSIGN(auto existing, query(e, "WHERE json_extract(spec, '$.Predefined') = 1"));
  for (const auto& w : wants) {
    auto it = std::find_if(existing.begin(), existing.end(), [&](const Network& n) { return n.name == w.name; });
    if (it != existing.end() && it->driver == w.driver && it->subnet == w.subnet && it->gateway == w.gateway) continue;
    Network n;
    n.id = it != existing.end() ? it->id : util::random_hex(32);
    n.name = w.name;
    n.driver = w.driver;
    n.created_ns = it != existing.end() ? it->created_ns : util::now_ns();
    n.predefined = true;
    n.subnet = w.subnet;
    n.gateway = w.gateway;
    if (it != existing.end()) {
      // A changed [networks.default]: taken over once no container uses the old one.
      BERTH_ASSIGN(auto eps, endpoints_of_network(e, n.id));
      if (!eps.empty()) continue;
      BERTH_ASSIGN(auto st, e.db().prepare("UPDATE networks SET driver = ?, spec = ?, last_ip = 0 WHERE id = ?"));
      st.bind(1, n.driver).bind(2, n.to_json().dump()).bind(3, n.id);
      BERTH_TRY(st.run());
      continue;
    }
    Status s = insert(e, n);
    // Another command made it meanwhile.
    if (!s && s.error().code != Code::AlreadyExists) return s;
  }
  done_for = &e;
  return {};
}

bool valid_network_name(const std::string& n) {
  if (n.empty() || !std::isalnum(static_cast<unsigned char>(n[0]))) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

// Every subnet a new network must not overlap: other networks', and the host's routes.
Result<std::vector<Subnet>> taken_subnets(Engine& e) {
  std::vector<Subnet> taken;
  BERTH_ASSIGN(auto all, query(e, ""));
  for (const auto& n : all) {
    if (n.subnet.empty()) continue;
    if (auto s = parse_subnet(n.subnet)) taken.push_back(*s);
  }
  BERTH_ASSIGN(auto nl, sdk::Netlink::open());
  BERTH_ASSIGN(auto routes, nl.routes());
  for (const auto& r : routes) {
    if (r.destination == "0.0.0.0/0") continue;
    // Routes carry host bits sometimes (a /32 to one host); take the network part.
    auto slash = r.destination.find('/');
    if (slash == std::string::npos) continue;
    auto ip = parse_ip(r.destination.substr(0, slash));
    int prefix = std::atoi(r.destination.c_str() + slash + 1);
    if (!ip || prefix <= 0 || prefix > 32) continue;
    Subnet s;
    s.prefix = prefix;
    s.base = *ip & s.mask();
    taken.push_back(s);
  }
  return taken;
}

Endpoint endpoint_from_row(const state::Stmt& s) {
  Endpoint ep;
  ep.id = s.text(0);
  ep.network_id = s.text(1);
  ep.container_id = s.text(2);
  ep.ifname = s.text(3);
  ep.ip = static_cast<uint32_t>(s.integer(4));
  ep.prefix = static_cast<int>(s.integer(5));
  ep.mac = s.text(6);
  json spec = json::parse(s.text(7), nullptr, false);
  if (spec.is_object()) {
    for (const auto& a : spec.value("Aliases", json::array())) {
      if (a.is_string()) ep.aliases.push_back(a.get<std::string>());
    }
    for (const auto& p : spec.value("Ports", json::array())) {
      sdk::PortMapping m;
      m.protocol = p.value("Protocol", "tcp");
      m.host_ip = p.value("HostIp", "");
      m.host_port = p.value("HostPort", uint16_t{0});
      m.container_port = p.value("ContainerPort", uint16_t{0});
      m.container_ip = ep.ip ? ip_str(ep.ip) : "";
      ep.ports.push_back(m);
    }
  }
  return ep;
}

Result<std::vector<Endpoint>> endpoints_where(Engine& e, const std::string& where, const std::string& arg) {
  BERTH_ASSIGN(auto st, e.db().prepare(
      "SELECT id, network_id, container_id, ifname, ip, prefix, mac, spec FROM endpoints " + where));
  st.bind(1, arg);
  std::vector<Endpoint> out;
  for (;;) {
    BERTH_ASSIGN(bool row, st.step());
    if (!row) break;
    out.push_back(endpoint_from_row(st));
  }
  return out;
}

sdk::EndpointSpec endpoint_spec(const Endpoint& ep) {
  sdk::EndpointSpec s;
  s.network_id = ep.network_id;
  s.endpoint_id = ep.id;
  s.container_id = ep.container_id;
  s.interface_name = ep.ifname;
  if (ep.ip != 0) s.ipv4.push_back(ep.cidr());
  s.mac = ep.mac;
  s.aliases = ep.aliases;
  return s;
}

Status delete_endpoint_row(Engine& e, const std::string& id) {
  BERTH_ASSIGN(auto st, e.db().prepare("DELETE FROM endpoints WHERE id = ?"));
  st.bind(1, id);
  return st.run();
}

// A file descriptor of a process's network namespace; -1 on failure.
int open_netns(pid_t pid) {
  std::string path = pid > 0 ? "/proc/" + std::to_string(pid) + "/ns/net" : "/proc/self/ns/net";
  return ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
}

}  // namespace

sdk::NetworkSpec Network::sdk_spec() const {
  sdk::NetworkSpec s;
  s.id = id;
  s.name = name;
  if (!subnet.empty()) s.ipv4.push_back({subnet, ip_range, gateway});
  s.internal = internal;
  s.options = options;
  s.labels = labels;
  s.is_default = predefined && driver != "host" && driver != "null";
  return s;
}

json Network::to_json() const {
  json j = {{"Internal", internal}, {"Options", map_json(options)}, {"Labels", map_json(labels)}};
  if (!subnet.empty()) j["Subnet"] = subnet;
  if (!ip_range.empty()) j["IPRange"] = ip_range;
  if (!gateway.empty()) j["Gateway"] = gateway;
  if (predefined) j["Predefined"] = true;
  return j;
}

std::string Endpoint::cidr() const { return ip == 0 ? "" : ip_str(ip) + "/" + std::to_string(prefix); }
std::string Endpoint::address() const { return ip == 0 ? "" : ip_str(ip); }

Error no_such_network(const std::string& ref) { return make_error(Code::NotFound, "network " + ref + " not found"); }

Result<std::vector<Network>> list(Engine& e) {
  BERTH_TRY(ensure_predefined(e));
  BERTH_ASSIGN(auto all, query(e, "ORDER BY json_extract(spec, '$.Predefined') IS NULL, name"));
  return all;
}

Result<Network> find(Engine& e, const std::string& ref) {
  if (ref.empty()) return no_such_network(ref);
  // The common case, one query: `run` names a network (or takes the default) that exists.
  // The predefined rows are made, or follow a changed [networks.default], only when the
  // name is not there or the default's row no longer matches the TOML.
  const auto& def = e.config().default_network;
  BERTH_ASSIGN(auto by_name, query(e, "WHERE name = ?", ref));
  if (!by_name.empty()) {
    const Network& n = by_name.front();
    bool stale_default = n.predefined && n.name == def.name &&
                         (n.driver != def.driver || n.subnet != def.subnet || n.gateway != def.gateway);
    if (!stale_default) return n;
  }
  BERTH_TRY(ensure_predefined(e));
  BERTH_ASSIGN(by_name, query(e, "WHERE name = ?", ref));
  if (!by_name.empty()) return by_name.front();
  if (ref.find_first_not_of("0123456789abcdef") == std::string::npos) {
    BERTH_ASSIGN(auto by_id, query(e, "WHERE substr(id, 1, " + std::to_string(ref.size()) + ") = ?", ref));
    if (by_id.size() == 1) return by_id.front();
    if (by_id.size() > 1) {
      return make_error(Code::InvalidArgument, "network " + ref + " is ambiguous (" +
                                                   std::to_string(by_id.size()) + " matches found based on ID prefix)");
    }
  }
  return no_such_network(ref);
}

Result<Network> create(Engine& e, const CreateRequest& req) {
  BERTH_TRY(ensure_predefined(e));
  if (!valid_network_name(req.name)) {
    return make_error(Code::InvalidArgument, "invalid network name \"" + req.name +
                                                 "\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
  }
  BERTH_ASSIGN(auto same, query(e, "WHERE name = ?", req.name));
  if (!same.empty()) return make_error(Code::Conflict, "network with name " + req.name + " already exists");
  BERTH_ASSIGN(auto driver, e.plugins().network(req.driver));
  auto caps = driver->capabilities();
  if (caps.single_instance) {
    return make_error(Code::Forbidden, "only one instance of \"" + req.driver + "\" network is allowed");
  }
  Network n;
  n.id = util::random_hex(32);
  n.name = req.name;
  n.driver = req.driver;
  n.created_ns = util::now_ns();
  n.internal = req.internal;
  n.options = req.options;
  n.labels = req.labels;
  if (caps.needs_ipam) {
    BERTH_ASSIGN(auto taken, taken_subnets(e));
    if (req.subnet.empty()) {
      if (!req.ip_range.empty() || !req.gateway.empty()) {
        return make_error(Code::InvalidArgument, "--ip-range and --gateway need a --subnet");
      }
      BERTH_ASSIGN(Subnet s, choose_subnet(taken));
      n.subnet = s.str();
    } else {
      BERTH_ASSIGN(Pool p, make_pool(req.subnet, req.ip_range, req.gateway));
      // Only other networks count here: a subnet the user names may sit behind a host route.
      BERTH_ASSIGN(auto others, query(e, ""));
      for (const auto& o : others) {
        if (o.subnet.empty()) continue;
        auto os = parse_subnet(o.subnet);
        if (os && os->overlaps(p.subnet)) {
          return make_error(Code::Conflict, "Pool overlaps with other one on this address space: " + req.subnet +
                                                " overlaps " + o.subnet + " of network " + o.name);
        }
      }
      n.subnet = p.subnet.str();
      n.ip_range = req.ip_range.empty() ? "" : p.range.str();
    }
    BERTH_ASSIGN(Pool p, make_pool(n.subnet, n.ip_range, req.gateway));
    n.gateway = ip_str(p.gateway);
  } else if (!req.subnet.empty() || !req.ip_range.empty() || !req.gateway.empty()) {
    return make_error(Code::InvalidArgument, "network driver '" + req.driver + "' does not take addresses (--subnet)");
  }
  BERTH_TRY(driver->validate_network(n.sdk_spec()));
  BERTH_TRY(insert(e, n));
  sdk::ScopeGuard undo([&] {
    if (auto st = e.db().prepare("DELETE FROM networks WHERE id = ?"); st) {
      st->bind(1, n.id);
      (void)st->run();
    }
  });
  BERTH_TRY(driver->create_network(n.sdk_spec()));
  undo.dismiss();
  return n;
}

Status remove(Engine& e, const Network& n) {
  if (n.predefined) {
    return make_error(Code::Forbidden, n.name + " is a pre-defined network and cannot be removed");
  }
  BERTH_ASSIGN(auto eps, endpoints_of_network(e, n.id));
  if (!eps.empty()) {
    return make_error(Code::Conflict, "error while removing network: network " + n.name + " id " + n.id +
                                          " has active endpoints");
  }
  BERTH_ASSIGN(auto driver, e.plugins().network(n.driver));
  // The row goes first: a start racing with this finds no network rather than a half-gone one.
  BERTH_ASSIGN(auto st, e.db().prepare("DELETE FROM networks WHERE id = ? AND NOT EXISTS "
                                       "(SELECT 1 FROM endpoints WHERE network_id = ?)"));
  st.bind(1, n.id).bind(2, n.id);
  BERTH_TRY(st.run());
  if (e.db().changes() != 1) {
    return make_error(Code::Conflict, "error while removing network: network " + n.name + " id " + n.id +
                                          " has active endpoints");
  }
  Status s = driver->delete_network(n.sdk_spec());
  if (!s) {
    (void)insert(e, n);  // keep the record of what is still there
    return std::move(s).error().wrap("remove network " + n.name);
  }
  return {};
}

Result<std::vector<std::string>> prune(Engine& e) {
  BERTH_ASSIGN(auto all, list(e));
  std::vector<std::string> removed;
  for (const auto& n : all) {
    if (n.predefined) continue;
    BERTH_ASSIGN(auto eps, endpoints_of_network(e, n.id));
    if (!eps.empty()) continue;
    Status s = remove(e, n);
    if (s) {
      removed.push_back(n.name);
    } else if (s.error().code != Code::Conflict) {
      return std::move(s).error();
    }
  }
  return removed;
}

Result<std::vector<Endpoint>> endpoints_of_container(Engine& e, const std::string& container_id) {
  return endpoints_where(e, "WHERE container_id = ? ORDER BY ifname", container_id);
}

Result<std::vector<Endpoint>> endpoints_of_network(Engine& e, const std::string& network_id) {
  return endpoints_where(e, "WHERE network_id = ? ORDER BY ip", network_id);
}

Result<Choice> choose(Engine& e, const std::string& name_or_id) {
  std::string ref = name_or_id.empty() ? e.config().default_network.name : name_or_id;
  if (ref == "default") ref = e.config().default_network.name;
  BERTH_ASSIGN(Network n, find(e, ref));
  BERTH_ASSIGN(auto driver, e.plugins().network(n.driver));
  auto caps = driver->capabilities();
  Choice c;
  c.network = n;
  c.host_namespace = caps.uses_host_namespace;
  c.needs_endpoint = !(caps.single_instance && !caps.needs_ipam);
  return c;
}

std::vector<Request> requests_of(const json& spec) {
  std::vector<Request> out;
  const json net = spec.value("Network", json::object());
  for (const auto& r : net.value("Networks", json::array())) {
    Request q;
    q.network_id = str_of(r, "NetworkID");
    q.name = str_of(r, "Name");
    q.ipv4 = str_of(r, "IPv4Address");
    for (const auto& a : r.value("Aliases", json::array())) {
      if (a.is_string()) q.aliases.push_back(a.get<std::string>());
    }
    out.push_back(q);
  }
  return out;
}

Result<std::vector<Attachment>> attach(Engine& e, const std::string& container_id,
                                       const std::vector<Request>& requests) {
  std::vector<Attachment> made;
  sdk::ScopeGuard undo([&] {
    for (auto it = made.rbegin(); it != made.rend(); ++it) {
      (void)it->driver->delete_endpoint(it->network.sdk_spec(), endpoint_spec(it->endpoint));
      (void)delete_endpoint_row(e, it->endpoint.id);
    }
  });
  BERTH_ASSIGN(auto existing, endpoints_of_container(e, container_id));
  // The lowest ethN free: a network disconnected and connected again reuses its name.
  std::vector<std::string> used;
  for (const auto& x : existing) used.push_back(x.ifname);
  auto next_name = [&] {
    for (int i = 0;; ++i) {
      std::string n = "eth" + std::to_string(i);
      if (std::find(used.begin(), used.end(), n) == used.end()) {
        used.push_back(n);
        return n;
      }
    }
  };
  for (const auto& req : requests) {
    BERTH_ASSIGN(auto found, query(e, "WHERE id = ?", req.network_id));
    if (found.empty()) return no_such_network(req.name.empty() ? req.network_id : req.name);
    Attachment a;
    a.network = found.front();
    BERTH_ASSIGN(a.driver, e.plugins().network(a.network.driver));
    auto caps = a.driver->capabilities();
    if (caps.single_instance && !caps.needs_ipam) continue;
    BERTH_TRY(a.driver->restore(a.network.sdk_spec()));
    Endpoint& ep = a.endpoint;
    ep.id = util::random_hex(32);
    ep.network_id = a.network.id;
    ep.container_id = container_id;
    ep.ifname = next_name();
    ep.aliases = req.aliases;
    BERTH_TRY(e.db().transaction([&]() -> Status {
      if (caps.needs_ipam && !a.network.subnet.empty()) {
        BERTH_ASSIGN(Pool pool, make_pool(a.network.subnet, a.network.ip_range, a.network.gateway));
        BERTH_ASSIGN(auto taken_eps, endpoints_of_network(e, a.network.id));
        std::vector<uint32_t> taken;
        for (const auto& t : taken_eps) taken.push_back(t.ip);
        if (!req.ipv4.empty()) {
          BERTH_ASSIGN(uint32_t want, parse_ip(req.ipv4));
          if (!pool.subnet.contains(want) || want == pool.subnet.first() || want == pool.subnet.last()) {
            return make_error(Code::InvalidArgument, "Invalid address " + req.ipv4 +
                                                         ": It does not belong to any of this network's subnets");
          }
          if (want == pool.gateway || std::find(taken.begin(), taken.end(), want) != taken.end()) {
            return make_error(Code::Conflict, "Address already in use: " + req.ipv4 + " on network " + a.network.name);
          }
          ep.ip = want;
        } else {
          BERTH_ASSIGN(auto last, e.db().prepare("SELECT last_ip FROM networks WHERE id = ?"));
          last.bind(1, a.network.id);
          BERTH_ASSIGN(bool row, last.step());
          uint32_t after = row ? static_cast<uint32_t>(last.integer(0)) : 0;
          BERTH_ASSIGN(ep.ip, next_address(pool, taken, after));
          BERTH_ASSIGN(auto upd, e.db().prepare("UPDATE networks SET last_ip = ? WHERE id = ?"));
          upd.bind(1, int64_t{ep.ip}).bind(2, a.network.id);
          BERTH_TRY(upd.run());
        }
        ep.prefix = pool.subnet.prefix;
        ep.mac = mac_for(ep.ip);
      }
      BERTH_ASSIGN(auto ins, e.db().prepare(
          "INSERT INTO endpoints(id, network_id, container_id, ifname, ip, prefix, mac, spec) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
      ins.bind(1, ep.id).bind(2, ep.network_id).bind(3, container_id).bind(4, ep.ifname);
      ins.bind(5, int64_t{ep.ip}).bind(6, int64_t{ep.prefix}).bind(7, ep.mac);
      ins.bind(8, json{{"Aliases", ep.aliases}}.dump());
      Status s = ins.run();
      if (!s && s.error().code == Code::AlreadyExists) {
        return make_error(Code::Conflict, "container " + container_id.substr(0, 12) +
                                              " is already attached to network " + a.network.name);
      }
      return s;
    }));
    auto info = a.driver->create_endpoint(a.network.sdk_spec(), endpoint_spec(ep));
    if (!info) {
      (void)delete_endpoint_row(e, ep.id);
      return std::move(info).error().wrap("network " + a.network.name);
    }
    if (!info->mac.empty() && info->mac != ep.mac) {
      ep.mac = info->mac;
      BERTH_ASSIGN(auto upd, e.db().prepare("UPDATE endpoints SET mac = ? WHERE id = ?"));
      upd.bind(1, ep.mac).bind(2, ep.id);
      BERTH_TRY(upd.run());
    }
    made.push_back(std::move(a));
  }
  undo.dismiss();
  return made;
}

Status join(const std::vector<Attachment>& attachments, pid_t pid, bool default_route) {
  if (attachments.empty()) return {};
  int host = open_netns(0);
  int sandbox = open_netns(pid);
  sdk::ScopeGuard close_fds([&] {
    if (host >= 0) ::close(host);
    if (sandbox >= 0) ::close(sandbox);
  });
  if (host < 0 || sandbox < 0) return sys_error("open the container's network namespace");
  sdk::Sandbox sb;
  sb.host_netns_fd = host;
  sb.sandbox_netns_fd = sandbox;
  sb.pid = pid;
  std::string gateway;
  for (const auto& a : attachments) {
    sb.container_id = a.endpoint.container_id;
    auto joined = a.driver->join(a.network.sdk_spec(), endpoint_spec(a.endpoint), sb);
    if (!joined) return std::move(joined).error().wrap("join network " + a.network.name);
    if (gateway.empty() && !joined->disable_gateway) gateway = joined->gateway;
  }
  BERTH_ASSIGN(auto nl, sdk::Netlink::open(sandbox));
  // lo now rather than when the container's process gets to it: the embedded DNS server
  // binds 127.0.0.11 right after this.
  BERTH_TRY(nl.set_up("lo"));
  if (!gateway.empty() && default_route) BERTH_TRY(nl.add_route({"0.0.0.0/0", gateway, 0}));
  return {};
}

bool wants_dns(const std::vector<Attachment>& attachments) {
  return std::any_of(attachments.begin(), attachments.end(), [](const Attachment& a) {
    return !a.network.predefined && a.driver->capabilities().supports_dns;
  });
}

Result<std::map<std::string, std::vector<uint32_t>>> names_for(Engine& e, const std::string& container_id) {
  BERTH_ASSIGN(auto st, e.db().prepare(
      "SELECT DISTINCT c.name, c.id, e2.ip, e2.spec FROM endpoints e1 "
      "JOIN networks n ON n.id = e1.network_id AND json_extract(n.spec, '$.Predefined') IS NULL "
      "JOIN endpoints e2 ON e2.network_id = e1.network_id AND e2.ip != 0 "
      "JOIN containers c ON c.id = e2.container_id WHERE e1.container_id = ?"));
  st.bind(1, container_id);
  std::map<std::string, std::vector<uint32_t>> out;
  auto add = [&](std::string name, uint32_t ip) {
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    auto& ips = out[name];
    if (std::find(ips.begin(), ips.end(), ip) == ips.end()) ips.push_back(ip);
  };
  for (;;) {
    BERTH_ASSIGN(bool row, st.step());
    if (!row) break;
    uint32_t ip = static_cast<uint32_t>(st.integer(2));
    std::string id = st.text(1);
    add(st.text(0), ip);
    add(id, ip);
    add(id.substr(0, 12), ip);
    json spec = json::parse(st.text(3), nullptr, false);
    if (spec.is_object()) {
      for (const auto& a : spec.value("Aliases", json::array())) {
        if (a.is_string()) add(a.get<std::string>(), ip);
      }
    }
  }
  for (auto& [name, ips] : out) std::sort(ips.begin(), ips.end());
  return out;
}

Status publish(Engine& e, Attachment& a, std::vector<sdk::PortMapping> mappings) {
  if (mappings.empty()) return {};
  sdk::PortPublisher* pub = a.driver->port_publisher();
  if (pub == nullptr) {
    return make_error(Code::Unsupported, "network " + a.network.name + " (driver " + a.network.driver +
                                             ") cannot publish ports");
  }
  for (auto& m : mappings) {
    if (m.host_port == 0) {
      BERTH_ASSIGN(m.host_port, free_host_port(m.protocol, m.host_ip));
    }
    m.container_ip = a.endpoint.address();
  }
  BERTH_TRY(pub->publish_ports(a.network.sdk_spec(), endpoint_spec(a.endpoint), mappings));
  json ports = json::array();
  for (const auto& m : mappings) {
    ports.push_back({{"Protocol", m.protocol}, {"HostIp", m.host_ip}, {"HostPort", m.host_port},
                     {"ContainerPort", m.container_port}});
  }
  auto st = e.db().prepare("UPDATE endpoints SET spec = json_set(spec, '$.Ports', json(?)) WHERE id = ?");
  Status s = st ? (st->bind(1, ports.dump()).bind(2, a.endpoint.id), st->run()) : Status(st.error());
  if (!s) {
    (void)pub->unpublish_ports(a.network.sdk_spec(), endpoint_spec(a.endpoint), mappings);
    return s;
  }
  a.endpoint.ports = mappings;
  return {};
}

Status detach(Engine& e, const Attachment& a, pid_t pid) {
  if (pid > 0) leave({a}, pid);
  Status s = a.driver->delete_endpoint(a.network.sdk_spec(), endpoint_spec(a.endpoint));
  Status d = delete_endpoint_row(e, a.endpoint.id);
  if (!s) return s;
  return d;
}

Result<Attachment> attachment_of(Engine& e, const std::string& container_id, const std::string& network_id) {
  BERTH_ASSIGN(auto eps, endpoints_of_container(e, container_id));
  for (const auto& ep : eps) {
    if (ep.network_id != network_id) continue;
    BERTH_ASSIGN(auto found, query(e, "WHERE id = ?", network_id));
    if (found.empty()) return no_such_network(network_id);
    Attachment a;
    a.network = found.front();
    a.endpoint = ep;
    BERTH_ASSIGN(a.driver, e.plugins().network(a.network.driver));
    return a;
  }
  return make_error(Code::NotFound, "no endpoint of container " + container_id.substr(0, 12) + " on network " + network_id.substr(0, 12));
}

json attachment_to_json(const Attachment& a) {
  const Network& n = a.network;
  const Endpoint& ep = a.endpoint;
  json ports = json::array();
  for (const auto& m : ep.ports) {
    ports.push_back({{"Protocol", m.protocol}, {"HostIp", m.host_ip}, {"HostPort", m.host_port},
                     {"ContainerPort", m.container_port}, {"ContainerIp", m.container_ip}});
  }
  return {{"Network", {{"Id", n.id}, {"Name", n.name}, {"Driver", n.driver}, {"Created", n.created_ns}, {"Spec", n.to_json()}}},
          {"Endpoint", {{"Id", ep.id}, {"NetworkId", ep.network_id}, {"ContainerId", ep.container_id},
                        {"IfName", ep.ifname}, {"IP", ep.ip}, {"Prefix", ep.prefix}, {"Mac", ep.mac},
                        {"Aliases", ep.aliases}, {"Ports", ports}}}};
}

Result<Attachment> attachment_from_json(Engine& e, const json& j) {
  auto bad = [] { return make_error(Code::Internal, "malformed network attachment"); };
  if (!j.is_object() || !j.contains("Network") || !j.contains("Endpoint")) return bad();
  try {
    const json& n = j.at("Network");
    const json& ep = j.at("Endpoint");
    Attachment a;
    a.network = network_from(n.at("Id").get<std::string>(), n.at("Name").get<std::string>(),
                             n.at("Driver").get<std::string>(), n.at("Created").get<int64_t>(), n.at("Spec"));
    a.endpoint.id = ep.at("Id").get<std::string>();
    a.endpoint.network_id = ep.at("NetworkId").get<std::string>();
    a.endpoint.container_id = ep.at("ContainerId").get<std::string>();
    a.endpoint.ifname = ep.at("IfName").get<std::string>();
    a.endpoint.ip = ep.at("IP").get<uint32_t>();
    a.endpoint.prefix = ep.at("Prefix").get<int>();
    a.endpoint.mac = ep.at("Mac").get<std::string>();
    a.endpoint.aliases = ep.at("Aliases").get<std::vector<std::string>>();
    for (const auto& p : ep.at("Ports")) {
      sdk::PortMapping m;
      m.protocol = p.at("Protocol").get<std::string>();
      m.host_ip = p.at("HostIp").get<std::string>();
      m.host_port = p.at("HostPort").get<uint16_t>();
      m.container_port = p.at("ContainerPort").get<uint16_t>();
      m.container_ip = p.at("ContainerIp").get<std::string>();
      a.endpoint.ports.push_back(m);
    }
    BERTH_ASSIGN(a.driver, e.plugins().network(a.network.driver));
    return a;
  } catch (const json::exception&) {
    return bad();
  }
}

void leave(const std::vector<Attachment>& attachments, pid_t pid) {
  int host = open_netns(0);
  int sandbox = pid > 0 ? open_netns(pid) : -1;
  sdk::Sandbox sb;
  sb.host_netns_fd = host;
  sb.sandbox_netns_fd = sandbox;
  sb.pid = pid;
  for (auto it = attachments.rbegin(); it != attachments.rend(); ++it) {
    sb.container_id = it->endpoint.container_id;
    (void)it->driver->leave(it->network.sdk_spec(), endpoint_spec(it->endpoint), sb);
  }
  if (host >= 0) ::close(host);
  if (sandbox >= 0) ::close(sandbox);
}

Status release(Engine& e, const std::string& container_id) {
  BERTH_ASSIGN(auto eps, endpoints_of_container(e, container_id));
  Status first;
  for (const auto& ep : eps) {
    BERTH_ASSIGN(auto found, query(e, "WHERE id = ?", ep.network_id));
    if (!found.empty()) {
      auto driver = e.plugins().network(found.front().driver);
      if (driver) {
        Status s = (*driver)->delete_endpoint(found.front().sdk_spec(), endpoint_spec(ep));
        if (!s && first) first = std::move(s).error().wrap("network " + found.front().name);
      }
    }
    Status d = delete_endpoint_row(e, ep.id);
    if (!d && first) first = std::move(d);
  }
  return first;
}

}  // namespace berth::network
