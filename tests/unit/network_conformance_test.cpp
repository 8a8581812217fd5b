// The SDK's network driver conformance suite, run by every shipped network driver.

#include "berth/sdk/testing/network_conformance.hpp"

namespace berth::sdk::testing {
namespace {

const std::string kPlugins = SHIPPED_PLUGIN_DIR;
const std::string kTag = random_hex(6);

INSTANTIATE_TEST_SUITE_P(
    Shipped, NetworkConformance,
    ::testing::Values(
        DriverUnderTest{"bridge", kPlugins + "/berth-network-bridge.so", {{"nft_table", "conf_" + kTag}}, {},
                        "10.254.77.0/24", "10.254.77.1"},
        DriverUnderTest{"host", kPlugins + "/berth-network-basic.so", {}, {}, "", ""},
        DriverUnderTest{"null", kPlugins + "/berth-network-basic.so", {}, {}, "", ""}),
    driver_name);

}  // namespace
}  // namespace berth::sdk::testing
