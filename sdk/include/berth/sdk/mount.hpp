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

}  // namespace berth::sdk
