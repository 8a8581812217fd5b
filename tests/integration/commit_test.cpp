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
  ok({"rmi", ref});
  EXPECT_EQ(snapshot_count(), snaps);
}

}  // namespace
}  // namespace berth::it
