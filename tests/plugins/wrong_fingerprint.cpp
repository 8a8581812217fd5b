// Has this berth's ABI version but claims another compiler and C++ library: the driver
// classes' layout and the library's types cannot be trusted across that line.
#include "common.hpp"
namespace {
const berth::sdk::PluginDescriptor* describe() {
  static const berth::sdk::DriverDescriptor drivers[] = {
      berth::sdk::network_driver<berth_test::QuietDriver>("wrong-fingerprint-driver")};
  static berth::sdk::PluginDescriptor p = berth::sdk::make_plugin("wrong-fingerprint", "1.0", drivers);
  p.build_fingerprint = "clang-3.4/libc++-1";
  return &p;
}
}  // namespace
BERTH_PLUGIN_ENTRY(describe)
