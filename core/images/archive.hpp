#pragma once

// `save` and `load`: image archives. A saved archive is both formats at once, as Docker
// 25's: an OCI image layout (oci-layout, index.json, blobs/sha256/...) and Docker's
// manifest.json naming the same blobs. `load` reads either, so archives made by
// `skopeo copy ... docker-archive:` and `oci-archive:` load too.

#include <string>
#include <vector>

#include "berth/sdk/result.hpp"

namespace berth {
class Engine;
}

namespace berth::images {

// Writes the images named to `fd` as a tar stream.
Status save(Engine& e, const std::vector<std::string>& names, int fd);
// Reads an archive from `fd` (plain or compressed tar); returns the lines to print
// ("Loaded image: busybox:latest", or "Loaded image ID: sha256:..." for one without a
// name). Nothing is kept of an archive that fails.
Result<std::vector<std::string>> load(Engine& e, int fd);

}  // namespace berth::images
