#pragma once

// Loads the plugins a host's configuration names and keeps their drivers. Every check of
// the handshake happens before any driver is registered, and a plugin's drivers are
// registered together or not at all. Libraries stay loaded for the life of the process,
// and every driver object holds a reference to its library besides.
//
// Most commands use one or two drivers, and opening a plugin (reading its ELF sections,
// dlopen, relocations, its factories) costs about half a millisecond each on a small VM.
// So load_configured() keeps a listing cache in <run_root>/plugins.json, as GStreamer's
// registry does: for each file this berth build loaded in full before, its identity
// (device, inode, size, mtime, ctime), what it provides and the options each driver was
// constructed with. A plugin whose entry still matches is listed from it and opened when
// one of its drivers is first asked for; anything else (new or changed file, other
// options, another build of berth) loads in full, so every refusal of the handshake still
// happens at load. Opening a listed plugin runs the same handshake; if it fails then, the
// entry is dropped so the next command refuses the plugin at load.

#include <sys/stat.h>

#include <map>
#include <set>
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
  bool operator==(const DriverRecord&) const = default;
};

struct LoadedPlugin {
  std::string path;
  std::string name;
  std::string version;
  std::vector<DriverRecord> drivers;
  bool opened = true;  // false: listed from the cache, its library not opened yet
  std::string canonical;  // the file's real path (what is opened)
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
  // Loads one plugin file in full (no cache); on error nothing of it is registered.
  Status load_file(const std::string& path);

  const std::vector<LoadedPlugin>& plugins() const { return plugins_; }

  // Drivers by name; init() has been called once (lazily) before they are returned.
  Result<std::shared_ptr<sdk::NetworkDriver>> network(const std::string& name);
  Result<std::shared_ptr<sdk::VolumeDriver>> volume(const std::string& name);
  Result<std::shared_ptr<sdk::StorageDriver>> storage(const std::string& name);
  std::vector<std::string> network_driver_names() const;
  std::vector<std::string> volume_driver_names() const;

 public:
  // One plugin's entry in the listing cache (exposed for the reader in the .cpp).
  struct Cached {
    std::string file;  // the file's identity when it was loaded in full
    std::string name, version;
    std::vector<DriverRecord> drivers;
    std::vector<std::string> options;  // each driver's options then, as JSON
  };

 private:
  Status check_file(const std::string& path, struct stat* st, std::string* canonical) const;
  // load_file() after check_file(): the handshake, then the entry for the cache.
  Status load_checked(const std::string& path, const std::string& canonical, const struct stat& st);
  // The handshake and the drivers' construction; `listed`: the file is the one the cache
  // describes, already known to be a berth plugin; `expected`: the drivers it must
  // provide (refused before any is constructed otherwise).
  Result<LoadedPlugin> open_file(const std::string& path, const std::string& canonical, bool listed,
                                 const std::vector<DriverRecord>* expected);
  bool list_from_cache(const std::string& path, const std::string& canonical, const struct stat& st);
  Status open_listed(const std::string& canonical);
  std::string options_of(const std::string& kind, const std::string& name) const;
  void read_cache();
  void write_cache();

  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<LoadedPlugin> plugins_;
  std::map<std::string, Cached> cache_;  // by canonical path
  std::set<std::string> dirty_, dropped_;  // this process's changes to the cache file
};

}  // namespace berth::plugin_host
