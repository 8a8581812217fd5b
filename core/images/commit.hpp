#pragma once

// `commit`: a container's changes become a new layer on its image, and a new image.

#include <string>
#include <vector>

#include "berth/sdk/result.hpp"
#include <nlohmann/json.hpp>

#include "images/diff.hpp"
#include "images/image_store.hpp"

namespace berth {
class Engine;
}
namespace berth::containers {
struct Container;
}

namespace berth::images {

struct CommitOptions {
  std::string author;                // -a
  std::string message;               // -m
  std::vector<std::string> changes;  // -c "CMD ...", as import --change
  std::string reference;             // REPOSITORY[:TAG], "" for none
  bool pause = true;                 // -p: freeze a running container meanwhile
};

// How a new image is described, for commit and for the builder's steps.
struct ImageSpec {
  nlohmann::json config;            // the whole image config; rootfs/history are extended
  nlohmann::json history;           // this step's history entry (created is filled in)
  std::vector<std::string> tags;    // full references
  std::string build_key;            // the builder's cache key ("" for none)
};

// A new image: `parent`'s layers plus, when `diff_id` is given, that layer, which must be
// unpacked already as the snapshot on top of the parent's (and stored as a blob).
Result<std::string> make_image(Engine& e, const ImageRecord* parent, ImageSpec spec, const std::string& diff_id = "");
// The changes of an active snapshot `key` (on the parent's top layer) become a layer: written
// as a tar, stored, and the snapshot itself committed as that layer (or dropped if the
// layer exists). Returns the diff id.
Result<std::string> commit_snapshot(Engine& e, const std::string& parent_chain, const std::string& key);
// A container's changes as a layer on its image (unpacked from the tar written).
Result<std::string> commit_container_layer(Engine& e, const containers::Container& c, const ImageRecord& parent);

// The container's changes against its image (for `diff`).
Result<std::vector<Change>> container_changes(Engine& e, const containers::Container& c);
// Returns the new image's id.
Result<std::string> commit(Engine& e, const containers::Container& c, const CommitOptions& opts);

}  // namespace berth::images
