// The SDK's storage conformance suite run against this driver, as every driver should.

#include <berth/sdk/testing/storage_conformance.hpp>

namespace berth::sdk::testing {
INSTANTIATE_TEST_SUITE_P(Vfs, StorageConformance, ::testing::Values(StorageDriverUnderTest{"vfs", VFS_PLUGIN, {}}),
                         storage_driver_name);
}  // namespace berth::sdk::testing
