// Its first driver constructs fine, its second throws: neither may stay registered.
#include "common.hpp"
namespace {
const berth::sdk::PluginDescriptor* describe() {
  static const berth::sdk::DriverDescriptor drivers[] = {
      berth::sdk::network_driver<berth_test::QuietDriver>("halfway-fine"),
      berth::sdk::network_driver<berth_test::ThrowingDriver>("halfway-throws")};
  static const berth::sdk::PluginDescriptor p = berth::sdk::make_plugin("throwing-factory", "1.0", drivers);
  return &p;
}
}  // namespace
BERTH_PLUGIN_ENTRY(describe)
