#include "images/commit.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "berth/sdk/fs.hpp"
#include "berth/sdk/scope_guard.hpp"
#include "containers/container.hpp"
#include "engine.hpp"
#include "images/image_store.hpp"
#include "images/reference.hpp"
#include "util/util.hpp"

namespace berth::images {

using nlohmann::json;
namespace fs = sdk::fs;

namespace {

// The parent's view, for drivers whose snapshots are whole trees (a bind): made for the
// comparison and removed after it. Overlay needs none (its upper directory is the diff).
struct ParentView {
  sdk::StorageDriver* storage = nullptr;
  std::string key;
  std::vector<sdk::Mount> mounts;
  ~ParentView() {
    if (!key.empty()) (void)storage->remove(key);
  }
};

Status parent_view(Engine& e, const std::vector<sdk::Mount>& mounts, const std::string& parent_chain, ParentView* v) {
  if (mounts.size() != 1 || mounts[0].type != "bind" || parent_chain.empty()) return {};
  v->storage = &e.storage();
  v->key = "diff-" + util::random_hex(8);
  auto m = e.storage().view(v->key, parent_chain, {});
  if (!m) {
    v->key.clear();
    return std::move(m).error();
  }
  v->mounts = *m;
  return {};
}

}  // namespace

Result<std::vector<Change>> container_changes(Engine& e, const containers::Container& c) {
  BERTH_ASSIGN(ImageRecord img, e.images().resolve(c.image_id));
  BERTH_ASSIGN(auto mounts, e.storage().mounts(c.id));
  ParentView pv;
  BERTH_TRY(parent_view(e, mounts, img.top_chain_id, &pv));
  return changes(mounts, pv.mounts);
}

Result<std::string> make_image(Engine& e, const ImageRecord* parent, ImageSpec spec, const std::string& diff_id) {
  ImageStore& store = e.images();
  json manifest = {{"schemaVersion", 2}, {"layers", json::array()}};
  if (parent != nullptr) {
    BERTH_ASSIGN(manifest, store.manifest(*parent));
  }
  json& config = spec.config;
  int64_t now = util::now_ns();
  std::string created = util::rfc3339_nano(now);
  config["created"] = created;
  if (!config.contains("rootfs") || !config["rootfs"].is_object()) config["rootfs"] = {{"type", "layers"}, {"diff_ids", json::array()}};
  if (!config["rootfs"].contains("diff_ids")) config["rootfs"]["diff_ids"] = json::array();
  if (!config.contains("history") || !config["history"].is_array()) config["history"] = json::array();
  if (!config.contains("architecture")) config["architecture"] = "amd64";
  if (!config.contains("os")) config["os"] = "linux";
  spec.history["created"] = created;
  if (diff_id.empty()) {
    spec.history["empty_layer"] = true;
  } else {
    config["rootfs"]["diff_ids"].push_back(diff_id);
    struct stat st {};
    ::stat(store.blob_path(diff_id).c_str(), &st);
    manifest["layers"].push_back({{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                                  {"digest", diff_id},
                                  {"size", static_cast<int64_t>(st.st_size)}});
  }
  config["history"].push_back(spec.history);
  std::string config_text = config.dump();
  BERTH_ASSIGN(std::string config_digest, store.put_blob(config_text));
  manifest["mediaType"] = "application/vnd.oci.image.manifest.v1+json";
  manifest["config"] = {{"mediaType", "application/vnd.oci.image.config.v1+json"}, {"digest", config_digest}, {"size", config_text.size()}};
  BERTH_ASSIGN(std::string manifest_digest, store.put_blob(manifest.dump()));
  NewImage image;
  image.config_digest = config_digest;
  image.manifest_digest = manifest_digest;
  image.created_ns = now;
  const auto& diff_ids = config["rootfs"]["diff_ids"];
  const auto& layers = manifest["layers"];
  if (diff_ids.size() != layers.size()) return make_error(Code::Internal, "image layers and diff ids disagree");
  for (size_t i = 0; i < layers.size(); ++i) image.layers.push_back({layers[i].value("digest", ""), diff_ids[i].get<std::string>()});
  image.tags = spec.tags;
  image.parent = parent != nullptr ? parent->id : "";
  image.build_key = spec.build_key;
  BERTH_TRY(store.record(image));
  return config_digest;
}

Result<std::string> commit_snapshot(Engine& e, const std::string& parent_chain, const std::string& key) {
  ImageStore& store = e.images();
  BERTH_ASSIGN(auto mounts, e.storage().mounts(key));
  std::string tmp = store.ingest_path("sha256:layer-" + util::random_hex(8));
  sdk::ScopeGuard drop_tmp([&] { ::unlink(tmp.c_str()); });
  BERTH_ASSIGN(NormalizedLayer layer, write_changes(mounts, {}, tmp));
  if (!store.has_blob(layer.diff_id)) BERTH_TRY(store.adopt_blob(tmp, layer.diff_id));
  std::string chain = ImageStore::chain_of(parent_chain, layer.diff_id);
  if (store.has_layer(chain)) {
    BERTH_TRY(e.storage().remove(key));
  } else {
    Status s = e.storage().commit(chain, key, {});
    if (!s && s.error().code != Code::AlreadyExists) return std::move(s).error();
    if (!s) BERTH_TRY(e.storage().remove(key));
  }
  return layer.diff_id;
}

Result<std::string> commit_container_layer(Engine& e, const containers::Container& c, const ImageRecord& parent) {
  ImageStore& store = e.images();
  BERTH_ASSIGN(auto mounts, e.storage().mounts(c.id));
  std::string tmp = store.ingest_path("sha256:commit-" + util::random_hex(8));
  sdk::ScopeGuard drop_tmp([&] { ::unlink(tmp.c_str()); });
  ParentView pv;
  BERTH_TRY(parent_view(e, mounts, parent.top_chain_id, &pv));
  BERTH_ASSIGN(NormalizedLayer layer, write_changes(mounts, pv.mounts, tmp));
  // The layer: a snapshot on the image's top, unpacked from the tar just written (so what
  // the image holds is what a pull of it would hold).
  std::string chain = ImageStore::chain_of(parent.top_chain_id, layer.diff_id);
  bool new_blob = !store.has_blob(layer.diff_id);
  if (new_blob) BERTH_TRY(store.adopt_blob(tmp, layer.diff_id));
  Status s = store.unpack_layer(parent.top_chain_id, chain, layer.diff_id, layer.diff_id);
  if (!s) {
    if (new_blob) store.forget_unused({}, {layer.diff_id});
    return std::move(s).error();
  }
  return layer.diff_id;
}

Result<std::string> commit(Engine& e, const containers::Container& c, const CommitOptions& opts) {
  ImageStore& store = e.images();
  BERTH_ASSIGN(ImageRecord parent, store.resolve(c.image_id));
  BERTH_ASSIGN(json config, store.config(parent));
  // The container's own settings are the new image's, then -c on top (checked first).
  json cc = config.value("config", json::object());
  const json& ccfg = c.spec.value("Config", json::object());
  for (const char* k : {"Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels", "ExposedPorts", "Volumes", "StopSignal"}) {
    if (ccfg.contains(k) && !ccfg[k].is_null()) cc[k] = ccfg[k];
  }
  for (const auto& ch : opts.changes) BERTH_TRY(apply_change(ch, &cc));
  ImageSpec spec;
  if (!opts.reference.empty()) {
    BERTH_ASSIGN(Reference ref, parse_reference(opts.reference));
    if (!ref.digest.empty()) return make_error(Code::InvalidArgument, "cannot commit to a reference with a digest");
    spec.tags.push_back(ref.full());
  }
  // Docker pauses a running container so the layer is one moment of it.
  bool paused_here = false;
  if (opts.pause && c.running() && !c.paused) {
    BERTH_TRY(containers::pause(e, c));
    paused_here = true;
  }
  // (unpause wants the container as it is now: paused.)
  auto unpause = [&] {
    if (!paused_here) return;
    paused_here = false;
    if (auto now = containers::find(e, c.id); now) (void)containers::unpause(e, *now);
  };
  sdk::ScopeGuard resume([&] { unpause(); });
  auto diff_id = commit_container_layer(e, c, parent);
  unpause();
  if (!diff_id) return std::move(diff_id).error().wrap("commit " + c.short_id());
  std::string created_by;
  for (const auto& a : ccfg.value("Cmd", json::array())) {
    if (a.is_string()) created_by += (created_by.empty() ? "" : " ") + a.get<std::string>();
  }
  config["config"] = cc;
  config["container"] = c.id;
  if (!opts.author.empty()) config["author"] = opts.author;
  spec.history = {{"created_by", created_by}};
  if (!opts.author.empty()) spec.history["author"] = opts.author;
  if (!opts.message.empty()) spec.history["comment"] = opts.message;
  spec.config = config;
  auto id = make_image(e, &parent, spec, *diff_id);
  if (!id) {
    store.forget_unused({ImageStore::chain_of(parent.top_chain_id, *diff_id)}, {*diff_id});
    return std::move(id).error();
  }
  return id;
}

}  // namespace berth::images
