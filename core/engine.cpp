#include "engine.hpp"

#include "berth/sdk/fs.hpp"
#include "util/util.hpp"

namespace berth {

Result<std::unique_ptr<Engine>> Engine::open(config::HostConfig cfg, sdk::Logger* logger) {
  BERTH_ASSIGN(auto e, open_plugins(std::move(cfg), logger));
  BERTH_TRY(e->open_state());
  return e;
}

Result<std::unique_ptr<Engine>> Engine::open_plugins(config::HostConfig cfg, sdk::Logger* logger) {
  std::unique_ptr<Engine> e(new Engine(std::move(cfg)));
  e->plugins_ = std::make_unique<plugin_host::PluginHost>(e->cfg_, logger);
  BERTH_TRY(e->plugins_->load_configured());
  util::timing_mark("engine: plugins loaded");
  return e;
}

Status Engine::open_state() {
  if (state_open()) return {};
  BERTH_TRY(sdk::fs::make_dirs(cfg_.state_root, 0711));
  BERTH_TRY(sdk::fs::make_dirs(cfg_.run_root, 0711));
  BERTH_TRY(open_storage());
  if (!db_) return reopen_db();  // (which makes the image store)
  make_image_store();
  return {};
}

Status Engine::open_storage() {
  if (storage_) return {};
  BERTH_ASSIGN(storage_, plugins_->storage(cfg_.storage_driver));
  util::timing_mark("engine: storage driver ready");
  return {};
}

std::string Engine::container_dir(const std::string& id) const {
  return cfg_.state_root + "/containers/" + id;
}

void Engine::close_db() {
  db_.reset();
}

Status Engine::reopen_db() {
  BERTH_ASSIGN(db_, state::Store::open(cfg_.state_root + "/berth.db"));
  util::timing_mark("engine: database open");
  if (storage_) make_image_store();
  return {};
}

void Engine::make_image_store() {
  images_ = std::make_unique<images::ImageStore>(db_.get(), storage_.get(), cfg_.state_root + "/images",
                                                 cfg_.run_root + "/scratch");
}

}  // namespace berth
