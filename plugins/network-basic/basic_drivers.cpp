#include "basic_drivers.hpp"

#include "berth/sdk/plugin.hpp"

namespace berth::net::basic {

BasicDriver::BasicDriver(const sdk::DriverContext&, std::string name, bool host)
    : name_(std::move(name)), host_(host) {}

Status BasicDriver::validate_options(const sdk::Options& options) {
  return sdk::OptionReader(options, "network driver").finish();
}

sdk::NetworkCapabilities BasicDriver::capabilities() const {
  sdk::NetworkCapabilities c;
  c.needs_ipam = false;
  c.uses_host_namespace = host_;
  c.single_instance = true;
  c.supports_connect = false;
  c.supports_dns = false;
  return c;
}

Status BasicDriver::validate_network(const sdk::NetworkSpec& spec) {
  if (!spec.ipv4.empty()) {
    return make_error(Code::InvalidArgument,
                      "network driver '" + name_ + "' does not take subnets (--subnet)");
  }
  return sdk::OptionReader(spec.options, "network driver '" + name_ + "'").finish();
}

Status BasicDriver::create_network(const sdk::NetworkSpec&) { return {}; }

Status BasicDriver::delete_network(const sdk::NetworkSpec& spec) {
  return make_error(Code::Forbidden,
                    spec.name + " is a pre-defined network and cannot be removed");
}

Result<sdk::EndpointInfo> BasicDriver::create_endpoint(const sdk::NetworkSpec&,
                                                       const sdk::EndpointSpec&) {
  return sdk::EndpointInfo{};
}

Result<sdk::JoinResult> BasicDriver::join(const sdk::NetworkSpec&, const sdk::EndpointSpec&,
                                          const sdk::Sandbox&) {
  return sdk::JoinResult{};
}

Status BasicDriver::leave(const sdk::NetworkSpec&, const sdk::EndpointSpec&, const sdk::Sandbox&) {
  return {};
}

Status BasicDriver::delete_endpoint(const sdk::NetworkSpec&, const sdk::EndpointSpec&) {
  return {};
}

Status BasicDriver::restore(const sdk::NetworkSpec&) { return {}; }

}  // namespace berth::net::basic

namespace {

const berth::sdk::PluginDescriptor* describe() {
  static const berth::sdk::DriverDescriptor drivers[] = {
      berth::sdk::network_driver<berth::net::basic::HostDriver>("host"),
      berth::sdk::network_driver<berth::net::basic::NullDriver>("null"),
  };
  static const berth::sdk::PluginDescriptor plugin =
      berth::sdk::make_plugin("network-basic", "0.1.0", drivers);
  return &plugin;
}

}  // namespace

BERTH_PLUGIN_ENTRY(describe)
