// diff, commit and history on real containers (overlay snapshots).

#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace berth::it {
namespace {

using nlohmann::json;

class Commits : public BerthTest {
 protected:
  void SetUp() override {
    BerthTest::SetUp();
    import_busybox();
  }
  void TearDown() override {
    for (const auto& id : all_container_ids()) berth({"rm", "-f", id});
    BerthTest::TearDown();
  }
};

TEST_F(Commits, DiffListsAddedChangedAndDeleted) {
  std::string c = ok({"run", "-d", "busybox", "sh", "-c",
                      "echo hi > /tmp/new && rm /bin/ls && mkdir -p /etc/app && echo x > /etc/app/conf && "
                      "rm -rf /home && mkdir /home && touch /home/fresh && sleep 60"});
  // (Running: diff and commit read the snapshot without stopping the container.)
  for (int i = 0; i < 100 && berth({"exec", c, "test", "-f", "/home/fresh"}).code != 0; ++i) usleep(20'000);
  EXPECT_EQ(ok({"diff", c}), "C /bin\nD /bin/ls\nC /etc\nA /etc/app\nA /etc/app/conf\nC /home\nA /home/fresh\nC /tmp\nA /tmp/new");
  // Nothing changed: nothing listed (the engine's /etc/hosts and friends are not changes).
  std::string idle = ok({"create", "busybox", "true"});
  ok({"start", "-a", idle});
  EXPECT_EQ(ok({"diff", idle}), "");
  Output none = berth({"diff", "nosuch" + random_suffix()});
  EXPECT_EQ(none.code, 1);
  EXPECT_NE(none.err.find("No such container"), std::string::npos) << none.err;
}

TEST_F(Commits, CommitMakesALayerAndHistoryShowsIt) {
  std::string snaps = snapshot_count();
  std::string c = ok({"run", "-d", "busybox", "sh", "-c", "echo data > /data.txt && rm /bin/ls && sleep 60"});
  for (int i = 0; i < 100 && berth({"exec", c, "test", "-f", "/data.txt"}).code != 0; ++i) usleep(20'000);
  std::string ref = "committed/" + unique("img") + ":1";
  std::string id = ok({"commit", "-a", "Tester <t@example.com>", "-m", "added data", "-c", "ENV COLOUR=blue", "-c",
                       "CMD [\"cat\", \"/data.txt\"]", c, ref});
  EXPECT_EQ(id.rfind("sha256:", 0), 0u) << id;
  // The container ran on meanwhile (it was paused only for the copy).
  EXPECT_EQ(json::parse(ok({"inspect", c}))[0]["State"]["Status"], "running");
  // The new image: the change, the deletion, the config; a container of it has no diff.
  EXPECT_EQ(ok({"run", "--rm", ref}), "data");
  EXPECT_NE(berth({"run", "--rm", ref, "ls", "/"}).code, 0);
  EXPECT_EQ(ok({"run", "--rm", ref, "sh", "-c", "echo $COLOUR"}), "blue");
  json img = json::parse(ok({"image", "inspect", ref}))[0];
  EXPECT_EQ(img["Author"], "Tester <t@example.com>");
  EXPECT_EQ(img["RootFS"]["Layers"].size(), 2u);
  std::string again = ok({"create", ref});
  EXPECT_EQ(ok({"diff", again}), "");
  // history: newest first, the new layer's size and comment; the base as <missing>.
  auto rows = lines(ok({"history", ref}));
  ASSERT_EQ(rows.size(), 3u) << ok({"history", ref});
  EXPECT_EQ(split_fields(rows[0]), (std::vector<std::string>{"IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"}));
  EXPECT_EQ(rows[1].rfind(id.substr(7, 12), 0), 0u) << rows[1];
  EXPECT_NE(rows[1].find("sh -c echo data > /data.txt && rm /bin/ls &&…"), std::string::npos) << rows[1];
  EXPECT_NE(rows[1].find("added data"), std::string::npos) << rows[1];
  EXPECT_EQ(rows[2].rfind("<missing>", 0), 0u) << rows[2];
  EXPECT_NE(ok({"history", "--no-trunc", ref}).find("sh -c echo data > /data.txt && rm /bin/ls && sleep 60"), std::string::npos);
  EXPECT_EQ(ok({"history", "-q", ref}), id.substr(7, 12));
  Output bad = berth({"commit", "-c", "FROBNICATE x", c, "x:1"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("FROBNICATE"), std::string::npos) << bad.err;
  ok({"rm", "-f", c, again});
  // The base is the new image's parent: its last name goes, the image stays; by id it is
  // refused, naming why; once the child is gone it can go.
  std::string base = json::parse(ok({"image", "inspect", "busybox"}))[0]["Id"];
  EXPECT_EQ(img["Parent"], base);
  EXPECT_EQ(ok({"rmi", "busybox"}), "Untagged: busybox:latest");
  Output refused = berth({"rmi", "-f", base});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.err.find("conflict: unable to delete " + base.substr(7, 12) + " (cannot be forced) - image has dependent child images"),
            std::string::npos) << refused.err;
  // The child's removal takes its untagged parent with it, as Docker's rmi does.
  EXPECT_NE(ok({"rmi", ref}).find("Deleted: " + base), std::string::npos);
  EXPECT_EQ(snapshot_count(), "0");
  import_busybox();
  EXPECT_EQ(snapshot_count(), snaps);
}

TEST_F(Commits, CpBothWaysOnRunningAndStoppedContainers) {
  std::string h = root_ + "/host";
  exec({"mkdir", "-p", h + "/in/sub", h + "/dest"});
  write_file(h + "/in/a", "one\n");
  write_file(h + "/in/sub/b", "two\n");
  std::string c = ok({"run", "-d", "--name", unique("cp"), "busybox", "sleep", "60"});
  // Host -> container: a directory into an existing one, a file under a new name.
  ok({"cp", h + "/in", c + ":/tmp/"});
  EXPECT_EQ(ok({"exec", c, "cat", "/tmp/in/a", "/tmp/in/sub/b"}), "one\ntwo");
  ok({"cp", h + "/in/a", c + ":/etc/renamed"});
  EXPECT_EQ(ok({"exec", c, "cat", "/etc/renamed"}), "one");
  EXPECT_EQ(ok({"exec", c, "stat", "-c", "%u:%g", "/etc/renamed"}), "0:0");
  // A tar stream on stdin, into a directory.
  Output tarred = exec({"sh", "-c", "tar -C " + h + "/in -cf - a | " + std::string(kBerth) + " --config " + config_ + " cp - " + c + ":/root"});
  EXPECT_EQ(tarred.code, 0) << tarred.err;
  EXPECT_EQ(ok({"exec", c, "cat", "/root/a"}), "one");
  // Container -> host: a file into a directory, a directory to a new name, contents with /.
  ok({"cp", c + ":/etc/passwd", h + "/dest"});
  EXPECT_EQ(read_file(h + "/dest/passwd").rfind("root:x:0:0:", 0), 0u);
  ok({"cp", c + ":/tmp/in", h + "/copy"});
  EXPECT_EQ(read_file(h + "/copy/sub/b"), "two\n");
  exec({"mkdir", "-p", h + "/flat"});
  ok({"cp", c + ":/tmp/in/.", h + "/flat"});
  EXPECT_EQ(read_file(h + "/flat/a"), "one\n");
  EXPECT_FALSE(exists(h + "/flat/in"));
  // To stdout: a tar stream named after the source.
  Output out = exec({"sh", "-c", std::string(kBerth) + " --config " + config_ + " cp " + c + ":/tmp/in - | tar tf - | sort"});
  EXPECT_EQ(trim(out.out), "in/\nin/a\nin/sub/\nin/sub/b");
  // Stopped: the root snapshot, both ways.
  ok({"stop", "-t", "0", c});
  ok({"cp", c + ":/tmp/in/sub/b", h + "/from-stopped"});
  EXPECT_EQ(read_file(h + "/from-stopped"), "two\n");
  ok({"cp", h + "/in/a", c + ":/tmp/while-stopped"});
  ok({"start", c});
  EXPECT_EQ(ok({"exec", c, "cat", "/tmp/while-stopped"}), "one");
  // Errors, each naming what is wrong.
  Output missing = berth({"cp", c + ":/nope", h});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("Could not find the file /nope in container"), std::string::npos) << missing.err;
  Output dir_to_file = berth({"cp", c + ":/tmp/in", h + "/dest/passwd"});
  EXPECT_NE(dir_to_file.err.find("cannot copy a directory to a file"), std::string::npos) << dir_to_file.err;
  Output no_parent = berth({"cp", h + "/in/a", c + ":/no/such/dir/x"});
  EXPECT_NE(no_parent.err.find("no such directory"), std::string::npos) << no_parent.err;
  Output two_local = berth({"cp", h + "/in", h + "/x"});
  EXPECT_NE(two_local.err.find("must specify at least one container source"), std::string::npos) << two_local.err;
  // What a container hands the host carries no device node and no set-id bit.
  ok({"exec", c, "sh", "-c", "mkdir /tmp/evil && mknod /tmp/evil/disk b 8 0 && cp /bin/busybox /tmp/evil/suid && chmod 4755 /tmp/evil/suid"});
  ok({"cp", c + ":/tmp/evil", h + "/evil"});
  EXPECT_FALSE(exists(h + "/evil/disk"));
  EXPECT_EQ(trim(exec({"stat", "-c", "%a", h + "/evil/suid"}).out), "755");
  // The copies are the container's changes.
  EXPECT_NE(ok({"diff", c}).find("A /tmp/while-stopped"), std::string::npos);
}

// A stopped container's volumes and binds are there for cp, as in a run; a read-only one
// refuses writes; a symlink in the container never sends a bind out to a host path.
TEST_F(Commits, CpOnAStoppedContainerSeesItsVolumesAndBinds) {
  std::string h = root_ + "/host";
  std::string vol = unique("cpvol");
  exec({"mkdir", "-p", h + "/bind", h + "/robind"});
  write_file(h + "/bind/from-host", "bound\n");
  write_file(h + "/a", "into the volume\n");
  std::string c = ok({"create", "--name", unique("cpv"), "-v", vol + ":/data", "-v", h + "/bind:/mnt/b", "-v",
                      h + "/robind:/ro:ro", "busybox", "true"});
  ok({"cp", h + "/a", c + ":/data/a"});
  ok({"cp", c + ":/mnt/b/from-host", h + "/out"});
  EXPECT_EQ(read_file(h + "/out"), "bound\n");
  ok({"cp", h + "/a", c + ":/mnt/b/written"});
  EXPECT_EQ(read_file(h + "/bind/written"), "into the volume\n");
  Output ro = berth({"cp", h + "/a", c + ":/ro/x"});
  EXPECT_EQ(ro.code, 1);
  EXPECT_NE(ro.err.find("mounted volume is marked read-only"), std::string::npos) << ro.err;
  EXPECT_FALSE(exists(h + "/robind/x"));
  EXPECT_EQ(ok({"run", "--rm", "-v", vol + ":/v", "busybox", "cat", "/v/a"}), "into the volume");
  // An image whose /data is a symlink to an absolute host-looking path: the volume lands
  // inside the container, and nothing is made on the host.
  std::string outside = root_ + "/outside-" + random_suffix();
  std::string l = unique("cplink");
  ok({"run", "--name", l, "busybox", "ln", "-s", outside, "/link"});
  ok({"commit", l, "cplink/img:" + l});
  ok({"rm", l});
  // (Run once: the run makes the mount point inside the root, as it resolves the link.)
  std::string c2 = ok({"run", "-d", "-v", vol + ":/link/deeper", "cplink/img:" + l, "true"});
  ok({"wait", c2});
  ok({"cp", h + "/a", c2 + ":/etc/copied"});
  EXPECT_FALSE(exists(outside)) << "cp followed the container's symlink onto the host";
  ok({"rm", c, c2});
  ok({"rmi", "cplink/img:" + l});
  ok({"volume", "rm", vol});
}

}  // namespace
}  // namespace berth::it
