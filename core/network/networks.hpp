#pragma once

// The network manager: networks and endpoints in the state database, IPAM (ipam.hpp) and
// the calls into network drivers. It owns the order of things; drivers own kernel objects.
//
//   network create:  validate_network -> row -> create_network (row removed if it fails)
//   container start: restore -> lease an address (endpoint row) -> create_endpoint   [CLI]
//                    -> clone -> join each endpoint, default route -> exec           [monitor]
//   container exit:  leave -> delete_endpoint -> rows deleted (the lease ends)
//
// Endpoints live for one run: a container's address may change when it starts again, as
// with Docker. Networks whose driver is single-instance and takes no addresses (host,
// null) get no endpoint rows: `--network none` costs no write.

#include <sys/types.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "berth/sdk/network_driver.hpp"
#include "berth/sdk/result.hpp"
#include "engine.hpp"

namespace berth::network {

struct Network {
  std::string id;
  std::string name;
  std::string driver;
  int64_t created_ns = 0;
  std::string subnet;    // "" for drivers without addresses
  std::string ip_range;
  std::string gateway;
  bool internal = false;
  bool predefined = false;  // bridge (the host's default), host, none: never removed
  sdk::Options options;
  sdk::Labels labels;

  sdk::NetworkSpec sdk_spec() const;
  nlohmann::json to_json() const;  // the stored spec column
};

struct CreateRequest {
  std::string name;
  std::string driver = "bridge";
  std::string subnet, ip_range, gateway;
  bool internal = false;
  sdk::Options options;
  sdk::Labels labels;
};

// Docker's error for a name or id that matches nothing.
Error no_such_network(const std::string& ref);

Result<std::vector<Network>> list(Engine& e);  // predefined first, then by name
// Full id, name, or unique id prefix.
Result<Network> find(Engine& e, const std::string& ref);
Result<Network> create(Engine& e, const CreateRequest& req);
// Refused (Conflict) while any container has an endpoint on it or names it.
Status remove(Engine& e, const Network& n);
// Removes every user-defined network no container uses; returns their names.
Result<std::vector<std::string>> prune(Engine& e);

struct Endpoint {
  std::string id;
  std::string network_id;
  std::string container_id;
  std::string ifname;  // eth0, eth1, ...
  uint32_t ip = 0;     // host order, 0 when none
  int prefix = 0;
  std::string mac;
  std::vector<std::string> aliases;
  std::vector<sdk::PortMapping> ports;  // published through this endpoint, host ports chosen

  std::string cidr() const;     // "172.17.0.2/16", "" when none
  std::string address() const;  // "172.17.0.2"
};
Result<std::vector<Endpoint>> endpoints_of_container(Engine& e, const std::string& container_id);
Result<std::vector<Endpoint>> endpoints_of_network(Engine& e, const std::string& network_id);

// One network a container asked for (the container spec's Network.Networks entries).
struct Request {
  std::string network_id;
  std::string name;
  std::vector<std::string> aliases;
  std::string ipv4;  // --ip, "" to take the next free address
};

// Resolves `--network` for create(): a network by name or id, or "container:X" (not here).
struct Choice {
  Network network;
  bool host_namespace = false;  // the host driver: no namespace of its own
  bool needs_endpoint = false;  // false for host and null
};
Result<Choice> choose(Engine& e, const std::string& name_or_id);

// What joins one container to one network, built by start() and handed to the monitor
// (as JSON, attachment_to_json; the monitor opens the driver by name).
struct Attachment {
  Network network;
  Endpoint endpoint;
  std::shared_ptr<sdk::NetworkDriver> driver;
};

// Everything the monitor needs to connect a run: the endpoints to join, or the process
// whose namespace it shares (`--network container:X`).
struct Plan {
  std::vector<Attachment> attachments;
  pid_t share_pid = 0;
  uint64_t share_start = 0;  // the process's start time, so a reused pid is not taken for it
};

// Leases addresses and creates the endpoints for `requests`, in order (eth0 first). All or
// nothing: on failure what was made is undone.
Result<std::vector<Attachment>> attach(Engine& e, const std::string& container_id,
                                       const std::vector<Request>& requests);
// In the monitor, between clone and exec: each endpoint into the container's namespace
// (the process `pid`), then the default route of the first network with a gateway.
// `default_route` false: a network connected to a running container leaves its route alone.
Status join(const std::vector<Attachment>& attachments, pid_t pid, bool default_route = true);
// An attachment as the CLI hands it to the container's monitor (monitor/standby.hpp) and
// back; the receiving process finds the driver again by its name.
nlohmann::json attachment_to_json(const Attachment& a);
Result<Attachment> attachment_from_json(Engine& e, const nlohmann::json& j);
// Ends one attachment (`network disconnect`, or a connect whose join failed): leave() when
// the container runs (`pid`), the driver's delete_endpoint, the row.
Status detach(Engine& e, const Attachment& a, pid_t pid);
// The attachment of a container to a network, from the database; NotFound when there is none.
Result<Attachment> attachment_of(Engine& e, const std::string& container_id, const std::string& network_id);
// Publishes `mappings` (HostConfig.PortBindings) through the attachment's driver, choosing
// host ports where none is given, and records them on the endpoint. All or nothing; the
// driver's delete_endpoint() (release()) takes them away again.
Status publish(Engine& e, Attachment& a, std::vector<sdk::PortMapping> mappings);
// Undoes join(); best effort (the namespace may be gone already).
void leave(const std::vector<Attachment>& attachments, pid_t pid);
// Ends every endpoint of the container: the drivers' delete_endpoint, then the rows.
// Idempotent; used at exit, by reconcile() for runs that ended unobserved, and by rm.
Status release(Engine& e, const std::string& container_id);

// Whether the container gets the embedded DNS server: it is on a user-defined network whose
// driver serves names (on the default bridge names do not resolve, as with Docker).
bool wants_dns(const std::vector<Attachment>& attachments);
// What the embedded DNS answers `container_id`: every name (lower case) of the containers
// on the user-defined networks it shares (their names, short and full ids, network
// aliases) with its addresses, ascending, in one query. Endpoint rows exist while their
// containers run, so a stopped container is gone and a restarted one has its new address.
Result<std::map<std::string, std::vector<uint32_t>>> names_for(Engine& e, const std::string& container_id);

// The container's requests, read from its spec.
std::vector<Request> requests_of(const nlohmann::json& spec);

}  // namespace berth::network
