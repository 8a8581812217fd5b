// ps --format / --filter / -s and inspect -f with real containers.

#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace berth::it {
namespace {

class Format : public BerthTest {
 protected:
  void SetUp() override {
    BerthTest::SetUp();
    import_busybox();
  }
};

TEST_F(Format, PsTakesGoTemplatesAndTables) {
  std::string web = unique("web");
  std::string db = unique("db");
  std::string web_id = ok({"run", "-d", "--name", web, "-l", "tier=front", "busybox", "sleep", "60"});
  std::string db_id = ok({"create", "--name", db, "-l", "tier=back", "-l", "x=1", "busybox", "true"});
  // Plain templates: one line per container, newest first; \t is a tab.
  EXPECT_EQ(ok({"ps", "-a", "--format", "{{.Names}}\\t{{.State}}"}), db + "\tcreated\n" + web + "\trunning");
  EXPECT_EQ(ok({"ps", "--format", "{{.ID}} {{.Label \"tier\"}} {{upper .State}}"}), web_id.substr(0, 12) + " front RUNNING");
  EXPECT_EQ(ok({"ps", "-a", "--no-trunc", "--format", "{{.ID}}", "--filter", "name=" + db}), db_id);
  EXPECT_EQ(ok({"ps", "-a", "--format", "{{.Labels}}", "--filter", "id=" + db_id.substr(0, 8)}), "tier=back,x=1");
  EXPECT_EQ(ok({"ps", "-a", "--format", "{{json .Label}}", "--filter", "label=x"}), "{\"tier\":\"back\",\"x\":\"1\"}");
  // table: a header from the fields' titles, columns aligned as Docker's tabwriter.
  std::string table = ok({"ps", "-a", "--format", "table {{.Names}}\\t{{.Status}}"});
  auto rows = lines(table);
  ASSERT_EQ(rows.size(), 3u) << table;
  EXPECT_EQ(rows[0].rfind("NAMES", 0), 0u) << rows[0];
  EXPECT_EQ(rows[0].find("STATUS"), rows[1].find("Created")) << table;
  // if/else and range in a ps template.
  EXPECT_EQ(ok({"ps", "-a", "--format", "{{if eq .State \"running\"}}up{{else}}down{{end}}"}), "down\nup");
  // A broken template is an error that says where.
  Output bad = berth({"ps", "--format", "{{.Names"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("template"), std::string::npos) << bad.err;
}

TEST_F(Format, PsFiltersAndSizes) {
  std::string running = ok({"run", "-d", "-l", "role=a", "busybox", "sleep", "60"});
  std::string failed = ok({"run", "-d", "busybox", "sh", "-c", "exit 3"});
  std::string created = ok({"create", "busybox", "true"});
  ok({"wait", failed});
  auto ids = [&](std::vector<std::string> filters) {
    std::vector<std::string> args = {"ps", "-q", "--no-trunc"};
    for (const auto& f : filters) args.insert(args.end(), {"--filter", f});
    return ok(args);
  };
  EXPECT_EQ(ids({"status=running"}), running);
  EXPECT_EQ(ids({"status=exited"}), failed);
  EXPECT_EQ(ids({"status=created"}), created);
  EXPECT_EQ(ids({"exited=3"}), failed);
  EXPECT_EQ(ids({"exited=0"}), "");
  EXPECT_EQ(ids({"label=role=a"}), running);
  EXPECT_EQ(ids({"label=role=b"}), "");
  // Same key: either; different keys: both.
  EXPECT_EQ(lines(ids({"status=running", "status=created"})).size(), 2u);
  EXPECT_EQ(ids({"status=running", "label=role=a"}), running);
  EXPECT_EQ(lines(ok({"ps", "-a", "-q", "--filter", "ancestor=busybox"})).size(), 3u);
  EXPECT_EQ(berth({"ps", "--filter", "status=sleepy"}).code, 1);
  EXPECT_EQ(berth({"ps", "--filter", "colour=red"}).code, 1);
  // -s: the writable layer and, in parentheses, with the image.
  ok({"exec", running, "sh", "-c", "head -c 100000 /dev/zero > /big"});
  std::string sizes = ok({"ps", "-s", "--format", "{{.Size}}"});
  EXPECT_NE(sizes.find("kB (virtual "), std::string::npos) << sizes;
  EXPECT_NE(ok({"ps", "-s"}).find("SIZE"), std::string::npos);
}

TEST_F(Format, InspectTakesTemplatesForEveryObject) {
  std::string a = unique("a");
  std::string id = ok({"run", "-d", "--name", a, "-e", "K=v", "busybox", "sleep", "60"});
  std::string c = ok({"create", "busybox", "true"});
  EXPECT_EQ(ok({"inspect", "-f", "{{.Name}} {{.State.Status}}", a, c}), "/" + a + " running\n/" +
                                                                          nlohmann::json::parse(berth({"inspect", c}).out)[0]["Name"].get<std::string>().substr(1) +
                                                                          " created");
  EXPECT_EQ(ok({"inspect", "--format", "{{index .Config.Env 0}}", a}).rfind("PATH=", 0), 0u);
  EXPECT_EQ(ok({"inspect", "-f", "{{range .Config.Env}}{{if eq . \"K=v\"}}found{{end}}{{end}}", a}), "found");
  EXPECT_EQ(ok({"inspect", "-f", "{{json .State.Running}} {{.State.Pid | printf \"%d\"}}", a}).rfind("true ", 0), 0u);
  EXPECT_EQ(ok({"container", "inspect", "-f", "{{.Id}}", a}), id);
  // Images too, with --type, and a mix of kinds in one call.
  EXPECT_EQ(ok({"inspect", "--type", "image", "-f", "{{join .RepoTags \",\"}}", "busybox"}), "busybox:latest");
  EXPECT_EQ(lines(ok({"inspect", "-f", "{{.Id}}", a, "busybox"})).size(), 2u);
  EXPECT_EQ(ok({"image", "inspect", "-f", "{{.Os}}", "busybox"}), "linux");
  // A template error is exit 1 with Go's message.
  Output bad = berth({"inspect", "-f", "{{nosuchfunc .Id}}", a});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("function \"nosuchfunc\" not defined"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace berth::it
