#include "bridge_driver.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <sstream>

#include "berth/sdk/fs.hpp"
#include "berth/sdk/netlink.hpp"
#include "berth/sdk/options.hpp"
#include "berth/sdk/plugin.hpp"
#include "berth/sdk/scope_guard.hpp"

namespace berth::net::bridge {

namespace fs = sdk::fs;

namespace {

constexpr const char* kBridgeNameOpt = "com.docker.network.bridge.name";
constexpr const char* kMasqueradeOpt = "com.docker.network.bridge.enable_ip_masquerade";


std::map<std::string, std::string> parse_kv(const std::string& text) {
  std::map<std::string, std::string> kv;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return kv;
}

std::string without_prefix(const std::string& cidr) { return cidr.substr(0, cidr.find('/')); }

Status write_sysctl(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return sys_error("open " + path);
  ssize_t n = ::write(fd, value.data(), value.size());
  int e = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) return sys_error("write " + path, e);
  return {};
}

bool ports_overlap(const NatPort& a, const NatPort& b) {
  auto any = [](const std::string& ip) { return ip.empty() || ip == "0.0.0.0"; };
  return a.protocol == b.protocol && a.host_port == b.host_port &&
         (any(a.host_ip) || any(b.host_ip) || a.host_ip == b.host_ip);
}

std::vector<NatPort> read_ports(const std::string& text) {
  std::vector<NatPort> out;
  std::istringstream in(text);
  std::string line, container;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string first;
    f >> first;
    if (first == "container") {
      f >> container;
      continue;
    }
    NatPort p;
    p.container_id = container;
    p.protocol = first;
    unsigned hp = 0, cp = 0;
    f >> p.host_ip >> hp >> p.container_ip >> cp;
    if (!f) continue;
    if (p.host_ip == "-") p.host_ip.clear();
    p.host_port = static_cast<uint16_t>(hp);
    p.container_port = static_cast<uint16_t>(cp);
    out.push_back(p);
  }
  return out;
}

// Whether the host port can be bound now: a program on the host holding it would never see
// its traffic once the DNAT rule is there, so Docker's refusal applies.
Status port_free(const NatPort& p) {
  if (p.protocol == "sctp") return {};
  int s = ::socket(AF_INET, (p.protocol == "udp" ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (s < 0) return sys_error("socket");
  sockaddr_in a {};
  a.sin_family = AF_INET;
  a.sin_port = htons(p.host_port);
  std::string ip = p.host_ip.empty() ? "0.0.0.0" : p.host_ip;
  if (::inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1) {
    ::close(s);
    return make_error(Code::InvalidArgument, "invalid host IP '" + ip + "'");
  }
  int r = ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  int e = errno;
  ::close(s);
  if (r != 0 && e == EADDRINUSE) {
    return make_error(Code::Conflict, "driver failed programming external connectivity: listen " + p.protocol +
                                          "4 " + ip + ":" + std::to_string(p.host_port) +
                                          ": bind: address already in use");
  }
  if (r != 0 && e == EADDRNOTAVAIL) {
    return make_error(Code::InvalidArgument, "host IP " + ip + " is not an address of this host");
  }
  return {};
}

}  // namespace

std::string host_veth_name(const std::string& endpoint_id) { return "veth" + endpoint_id.substr(0, 7); }

BridgeDriver::BridgeDriver(const sdk::DriverContext& ctx)
    : state_dir_(ctx.state_dir), log_(ctx.logger) {
  auto it = ctx.options.find("bridge_name");
  default_bridge_ = it != ctx.options.end() ? it->second : "berth0";
  it = ctx.options.find("nft_table");
  table_ = it != ctx.options.end() ? it->second : "berth";
}

Status BridgeDriver::validate_options(const sdk::Options& options) {
  sdk::OptionReader r(options, "driver 'bridge'");
  std::string bridge = r.get("bridge_name", "berth0");
  std::string table = r.get("nft_table", "berth");
  BERTH_TRY(r.finish());
  if (bridge.empty() || bridge.size() > 15 || bridge.find_first_of("/ \t") != std::string::npos) {
    return make_error(Code::InvalidArgument, "driver 'bridge': bridge_name '" + bridge +
                                                 "' is not a valid interface name (1 to 15 characters)");
  }
  for (char c : table) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') {
      return make_error(Code::InvalidArgument, "driver 'bridge': nft_table '" + table + "' must be letters, digits, - and _");
    }
  }
  return {};
}

sdk::NetworkCapabilities BridgeDriver::capabilities() const {
  sdk::NetworkCapabilities c;
  c.needs_ipam = true;
  c.supports_connect = true;
  c.supports_dns = true;
  return c;
}

Status BridgeDriver::init() {
  BERTH_TRY(fs::make_dirs(state_dir_ + "/networks", 0700));
  return fs::make_dirs(state_dir_ + "/ports", 0700);
}

Result<BridgeNetwork> BridgeDriver::parse(const sdk::NetworkSpec& spec) const {
  sdk::OptionReader r(spec.options, "network driver 'bridge'");
  BridgeNetwork n;
  n.id = spec.id;
  n.internal = spec.internal;
  std::string fallback = spec.is_default ? default_bridge_ : "br-" + spec.id.substr(0, 12);
  n.bridge = r.get(kBridgeNameOpt, fallback);
  BERTH_ASSIGN(n.masquerade, r.get_bool(kMasqueradeOpt, true));
  BERTH_TRY(r.finish());
  if (n.bridge.empty() || n.bridge.size() > 15 || n.bridge.find_first_of("/ \t:") != std::string::npos) {
    return make_error(Code::InvalidArgument, "network driver 'bridge': bridge name '" + n.bridge +
                                                 "' is not a valid interface name (1 to 15 characters)");
  }
  if (spec.ipv4.size() != 1 || spec.ipv4[0].subnet.empty()) {
    return make_error(Code::InvalidArgument, "network driver 'bridge' needs exactly one IPv4 subnet");
  }
  n.subnet = spec.ipv4[0].subnet;
  n.gateway = spec.ipv4[0].gateway;
  n.prefix = std::atoi(n.subnet.c_str() + n.subnet.find('/') + 1);
  if (n.gateway.empty()) return make_error(Code::InvalidArgument, "network driver 'bridge' needs a gateway address");
  return n;
}

Status BridgeDriver::validate_network(const sdk::NetworkSpec& spec) {
  BERTH_ASSIGN(BridgeNetwork n, parse(spec));
  // Another network of ours on the same device would share its addresses and rules.
  for (const auto& id : fs::list_dir(state_dir_ + "/networks")) {
    if (id == n.id) continue;
    auto text = fs::read_file(network_file(id));
    if (text && parse_kv(*text)["bridge"] == n.bridge) {
      return make_error(Code::Conflict, "bridge device " + n.bridge + " is already used by network " + id.substr(0, 12));
    }
  }
  // A device of that name that is not a bridge (eth0, say) must never be taken over.
  BERTH_ASSIGN(auto nl, sdk::Netlink::open());
  auto link = nl.link(n.bridge);
  if (link && link->kind != "bridge") {
    return make_error(Code::Conflict, "network driver 'bridge': interface " + n.bridge + " exists and is not a bridge");
  }
  return {};
}

Status BridgeDriver::ensure_device(const BridgeNetwork& n, bool* made) {
  BERTH_ASSIGN(auto nl, sdk::Netlink::open());
  auto link = nl.link(n.bridge);
  if (!link) {
    if (link.error().code != Code::NotFound) return std::move(link).error();
    Status s = nl.create_bridge(n.bridge);
    if (!s && s.error().code != Code::AlreadyExists) return s;
    *made = true;
    BERTH_ASSIGN(link, nl.link(n.bridge));
  } else if (link->kind != "bridge") {
    return make_error(Code::Conflict, "interface " + n.bridge + " exists and is not a bridge");
  }
  std::string addr = n.gateway + "/" + std::to_string(n.prefix);
  BERTH_ASSIGN(auto addrs, nl.addresses(n.bridge));
  if (std::find(addrs.begin(), addrs.end(), addr) == addrs.end()) {
    Status s = nl.add_address(n.bridge, addr);
    if (!s && s.error().code != Code::AlreadyExists) return s;
    *made = true;
  }
  if (!link->up) {
    BERTH_TRY(nl.set_up(n.bridge));
    *made = true;
  }
  if (*made) {
    // Published ports answer on 127.0.0.1: packets from the loopback range may leave
    // through the bridge (and are masqueraded on the way).
    BERTH_TRY(write_sysctl("/proc/sys/net/ipv4/conf/" + n.bridge + "/route_localnet", "1"));
    if (!n.internal) BERTH_TRY(write_sysctl("/proc/sys/net/ipv4/ip_forward", "1"));
  }
  return {};
}

Status BridgeDriver::apply_table() {
  std::vector<NatNetwork> nets;
  std::map<std::string, std::string> bridge_of_subnet;
  for (const auto& id : fs::list_dir(state_dir_ + "/networks")) {
    auto text = fs::read_file(network_file(id));
    if (!text) continue;
    auto kv = parse_kv(*text);
    NatNetwork n;
    n.id = id;
    n.bridge = kv["bridge"];
    n.subnet = kv["subnet"];
    n.internal = kv["internal"] == "1";
    n.masquerade = kv["masquerade"] != "0";
    nets.push_back(n);
  }
  std::vector<NatPort> ports;
  for (const auto& ep : fs::list_dir(state_dir_ + "/ports")) {
    auto text = fs::read_file(ports_file(ep));
    if (!text) continue;
    for (auto& p : read_ports(*text)) ports.push_back(p);
  }
  return run_nft(render_table(table_, nets, ports));
}

Status BridgeDriver::create_network(const sdk::NetworkSpec& spec) {
  BERTH_ASSIGN(BridgeNetwork n, parse(spec));
  BERTH_ASSIGN(auto lock, fs::FileLock::exclusive(state_dir_ + "/lock"));
  std::string text = "bridge=" + n.bridge + "\nsubnet=" + n.subnet + "\ngateway=" + n.gateway +
                     "\ninternal=" + (n.internal ? "1" : "0") + "\nmasquerade=" + (n.masquerade ? "1" : "0") + "\n";
  BERTH_TRY(fs::write_file_atomic(network_file(n.id), text, 0600));
  bool made = false;
  Status s = ensure_device(n, &made);
  if (s) s = apply_table();
  if (!s) {
    // Leave nothing: the core removes the network's record when this fails.
    ::unlink(network_file(n.id).c_str());
    if (made) {
      if (auto nl = sdk::Netlink::open()) (void)nl->delete_link(n.bridge);
    }
    (void)apply_table();
    return s;
  }
  return {};
}

Status BridgeDriver::restore(const sdk::NetworkSpec& spec) {
  BERTH_ASSIGN(BridgeNetwork n, parse(spec));
  bool made = false;
  BERTH_TRY(ensure_device(n, &made));
  // The cheap path (everything there) takes no lock and renders nothing.
  if (!made && fs::exists(network_file(n.id))) return {};
  return create_network(spec);
}

Status BridgeDriver::delete_network(const sdk::NetworkSpec& spec) {
  BERTH_ASSIGN(BridgeNetwork n, parse(spec));
  BERTH_ASSIGN(auto lock, fs::FileLock::exclusive(state_dir_ + "/lock"));
  std::vector<std::string> errors;
  if (::unlink(network_file(n.id).c_str()) != 0 && errno != ENOENT) errors.push_back(std::strerror(errno));
  if (Status s = apply_table(); !s) errors.push_back(s.error().what());
  if (auto nl = sdk::Netlink::open(); nl) {
    Status s = nl->delete_link(n.bridge);
    if (!s && s.error().code != Code::NotFound) errors.push_back(s.error().what());
  } else {
    errors.push_back(nl.error().what());
  }
  if (!errors.empty()) {
    std::string all;
    for (const auto& e : errors) all += (all.empty() ? "" : "; ") + e;
    return make_error(Code::Internal, "delete bridge network " + n.bridge + ": " + all);
  }
  return {};
}

Result<sdk::EndpointInfo> BridgeDriver::create_endpoint(const sdk::NetworkSpec& network,
                                                        const sdk::EndpointSpec& endpoint) {
  BERTH_TRY(parse(network).status());
  if (endpoint.ipv4.empty()) {
    return make_error(Code::InvalidArgument, "network driver 'bridge': endpoint " + endpoint.endpoint_id.substr(0, 12) +
                                                 " has no address");
  }
  sdk::EndpointInfo info;
  info.mac = endpoint.mac;
  info.ipv4 = endpoint.ipv4;
  return info;
}

Result<sdk::JoinResult> BridgeDriver::join(const sdk::NetworkSpec& network, const sdk::EndpointSpec& endpoint,
                                           const sdk::Sandbox& sandbox) {
  BERTH_ASSIGN(BridgeNetwork n, parse(network));
  const std::string host_end = host_veth_name(endpoint.endpoint_id);
  // This process is in the host's namespace (the core calls join from there).
  BERTH_ASSIGN(auto host, sdk::Netlink::open());
  BERTH_TRY(host.create_veth(host_end, endpoint.interface_name, sandbox.sandbox_netns_fd));
  sdk::ScopeGuard undo([&] { (void)host.delete_link(host_end); });
  BERTH_TRY(host.set_master(host_end, n.bridge));
  BERTH_TRY(host.set_up(host_end));
  BERTH_ASSIGN(auto inside, sdk::Netlink::open(sandbox.sandbox_netns_fd));
  if (!endpoint.mac.empty()) BERTH_TRY(inside.set_mac(endpoint.interface_name, endpoint.mac));
  for (const auto& cidr : endpoint.ipv4) BERTH_TRY(inside.add_address(endpoint.interface_name, cidr));
  BERTH_TRY(inside.set_up(endpoint.interface_name));
  undo.dismiss();
  sdk::JoinResult r;
  if (!n.internal) r.gateway = n.gateway;
  return r;
}

Status BridgeDriver::leave(const sdk::NetworkSpec&, const sdk::EndpointSpec& endpoint, const sdk::Sandbox&) {
  // Deleting one end of a pair deletes both; a namespace that died took both already.
  BERTH_ASSIGN(auto host, sdk::Netlink::open());
  Status s = host.delete_link(host_veth_name(endpoint.endpoint_id));
  if (!s && s.error().code != Code::NotFound) return s;
  // Every container's end puts the table right again (rules deleted or added by hand).
  // The engine calls leave() after a container's exit has been reported, where nobody
  // waits for it; a start does not pay for this.
  BERTH_ASSIGN(auto lock, fs::FileLock::exclusive(state_dir_ + "/lock"));
  return apply_table();
}

Status BridgeDriver::delete_endpoint(const sdk::NetworkSpec&, const sdk::EndpointSpec& endpoint) {
  // The veth pair belongs to join()/leave(), and to the container's namespace: when that
  // dies the kernel removes both ends. Waiting for it here would cost every exit a
  // veth deletion (an RCU grace period).
  if (!fs::exists(ports_file(endpoint.endpoint_id))) return {};
  BERTH_ASSIGN(auto lock, fs::FileLock::exclusive(state_dir_ + "/lock"));
  ::unlink(ports_file(endpoint.endpoint_id).c_str());
  if (Status s = apply_table(); !s) {
    return make_error(Code::Internal, "delete endpoint " + endpoint.endpoint_id.substr(0, 12) + ": " + s.error().what());
  }
  return {};
}

namespace {

// Docker's words for a host port someone else publishes.
Error already_allocated(const NatPort& p) {
  return make_error(Code::Conflict, "Bind for " + (p.host_ip.empty() ? std::string("0.0.0.0") : p.host_ip) + ":" +
                                        std::to_string(p.host_port) + " failed: port is already allocated");
}

}  // namespace

Status BridgeDriver::publish_ports(const sdk::NetworkSpec& network, const sdk::EndpointSpec& endpoint,
                                   const std::vector<sdk::PortMapping>& mappings) {
  BERTH_TRY(parse(network).status());
  if (endpoint.ipv4.empty()) return make_error(Code::InvalidArgument, "endpoint has no address to publish ports to");
  std::vector<NatPort> want;
  for (const auto& m : mappings) {
    if (m.protocol != "tcp" && m.protocol != "udp" && m.protocol != "sctp") {
      return make_error(Code::InvalidArgument, "invalid protocol '" + m.protocol + "' (tcp, udp or sctp)");
    }
    if (m.host_port == 0 || m.container_port == 0) {
      return make_error(Code::InvalidArgument, "port mappings need both ports");
    }
    NatPort p;
    p.container_id = endpoint.container_id;
    p.protocol = m.protocol;
    p.host_ip = m.host_ip == "0.0.0.0" ? "" : m.host_ip;
    p.host_port = m.host_port;
    p.container_ip = without_prefix(endpoint.ipv4.front());
    p.container_port = m.container_port;
    for (const auto& w : want) {
      if (ports_overlap(w, p)) {
        return already_allocated(p);
      }
    }
    want.push_back(p);
  }
  BERTH_ASSIGN(auto lock, fs::FileLock::exclusive(state_dir_ + "/lock"));
  for (const auto& ep : fs::list_dir(state_dir_ + "/ports")) {
    if (ep == endpoint.endpoint_id) continue;
    auto text = fs::read_file(ports_file(ep));
    if (!text) continue;
    for (const auto& have : read_ports(*text)) {
      for (const auto& p : want) {
        if (ports_overlap(have, p)) {
          return already_allocated(p);
        }
      }
    }
  }
  for (const auto& p : want) BERTH_TRY(port_free(p));
  std::string text = "container " + endpoint.container_id + "\n";
  for (const auto& p : want) {
    text += p.protocol + " " + (p.host_ip.empty() ? "-" : p.host_ip) + " " + std::to_string(p.host_port) + " " +
            p.container_ip + " " + std::to_string(p.container_port) + "\n";
  }
  BERTH_TRY(fs::write_file_atomic(ports_file(endpoint.endpoint_id), text, 0600));
  Status s = apply_table();
  if (!s) {
    ::unlink(ports_file(endpoint.endpoint_id).c_str());
    (void)apply_table();
  }
  return s;
}

Status BridgeDriver::unpublish_ports(const sdk::NetworkSpec&, const sdk::EndpointSpec& endpoint,
                                     const std::vector<sdk::PortMapping>&) {
  BERTH_ASSIGN(auto lock, fs::FileLock::exclusive(state_dir_ + "/lock"));
  if (::unlink(ports_file(endpoint.endpoint_id).c_str()) != 0 && errno == ENOENT) return {};
  return apply_table();
}

}  // namespace berth::net::bridge

namespace {

const berth::sdk::PluginDescriptor* describe() {
  static const berth::sdk::DriverDescriptor drivers[] = {
      berth::sdk::network_driver<berth::net::bridge::BridgeDriver>("bridge"),
  };
  static const berth::sdk::PluginDescriptor plugin = berth::sdk::make_plugin("network-bridge", "0.1.0", drivers);
  return &plugin;
}

}  // namespace

BERTH_PLUGIN_ENTRY(describe)
