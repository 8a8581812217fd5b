#include "network/ipam.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <unordered_set>

namespace berth::network {

std::string ip_str(uint32_t ip) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
  return buf;
}

std::string Subnet::str() const { return ip_str(base) + "/" + std::to_string(prefix); }

Result<uint32_t> parse_ip(const std::string& ip) {
  in_addr a {};
  if (::inet_pton(AF_INET, ip.c_str(), &a) != 1) return make_error(Code::InvalidArgument, "invalid IPv4 address: " + ip);
  return ntohl(a.s_addr);
}

Result<Subnet> parse_subnet(const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) return make_error(Code::InvalidArgument, "invalid CIDR address: " + cidr);
  std::string bits = cidr.substr(slash + 1);
  if (bits.empty() || bits.size() > 2 || bits.find_first_not_of("0123456789") != std::string::npos) {
    return make_error(Code::InvalidArgument, "invalid CIDR address: " + cidr);
  }
  Subnet s;
  s.prefix = std::atoi(bits.c_str());
  if (s.prefix > 32) return make_error(Code::InvalidArgument, "invalid CIDR address: " + cidr);
  auto ip = parse_ip(cidr.substr(0, slash));
  if (!ip) return make_error(Code::InvalidArgument, "invalid CIDR address: " + cidr);
  s.base = *ip & s.mask();
  if (s.base != *ip) {
    return make_error(Code::InvalidArgument, "invalid subnet " + cidr + ": it should be " + s.str());
  }
  return s;
}

Result<Subnet> choose_subnet(const std::vector<Subnet>& taken) {
  std::vector<Subnet> candidates;
  for (uint32_t second = 17; second <= 31; ++second) candidates.push_back({(172u << 24) | (second << 16), 16});
  for (uint32_t third = 0; third < 256; third += 16) candidates.push_back({(192u << 24) | (168u << 16) | (third << 8), 20});
  for (const auto& c : candidates) {
    bool free = std::none_of(taken.begin(), taken.end(), [&](const Subnet& t) { return t.overlaps(c); });
    if (free) return c;
  }
  return make_error(Code::Unavailable,
                    "all predefined address pools have been fully subnetted: every one overlaps a network or a route");
}

Result<Pool> make_pool(const std::string& subnet, const std::string& ip_range, const std::string& gateway) {
  Pool p;
  BERTH_ASSIGN(p.subnet, parse_subnet(subnet));
  if (p.subnet.prefix > 30) {
    return make_error(Code::InvalidArgument, "subnet " + subnet + " is too small: it leaves no address for containers");
  }
  p.range = p.subnet;
  if (!ip_range.empty()) {
    BERTH_ASSIGN(p.range, parse_subnet(ip_range));
    if (!p.subnet.contains(p.range)) {
      return make_error(Code::InvalidArgument, "invalid ip-range " + ip_range + ": it is not in subnet " + subnet);
    }
  }
  if (gateway.empty()) {
    p.gateway = p.subnet.first() + 1;
  } else {
    BERTH_ASSIGN(p.gateway, parse_ip(gateway));
    if (!p.subnet.contains(p.gateway) || p.gateway == p.subnet.first() || p.gateway == p.subnet.last()) {
      return make_error(Code::InvalidArgument, "invalid gateway " + gateway + ": it is not a host address of subnet " + subnet);
    }
  }
  return p;
}

Result<uint32_t> next_address(const Pool& pool, const std::vector<uint32_t>& taken, uint32_t after) {
  std::unordered_set<uint32_t> used(taken.begin(), taken.end());
  uint32_t lo = std::max(pool.range.first(), pool.subnet.first() + 1);
  uint32_t hi = std::min(pool.range.last(), pool.subnet.last() - 1);
  if (lo > hi) return make_error(Code::Unavailable, "no addresses in " + pool.range.str());
  uint64_t count = static_cast<uint64_t>(hi) - lo + 1;
  uint32_t start = after >= lo && after < hi ? after + 1 : lo;
  for (uint64_t i = 0; i < count; ++i) {
    uint32_t ip = static_cast<uint32_t>(lo + (static_cast<uint64_t>(start - lo) + i) % count);
    if (ip == pool.gateway || used.count(ip) != 0) continue;
    return ip;
  }
  return make_error(Code::Unavailable, "no available IPv4 addresses on this network's address pools");
}

std::string mac_for(uint32_t ip) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "02:42:%02x:%02x:%02x:%02x", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
  return buf;
}

}  // namespace berth::network
