#include "macvlan_driver.hpp"

#include "berth/sdk/netlink.hpp"
#include "berth/sdk/options.hpp"
#include "berth/sdk/plugin.hpp"
#include "berth/sdk/scope_guard.hpp"

namespace berth::net::macvlan {

namespace {

constexpr const char* kParentOpt = "parent";
constexpr const char* kModeOpt = "macvlan_mode";

}  // namespace

std::string temporary_link_name(const std::string& endpoint_id) { return "mv" + endpoint_id.substr(0, 8); }

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

Result<MacvlanNetwork> MacvlanDriver::parse(const sdk::NetworkSpec& spec) const {
  sdk::OptionReader r(spec.options, "network driver 'macvlan'");
  MacvlanNetwork n;
  n.parent = r.get(kParentOpt);
  BERTH_ASSIGN(n.mode, r.get_enum(kModeOpt, "bridge", {"bridge", "private", "vepa", "passthru"}));
  BERTH_TRY(r.finish());
  if (n.parent.empty()) {
    return make_error(Code::InvalidArgument, "network driver 'macvlan': -o parent=INTERFACE is required");
  }
  if (spec.ipv4.size() != 1 || spec.ipv4[0].subnet.empty()) {
    return make_error(Code::InvalidArgument, "network driver 'macvlan' needs exactly one IPv4 subnet");
  }
  if (!spec.internal) n.gateway = spec.ipv4[0].gateway;
  return n;
}

Status MacvlanDriver::check_parent(const MacvlanNetwork& n) const {
  BERTH_ASSIGN(auto nl, sdk::Netlink::open());
  auto link = nl.link(n.parent);
  if (!link && link.error().code == Code::NotFound) {
    return make_error(Code::NotFound, "network driver 'macvlan': parent interface '" + n.parent + "' does not exist");
  }
  return link.status();
}

Status MacvlanDriver::validate_network(const sdk::NetworkSpec& spec) {
  BERTH_ASSIGN(MacvlanNetwork n, parse(spec));
  return check_parent(n);
}

Status MacvlanDriver::create_network(const sdk::NetworkSpec& spec) {
  BERTH_ASSIGN(MacvlanNetwork n, parse(spec));
  return check_parent(n);
}

Status MacvlanDriver::restore(const sdk::NetworkSpec& spec) {
  // Nothing of a network is kept in the kernel; only the parent can have gone.
  BERTH_ASSIGN(MacvlanNetwork n, parse(spec));
  return check_parent(n);
}

Status MacvlanDriver::delete_network(const sdk::NetworkSpec&) { return {}; }

Result<sdk::EndpointInfo> MacvlanDriver::create_endpoint(const sdk::NetworkSpec& network,
                                                         const sdk::EndpointSpec& endpoint) {
  BERTH_TRY(parse(network).status());
  if (endpoint.ipv4.empty()) {
    return make_error(Code::InvalidArgument, "network driver 'macvlan': endpoint " + endpoint.endpoint_id.substr(0, 12) +
                                                 " has no address");
  }
  sdk::EndpointInfo info;
  info.mac = endpoint.mac;
  info.ipv4 = endpoint.ipv4;
  return info;
}

Result<sdk::JoinResult> MacvlanDriver::join(const sdk::NetworkSpec& network, const sdk::EndpointSpec& endpoint,
                                            const sdk::Sandbox& sandbox) {
  BERTH_ASSIGN(MacvlanNetwork n, parse(network));
  // This process is in the host's namespace, where the parent is; the link is made in the
  // container's, under a name no interface of the container has.
  BERTH_ASSIGN(auto host, sdk::Netlink::open());
  BERTH_ASSIGN(auto inside, sdk::Netlink::open(sandbox.sandbox_netns_fd));
  std::string current = temporary_link_name(endpoint.endpoint_id);
  BERTH_TRY(host.create_macvlan(current, n.parent, n.mode, sandbox.sandbox_netns_fd));
  sdk::ScopeGuard undo([&] { (void)inside.delete_link(current); });
  BERTH_TRY(inside.rename(current, endpoint.interface_name));
  current = endpoint.interface_name;
  if (!endpoint.mac.empty()) BERTH_TRY(inside.set_mac(current, endpoint.mac));
  for (const auto& cidr : endpoint.ipv4) BERTH_TRY(inside.add_address(current, cidr));
  BERTH_TRY(inside.set_up(current));
  undo.dismiss();
  sdk::JoinResult r;
  r.gateway = n.gateway;
  return r;
}

Status MacvlanDriver::leave(const sdk::NetworkSpec&, const sdk::EndpointSpec& endpoint, const sdk::Sandbox& sandbox) {
  // The link lives in the container's namespace only: one that died took it along.
  if (sandbox.sandbox_netns_fd < 0) return {};
  BERTH_ASSIGN(auto inside, sdk::Netlink::open(sandbox.sandbox_netns_fd));
  Status s = inside.delete_link(endpoint.interface_name);
  if (!s && s.error().code != Code::NotFound) return s;
  return {};
}

Status MacvlanDriver::delete_endpoint(const sdk::NetworkSpec&, const sdk::EndpointSpec&) {
  // create_endpoint() reserved nothing.
  return {};
}

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
