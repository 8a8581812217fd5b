// Resource limits: the flags reach the container's cgroups and process, the kernel
// enforces them, and bad values are refused before anything is made.

#include <sys/resource.h>
#include <unistd.h>

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
  ok({"rm", "-f", id});
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
