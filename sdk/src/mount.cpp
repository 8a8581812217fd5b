#include "berth/sdk/mount.hpp"

#include <sys/mount.h>
#include <sys/stat.h>

#include <cstring>

namespace berth::sdk {

const char* snapshot_kind_name(SnapshotKind kind) {
  switch (kind) {
    case SnapshotKind::View: return "view";
    case SnapshotKind::Active: return "active";
    case SnapshotKind::Committed: return "committed";
  }
  return "unknown";
}

Status apply_mounts(const std::vector<Mount>& mounts, const std::string& root) {
  for (const Mount& m : mounts) {
    std::string target = m.target.empty() ? root : root + "/" + m.target;
    if (m.type == "bind") {
      bool ro = false;
      for (const auto& o : m.options) {
        ro = ro || o == "ro";
      }
      if (::mount(m.source.c_str(), target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
        return sys_error("bind mount '" + m.source + "' on '" + target + "'");
      }
      if (ro && ::mount(nullptr, target.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY,
                        nullptr) != 0) {
        return sys_error("remount '" + target + "' read-only");
      }
      continue;
    }
    std::string data;
    unsigned long flags = 0;
    for (const auto& o : m.options) {
      if (o == "ro") {
        flags |= MS_RDONLY;
        continue;
      }
      data += data.empty() ? o : "," + o;
    }
    if (::mount(m.source.c_str(), target.c_str(), m.type.c_str(), flags, data.c_str()) != 0) {
      return sys_error("mount " + m.type + " on '" + target + "'");
    }
  }
  return {};
}

bool is_mount_point(const std::string& path) {
  struct stat a {}, b {};
  if (::lstat(path.c_str(), &a) != 0) {
    return false;
  }
  std::string parent = path + "/..";
  if (::stat(parent.c_str(), &b) != 0) {
    return false;
  }
  return a.st_dev != b.st_dev || a.st_ino == b.st_ino;
}

}  // namespace berth::sdk
