#include "images/archive.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "berth/sdk/fs.hpp"
#include "berth/sdk/scope_guard.hpp"
#include "engine.hpp"
#include "images/pull.hpp"
#include "images/reference.hpp"
#include "registry/client.hpp"
#include "util/lazy_libs.hpp"
#include "util/util.hpp"

namespace berth::images {

using nlohmann::json;
namespace fs = sdk::fs;

namespace {

std::string hex_of(const std::string& d) { return d.substr(d.find(':') + 1); }

class TarWriter {
 public:
  TarWriter(const util::ArchiveApi* la, int fd) : la_(la), a_(la->archive_write_new()) {
    la_->archive_write_set_format_pax_restricted(a_);
    ok_ = la_->archive_write_open_fd(a_, fd) == ARCHIVE_OK;
  }
  ~TarWriter() {
    la_->archive_write_close(a_);
    la_->archive_write_free(a_);
  }
  Status close() {
    if (la_->archive_write_close(a_) != ARCHIVE_OK) return error("finish the archive");
    return {};
  }
  Status dir(const std::string& name) { return header(name, AE_IFDIR, 0755, 0); }
  Status text(const std::string& name, const std::string& content) {
    BERTH_TRY(header(name, AE_IFREG, 0644, static_cast<int64_t>(content.size())));
    if (la_->archive_write_data(a_, content.data(), content.size()) < 0) return error("write " + name);
    return {};
  }
  Status file(const std::string& name, const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sys_error("open '" + path + "'");
    sdk::ScopeGuard closer([&] { ::close(fd); });
    struct stat st {};
    ::fstat(fd, &st);
    BERTH_TRY(header(name, AE_IFREG, 0644, st.st_size));
    std::vector<char> buf(1 << 17);
    for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;) {
      if (la_->archive_write_data(a_, buf.data(), static_cast<size_t>(n)) < 0) return error("write " + name);
    }
    return {};
  }

 private:
  Status header(const std::string& name, unsigned type, int perm, int64_t size) {
    if (!ok_) return error("open the archive");
    archive_entry* e = la_->archive_entry_new();
    la_->archive_entry_set_pathname(e, name.c_str());
    la_->archive_entry_set_filetype(e, type);
    la_->archive_entry_set_perm(e, perm);
    la_->archive_entry_set_size(e, size);
    la_->archive_entry_set_mtime(e, 0, 0);  // the same images give the same archive
    int r = la_->archive_write_header(a_, e);
    la_->archive_entry_free(e);
    if (r != ARCHIVE_OK) return error("write " + name);
    return {};
  }
  Error error(const std::string& what) {
    return make_error(Code::Internal, what + ": " + (la_->archive_error_string(a_) ? la_->archive_error_string(a_) : "?"));
  }
  const util::ArchiveApi* la_;
  archive* a_;
  bool ok_ = false;
};

// "a/./b" -> "a/b"; false for absolute names or ".." anywhere (an archive names only its
// own files).
bool clean_name(std::string* p) {
  if (p->empty() || (*p)[0] == '/') return false;
  std::vector<std::string> out;
  for (const auto& c : util::split(*p, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") return false;
    out.push_back(c);
  }
  *p = util::join(out, "/");
  return !p->empty();
}

// Unpacks the archive's regular files and directories into `dir`.
Status unpack_archive(const util::ArchiveApi* la, int fd, const std::string& dir) {
  archive* in = la->archive_read_new();
  la->archive_read_support_filter_all(in);
  la->archive_read_support_format_tar(in);
  la->archive_read_support_format_gnutar(in);
  sdk::ScopeGuard free_in([&] { la->archive_read_free(in); });
  if (la->archive_read_open_fd(in, fd, 1 << 16) != ARCHIVE_OK) {
    return make_error(Code::InvalidArgument, std::string("read the archive: ") + la->archive_error_string(in));
  }
  int entries = 0;
  for (;;) {
    archive_entry* e = nullptr;
    int r = la->archive_read_next_header(in, &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      return make_error(Code::InvalidArgument, std::string("read the archive: ") + la->archive_error_string(in));
    }
    ++entries;
    std::string name = la->archive_entry_pathname(e);
    if (!clean_name(&name)) return make_error(Code::InvalidArgument, "the archive names '" + name + "' outside itself");
    std::string path = dir + "/" + name;
    auto type = la->archive_entry_filetype(e);
    if (type == AE_IFDIR) {
      BERTH_TRY(fs::make_dirs(path, 0755));
      continue;
    }
    BERTH_TRY(fs::make_dirs(path.substr(0, path.rfind('/')), 0755));
    // (Symbolic links, which `docker save` before 25 used between layer directories, are
    // not followed: such an archive fails as "layer ... is missing".)
    if (type != AE_IFREG) continue;
    int out = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) return sys_error("write '" + path + "'");
    sdk::ScopeGuard closer([&] { ::close(out); });
    std::vector<char> buf(1 << 17);
    for (;;) {
      la_ssize_t n = la->archive_read_data(in, buf.data(), buf.size());
      if (n == 0) break;
      if (n < 0) return make_error(Code::InvalidArgument, std::string("read '" + name + "': ") + la->archive_error_string(in));
      if (!util::write_all(out, std::string_view(buf.data(), static_cast<size_t>(n)))) return sys_error("write '" + path + "'");
    }
  }
  if (entries == 0) return make_error(Code::InvalidArgument, "the archive is empty");
  return {};
}

// The sha256 of a file.
Result<std::string> digest_of(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sys_error("open '" + path + "'");
  util::Sha256 h;
  std::vector<char> buf(1 << 17);
  for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;) h.update(buf.data(), static_cast<size_t>(n));
  ::close(fd);
  return "sha256:" + h.hex();
}

bool gzipped(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  unsigned char m[2] = {0, 0};
  bool z = fd >= 0 && ::read(fd, m, 2) == 2 && m[0] == 0x1f && m[1] == 0x8b;
  if (fd >= 0) ::close(fd);
  return z;
}

// What one image of an archive is, found in either format.
struct Found {
  std::string config_path;
  std::vector<std::string> layer_paths;
  std::vector<std::string> tags;  // full references
  std::string manifest_text;      // OCI: as in the archive; Docker: "" (made here)
};

Result<std::vector<Found>> read_docker_format(const std::string& dir) {
  BERTH_ASSIGN(std::string text, fs::read_file(dir + "/manifest.json"));
  json m = json::parse(text, nullptr, false);
  if (!m.is_array()) return make_error(Code::InvalidArgument, "manifest.json of the archive is not a JSON array");
  std::vector<Found> out;
  for (const auto& entry : m) {
    Found f;
    std::string cfg = entry.value("Config", "");
    if (!clean_name(&cfg)) return make_error(Code::InvalidArgument, "manifest.json names config '" + cfg + "'");
    f.config_path = dir + "/" + cfg;
    for (const auto& l : entry.value("Layers", json::array())) {
      std::string p = l.get<std::string>();
      if (!clean_name(&p)) return make_error(Code::InvalidArgument, "manifest.json names layer '" + p + "'");
      char real[PATH_MAX];
      if (::realpath((dir + "/" + p).c_str(), real) == nullptr || !util::starts_with(real, dir + "/")) {
        return make_error(Code::InvalidArgument, "layer '" + p + "' of the archive is missing");
      }
      f.layer_paths.push_back(real);
    }
    for (const auto& t : entry.value("RepoTags", json::array())) {
      BERTH_ASSIGN(Reference r, parse_reference(t.get<std::string>()));
      f.tags.push_back(r.full());
    }
    out.push_back(std::move(f));
  }
  return out;
}

Result<std::vector<Found>> read_oci_format(const std::string& dir) {
  BERTH_ASSIGN(std::string text, fs::read_file(dir + "/index.json"));
  json index = json::parse(text, nullptr, false);
  if (!index.is_object()) return make_error(Code::InvalidArgument, "index.json of the archive is not a JSON object");
  auto blob = [&](const std::string& digest) -> Result<std::string> {
    if (!util::starts_with(digest, "sha256:") || digest.size() != 71 ||
        digest.find_first_not_of("0123456789abcdef", 7) != std::string::npos) {
      return make_error(Code::InvalidArgument, "the archive names blob '" + digest + "'");
    }
    std::string p = dir + "/blobs/sha256/" + hex_of(digest);
    if (!fs::exists(p)) return make_error(Code::InvalidArgument, "blob " + digest + " is missing from the archive");
    return p;
  };
  std::vector<Found> out;
  std::function<Status(const json&, std::vector<std::string>)> visit = [&](const json& d, std::vector<std::string> tags) -> Status {
    std::string media = d.value("mediaType", "");
    BERTH_ASSIGN(std::string path, blob(d.value("digest", "")));
    BERTH_ASSIGN(std::string body, fs::read_file(path));
    if (util::sha256_digest(body) != d.value("digest", "")) {
      return make_error(Code::InvalidArgument, "blob " + d.value("digest", "") + " of the archive does not match its digest");
    }
    json doc = json::parse(body, nullptr, false);
    if (media == registry::kOciIndex || media == registry::kDockerManifestList || (doc.is_object() && doc.contains("manifests"))) {
      std::string want = host_platform();
      for (const auto& m : doc.value("manifests", json::array())) {
        json p = m.value("platform", json::object());
        if (want == p.value("os", "") + "/" + p.value("architecture", "")) return visit(m, tags);
      }
      return make_error(Code::NotFound, "no image for " + want + " in the archive's index");
    }
    Found f;
    f.manifest_text = body;
    BERTH_ASSIGN(f.config_path, blob(doc.value("config", json::object()).value("digest", "")));
    for (const auto& l : doc.value("layers", json::array())) {
      BERTH_ASSIGN(std::string lp, blob(l.value("digest", "")));
      f.layer_paths.push_back(lp);
    }
    f.tags = std::move(tags);
    out.push_back(std::move(f));
    return {};
  };
  for (const auto& d : index.value("manifests", json::array())) {
    json ann = d.value("annotations", json::object());
    std::vector<std::string> tags;
    // containerd's full name, else a ref.name that is a whole reference (skopeo's
    // oci-archive:FILE:busybox:latest); a bare tag ("latest") names nothing.
    std::string name = ann.value("io.containerd.image.name", "");
    std::string refname = ann.value("org.opencontainers.image.ref.name", "");
    if (name.empty() && refname.find(':') != std::string::npos) name = refname;
    if (!name.empty()) {
      if (auto r = parse_reference(name); r && r->digest.empty()) tags.push_back(r->full());
    }
    BERTH_TRY(visit(d, tags));
  }
  return out;
}

}  // namespace

Status save(Engine& e, const std::vector<std::string>& names, int fd) {
  BERTH_ASSIGN(const util::ArchiveApi* la, util::archive_api());
  ImageStore& store = e.images();
  // image id -> the tags asked for
  std::map<std::string, std::vector<std::string>> chosen;
  std::vector<std::string> order;
  for (const auto& n : names) {
    BERTH_ASSIGN(ImageRecord img, store.resolve(n));
    if (!chosen.count(img.id)) order.push_back(img.id);
    auto& tags = chosen[img.id];
    auto ref = parse_reference(n);
    if (ref && ref->digest.empty() && std::find(img.tags.begin(), img.tags.end(), ref->full()) != img.tags.end()) {
      if (std::find(tags.begin(), tags.end(), ref->full()) == tags.end()) tags.push_back(ref->full());
    }
  }
  TarWriter tar(la, fd);
  BERTH_TRY(tar.text("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}"));
  BERTH_TRY(tar.dir("blobs"));
  BERTH_TRY(tar.dir("blobs/sha256"));
  std::set<std::string> written;
  json index_manifests = json::array();
  json docker_manifest = json::array();
  for (const auto& id : order) {
    BERTH_ASSIGN(ImageRecord img, store.resolve(id));
    BERTH_ASSIGN(json manifest, store.manifest(img));
    std::vector<std::string> blobs = {img.manifest_digest, img.id};
    json layers = json::array();
    for (const auto& l : manifest.value("layers", json::array())) {
      blobs.push_back(l.value("digest", ""));
      layers.push_back("blobs/sha256/" + hex_of(l.value("digest", "")));
    }
    for (const auto& b : blobs) {
      if (written.insert(b).second) BERTH_TRY(tar.file("blobs/sha256/" + hex_of(b), store.blob_path(b)));
    }
    struct stat st {};
    ::stat(store.blob_path(img.manifest_digest).c_str(), &st);
    json desc = {{"mediaType", manifest.value("mediaType", registry::kOciManifest)},
                 {"digest", img.manifest_digest},
                 {"size", static_cast<int64_t>(st.st_size)}};
    json repo_tags = json::array();
    for (const auto& t : chosen[id]) {
      auto r = parse_reference(t);
      json named = desc;
      named["annotations"] = {{"io.containerd.image.name", t}, {"org.opencontainers.image.ref.name", r ? r->tag : "latest"}};
      index_manifests.push_back(named);
      repo_tags.push_back(familiar_of(t));
    }
    if (chosen[id].empty()) index_manifests.push_back(desc);
    docker_manifest.push_back({{"Config", "blobs/sha256/" + hex_of(img.id)}, {"RepoTags", repo_tags}, {"Layers", layers}});
  }
  json index = {{"schemaVersion", 2}, {"mediaType", registry::kOciIndex}, {"manifests", index_manifests}};
  BERTH_TRY(tar.text("index.json", index.dump()));
  BERTH_TRY(tar.text("manifest.json", docker_manifest.dump()));
  return tar.close();
}

Result<std::vector<std::string>> load(Engine& e, int fd) {
  BERTH_ASSIGN(const util::ArchiveApi* la, util::archive_api());
  ImageStore& store = e.images();
  std::string tmp = e.config().state_root + "/images/tmp/load-" + util::random_hex(8);
  BERTH_TRY(fs::make_dirs(tmp, 0700));
  sdk::ScopeGuard drop_tmp([&] { (void)fs::remove_tree(tmp); });
  BERTH_TRY(unpack_archive(la, fd, tmp));
  std::vector<Found> found;
  if (fs::exists(tmp + "/manifest.json")) {
    BERTH_ASSIGN(found, read_docker_format(tmp));
  } else if (fs::exists(tmp + "/index.json")) {
    BERTH_ASSIGN(found, read_oci_format(tmp));
  } else {
    return make_error(Code::InvalidArgument, "the archive has neither manifest.json nor index.json: not an image archive");
  }
  std::vector<std::string> made_chains, made_blobs, lines;
  std::map<std::string, std::string> digests;  // file -> its digest (a file may serve twice)
  sdk::ScopeGuard undo([&] { store.forget_unused(made_chains, made_blobs); });
  for (const auto& f : found) {
    BERTH_ASSIGN(std::string config_text, fs::read_file(f.config_path));
    json config = json::parse(config_text, nullptr, false);
    auto diff_ids = config.is_object() ? config.value("rootfs", json::object()).value("diff_ids", json::array()) : json();
    bool strings = diff_ids.is_array() && std::all_of(diff_ids.begin(), diff_ids.end(), [](const json& d) {
      return d.is_string() && ImageStore::valid_digest(d.get<std::string>());
    });
    if (!strings || diff_ids.size() != f.layer_paths.size()) {
      return make_error(Code::InvalidArgument, "the image config of the archive does not match its layers");
    }
    std::string config_digest = util::sha256_digest(config_text);
    bool new_config = !store.has_blob(config_digest);
    BERTH_TRY(store.put_blob(config_text).status());
    if (new_config) made_blobs.push_back(config_digest);  // a refused archive leaves none
    NewImage image;
    image.config_digest = config_digest;
    image.created_ns = util::now_ns();
    if (auto c = util::parse_time_point(config.value("created", ""), 0); c) image.created_ns = *c;
    json layers = json::array();
    std::vector<std::string> layer_digests;
    for (const auto& path : f.layer_paths) {
      if (!digests.count(path)) {
        BERTH_ASSIGN(digests[path], digest_of(path));
      }
      layer_digests.push_back(digests[path]);
    }
    // An archive's own manifest is kept as it is, so it must name what the archive holds:
    // a blob whose content is not its name is refused before anything is unpacked.
    if (!f.manifest_text.empty()) {
      json m = json::parse(f.manifest_text, nullptr, false);
      const json& named = m.is_object() ? m.value("layers", json::array()) : json::array();
      std::string named_config = m.is_object() ? m.value("config", json::object()).value("digest", "") : "";
      if (named_config != config_digest) {
        return make_error(Code::InvalidArgument, "the archive's manifest names the config " + named_config +
                                                     ", but the config it holds is " + config_digest);
      }
      if (!named.is_array() || named.size() != layer_digests.size()) {
        return make_error(Code::InvalidArgument, "the archive's manifest does not list its layers");
      }
      for (size_t i = 0; i < layer_digests.size(); ++i) {
        std::string want = named[i].is_object() ? named[i].value("digest", "") : "";
        if (want != layer_digests[i]) {
          return make_error(Code::InvalidArgument, "the archive's manifest names layer " + want +
                                                       ", but that blob's content is " + layer_digests[i]);
        }
      }
    }
    std::vector<ImageStore::LayerToUnpack> chain;
    std::string parent;
    for (size_t i = 0; i < f.layer_paths.size(); ++i) {
      const std::string& path = f.layer_paths[i];
      std::string digest = layer_digests[i];
      std::string stored = store.blob_path(digest);
      struct stat st {};
      ::stat(fs::exists(path) ? path.c_str() : stored.c_str(), &st);
      layers.push_back({{"mediaType", gzipped(fs::exists(path) ? path : stored) ? "application/vnd.oci.image.layer.v1.tar+gzip"
                                                                                : "application/vnd.oci.image.layer.v1.tar"},
                        {"digest", digest},
                        {"size", static_cast<int64_t>(st.st_size)}});
      if (!store.has_blob(digest)) {
        // Moved, not copied (the archive was unpacked on the store's file system).
        BERTH_TRY(store.adopt_blob(path, digest));
        made_blobs.push_back(digest);
      }
      std::string diff_id = diff_ids[i].get<std::string>();
      std::string c = ImageStore::chain_of(parent, diff_id);
      chain.push_back({digest, diff_id, parent, c});
      image.layers.push_back({digest, diff_id});
      parent = c;
    }
    BERTH_ASSIGN(auto unpacked, store.unpack_missing(chain));
    made_chains.insert(made_chains.end(), unpacked.begin(), unpacked.end());
    std::string manifest_text = f.manifest_text;
    if (manifest_text.empty()) {
      json m = {{"schemaVersion", 2},
                {"mediaType", registry::kOciManifest},
                {"config", {{"mediaType", "application/vnd.oci.image.config.v1+json"}, {"digest", config_digest}, {"size", config_text.size()}}},
                {"layers", layers}};
      manifest_text = m.dump();
    }
    BERTH_ASSIGN(image.manifest_digest, store.put_blob(manifest_text));
    image.tags = f.tags;
    BERTH_TRY(store.record(image));
    if (f.tags.empty()) lines.push_back("Loaded image ID: " + config_digest);
    for (const auto& t : f.tags) lines.push_back("Loaded image: " + familiar_of(t));
  }
  undo.dismiss();
  return lines;
}

}  // namespace berth::images
