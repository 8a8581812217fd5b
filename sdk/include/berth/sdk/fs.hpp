#pragma once

// File helpers every driver would otherwise rewrite. All return errors naming the path.

#include <string>
#include <vector>

#include "berth/sdk/result.hpp"

namespace berth::sdk::fs {

// mkdir -p with `mode` for the directories it creates.
Status make_dirs(const std::string& path, unsigned mode = 0755);
Result<std::string> read_file(const std::string& path);
// Whether a write must survive a power loss (fsync before the rename), or only be atomic.
enum class Durability { Synced, Atomic };
// Writes to a temporary file beside `path`, (fsyncs,) renames: readers see the old or the
// new content, never a part. Atomic is enough for what a crash may lose anyway (a
// container's scratch files); fsync costs milliseconds on some hosts.
Status write_file_atomic(const std::string& path, const std::string& content, unsigned mode = 0644,
                         Durability durability = Durability::Synced);
// rm -rf that never crosses into another mount (a mount point found inside is an error).
// A missing path is not an error.
Status remove_tree(const std::string& path);
bool exists(const std::string& path);
// Deleting a tree costs a few hundred microseconds per directory on some file systems
// (ext4 here), so removals that someone waits for move the tree into a trash directory
// (one rename, on the same file system) and empty_trash() deletes it later.
// move_to_trash: `path` becomes `trash_dir`/<name>.<unique>; a missing path is no error.
Status move_to_trash(const std::string& path, const std::string& trash_dir, const std::string& name);
// Deletes every entry of `trash_dir`. Several processes may empty one trash at once: each
// claims entries by renaming them, and reclaims those of a claimant that died.
Status empty_trash(const std::string& trash_dir);
// The names in a directory, without "." and ".."; empty if it cannot be read.
std::vector<std::string> list_dir(const std::string& path);
// Bytes (the sizes of files and symlinks, directories not counted, as Docker's
// directory.Size) and inodes below `path`, counting hard links once, not crossing mounts.
Status disk_usage(const std::string& path, int64_t* bytes, int64_t* inodes);
// The file system type of `path` as statfs reports it ("ext4", "xfs", "tmpfs", ...).
std::string fs_type_name(const std::string& path);

// An advisory lock on a file (flock), held until destroyed. `path` is made if missing; a
// directory can be locked too.
class FileLock {
 public:
  static Result<FileLock> exclusive(const std::string& path);
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace berth::sdk::fs
