#include "plugin_host/plugin_host.hpp"

#ifndef BOOST_DLL_USE_STD_FS
#define BOOST_DLL_USE_STD_FS
#endif
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <boost/dll/library_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <nlohmann/json.hpp>
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

namespace {

// The listing cache (see plugin_host.hpp): what each plugin file was found to provide when
// it was last loaded in full, keyed by everything that could change the answer.
constexpr int kCacheFormat = 1;

std::string file_key(const struct stat& st) {
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + ":" +
         std::to_string(st.st_ctim.tv_sec) + "." + std::to_string(st.st_ctim.tv_nsec);
}

// This berth build, and the state root (each driver's state directory is under it).
std::string build_key(const config::HostConfig& cfg) {
  return std::to_string(BERTH_SDK_ABI) + " " + BERTH_SDK_BUILD_FINGERPRINT + " " + BERTH_VERSION + " " +
         cfg.state_root;
}

bool known_kind(const std::string& kind) {
  return kind == sdk::kNetworkKind || kind == sdk::kVolumeKind || kind == sdk::kStorageKind;
}

// The cache's entries in a file, or none: a file that cannot be read, is not root's own,
// is writable by others or is not what this build wrote is no cache (every plugin then
// loads in full).
std::map<std::string, PluginHost::Cached> read_entries(const config::HostConfig& cfg) {
  std::map<std::string, PluginHost::Cached> out;
  int fd = ::open((cfg.run_root + "/plugins.json").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return out;
  struct stat st {};
  std::string text;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() && (st.st_mode & 022) == 0) {
    char buf[16384];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    if (j.at("format").get<int>() != kCacheFormat || j.at("build").get<std::string>() != build_key(cfg)) return {};
    for (const auto& [path, e] : j.at("plugins").items()) {
      PluginHost::Cached c;
      c.file = e.at("file").get<std::string>();
      c.name = e.at("name").get<std::string>();
      c.version = e.at("version").get<std::string>();
      for (const auto& d : e.at("drivers")) {
        std::string kind = d.at("kind").get<std::string>();
        if (!known_kind(kind)) return {};
        c.drivers.push_back({kind, d.at("name").get<std::string>()});
        c.options.push_back(d.at("options").get<std::string>());
      }
      if (!c.drivers.empty()) out[path] = std::move(c);
    }
  } catch (const std::exception&) {
    return {};
  }
  return out;
}

}  // namespace

std::string PluginHost::options_of(const std::string& kind, const std::string& name) const {
  nlohmann::json j = impl_->context_for(kind, name).options;
  return j.dump();
}

void PluginHost::read_cache() {
  cache_ = impl_->cfg.run_root.empty() ? std::map<std::string, Cached>{} : read_entries(impl_->cfg);
}

// Under a lock, this process's changes (entries it added or dropped) are merged into what
// the file holds now: other commands may have written it since this one read it.
void PluginHost::write_cache() {
  if (impl_->cfg.run_root.empty() || (dirty_.empty() && dropped_.empty())) return;
  // Best effort: without the file the next command loads every plugin, as the first did.
  if (!sdk::fs::make_dirs(impl_->cfg.run_root, 0711)) return;
  auto lock = sdk::fs::FileLock::exclusive(impl_->cfg.run_root + "/plugins.lock");
  if (!lock) return;
  std::map<std::string, Cached> entries = read_entries(impl_->cfg);
  for (const auto& path : dropped_) entries.erase(path);
  for (const auto& path : dirty_) {
    if (auto it = cache_.find(path); it != cache_.end()) entries[path] = it->second;
  }
  nlohmann::json plugins = nlohmann::json::object();
  for (const auto& [path, c] : entries) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || file_key(st) != c.file) continue;  // gone or changed
    nlohmann::json drivers = nlohmann::json::array();
    for (size_t i = 0; i < c.drivers.size(); ++i) {
      drivers.push_back({{"kind", c.drivers[i].kind}, {"name", c.drivers[i].name}, {"options", c.options[i]}});
    }
    plugins[path] = {{"file", c.file}, {"name", c.name}, {"version", c.version}, {"drivers", drivers}};
  }
  nlohmann::json j = {{"format", kCacheFormat}, {"build", build_key(impl_->cfg)}, {"plugins", plugins}};
  if (sdk::fs::write_file_atomic(impl_->cfg.run_root + "/plugins.json", j.dump(), 0600, sdk::fs::Durability::Atomic)) {
    dirty_.clear();
    dropped_.clear();
  }
}

Status PluginHost::load_configured() {
  std::vector<std::string> files;
  for (const auto& dir : impl_->cfg.plugin_dirs) {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
      return sys_error("plugin directory '" + dir + "'");
    }
    std::vector<std::string> found;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 3 && n.compare(n.size() - 3, 3, ".so") == 0) {
        found.push_back(dir + "/" + n);
      }
    }
    ::closedir(d);
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  files.insert(files.end(), impl_->cfg.plugin_paths.begin(), impl_->cfg.plugin_paths.end());

  read_cache();
  for (const auto& f : files) {
    struct stat st {};
    std::string canonical;
    BERTH_TRY(check_file(f, &st, &canonical));
    if (impl_->loaded_paths.count(canonical) != 0) continue;  // named twice: load once
    if (!list_from_cache(f, canonical, st)) BERTH_TRY(load_checked(f, canonical, st));
  }
  write_cache();  // (if anything was added)
  return {};
}

Status PluginHost::check_file(const std::string& path, struct stat* st, std::string* canonical) const {
  if (::stat(path.c_str(), st) != 0) {
    return refuse(path, "file does not exist");
  }
  if (!S_ISREG(st->st_mode)) {
    return refuse(path, "not a regular file");
  }
  char real[PATH_MAX];
  *canonical = ::realpath(path.c_str(), real) != nullptr ? real : path;
  return {};
}

// A plugin this berth loaded in full before, from the same file with the same options for
// its drivers, is listed without loading it; its library is opened when one of its drivers
// is first asked for. Anything that differs (or a name another plugin took since) loads it
// in full, so every refusal still happens here.
bool PluginHost::list_from_cache(const std::string& path, const std::string& canonical, const struct stat& st) {
  auto it = cache_.find(canonical);
  if (it == cache_.end() || it->second.file != file_key(st)) return false;
  const Cached& c = it->second;
  std::set<std::string> own;
  for (size_t i = 0; i < c.drivers.size(); ++i) {
    const auto& d = c.drivers[i];
    if (impl_->taken(d.kind, d.name) || !own.insert(d.kind + "/" + d.name).second) return false;
    if (options_of(d.kind, d.name) != c.options[i]) return false;
  }
  for (const auto& d : c.drivers) {
    if (d.kind == sdk::kNetworkKind) impl_->networks[d.name] = {nullptr, false, canonical};
    else if (d.kind == sdk::kVolumeKind) impl_->volumes[d.name] = {nullptr, false, canonical};
    else impl_->storages[d.name] = {nullptr, false, canonical};
  }
  impl_->loaded_paths.insert(canonical);
  plugins_.push_back({path, c.name, c.version, c.drivers, false, canonical});
  return true;
}

Status PluginHost::load_file(const std::string& path) {
  struct stat st {};
  std::string canonical;
  BERTH_TRY(check_file(path, &st, &canonical));
  if (impl_->loaded_paths.count(canonical) != 0) {
    return {};  // named twice (a plugin dir and [[plugins]]): load once
  }
  return load_checked(path, canonical, st);
}

Status PluginHost::load_checked(const std::string& path, const std::string& canonical, const struct stat& st) {
  BERTH_ASSIGN(LoadedPlugin loaded, open_file(path, canonical, false, nullptr));
  impl_->loaded_paths.insert(canonical);
  Cached c{file_key(st), loaded.name, loaded.version, loaded.drivers, {}};
  for (const auto& d : loaded.drivers) c.options.push_back(options_of(d.kind, d.name));
  cache_[canonical] = std::move(c);
  dirty_.insert(canonical);
  dropped_.erase(canonical);
  plugins_.push_back(std::move(loaded));
  return {};
}

Status PluginHost::open_listed(const std::string& canonical) {
  auto pl = std::find_if(plugins_.begin(), plugins_.end(),
                         [&](const LoadedPlugin& p) { return !p.opened && p.canonical == canonical; });
  if (pl == plugins_.end()) {
    return make_error(Code::Internal, "plugin '" + canonical + "' is listed but was not loaded");
  }
  // Its listed drivers give way to the real ones.
  auto drop = [&](auto& slots) {
    for (auto it = slots.begin(); it != slots.end();) {
      it = it->second.plugin_path == canonical && !it->second.driver ? slots.erase(it) : std::next(it);
    }
  };
  drop(impl_->networks);
  drop(impl_->volumes);
  drop(impl_->storages);
  // The file opened is the one listed (by its canonical path, which a symlink's new
  // target cannot change); replaced since this command's load, it is checked in full
  // like any new file. It must still provide exactly the drivers listed.
  struct stat st {};
  auto entry = cache_.find(canonical);
  const bool same = ::stat(canonical.c_str(), &st) == 0 && entry != cache_.end() && entry->second.file == file_key(st);
  auto opened = open_file(pl->path, canonical, same, &pl->drivers);
  if (!opened) {
    cache_.erase(canonical);
    dirty_.erase(canonical);
    dropped_.insert(canonical);
    write_cache();
    return std::move(opened).error();
  }
  pl->opened = true;
  return {};
}

Result<LoadedPlugin> PluginHost::open_file(const std::string& path, const std::string& canonical, bool listed,
                                           const std::vector<DriverRecord>* expected) {
  // Is it a berth plugin? Read the alias section without running any of its code. (A
  // listed plugin's file is the one found to be a plugin before, as its identity in the
  // cache says; reading its sections again costs more than the dlopen.)
  if (!listed) {
    try {
      boost::dll::library_info info(canonical, false);
      auto symbols = info.symbols("boostdll");
      if (std::find(symbols.begin(), symbols.end(), kEntryAlias) == symbols.end()) {
        return refuse(path, std::string("not a berth plugin (no '") + kEntryAlias + "' entry point)");
      }
    } catch (const std::exception& e) {
      return refuse(path, std::string("not a berth plugin (not a shared object: ") + e.what() + ")");
    }
  }

  std::error_code ec;
  auto lib = std::make_shared<boost::dll::shared_library>();
  lib->load(canonical, ec, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
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

  if (expected != nullptr) {
    std::vector<DriverRecord> now;
    for (size_t i = 0; i < desc->driver_count; ++i) now.push_back({desc->drivers[i].kind, desc->drivers[i].name});
    if (now != *expected) {
      return refuse(path, "its drivers changed while berth was running (run the command again)");
    }
  }

  // Construct into a staging area; commit only if all succeeded.
  std::map<std::string, Slot<sdk::NetworkDriver>> networks;
  std::map<std::string, Slot<sdk::VolumeDriver>> volumes;
  std::map<std::string, Slot<sdk::StorageDriver>> storages;
  LoadedPlugin loaded;
  loaded.path = path;
  loaded.canonical = canonical;
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
                          false, canonical};
      } else if (kind == sdk::kVolumeKind) {
        auto r = d.volume(ctx);
        if (!r) return fail(r.error().what());
        volumes[name] = {std::shared_ptr<sdk::VolumeDriver>(
                             r->release(), [lib](sdk::VolumeDriver* p) { delete p; }),
                         false, canonical};
      } else {
        auto r = d.storage(ctx);
        if (!r) return fail(r.error().what());
        storages[name] = {std::shared_ptr<sdk::StorageDriver>(
                              r->release(), [lib](sdk::StorageDriver* p) { delete p; }),
                          false, canonical};
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
  return loaded;
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

// The plugin to open before a listed driver (one not constructed yet) is handed out.
template <typename T>
std::string listed_plugin(const std::map<std::string, Slot<T>>& slots, const std::string& name) {
  auto it = slots.find(name);
  return it != slots.end() && !it->second.driver ? it->second.plugin_path : "";
}
}  // namespace

Result<std::shared_ptr<sdk::NetworkDriver>> PluginHost::network(const std::string& name) {
  if (auto p = listed_plugin(impl_->networks, name); !p.empty()) BERTH_TRY(open_listed(p));
  return get_driver(impl_->networks, name, "network", impl_->context_for(sdk::kNetworkKind, name));
}

Result<std::shared_ptr<sdk::VolumeDriver>> PluginHost::volume(const std::string& name) {
  if (auto p = listed_plugin(impl_->volumes, name); !p.empty()) BERTH_TRY(open_listed(p));
  return get_driver(impl_->volumes, name, "volume", impl_->context_for(sdk::kVolumeKind, name));
}

Result<std::shared_ptr<sdk::StorageDriver>> PluginHost::storage(const std::string& name) {
  if (auto p = listed_plugin(impl_->storages, name); !p.empty()) BERTH_TRY(open_listed(p));
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
