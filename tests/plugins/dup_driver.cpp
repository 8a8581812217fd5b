// Provides a fresh driver and then "null", which network-basic already provides.
#include "common.hpp"
namespace {
const berth::sdk::PluginDescriptor* describe() {
  static const berth::sdk::DriverDescriptor drivers[] = {
      berth::sdk::network_driver<berth_test::QuietDriver>("dup-fresh"),
      berth::sdk::network_driver<berth_test::QuietDriver>("null")};
  static const berth::sdk::PluginDescriptor p = berth::sdk::make_plugin("dup-driver", "1.0", drivers);
  return &p;
}
}  // namespace
BERTH_PLUGIN_ENTRY(describe)
