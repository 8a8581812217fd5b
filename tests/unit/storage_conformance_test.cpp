// The SDK's storage driver conformance suite, run by every shipped storage driver.

#include "berth/sdk/testing/storage_conformance.hpp"

namespace berth::sdk::testing {
namespace {

INSTANTIATE_TEST_SUITE_P(Shipped, StorageConformance,
                         ::testing::Values(StorageDriverUnderTest{
                             "overlay", std::string(SHIPPED_PLUGIN_DIR) + "/berth-storage-overlay.so", {}}),
                         storage_driver_name);

}  // namespace
}  // namespace berth::sdk::testing
