#pragma once

// Everything a command needs: the host configuration, the loaded plugins, the state
// database, the storage driver and the image store. One per process.

#include <memory>
#include <string>

#include "berth/sdk/logger.hpp"
#include "berth/sdk/storage_driver.hpp"
#include "config/config.hpp"
#include "images/image_store.hpp"
#include "plugin_host/plugin_host.hpp"
#include "state/store.hpp"

namespace berth {

class Engine {
 public:
  // Loads plugins and opens the state; any refusal is returned (the CLI exits 125).
  static Result<std::unique_ptr<Engine>> open(config::HostConfig cfg, sdk::Logger* logger);
  // The first half of open(): the plugins listed (each opened when first asked for), no
  // database, no storage driver: what the container monitor's standby starts with
  // (monitor/standby.hpp), opening the rest only when it needs it.
  static Result<std::unique_ptr<Engine>> open_plugins(config::HostConfig cfg, sdk::Logger* logger);
  // The second half: the state database, the storage driver and the image store, each
  // unless open already. db(), storage() and images() need it.
  Status open_state();
  // The storage driver alone (what emptying the trash needs), unless open already.
  Status open_storage();

  const config::HostConfig& config() const { return cfg_; }
  plugin_host::PluginHost& plugins() { return *plugins_; }
  state::Store& db() { return *db_; }
  sdk::StorageDriver& storage() { return *storage_; }
  images::ImageStore& images() { return *images_; }

  std::string container_dir(const std::string& id) const;
  // SQLite connections must not cross fork(): close before, reopen after, in each process.
  void close_db();
  Status reopen_db();
  bool db_open() const { return db_ != nullptr; }
  bool state_open() const { return db_ != nullptr && storage_ != nullptr; }

  // Removals move trees into trash directories (see sdk::fs::move_to_trash); whoever can
  // afford the wait empties them with containers::sweep().
  std::string trash_dir() const { return cfg_.state_root + "/trash"; }
  void note_trash() { trash_pending_ = true; }
  bool trash_pending() const { return trash_pending_; }
  void trash_emptied() { trash_pending_ = false; }

 private:
  explicit Engine(config::HostConfig cfg) : cfg_(std::move(cfg)) {}
  void make_image_store();  // over the open database and storage driver
  config::HostConfig cfg_;
  std::unique_ptr<plugin_host::PluginHost> plugins_;
  std::unique_ptr<state::Store> db_;
  std::shared_ptr<sdk::StorageDriver> storage_;
  std::unique_ptr<images::ImageStore> images_;
  bool trash_pending_ = false;
};

}  // namespace berth
