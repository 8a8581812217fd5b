// A well-formed third-party plugin providing one network driver, "quiet".
#include "common.hpp"
namespace {
const berth::sdk::PluginDescriptor* describe() {
  static const berth::sdk::DriverDescriptor drivers[] = {
      berth::sdk::network_driver<berth_test::QuietDriver>("quiet")};
  static const berth::sdk::PluginDescriptor p = berth::sdk::make_plugin("extra-network", "2.5.0", drivers);
  return &p;
}
}  // namespace
BERTH_PLUGIN_ENTRY(describe)
