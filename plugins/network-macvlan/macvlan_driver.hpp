#pragma once

// Driver `macvlan`: containers on the parent interface's own network, each with a MAC
// of its own (S-NET-12).
//
// Kernel layout: one macvlan link per endpoint, made on the parent (`-o parent=IF`, which
// must exist) directly inside the container's namespace (named mv<endpoint id 8> until
// renamed to eth0, eth1, ...), carrying the MAC and address the core leased from the
// network's --subnet/--ip-range. Nothing exists per network and nothing is kept on disk:
// the network's spec comes with every call, and an endpoint's link goes with the
// container's namespace. By macvlan's design the host cannot reach its containers through
// the parent; other machines on the parent's network, and containers on the same parent
// (mode bridge), can.
//
// Options (`network create -d macvlan -o KEY=VALUE`): parent (required), macvlan_mode
// (bridge, the default; private, vepa, passthru).

#include <string>

#include "berth/sdk/driver_context.hpp"
#include "berth/sdk/network_driver.hpp"

namespace berth::net::macvlan {

class MacvlanDriver : public sdk::NetworkDriver {
 public:
  explicit MacvlanDriver(const sdk::DriverContext& ctx);
  static Status validate_options(const sdk::Options& options);  // the TOML table: none

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
};

}  // namespace berth::net::macvlan
