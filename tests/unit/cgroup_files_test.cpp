// The cgroup v2 file formats. This project's CI host binds every controller to a v1
// hierarchy (its v2 mount has only hugetlb), so the v2 paths cannot run against the
// kernel here; these tests check what they write and read against the files' documented
// formats (Documentation/admin-guide/cgroup-v2.rst), in a plain directory.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <sstream>

#include "berth/sdk/fs.hpp"
#include "runtime/cgroups.hpp"
#include "runtime/stats.hpp"

namespace berth::runtime {
namespace {

class CgroupFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-cgfiles-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { (void)sdk::fs::remove_tree(dir_); }
  void put(const std::string& name, const std::string& content) { std::ofstream(dir_ + "/" + name) << content; }
  std::string get(const std::string& name) {
    std::ifstream in(dir_ + "/" + name);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string dir_;
};

TEST_F(CgroupFiles, V2LimitsGoWhereTheKernelReadsThem) {
  for (const char* f : {"memory.max", "memory.swap.max", "cpu.max", "cpu.weight", "cpuset.cpus", "pids.max"}) put(f, "");
  Hierarchy h;
  h.v2 = true;
  h.controllers = {"cpuset", "cpu", "memory", "pids"};
  Resources r;
  r.memory = 32 << 20;
  r.memory_swap = 64 << 20;
  r.nano_cpus = 1500000000;
  r.cpu_shares = 1024;
  r.cpuset_cpus = "0-1";
  r.pids_limit = 20;
  ASSERT_TRUE(write_limits(h, dir_, r));
  EXPECT_EQ(get("memory.max"), "33554432");
  EXPECT_EQ(get("memory.swap.max"), "33554432");  // swap alone: memory+swap minus memory
  EXPECT_EQ(get("cpu.max"), "150000 100000");
  EXPECT_EQ(get("cpu.weight"), "39");  // runc: 1 + (1024 - 2) * 9999 / 262142
  EXPECT_EQ(get("cpuset.cpus"), "0-1");
  EXPECT_EQ(get("pids.max"), "20");
  // Unlimited swap. (Files are written without truncation, as cgroupfs wants; empty it here.)
  put("memory.swap.max", "");
  r.memory_swap = -1;
  ASSERT_TRUE(write_limits(h, dir_, r));
  EXPECT_EQ(get("memory.swap.max"), "max");
  // A controller the hierarchy lacks is left alone.
  put("pids.max", "untouched");
  h.controllers = {"memory"};
  ASSERT_TRUE(write_limits(h, dir_, r));
  EXPECT_EQ(get("pids.max"), "untouched");
}

TEST_F(CgroupFiles, V2CountersAreReadAsStatsShowsThem) {
  put("cgroup.controllers", "cpu memory io pids\n");
  put("cpu.stat", "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n");
  put("memory.current", "10485760\n");
  put("memory.max", "33554432\n");
  put("memory.stat", "anon 4096\nfile 8192\ninactive_file 2097152\nactive_file 0\n");
  put("io.stat", "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2\n8:16 rbytes=100 wbytes=0 rios=1 wios=0\n");
  put("pids.current", "3\n");
  auto s = sample_cgroups({dir_});
  EXPECT_EQ(s.cpu_ns, 2500000000u);
  EXPECT_EQ(s.mem_usage, 10485760 - 2097152);
  EXPECT_EQ(s.mem_limit, 33554432);
  EXPECT_EQ(s.blk_read, 4196u);
  EXPECT_EQ(s.blk_write, 8192u);
  EXPECT_EQ(s.pids, 3);
  // memory.max "max": the host's memory is the limit.
  put("memory.max", "max\n");
  EXPECT_GT(sample_cgroups({dir_}).mem_limit, 33554432);
}

TEST_F(CgroupFiles, OomKillsAreSeenInV1AndV2Files) {
  put("memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 0\n");
  EXPECT_FALSE(oom_killed({dir_}));
  put("memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n");
  EXPECT_TRUE(oom_killed({dir_}));
  std::remove((dir_ + "/memory.events").c_str());
  put("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  EXPECT_TRUE(oom_killed({dir_}));
}

}  // namespace
}  // namespace berth::runtime
