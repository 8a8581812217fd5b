// Named volumes through the `local` driver (plugins/volume-local), with real containers.

#include <unistd.h>

#include <set>

#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace berth::it {
namespace {

using nlohmann::json;

class Volumes : public BerthTest {
 protected:
  void SetUp() override {
    BerthTest::SetUp();
    import_busybox();
  }
  void TearDown() override {
    for (const auto& id : all_container_ids()) berth({"rm", "-f", id});
    Output pruned = berth({"volume", "prune", "-f"});
    EXPECT_EQ(pruned.code, 0) << pruned.err;
    EXPECT_EQ(ok({"volume", "ls", "-q"}), "") << "volumes left";
    BerthTest::TearDown();
  }
};

TEST_F(Volumes, CreateListInspectAndRemove) {
  std::string name = unique("vol");
  EXPECT_EQ(ok({"volume", "create", "--label", "team=blue", name}), name);
  auto rows = lines(ok({"volume", "ls"}));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(split_fields(rows[0]), (std::vector<std::string>{"DRIVER", "VOLUME", "NAME"}));
  EXPECT_EQ(split_fields(rows[1]), (std::vector<std::string>{"local", name}));
  json v = json::parse(ok({"volume", "inspect", name}))[0];
  EXPECT_EQ(v["Name"], name);
  EXPECT_EQ(v["Driver"], "local");
  EXPECT_EQ(v["Scope"], "local");
  EXPECT_EQ(v["Labels"]["team"], "blue");
  EXPECT_EQ(v["Mountpoint"], state_ + "/volumes/" + name + "/_data");
  EXPECT_FALSE(v["CreatedAt"].get<std::string>().empty());
  EXPECT_TRUE(v["Options"].empty());
  EXPECT_EQ(ok({"volume", "ls", "--filter", "label=team=blue", "-q"}), name);
  EXPECT_EQ(ok({"volume", "ls", "--filter", "name=nomatch", "-q"}), "");
  // A random name when none is given.
  std::string anon = ok({"volume", "create"});
  EXPECT_EQ(anon.size(), 64u);
  EXPECT_EQ(ok({"volume", "rm", name, anon}), name + "\n" + anon);
  EXPECT_FALSE(exists(state_ + "/volumes/" + name));
  Output gone = berth({"volume", "inspect", name});
  EXPECT_EQ(gone.code, 1);
  EXPECT_NE(gone.err.find("no such volume"), std::string::npos) << gone.err;
  // Bad names and options make nothing.
  Output bad_opt = berth({"volume", "create", "-o", "colour=red", unique("vol")});
  EXPECT_EQ(bad_opt.code, 1);
  EXPECT_NE(bad_opt.err.find("colour"), std::string::npos) << bad_opt.err;
  Output bad_name = berth({"volume", "create", "bad/name"});
  EXPECT_EQ(bad_name.code, 1);
  EXPECT_EQ(ok({"volume", "ls", "-q"}), "");
}

TEST_F(Volumes, DataOutlivesContainersAndVolumesInUseStay) {
  std::string name = unique("data");
  // -v NAME:/path makes the volume on first use.
  ok({"run", "--rm", "-v", name + ":/data", "busybox", "sh", "-c", "echo kept > /data/file"});
  EXPECT_EQ(ok({"run", "--rm", "-v", name + ":/data:ro", "busybox", "cat", "/data/file"}), "kept");
  Output ro = berth({"run", "--rm", "-v", name + ":/data:ro", "busybox", "touch", "/data/x"});
  EXPECT_NE(ro.code, 0);
  std::string c = ok({"create", "--name", unique("user"), "-v", name + ":/data", "busybox", "true"});
  json m = json::parse(ok({"inspect", c}))[0]["Mounts"][0];
  EXPECT_EQ(m["Type"], "volume");
  EXPECT_EQ(m["Name"], name);
  EXPECT_EQ(m["Driver"], "local");
  EXPECT_EQ(m["Destination"], "/data");
  EXPECT_EQ(m["Source"], state_ + "/volumes/" + name + "/_data");
  // In use by a stopped container: refused, kept by prune, shown as not dangling.
  Output busy = berth({"volume", "rm", name});
  EXPECT_EQ(busy.code, 1);
  EXPECT_NE(busy.err.find("volume is in use"), std::string::npos) << busy.err;
  ok({"volume", "create", "spare-" + random_suffix()});
  EXPECT_EQ(ok({"volume", "ls", "-q", "--filter", "dangling=false"}), name);
  Output pruned = berth({"volume", "prune", "-f"});
  EXPECT_EQ(pruned.code, 0);
  EXPECT_EQ(pruned.out.find(name), std::string::npos) << pruned.out;
  EXPECT_EQ(ok({"volume", "ls", "-q"}), name);
  // rm of the container leaves the data.
  ok({"rm", c});
  EXPECT_EQ(read_file(state_ + "/volumes/" + name + "/_data/file"), "kept\n");
  EXPECT_EQ(ok({"volume", "rm", name}), name);
}

TEST_F(Volumes, LocalDriverOptionsTmpfsAndBind) {
  // tmpfs with a size: mounted while a container uses it, gone after.
  std::string t = unique("tmp");
  ok({"volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=2m", t});
  std::string c = ok({"run", "-d", "-v", t + ":/t", "busybox", "sleep", "60"});
  EXPECT_NE(ok({"exec", c, "df", "-k", "/t"}).find(" 2048 "), std::string::npos);
  EXPECT_EQ(mounts_containing(state_ + "/volumes/" + t + "/_data").size(), 1u);
  ok({"rm", "-f", c});
  EXPECT_TRUE(mounts_containing(state_ + "/volumes/" + t + "/_data").empty()) << "the tmpfs stayed mounted";
  json v = json::parse(ok({"volume", "inspect", t}))[0];
  EXPECT_EQ(v["Options"]["type"], "tmpfs");
  EXPECT_EQ(v["Options"]["o"], "size=2m");
  // o=bind of a host directory.
  std::string host_dir = root_ + "/bound";
  exec({"mkdir", "-p", host_dir});
  write_file(host_dir + "/hello", "from the host\n");
  std::string b = unique("bind");
  ok({"volume", "create", "-o", "type=none", "-o", "device=" + host_dir, "-o", "o=bind", b});
  EXPECT_EQ(ok({"run", "--rm", "-v", b + ":/in", "busybox", "cat", "/in/hello"}), "from the host");
  EXPECT_TRUE(mounts_containing(host_dir).empty());
  // Removing the volume never touches the directory it showed.
  EXPECT_EQ(ok({"volume", "rm", b}), b);
  EXPECT_EQ(read_file(host_dir + "/hello"), "from the host\n");
}


TEST_F(Volumes, AnonymousVolumesFromFlagsAndTheImage) {
  ok({"import", "--change", "VOLUME [\"/var/data\"]", "--change", "CMD [\"sh\"]", kBusyboxTar, "withvol:1"});
  std::string named = unique("named");
  std::string c = ok({"create", "-v", "/scratch", "-v", named + ":/keep", "withvol:1", "true"});
  json mounts = json::parse(ok({"inspect", c}))[0]["Mounts"];
  ASSERT_EQ(mounts.size(), 3u) << mounts.dump();
  std::set<std::string> anon;
  for (const auto& m : mounts) {
    EXPECT_EQ(m["Type"], "volume");
    EXPECT_EQ(m["Driver"], "local");
    EXPECT_EQ(m["RW"], true);
    if (m["Destination"] == "/keep") {
      EXPECT_EQ(m["Name"], named);
    } else {
      std::string n = m["Name"];
      EXPECT_EQ(n.size(), 64u);
      EXPECT_EQ(n.find_first_not_of("0123456789abcdef"), std::string::npos);
      EXPECT_EQ(m["Source"], state_ + "/volumes/" + n + "/_data");
      anon.insert(n);
    }
  }
  ASSERT_EQ(anon.size(), 2u);
  std::set<std::string> dests;
  for (const auto& m : mounts) dests.insert(m["Destination"].get<std::string>());
  EXPECT_EQ(dests, (std::set<std::string>{"/scratch", "/keep", "/var/data"}));
  EXPECT_EQ(lines(ok({"volume", "ls", "-q"})).size(), 3u);
  // rm -v takes the anonymous volumes, never the named one.
  ok({"rm", "-v", c});
  EXPECT_EQ(ok({"volume", "ls", "-q"}), named);
  // Without -v they stay (as Docker's); --rm takes them.
  std::string kept = ok({"create", "-v", "/scratch", "busybox", "true"});
  ok({"rm", kept});
  EXPECT_EQ(lines(ok({"volume", "ls", "-q"})).size(), 2u);
  ok({"volume", "prune", "-f"});
  ok({"run", "--rm", "-v", "/tmpdata", "busybox", "sh", "-c", "echo x > /tmpdata/f"});
  EXPECT_EQ(ok({"volume", "ls", "-q"}), "");
  // A run that fails leaves no anonymous volume behind.
  Output failed = berth({"run", "-v", "/scratch", "busybox", "/no/such/program"});
  EXPECT_EQ(failed.code, 127);
  EXPECT_EQ(ok({"volume", "ls", "-q"}), "");
}

TEST_F(Volumes, TmpfsMountsAndVolumeModes) {
  std::string out = ok({"run", "--rm", "--tmpfs", "/run:size=1m,mode=1770", "--tmpfs", "/cache", "busybox", "sh", "-c",
                        "df -k /run | tail -1 | awk '{print $2}'; stat -c %a /run; grep ' /cache ' /proc/mounts | cut -d' ' -f3,4"});
  auto l = lines(out);
  ASSERT_EQ(l.size(), 3u) << out;
  EXPECT_EQ(l[0], "1024");
  EXPECT_EQ(l[1], "1770");
  EXPECT_EQ(l[2].substr(0, 6), "tmpfs ");
  EXPECT_NE(l[2].find("nosuid"), std::string::npos) << l[2];
  EXPECT_NE(l[2].find("noexec"), std::string::npos) << l[2];
  // ro, and exec when asked.
  Output ro = berth({"run", "--rm", "--tmpfs", "/t:ro", "busybox", "touch", "/t/x"});
  EXPECT_NE(ro.code, 0);
  EXPECT_NE(ok({"run", "--rm", "--tmpfs", "/t:exec", "busybox", "grep", " /t ", "/proc/mounts"}).find("noexec"), 0u);
  EXPECT_EQ(ok({"run", "--rm", "--tmpfs", "/t:exec", "busybox", "sh", "-c", "grep ' /t ' /proc/mounts | grep -c noexec || true"}), "0");
  // Nothing of it outlives the container, and it shows in HostConfig.Tmpfs.
  std::string c = ok({"create", "--tmpfs", "/run:size=1m", "busybox", "true"});
  EXPECT_EQ(ok({"inspect", "-f", "{{json .HostConfig.Tmpfs}}", c}), "{\"/run\":\"size=1m\"}");
  // Bad specs: refused, nothing made.
  size_t before = all_container_ids().size();
  for (std::string bad : {"relative", "/x:bogus=1", "/x:weird"}) {
    Output o = berth({"run", "--rm", "--tmpfs", bad, "busybox", "true"});
    EXPECT_EQ(o.code, 125) << bad;
  }
  Output dup = berth({"run", "--rm", "--tmpfs", "/d", "-v", "/d", "busybox", "true"});
  EXPECT_EQ(dup.code, 125);
  EXPECT_NE(dup.err.find("Duplicate mount point"), std::string::npos) << dup.err;
  EXPECT_EQ(all_container_ids().size(), before);
  // -v modes: rw and ro on a named volume.
  std::string v = unique("modes");
  ok({"run", "--rm", "-v", v + ":/m:rw", "busybox", "sh", "-c", "echo w > /m/f"});
  Output ro_v = berth({"run", "--rm", "-v", v + ":/m:ro", "busybox", "sh", "-c", "cat /m/f && echo x > /m/g"});
  EXPECT_NE(ro_v.code, 0);
  EXPECT_EQ(ro_v.out, "w\n");
}

TEST_F(Volumes, MountFlagForVolumesBindsAndTmpfs) {
  std::string v = unique("mnt");
  std::string host_dir = root_ + "/src";
  exec({"mkdir", "-p", host_dir});
  write_file(host_dir + "/in", "bound\n");
  std::string out = ok({"run", "--rm",
                        "--mount", "type=volume,source=" + v + ",target=/vol,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=1m",
                        "--mount", "type=bind,src=" + host_dir + ",dst=/b,readonly",
                        "--mount", "type=tmpfs,destination=/t,tmpfs-size=2m,tmpfs-mode=1700",
                        "busybox", "sh", "-c",
                        "df -k /vol | tail -1 | awk '{print $2}'; cat /b/in; touch /b/x 2>/dev/null || echo ro; "
                        "df -k /t | tail -1 | awk '{print $2}'; stat -c %a /t"});
  EXPECT_EQ(out, "1024\nbound\nro\n2048\n1700");
  json vi = json::parse(ok({"volume", "inspect", v}))[0];
  EXPECT_EQ(vi["Options"]["type"], "tmpfs");
  // Anonymous with --mount (no source), removed with the --rm container.
  ok({"run", "--rm", "--mount", "target=/anon", "busybox", "true"});
  EXPECT_EQ(ok({"volume", "ls", "-q"}), v);
  // Errors, each naming what is wrong, and nothing made.
  struct Bad {
    std::string spec, needle;
  };
  for (const Bad& b : {Bad{"type=bind,source=/no/such/dir/" + random_suffix() + ",target=/x", "bind source path does not exist"},
                       Bad{"type=volume,source=" + v, "target is required"},
                       Bad{"type=volume,target=relative", "mount path must be absolute"},
                       Bad{"type=volume,target=/x,colour=red", "unexpected key 'colour'"},
                       Bad{"type=nfs,target=/x", "invalid type"},
                       Bad{"type=tmpfs,source=x,target=/x", "source is not allowed"}}) {
    Output o = berth({"run", "--rm", "--mount", b.spec, "busybox", "true"});
    EXPECT_EQ(o.code, 125) << b.spec;
    EXPECT_NE(o.err.find(b.needle), std::string::npos) << b.spec << ": " << o.err;
  }
  EXPECT_TRUE(all_container_ids().empty());
  EXPECT_EQ(ok({"volume", "ls", "-q"}), v);
  EXPECT_TRUE(mounts_containing(state_ + "/volumes").empty());
}

// bind-propagation: what is mounted under a bind travels as asked, and only then. This
// host's mounts are all private, so the test makes a shared mount of its own to bind from.
TEST_F(Volumes, BindPropagationSharedSlaveAndPrivate) {
  std::string src = root_ + "/shared";
  exec({"mkdir", "-p", src + "/sub", src + "/sub2"});
  ASSERT_EQ(exec({"mount", "--bind", src, src}).code, 0);
  struct Unmount {
    std::string path;
    ~Unmount() { exec({"umount", "-R", "-l", path}); }
  } unmount{src};
  ASSERT_EQ(exec({"mount", "--make-shared", src}).code, 0);
  auto mounted = [&](const std::string& p) { return exec({"mountpoint", "-q", p}).code == 0; };

  // rshared: a mount made in the container shows on the host (and stays after it).
  std::string c = ok({"run", "-d", "--privileged", "--mount", "type=bind,src=" + src + ",dst=/s,bind-propagation=rshared",
                      "busybox", "sh", "-c", "mount -t tmpfs t /s/sub && touch /s/sub/from-ctr && sleep 60"});
  for (int i = 0; i < 100 && !exists(src + "/sub/from-ctr"); ++i) usleep(50'000);
  EXPECT_TRUE(exists(src + "/sub/from-ctr"));
  EXPECT_EQ(json::parse(ok({"inspect", c}))[0]["Mounts"][0]["Propagation"], "rshared");
  ok({"rm", "-f", c});
  EXPECT_TRUE(mounted(src + "/sub"));
  ASSERT_EQ(exec({"umount", src + "/sub"}).code, 0);

  // rslave (-v mode): the host's new mount shows inside, the container's stays inside.
  c = ok({"run", "-d", "--privileged", "-v", src + ":/s:rslave", "busybox", "sleep", "60"});
  ASSERT_EQ(exec({"mount", "-t", "tmpfs", "h", src + "/sub"}).code, 0);
  write_file(src + "/sub/from-host", "x");
  EXPECT_EQ(ok({"exec", c, "ls", "/s/sub"}), "from-host");
  ok({"exec", c, "mount", "-t", "tmpfs", "t", "/s/sub2"});
  EXPECT_FALSE(mounted(src + "/sub2"));
  ok({"rm", "-f", c});
  ASSERT_EQ(exec({"umount", src + "/sub"}).code, 0);

  // The default, rprivate: the host's new mount stays out.
  c = ok({"run", "-d", "-v", src + ":/s", "busybox", "sleep", "60"});
  ASSERT_EQ(exec({"mount", "-t", "tmpfs", "h", src + "/sub"}).code, 0);
  write_file(src + "/sub/late", "x");
  EXPECT_EQ(ok({"exec", c, "ls", "/s/sub"}), "");
  EXPECT_EQ(json::parse(ok({"inspect", c}))[0]["Mounts"][0]["Propagation"], "rprivate");
  ok({"rm", "-f", c});
  ASSERT_EQ(exec({"umount", src + "/sub"}).code, 0);

  // Docker's refusals: a source on a private mount cannot be shared or a slave; propagation
  // is for binds only. Nothing is made.
  struct Bad {
    std::vector<std::string> flags;
    std::string needle;
  };
  for (const Bad& b : {Bad{{"--mount", "type=bind,src=" + root_ + ",dst=/x,bind-propagation=rshared"}, "is mounted on / but it is not a shared mount"},
                       Bad{{"-v", root_ + "/new:/x:slave"}, "is mounted on / but it is not a shared or slave mount"},
                       Bad{{"-v", unique("vol") + ":/x:rshared"}, "invalid mode: rshared"},
                       Bad{{"--mount", "type=volume,target=/x,bind-propagation=rshared"}, "cannot mix 'bind-*' options"},
                       Bad{{"--mount", "type=bind,src=" + src + ",dst=/x,bind-propagation=sideways"}, "invalid bind-propagation"}}) {
    std::vector<std::string> args = {"run", "--rm"};
    args.insert(args.end(), b.flags.begin(), b.flags.end());
    args.insert(args.end(), {"busybox", "true"});
    Output o = berth(args);
    EXPECT_EQ(o.code, 125) << b.flags.back();
    EXPECT_NE(o.err.find(b.needle), std::string::npos) << b.flags.back() << ": " << o.err;
  }
  EXPECT_FALSE(exists(root_ + "/new"));
  EXPECT_TRUE(all_container_ids().empty());
  EXPECT_EQ(ok({"volume", "ls", "-q"}), "");
}

TEST_F(Volumes, VolumesFromAndTheBackupScenario) {
  // The seed's scenario: a data container, and a backup through --volumes-from.
  std::string data = unique("dbdata");
  ok({"create", "-v", "/dbdata", "--name", data, "busybox", "true"});
  ok({"run", "--rm", "--volumes-from", data, "busybox", "sh", "-c", "echo row1 > /dbdata/table"});
  std::string backup = root_ + "/backup";
  exec({"mkdir", "-p", backup});
  ok({"run", "--rm", "--volumes-from", data, "-v", backup + ":/backup", "busybox", "tar", "cf", "/backup/backup.tar", "/dbdata"});
  EXPECT_NE(exec({"tar", "tf", backup + "/backup.tar"}).out.find("dbdata/table"), std::string::npos);
  // Several containers share them; :ro makes them read-only here.
  std::string a = ok({"run", "-d", "--volumes-from", data, "busybox", "sleep", "60"});
  std::string b = ok({"run", "-d", "--volumes-from", data + ":ro", "busybox", "sleep", "60"});
  ok({"exec", a, "sh", "-c", "echo row2 >> /dbdata/table"});
  EXPECT_EQ(ok({"exec", b, "cat", "/dbdata/table"}), "row1\nrow2");
  EXPECT_NE(berth({"exec", b, "sh", "-c", "echo x >> /dbdata/table"}).code, 0);
  json mb = json::parse(ok({"inspect", b}))[0];
  EXPECT_EQ(mb["HostConfig"]["VolumesFrom"][0], data + ":ro");
  EXPECT_EQ(mb["Mounts"][0]["RW"], false);
  EXPECT_EQ(mb["Mounts"][0]["Name"], json::parse(ok({"inspect", data}))[0]["Mounts"][0]["Name"]);
  // rm -v of a sharer keeps the volume while the others use it.
  ok({"rm", "-f", "-v", a, b});
  EXPECT_EQ(lines(ok({"volume", "ls", "-q"})).size(), 1u);
  Output missing = berth({"run", "--rm", "--volumes-from", "nosuch" + random_suffix(), "busybox", "true"});
  EXPECT_EQ(missing.code, 125);
  EXPECT_NE(missing.err.find("No such container"), std::string::npos) << missing.err;
}

TEST_F(Volumes, TheHostsDefaultDriverAndAnotherThroughTheSamePath) {
  // A third-party-style driver from a test plugin, made the host's default in the TOML.
  configure("[[plugins]]\npath = \"" + std::string(kTestPlugins) + "/test-volume.so\"\n[volumes]\ndefault_driver = \"testvol\"\n");
  std::string v = unique("tv");
  std::string c = ok({"run", "-d", "-v", v + ":/data", "busybox", "sh", "-c", "echo via-testvol > /data/f; sleep 60"});
  json m = json::parse(ok({"inspect", c}))[0]["Mounts"][0];
  EXPECT_EQ(m["Driver"], "testvol");
  std::string refs = state_ + "/plugins/volume.testvol/vols/" + v + "/refs";
  // The engine mounted it for this container, once.
  EXPECT_EQ(trim(exec({"ls", refs}).out), c);
  ok({"stop", "-t", "0", c});
  EXPECT_EQ(trim(exec({"ls", refs}).out), "") << "not unmounted at exit";
  EXPECT_EQ(read_file(state_ + "/plugins/volume.testvol/vols/" + v + "/data/f"), "via-testvol\n");
  // -d picks another driver; ls shows both, with their drivers.
  std::string l = unique("loc");
  ok({"volume", "create", "-d", "local", l});
  std::string t = unique("tag");
  ok({"volume", "create", "-o", "tag=x", t});
  EXPECT_EQ(ok({"volume", "ls", "--format", "{{.Driver}} {{.Name}}", "--filter", "driver=local"}), "local " + l);
  EXPECT_EQ(lines(ok({"volume", "ls", "--filter", "driver=testvol", "-q"})).size(), 2u);
  Output bad = berth({"volume", "create", "-o", "colour=red", unique("x")});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("testvol"), std::string::npos) << bad.err;
  ok({"rm", c});
}

TEST_F(Volumes, CopyUpFillsAnEmptyVolumeFromTheImage) {
  // An image whose /data holds files with their own owners and modes.
  std::string tree = root_ + "/tree";
  Output made = exec({"sh", "-c", "mkdir -p " + tree + " && tar -C " + tree + " -xf " + kBusyboxTar + " && mkdir -p " + tree +
                                     "/data/sub && echo seed > " + tree + "/data/sub/file && ln -s sub/file " + tree +
                                     "/data/link && chown -R 1000:1001 " + tree + "/data && chmod 0750 " + tree +
                                     "/data/sub && tar --numeric-owner -C " + tree + " -cf " + root_ + "/img.tar ."});
  ASSERT_EQ(made.code, 0) << made.err;
  ok({"import", root_ + "/img.tar", "seeded:1"});
  std::string v = unique("seed");
  EXPECT_EQ(ok({"run", "--rm", "-v", v + ":/data", "seeded:1", "cat", "/data/link"}), "seed");
  std::string data = state_ + "/volumes/" + v + "/_data";
  EXPECT_EQ(trim(exec({"stat", "-c", "%u:%g %a", data + "/sub"}).out), "1000:1001 750");
  EXPECT_EQ(trim(exec({"stat", "-c", "%u:%g", data + "/sub/file"}).out), "1000:1001");
  EXPECT_EQ(trim(exec({"readlink", data + "/link"}).out), "sub/file");
  // A volume with data keeps it: no second copy over it.
  write_file(data + "/sub/file", "changed\n");
  EXPECT_EQ(ok({"run", "--rm", "-v", v + ":/data", "seeded:1", "cat", "/data/sub/file"}), "changed");
  // nocopy (-v ...:nocopy, --mount volume-nocopy) leaves a new volume empty.
  std::string n1 = unique("nc"), n2 = unique("nc");
  EXPECT_EQ(ok({"run", "--rm", "-v", n1 + ":/data:nocopy", "seeded:1", "ls", "-A", "/data"}), "");
  EXPECT_EQ(ok({"run", "--rm", "--mount", "source=" + n2 + ",target=/data,volume-nocopy", "seeded:1", "ls", "-A", "/data"}), "");
  // Nothing of the image's root stays mounted on the host.
  EXPECT_TRUE(mounts_containing("berth-copyup").empty());
  EXPECT_EQ(trim(exec({"sh", "-c", "ls -d /tmp/berth-copyup-* 2>/dev/null | wc -l"}).out), "0");
}
}  // namespace
}  // namespace berth::it
