// IPv4 address management: subnets, Docker's default pools, pools with ranges and
// gateways, the order addresses are handed out, and the MACs that go with them.

#include "network/ipam.hpp"

#include <gtest/gtest.h>

namespace berth::network {
namespace {

Subnet sub(const std::string& s) { return *parse_subnet(s); }
uint32_t ip(const std::string& s) { return *parse_ip(s); }

TEST(Ipam, SubnetsParseAndCompare) {
  Subnet s = sub("172.17.0.0/16");
  EXPECT_EQ(s.str(), "172.17.0.0/16");
  EXPECT_EQ(ip_str(s.last()), "172.17.255.255");
  EXPECT_TRUE(s.contains(ip("172.17.3.4")));
  EXPECT_FALSE(s.contains(ip("172.18.0.1")));
  EXPECT_TRUE(s.overlaps(sub("172.17.5.0/24")));
  EXPECT_TRUE(sub("172.16.0.0/12").overlaps(s));
  EXPECT_FALSE(s.overlaps(sub("172.18.0.0/16")));
  EXPECT_EQ(sub("0.0.0.0/0").str(), "0.0.0.0/0");
  auto host_bits = parse_subnet("172.17.0.5/16");
  ASSERT_FALSE(host_bits);
  EXPECT_NE(host_bits.error().message.find("it should be 172.17.0.0/16"), std::string::npos);
  EXPECT_FALSE(parse_subnet("172.17.0.0"));
  EXPECT_FALSE(parse_subnet("172.17.0.0/33"));
  EXPECT_FALSE(parse_subnet("bridge/16"));
}

TEST(Ipam, DefaultPoolsSkipWhatIsTaken) {
  EXPECT_EQ(choose_subnet({})->str(), "172.17.0.0/16");
  EXPECT_EQ(choose_subnet({sub("172.17.0.0/16")})->str(), "172.18.0.0/16");
  // A host route inside a pool makes the whole pool unusable.
  EXPECT_EQ(choose_subnet({sub("172.17.0.0/16"), sub("172.18.3.0/24")})->str(), "172.19.0.0/16");
  // 172.16.0.0/12 covers every /16 pool: then 192.168.0.0/20, 192.168.16.0/20, ...
  EXPECT_EQ(choose_subnet({sub("172.16.0.0/12")})->str(), "192.168.0.0/20");
  EXPECT_EQ(choose_subnet({sub("172.16.0.0/12"), sub("192.168.0.0/24")})->str(), "192.168.16.0/20");
  auto none = choose_subnet({sub("172.16.0.0/12"), sub("192.168.0.0/16")});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Code::Unavailable);
}

TEST(Ipam, PoolsCheckRangeAndGateway) {
  auto p = make_pool("10.5.0.0/24", "", "");
  ASSERT_TRUE(p);
  EXPECT_EQ(ip_str(p->gateway), "10.5.0.1");
  EXPECT_EQ(p->range.str(), "10.5.0.0/24");
  auto r = make_pool("10.5.0.0/16", "10.5.3.0/24", "10.5.0.254");
  ASSERT_TRUE(r);
  EXPECT_EQ(ip_str(r->gateway), "10.5.0.254");
  auto outside = make_pool("10.5.0.0/16", "10.6.0.0/24", "");
  ASSERT_FALSE(outside);
  EXPECT_NE(outside.error().message.find("is not in subnet"), std::string::npos);
  EXPECT_FALSE(make_pool("10.5.0.0/24", "", "10.6.0.1"));
  EXPECT_FALSE(make_pool("10.5.0.0/24", "", "10.5.0.255")) << "the broadcast address is no gateway";
  EXPECT_FALSE(make_pool("10.5.0.0/31", "", ""));
}

TEST(Ipam, AddressesInOrderSkippingGatewayAndTaken) {
  auto p = *make_pool("172.17.0.0/16", "", "");
  EXPECT_EQ(ip_str(*next_address(p, {})), "172.17.0.2");
  EXPECT_EQ(ip_str(*next_address(p, {ip("172.17.0.2"), ip("172.17.0.3")})), "172.17.0.4");
  // After the last one handed out, not into the gaps (as Docker's allocator).
  EXPECT_EQ(ip_str(*next_address(p, {ip("172.17.0.5")}, ip("172.17.0.5"))), "172.17.0.6");
  // A range: only its addresses.
  auto r = *make_pool("10.9.0.0/16", "10.9.4.0/30", "");
  EXPECT_EQ(ip_str(*next_address(r, {})), "10.9.4.0");
  std::vector<uint32_t> taken = {ip("10.9.4.0"), ip("10.9.4.1"), ip("10.9.4.2"), ip("10.9.4.3")};
  auto full = next_address(r, taken);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, Code::Unavailable);
  // It wraps: after the top, back to the bottom.
  auto small = *make_pool("10.8.0.0/29", "", "");  // hosts .1-.6, gateway .1
  EXPECT_EQ(ip_str(*next_address(small, {ip("10.8.0.2")}, ip("10.8.0.6"))), "10.8.0.3");
}

TEST(Ipam, MacsAreDockers) {
  EXPECT_EQ(mac_for(ip("172.17.0.2")), "02:42:ac:11:00:02");
  EXPECT_EQ(mac_for(ip("10.0.255.254")), "02:42:0a:00:ff:fe");
}

}  // namespace
}  // namespace berth::network
