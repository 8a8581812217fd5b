// The run flags a Docker user reaches for beyond the basics: --env-file, --cidfile,
// capabilities and --privileged, --read-only, --shm-size, --sysctl, --device, --init,
// --stop-signal and --stop-timeout.

#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace berth::it {
namespace {

class RunFlags : public BerthTest {
 protected:
  void SetUp() override {
    BerthTest::SetUp();
    import_busybox();
  }
  std::string cap_eff(const std::vector<std::string>& flags) {
    std::vector<std::string> args = {"run", "--rm"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.insert(args.end(), {"busybox", "grep", "CapEff", "/proc/self/status"});
    std::string line = ok(args);
    return trim(line.substr(line.find(':') + 1));
  }
};

TEST_F(RunFlags, CapabilitiesAreDockersDefaultSetAndCanBeChanged) {
  // moby's default set: CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP
  // SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE.
  EXPECT_EQ(cap_eff({}), "00000000a80425fb");
  EXPECT_EQ(cap_eff({"--cap-drop", "ALL", "--cap-add", "NET_ADMIN"}), "0000000000001000");
  EXPECT_EQ(cap_eff({"--cap-drop", "chown", "--cap-drop", "CAP_KILL"}), "00000000a80425da");
  EXPECT_EQ(cap_eff({"--cap-add", "SYS_ADMIN"}), "00000000a82425fb");
  // Without CAP_SYS_ADMIN a mount is refused; with --privileged it works.
  const std::string mount = "mkdir -p /m && mount -t tmpfs t /m";
  EXPECT_NE(berth({"run", "--rm", "busybox", "sh", "-c", mount}).code, 0);
  Output priv = berth({"run", "--rm", "--privileged", "busybox", "sh", "-c", mount});
  EXPECT_EQ(priv.code, 0) << priv.err;
  // A user other than root has none.
  EXPECT_EQ(cap_eff({"-u", "nobody"}), "0000000000000000");
  Output bad = berth({"run", "--rm", "--cap-add", "FLY", "busybox", "true"});
  EXPECT_EQ(bad.code, 125);
  EXPECT_NE(bad.err.find("unknown capability: \"CAP_FLY\""), std::string::npos) << bad.err;
  // exec runs with the container's set.
  std::string id = ok({"run", "-d", "--cap-drop", "ALL", "busybox", "sleep", "60"});
  std::string eff = ok({"exec", id, "grep", "CapEff", "/proc/self/status"});
  EXPECT_NE(eff.find("0000000000000000"), std::string::npos) << eff;
}

TEST_F(RunFlags, ReadOnlyShmSysctlAndDevices) {
  Output ro = berth({"run", "--rm", "--read-only", "busybox", "sh", "-c", "touch /x || echo refused; touch /dev/shm/ok && echo shm"});
  EXPECT_EQ(ro.out, "refused\nshm\n") << ro.err;
  EXPECT_NE(ro.err.find("Read-only file system"), std::string::npos) << ro.err;
  std::string shm = ok({"run", "--rm", "--shm-size", "2m", "busybox", "df", "-k", "/dev/shm"});
  EXPECT_NE(shm.find(" 2048 "), std::string::npos) << shm;
  EXPECT_EQ(ok({"run", "--rm", "--sysctl", "net.ipv4.ip_forward=1", "busybox", "cat", "/proc/sys/net/ipv4/ip_forward"}), "1");
  // (ip_forward itself starts as the host's in a new namespace: a per-namespace value with
  // a fixed default shows that --sysctl is what changed it.)
  EXPECT_EQ(ok({"run", "--rm", "--sysctl", "net.ipv4.ip_unprivileged_port_start=99", "busybox", "cat",
                "/proc/sys/net/ipv4/ip_unprivileged_port_start"}), "99");
  EXPECT_EQ(ok({"run", "--rm", "busybox", "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"}), "1024");
  Output host_net = berth({"run", "--rm", "--network", "host", "--sysctl", "net.ipv4.ip_forward=1", "busybox", "true"});
  EXPECT_EQ(host_net.code, 125);
  EXPECT_NE(host_net.err.find("not allowed in host network namespace"), std::string::npos) << host_net.err;
  EXPECT_EQ(berth({"run", "--rm", "--sysctl", "kernel.hostname=x", "busybox", "true"}).code, 125);
  EXPECT_EQ(ok({"run", "--rm", "--device", "/dev/zero:/dev/myzero", "busybox", "sh", "-c", "head -c 5 /dev/myzero | wc -c"}), "5");
  EXPECT_EQ(berth({"run", "--rm", "--device", "/no/such/device", "busybox", "true"}).code, 125);
  EXPECT_TRUE(all_container_ids().empty());
}

TEST_F(RunFlags, InitIsPidOneAndReapsOrphans) {
  EXPECT_EQ(ok({"run", "--rm", "--init", "busybox", "cat", "/proc/1/comm"}), "berth-init");
  // Its command line says what it is, not the host's berth invocation (paths, config).
  std::string cmdline = ok({"run", "--rm", "--init", "busybox", "sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline"});
  EXPECT_EQ(trim(cmdline), "/sbin/berth-init");
  // An orphan whose parent exits is re-parented to PID 1: sleep as PID 1 never reaps it,
  // the init does.
  std::string orphan = "(sleep 0.1 &); exec sleep 30";
  std::string plain = ok({"run", "-d", "busybox", "sh", "-c", orphan});
  std::string with_init = ok({"run", "-d", "--init", "busybox", "sh", "-c", orphan});
  usleep(600000);
  EXPECT_NE(ok({"exec", plain, "ps", "-o", "stat"}).find("Z"), std::string::npos) << "expected a zombie without --init";
  EXPECT_EQ(ok({"exec", with_init, "ps", "-o", "stat"}).find("Z"), std::string::npos) << "the init left a zombie";
  // Signals reach the program through the init; the exit code is the program's.
  std::string trapped = ok({"run", "-d", "--init", "busybox", "sh", "-c", "trap 'exit 6' TERM; while true; do sleep 0.1; done"});
  usleep(300000);
  ok({"stop", trapped});
  EXPECT_EQ(trim(berth({"inspect", "-f", "{{.State.ExitCode}}", trapped}).out), "6");
}

TEST_F(RunFlags, StopSignalAndStopTimeout) {
  std::string id = ok({"run", "-d", "--stop-signal", "USR1", "busybox", "sh", "-c",
                       "trap 'echo got-usr1; exit 9' USR1; while true; do sleep 0.1; done"});
  usleep(300000);
  ok({"stop", id});
  EXPECT_EQ(trim(berth({"inspect", "-f", "{{.State.ExitCode}} {{.Config.StopSignal}}", id}).out), "9 USR1");
  EXPECT_EQ(ok({"logs", id}), "got-usr1");
  // --stop-timeout 1: PID 1 ignores SIGTERM, so stop kills it after a second (137).
  std::string slow = ok({"run", "-d", "--stop-timeout", "1", "busybox", "sleep", "60"});
  ok({"stop", slow});
  EXPECT_EQ(trim(berth({"inspect", "-f", "{{.State.ExitCode}} {{.Config.StopTimeout}}", slow}).out), "137 1");
  EXPECT_EQ(berth({"run", "--stop-signal", "SIGNOPE", "busybox", "true"}).code, 125);
}

TEST_F(RunFlags, EnvFileAndCidfile) {
  std::string envf = root_ + "/env.list";
  std::ofstream(envf) << "# a comment\nA=1\n\nB=two words\nC=from-file\n";
  EXPECT_EQ(ok({"run", "--rm", "--env-file", envf, "-e", "C=from-flag", "busybox", "sh", "-c", "echo $A/$B/$C"}),
            "1/two words/from-flag");
  EXPECT_EQ(berth({"run", "--rm", "--env-file", root_ + "/missing", "busybox", "true"}).code, 125);
  std::string cid = root_ + "/cid";
  std::string id = ok({"run", "-d", "--cidfile", cid, "busybox", "true"});
  EXPECT_EQ(read_file(cid), id);
  Output again = berth({"create", "--cidfile", cid, "busybox", "true"});
  EXPECT_EQ(again.code, 125);
  EXPECT_NE(again.err.find("Container ID file found"), std::string::npos) << again.err;
  EXPECT_EQ(all_container_ids().size(), 1u);
}

TEST_F(RunFlags, UsersResolveAsRuncResolvesThem) {
  // A uid the image's passwd lists gets that entry's group; one it does not, group 0.
  EXPECT_EQ(ok({"run", "--rm", "-u", "65534", "busybox", "id"}), "uid=65534(nobody) gid=65534(nogroup)");
  EXPECT_EQ(ok({"run", "--rm", "-u", "4321", "busybox", "id"}), "uid=4321 gid=0(root)");
  // Supplementary groups: those that list the user as a member.
  std::string passwd = root_ + "/passwd", group = root_ + "/group";
  std::ofstream(passwd) << "root:x:0:0:root:/root:/bin/sh\napp:x:1500:1500::/home/app:/bin/sh\n";
  std::ofstream(group) << "root:x:0:\napp:x:1500:\naudio:x:29:app\nvideo:x:44:other,app\nstaff:x:50:other\n";
  std::string ids = ok({"run", "--rm", "-v", passwd + ":/etc/passwd:ro", "-v", group + ":/etc/group:ro", "-u", "app",
                        "busybox", "id", "-G"});
  EXPECT_EQ(split_fields(ids), (std::vector<std::string>{"1500", "29", "44"})) << ids;
  // An explicit group replaces the primary one.
  EXPECT_EQ(ok({"run", "--rm", "-v", passwd + ":/etc/passwd:ro", "-v", group + ":/etc/group:ro", "-u", "app:staff",
                "busybox", "id", "-g"}),
            "50");
}

TEST_F(RunFlags, DevicesCgroupAllowsOnlyDockersDefaultsAndGivenDevices) {
  // CAP_MKNOD is in the default set: a node can be made, but not opened (the devices
  // cgroup), so /dev/sda-like nodes give a container nothing.
  Output made = berth({"run", "--rm", "busybox", "sh", "-c", "mknod /tmp/f c 10 229 && echo made; : < /tmp/f && echo opened"});
  EXPECT_EQ(made.out, "made\n");
  EXPECT_NE(made.err.find("Operation not permitted"), std::string::npos) << made.err;
  // The standard devices work.
  EXPECT_EQ(ok({"run", "--rm", "busybox", "sh", "-c", "echo x > /dev/null && head -c 1 /dev/zero | wc -c"}), "1");
  // --device allows that device, with its permissions.
  EXPECT_EQ(ok({"run", "--rm", "--device", "/dev/fuse", "busybox", "sh", "-c", ": < /dev/fuse && echo opened"}), "opened");
  Output ro = berth({"run", "--rm", "--device", "/dev/fuse:/dev/myfuse:r", "busybox", "sh", "-c",
                     ": < /dev/myfuse && echo read; : > /dev/myfuse && echo written"});
  EXPECT_EQ(ro.out, "read\n");
  // --privileged allows every device.
  EXPECT_EQ(ok({"run", "--rm", "--privileged", "busybox", "sh", "-c", "mknod /tmp/f c 10 229 && : < /tmp/f && echo opened"}),
            "opened");
}

}  // namespace
}  // namespace berth::it
