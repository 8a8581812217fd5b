// top and stats on real containers.

#include <unistd.h>

#include "harness.hpp"

namespace berth::it {
namespace {

class Observe : public BerthTest {
 protected:
  void SetUp() override {
    BerthTest::SetUp();
    import_busybox();
  }
};

TEST_F(Observe, TopListsTheContainersProcessesAndOnlyThem) {
  std::string id = ok({"run", "-d", "busybox", "sh", "-c", "sleep 101 & sleep 202 & wait"});
  std::string out;
  for (int i = 0; i < 100; ++i) {
    out = ok({"top", id});
    if (out.find("sleep 202") != std::string::npos) break;
    usleep(20000);
  }
  auto rows = lines(out);
  ASSERT_EQ(rows.size(), 4u) << out;  // the header, sh and the two sleeps
  EXPECT_EQ(rows[0].rfind("UID", 0), 0u) << rows[0];
  EXPECT_NE(out.find("sh -c sleep 101 & sleep 202 & wait"), std::string::npos) << out;
  EXPECT_NE(out.find("sleep 101"), std::string::npos) << out;
  // ps options pass through.
  std::string custom = ok({"container", "top", id, "-o", "pid,comm"});
  auto crow = lines(custom);
  ASSERT_EQ(crow.size(), 4u) << custom;
  EXPECT_EQ(split_fields(crow[0]), (std::vector<std::string>{"PID", "COMMAND"}));
  ok({"stop", "-t", "0", id});
  Output stopped = berth({"top", id});
  EXPECT_EQ(stopped.code, 1);
  EXPECT_NE(stopped.err.find("is not running"), std::string::npos) << stopped.err;
}

TEST_F(Observe, StatsReadsTheCgroupsOfEachContainer) {
  std::string busy = ok({"run", "-d", "-m", "64m", "--network", "none", "busybox", "sh", "-c", "while true; do :; done"});
  std::string idle = ok({"run", "-d", "busybox", "sh", "-c", "sleep 100 & sleep 100 & wait"});
  std::string stopped = ok({"create", "busybox", "true"});
  usleep(300000);
  std::string table = ok({"stats", "--no-stream"});
  auto rows = lines(table);
  ASSERT_EQ(rows.size(), 3u) << table;  // header + the two running ones
  EXPECT_EQ(split_fields(rows[0])[0], "CONTAINER");
  EXPECT_NE(rows[0].find("MEM USAGE / LIMIT"), std::string::npos);
  auto field = [&](const std::string& ref, const std::string& f) {
    return ok({"stats", "--no-stream", "--format", "{{" + f + "}}", ref});
  };
  // The busy loop uses a CPU; the sleeping one next to nothing.
  double busy_cpu = std::stod(field(busy, ".CPUPerc"));
  double idle_cpu = std::stod(field(idle, ".CPUPerc"));
  EXPECT_GT(busy_cpu, 20.0);
  EXPECT_LT(idle_cpu, busy_cpu);
  // The memory limit is the container's; unlimited shows the host's memory.
  std::string mem = field(busy, ".MemUsage");
  EXPECT_NE(mem.find(" / 64MiB"), std::string::npos) << mem;
  EXPECT_EQ(field(busy, ".NetIO"), "0B / 0B");
  EXPECT_EQ(field(busy, ".PIDs"), "1");
  EXPECT_EQ(field(idle, ".PIDs"), "3");
  EXPECT_EQ(field(idle, ".Name").empty(), false);
  // -a includes a container that is not running, with dashes.
  std::string with_all = ok({"stats", "--no-stream", "-a", "--format", "{{.ID}} {{.CPUPerc}}"});
  EXPECT_NE(with_all.find(stopped.substr(0, 12) + " --"), std::string::npos) << with_all;
  EXPECT_EQ(berth({"stats", "--no-stream", "no-such-" + random_suffix()}).code, 1);
}

}  // namespace
}  // namespace berth::it
