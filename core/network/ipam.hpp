#pragma once

// IPv4 address management the core does for drivers that need it (bridge, macvlan):
// subnets, pools, Docker's default address pools, and the order addresses are handed out.
// Pure functions: the state (which addresses are taken) lives in the state database.

#include <cstdint>
#include <string>
#include <vector>

#include "berth/sdk/result.hpp"

namespace berth::network {

struct Subnet {
  uint32_t base = 0;  // host order, host bits zero
  int prefix = 0;

  uint32_t mask() const { return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix); }
  uint32_t first() const { return base; }
  uint32_t last() const { return base | ~mask(); }
  bool contains(uint32_t ip) const { return (ip & mask()) == base; }
  bool contains(const Subnet& other) const { return other.prefix >= prefix && contains(other.base); }
  bool overlaps(const Subnet& other) const { return contains(other.base) || other.contains(base); }
  std::string str() const;  // "172.17.0.0/16"
};

// "172.17.0.0/16"; host bits set ("172.17.0.5/16") are an error naming the input, as
// Docker reports them.
Result<Subnet> parse_subnet(const std::string& cidr);
Result<uint32_t> parse_ip(const std::string& ip);
std::string ip_str(uint32_t ip);

// Docker's default address pools: 172.17.0.0/16 to 172.31.0.0/16, then 192.168.0.0/20 to
// 192.168.240.0/20. The first that overlaps none of `taken` (other networks, and the
// host's own routes); Unavailable when all do.
Result<Subnet> choose_subnet(const std::vector<Subnet>& taken);

// `network create --subnet --ip-range --gateway`, checked as Docker does; the gateway
// defaults to the first address of the subnet.
struct Pool {
  Subnet subnet;
  Subnet range;       // where container addresses come from (the subnet by default)
  uint32_t gateway = 0;
};
Result<Pool> make_pool(const std::string& subnet, const std::string& ip_range, const std::string& gateway);

// The next free address of `pool` (never the network, broadcast or gateway address), in
// ascending order after `after` (0: from the start), wrapping once; Unavailable
// when none is free.
Result<uint32_t> next_address(const Pool& pool, const std::vector<uint32_t>& taken, uint32_t after = 0);

// Docker's MAC for an address on a bridge: 02:42 and the address's four bytes.
std::string mac_for(uint32_t ip);

}  // namespace berth::network
