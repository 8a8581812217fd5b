#pragma once

// rtnetlink for network drivers (libmnl underneath): links, addresses and routes, in the
// caller's network namespace or in one handed over as a file descriptor. Drivers never
// setns(): Netlink::open(fd) makes its socket inside that namespace from a short-lived
// thread of its own, and a socket keeps the namespace it was made in.

#include <cstdint>
#include <string>
#include <vector>

#include "berth/sdk/result.hpp"
#include "berth/sdk/visibility.hpp"

struct nlmsghdr;  // <linux/netlink.h>

namespace berth::sdk {

struct LinkInfo {
  int index = 0;
  std::string name;
  std::string kind;   // "bridge", "veth", "macvlan", "" for devices without one
  std::string mac;    // "02:42:ac:11:00:02"
  int master = 0;     // index of the bridge it is enslaved to, 0 when none
  bool up = false;
};

struct RouteInfo {
  std::string destination;  // CIDR; "0.0.0.0/0" for the default route
  std::string gateway;      // "" for a link route
  int oif = 0;
};

class BERTH_SDK_VISIBLE Netlink {
 public:
  // A NETLINK_ROUTE socket in this process's network namespace (netns_fd < 0) or in the
  // namespace `netns_fd` refers to.
  static Result<Netlink> open(int netns_fd = -1);
  Netlink(Netlink&& other) noexcept;
  Netlink& operator=(Netlink&& other) noexcept;
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;
  ~Netlink();

  Result<std::vector<LinkInfo>> links();
  Result<LinkInfo> link(const std::string& name);  // NotFound when there is none

  Status create_bridge(const std::string& name);
  // A veth pair; `peer` is made in `peer_netns_fd` when given (the caller's otherwise).
  Status create_veth(const std::string& name, const std::string& peer, int peer_netns_fd = -1);
  // macvlan_mode: "bridge", "private", "vepa", "passthru".
  Status create_macvlan(const std::string& name, const std::string& parent, const std::string& mode,
                        int netns_fd = -1);
  Status delete_link(const std::string& name);  // NotFound when there is none
  Status set_up(const std::string& name);
  Status set_master(const std::string& name, const std::string& master);
  Status set_mac(const std::string& name, const std::string& mac);
  Status rename(const std::string& name, const std::string& new_name);
  // Moves the link into the namespace `netns_fd` (it leaves this socket's namespace).
  Status move_to_netns(const std::string& name, int netns_fd);

  Status add_address(const std::string& name, const std::string& cidr);  // "172.17.0.2/16"
  Result<std::vector<std::string>> addresses(const std::string& name);   // IPv4 CIDRs
  Status add_route(const RouteInfo& route);  // destination "0.0.0.0/0" = the default route
  Result<std::vector<RouteInfo>> routes();   // the main table, IPv4

 private:
  explicit Netlink(int fd) : fd_(fd) {}
  // Sends `msg` (nlmsghdr + payload, built by the caller) and waits for the kernel's ack.
  Status request(void* msg, const std::string& what);
  // Sends `msg` and runs `cb` on every reply message until the kernel's last (a dump's
  // NLMSG_DONE, or the ack of a request).
  Status exchange(void* msg, const std::string& what, int (*cb)(const ::nlmsghdr*, void*), void* data);
  // exchange() for a dump, asked again (after `reset` empties `data`) when the kernel
  // reports it interrupted by concurrent changes.
  Status dump(void* msg, const std::string& what, int (*cb)(const ::nlmsghdr*, void*), void* data,
              void (*reset)(void*));
  int fd_ = -1;
  uint32_t seq_ = 0;
};

}  // namespace berth::sdk
