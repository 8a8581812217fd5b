#include "berth/sdk/mount.hpp"

#include <sys/mount.h>
#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <sstream>

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

namespace {

std::string unescape_octal(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3') {
      out += static_cast<char>(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0'));
      i += 3;
      continue;
    }
    out += s[i];
  }
  return out;
}

bool has_tag(const std::vector<std::string>& tags, const char* prefix) {
  for (const auto& t : tags) {
    if (t.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

}  // namespace

bool MountEntry::shared() const { return has_tag(tags, "shared:"); }
bool MountEntry::slave() const { return has_tag(tags, "master:"); }

Result<std::vector<MountEntry>> mount_table() {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return sys_error("open /proc/self/mountinfo");
  std::vector<MountEntry> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    MountEntry m;
    std::string dev, root, point, opts, tag;
    if (!(f >> m.id >> m.parent >> dev >> root >> point >> opts)) continue;
    m.point = unescape_octal(point);
    while (f >> tag && tag != "-") m.tags.push_back(tag);
    out.push_back(std::move(m));
  }
  return out;
}

Result<MountEntry> mount_holding(const std::string& path) {
  BERTH_ASSIGN(auto table, mount_table());
  const MountEntry* best = nullptr;
  for (const auto& m : table) {
    bool holds = m.point == "/" || path == m.point ||
                 (path.size() > m.point.size() && path.compare(0, m.point.size(), m.point) == 0 &&
                  path[m.point.size()] == '/');
    if (holds && (!best || m.point.size() >= best->point.size())) best = &m;
  }
  if (!best) return make_error(Code::NotFound, "no mount holds '" + path + "'");
  return *best;
}

}  // namespace berth::sdk
