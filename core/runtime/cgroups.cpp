#include "runtime/cgroups.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
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

bool is_cpuset(const std::vector<std::string>& ctrls) {
  return std::find(ctrls.begin(), ctrls.end(), "cpuset") != ctrls.end();
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

// berth's own v1 cpuset group gets its parent's cpus and mems once, and
// cgroup.clone_children, so that the kernel copies them into each container's group as it
// is made: a write of cpuset.cpus per container would rebuild the scheduler domains.
// False if the flag cannot be set (then each group is filled as the base was).
bool prepare_cpuset_base(const std::string& base) {
  const std::string flag = base + "/cgroup.clone_children";
  if (auto v = fs::read_file(flag); v && util::trim(*v) == "1") return true;
  inherit_cpuset(base);
  int fd = ::open(flag.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = util::write_all(fd, "1");
  ::close(fd);
  return ok;
}

}  // namespace

std::vector<CgroupDir> plan_cgroups(const std::string& container_id) {
  std::vector<CgroupDir> plan;
  for (auto& h : discover_hierarchies()) {
    std::string dir = h.mount_point + (h.own_path == "/" ? "" : h.own_path) + "/berth/" + container_id;
    plan.push_back({std::move(h), std::move(dir)});
  }
  return plan;
}

std::vector<std::string> cgroup_dirs_for(const std::string& container_id) {
  std::vector<std::string> dirs;
  for (auto& c : plan_cgroups(container_id)) dirs.push_back(std::move(c.dir));
  return dirs;
}

namespace {

bool has(const Hierarchy& h, const char* controller) {
  return std::find(h.controllers.begin(), h.controllers.end(), controller) != h.controllers.end();
}

// Each value with a write() of its own on one descriptor: a cgroup file takes one value
// per write (the devices rules are a dozen).
Status write_values(const std::string& dir, const std::string& file, const std::vector<std::string>& values) {
  std::string path = dir + "/" + file;
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return sys_error("set " + file + " (open '" + path + "')");
  for (const auto& value : values) {
    if (!util::write_all(fd, value)) {
      int err = errno;
      ::close(fd);
      return sys_error("set " + file + " to " + value, err);
    }
  }
  ::close(fd);
  return {};
}

Status write_limit(const std::string& dir, const std::string& file, const std::string& value) {
  return write_values(dir, file, {value});
}

// The limits a hierarchy's controllers take, in the order the kernel accepts them
// (v1: memory before memory+swap; the CFS period before the quota).
Status apply_limits(const Hierarchy& h, const std::string& dir, const Resources& r) {
  int64_t swap_total = r.memory_swap == 0 && r.memory > 0 ? 2 * r.memory : r.memory_swap;
  if (!h.v2) {
    if (has(h, "memory") && r.memory > 0) {
      BERTH_TRY(write_limit(dir, "memory.limit_in_bytes", std::to_string(r.memory)));
      // (memsw exists only with swap accounting.)
      if (fs::exists(dir + "/memory.memsw.limit_in_bytes")) {
        BERTH_TRY(write_limit(dir, "memory.memsw.limit_in_bytes", std::to_string(swap_total)));
      }
    }
    if (has(h, "cpu")) {
      if (r.nano_cpus > 0) {
        BERTH_TRY(write_limit(dir, "cpu.cfs_period_us", "100000"));
        BERTH_TRY(write_limit(dir, "cpu.cfs_quota_us", std::to_string(r.nano_cpus / 10000)));
      }
      if (r.cpu_shares > 0) BERTH_TRY(write_limit(dir, "cpu.shares", std::to_string(r.cpu_shares)));
    }
    if (has(h, "cpuset") && !r.cpuset_cpus.empty()) BERTH_TRY(write_limit(dir, "cpuset.cpus", r.cpuset_cpus));
    if (has(h, "pids") && r.pids_limit > 0) BERTH_TRY(write_limit(dir, "pids.max", std::to_string(r.pids_limit)));
    if (has(h, "devices")) {
      // Deny everything, then allow what moby's default spec allows: making any node
      // (m), and using the standard ones; a container with CAP_MKNOD can then make
      // /dev/sda but not open it.
      BERTH_TRY(write_limit(dir, "devices.deny", "a"));
      std::vector<std::string> allow;
      if (r.all_devices) {
        allow = {"a *:* rwm"};
      } else {
        allow = {"c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
                 "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm"};
        allow.insert(allow.end(), r.device_rules.begin(), r.device_rules.end());
      }
      BERTH_TRY(write_values(dir, "devices.allow", allow));
    }
    return {};
  }
  if (has(h, "memory") && r.memory > 0) {
    BERTH_TRY(write_limit(dir, "memory.max", std::to_string(r.memory)));
    if (fs::exists(dir + "/memory.swap.max")) {
      BERTH_TRY(write_limit(dir, "memory.swap.max", swap_total < 0 ? "max" : std::to_string(swap_total - r.memory)));
    }
  }
  if (has(h, "cpu")) {
    if (r.nano_cpus > 0) BERTH_TRY(write_limit(dir, "cpu.max", std::to_string(r.nano_cpus / 10000) + " 100000"));
    // runc's conversion of shares [2, 262144] to weight [1, 10000].
    if (r.cpu_shares > 0) {
      BERTH_TRY(write_limit(dir, "cpu.weight", std::to_string(1 + ((r.cpu_shares - 2) * 9999) / 262142)));
    }
  }
  if (has(h, "cpuset") && !r.cpuset_cpus.empty()) BERTH_TRY(write_limit(dir, "cpuset.cpus", r.cpuset_cpus));
  if (has(h, "pids") && r.pids_limit > 0) BERTH_TRY(write_limit(dir, "pids.max", std::to_string(r.pids_limit)));
  return {};
}

// v2 controllers act in a cgroup only when its parent delegates them: enable what the
// hierarchy has in <own>/berth (and <own>, which must then hold no processes itself: if
// it does, the kernel refuses and the limits stay unenforced there rather than failing).
void delegate_v2(const Hierarchy& h, const std::string& base) {
  std::string enable;
  for (const auto& c : h.controllers) enable += (enable.empty() ? "+" : " +") + c;
  if (enable.empty()) return;
  std::string parent = base.substr(0, base.rfind('/'));
  for (const auto& d : {parent, base}) {
    int fd = ::open((d + "/cgroup.subtree_control").c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) continue;
    (void)util::write_all(fd, enable);
    ::close(fd);
  }
}

}  // namespace

Result<std::vector<std::string>> discard_unenforceable(Resources& r) {
  if (r.memory <= 0 && r.nano_cpus <= 0 && r.cpu_shares <= 0 && r.cpuset_cpus.empty() && r.pids_limit <= 0) return std::vector<std::string>{};
  const std::vector<Hierarchy> hs = discover_hierarchies();
  auto mounted = [&](const char* controller) {
    return std::any_of(hs.begin(), hs.end(), [&](const Hierarchy& h) { return has(h, controller); });
  };
  if (r.nano_cpus > 0 && !mounted("cpu")) {
    return make_error(Code::InvalidArgument,
                      "NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is "
                      "not mounted (no cpu controller in " + describe_layout(hs) + ")");
  }
  std::vector<std::string> warnings;
  if (r.memory > 0 && !mounted("memory")) {
    warnings.push_back("Your kernel does not support memory limit capabilities or the cgroup is not mounted. "
                       "Limitation discarded.");
    r.memory = 0;
    r.memory_swap = -1;
  }
  if (r.cpu_shares > 0 && !mounted("cpu")) {
    warnings.push_back("Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.");
    r.cpu_shares = 0;
  }
  if (!r.cpuset_cpus.empty() && !mounted("cpuset")) {
    warnings.push_back("Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.");
    r.cpuset_cpus.clear();
  }
  if (r.pids_limit > 0 && !mounted("pids")) {
    warnings.push_back("Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. "
                       "PIDs limit discarded.");
    r.pids_limit = 0;
  }
  return warnings;
}

Status write_limits(const Hierarchy& h, const std::string& dir, const Resources& limits) {
  return apply_limits(h, dir, limits);
}

Result<std::vector<std::string>> create_cgroups(const std::vector<CgroupDir>& plan, bool v2, const Resources& limits) {
  std::vector<std::string> made;
  for (const auto& [h, dir] : plan) {
    if (h.v2 != v2) continue;
    std::string base = dir.substr(0, dir.rfind('/'));
    const bool cpuset = !h.v2 && is_cpuset(h.controllers);
    bool cloned = false;
    if (cpuset) {
      if (Status b = fs::make_dirs(base, 0755); !b) {
        (void)destroy_cgroups(made);
        return std::move(b).error().wrap("create cgroup");
      }
      cloned = prepare_cpuset_base(base);
    }
    Status s = fs::make_dirs(dir, 0755);
    if (!s) {
      (void)destroy_cgroups(made);
      return std::move(s).error().wrap("create cgroup");
    }
    made.push_back(dir);
    if (cpuset && !cloned) inherit_cpuset(dir);
    if (h.v2) delegate_v2(h, base);
    if (Status l = apply_limits(h, dir, limits); !l) {
      (void)destroy_cgroups(made);
      return std::move(l).error();
    }
  }
  return made;
}

bool oom_killed(const std::vector<std::string>& dirs) {
  for (const auto& d : dirs) {
    for (const char* f : {"/memory.oom_control", "/memory.events"}) {
      auto text = fs::read_file(d + f);
      if (!text) continue;
      for (const auto& line : util::split(*text, '\n')) {
        if (util::starts_with(line, "oom_kill ") && std::atoll(line.c_str() + 9) > 0) return true;
      }
    }
  }
  return false;
}

bool join_self(int tasks_fd) { return util::write_all(tasks_fd, "0"); }

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
