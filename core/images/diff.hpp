#pragma once

// What a container changed in its root file system, computed by the core from the mount
// descriptors its storage driver returns, without mounting anything (so it works on
// running and stopped containers alike):
//   - overlay (lowerdir=..., upperdir=...): the upper directory is the change set; a
//     0/0 character device is a deletion, an opaque directory hides what was below;
//   - a bind of a directory over a parent (drivers that copy, like the vfs example):
//     the two trees are walked side by side.

#include <sys/stat.h>

#include <map>
#include <string>
#include <vector>

#include "berth/sdk/result.hpp"
#include "berth/sdk/storage_driver.hpp"
#include "images/layer.hpp"
#include "util/lazy_libs.hpp"

namespace berth::images {

struct Change {
  char kind;         // 'A' added, 'C' changed, 'D' deleted
  std::string path;  // "/etc/hosts"
};

// `mounts`: the snapshot's; `parent_mounts`: its parent's view (only needed for binds).
// Sorted by path; a directory with changes inside is itself 'C', as Docker reports it.
Result<std::vector<Change>> changes(const std::vector<sdk::Mount>& mounts, const std::vector<sdk::Mount>& parent_mounts);

// The same changes as an OCI layer (uncompressed tar, deletions as .wh. whiteouts, opaque
// directories as .wh..wh..opq) written to `out_path`.
Result<NormalizedLayer> write_changes(const std::vector<sdk::Mount>& mounts, const std::vector<sdk::Mount>& parent_mounts,
                                      const std::string& out_path);

// One file system object as a tar entry named `name` (directories get a trailing /), its
// content read from `path`; a second name of a hard-linked file becomes a link entry.
// Returns the bytes of content written.
using HardLinks = std::map<std::pair<dev_t, ino_t>, std::string>;
Result<int64_t> tar_add(const util::ArchiveApi* la, archive* a, const std::string& name, const std::string& path,
                        const struct stat& st, HardLinks* seen);

}  // namespace berth::images
