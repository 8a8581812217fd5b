#include "berth/sdk/plugin.hpp"
#include "overlay_driver.hpp"

namespace {

const berth::sdk::PluginDescriptor* describe() {
  static const berth::sdk::DriverDescriptor drivers[] = {
      berth::sdk::storage_driver<berth::storage::overlay::OverlayDriver>("overlay"),
  };
  static const berth::sdk::PluginDescriptor plugin =
      berth::sdk::make_plugin("storage-overlay", "0.1.0", drivers);
  return &plugin;
}

}  // namespace

BERTH_PLUGIN_ENTRY(describe)
