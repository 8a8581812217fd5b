#pragma once

#include <string>

#include "berth/sdk/logger.hpp"
#include "berth/sdk/options.hpp"

namespace berth::sdk {

// What the host hands a driver's factory. Everything here outlives the driver.
struct DriverContext {
  std::string driver_name;  // as registered: "overlay", "bridge", ...
  std::string state_dir;    // <state_root>/plugins/<kind>.<name>: persistent, created by the host
  std::string run_dir;      // <run_root>/plugins/<kind>.<name>: cleared on reboot, created by the host
  Options options;          // the driver's table from the host's TOML, as strings
  Logger* logger = nullptr; // never null
};

}  // namespace berth::sdk
