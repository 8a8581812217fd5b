#include "engine.hpp"

#include "berth/sdk/fs.hpp"
#include "util/util.hpp"

namespace berth {

Result<std::unique_ptr<Engine>> Engine::open(config::HostConfig cfg, sdk::Logger* logger) {
  std::unique_ptr<Engine> e(new Engine(std::move(cfg)));
  e->plugins_ = std::make_unique<plugin_host::PluginHost>(e->cfg_, logger);
  BERTH_TRY(e->plugins_->load_configured());
  util::timing_mark("engine: plugins loaded");
  BERTH_TRY(sdk::fs::make_dirs(e->cfg_.state_root, 0711));
  BERTH_TRY(sdk::fs::make_dirs(e->cfg_.run_root, 0711));
  BERTH_TRY(e->reopen_db());
  util::timing_mark("engine: database open");
  BERTH_ASSIGN(e->storage_, e->plugins_->storage(e->cfg_.storage_driver));
  util::timing_mark("engine: storage driver ready");
  e->images_ = std::make_unique<images::ImageStore>(e->db_.get(), e->storage_.get(),
                                                    e->cfg_.state_root + "/images",
                                                    e->cfg_.run_root + "/scratch");
  return e;
}

std::string Engine::container_dir(const std::string& id) const {
  return cfg_.state_root + "/containers/" + id;
}

void Engine::close_db() {
  db_.reset();
}

Status Engine::reopen_db() {
  BERTH_ASSIGN(db_, state::Store::open(cfg_.state_root + "/berth.db"));
  if (storage_) {
    images_ = std::make_unique<images::ImageStore>(db_.get(), storage_.get(), cfg_.state_root + "/images",
                                                   cfg_.run_root + "/scratch");
  }
  return {};
}

}  // namespace berth
