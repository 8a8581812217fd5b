// The Go text/template subset of --format and inspect -f, against what Go prints.

#include "cli/template.hpp"

#include <gtest/gtest.h>

namespace berth::cli::tmpl {
namespace {

using json = nlohmann::ordered_json;

std::string run(const std::string& text, const json& data) {
  auto t = Template::parse(text);
  if (!t) return "PARSE: " + t.error().message;
  auto out = t->execute(data);
  if (!out) return "EXEC: " + out.error().message;
  return *out;
}

const json kData = json::parse(R"({
  "Name": "/web", "Id": "abc123",
  "State": {"Status": "running", "Pid": 42, "Running": true, "ExitCode": 0},
  "Config": {"Env": ["A=1", "B=2"], "Labels": {"z": "last", "a": "first"}, "Cmd": null},
  "Empty": [], "Ratio": 0.5, "Big": 1000000
})");

TEST(Template, FieldPathsAndGoPrinting) {
  EXPECT_EQ(run("{{.Name}} {{.State.Pid}} {{.State.Running}}", kData), "/web 42 true");
  EXPECT_EQ(run("{{.Config.Env}}", kData), "[A=1 B=2]");
  EXPECT_EQ(run("{{.Config.Labels}}", kData), "map[a:first z:last]");
  EXPECT_EQ(run("{{.Config.Cmd}}", kData), "<nil>");
  EXPECT_EQ(run("{{.Nope}}", kData), "<no value>");
  EXPECT_EQ(run("{{.Ratio}} {{.Big}}", kData), "0.5 1000000");
  EXPECT_EQ(run("{{$.Id}}", kData), "abc123");
  EXPECT_EQ(run("literal only", kData), "literal only");
  EXPECT_EQ(run("{{/* a comment */}}x", kData), "x");
}

TEST(Template, FunctionsAndPipelines) {
  EXPECT_EQ(run("{{json .Config.Env}}", kData), "[\"A=1\",\"B=2\"]");
  EXPECT_EQ(run("{{json .State}}", kData), R"({"Status":"running","Pid":42,"Running":true,"ExitCode":0})");
  EXPECT_EQ(run("{{join .Config.Env \",\"}}", kData), "A=1,B=2");
  EXPECT_EQ(run("{{upper .State.Status}} {{.State.Status | upper}} {{lower \"ABC\"}}", kData), "RUNNING RUNNING abc");
  EXPECT_EQ(run("{{index .Config.Labels \"a\"}} {{index .Config.Env 1}}", kData), "first B=2");
  EXPECT_EQ(run("{{len .Config.Env}} {{len .Name}}", kData), "2 4");
  EXPECT_EQ(run("{{split \"a:b:c\" \":\"}}", kData), "[a b c]");
  EXPECT_EQ(run("{{title \"hello world\"}}|{{pad \"x\" 1 2}}|{{truncate \"abcdef\" 3}}", kData), "Hello World| x  |abc");
  EXPECT_EQ(run("{{printf \"%s=%d\" .Name .State.Pid}}", kData), "/web=42");
  EXPECT_EQ(run("{{println .Name}}", kData), "/web\n");
  EXPECT_EQ(run("{{(index .Config.Env 0) | lower}}", kData), "a=1");
}

TEST(Template, ConditionalsAndComparisons) {
  EXPECT_EQ(run("{{if .State.Running}}up{{else}}down{{end}}", kData), "up");
  EXPECT_EQ(run("{{if .Empty}}yes{{else}}no{{end}}", kData), "no");
  EXPECT_EQ(run("{{if eq .State.Status \"exited\"}}E{{else if eq .State.Status \"running\"}}R{{else}}?{{end}}", kData),
            "R");
  EXPECT_EQ(run("{{if and .State.Running (gt .State.Pid 1)}}ok{{end}}", kData), "ok");
  EXPECT_EQ(run("{{if or .Empty .Nope}}x{{else}}neither{{end}}", kData), "neither");
  EXPECT_EQ(run("{{if not .Empty}}empty{{end}}", kData), "empty");
  EXPECT_EQ(run("{{eq .State.Pid 41 42}} {{ne .Name \"/web\"}} {{lt 1 2}} {{ge 2 3}}", kData), "true false true false");
  EXPECT_EQ(run("{{with .State}}{{.Status}}{{end}}{{with .Empty}}x{{else}}none{{end}}", kData), "runningnone");
}

TEST(Template, RangeVariablesAndTrimming) {
  EXPECT_EQ(run("{{range .Config.Env}}[{{.}}]{{end}}", kData), "[A=1][B=2]");
  EXPECT_EQ(run("{{range $i, $e := .Config.Env}}{{$i}}:{{$e}} {{end}}", kData), "0:A=1 1:B=2 ");
  EXPECT_EQ(run("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", kData), "a=first;z=last;");
  EXPECT_EQ(run("{{range .Empty}}x{{else}}nothing{{end}}", kData), "nothing");
  EXPECT_EQ(run("{{range .Config.Env}}{{$.Name}}{{end}}", kData), "/web/web");
  EXPECT_EQ(run("{{$n := .Name}}{{$n}}", kData), "/web");
  EXPECT_EQ(run("a  {{- .Name -}}  b", kData), "a/webb");
  EXPECT_EQ(run("{{range .Config.Env -}}\n  {{.}}\n{{- end}}", kData), "A=1B=2");
}

TEST(Template, ErrorsReadAsGosAndNameTheProblem) {
  EXPECT_NE(run("{{.Name", kData).find("unclosed action"), std::string::npos);
  EXPECT_NE(run("{{if .Name}}x", kData).find("unexpected EOF"), std::string::npos);
  EXPECT_NE(run("{{end}}", kData).find("unexpected {{end}}"), std::string::npos);
  EXPECT_NE(run("{{nosuch .Name}}", kData).find("function \"nosuch\" not defined"), std::string::npos);
  EXPECT_NE(run("{{.Name.First}}", kData).find("can't evaluate field First"), std::string::npos);
  EXPECT_NE(run("{{index .Config.Env 5}}", kData).find("index out of range"), std::string::npos);
  EXPECT_NE(run("{{$nope}}", kData).find("undefined variable: $nope"), std::string::npos);
  EXPECT_EQ(run("{{range .Name}}x{{end}}", kData).rfind("EXEC: ", 0), 0u);
}

TEST(Template, DockerCliFormats) {
  auto f = cli_format("table {{.ID}}\\t{{.Names}}");
  EXPECT_TRUE(f.table);
  EXPECT_EQ(f.body, "{{.ID}}\t{{.Names}}");
  EXPECT_FALSE(cli_format("{{.ID}}").table);
  EXPECT_EQ(tabwrite("CONTAINER ID\tNAMES\nabc\tweb\n"), "CONTAINER ID   NAMES\nabc            web\n");
}

}  // namespace
}  // namespace berth::cli::tmpl
