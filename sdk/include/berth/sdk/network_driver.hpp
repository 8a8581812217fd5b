#pragma once

// Network drivers, in the shape of libnetwork's driver API with netavark's discipline:
//   validate_network -> create_network -> create_endpoint -> join
//                    <- delete_network <- delete_endpoint <- leave
// The core owns IPAM, names (hosts file, embedded DNS) and the network namespace of each
// container (its "sandbox"); drivers own the kernel objects that connect a sandbox to a
// network (bridge, veth, macvlan link, nftables rules).
//
// Rules every driver follows:
//   - validate before acting: validate_network() parses every option and changes nothing;
//   - on failure a method undoes what it did, in reverse, before returning;
//   - teardown (leave, delete_endpoint, delete_network) tries everything and reports all
//     errors together;
//   - drivers never setns(): the core hands them the namespaces as open file descriptors;
//   - restore() makes a network usable again after a reboot or a hand-deleted device.

#include <cstdint>
#include <string>
#include <vector>

#include "berth/sdk/options.hpp"
#include "berth/sdk/result.hpp"
#include "berth/sdk/visibility.hpp"

namespace berth::sdk {

struct Ipv4Pool {
  std::string subnet;    // CIDR, "172.18.0.0/16"
  std::string ip_range;  // CIDR inside subnet that addresses come from; "" = the whole subnet
  std::string gateway;   // address, "172.18.0.1"; "" when the network has none
};

struct NetworkSpec {
  std::string id;    // 64 hex
  std::string name;
  std::vector<Ipv4Pool> ipv4;  // empty for drivers that do not use IPAM
  bool internal = false;       // no route to the outside world
  bool enable_ipv6 = false;
  Options options;             // `-o key=value` of `network create`; the driver validates them
  Labels labels;
  bool is_default = false;     // the host's default network (from the TOML)
};

struct EndpointSpec {
  std::string network_id;
  std::string endpoint_id;        // 64 hex
  std::string container_id;
  std::string interface_name;     // inside the sandbox: "eth0", "eth1", ...
  std::vector<std::string> ipv4;  // CIDR addresses the core allocated, "172.18.0.2/16"
  std::string mac;                // requested MAC, "" to let the driver choose
  std::vector<std::string> aliases;
  Options options;
};

struct EndpointInfo {
  std::string mac;                // the MAC the interface will carry
  std::vector<std::string> ipv4;  // CIDR, as given or adjusted by the driver
  Options oper_info;              // shown by inspect
};

struct Route {
  std::string destination;  // CIDR
  std::string gateway;      // address, "" for a link route
};

struct JoinResult {
  std::string gateway;          // default route inside the sandbox; "" = none
  std::vector<Route> routes;    // extra static routes
  bool disable_gateway = false;
};

// A container's network namespace, as the core hands it to drivers. The file descriptors
// are open for the duration of the call only.
struct Sandbox {
  std::string container_id;
  int host_netns_fd = -1;     // the host's network namespace
  int sandbox_netns_fd = -1;  // the container's network namespace
  int pid = 0;                // the container's first process, 0 when not running
};

struct PortMapping {
  std::string protocol = "tcp";  // "tcp" | "udp" | "sctp"
  std::string host_ip;           // "" = every address
  uint16_t host_port = 0;
  uint16_t container_port = 0;
  std::string container_ip;
};

struct NetworkCapabilities {
  bool needs_ipam = true;            // the core allocates addresses for endpoints
  bool uses_host_namespace = false;  // containers stay in the host's network namespace (host)
  bool single_instance = false;      // only one network of this driver may exist (host, null)
  bool supports_connect = true;      // `network connect/disconnect` allowed
  bool supports_dns = true;          // the embedded DNS serves names on user-defined networks
};

// Optional: publishing container ports on the host (`-p`).
class BERTH_SDK_VISIBLE PortPublisher {
 public:
  virtual ~PortPublisher() = default;
  // Makes `mappings` reach the endpoint. All or nothing.
  virtual Status publish_ports(const NetworkSpec& network, const EndpointSpec& endpoint,
                               const std::vector<PortMapping>& mappings) = 0;
  // Removes them. Idempotent; tries every mapping and reports all errors.
  virtual Status unpublish_ports(const NetworkSpec& network, const EndpointSpec& endpoint,
                                 const std::vector<PortMapping>& mappings) = 0;
};

class BERTH_SDK_VISIBLE NetworkDriver {
 public:
  virtual ~NetworkDriver() = default;

  virtual std::string name() const = 0;
  virtual NetworkCapabilities capabilities() const = 0;

  // Checks the kernel support the driver needs. Called once per process before any other
  // method; Unsupported means "skip here". Idempotent, and cheap: no kernel changes.
  virtual Status init() = 0;

  // Parses and checks every option and pool of `spec`, changing nothing. Unknown option
  // keys are InvalidArgument errors naming the key.
  virtual Status validate_network(const NetworkSpec& spec) = 0;

  // Creates or adopts the driver's objects for the network (bridge device, firewall
  // chains) and persists what it needs. Called after validate_network() succeeded.
  virtual Status create_network(const NetworkSpec& spec) = 0;

  // Removes them. The core has removed every endpoint first. Forbidden for drivers whose
  // networks are built in (host, null).
  virtual Status delete_network(const NetworkSpec& spec) = 0;

  // Reserves what one endpoint needs and reports the MAC and addresses it will use.
  virtual Result<EndpointInfo> create_endpoint(const NetworkSpec& network,
                                               const EndpointSpec& endpoint) = 0;

  // Puts an interface named endpoint.interface_name into the sandbox, addressed and up.
  virtual Result<JoinResult> join(const NetworkSpec& network, const EndpointSpec& endpoint,
                                  const Sandbox& sandbox) = 0;

  // Undoes join(). Best effort: the sandbox may already be gone (container exited).
  virtual Status leave(const NetworkSpec& network, const EndpointSpec& endpoint,
                       const Sandbox& sandbox) = 0;

  // Releases what create_endpoint() reserved. Idempotent.
  virtual Status delete_endpoint(const NetworkSpec& network, const EndpointSpec& endpoint) = 0;

  // Operational facts for inspect.
  virtual Result<Options> endpoint_info(const NetworkSpec& network, const EndpointSpec& endpoint) {
    (void)network;
    (void)endpoint;
    return Options{};
  }

  // Re-creates missing kernel objects of an existing network (after a reboot, or a device
  // deleted by hand). Called before a network is used; cheap when nothing is missing.
  virtual Status restore(const NetworkSpec& spec) = 0;

  // Optional abilities; nullptr when the driver has none.
  virtual PortPublisher* port_publisher() { return nullptr; }
};

}  // namespace berth::sdk
