#pragma once

// Performing the mounts that storage drivers describe. Drivers return descriptors; the
// runtime calls these inside the namespace where the mount belongs.

#include <string>
#include <vector>

#include "berth/sdk/result.hpp"
#include "berth/sdk/storage_driver.hpp"

namespace berth::sdk {

// Mounts every descriptor onto root/<mount.target>, in order.
Status apply_mounts(const std::vector<Mount>& mounts, const std::string& root);
// True if `path` is a mount point (its device differs from its parent's, or it is in
// /proc/self/mountinfo).
bool is_mount_point(const std::string& path);

// One line of /proc/self/mountinfo; `point` unescaped (mountinfo writes a space as \040).
struct MountEntry {
  int id = 0;
  int parent = 0;
  std::string point;
  std::vector<std::string> tags;  // the optional fields: "shared:3", "master:1", ...
  bool shared() const;
  bool slave() const;
};
// The calling process's mount table, in mount order.
Result<std::vector<MountEntry>> mount_table();
// The mount that holds `path` (the entry with the longest mount point that is `path` or a
// parent of it; the last such, as the top of a stack is what is seen). `path` should be
// absolute and free of symlinks.
Result<MountEntry> mount_holding(const std::string& path);

}  // namespace berth::sdk
