// Claims an SDK ABI version this berth does not have.
#include "common.hpp"
namespace {
const berth::sdk::PluginDescriptor* describe() {
  static const berth::sdk::DriverDescriptor drivers[] = {
      berth::sdk::network_driver<berth_test::QuietDriver>("wrong-abi-driver")};
  static berth::sdk::PluginDescriptor p = berth::sdk::make_plugin("wrong-abi", "1.0", drivers);
  p.abi_version = 999;
  return &p;
}
}  // namespace
BERTH_PLUGIN_ENTRY(describe)
