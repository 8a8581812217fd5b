#include "images/image_store.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <thread>
#include <atomic>
#include <cstring>

#include "berth/sdk/fs.hpp"
#include "berth/sdk/scope_guard.hpp"
#include "images/layer.hpp"
#include "util/util.hpp"

namespace berth::images {

using nlohmann::json;
namespace fs = sdk::fs;

namespace {
constexpr const char* kManifestType = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kConfigType = "application/vnd.oci.image.config.v1+json";
constexpr const char* kLayerType = "application/vnd.oci.image.layer.v1.tar";

std::string hex_of(const std::string& digest) {
  return util::starts_with(digest, "sha256:") ? digest.substr(7) : digest;
}

}  // namespace

std::string ImageStore::chain_of(const std::string& parent_chain, const std::string& diff_id) {
  return parent_chain.empty() ? diff_id : util::sha256_digest(parent_chain + " " + diff_id);
}

bool ImageStore::valid_digest(const std::string& d) {
  return d.size() == 71 && util::starts_with(d, "sha256:") && d.find_first_not_of("0123456789abcdef", 7) == std::string::npos;
}

std::string ImageStore::ingest_path(const std::string& digest) {
  (void)fs::make_dirs(root_ + "/ingest", 0700);
  return root_ + "/ingest/" + hex_of(digest) + ".partial";
}

bool ImageStore::has_blob(const std::string& digest) const { return fs::exists(blob_path(digest)); }

Status ImageStore::adopt_blob(const std::string& path, const std::string& digest) {
  // (Called from several download threads: the layout file is the importer's and
  // put_blob's business, not this.)
  BERTH_TRY(fs::make_dirs(root_ + "/blobs/sha256", 0755));
  if (::rename(path.c_str(), blob_path(digest).c_str()) != 0) return sys_error("store blob " + digest);
  return {};
}

bool ImageStore::has_layer(const std::string& chain) const { return static_cast<bool>(storage_->stat(chain)); }

namespace {

// Temporary snapshots (layers being unpacked) are named after their maker's pid and
// start time, so that what a killed process left is known to be garbage.
constexpr const char* kTemporaryPrefix = "extract-";

std::string temporary_key() {
  pid_t self = ::getpid();
  uint64_t start = util::process_start_time(self);
  // Without a start time (no /proc) the owner could not be told from a stranger: such a
  // key is never reaped.
  if (start == 0) return kTemporaryPrefix + util::random_hex(8);
  return kTemporaryPrefix + std::to_string(self) + "-" + std::to_string(start) + "-" + util::random_hex(4);
}

}  // namespace

Status ImageStore::unpack_layer(const std::string& parent_chain, const std::string& chain,
                                const std::string& blob_digest, const std::string& diff_id) {
  if (has_layer(chain)) return {};
  std::string key = temporary_key();
  BERTH_ASSIGN(auto mounts, storage_->prepare(key, parent_chain, {}));
  sdk::ScopeGuard drop_snapshot([&] { (void)storage_->remove(key); });
  std::string scratch = scratch_root_ + "/" + key;
  BERTH_TRY(fs::make_dirs(scratch, 0700));
  auto got = unpack_layer_blob(blob_path(blob_digest), {mounts, scratch, Whiteouts::Apply});
  ::rmdir(scratch.c_str());
  if (!got) return std::move(got).error().wrap("layer " + blob_digest);
  if (*got != diff_id) {
    return make_error(Code::InvalidArgument, "layer " + blob_digest + ": its content is " + *got +
                                                 ", but the image config says " + diff_id);
  }
  Status committed = storage_->commit(chain, key, {});
  if (!committed && committed.error().code != Code::AlreadyExists) return committed;
  if (committed) drop_snapshot.dismiss();
  return {};
}

bool ImageStore::can_unpack_detached() const { return storage_->can_commit_onto(); }

Result<std::string> ImageStore::unpack_detached(const std::string& blob_digest, const std::string& diff_id) {
  std::string key = temporary_key();
  BERTH_TRY(storage_->prepare(key, "", {}).status());
  sdk::ScopeGuard drop_snapshot([&] { (void)storage_->remove(key); });
  BERTH_ASSIGN(std::string dir, storage_->changes_dir(key));
  auto got = unpack_layer_blob(blob_path(blob_digest), {{}, dir, Whiteouts::Overlay});
  if (!got && got.error().code == Code::Unsupported) return std::move(got).error();
  if (!got) return std::move(got).error().wrap("layer " + blob_digest);
  if (*got != diff_id) {
    return make_error(Code::InvalidArgument, "layer " + blob_digest + ": its content is " + *got +
                                                 ", but the image config says " + diff_id);
  }
  drop_snapshot.dismiss();
  return key;
}

Status ImageStore::commit_detached(const std::string& key, const std::string& parent_chain,
                                   const std::string& chain) {
  Status committed = storage_->commit_onto(chain, key, parent_chain, {});
  if (committed) return {};
  (void)storage_->remove(key);
  if (committed.error().code == Code::AlreadyExists) return {};
  return committed;
}

void ImageStore::drop_detached(const std::string& key) { (void)storage_->remove(key); }

Result<std::vector<std::string>> ImageStore::unpack_missing(const std::vector<LayerToUnpack>& layers) {
  std::vector<const LayerToUnpack*> todo;
  for (const auto& l : layers) {
    if (!has_layer(l.chain)) todo.push_back(&l);
  }
  std::vector<std::string> made;
  if (todo.empty()) return made;
  reap_temporary();
  if (!can_unpack_detached() || todo.size() == 1) {
    for (const auto* l : todo) {
      if (Status s = unpack_layer(l->parent_chain, l->chain, l->blob_digest, l->diff_id); !s) {
        forget_unused(made, {});
        return std::move(s).error();
      }
      made.push_back(l->chain);
    }
    return made;
  }
  // Each thread takes the next layer; the layers are then committed bottom first.
  std::vector<std::optional<Result<std::string>>> keys(todo.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < todo.size();) keys[i] = unpack_detached(todo[i]->blob_digest, todo[i]->diff_id);
  };
  size_t n = std::min<size_t>({std::max(1u, std::thread::hardware_concurrency()), todo.size(), 4});
  std::vector<std::thread> threads;
  for (size_t t = 0; t < n; ++t) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  std::optional<Error> failure;
  for (size_t i = 0; i < todo.size(); ++i) {
    Result<std::string>& k = *keys[i];
    if (!k && k.error().code == Code::Unsupported && !failure) {
      // A layer that needs the ones below it: unpacked on them now that they are there.
      if (Status s = unpack_layer(todo[i]->parent_chain, todo[i]->chain, todo[i]->blob_digest, todo[i]->diff_id); !s) {
        failure = std::move(s).error();
      } else {
        made.push_back(todo[i]->chain);
      }
      continue;
    }
    if (!k) {
      if (!failure) failure = k.error();
      continue;
    }
    if (failure) {
      drop_detached(*k);
      continue;
    }
    if (Status s = commit_detached(*k, todo[i]->parent_chain, todo[i]->chain); !s) {
      failure = std::move(s).error();
      continue;
    }
    made.push_back(todo[i]->chain);
  }
  if (failure) {
    forget_unused(made, {});
    return *failure;
  }
  return made;
}

void ImageStore::reap_temporary() {
  std::vector<std::string> dead;
  (void)storage_->walk([&](const sdk::SnapshotInfo& info) {
    if (info.kind == sdk::SnapshotKind::Committed || !util::starts_with(info.key, kTemporaryPrefix)) return true;
    auto parts = util::split(info.key.substr(std::strlen(kTemporaryPrefix)), '-');
    if (parts.size() != 3) return true;
    pid_t pid = static_cast<pid_t>(std::atol(parts[0].c_str()));
    uint64_t start = std::strtoull(parts[1].c_str(), nullptr, 10);
    if (!util::process_alive(pid, start)) dead.push_back(info.key);
    return true;
  });
  for (const auto& k : dead) (void)storage_->remove(k);
}

Result<std::optional<std::string>> ImageStore::cached(const std::string& parent, const std::string& build_key) {
  BERTH_ASSIGN(auto st, db_->prepare("SELECT id FROM images WHERE parent = ? AND build_key = ? ORDER BY created_ns DESC LIMIT 1"));
  st.bind(1, parent).bind(2, build_key);
  BERTH_ASSIGN(bool row, st.step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(st.text(0));
}

void ImageStore::forget_unused(const std::vector<std::string>& chains, const std::vector<std::string>& blobs) {
  auto used = [&](const char* sql, const std::string& v) {
    auto st = db_->prepare(sql);
    if (!st) return true;  // unknown: keep it
    for (int i = 1, n = static_cast<int>(std::count(sql, sql + std::strlen(sql), '?')); i <= n; ++i) st->bind(i, v);
    auto row = st->step();
    return !row || *row;
  };
  for (auto it = chains.rbegin(); it != chains.rend(); ++it) {
    if (!used("SELECT 1 FROM image_layers WHERE chain_id = ? LIMIT 1", *it)) (void)storage_->remove(*it);
  }
  for (const auto& b : blobs) {
    // (A config or manifest of an image recorded before the failure is used too: a load
    // of several images that fails at the second keeps the first whole.)
    if (!used("SELECT 1 FROM image_layers WHERE blob_digest = ? OR diff_id = ? LIMIT 1", b) &&
        !used("SELECT 1 FROM images WHERE id = ? OR manifest_digest = ? LIMIT 1", b)) {
      ::unlink(blob_path(b).c_str());
    }
  }
}

Status ImageStore::record(const NewImage& image) {
  std::string parent;
  std::vector<std::string> chains;
  int64_t size = 0;
  for (const auto& l : image.layers) {
    parent = chain_of(parent, l.diff_id);
    chains.push_back(parent);
    if (auto u = storage_->usage(parent); u) size += u->size;
  }
  return db_->transaction([&]() -> Status {
    BERTH_ASSIGN(auto ins, db_->prepare(
        "INSERT OR REPLACE INTO images(id, manifest_digest, created_ns, size, top_chain_id, parent, build_key) "
        "VALUES (?,?,?,?,?,?,?)"));
    ins.bind(1, image.config_digest).bind(2, image.manifest_digest).bind(3, image.created_ns).bind(4, size);
    ins.bind(5, chains.empty() ? std::string() : chains.back()).bind(6, image.parent).bind(7, image.build_key);
    BERTH_TRY(ins.run());
    for (size_t i = 0; i < image.layers.size(); ++i) {
      BERTH_ASSIGN(auto lay, db_->prepare(
          "INSERT OR REPLACE INTO image_layers(image_id, idx, chain_id, diff_id, blob_digest) VALUES (?,?,?,?,?)"));
      lay.bind(1, image.config_digest).bind(2, static_cast<int64_t>(i)).bind(3, chains[i]);
      lay.bind(4, image.layers[i].diff_id).bind(5, image.layers[i].blob_digest);
      BERTH_TRY(lay.run());
    }
    for (const auto& t : image.tags) {
      BERTH_ASSIGN(auto tag, db_->prepare("INSERT OR REPLACE INTO tags(ref, image_id) VALUES (?,?)"));
      tag.bind(1, t).bind(2, image.config_digest);
      BERTH_TRY(tag.run());
    }
    if (!image.repo_digest.empty()) {
      BERTH_ASSIGN(auto rd, db_->prepare("INSERT OR REPLACE INTO repo_digests(ref, image_id) VALUES (?,?)"));
      rd.bind(1, image.repo_digest).bind(2, image.config_digest);
      BERTH_TRY(rd.run());
    }
    return write_index_in_transaction();
  });
}

// Called inside the write transaction of each change of images or tags, just before it
// commits: writers are serialised, so whoever writes last has read every change that
// committed before it; and a change whose index cannot be written is rolled back, so the
// command that made it fails having changed nothing.
Status ImageStore::write_index_in_transaction() {
  if (!fs::exists(root_ + "/oci-layout")) {
    BERTH_TRY(fs::make_dirs(root_, 0755));
    BERTH_TRY(fs::write_file_atomic(root_ + "/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 0644));
  }
  // A manifest's media type and size, from the index being replaced where it has them
  // (one read, not one per image), else from the blob.
  std::map<std::string, std::pair<std::string, int64_t>> described;
  if (auto old = fs::read_file(root_ + "/index.json"); old) {
    json o = json::parse(*old, nullptr, false);
    if (o.is_object() && o.contains("manifests") && o["manifests"].is_array()) {
      for (const auto& m : o["manifests"]) {
        if (m.is_object() && m.value("digest", "") != "" && m.value("mediaType", "") != "" &&
            m.value("size", int64_t{-1}) >= 0) {
          described[m.value("digest", "")] = {m.value("mediaType", ""), m.value("size", int64_t{0})};
        }
      }
    }
  }
  BERTH_ASSIGN(auto st, db_->prepare(
      "SELECT i.manifest_digest, t.ref FROM images i LEFT JOIN tags t ON t.image_id = i.id "
      "ORDER BY i.created_ns, i.id, t.ref"));
  json manifests = json::array();
  for (;;) {
    BERTH_ASSIGN(bool row, st.step());
    if (!row) break;
    std::string digest = st.text(0);
    if (!described.count(digest)) {
      auto text = fs::read_file(blob_path(digest));
      if (!text) continue;  // (an image being deleted)
      json m = json::parse(*text, nullptr, false);
      std::string type = m.is_object() ? m.value("mediaType", "") : "";
      described[digest] = {type.empty() ? "application/vnd.oci.image.manifest.v1+json" : type,
                           static_cast<int64_t>(text->size())};
    }
    json d = {{"mediaType", described[digest].first}, {"digest", digest}, {"size", described[digest].second}};
    // An untagged image is listed too, without a name: the layout holds all that is here.
    if (!st.is_null(1)) d["annotations"] = {{"org.opencontainers.image.ref.name", st.text(1)}};
    manifests.push_back(std::move(d));
  }
  json index = {{"schemaVersion", 2}, {"mediaType", "application/vnd.oci.image.index.v1+json"}, {"manifests", manifests}};
  return fs::write_file_atomic(root_ + "/index.json", index.dump() + "\n", 0644, fs::Durability::Atomic);
}

ImageStore::ImageStore(state::Store* db, sdk::StorageDriver* storage, std::string root,
                       std::string scratch_root)
    : db_(db), storage_(storage), root_(std::move(root)), scratch_root_(std::move(scratch_root)) {}

std::string ImageStore::blob_path(const std::string& digest) const {
  return root_ + "/blobs/sha256/" + hex_of(digest);
}

Result<std::string> ImageStore::put_blob(const std::string& content) {
  std::string digest = util::sha256_digest(content);
  std::string path = blob_path(digest);
  if (!fs::exists(root_ + "/oci-layout")) {
    BERTH_TRY(fs::make_dirs(root_, 0755));
    BERTH_TRY(fs::write_file_atomic(root_ + "/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 0644));
  }
  if (!fs::exists(path)) {
    BERTH_TRY(fs::make_dirs(root_ + "/blobs/sha256", 0755));
    BERTH_TRY(fs::write_file_atomic(path, content, 0644));
  }
  return digest;
}

Result<ImageRecord> ImageStore::load(const std::string& id) {
  BERTH_ASSIGN(auto st, db_->prepare(
      "SELECT id, manifest_digest, created_ns, size, top_chain_id, parent FROM images WHERE id = ?"));
  st.bind(1, id);
  BERTH_ASSIGN(bool row, st.step());
  if (!row) return make_error(Code::NotFound, "No such image: " + id);
  ImageRecord r{st.text(0), st.text(1), st.integer(2), st.integer(3), st.text(4), {}, {}, st.text(5)};
  BERTH_ASSIGN(auto tags, db_->prepare("SELECT ref FROM tags WHERE image_id = ? ORDER BY ref"));
  tags.bind(1, id);
  for (;;) {
    BERTH_ASSIGN(bool more, tags.step());
    if (!more) break;
    r.tags.push_back(tags.text(0));
  }
  BERTH_ASSIGN(auto rds, db_->prepare("SELECT ref FROM repo_digests WHERE image_id = ? ORDER BY ref"));
  rds.bind(1, id);
  for (;;) {
    BERTH_ASSIGN(bool more, rds.step());
    if (!more) break;
    r.repo_digests.push_back(rds.text(0));
  }
  return r;
}

Result<ImageRecord> ImageStore::resolve(const std::string& name) {
  if (util::starts_with(name, "sha256:") && name.size() == 71) {
    return load(name);
  }
  if (auto ref = parse_reference(name); ref) {
    BERTH_ASSIGN(auto st, db_->prepare(ref->digest.empty() ? "SELECT image_id FROM tags WHERE ref = ?"
                                                            : "SELECT image_id FROM repo_digests WHERE ref = ?"));
    st.bind(1, ref->digest.empty() ? ref->full() : ref->domain + "/" + ref->path + "@" + ref->digest);
    BERTH_ASSIGN(bool row, st.step());
    if (row) return load(st.text(0));
  }
  // A unique prefix of the id's hex.
  std::string hex = util::starts_with(name, "sha256:") ? name.substr(7) : name;
  bool is_hex = !hex.empty() && hex.size() <= 64 &&
                hex.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (is_hex) {
    BERTH_ASSIGN(auto st, db_->prepare("SELECT id FROM images WHERE id >= ? AND id < ? LIMIT 2"));
    st.bind(1, "sha256:" + hex).bind(2, "sha256:" + hex + "g");
    BERTH_ASSIGN(bool row, st.step());
    if (row) {
      std::string id = st.text(0);
      BERTH_ASSIGN(bool second, st.step());
      if (second) {
        return make_error(Code::InvalidArgument, "image id prefix '" + name + "' is ambiguous");
      }
      return load(id);
    }
  }
  auto ref = parse_reference(name);
  return make_error(Code::NotFound, "No such image: " + (ref ? ref->familiar() : name));
}

Result<std::vector<ImageRecord>> ImageStore::list() {
  std::vector<ImageRecord> out;
  BERTH_ASSIGN(auto st, db_->prepare(
      "SELECT i.id, i.manifest_digest, i.created_ns, i.size, i.top_chain_id, t.ref, i.parent FROM images i "
      "LEFT JOIN tags t ON t.image_id = i.id ORDER BY i.created_ns DESC, i.id, t.ref"));
  for (;;) {
    BERTH_ASSIGN(bool row, st.step());
    if (!row) break;
    std::string id = st.text(0);
    if (out.empty() || out.back().id != id) {
      out.push_back({id, st.text(1), st.integer(2), st.integer(3), st.text(4), {}, {}, st.text(6)});
    }
    if (!st.is_null(5)) out.back().tags.push_back(st.text(5));
  }
  return out;
}

Result<json> ImageStore::config(const ImageRecord& image) {
  BERTH_ASSIGN(std::string text, fs::read_file(blob_path(image.id)));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return make_error(Code::Internal, "image config " + image.id + " is not JSON");
  return j;
}

Result<json> ImageStore::manifest(const ImageRecord& image) {
  BERTH_ASSIGN(std::string text, fs::read_file(blob_path(image.manifest_digest)));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return make_error(Code::Internal, "manifest " + image.manifest_digest + " is not JSON");
  return j;
}

Result<std::vector<std::string>> ImageStore::chain_ids(const std::string& image_id) {
  std::vector<std::string> out;
  BERTH_ASSIGN(auto st, db_->prepare("SELECT chain_id FROM image_layers WHERE image_id = ? ORDER BY idx"));
  st.bind(1, image_id);
  for (;;) {
    BERTH_ASSIGN(bool row, st.step());
    if (!row) break;
    out.push_back(st.text(0));
  }
  return out;
}

Result<std::vector<std::string>> parse_command_form(const std::string& text) {
  std::string t = util::trim(text);
  if (!t.empty() && t[0] == '[') {
    json j = json::parse(t, nullptr, false);
    if (!j.is_discarded() && j.is_array()) {
      std::vector<std::string> out;
      for (const auto& e : j) {
        if (!e.is_string()) return make_error(Code::InvalidArgument, "'" + t + "': JSON form must hold strings only");
        out.push_back(e.get<std::string>());
      }
      return out;
    }
  }
  return std::vector<std::string>{"/bin/sh", "-c", t};
}

Status apply_change(const std::string& change, json* config) {
  std::string c = util::trim(change);
  auto sp = c.find_first_of(" \t");
  std::string instr = c.substr(0, sp);
  std::string arg = sp == std::string::npos ? "" : util::trim(c.substr(sp));
  for (auto& ch : instr) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  auto bad = [&](const std::string& why) {
    return make_error(Code::InvalidArgument, "--change '" + change + "': " + why);
  };
  if (arg.empty()) return bad(instr + " needs an argument");
  json& cfg = *config;
  if (instr == "CMD" || instr == "ENTRYPOINT") {
    BERTH_ASSIGN(auto v, parse_command_form(arg));
    cfg[instr == "CMD" ? "Cmd" : "Entrypoint"] = v;
    if (instr == "ENTRYPOINT") cfg["Cmd"] = nullptr;  // as Docker: a new ENTRYPOINT resets CMD
  } else if (instr == "ENV") {
    std::vector<std::pair<std::string, std::string>> kvs;
    if (arg.find('=') == std::string::npos || arg.find_first_of(" \t") < arg.find('=')) {
      auto s = arg.find_first_of(" \t");
      if (s == std::string::npos) return bad("ENV needs KEY=VALUE or KEY VALUE");
      kvs.emplace_back(arg.substr(0, s), util::trim(arg.substr(s)));
    } else {
      for (const auto& part : util::split(arg, ' ')) {
        if (part.empty()) continue;
        auto eq = part.find('=');
        if (eq == std::string::npos || eq == 0) return bad("'" + part + "' is not KEY=VALUE");
        kvs.emplace_back(part.substr(0, eq), part.substr(eq + 1));
      }
    }
    json env = cfg.contains("Env") && cfg["Env"].is_array() ? cfg["Env"] : json::array();
    for (const auto& [k, v] : kvs) {
      bool replaced = false;
      for (auto& e : env) {
        if (util::starts_with(e.get<std::string>(), k + "=")) {
          e = k + "=" + v;
          replaced = true;
        }
      }
      if (!replaced) env.push_back(k + "=" + v);
    }
    cfg["Env"] = env;
  } else if (instr == "WORKDIR") {
    if (arg[0] != '/') return bad("WORKDIR must be an absolute path");
    cfg["WorkingDir"] = arg;
  } else if (instr == "USER") {
    cfg["User"] = arg;
  } else if (instr == "LABEL") {
    auto eq = arg.find('=');
    if (eq == std::string::npos || eq == 0) return bad("LABEL needs KEY=VALUE");
    cfg["Labels"][arg.substr(0, eq)] = arg.substr(eq + 1);
  } else if (instr == "EXPOSE") {
    for (const auto& p : util::split(arg, ' ')) {
      if (p.empty()) continue;
      cfg["ExposedPorts"][p.find('/') == std::string::npos ? p + "/tcp" : p] = json::object();
    }
  } else if (instr == "VOLUME") {
    std::vector<std::string> paths;
    if (arg[0] == '[') {
      BERTH_ASSIGN(paths, parse_command_form(arg));
    } else {
      for (const auto& p : util::split(arg, ' ')) {
        if (!p.empty()) paths.push_back(p);
      }
    }
    for (const auto& p : paths) {
      if (p.empty() || p[0] != '/') return bad("VOLUME paths must be absolute: '" + p + "'");
      cfg["Volumes"][p] = json::object();
    }
  } else {
    return bad("instruction '" + instr +
               "' is not supported (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, VOLUME are)");
  }
  return {};
}

Result<std::string> ImageStore::import(int fd, const ImportOptions& opts) {
  // Check everything the user typed before reading any byte.
  json cfg = json::object();
  for (const auto& c : opts.changes) BERTH_TRY(apply_change(c, &cfg));
  std::string ref_full;
  if (!opts.reference.empty()) {
    BERTH_ASSIGN(auto ref, parse_reference(opts.reference));
    if (!ref.digest.empty()) {
      return make_error(Code::InvalidArgument, "cannot import to a reference with a digest");
    }
    ref_full = ref.full();
  }

  BERTH_TRY(fs::make_dirs(root_ + "/blobs/sha256", 0755));
  BERTH_TRY(fs::write_file_atomic(root_ + "/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 0644));
  BERTH_TRY(fs::make_dirs(root_ + "/tmp", 0700));
  std::string tmp = root_ + "/tmp/import-" + util::random_hex(8);
  sdk::ScopeGuard drop_tmp([&] { ::unlink(tmp.c_str()); });
  auto layer = normalize_layer(fd, tmp);
  if (!layer) return std::move(layer).error().wrap("import");
  std::string diff_id = layer->diff_id;
  std::string chain = chain_of("", diff_id);

  if (auto st = storage_->stat(chain); !st) {
    std::string key = temporary_key();
    BERTH_ASSIGN(auto mounts, storage_->prepare(key, "", {}));
    sdk::ScopeGuard drop_snapshot([&] { (void)storage_->remove(key); });
    std::string scratch = scratch_root_ + "/" + key;
    BERTH_TRY(fs::make_dirs(scratch, 0700));
    auto applied = unpack_layer_blob(tmp, {mounts, scratch, Whiteouts::Apply});
    ::rmdir(scratch.c_str());
    if (!applied) return std::move(applied).error().wrap("import");
    Status committed = storage_->commit(chain, key, {});
    if (!committed && committed.error().code != Code::AlreadyExists) return std::move(committed).error();
    if (committed) drop_snapshot.dismiss();
  }
  std::string layer_digest = diff_id;
  std::string blob = blob_path(layer_digest);
  if (!fs::exists(blob)) {
    if (::rename(tmp.c_str(), blob.c_str()) != 0) return sys_error("store layer blob '" + blob + "'");
  }
  int64_t now = util::now_ns();
  std::string created = util::rfc3339_nano(now);
  json image = {
      {"architecture", "amd64"},
      {"os", "linux"},
      {"created", created},
      {"config", cfg},
      {"rootfs", {{"type", "layers"}, {"diff_ids", {diff_id}}}},
      {"history",
       {{{"created", created},
         {"created_by", "berth import " + opts.source_name},
         {"comment", opts.message.empty() ? "Imported from " + opts.source_name : opts.message}}}},
  };
  std::string config_text = image.dump();
  BERTH_ASSIGN(std::string config_digest, put_blob(config_text));
  struct stat st {};
  ::stat(blob.c_str(), &st);
  json manifest = {
      {"schemaVersion", 2},
      {"mediaType", kManifestType},
      {"config", {{"mediaType", kConfigType}, {"digest", config_digest}, {"size", config_text.size()}}},
      {"layers", {{{"mediaType", kLayerType}, {"digest", layer_digest}, {"size", static_cast<int64_t>(st.st_size)}}}},
  };
  BERTH_ASSIGN(std::string manifest_digest, put_blob(manifest.dump()));

  // Sized as every other image is: what its layer's snapshot holds.
  int64_t size = layer->size;
  if (auto u = storage_->usage(chain); u) size = u->size;
  BERTH_TRY(db_->transaction([&]() -> Status {
    BERTH_ASSIGN(auto ins, db_->prepare(
        "INSERT OR IGNORE INTO images(id, manifest_digest, created_ns, size, top_chain_id) VALUES (?,?,?,?,?)"));
    ins.bind(1, config_digest).bind(2, manifest_digest).bind(3, now).bind(4, size).bind(5, chain);
    BERTH_TRY(ins.run());
    BERTH_ASSIGN(auto lay, db_->prepare(
        "INSERT OR IGNORE INTO image_layers(image_id, idx, chain_id, diff_id) VALUES (?,0,?,?)"));
    lay.bind(1, config_digest).bind(2, chain).bind(3, diff_id);
    BERTH_TRY(lay.run());
    if (!ref_full.empty()) {
      BERTH_ASSIGN(auto tag, db_->prepare("INSERT OR REPLACE INTO tags(ref, image_id) VALUES (?,?)"));
      tag.bind(1, ref_full).bind(2, config_digest);
      BERTH_TRY(tag.run());
    }
    return write_index_in_transaction();
  }));
  return config_digest;
}

Status ImageStore::tag(const std::string& source, const std::string& target) {
  BERTH_ASSIGN(ImageRecord img, resolve(source));
  BERTH_ASSIGN(Reference ref, parse_reference(target));
  if (!ref.digest.empty()) return make_error(Code::InvalidArgument, "cannot tag with a digest: '" + target + "'");
  return db_->transaction([&]() -> Status {
    BERTH_ASSIGN(auto st, db_->prepare("INSERT OR REPLACE INTO tags(ref, image_id) VALUES (?,?)"));
    st.bind(1, ref.full()).bind(2, img.id);
    BERTH_TRY(st.run());
    return write_index_in_transaction();
  });
}

// An index pulled through (its digest is a repo digest other than the manifest's) goes
// when no repo digest names it any more.
Status ImageStore::drop_index_blob(const std::string& repo_digest, const std::string& manifest_digest) {
  std::string d = repo_digest.substr(repo_digest.find('@') + 1);
  if (d == manifest_digest || !valid_digest(d)) return {};
  BERTH_ASSIGN(auto st, db_->prepare("SELECT 1 FROM repo_digests WHERE ref LIKE '%@' || ? LIMIT 1"));
  st.bind(1, d);
  BERTH_ASSIGN(bool used, st.step());
  if (!used) ::unlink(blob_path(d).c_str());
  return {};
}

Status ImageStore::delete_image(const std::string& id, std::vector<std::string>* out) {
  BERTH_ASSIGN(auto chains, chain_ids(id));
  BERTH_ASSIGN(ImageRecord img, load(id));
  auto manifest_json = manifest(img);
  BERTH_TRY(db_->transaction([&]() -> Status {
    BERTH_ASSIGN(auto a, db_->prepare("DELETE FROM images WHERE id = ?"));
    a.bind(1, id);
    BERTH_TRY(a.run());
    BERTH_ASSIGN(auto b, db_->prepare("DELETE FROM image_layers WHERE image_id = ?"));
    b.bind(1, id);
    BERTH_TRY(b.run());
    BERTH_ASSIGN(auto c, db_->prepare("DELETE FROM tags WHERE image_id = ?"));
    c.bind(1, id);
    BERTH_TRY(c.run());
    BERTH_ASSIGN(auto d, db_->prepare("DELETE FROM repo_digests WHERE image_id = ?"));
    d.bind(1, id);
    BERTH_TRY(d.run());
    return write_index_in_transaction();
  }));
  out->push_back("Deleted: " + id);
  // Layers no other image uses go, top first (children before parents).
  for (auto it = chains.rbegin(); it != chains.rend(); ++it) {
    BERTH_ASSIGN(auto st, db_->prepare("SELECT 1 FROM image_layers WHERE chain_id = ? LIMIT 1"));
    st.bind(1, *it);
    BERTH_ASSIGN(bool used, st.step());
    if (used) break;
    Status s = storage_->remove(*it);
    if (!s && s.error().code != Code::NotFound) return s;
  }
  ::unlink(blob_path(id).c_str());
  ::unlink(blob_path(img.manifest_digest).c_str());
  for (const auto& rd : img.repo_digests) BERTH_TRY(drop_index_blob(rd, img.manifest_digest));
  if (manifest_json) {
    for (const auto& l : (*manifest_json)["layers"]) {
      std::string d = l.value("digest", "");
      BERTH_ASSIGN(auto st, db_->prepare(
          "SELECT 1 FROM image_layers WHERE (diff_id = ? AND blob_digest = '') OR blob_digest = ? LIMIT 1"));
      st.bind(1, d).bind(2, d);
      BERTH_ASSIGN(bool used, st.step());
      if (!used && !d.empty()) ::unlink(blob_path(d).c_str());
    }
  }
  return {};
}

Result<std::vector<std::string>> ImageStore::remove(const std::string& name, bool force,
                                                    const std::vector<User>& users) {
  std::vector<std::string> out;
  BERTH_ASSIGN(ImageRecord img, resolve(name));
  std::string short_id = hex_of(img.id).substr(0, 12);
  // Named by a tag: untag it, and delete the image if that was its last name.
  std::string tag_ref;
  if (auto ref = parse_reference(name); ref) {
    for (const auto& t : img.tags) {
      if (t == ref->full()) tag_ref = t;
    }
  }
  const User* running = nullptr;
  for (const auto& u : users) {
    if (u.running) running = &u;
  }
  auto untag = [&](const std::string& t) -> Status {
    std::vector<std::string> lines, dropped;
    BERTH_TRY(db_->transaction([&]() -> Status {
      BERTH_ASSIGN(auto st, db_->prepare("DELETE FROM tags WHERE ref = ?"));
      st.bind(1, t);
      BERTH_TRY(st.run());
      lines.push_back("Untagged: " + familiar_of(t));
      // The repository's last tag on this image takes its digest references along, as
      // Docker's "Untagged: busybox@sha256:...".
      auto ref = parse_reference(t);
      if (ref) {
        std::string repo = ref->domain + "/" + ref->path;
        BERTH_ASSIGN(auto more, db_->prepare("SELECT 1 FROM tags WHERE image_id = ? AND ref LIKE ? || ':%' LIMIT 1"));
        more.bind(1, img.id).bind(2, repo);
        BERTH_ASSIGN(bool left, more.step());
        for (const auto& d : img.repo_digests) {
          if (left || d.rfind(repo + "@", 0) != 0) continue;
          BERTH_ASSIGN(auto del, db_->prepare("DELETE FROM repo_digests WHERE ref = ?"));
          del.bind(1, d);
          BERTH_TRY(del.run());
          dropped.push_back(d);
          lines.push_back("Untagged: " + familiar_of(d));
        }
      }
      return write_index_in_transaction();
    }));
    // (Blobs go once the change is committed: a rolled-back one still names them.)
    for (const auto& d : dropped) BERTH_TRY(drop_index_blob(d, img.manifest_digest));
    out.insert(out.end(), lines.begin(), lines.end());
    return {};
  };
  if (!tag_ref.empty() && img.tags.size() > 1) {
    BERTH_TRY(untag(tag_ref));
    return out;
  }
  if (tag_ref.empty() && img.tags.size() > 1 && !force) {
    return make_error(Code::Conflict, "conflict: unable to delete " + short_id +
                                          " (must be forced) - image is referenced in multiple repositories");
  }
  // Docker's rule for an image that others were made from: its last name may go, the
  // image stays (untagged) while a child needs it; by id it is refused, even forced.
  BERTH_ASSIGN(auto kids, db_->prepare("SELECT id FROM images WHERE parent = ? LIMIT 1"));
  kids.bind(1, img.id);
  BERTH_ASSIGN(bool has_child, kids.step());
  if (has_child) {
    if (!tag_ref.empty()) {
      BERTH_TRY(untag(tag_ref));
      return out;
    }
    return make_error(Code::Conflict, "conflict: unable to delete " + short_id + " (cannot be forced) - image has dependent child images");
  }
  if (!users.empty()) {
    const User& u = running != nullptr ? *running : users.front();
    std::string what = u.running ? "running" : "stopped";
    if (!force || (u.running && tag_ref.empty())) {
      if (!tag_ref.empty()) {
        return make_error(Code::Conflict, "conflict: unable to remove repository reference \"" +
                                              familiar_of(tag_ref) + "\" (must force) - container " +
                                              u.container_id.substr(0, 12) +
                                              " is using its referenced image " + short_id);
      }
      return make_error(Code::Conflict, std::string("conflict: unable to delete ") + short_id +
                                            (u.running ? " (cannot be forced)" : " (must be forced)") +
                                            " - image is being used by " + what + " container " +
                                            u.container_id.substr(0, 12));
    }
    // Forced: drop the names, keep the data the containers stand on.
    for (const auto& t : img.tags) BERTH_TRY(untag(t));
    return out;
  }
  for (const auto& t : img.tags) BERTH_TRY(untag(t));
  BERTH_TRY(delete_image(img.id, &out));
  // Docker's rmi takes the untagged parents (a build's intermediate images) with it, up to
  // one that has a name, another child, or a container (`users` only knows of this one's,
  // so the caller's own check for the parent is repeated through `in_use`).
  std::string up = img.parent;
  while (!up.empty()) {
    auto p = load(up);
    if (!p || !p->tags.empty()) break;
    BERTH_ASSIGN(auto kids, db_->prepare("SELECT 1 FROM images WHERE parent = ? LIMIT 1"));
    kids.bind(1, up);
    BERTH_ASSIGN(bool more, kids.step());
    if (more || (in_use_ && in_use_(up))) break;
    BERTH_TRY(delete_image(up, &out));
    up = p->parent;
  }
  return out;
}

}  // namespace berth::images
