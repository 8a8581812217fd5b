// What a container sees of the host, each checked with real containers.

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "harness.hpp"

namespace berth::it {
namespace {

class Isolation : public BerthTest {
 protected:
  void SetUp() override {
    BerthTest::SetUp();
    import_busybox();
  }
};

std::string host_interfaces() {
  return trim(exec({"sh", "-c", "ls /sys/class/net | sort"}).out);
}

TEST_F(Isolation, ThePidOneIsTheContainersProgram) {
  EXPECT_EQ(ok({"run", "--rm", "busybox", "sh", "-c", "echo $$"}), "1");
  EXPECT_EQ(ok({"run", "--rm", "busybox", "cat", "/proc/1/comm"}), "cat");
  // Only the container's own processes are visible: the shell alone (the glob and echo
  // are the shell's own, so no other process exists to race with).
  EXPECT_EQ(ok({"run", "--rm", "busybox", "sh", "-c", "echo /proc/[0-9]*"}), "/proc/1");
}

TEST_F(Isolation, KernelInterfacesAreMaskedOrReadOnlyAsDockersAre) {
  // /proc/sys and friends are read-only; firmware tables and /proc/acpi are hidden.
  Output o = berth({"run", "--rm", "busybox", "sh", "-c",
                    "echo 1 > /proc/sys/kernel/domainname || echo sys-ro; echo h > /proc/sysrq-trigger || echo sysrq-ro; "
                    "ls -A /sys/firmware | wc -l; ls -A /proc/acpi 2>/dev/null | wc -l; touch /sys/firmware/x || echo fw-ro"});
  EXPECT_EQ(o.out, "sys-ro\nsysrq-ro\n0\n0\nfw-ro\n") << o.err;
  // --privileged leaves them alone.
  EXPECT_NE(ok({"run", "--rm", "--privileged", "busybox", "ls", "-A", "/sys/firmware"}), "");
}

TEST_F(Isolation, SymlinksInTheImageCannotRedirectMountsOntoTheHost) {
  // An image whose /etc2 points at a directory of the host (by absolute path) and whose
  // /proc is a symlink: the first must resolve inside the container's root, the second
  // is refused.
  std::string host_dir = root_ + "/escape";
  ASSERT_EQ(mkdir(host_dir.c_str(), 0755), 0);
  std::string tree = root_ + "/tree";
  Output made = exec({"sh", "-c", "mkdir -p " + tree + " && tar -C " + tree + " -xf " + kBusyboxTar + " && ln -s " +
                                     host_dir + " " + tree + "/etc2 && tar -C " + tree + " -cf " + root_ + "/evil.tar ."});
  ASSERT_EQ(made.code, 0) << made.err;
  ok({"import", root_ + "/evil.tar", "evil:1"});
  std::string src = root_ + "/payload";
  std::ofstream(src) << "payload\n";
  EXPECT_EQ(ok({"run", "--rm", "-v", src + ":/etc2/hosts", "evil:1", "cat", "/etc2/hosts"}), "payload");
  EXPECT_EQ(trim(exec({"ls", "-A", host_dir}).out), "") << "a mount point was made on the host";
  // /proc as a symlink.
  exec({"sh", "-c", "rm -rf " + tree + "/proc && ln -s /tmp " + tree + "/proc && tar -C " + tree + " -cf " + root_ +
                        "/evil2.tar ."});
  ok({"import", root_ + "/evil2.tar", "evil:2"});
  Output refused = berth({"run", "--rm", "evil:2", "true"});
  EXPECT_EQ(refused.code, 125);
  EXPECT_NE(refused.err.find("/proc is a symbolic link"), std::string::npos) << refused.err;
  EXPECT_TRUE(all_container_ids().empty());
}

TEST_F(Isolation, TheHostnameIsTheShortId) {
  std::string id = ok({"create", "busybox", "hostname"});
  EXPECT_EQ(ok({"start", "-a", id}), id.substr(0, 12));
  std::string id2 = ok({"create", "busybox", "cat", "/etc/hostname"});
  EXPECT_EQ(ok({"start", "-a", id2}), id2.substr(0, 12));
  EXPECT_EQ(ok({"run", "--rm", "-h", "custom-host", "busybox", "hostname"}), "custom-host");
}

TEST_F(Isolation, TheContainerSeesOnlyItsOwnMounts) {
  // A mount the test makes on the host must not appear inside.
  std::string marker = root_ + "/host-only-marker";
  ASSERT_EQ(mkdir(marker.c_str(), 0700), 0);
  ASSERT_EQ(mount("berth-it-marker", marker.c_str(), "tmpfs", 0, "size=1m"), 0) << strerror(errno);
  std::string mounts = ok({"run", "--rm", "busybox", "cat", "/proc/self/mounts"});
  umount2(marker.c_str(), MNT_DETACH);
  EXPECT_EQ(mounts.find("berth-it-marker"), std::string::npos) << mounts;
  EXPECT_NE(mounts.find("overlay / overlay"), std::string::npos) << mounts;
  EXPECT_NE(mounts.find("proc /proc proc"), std::string::npos) << mounts;
  EXPECT_NE(mounts.find("sysfs /sys sysfs ro"), std::string::npos) << mounts;
  // The container's root is not visible on the host either.
  EXPECT_TRUE(mounts_containing(state_).empty());
}

TEST_F(Isolation, NetworkNoneHasOnlyLoopback) {
  EXPECT_EQ(ok({"run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net"}), "lo");
  // A host file without [networks.default], as this test's, puts containers on `none` too.
  EXPECT_EQ(ok({"run", "--rm", "busybox", "ls", "/sys/class/net"}), "lo");
  std::string up = ok({"run", "--rm", "--network", "none", "busybox", "cat", "/sys/class/net/lo/operstate"});
  EXPECT_TRUE(up == "unknown" || up == "up") << up;
}

TEST_F(Isolation, NetworkHostSharesInterfacesAndHostname) {
  std::string inside = ok({"run", "--rm", "--network", "host", "busybox", "sh", "-c", "ls /sys/class/net | sort"});
  EXPECT_EQ(inside, host_interfaces());
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  EXPECT_EQ(ok({"run", "--rm", "--network", "host", "busybox", "hostname"}), host);
  std::string j = ok({"run", "-d", "--network", "host", "busybox", "true"});
  EXPECT_NE(ok({"inspect", j}).find("\"NetworkMode\": \"host\""), std::string::npos);
}

TEST_F(Isolation, WritesStayInTheirContainer) {
  std::string a = unique("writer");
  ok({"create", "--name", a, "busybox", "sh", "-c",
      "cat /written 2>/dev/null; echo mine > /written; echo changed > /etc/group"});
  EXPECT_EQ(ok({"start", "-a", a}), "");
  // Another container from the same image sees the image, not a's changes.
  EXPECT_EQ(berth({"run", "--rm", "busybox", "cat", "/written"}).code, 1);
  EXPECT_EQ(ok({"run", "--rm", "busybox", "head", "-1", "/etc/group"}), "root:x:0:");
  // a keeps its layer across starts, until it is removed.
  EXPECT_EQ(ok({"start", "-a", a}), "mine");
  ok({"rm", a});
  EXPECT_EQ(ok({"run", "--rm", "busybox", "sh", "-c", "ls /written 2>&1; true"}),
            "ls: /written: No such file or directory");
}

TEST_F(Isolation, BindMountsOfDirectoriesFilesAndReadOnly) {
  std::string dir = root_ + "/bind-dir";
  std::string file = root_ + "/bind-file";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  write_file(dir + "/from-host", "host data\n");
  write_file(file, "single file\n");
  EXPECT_EQ(ok({"run", "--rm", "-v", dir + ":/data", "busybox", "sh", "-c", "cat /data/from-host; echo back > /data/from-ctr"}),
            "host data");
  EXPECT_EQ(read_file(dir + "/from-ctr"), "back\n");
  EXPECT_EQ(ok({"run", "--rm", "-v", file + ":/etc/motd", "busybox", "cat", "/etc/motd"}), "single file");
  Output ro = berth({"run", "--rm", "-v", dir + ":/data:ro", "busybox", "sh", "-c", "echo x > /data/nope"});
  EXPECT_NE(ro.code, 0);
  EXPECT_NE(ro.err.find("Read-only file system"), std::string::npos) << ro.err;
  EXPECT_FALSE(exists(dir + "/nope"));
  // A missing host directory is created.
  std::string missing = root_ + "/made/by/berth";
  EXPECT_EQ(ok({"run", "--rm", "-v", missing + ":/m", "busybox", "sh", "-c", "touch /m/t && ls /m"}), "t");
  EXPECT_TRUE(exists(missing + "/t"));
  // A bind mount hides what the image had at that path; several -v at once.
  EXPECT_EQ(ok({"run", "--rm", "-v", dir + ":/bin/extra", "-v", file + ":/f", "busybox", "sh", "-c",
                "ls /bin/extra | wc -l; cat /f"}),
            "2\nsingle file");
}

}  // namespace
}  // namespace berth::it
