#pragma once

// Loads the plugins a host's configuration names and keeps their drivers. Every check of
// the handshake happens before any driver is registered, and a plugin's drivers are
// registered together or not at all. Libraries stay loaded for the life of the process,
// and every driver object holds a reference to its library besides.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "berth/sdk/logger.hpp"
#include "berth/sdk/network_driver.hpp"
#include "berth/sdk/result.hpp"
#include "berth/sdk/storage_driver.hpp"
#include "berth/sdk/volume_driver.hpp"
#include "config/config.hpp"

namespace berth::plugin_host {

struct DriverRecord {
  std::string kind;  // "berth.network.v1", ...
  std::string name;
};

struct LoadedPlugin {
  std::string path;
  std::string name;
  std::string version;
  std::vector<DriverRecord> drivers;
};

class PluginHost {
 public:
  PluginHost(const config::HostConfig& cfg, sdk::Logger* logger);
  ~PluginHost();
  PluginHost(const PluginHost&) = delete;
  PluginHost& operator=(const PluginHost&) = delete;

  // Loads every plugin of cfg.plugin_dirs (sorted by file name) and cfg.plugin_paths.
  // The first refusal stops loading and is returned.
  Status load_configured();
  // Loads one plugin file; on error nothing of it is registered.
  Status load_file(const std::string& path);

  const std::vector<LoadedPlugin>& plugins() const { return plugins_; }

  // Drivers by name; init() has been called once (lazily) before they are returned.
  Result<std::shared_ptr<sdk::NetworkDriver>> network(const std::string& name);
  Result<std::shared_ptr<sdk::VolumeDriver>> volume(const std::string& name);
  Result<std::shared_ptr<sdk::StorageDriver>> storage(const std::string& name);
  std::vector<std::string> network_driver_names() const;
  std::vector<std::string> volume_driver_names() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<LoadedPlugin> plugins_;
};

}  // namespace berth::plugin_host
