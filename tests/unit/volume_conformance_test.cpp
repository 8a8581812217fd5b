// The SDK's volume driver conformance suite, run by every shipped volume driver.

#include "berth/sdk/testing/volume_conformance.hpp"

namespace berth::sdk::testing {
namespace {

INSTANTIATE_TEST_SUITE_P(Shipped, VolumeConformance,
                         ::testing::Values(VolumeDriverUnderTest{
                                               "local", std::string(SHIPPED_PLUGIN_DIR) + "/berth-volume-local.so", {}},
                                           VolumeDriverUnderTest{
                                               "testvol", std::string(TEST_PLUGIN_DIR) + "/test-volume.so", {}}),
                         volume_driver_name);

}  // namespace
}  // namespace berth::sdk::testing
