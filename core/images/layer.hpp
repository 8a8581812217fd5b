#pragma once

// Layer tarballs: normalising an input archive into a layer blob, and applying a layer
// blob to a snapshot.

#include <cstdint>
#include <string>
#include <vector>

#include "berth/sdk/result.hpp"
#include "berth/sdk/storage_driver.hpp"

namespace berth::images {

struct NormalizedLayer {
  std::string diff_id;  // sha256:<hex> of the uncompressed tar written
  int64_t size = 0;     // bytes of file content
};

// Reads a tar archive from `in_fd` (plain, gzip, bzip2, xz or zstd) and writes it as an
// uncompressed POSIX tar to `out_path`. Entry names lose leading "/" and "./"; an entry
// whose name or hard-link target climbs out with ".." is refused, naming it. A corrupt or
// non-tar input is an error. On error `out_path` is removed.
Result<NormalizedLayer> normalize_layer(int in_fd, const std::string& out_path);

// How a layer's OCI whiteouts (.wh.NAME, .wh..wh..opq) are written.
enum class Whiteouts {
  // Into a mounted snapshot that holds the layers below: delete what they have.
  Apply,
  // Into a storage driver's changes directory, alone (StorageDriver::changes_dir): as
  // overlayfs marks them, a 0/0 character device and the trusted.overlay.opaque xattr.
  Overlay,
};

// Where a layer goes: a changes directory written directly (`mounts` empty, `dir` is it),
// or a snapshot's `mounts`, applied on the empty directory `dir` in a private mount
// namespace.
struct LayerTarget {
  std::vector<sdk::Mount> mounts;
  std::string dir;
  Whiteouts whiteouts = Whiteouts::Apply;
};

// What unpack_layer_blob() answers (as its error's message, Code::Unsupported) for a layer
// that cannot be written alone (Whiteouts::Overlay): one that does not list a directory it
// puts something in, or hard-links a file of a lower layer. It must then be unpacked on a
// mounted snapshot of the layers below.
inline constexpr const char* kNeedsLowerLayers = "the layer needs the layers below it to be unpacked";

// Extracts a layer blob (gzip, zstd, xz or plain tar; gzip through ISA-L when the library
// is there) into `target` and returns the sha256 of its uncompressed tar (the diff id) for
// the caller to check against the image config. The work happens in one child process,
// chrooted into the layer (in its own mount namespace when mounts are applied), with
// libarchive's secure-extraction checks on: nothing lands outside, no mount outlives the
// child, and the blob is read once. A ".." entry is refused; xattrs named
// trusted.overlay.* are dropped (overlay would obey them). Safe to call from several
// threads at once, while other threads run.
Result<std::string> unpack_layer_blob(const std::string& blob_path, const LayerTarget& target);

}  // namespace berth::images
