#pragma once

// Layer tarballs: normalising an input archive into a layer blob, and applying a layer
// blob to a snapshot.

#include <cstdint>
#include <string>
#include <vector>

#include "berth/sdk/result.hpp"
#include "berth/sdk/storage_driver.hpp"

namespace berth::images {

// For a forked helper: a private mount namespace of its own with `mounts` applied at
// `dir` (they vanish with the process; nothing reaches the host). "" or why not.
std::string mount_privately(const std::vector<sdk::Mount>& mounts, const std::string& dir);

struct NormalizedLayer {
  std::string diff_id;  // sha256:<hex> of the uncompressed tar written
  int64_t size = 0;     // bytes of file content
};

// Reads a tar archive from `in_fd` (plain, gzip, bzip2, xz or zstd) and writes it as an
// uncompressed POSIX tar to `out_path`. Entry names lose leading "/" and "./"; an entry
// whose name or hard-link target climbs out with ".." is refused, naming it. A corrupt or
// non-tar input is an error. On error `out_path` is removed.
Result<NormalizedLayer> normalize_layer(int in_fd, const std::string& out_path);

// Extracts the layer blob at `tar_path` into the snapshot described by `mounts`.
// The work happens in a child process with its own mount namespace, chrooted into the
// snapshot, with libarchive's secure-extraction checks on: nothing lands outside, and no
// mount outlives the child. OCI whiteouts (.wh.NAME, .wh..wh..opq) delete what lower layers
// had. `scratch_dir` is an empty directory to mount on.
Status apply_layer(const std::string& tar_path, const std::vector<sdk::Mount>& mounts,
                   const std::string& scratch_dir);

// The same for a layer blob as registries serve it (gzip, zstd, xz or plain tar): returns
// the sha256 of the uncompressed tar (its diff id), for the caller to check against the
// image config. Decompression runs in this process, extraction in the child.
Result<std::string> apply_compressed_layer(const std::string& blob_path, const std::vector<sdk::Mount>& mounts,
                                           const std::string& scratch_dir);

}  // namespace berth::images
