#include "runtime/cgroups.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "berth/sdk/fs.hpp"
#include "util/util.hpp"

namespace berth::runtime {

namespace fs = sdk::fs;

std::vector<Hierarchy> discover_hierarchies() {
  // /proc/self/cgroup: "ID:CONTROLLERS:PATH"; v2 is "0::PATH".
  std::map<std::string, std::string> v1_paths;  // each controller -> path
  std::string v2_path;
  bool has_v2_line = false;
  {
    std::ifstream in("/proc/self/cgroup");
    std::string line;
    while (std::getline(in, line)) {
      auto a = line.find(':');
      auto b = line.find(':', a + 1);
      if (a == std::string::npos || b == std::string::npos) continue;
      std::string ctrls = line.substr(a + 1, b - a - 1);
      std::string path = line.substr(b + 1);
      if (ctrls.empty()) {
        v2_path = path;
        has_v2_line = true;
      } else {
        for (const auto& c : util::split(ctrls, ',')) v1_paths[c] = path;
      }
    }
  }
  std::vector<Hierarchy> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    auto sep = line.find(" - ");
    if (sep == std::string::npos) continue;
    std::istringstream pre(line.substr(0, sep));
    std::string id, parent, devno, root, mount_point;
    pre >> id >> parent >> devno >> root >> mount_point;
    std::istringstream post(line.substr(sep + 3));
    std::string fstype, source, super_opts;
    post >> fstype >> source >> super_opts;
    auto relative = [&](const std::string& own) {
      if (root == "/" || root.empty()) return own;
      return util::starts_with(own, root) ? own.substr(root.size()) : own;
    };
    if (fstype == "cgroup2") {
      if (!has_v2_line) continue;
      Hierarchy h;
      h.mount_point = mount_point;
      h.own_path = relative(v2_path);
      h.v2 = true;
      if (auto c = fs::read_file(mount_point + "/cgroup.controllers"); c) {
        for (const auto& ctl : util::split(util::trim(*c), ' ')) {
          if (!ctl.empty()) h.controllers.push_back(ctl);
        }
      }
      out.push_back(h);
    } else if (fstype == "cgroup") {
      Hierarchy h;
      h.mount_point = mount_point;
      for (const auto& o : util::split(super_opts, ',')) {
        if (v1_paths.count(o) != 0) {
          h.controllers.push_back(o);
          h.own_path = relative(v1_paths[o]);
        }
      }
      if (!h.controllers.empty()) out.push_back(h);
    }
  }
  return out;
}

std::string describe_layout(const std::vector<Hierarchy>& hs) {
  bool v1 = false, v2 = false;
  for (const auto& h : hs) (h.v2 ? v2 : v1) = true;
  if (v1 && v2) return "cgroupfs hybrid (v1 controllers, v2 mount)";
  if (v2) return "cgroupfs v2";
  if (v1) return "cgroupfs v1";
  return "none";
}

namespace {

bool is_cpuset(const std::string& dir, const std::vector<std::string>& ctrls) {
  (void)dir;
  for (const auto& c : ctrls) {
    if (c == "cpuset") return true;
  }
  return false;
}

// A new v1 cpuset group starts with empty cpus/mems; copy the parent's so tasks may join.
void inherit_cpuset(const std::string& dir) {
  std::string parent = dir.substr(0, dir.rfind('/'));
  for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
    auto cur = fs::read_file(dir + "/" + f);
    if (cur && !util::trim(*cur).empty()) continue;
    if (auto v = fs::read_file(parent + "/" + f); v) {
      int fd = ::open((dir + "/" + f).c_str(), O_WRONLY | O_CLOEXEC);
      if (fd >= 0) {
        (void)util::write_all(fd, *v);
        ::close(fd);
      }
    }
  }
}

}  // namespace

std::vector<std::string> cgroup_dirs_for(const std::string& container_id) {
  std::vector<std::string> dirs;
  for (const auto& h : discover_hierarchies()) {
    dirs.push_back(h.mount_point + (h.own_path == "/" ? "" : h.own_path) + "/berth/" + container_id);
  }
  return dirs;
}

Result<std::vector<std::string>> create_cgroups(const std::string& container_id) {
  std::vector<std::string> made;
  for (const auto& h : discover_hierarchies()) {
    std::string base = h.mount_point + (h.own_path == "/" ? "" : h.own_path) + "/berth";
    std::string dir = base + "/" + container_id;
    Status s = fs::make_dirs(dir, 0755);
    if (!s) {
      (void)destroy_cgroups(made);
      return std::move(s).error().wrap("create cgroup");
    }
    if (!h.v2 && is_cpuset(dir, h.controllers)) {
      inherit_cpuset(base);
      inherit_cpuset(dir);
    }
    made.push_back(dir);
  }
  return made;
}

Status enter_cgroups(const std::vector<std::string>& dirs, pid_t pid) {
  std::string p = std::to_string(pid);
  for (const auto& d : dirs) {
    std::string f = d + "/cgroup.procs";
    int fd = ::open(f.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return sys_error("open '" + f + "'");
    bool ok = util::write_all(fd, p);
    int e = errno;
    ::close(fd);
    if (!ok) return sys_error("add pid " + p + " to '" + f + "'", e);
  }
  return {};
}

Status destroy_cgroups(const std::vector<std::string>& dirs) {
  Status result;
  for (const auto& d : dirs) {
    bool gone = false;
    for (int attempt = 0; attempt < 200 && !gone; ++attempt) {
      if (::rmdir(d.c_str()) == 0 || errno == ENOENT) {
        gone = true;
        break;
      }
      if (errno != EBUSY) break;
      struct timespec ts {0, 5 * 1000 * 1000};
      ::nanosleep(&ts, nullptr);
    }
    if (!gone && result) result = sys_error("remove cgroup '" + d + "'");
  }
  return result;
}

}  // namespace berth::runtime
