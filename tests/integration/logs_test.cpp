// logs: --since/--until, json-file rotation (--log-opt max-size/max-file), --log-driver none.

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace berth::it {
namespace {

class Logs : public BerthTest {
 protected:
  void SetUp() override {
    BerthTest::SetUp();
    import_busybox();
  }
  std::string log_path(const std::string& id) { return state_ + "/containers/" + id + "/" + id + "-json.log"; }
};

TEST_F(Logs, RotationKeepsMaxFileFilesOfMaxSizeAndLogsReadsThemInOrder) {
  std::string id = ok({"run", "-d", "--log-opt", "max-size=1k", "--log-opt", "max-file=3", "busybox", "sh", "-c",
                       "i=0; while [ $i -lt 100 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done"});
  ok({"wait", id});
  EXPECT_TRUE(exists(log_path(id) + ".1"));
  EXPECT_TRUE(exists(log_path(id) + ".2"));
  EXPECT_FALSE(exists(log_path(id) + ".3"));
  for (const auto& f : {log_path(id) + ".1", log_path(id) + ".2"}) {
    EXPECT_LE(read_file(f).size(), 1024u + 200u) << f;  // one line may cross the limit
  }
  auto all = lines(ok({"logs", id}));
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.back(), "line-99-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
  EXPECT_LT(all.size(), 100u) << "the oldest lines were rotated away";
  // Consecutive lines, oldest first, across the files.
  for (size_t i = 1; i < all.size(); ++i) {
    EXPECT_EQ(std::stoi(all[i].substr(5)), std::stoi(all[i - 1].substr(5)) + 1) << all[i - 1] << " / " << all[i];
  }
  EXPECT_EQ(ok({"logs", "--tail", "2", id}),
            "line-98-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\nline-99-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
  // Every rotated file is json-file lines.
  for (const auto& line : lines(read_file(log_path(id) + ".2"))) {
    EXPECT_FALSE(nlohmann::json::parse(line, nullptr, false).is_discarded()) << line;
  }
}

TEST_F(Logs, SinceAndUntilSelectByTime) {
  std::string id = ok({"run", "-d", "busybox", "sh", "-c", "echo early; sleep 1; echo late"});
  ok({"wait", id});
  auto stamped = lines(ok({"logs", "-t", id}));
  ASSERT_EQ(stamped.size(), 2u);
  std::string late_time = stamped[1].substr(0, stamped[1].find(' '));
  EXPECT_EQ(ok({"logs", "--since", late_time, id}), "late");
  EXPECT_EQ(ok({"logs", "--until", stamped[0].substr(0, stamped[0].find(' ')), id}), "early");
  EXPECT_EQ(ok({"logs", "--since", "1h", id}), "early\nlate");
  EXPECT_EQ(ok({"logs", "--until", "1h", id}), "");
  Output bad = berth({"logs", "--since", "yesterday-ish", id});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("yesterday-ish"), std::string::npos) << bad.err;
}

TEST_F(Logs, TheNoneDriverKeepsNothingAndBadOptionsAreRefused) {
  std::string id = ok({"run", "-d", "--log-driver", "none", "busybox", "echo", "unseen"});
  ok({"wait", id});
  EXPECT_FALSE(exists(log_path(id)));
  Output o = berth({"logs", id});
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.err.find("configured logging driver does not support reading"), std::string::npos) << o.err;
  // A foreground run still shows the output.
  EXPECT_EQ(ok({"run", "--rm", "--log-driver", "none", "busybox", "echo", "shown"}), "shown");
  for (const auto& flags : std::vector<std::vector<std::string>>{{"--log-driver", "syslog"},
                                                                 {"--log-opt", "colour=red"},
                                                                 {"--log-opt", "max-size=lots"},
                                                                 {"--log-opt", "max-file=0"},
                                                                 {"--log-driver", "none", "--log-opt", "max-size=1m"}}) {
    std::vector<std::string> args = {"run", "--rm"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.insert(args.end(), {"busybox", "true"});
    EXPECT_EQ(berth(args).code, 125) << flags[1];
  }
  EXPECT_EQ(all_container_ids().size(), 1u);
}

}  // namespace
}  // namespace berth::it
