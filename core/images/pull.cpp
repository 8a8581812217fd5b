#include "images/pull.hpp"

#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "berth/sdk/fs.hpp"
#include "engine.hpp"
#include "images/reference.hpp"
#include "registry/client.hpp"
#include "util/util.hpp"

namespace berth::images {

using nlohmann::json;
namespace fs = sdk::fs;

namespace {

// Layers downloaded at once, as Docker's max-concurrent-downloads default.
constexpr size_t kParallel = 3;
// Layers unpacked at once (at most one per core): each is a process writing files.
constexpr size_t kMaxUnpackers = 4;

std::string short_digest(const std::string& d) { return d.substr(d.find(':') + 1, 12); }

// Docker's progress: a line per layer; on a terminal each line is redrawn in place with a
// bar, elsewhere every change of status is a line of its own (bytes are not shown).
class Progress {
 public:
  Progress(std::FILE* out, bool tty, bool quiet) : out_(out), tty_(tty), quiet_(quiet) {}

  void line(const std::string& text) {
    std::lock_guard<std::mutex> l(mu_);
    if (quiet_) return;
    std::fprintf(out_, "%s\n", text.c_str());
    std::fflush(out_);
  }
  // Layer `id` now shows `status` (and a bar when total > 0).
  void set(const std::string& id, const std::string& status, int64_t done = 0, int64_t total = 0) {
    std::lock_guard<std::mutex> l(mu_);
    if (quiet_) return;
    auto it = std::find(order_.begin(), order_.end(), id);
    if (it == order_.end()) {
      order_.push_back(id);
      it = order_.end() - 1;
      if (tty_) std::fprintf(out_, "\n");
    }
    std::string text = id + ": " + status;
    if (!tty_ && (total > 0 || status == "Downloading" || status == "Extracting" || status == "Pushing")) {
      return;  // Docker shows progress only on a terminal
    }
    if (!tty_) {
      if (last_[id] == status) return;  // bytes moved: not a new line without a terminal
      last_[id] = status;
      std::fprintf(out_, "%s\n", text.c_str());
      std::fflush(out_);
      return;
    }
    if (total > 0) text += " " + bar(done, total);
    size_t up = static_cast<size_t>(order_.end() - it);
    std::fprintf(out_, "\x1b[%zuA\r\x1b[2K%s\r\x1b[%zuB", up, text.c_str(), up);
    std::fflush(out_);
  }

 private:
  static std::string bar(int64_t done, int64_t total) {
    // [=====>      ]  1.2MB/3.4MB, 50 wide, as Docker's jsonmessage.
    int width = 50;
    int filled = static_cast<int>(width * std::min<int64_t>(done, total) / total);
    std::string b = "[" + std::string(static_cast<size_t>(std::max(0, filled - (filled < width ? 0 : 1))), '=');
    b += filled < width ? ">" : ">";
    b += std::string(static_cast<size_t>(width - static_cast<int>(b.size()) + 1), ' ') + "]";
    return b + "  " + util::human_size(done) + "/" + util::human_size(total);
  }

  std::mutex mu_;
  std::FILE* out_;
  bool tty_, quiet_;
  std::vector<std::string> order_;
  std::map<std::string, std::string> last_;
};

bool platform_matches(const json& p, const std::string& want) {
  auto parts = util::split(want, '/');
  if (parts.size() < 2) return false;
  if (p.value("os", "") != parts[0] || p.value("architecture", "") != parts[1]) return false;
  if (parts.size() > 2 && p.value("variant", "") != parts[2]) return false;
  return true;
}

struct LayerJob {
  std::string digest;
  int64_t size = 0;
  std::string diff_id;
  std::string chain, parent_chain;
  bool present = false;  // its snapshot exists: nothing to fetch
  // Set by the download thread, under the mutex.
  bool downloaded = false;
  bool adopted = false;   // stored by this pull
  // Set by an unpacking thread (layers unpacked apart from their parents), under the mutex.
  bool claimed = false;
  bool extracted = false;
  bool needs_lower = false;  // could not be unpacked alone: unpacked on its parent instead
  std::string key;        // its detached snapshot, until committed
  bool unpacked = false;  // unpacked (committed) by this pull
  std::optional<Error> error;
};

}  // namespace

std::string host_platform() {
  struct utsname u {};
  ::uname(&u);
  std::string m = u.machine;
  if (m == "x86_64") return "linux/amd64";
  if (m == "aarch64") return "linux/arm64";
  if (m == "armv7l") return "linux/arm/v7";
  if (m == "i686" || m == "i386") return "linux/386";
  return "linux/" + m;
}

Result<std::string> pull(Engine& e, const std::string& name, const TransferOptions& opts) {
  BERTH_ASSIGN(Reference ref, parse_reference(name));
  const std::string platform = opts.platform.empty() ? host_platform() : opts.platform;
  Progress progress(opts.out, opts.tty, opts.quiet);
  bool by_digest = !ref.digest.empty();
  if (!by_digest && name.find(':', name.rfind('/') == std::string::npos ? 0 : name.rfind('/')) == std::string::npos) {
    progress.line("Using default tag: latest");
  }
  BERTH_ASSIGN(auto client, registry::Client::connect(e.config(), ref.domain, ref.path, false));
  std::string wanted = by_digest ? ref.digest : ref.tag;
  BERTH_ASSIGN(registry::Manifest top, client->get_manifest(wanted));
  progress.line(wanted + ": Pulling from " + ref.path);

  ImageStore& store = e.images();
  registry::Manifest m = top;
  if (m.media_type == registry::kOciIndex || m.media_type == registry::kDockerManifestList) {
    json index = json::parse(m.body, nullptr, false);
    std::string chosen;
    for (const auto& d : index.value("manifests", json::array())) {
      if (d.contains("platform") && platform_matches(d["platform"], platform)) {
        chosen = d.value("digest", "");
        break;
      }
    }
    if (chosen.empty()) {
      return make_error(Code::NotFound, "no matching manifest for " + platform + " in the manifest list entries");
    }
    BERTH_ASSIGN(m, client->get_manifest(chosen, {registry::kDockerManifest, registry::kOciManifest}));
  }
  json manifest = json::parse(m.body, nullptr, false);
  if (!manifest.is_object() || !manifest.contains("config") || !manifest.contains("layers")) {
    return make_error(Code::InvalidArgument, "manifest " + m.digest + " of " + ref.familiar() + " is not an image manifest (" + m.media_type + ")");
  }
  std::string config_digest = manifest["config"].value("digest", "");
  if (!ImageStore::valid_digest(config_digest)) {
    return make_error(Code::InvalidArgument, "config digest '" + config_digest + "' is not sha256:<64 hex>");
  }
  std::string config_text;
  if (store.has_blob(config_digest)) {
    BERTH_ASSIGN(config_text, fs::read_file(store.blob_path(config_digest)));
  } else {
    BERTH_ASSIGN(config_text, client->fetch_small_blob(config_digest));
  }
  json config = json::parse(config_text, nullptr, false);
  if (!config.is_object()) return make_error(Code::InvalidArgument, "image config " + config_digest + " is not JSON");
  auto diff_ids = config.value("rootfs", json::object()).value("diff_ids", json::array());
  const json& layers = manifest["layers"];
  bool strings = diff_ids.is_array() && std::all_of(diff_ids.begin(), diff_ids.end(), [](const json& d) {
    return d.is_string() && ImageStore::valid_digest(d.get<std::string>());
  });
  if (!strings || diff_ids.size() != layers.size()) {
    return make_error(Code::InvalidArgument, "image " + config_digest + ": " + std::to_string(layers.size()) +
                                                 " layers in the manifest but " + std::to_string(diff_ids.size()) +
                                                 " diff ids in the config");
  }

  // Up to date: the tag already names this very image.
  std::string repo_digest = ref.domain + "/" + ref.path + "@" + top.digest;
  if (auto have = store.resolve(by_digest ? repo_digest : ref.full()); have && have->id == config_digest) {
    progress.line("Digest: " + top.digest);
    progress.line("Status: Image is up to date for " + (by_digest ? ref.familiar_name() + "@" + ref.digest : ref.familiar()));
    std::fprintf(opts.out, "%s\n", by_digest ? repo_digest.c_str() : ref.full().c_str());
    return config_digest;
  }

  std::vector<LayerJob> jobs(layers.size());
  std::string parent;
  for (size_t i = 0; i < layers.size(); ++i) {
    LayerJob& j = jobs[i];
    j.digest = layers[i].value("digest", "");
    j.size = layers[i].value("size", int64_t{0});
    j.diff_id = diff_ids[i].get<std::string>();
    j.parent_chain = parent;
    j.chain = ImageStore::chain_of(parent, j.diff_id);
    parent = j.chain;
    j.present = store.has_layer(j.chain);
    j.downloaded = j.present || store.has_blob(j.digest);
    if (!ImageStore::valid_digest(j.digest)) {
      return make_error(Code::InvalidArgument, "layer digest '" + j.digest + "' is not sha256:<64 hex>");
    }
    progress.set(short_digest(j.digest), j.present ? "Already exists" : "Pulling fs layer");
  }

  // Downloads run in threads, each with its own connection. Where the storage driver can
  // commit a layer onto its parent afterwards, unpacking threads (one per core) unpack each
  // layer as soon as it is downloaded, into a snapshot of its own, and this thread commits
  // them in order; otherwise this thread unpacks them one after another, each onto the one
  // below.
  store.reap_temporary();
  const bool detached = store.can_unpack_detached();
  std::mutex mu;
  std::condition_variable cv;
  size_t next = 0;
  bool stop = false;
  auto worker = [&](std::unique_ptr<registry::Client> c) {
    for (;;) {
      size_t i;
      {
        std::lock_guard<std::mutex> l(mu);
        while (next < jobs.size() && jobs[next].downloaded) ++next;
        if (next >= jobs.size() || stop) return;
        i = next++;
      }
      LayerJob& j = jobs[i];
      std::string id = short_digest(j.digest);
      std::string partial = store.ingest_path(j.digest);
      Status s = c->fetch_blob(j.digest, partial, [&](int64_t done) { progress.set(id, "Downloading", done, j.size); });
      if (s) {
        progress.set(id, "Verifying Checksum");
        s = store.adopt_blob(partial, j.digest);
      }
      if (s) progress.set(id, "Download complete");
      std::lock_guard<std::mutex> l(mu);
      j.adopted = static_cast<bool>(s);
      if (!s) {
        j.error = std::move(s).error();
        stop = true;
      }
      j.downloaded = true;
      cv.notify_all();
    }
  };
  auto unpacker = [&] {
    for (;;) {
      LayerJob* j = nullptr;
      {
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [&] {
          if (stop) return true;
          bool waiting = false;
          for (auto& o : jobs) {
            if (o.present || o.claimed) continue;
            if (o.downloaded) {
              j = &o;
              return true;
            }
            waiting = true;
          }
          return !waiting;
        });
        if (j == nullptr) return;
        j->claimed = true;
      }
      progress.set(short_digest(j->digest), "Extracting");
      auto key = store.unpack_detached(j->digest, j->diff_id);
      std::lock_guard<std::mutex> l(mu);
      if (key) {
        j->key = *key;
      } else if (key.error().code == Code::Unsupported) {
        j->needs_lower = true;
      } else {
        j->error = std::move(key).error();
        stop = true;
      }
      j->extracted = true;
      cv.notify_all();
    }
  };
  std::vector<std::thread> threads;
  size_t missing = 0, to_unpack = 0;
  for (const auto& j : jobs) {
    missing += j.downloaded ? 0 : 1;
    to_unpack += j.present ? 0 : 1;
  }
  // Every connection is made before any thread starts: an error here returns with no
  // thread to join.
  std::vector<std::unique_ptr<registry::Client>> clients;
  for (size_t t = 0; t < std::min(kParallel, missing); ++t) {
    BERTH_ASSIGN(auto c, client->clone());
    clients.push_back(std::move(c));
  }
  for (auto& c : clients) threads.emplace_back(worker, std::move(c));
  if (detached) {
    size_t cores = std::max(1u, std::thread::hardware_concurrency());
    for (size_t t = 0; t < std::min({cores, to_unpack, kMaxUnpackers}); ++t) threads.emplace_back(unpacker);
  }
  std::optional<Error> failure;
  for (auto& j : jobs) {
    {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return j.present || (detached ? j.extracted : j.downloaded) || stop; });
      if (j.error) failure = *j.error;
      if (stop && !failure) {
        for (auto& o : jobs) {
          if (o.error) failure = *o.error;
        }
      }
      if (failure) break;
    }
    if (j.present) continue;
    std::string id = short_digest(j.digest);
    Status s;
    bool alone;
    {
      std::lock_guard<std::mutex> l(mu);
      alone = detached && !j.needs_lower;
    }
    if (alone) {
      std::string key;
      {
        std::lock_guard<std::mutex> l(mu);
        key = std::exchange(j.key, "");
      }
      s = store.commit_detached(key, j.parent_chain, j.chain);
    } else {
      progress.set(id, "Extracting");
      s = store.unpack_layer(j.parent_chain, j.chain, j.digest, j.diff_id);
    }
    if (!s) {
      std::lock_guard<std::mutex> l(mu);
      stop = true;
      failure = std::move(s).error();
      cv.notify_all();
      break;
    }
    j.unpacked = true;
    progress.set(id, "Pull complete");
  }
  {
    std::lock_guard<std::mutex> l(mu);
    stop = true;
    cv.notify_all();
  }
  for (auto& t : threads) t.join();
  for (auto& j : jobs) {
    if (!j.key.empty()) store.drop_detached(j.key);  // unpacked, never committed
  }
  if (failure) {
    // No partial image: what this pull stored goes again (an interrupted download's
    // partial file stays in ingest/, to be resumed).
    std::vector<std::string> chains, blobs;
    for (const auto& j : jobs) {
      if (j.unpacked) chains.push_back(j.chain);
      if (j.adopted) blobs.push_back(j.digest);
    }
    store.forget_unused(chains, blobs);
    return *failure;
  }

  // The index (if any), config and manifest are stored last, so a failure before this
  // point leaves none of them.
  std::vector<std::string> chains, blobs;
  for (const auto& j : jobs) {
    if (j.unpacked) chains.push_back(j.chain);
    if (j.adopted) blobs.push_back(j.digest);
  }
  if (top.digest != m.digest) BERTH_TRY(store.put_blob(top.body).status());
  BERTH_TRY(store.put_blob(config_text).status());
  // The same image pulled before through another manifest (a Docker one for an OCI one,
  // say): it keeps the manifest it has, so one image never owns two.
  std::string manifest_digest = m.digest;
  if (auto existing = store.resolve(config_digest); existing) {
    manifest_digest = existing->manifest_digest;
  } else {
    BERTH_TRY(store.put_blob(m.body).status());
  }
  NewImage image;
  image.config_digest = config_digest;
  image.manifest_digest = manifest_digest;
  image.created_ns = util::now_ns();
  if (auto c = util::parse_time_point(config.value("created", ""), 0); c) image.created_ns = *c;
  for (const auto& j : jobs) image.layers.push_back({j.digest, j.diff_id});
  if (!by_digest) image.tags.push_back(ref.full());
  image.repo_digest = repo_digest;
  if (Status s = store.record(image); !s) {
    store.forget_unused(chains, blobs);
    return std::move(s).error();
  }
  progress.line("Digest: " + top.digest);
  progress.line("Status: Downloaded newer image for " + (by_digest ? ref.familiar_name() + "@" + ref.digest : ref.familiar()));
  std::fprintf(opts.out, "%s\n", by_digest ? repo_digest.c_str() : ref.full().c_str());
  std::fflush(opts.out);
  return config_digest;
}

Result<std::string> push(Engine& e, const std::string& name, const TransferOptions& opts) {
  BERTH_ASSIGN(Reference ref, parse_reference(name));
  if (!ref.digest.empty()) return make_error(Code::InvalidArgument, "cannot push a digest reference");
  ImageStore& store = e.images();
  auto img = store.resolve(ref.full());
  if (!img) return make_error(Code::NotFound, "An image does not exist locally with the tag: " + ref.familiar_name());
  BERTH_ASSIGN(json manifest, store.manifest(*img));
  BERTH_ASSIGN(std::string manifest_text, fs::read_file(store.blob_path(img->manifest_digest)));
  Progress progress(opts.out, opts.tty, opts.quiet);
  progress.line("The push refers to repository [" + ref.domain + "/" + ref.path + "]");
  BERTH_ASSIGN(auto client, registry::Client::connect(e.config(), ref.domain, ref.path, true));
  std::vector<json> blobs;
  for (const auto& l : manifest["layers"]) blobs.push_back(l);
  blobs.push_back(manifest["config"]);
  // Docker lists layers top first.
  for (auto it = blobs.rbegin() + 1; it != blobs.rend(); ++it) progress.set(short_digest((*it)["digest"]), "Preparing");
  for (size_t i = 0; i < blobs.size(); ++i) {
    std::string digest = blobs[i].value("digest", "");
    bool is_config = i + 1 == blobs.size();
    std::string id = short_digest(digest);
    BERTH_ASSIGN(bool exists, client->has_blob(digest));
    if (exists) {
      if (!is_config) progress.set(id, "Layer already exists");
      continue;
    }
    std::string path = store.blob_path(digest);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return sys_error("blob " + digest + " of " + ref.familiar() + " is missing");
    if (!is_config) progress.set(id, "Pushing", 0, st.st_size);
    BERTH_TRY(client->push_blob(digest, path, st.st_size, [&](int64_t done) {
      if (!is_config) progress.set(id, "Pushing", done, st.st_size);
    }));
    if (!is_config) progress.set(id, "Pushed");
  }
  std::string media = manifest.value("mediaType", registry::kOciManifest);
  BERTH_ASSIGN(std::string digest, client->put_manifest(ref.tag, media, manifest_text));
  progress.line(ref.tag + ": digest: " + digest + " size: " + std::to_string(manifest_text.size()));
  return digest;
}

}  // namespace berth::images
