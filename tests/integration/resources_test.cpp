// Resource limits: the flags reach the container's cgroups and process, the kernel
// enforces them, and bad values are refused before anything is made.

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace berth::it {
namespace {

using nlohmann::json;

class Resources : public BerthTest {
 protected:
  void SetUp() override {
    BerthTest::SetUp();
    import_busybox();
  }
  // The value of `file` in whichever of the container's cgroups has it ("" if none).
  std::string cgroup_value(const std::string& id, const std::string& file) {
    for (const auto& d : cgroup_dirs_of(id)) {
      if (exists(d + "/" + file)) return trim(read_file(d + "/" + file));
    }
    return "";
  }
};

TEST_F(Resources, LimitsReachTheContainersCgroups) {
  std::string id = ok({"run", "-d", "-m", "32m", "--memory-swap", "64m", "--cpus", "0.5", "--cpu-shares", "512",
                       "--cpuset-cpus", "0", "--pids-limit", "20", "busybox", "sleep", "60"});
  // v1 files where those hierarchies are mounted (this project's CI host), v2 otherwise.
  if (!cgroup_value(id, "memory.limit_in_bytes").empty()) {
    EXPECT_EQ(cgroup_value(id, "memory.limit_in_bytes"), "33554432");
    std::string memsw = cgroup_value(id, "memory.memsw.limit_in_bytes");
    if (!memsw.empty()) {
      EXPECT_EQ(memsw, "67108864");
    }
    EXPECT_EQ(cgroup_value(id, "cpu.cfs_quota_us"), "50000");
    EXPECT_EQ(cgroup_value(id, "cpu.cfs_period_us"), "100000");
    EXPECT_EQ(cgroup_value(id, "cpu.shares"), "512");
  } else {
    EXPECT_EQ(cgroup_value(id, "memory.max"), "33554432");
    EXPECT_EQ(cgroup_value(id, "cpu.max"), "50000 100000");
  }
  EXPECT_EQ(cgroup_value(id, "cpuset.cpus"), "0");
  EXPECT_EQ(cgroup_value(id, "pids.max"), "20");
  Output o = berth({"inspect", id});
  json hc = json::parse(o.out)[0]["HostConfig"];
  EXPECT_EQ(hc["Memory"], 33554432);
  EXPECT_EQ(hc["MemorySwap"], 67108864);
  EXPECT_EQ(hc["NanoCpus"], 500000000);
  EXPECT_EQ(hc["CpuShares"], 512);
  EXPECT_EQ(hc["CpusetCpus"], "0");
  EXPECT_EQ(hc["PidsLimit"], 20);
}

TEST_F(Resources, TheContainerIsBornInItsCgroupsAndTheMonitorIsNot) {
  // The child joins its v1 groups itself and is cloned into its v2 group: whatever the
  // layout, its first process is in a group of its own in every hierarchy this host has,
  // alone (the monitor stays outside), and its cgroup namespace is rooted there.
  std::string id = ok({"run", "-d", "--network", "none", "busybox", "sleep", "60"});
  std::string pid = std::to_string(json::parse(ok({"inspect", id}))[0]["State"]["Pid"].get<int>());
  auto host_lines = lines(read_file("/proc/self/cgroup"));
  auto dirs = cgroup_dirs_of(id);
  EXPECT_EQ(dirs.size(), host_lines.size());
  for (const auto& d : dirs) EXPECT_EQ(trim(read_file(d + "/cgroup.procs")), pid) << d;
  auto own = lines(read_file("/proc/" + pid + "/cgroup"));
  EXPECT_EQ(own.size(), host_lines.size());
  for (const auto& line : own) EXPECT_NE(line.find("/berth/" + id), std::string::npos) << line;
  for (const auto& line : lines(ok({"exec", id, "cat", "/proc/1/cgroup"}))) {
    EXPECT_EQ(line.substr(line.rfind(':') + 1), "/") << line;
  }
  // An exec'd program is in the same groups (cloned into the v2 one, the v1 ones joined
  // by its maker) and in the container's cgroup namespace: its paths there are the
  // namespace's root in every hierarchy ("/.." would mean outside the container's group).
  auto own_lines = lines(ok({"exec", id, "cat", "/proc/self/cgroup"}));
  EXPECT_EQ(own_lines.size(), host_lines.size());
  for (const auto& line : own_lines) {
    EXPECT_EQ(line.substr(line.rfind(':') + 1), "/") << line;
  }
  ok({"rm", "-f", id});
  for (const auto& d : dirs) EXPECT_FALSE(exists(d)) << d;
}

// The other two layouts, on whatever host this is: berth finds hierarchies by their mounts,
// so in a mount namespace of its own where one kind is unmounted it sees a pure v1 host
// (no cgroup2 mount) or a pure v2 one (no v1 mounts). The host's own mounts are untouched,
// and the container's groups are real groups of the host's hierarchies.
class CgroupLayouts : public Resources {
 protected:
  // Mount points of this host's hierarchies of one file system type.
  static std::vector<std::string> mounted(const std::string& fstype) {
    std::vector<std::string> out;
    for (const auto& line : lines(read_file("/proc/self/mountinfo"))) {
      auto sep = line.find(" - ");
      if (sep == std::string::npos) continue;
      auto pre = split_fields(line.substr(0, sep));
      auto post = split_fields(line.substr(sep + 3));
      if (pre.size() > 4 && !post.empty() && post[0] == fstype) out.push_back(pre[4]);
    }
    return out;
  }
  // berth --config <this test's file> args..., where the hierarchies of `hidden` are not mounted.
  Output berth_without(const std::string& hidden, const std::vector<std::string>& args) {
    std::string script = "for m in $(awk '$9 == \"" + hidden +
                         "\" { print $5 }' /proc/self/mountinfo); do umount \"$m\" || exit 99; done; exec \"$@\"";
    std::vector<std::string> argv = {"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", kBerth,
                                     "--config", config_};
    argv.insert(argv.end(), args.begin(), args.end());
    return exec(argv);
  }
  std::string pid_of(const std::string& id) {
    return std::to_string(json::parse(ok({"inspect", id}))[0]["State"]["Pid"].get<int>());
  }
};

TEST_F(CgroupLayouts, PureV2TheContainerIsBornInItsGroupAndUnenforceableLimitsAreDiscarded) {
  auto v2 = mounted("cgroup2");
  if (v2.size() != 1) GTEST_SKIP() << "this host has " << v2.size() << " cgroup2 mounts";
  Output info = berth_without("cgroup", {"info"});
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("Cgroup Version: cgroupfs v2\n"), std::string::npos) << info.out;

  // Limits for controllers the v2 mount delegates reach the group; the others are dropped
  // with Docker's warnings, and the container runs without them.
  std::string controllers = " " + trim(read_file(v2[0] + "/cgroup.controllers")) + " ";
  const bool pids = controllers.find(" pids ") != std::string::npos;
  const bool memory = controllers.find(" memory ") != std::string::npos;
  Output run = berth_without("cgroup", {"run", "-d", "--network", "none", "--pids-limit", "7", "-m", "64m", "busybox",
                                        "sleep", "60"});
  ASSERT_EQ(run.code, 0) << run.err;
  std::string id = trim(run.out);
  EXPECT_EQ(run.err.find("PIDs limit discarded") == std::string::npos, pids) << run.err;
  EXPECT_EQ(run.err.find("memory limit capabilities") == std::string::npos, memory) << run.err;
  json hc = json::parse(ok({"inspect", id}))[0]["HostConfig"];
  EXPECT_EQ(hc["PidsLimit"], pids ? json(7) : json(nullptr));
  EXPECT_EQ(hc["Memory"], memory ? 67108864 : 0);

  auto dirs = cgroup_dirs_of(id);
  ASSERT_EQ(dirs.size(), 1u) << "a group in the v2 hierarchy only";
  EXPECT_EQ(dirs[0].rfind(v2[0] + "/", 0), 0u) << dirs[0];
  EXPECT_EQ(trim(read_file(dirs[0] + "/cgroup.procs")), pid_of(id));
  if (pids) {
    EXPECT_EQ(trim(read_file(dirs[0] + "/pids.max")), "7");
  }
  Output exec_out = berth_without("cgroup", {"exec", id, "cat", "/proc/self/cgroup"});
  EXPECT_EQ(exec_out.code, 0) << exec_out.err;

  // --cpus without a cpu controller is refused, as Docker refuses it, and leaves nothing.
  if (controllers.find(" cpu ") == std::string::npos) {
    auto before = all_container_ids();
    Output cpus = berth_without("cgroup", {"run", "--rm", "--cpus", "1", "busybox", "true"});
    EXPECT_EQ(cpus.code, 125);
    EXPECT_NE(cpus.err.find("NanoCPUs can not be set"), std::string::npos) << cpus.err;
    EXPECT_EQ(all_container_ids(), before);
  }

  Output rm = berth_without("cgroup", {"rm", "-f", id});
  EXPECT_EQ(rm.code, 0) << rm.err;
  EXPECT_FALSE(exists(dirs[0]));
}

TEST_F(CgroupLayouts, PureV1TheContainerJoinsEveryHierarchyAndItsLimitsApply) {
  auto v1 = mounted("cgroup");
  if (v1.empty()) GTEST_SKIP() << "this host mounts no v1 hierarchy";
  Output info = berth_without("cgroup2", {"info"});
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("Cgroup Version: cgroupfs v1\n"), std::string::npos) << info.out;

  Output run = berth_without("cgroup2", {"run", "-d", "--network", "none", "--pids-limit", "7", "busybox", "sleep", "60"});
  ASSERT_EQ(run.code, 0) << run.err;
  std::string id = trim(run.out);
  std::string pid = pid_of(id);
  auto dirs = cgroup_dirs_of(id);
  ASSERT_FALSE(dirs.empty());
  for (const auto& d : dirs) {
    EXPECT_TRUE(std::any_of(v1.begin(), v1.end(), [&](const std::string& m) { return d.rfind(m + "/", 0) == 0; }))
        << d << " is not in a v1 hierarchy";
    EXPECT_EQ(trim(read_file(d + "/cgroup.procs")), pid) << d;
  }
  // Every v1 hierarchy of the host that this process belongs to holds the container.
  size_t expected = 0;
  for (const auto& line : lines(read_file("/proc/self/cgroup"))) expected += line.rfind("0::", 0) != 0;
  EXPECT_EQ(dirs.size(), expected);
  if (std::find(v1.begin(), v1.end(), "/sys/fs/cgroup/pids") != v1.end()) {
    EXPECT_EQ(cgroup_value(id, "pids.max"), "7");
  }
  Output exec_out = berth_without("cgroup2", {"exec", id, "cat", "/proc/self/cgroup"});
  EXPECT_EQ(exec_out.code, 0) << exec_out.err;

  Output rm = berth_without("cgroup2", {"rm", "-f", id});
  EXPECT_EQ(rm.code, 0) << rm.err;
  for (const auto& d : dirs) EXPECT_FALSE(exists(d)) << d;
}

TEST_F(Resources, TheKernelEnforcesThem) {
  // pids: the fourth process cannot be made.
  Output forks = berth({"run", "--rm", "--pids-limit", "3", "busybox", "sh", "-c",
                        "sleep 1 & sleep 1 & sleep 1 & sleep 1 & wait"});
  EXPECT_NE(forks.err.find("can't fork"), std::string::npos) << forks.err;
  // memory: a 64 MiB buffer in a 16 MiB container is killed by the OOM killer, and
  // inspect says so with Docker's 137.
  std::string name = unique("oom");
  Output oom = berth({"run", "--name", name, "-m", "16m", "busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=64M",
                      "count=1"});
  EXPECT_EQ(oom.code, 137) << oom.err;
  json state = json::parse(berth({"inspect", name}).out)[0]["State"];
  EXPECT_EQ(state["OOMKilled"], true);
  EXPECT_EQ(state["ExitCode"], 137);
  // A buffer that fits is fine, and the flag is cleared by the next run.
  Output fits = berth({"run", "--rm", "-m", "16m", "busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=4M", "count=1"});
  EXPECT_EQ(fits.code, 0) << fits.err;
}

TEST_F(Resources, UlimitsReachTheProcessAndItsExecs) {
  std::string id = ok({"run", "-d", "--ulimit", "nofile=100:200", "--ulimit", "nproc=50", "busybox", "sleep", "60"});
  EXPECT_EQ(ok({"exec", id, "sh", "-c", "echo $(ulimit -n) $(ulimit -Hn) $(ulimit -u)"}), "100 200 50");
  json hc = json::parse(berth({"inspect", id}).out)[0]["HostConfig"];
  ASSERT_TRUE(hc["Ulimits"].is_array());
  EXPECT_EQ(hc["Ulimits"][0]["Name"], "nofile");
  EXPECT_EQ(hc["Ulimits"][0]["Soft"], 100);
  EXPECT_EQ(hc["Ulimits"][0]["Hard"], 200);
  EXPECT_EQ(ok({"run", "--rm", "--ulimit", "nofile=64", "busybox", "sh", "-c", "echo $(ulimit -n) $(ulimit -Hn)"}),
            "64 64");
}

TEST_F(Resources, BadValuesAreRefusedAndLeaveNothing) {
  struct rlimit nofile {};
  getrlimit(RLIMIT_NOFILE, &nofile);
  std::string above = std::to_string(static_cast<unsigned long long>(nofile.rlim_max) + 1);
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  };
  const Case cases[] = {
      {{"-m", "1x"}, "invalid size: '1x'"},
      {{"-m", "1m"}, "Minimum memory limit allowed is 6MB"},
      {{"--memory-swap", "64m"}, "You should always set the Memory limit when using Memoryswap limit"},
      {{"-m", "64m", "--memory-swap", "32m"}, "Minimum memoryswap limit should be larger than memory limit"},
      {{"--cpus", "abc"}, "failed to parse abc as a rational number"},
      {{"--cpus", "999"}, "Range of CPUs is from 0.01 to"},
      {{"--cpuset-cpus", "0-999"}, "Requested CPUs are not available"},
      {{"--ulimit", "nosuch=1"}, "invalid ulimit type: nosuch"},
      {{"--ulimit", "nofile=20:10"}, "soft limit must be less than or equal to hard limit"},
      {{"--ulimit", "nofile=10:" + above}, "which berth cannot raise"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = {"run", "--rm"};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    args.insert(args.end(), {"busybox", "true"});
    Output o = berth(args);
    EXPECT_EQ(o.code, 125) << c.flags[0] << " " << c.flags[1];
    EXPECT_NE(o.err.find(c.message), std::string::npos) << o.err;
  }
  EXPECT_TRUE(all_container_ids().empty());
}

}  // namespace
}  // namespace berth::it
