#pragma once

// Images as an OCI image layout under <state_root>/images:
//   oci-layout, blobs/sha256/<hex>   content-addressed configs, manifests and layer tars
//   index.json                       every image's manifest, once per tag with the full
//                                    reference as org.opencontainers.image.ref.name
// The tag index and per-image facts live in the state database (tables images,
// image_layers, tags); index.json is rewritten from it in each change of tags or images,
// so OCI tools (skopeo's oci: transport, umoci) read the store as it is. Layers are
// unpacked into committed snapshots of the storage driver, keyed by their chain id, so
// images that share a base share its snapshots.

#include <nlohmann/json.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "berth/sdk/result.hpp"
#include "berth/sdk/storage_driver.hpp"
#include "images/reference.hpp"
#include "state/store.hpp"

namespace berth::images {

struct ImageRecord {
  std::string id;               // sha256:<hex> of the config
  std::string manifest_digest;
  int64_t created_ns = 0;
  int64_t size = 0;
  std::string top_chain_id;     // snapshot key of the top layer
  std::vector<std::string> tags;  // full references
  std::vector<std::string> repo_digests;  // full REPO@sha256:...
  std::string parent;                     // the image it was committed or built from, or ""
};

// An image whose blobs are all in the store, to be recorded (pull, load).
struct NewImage {
  std::string config_digest;
  std::string manifest_digest;
  int64_t created_ns = 0;
  struct Layer {
    std::string blob_digest;  // as stored (compressed or not)
    std::string diff_id;
  };
  std::vector<Layer> layers;
  std::vector<std::string> tags;  // full references to point at it
  std::string repo_digest;        // full REPO@sha256:..., or ""
  std::string parent;             // commit/build: the image it was made from
  std::string build_key;          // build: the step's cache key
};

struct ImportOptions {
  std::vector<std::string> changes;  // --change "CMD [\"sh\"]"
  std::string message;               // -m
  std::string source_name;           // shown in history: the file name or "-"
  std::string reference;             // optional REPOSITORY[:TAG]
};

class ImageStore {
 public:
  ImageStore(state::Store* db, sdk::StorageDriver* storage, std::string root, std::string scratch_root);

  // By reference (busybox, busybox:1), full id (sha256:...), or a unique prefix of the hex.
  Result<ImageRecord> resolve(const std::string& name);
  Result<std::vector<ImageRecord>> list();
  Result<nlohmann::json> config(const ImageRecord& image);
  Result<nlohmann::json> manifest(const ImageRecord& image);
  // The image's layer chain ids, bottom first.
  Result<std::vector<std::string>> chain_ids(const std::string& image_id);

  // Reads a rootfs tarball and makes a one-layer image. Returns its id.
  Result<std::string> import(int fd, const ImportOptions& opts);
  Status tag(const std::string& source, const std::string& target);
  // `rmi`: returns the lines to print ("Untagged: ...", "Deleted: ...").
  // `users` lists containers (short ids) using an image, with a flag for running ones.
  struct User {
    std::string container_id;
    bool running;
  };
  Result<std::vector<std::string>> remove(const std::string& name, bool force,
                                          const std::vector<User>& users);

  // Whether a container uses an image (rmi's walk up a removed image's parents asks).
  void set_in_use(std::function<bool(const std::string& image_id)> f) { in_use_ = std::move(f); }

  // "sha256:" and 64 lowercase hex: what may name a blob (a registry's or an archive's
  // word for a digest is checked with this before it becomes a path).
  static bool valid_digest(const std::string& digest);
  std::string blob_path(const std::string& digest) const;
  // Where a download of a blob collects before it is checked and stored (kept between
  // attempts, so an interrupted pull resumes).
  std::string ingest_path(const std::string& digest);
  bool has_blob(const std::string& digest) const;
  Result<std::string> put_blob(const std::string& content);
  // Moves a checked file into the store as `digest`.
  Status adopt_blob(const std::string& path, const std::string& digest);

  // The snapshot key of a layer on top of `parent_chain` ("" for the bottom one).
  static std::string chain_of(const std::string& parent_chain, const std::string& diff_id);
  bool has_layer(const std::string& chain) const;
  // Unpacks a stored layer blob as the snapshot `chain` over `parent_chain`, checking that
  // its uncompressed content is `diff_id`. Nothing is left on failure.
  Status unpack_layer(const std::string& parent_chain, const std::string& chain, const std::string& blob_digest,
                      const std::string& diff_id);
  // Layers that unpack apart from their parents, several at once: when the storage driver
  // can commit a snapshot onto a parent later (StorageDriver::can_commit_onto), a layer is
  // unpacked into a parentless snapshot (unpack_detached, from any thread) and then
  // committed onto the layer below once that one is there (commit_detached, in order).
  bool can_unpack_detached() const;
  // Returns the key of the active snapshot holding the layer; nothing is left on failure.
  // Code::Unsupported for a layer that needs its parents (images::kNeedsLowerLayers): the
  // caller unpacks that one with unpack_layer() once the layer below is there.
  Result<std::string> unpack_detached(const std::string& blob_digest, const std::string& diff_id);
  // Makes it the snapshot `chain` over `parent_chain`; `key` is gone afterwards either way
  // (also when another process committed the same chain first).
  Status commit_detached(const std::string& key, const std::string& parent_chain, const std::string& chain);
  // Removes a detached snapshot that will not be committed.
  void drop_detached(const std::string& key);
  struct LayerToUnpack {
    std::string blob_digest, diff_id, parent_chain, chain;
  };
  // Unpacks those of `layers` (bottom first, blobs stored) whose snapshot is missing,
  // several at once where the driver allows; returns the chains it made. On failure
  // nothing it made is left.
  Result<std::vector<std::string>> unpack_missing(const std::vector<LayerToUnpack>& layers);
  // Removes temporary snapshots (layers being unpacked) whose process has died.
  void reap_temporary();
  // After a failed pull or load: drops the snapshots and blobs it made that no image uses.
  void forget_unused(const std::vector<std::string>& chains, const std::vector<std::string>& blobs);
  // The image a build step made before from `parent` with the same cache key.
  Result<std::optional<std::string>> cached(const std::string& parent, const std::string& build_key);
  // Records the image (its layers must be unpacked) and points the tags at it.
  Status record(const NewImage& image);

 private:
  Result<ImageRecord> load(const std::string& id);
  Status write_index_in_transaction();
  Status delete_image(const std::string& id, std::vector<std::string>* out);
  Status drop_index_blob(const std::string& repo_digest, const std::string& manifest_digest);

  state::Store* db_;
  sdk::StorageDriver* storage_;
  std::function<bool(const std::string&)> in_use_;
  std::string root_;
  std::string scratch_root_;
};

// Applies one --change instruction (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE) to
// an image config's "config" object.
Status apply_change(const std::string& change, nlohmann::json* config);

// "CMD echo hi" style arguments: JSON array form or shell form (wrapped in /bin/sh -c).
Result<std::vector<std::string>> parse_command_form(const std::string& text);

}  // namespace berth::images
