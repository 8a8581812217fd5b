#include "macvlan_driver.hpp"

#include "berth/sdk/netlink.hpp"
#include "berth/sdk/options.hpp"
#include "berth/sdk/plugin.hpp"
#include "berth/sdk/scope_guard.hpp"

namespace berth::net::macvlan {

namespace {

struct Parsed {
  std::string parent;
  std::string mode;
  std::string gateway;
};

Result<Parsed> parse(const sdk::NetworkSpec& spec) {
  sdk::OptionReader r(spec.options, "network driver 'macvlan'");
  Parsed p;
  p.parent = r.get("parent");
  BERTH_ASSIGN(p.mode, r.get_enum("macvlan_mode", "bridge", {"bridge", "private", "vepa", "passthru"}));
  BERTH_TRY(r.finish());
  if (p.parent.empty()) {
    return make_error(Code::InvalidArgument, "network driver 'macvlan': -o parent=INTERFACE is required");
  }
  if (spec.ipv4.size() != 1 || spec.ipv4[0].subnet.empty()) {
    return make_error(Code::InvalidArgument, "network driver 'macvlan' needs exactly one IPv4 subnet");
  }
  if (!spec.internal) p.gateway = spec.ipv4[0].gateway;
  return p;
}

Status parent_exists(const std::string& parent) {
  BERTH_ASSIGN(auto nl, sdk::Netlink::open());
  auto link = nl.link(parent);
  if (!link && link.error().code == Code::NotFound) {
    return make_error(Code::NotFound, "network driver 'macvlan': parent interface '" + parent + "' does not exist");
  }
  return link.status();
}

}  // namespace

MacvlanDriver::MacvlanDriver(const sdk::DriverContext&) {}

Status MacvlanDriver::validate_options(const sdk::Options& options) {
  return sdk::OptionReader(options, "driver 'macvlan'").finish();
}

sdk::NetworkCapabilities MacvlanDriver::capabilities() const {
  sdk::NetworkCapabilities c;
  c.needs_ipam = true;
  c.supports_connect = true;
  c.supports_dns = true;
  return c;
}

Status MacvlanDriver::validate_network(const sdk::NetworkSpec& spec) {
  BERTH_ASSIGN(Parsed p, parse(spec));
  return parent_exists(p.parent);
}

Status MacvlanDriver::create_network(const sdk::NetworkSpec& spec) { return validate_network(spec); }

Status MacvlanDriver::restore(const sdk::NetworkSpec& spec) { return validate_network(spec); }

Status MacvlanDriver::delete_network(const sdk::NetworkSpec&) { return {}; }

Result<sdk::EndpointInfo> MacvlanDriver::create_endpoint(const sdk::NetworkSpec& network,
                                                         const sdk::EndpointSpec& endpoint) {
  BERTH_TRY(parse(network).status());
  if (endpoint.ipv4.empty()) {
    return make_error(Code::InvalidArgument, "network driver 'macvlan': the endpoint has no address");
  }
  sdk::EndpointInfo info;
  info.mac = endpoint.mac;
  info.ipv4 = endpoint.ipv4;
  return info;
}

Result<sdk::JoinResult> MacvlanDriver::join(const sdk::NetworkSpec& network, const sdk::EndpointSpec& endpoint,
                                            const sdk::Sandbox& sandbox) {
  BERTH_ASSIGN(Parsed p, parse(network));
  // Made on the parent (looked up in this, the host's, namespace) directly inside the
  // container's: a temporary name cannot collide with the container's own interfaces.
  const std::string temp = "mv" + endpoint.endpoint_id.substr(0, 8);
  BERTH_ASSIGN(auto host, sdk::Netlink::open());
  BERTH_TRY(host.create_macvlan(temp, p.parent, p.mode, sandbox.sandbox_netns_fd));
  BERTH_ASSIGN(auto inside, sdk::Netlink::open(sandbox.sandbox_netns_fd));
  std::string current = temp;
  sdk::ScopeGuard undo([&] { (void)inside.delete_link(current); });
  BERTH_TRY(inside.rename(temp, endpoint.interface_name));
  current = endpoint.interface_name;
  if (!endpoint.mac.empty()) BERTH_TRY(inside.set_mac(current, endpoint.mac));
  for (const auto& cidr : endpoint.ipv4) BERTH_TRY(inside.add_address(current, cidr));
  BERTH_TRY(inside.set_up(current));
  undo.dismiss();
  sdk::JoinResult r;
  r.gateway = p.gateway;
  return r;
}

Status MacvlanDriver::leave(const sdk::NetworkSpec&, const sdk::EndpointSpec& endpoint, const sdk::Sandbox& sandbox) {
  // The link lives in the container's namespace only; a namespace that died took it along.
  if (sandbox.sandbox_netns_fd < 0) return {};
  BERTH_ASSIGN(auto inside, sdk::Netlink::open(sandbox.sandbox_netns_fd));
  Status s = inside.delete_link(endpoint.interface_name);
  if (!s && s.error().code != Code::NotFound) return s;
  return {};
}

Status MacvlanDriver::delete_endpoint(const sdk::NetworkSpec&, const sdk::EndpointSpec&) { return {}; }

}  // namespace berth::net::macvlan

namespace {

const berth::sdk::PluginDescriptor* describe() {
  static const berth::sdk::DriverDescriptor drivers[] = {
      berth::sdk::network_driver<berth::net::macvlan::MacvlanDriver>("macvlan"),
  };
  static const berth::sdk::PluginDescriptor plugin = berth::sdk::make_plugin("network-macvlan", "0.1.0", drivers);
  return &plugin;
}

}  // namespace

BERTH_PLUGIN_ENTRY(describe)
