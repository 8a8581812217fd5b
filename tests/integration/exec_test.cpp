// exec: a process that joins a running container's namespaces and cgroups.

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace berth::it {
namespace {

using nlohmann::json;

class Exec : public BerthTest {
 protected:
  void SetUp() override {
    BerthTest::SetUp();
    import_busybox();
  }
};

TEST_F(Exec, JoinsEveryNamespaceAndTheCgroupsOfTheContainer) {
  std::string id = ok({"run", "-d", "--network", "none", "busybox", "sleep", "60"});
  // UTS: the container's hostname; PID: the container's PID 1 is visible, ours is not 1.
  EXPECT_EQ(ok({"exec", id, "hostname"}), id.substr(0, 12));
  EXPECT_EQ(ok({"exec", id, "cat", "/proc/1/comm"}), "sleep");
  EXPECT_NE(ok({"exec", id, "sh", "-c", "echo $$"}), "1");
  // Network: only lo (the container has --network none). Mount: the container's root.
  EXPECT_EQ(ok({"exec", id, "ls", "/sys/class/net"}), "lo");
  EXPECT_NE(ok({"exec", id, "cat", "/proc/self/mounts"}).find("overlay / overlay"), std::string::npos);
  EXPECT_EQ(ok({"exec", id, "cat", "/etc/hostname"}), id.substr(0, 12));
  // Cgroups: a detached exec'd process is counted in every cgroup of the container, and
  // sees itself at the root of its cgroup namespace.
  ok({"exec", "-d", id, "sleep", "30"});
  auto dirs = cgroup_dirs_of(id);
  ASSERT_FALSE(dirs.empty());
  for (const auto& d : dirs) {
    EXPECT_EQ(lines(read_file(d + "/cgroup.procs")).size(), 2u) << d;
  }
  for (const auto& line : lines(ok({"exec", id, "cat", "/proc/self/cgroup"}))) {
    EXPECT_EQ(line.substr(line.rfind(':') + 1), "/") << line;
  }
  // The detached program's parent is its own reaper: not the host's init (whose late
  // reaping kept the groups busy), and in none of the container's groups.
  std::string init = std::to_string(json::parse(ok({"inspect", id}))[0]["State"]["Pid"].get<int>());
  std::string sleeper;
  for (const auto& p : lines(read_file(dirs[0] + "/cgroup.procs"))) {
    if (p != init) sleeper = p;
  }
  ASSERT_FALSE(sleeper.empty());
  std::string stat = read_file("/proc/" + sleeper + "/stat");
  std::string reaper = split_fields(stat.substr(stat.rfind(')') + 2))[1];
  EXPECT_NE(reaper, "1");
  EXPECT_EQ(read_file("/proc/" + reaper + "/cgroup").find(id), std::string::npos) << "the reaper is outside";
  // Every exec'd process ends with the container, and its reaper with it.
  ok({"stop", "-t", "0", id});
  for (const auto& d : dirs) EXPECT_FALSE(exists(d)) << d;
  // (Ended: gone, or a zombie that the host's init reaps in its own time; it holds no group.)
  auto ended = [&] {
    std::string st = read_file("/proc/" + reaper + "/stat");
    return st.empty() || split_fields(st.substr(st.rfind(')') + 2))[0] == "Z";
  };
  for (int i = 0; i < 250 && !ended(); ++i) usleep(20000);
  EXPECT_TRUE(ended()) << "reaper " << reaper << " outlived the container";
}

TEST_F(Exec, EnvironmentUserWorkdirStdinAndExitCodes) {
  std::string id = ok({"run", "-d", "-e", "FROM_RUN=1", "-w", "/tmp", "busybox", "sleep", "60"});
  // The container's environment and working directory, then -e, -u, -w over them.
  EXPECT_EQ(ok({"exec", id, "sh", "-c", "echo $FROM_RUN $HOSTNAME $(pwd)"}), "1 " + id.substr(0, 12) + " /tmp");
  EXPECT_EQ(ok({"exec", "-e", "FROM_RUN=2", "-e", "EXTRA=x", "-w", "/etc", id, "sh", "-c", "echo $FROM_RUN $EXTRA $(pwd)"}),
            "2 x /etc");
  EXPECT_EQ(ok({"exec", "-u", "nobody", id, "id", "-u"}), "65534");
  EXPECT_EQ(ok({"exec", "--user", "1234:55", id, "id"}), "uid=1234 gid=55");
  // -i passes stdin through (and its end); without -i the program reads nothing.
  Output echoed = berth({"exec", "-i", id, "cat"}, "from stdin\n");
  EXPECT_EQ(echoed.out, "from stdin\n");
  EXPECT_EQ(berth({"exec", id, "cat"}, "ignored\n").out, "");
  // The program's own exit code; 126 for one that cannot run, as Docker's exec.
  EXPECT_EQ(berth({"exec", id, "sh", "-c", "exit 42"}).code, 42);
  Output missing = berth({"exec", id, "no-such-program"});
  EXPECT_EQ(missing.code, 126);
  EXPECT_NE(missing.err.find("executable file not found in $PATH"), std::string::npos) << missing.err;
  Output baddir = berth({"exec", "-w", "/no/such/dir", id, "true"});
  EXPECT_EQ(baddir.code, 126);
  EXPECT_NE(baddir.err.find("/no/such/dir"), std::string::npos) << baddir.err;
  EXPECT_EQ(berth({"container", "exec", id, "true"}).code, 0);
}

TEST_F(Exec, RefusedOnAContainerThatIsNotRunningOrIsPaused) {
  std::string created = ok({"create", "busybox", "sleep", "60"});
  Output o = berth({"exec", created, "true"});
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.err.find("container " + created + " is not running"), std::string::npos) << o.err;
  std::string id = ok({"run", "-d", "busybox", "sleep", "60"});
  ok({"pause", id});
  Output paused = berth({"exec", id, "true"});
  EXPECT_EQ(paused.code, 1);
  EXPECT_NE(paused.err.find("is paused, unpause the container before exec"), std::string::npos) << paused.err;
  ok({"unpause", id});
  EXPECT_EQ(berth({"exec", id, "true"}).code, 0);
  EXPECT_EQ(berth({"exec", "no-such-" + random_suffix(), "true"}).code, 1);
  EXPECT_EQ(berth({"exec", id}).code, 1) << "exec needs a command";
}

}  // namespace
}  // namespace berth::it
