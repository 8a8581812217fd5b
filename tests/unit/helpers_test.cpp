// Small pieces with exact expected outputs: references, options, log format, time and size
// formatting, tables.

#include <gtest/gtest.h>

#include "berth/sdk/options.hpp"
#include "cli/cli.hpp"
#include "images/image_store.hpp"
#include "images/reference.hpp"
#include "monitor/json_log.hpp"
#include "util/util.hpp"

namespace berth {
namespace {

TEST(Reference, NormalisesLikeDocker) {
  auto r = images::parse_reference("busybox");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->full(), "docker.io/library/busybox:latest");
  EXPECT_EQ(r->familiar(), "busybox:latest");
  EXPECT_EQ(images::parse_reference("acme/tool:1.2")->full(), "docker.io/acme/tool:1.2");
  EXPECT_EQ(images::parse_reference("localhost:5000/x")->full(), "localhost:5000/x:latest");
  EXPECT_EQ(images::parse_reference("localhost:5000/x")->familiar_name(), "localhost:5000/x");
  EXPECT_EQ(images::familiar_of("docker.io/library/busybox:1"), "busybox:1");
  EXPECT_FALSE(images::parse_reference("UPPER"));
  EXPECT_FALSE(images::parse_reference("a:b:c"));
  EXPECT_FALSE(images::parse_reference(""));
}

TEST(Options, ReaderValidatesAndNamesUnknownKeys) {
  sdk::Options o{{"mtu", "1400"}, {"hairpin", "true"}, {"mode", "bridge"}, {"typo", "1"}};
  sdk::OptionReader r(o, "driver 'x'");
  EXPECT_EQ(*r.get_int("mtu", 1500, 68, 65535), 1400);
  EXPECT_EQ(*r.get_bool("hairpin", false), true);
  EXPECT_EQ(*r.get_enum("mode", "bridge", {"bridge", "vepa"}), "bridge");
  Status s = r.finish();
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().what().find("typo"), std::string::npos) << s.error().what();
  sdk::Options bad{{"mtu", "12"}};
  sdk::OptionReader rb(bad, "driver 'x'");
  auto mtu = rb.get_int("mtu", 1500, 68, 65535);
  ASSERT_FALSE(mtu);
  EXPECT_NE(mtu.error().what().find("mtu"), std::string::npos);
}

TEST(JsonLog, WritesDockerJsonFileLines) {
  char path[] = "/tmp/berth-jsonlog-XXXXXX";
  int fd = mkstemp(path);
  {
    monitor::JsonLogWriter w(fd);
    w.write(1, "hel");
    w.write(1, "lo\n");
    w.write(2, "err\n");
    w.write(1, std::string(20000, 'x') + "\n");
    w.write(1, "tail");
    w.flush();
  }
  close(fd);
  FILE* f = fopen(path, "r");
  std::vector<monitor::LogEntry> entries;
  char* line = nullptr;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    monitor::LogEntry e;
    ASSERT_TRUE(monitor::parse_log_line(line, &e)) << line;
    entries.push_back(e);
  }
  free(line);
  fclose(f);
  unlink(path);
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_EQ(entries[0].log, "hello\n");
  EXPECT_EQ(entries[0].stream, "stdout");
  EXPECT_EQ(entries[1].log, "err\n");
  EXPECT_EQ(entries[1].stream, "stderr");
  // A long line is split in 16 KiB pieces; only the last carries the newline.
  EXPECT_TRUE(entries[2].log == std::string(16384, 'x')) << entries[2].log.size();
  EXPECT_TRUE(entries[3].log == std::string(20000 - 16384, 'x') + "\n") << entries[3].log.size();
  EXPECT_EQ(entries[4].log, "tail");
  EXPECT_EQ(entries[0].time.size(), 30u);
}

TEST(Util, HumanDurationAndSizeMatchGoUnits) {
  EXPECT_EQ(util::human_duration(0), "Less than a second");
  EXPECT_EQ(util::human_duration(1), "1 second");
  EXPECT_EQ(util::human_duration(45), "45 seconds");
  EXPECT_EQ(util::human_duration(60), "About a minute");
  EXPECT_EQ(util::human_duration(46 * 60), "46 minutes");
  EXPECT_EQ(util::human_duration(3600), "About an hour");
  EXPECT_EQ(util::human_duration(5 * 3600), "5 hours");
  EXPECT_EQ(util::human_duration(3 * 86400), "3 days");
  EXPECT_EQ(util::human_size(512), "512B");
  EXPECT_EQ(util::human_size(1981000), "1.98MB");
  EXPECT_EQ(util::human_size(4260000), "4.26MB");
  EXPECT_EQ(util::human_size(1200000000), "1.2GB");
  EXPECT_EQ(util::rfc3339_nano(1), "1970-01-01T00:00:00.000000001Z");
}

TEST(Cli, EllipsisAndTableMatchDockerFormatting) {
  EXPECT_EQ(cli::ellipsis("sleep 60", 20), "sleep 60");
  EXPECT_EQ(cli::ellipsis("echo a very long command line", 20), "echo a very long co\u2026");
  cli::Table t;
  t.row({"CONTAINER ID", "IMAGE", "NAMES"});
  t.row({"abc", "busybox", "x"});
  EXPECT_EQ(t.str(), "CONTAINER ID   IMAGE     NAMES\nabc            busybox   x\n");
}

TEST(ImageChanges, ApplyDockerfileInstructions) {
  nlohmann::json c = nlohmann::json::object();
  ASSERT_TRUE(images::apply_change("ENV A=1 B=two", &c));
  ASSERT_TRUE(images::apply_change("ENV C three", &c));
  ASSERT_TRUE(images::apply_change("WORKDIR /w", &c));
  ASSERT_TRUE(images::apply_change("ENTRYPOINT [\"/bin/sh\"]", &c));
  ASSERT_TRUE(images::apply_change("CMD echo hi", &c));
  EXPECT_EQ(c["Env"], nlohmann::json::array({"A=1", "B=two", "C=three"}));
  EXPECT_EQ(c["WorkingDir"], "/w");
  EXPECT_EQ(c["Entrypoint"], nlohmann::json::array({"/bin/sh"}));
  EXPECT_EQ(c["Cmd"], nlohmann::json::array({"/bin/sh", "-c", "echo hi"}));
  EXPECT_FALSE(images::apply_change("RUN make", &c));
  // Not valid JSON: the shell form, as Docker reads it.
  ASSERT_TRUE(images::apply_change("CMD [\"unterminated\"", &c));
  EXPECT_EQ(c["Cmd"], nlohmann::json::array({"/bin/sh", "-c", "[\"unterminated\""}));
}

}  // namespace
}  // namespace berth
