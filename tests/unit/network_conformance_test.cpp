// The SDK's network driver conformance suite, run by every shipped network driver.

#include <cstdlib>

#include "berth/sdk/testing/network_conformance.hpp"

namespace berth::sdk::testing {
namespace {

const std::string kPlugins = SHIPPED_PLUGIN_DIR;
const std::string kTag = random_hex(6);
// macvlan needs a parent; this kernel has no dummy interfaces, so one end of a veth pair
// (both ends on the host: no traffic is sent in these cases).
const std::string kParent = "mvc" + kTag;

class ParentInterface : public ::testing::Environment {
 public:
  void SetUp() override {
    std::string cmd = "ip link add " + kParent + " type veth peer name mvd" + kTag + " && ip link set " + kParent + " up";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  void TearDown() override { (void)!std::system(("ip link del " + kParent).c_str()); }
};
const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new ParentInterface);

INSTANTIATE_TEST_SUITE_P(
    Shipped, NetworkConformance,
    ::testing::Values(
        DriverUnderTest{"bridge", kPlugins + "/berth-network-bridge.so", {{"nft_table", "conf_" + kTag}}, {},
                        "10.254.77.0/24", "10.254.77.1"},
        DriverUnderTest{"macvlan", kPlugins + "/berth-network-macvlan.so", {}, {{"parent", kParent}},
                        "10.254.78.0/24", "10.254.78.1"},
        DriverUnderTest{"host", kPlugins + "/berth-network-basic.so", {}, {}, "", ""},
        DriverUnderTest{"null", kPlugins + "/berth-network-basic.so", {}, {}, "", ""}),
    driver_name);

}  // namespace
}  // namespace berth::sdk::testing
