#pragma once

// Driver `macvlan`: containers on the parent interface's own network, each with a MAC of
// its own (S-NET-12).
//
// Kernel layout:
//   per network      nothing: the parent (`-o parent=IF`) must exist on the host, and is
//                    only looked at.
//   per endpoint     one macvlan link on the parent, made directly inside the container's
//                    namespace under a temporary name (`mv<endpoint id 8>`), then renamed
//                    eth0, eth1 ..., with the MAC and address the core leased from the
//                    network's --subnet/--ip-range. It goes with the container's namespace.
// On disk: nothing. The network's spec comes from the core with every call.
// By macvlan's design the host cannot reach its containers through the parent; containers
// on the same parent (mode bridge) and the other machines on the parent's network can.
//
// Options (`network create -d macvlan -o KEY=VALUE`): parent (required), macvlan_mode
// (bridge, the default; private, vepa, passthru). The TOML table takes none.

#include <string>

#include "berth/sdk/driver_context.hpp"
#include "berth/sdk/network_driver.hpp"

namespace berth::net::macvlan {

struct MacvlanNetwork {
  std::string parent;   // "eth0"
  std::string mode;     // "bridge" | "private" | "vepa" | "passthru"
  std::string gateway;  // "192.168.0.1"; "" for internal networks
};

class MacvlanDriver : public sdk::NetworkDriver {
 public:
  explicit MacvlanDriver(const sdk::DriverContext& ctx);
  static Status validate_options(const sdk::Options& options);

  std::string name() const override { return "macvlan"; }
  sdk::NetworkCapabilities capabilities() const override;
  Status init() override { return {}; }
  Status validate_network(const sdk::NetworkSpec& spec) override;
  Status create_network(const sdk::NetworkSpec& spec) override;
  Status delete_network(const sdk::NetworkSpec& spec) override;
  Result<sdk::EndpointInfo> create_endpoint(const sdk::NetworkSpec& network,
                                            const sdk::EndpointSpec& endpoint) override;
  Result<sdk::JoinResult> join(const sdk::NetworkSpec& network, const sdk::EndpointSpec& endpoint,
                               const sdk::Sandbox& sandbox) override;
  Status leave(const sdk::NetworkSpec& network, const sdk::EndpointSpec& endpoint,
               const sdk::Sandbox& sandbox) override;
  Status delete_endpoint(const sdk::NetworkSpec& network, const sdk::EndpointSpec& endpoint) override;
  Status restore(const sdk::NetworkSpec& spec) override;

 private:
  Result<MacvlanNetwork> parse(const sdk::NetworkSpec& spec) const;
  // NotFound naming the parent when the host has no such interface.
  Status check_parent(const MacvlanNetwork& n) const;
};

// "mv" and the endpoint id's first eight characters: the link's name until it is renamed.
std::string temporary_link_name(const std::string& endpoint_id);

}  // namespace berth::net::macvlan
