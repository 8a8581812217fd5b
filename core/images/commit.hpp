#pragma once

// `commit`: a container's changes become a new layer on its image, and a new image.

#include <string>
#include <vector>

#include "berth/sdk/result.hpp"
#include "images/diff.hpp"

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

// The container's changes against its image (for `diff`).
Result<std::vector<Change>> container_changes(Engine& e, const containers::Container& c);
// Returns the new image's id.
Result<std::string> commit(Engine& e, const containers::Container& c, const CommitOptions& opts);

}  // namespace berth::images
