#pragma once

// Driver `bridge`: a Linux bridge per network, a veth pair per endpoint, NAT and published
// ports in nftables.
//
// Kernel layout, per network:
//   bridge device    `berth0` for the host's default network (TOML: bridge_name), else
//                    `br-<id12>` or `-o com.docker.network.bridge.name=NAME`; it carries the
//                    gateway address (172.17.0.1/16) and route_localnet=1, so published
//                    ports answer on 127.0.0.1.
//   per endpoint     `veth<endpoint id 7>` on the host, enslaved to the bridge; its peer is
//                    made inside the container's namespace as eth0, eth1 ..., with the MAC
//                    and address the core leased.
//   nftables         one table for every network of this driver (nat_nft.hpp).
// On disk, under the driver's state directory:
//   networks/<network id>   key=value: bridge, subnet, gateway, internal, masquerade
//   ports/<endpoint id>     "container ID", then "PROTO HOSTIP HOSTPORT CTRIP CTRPORT" lines
//   lock                    flock()ed around every change of the two and of the table
// The table is rendered from these files alone, so restore() after a reboot (no bridge, no
// table) rebuilds everything from them.

#include <string>

#include "berth/sdk/driver_context.hpp"
#include "berth/sdk/network_driver.hpp"
#include "nat_nft.hpp"

namespace berth::net::bridge {

struct BridgeNetwork {
  std::string id;
  std::string bridge;
  std::string subnet;   // "172.17.0.0/16"
  std::string gateway;  // "172.17.0.1"
  int prefix = 0;
  bool internal = false;
  bool masquerade = true;
};

class BridgeDriver : public sdk::NetworkDriver, public sdk::PortPublisher {
 public:
  explicit BridgeDriver(const sdk::DriverContext& ctx);
  // The TOML table [drivers."network.bridge"]: bridge_name (the default network's device,
  // "berth0"), nft_table (the nftables table, "berth").
  static Status validate_options(const sdk::Options& options);

  std::string name() const override { return "bridge"; }
  sdk::NetworkCapabilities capabilities() const override;
  Status init() override;
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
  sdk::PortPublisher* port_publisher() override { return this; }

  Status publish_ports(const sdk::NetworkSpec& network, const sdk::EndpointSpec& endpoint,
                       const std::vector<sdk::PortMapping>& mappings) override;
  Status unpublish_ports(const sdk::NetworkSpec& network, const sdk::EndpointSpec& endpoint,
                         const std::vector<sdk::PortMapping>& mappings) override;

 private:
  Result<BridgeNetwork> parse(const sdk::NetworkSpec& spec) const;
  // The bridge device, its address, up; true in *made when anything was missing.
  Status ensure_device(const BridgeNetwork& n, bool* made);
  // Renders the nftables table from the state files and replaces it. Caller holds the lock.
  Status apply_table();
  std::string network_file(const std::string& id) const { return state_dir_ + "/networks/" + id; }
  std::string ports_file(const std::string& endpoint_id) const { return state_dir_ + "/ports/" + endpoint_id; }

  std::string state_dir_;
  std::string default_bridge_;
  std::string table_;
  sdk::Logger* log_;
};

// "veth" and the endpoint id's first seven characters: the host end of an endpoint's pair.
std::string host_veth_name(const std::string& endpoint_id);

}  // namespace berth::net::bridge
