#include "plugin_host/plugin_host.hpp"

#ifndef BOOST_DLL_USE_STD_FS
#define BOOST_DLL_USE_STD_FS
#endif
#include <dirent.h>
#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <boost/dll/library_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <set>

#include "berth/sdk/fs.hpp"
#include "berth/sdk/plugin.hpp"

namespace berth::plugin_host {

namespace {

constexpr const char* kEntryAlias = "berth_plugin_v1";

template <typename T>
struct Slot {
  std::shared_ptr<T> driver;
  bool initialized = false;
  std::string plugin_path;
};

Error refuse(const std::string& path, const std::string& reason) {
  return make_error(Code::InvalidArgument, "plugin '" + path + "': " + reason);
}

}  // namespace

struct PluginHost::Impl {
  const config::HostConfig& cfg;
  sdk::Logger* logger;
  std::vector<std::shared_ptr<boost::dll::shared_library>> libraries;
  std::map<std::string, Slot<sdk::NetworkDriver>> networks;
  std::map<std::string, Slot<sdk::VolumeDriver>> volumes;
  std::map<std::string, Slot<sdk::StorageDriver>> storages;
  std::set<std::string> loaded_paths;

  Impl(const config::HostConfig& c, sdk::Logger* l) : cfg(c), logger(l) {}

  bool taken(const std::string& kind, const std::string& name) const {
    if (kind == sdk::kNetworkKind) return networks.count(name) != 0;
    if (kind == sdk::kVolumeKind) return volumes.count(name) != 0;
    return storages.count(name) != 0;
  }

  sdk::DriverContext context_for(const std::string& kind, const std::string& name) const {
    std::string short_kind = kind.substr(6, kind.rfind('.') - 6);  // "berth.network.v1" -> "network"
    std::string id = short_kind + "." + name;
    sdk::DriverContext ctx;
    ctx.driver_name = name;
    ctx.state_dir = cfg.state_root + "/plugins/" + id;
    ctx.run_dir = cfg.run_root + "/plugins/" + id;
    if (auto it = cfg.driver_options.find(id); it != cfg.driver_options.end()) {
      ctx.options = it->second;
    }
    ctx.logger = logger;
    return ctx;
  }
};

PluginHost::PluginHost(const config::HostConfig& cfg, sdk::Logger* logger)
    : impl_(std::make_unique<Impl>(cfg, logger)) {}

// Drivers are released before the libraries that hold their code.
PluginHost::~PluginHost() {
  impl_->networks.clear();
  impl_->volumes.clear();
  impl_->storages.clear();
}

Status PluginHost::load_configured() {
  for (const auto& dir : impl_->cfg.plugin_dirs) {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
      return sys_error("plugin directory '" + dir + "'");
    }
    std::vector<std::string> files;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 3 && n.compare(n.size() - 3, 3, ".so") == 0) {
        files.push_back(dir + "/" + n);
      }
    }
    ::closedir(d);
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      BERTH_TRY(load_file(f));
    }
  }
  for (const auto& p : impl_->cfg.plugin_paths) {
    BERTH_TRY(load_file(p));
  }
  return {};
}

Status PluginHost::load_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return refuse(path, "file does not exist");
  }
  if (!S_ISREG(st.st_mode)) {
    return refuse(path, "not a regular file");
  }
  char real[PATH_MAX];
  std::string canonical = ::realpath(path.c_str(), real) != nullptr ? real : path;
  if (impl_->loaded_paths.count(canonical) != 0) {
    return {};  // named twice (a plugin dir and [[plugins]]): load once
  }

  // Is it a berth plugin? Read the alias section without running any of its code.
  try {
    boost::dll::library_info info(path, false);
    auto symbols = info.symbols("boostdll");
    if (std::find(symbols.begin(), symbols.end(), kEntryAlias) == symbols.end()) {
      return refuse(path, std::string("not a berth plugin (no '") + kEntryAlias + "' entry point)");
    }
  } catch (const std::exception& e) {
    return refuse(path, std::string("not a berth plugin (not a shared object: ") + e.what() + ")");
  }

  std::error_code ec;
  auto lib = std::make_shared<boost::dll::shared_library>();
  lib->load(path, ec, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  if (ec) {
    const char* why = ::dlerror();
    return refuse(path, "cannot load: " + (why != nullptr ? std::string(why) : ec.message()));
  }
  const sdk::PluginDescriptor* desc = nullptr;
  try {
    auto& entry = lib->get_alias<sdk::PluginEntry>(kEntryAlias);
    desc = entry();
  } catch (const std::exception& e) {
    return refuse(path, std::string("entry point failed: ") + e.what());
  }
  if (desc == nullptr) {
    return refuse(path, "entry point returned no descriptor");
  }
  if (desc->abi_version != BERTH_SDK_ABI) {
    return refuse(path, "built for SDK ABI version " + std::to_string(desc->abi_version) +
                            ", this berth has ABI version " + std::to_string(BERTH_SDK_ABI));
  }
  std::string fingerprint = desc->build_fingerprint != nullptr ? desc->build_fingerprint : "";
  if (fingerprint != BERTH_SDK_BUILD_FINGERPRINT) {
    return refuse(path, "built with '" + fingerprint + "', this berth with '" +
                            BERTH_SDK_BUILD_FINGERPRINT + "' (rebuild the plugin)");
  }
  if (desc->name == nullptr || *desc->name == '\0') {
    return refuse(path, "descriptor has no plugin name");
  }
  if (desc->driver_count == 0 || desc->drivers == nullptr) {
    return refuse(path, "provides no drivers");
  }

  // Check every driver before constructing any.
  std::set<std::string> own;
  for (size_t i = 0; i < desc->driver_count; ++i) {
    const sdk::DriverDescriptor& d = desc->drivers[i];
    std::string kind = d.kind != nullptr ? d.kind : "";
    std::string name = d.name != nullptr ? d.name : "";
    if (name.empty()) {
      return refuse(path, "driver #" + std::to_string(i) + " has no name");
    }
    bool known = (kind == sdk::kNetworkKind && d.network != nullptr) ||
                 (kind == sdk::kVolumeKind && d.volume != nullptr) ||
                 (kind == sdk::kStorageKind && d.storage != nullptr);
    if (!known) {
      return refuse(path, "driver '" + name + "' has unknown kind '" + kind +
                              "' or no factory for it");
    }
    if (impl_->taken(kind, name) || !own.insert(kind + "/" + name).second) {
      return refuse(path, "driver name '" + name + "' (" + kind + ") is already taken");
    }
  }

  // Construct into a staging area; commit only if all succeeded.
  std::map<std::string, Slot<sdk::NetworkDriver>> networks;
  std::map<std::string, Slot<sdk::VolumeDriver>> volumes;
  std::map<std::string, Slot<sdk::StorageDriver>> storages;
  LoadedPlugin loaded;
  loaded.path = path;
  loaded.name = desc->name;
  loaded.version = desc->version != nullptr ? desc->version : "";
  for (size_t i = 0; i < desc->driver_count; ++i) {
    const sdk::DriverDescriptor& d = desc->drivers[i];
    std::string kind = d.kind;
    std::string name = d.name;
    sdk::DriverContext ctx = impl_->context_for(kind, name);
    auto fail = [&](const std::string& why) {
      return refuse(path, "driver '" + name + "': " + why);
    };
    try {
      if (kind == sdk::kNetworkKind) {
        auto r = d.network(ctx);
        if (!r) return fail(r.error().what());
        networks[name] = {std::shared_ptr<sdk::NetworkDriver>(
                              r->release(), [lib](sdk::NetworkDriver* p) { delete p; }),
                          false, path};
      } else if (kind == sdk::kVolumeKind) {
        auto r = d.volume(ctx);
        if (!r) return fail(r.error().what());
        volumes[name] = {std::shared_ptr<sdk::VolumeDriver>(
                             r->release(), [lib](sdk::VolumeDriver* p) { delete p; }),
                         false, path};
      } else {
        auto r = d.storage(ctx);
        if (!r) return fail(r.error().what());
        storages[name] = {std::shared_ptr<sdk::StorageDriver>(
                              r->release(), [lib](sdk::StorageDriver* p) { delete p; }),
                          false, path};
      }
    } catch (const std::exception& e) {
      return fail(std::string("factory threw: ") + e.what());
    } catch (...) {
      return fail("factory threw an unknown exception");
    }
    loaded.drivers.push_back({kind, name});
  }
  impl_->networks.merge(networks);
  impl_->volumes.merge(volumes);
  impl_->storages.merge(storages);
  impl_->libraries.push_back(lib);
  impl_->loaded_paths.insert(canonical);
  plugins_.push_back(std::move(loaded));
  return {};
}

namespace {
template <typename T>
Result<std::shared_ptr<T>> get_driver(std::map<std::string, Slot<T>>& slots, const std::string& name,
                                      const char* what, const sdk::DriverContext& ctx) {
  auto it = slots.find(name);
  if (it == slots.end()) {
    std::string names;
    for (const auto& [n, s] : slots) names += names.empty() ? n : ", " + n;
    return make_error(Code::NotFound, std::string(what) + " driver '" + name +
                                          "' is not loaded (loaded: " +
                                          (names.empty() ? "none" : names) + ")");
  }
  if (!it->second.initialized) {
    BERTH_TRY(sdk::fs::make_dirs(ctx.state_dir, 0700));
    Status s = it->second.driver->init();
    if (!s) {
      return std::move(s).error().wrap(std::string(what) + " driver '" + name + "'");
    }
    it->second.initialized = true;
  }
  return it->second.driver;
}
}  // namespace

Result<std::shared_ptr<sdk::NetworkDriver>> PluginHost::network(const std::string& name) {
  return get_driver(impl_->networks, name, "network", impl_->context_for(sdk::kNetworkKind, name));
}

Result<std::shared_ptr<sdk::VolumeDriver>> PluginHost::volume(const std::string& name) {
  return get_driver(impl_->volumes, name, "volume", impl_->context_for(sdk::kVolumeKind, name));
}

Result<std::shared_ptr<sdk::StorageDriver>> PluginHost::storage(const std::string& name) {
  return get_driver(impl_->storages, name, "storage", impl_->context_for(sdk::kStorageKind, name));
}

std::vector<std::string> PluginHost::network_driver_names() const {
  std::vector<std::string> out;
  for (const auto& [n, s] : impl_->networks) out.push_back(n);
  return out;
}

std::vector<std::string> PluginHost::volume_driver_names() const {
  std::vector<std::string> out;
  for (const auto& [n, s] : impl_->volumes) out.push_back(n);
  return out;
}

}  // namespace berth::plugin_host
