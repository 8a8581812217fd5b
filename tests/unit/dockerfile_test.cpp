// The Dockerfile parser and the shell lexer against what Docker's classic builder does. Most
// expected values are BuildKit's own test cases (parser, instructions, shell/envVarTest).

#include "build/dockerfile.hpp"

#include <gtest/gtest.h>

namespace berth::build {
namespace {

using Strings = std::vector<std::string>;

Dockerfile parse_ok(std::string_view text) {
  auto r = parse_dockerfile(text);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message) << "\nin:\n" << text;
  return r.ok() ? std::move(r).value() : Dockerfile{};
}

std::string parse_err(std::string_view text) {
  auto r = parse_dockerfile(text);
  EXPECT_FALSE(r.ok()) << "parsed:\n" << text;
  return r.ok() ? "" : r.error().message;
}

// The one instruction after "FROM busybox".
Instruction one(std::string_view line) {
  Dockerfile f = parse_ok("FROM busybox\n" + std::string(line) + "\n");
  if (f.stages.size() != 1 || f.stages[0].instructions.size() != 1) {
    ADD_FAILURE() << "expected one instruction from: " << line;
    return {};
  }
  return f.stages[0].instructions[0];
}

std::string one_err(std::string_view line) {
  return parse_err("FROM busybox\n" + std::string(line));
}

std::string word(std::string_view w, const Env& env = {}, char escape = '\\') {
  auto r = expand_word(w, env, escape);
  return r.ok() ? *r : "ERROR: " + r.error().message;
}

Strings words(std::string_view w, const Env& env = {}) {
  auto r = expand_words(w, env);
  return r.ok() ? *r : Strings{"ERROR: " + r.error().message};
}

// ---- Lines, comments, continuations, directives ----

TEST(DockerfileLines, InstructionsCommentsAndBlankLines) {
  Dockerfile f = parse_ok(
      "# a comment\n"
      "\n"
      "FROM busybox:1.36\n"
      "   # indented comment\n"
      "  RUN echo hi # not a comment\n"
      "\n"
      "cmd [\"sh\"]\n");
  ASSERT_EQ(f.stages.size(), 1u);
  EXPECT_EQ(f.stages[0].base, "busybox:1.36");
  EXPECT_EQ(f.stages[0].from.line, 3);
  ASSERT_EQ(f.stages[0].instructions.size(), 2u);
  const auto& run = f.stages[0].instructions[0];
  EXPECT_EQ(run.keyword, "RUN");
  EXPECT_EQ(run.args, Strings{"echo hi # not a comment"});
  EXPECT_FALSE(run.json);
  EXPECT_EQ(run.line, 5);
  EXPECT_EQ(run.original, "RUN echo hi # not a comment");
  const auto& cmd = f.stages[0].instructions[1];
  EXPECT_EQ(cmd.keyword, "CMD");
  EXPECT_EQ(cmd.original, "cmd [\"sh\"]");
  EXPECT_TRUE(cmd.json);
  EXPECT_EQ(cmd.args, Strings{"sh"});
}

TEST(DockerfileLines, ContinuationsKeepInnerWhitespace) {
  Dockerfile f = parse_ok(
      "FROM busybox\n"
      "RUN apt-get update && \\\n"
      "    apt-get install -y curl \\   \n"
      "\t&& rm -rf /var/lib/apt\n"
      "ENV A=1\n");
  const auto& run = f.stages[0].instructions[0];
  // Docker prints exactly this in "Step 2/3 : ...": only the escape and newline go.
  EXPECT_EQ(run.original,
            "RUN apt-get update &&     apt-get install -y curl \t&& rm -rf /var/lib/apt");
  EXPECT_EQ(run.args,
            Strings{"apt-get update &&     apt-get install -y curl \t&& rm -rf /var/lib/apt"});
  EXPECT_EQ(run.line, 2);
  EXPECT_EQ(run.end_line, 4);
  EXPECT_EQ(f.stages[0].instructions[1].line, 5);
}

TEST(DockerfileLines, CommentsAndBlankLinesInsideContinuations) {
  Dockerfile f = parse_ok(
      "FROM busybox\n"
      "RUN echo c\\\n"
      "# dropped\n"
      "   # dropped too\n"
      "d\n");
  EXPECT_EQ(f.stages[0].instructions[0].args, Strings{"echo cd"});
  EXPECT_TRUE(f.warnings.empty());

  Dockerfile g = parse_ok(
      "FROM busybox\n"
      "RUN echo a \\\n"
      "\n"
      "  b\n");
  EXPECT_EQ(g.stages[0].instructions[0].args, Strings{"echo a   b"});
  ASSERT_EQ(g.warnings.size(), 2u);
  EXPECT_EQ(g.warnings[0], "[WARNING]: Empty continuation line found in:\n    RUN echo a   b");
  EXPECT_EQ(g.warnings[1],
            "[WARNING]: Empty continuation lines will become errors in a future release.");
}

TEST(DockerfileLines, CrlfBomAndLastLineWithoutNewline) {
  Dockerfile f = parse_ok(
      "\xEF\xBB\xBF"
      "FROM alpine\r\nRUN a \\\r\n b\r\nUSER nobody");
  EXPECT_EQ(f.stages[0].base, "alpine");
  EXPECT_EQ(f.stages[0].instructions[0].args, Strings{"a  b"});
  EXPECT_EQ(f.stages[0].instructions[1].args, Strings{"nobody"});
  EXPECT_EQ(f.stages[0].instructions[1].line, 4);
}

TEST(DockerfileLines, ContinuationAtEndOfFile) {
  Dockerfile f = parse_ok("FROM busybox\nRUN echo \\");
  EXPECT_EQ(f.stages[0].instructions[0].args, Strings{"echo"});
  EXPECT_EQ(f.stages[0].instructions[0].original, "RUN echo");
}

TEST(DockerfileDirectives, EscapeBacktickForWindowsPaths) {
  Dockerfile f = parse_ok(
      "# escape=`\n"
      "\n"
      "FROM mcr.microsoft.com/windows/servercore\n"
      "COPY testfile.txt c:\\\n"
      "RUN dir c:\\ `\n"
      "    /s\n");
  EXPECT_EQ(f.escape, '`');
  const auto& copy = f.stages[0].instructions[0];
  EXPECT_EQ(copy.args, (Strings{"testfile.txt", "c:\\"}));
  EXPECT_EQ(f.stages[0].instructions[1].args, Strings{"dir c:\\     /s"});
  // With ` as escape, a backslash is an ordinary character when expanded too.
  EXPECT_EQ(word("c:\\$X", {{"X", "y"}}, '`'), "c:\\y");
  EXPECT_EQ(word("a`$X", {{"X", "y"}}, '`'), "a$X");
}

TEST(DockerfileDirectives, DefaultBackslashLeavesWindowsPathsContinuing) {
  // Without the directive, the trailing backslash of c:\ continues the line.
  Dockerfile f = parse_ok("FROM busybox\nCOPY testfile.txt c:\\\nRUN dir c:\\\n");
  ASSERT_EQ(f.stages[0].instructions.size(), 1u);
  EXPECT_EQ(f.stages[0].instructions[0].args, (Strings{"testfile.txt", "c:RUN", "dir", "c:"}));
}

TEST(DockerfileDirectives, WhereDirectivesCount) {
  EXPECT_EQ(parse_ok("  # ESCAPE = `\nFROM a\n").escape, '`');
  EXPECT_EQ(parse_ok("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\n").escape, '`');
  // After a comment, a blank line or an instruction it is only a comment.
  EXPECT_EQ(parse_ok("# hello\n# escape=`\nFROM a\n").escape, '\\');
  EXPECT_EQ(parse_ok("\n# escape=`\nFROM a\n").escape, '\\');
  EXPECT_EQ(parse_ok("FROM a\n# escape=`\n").escape, '\\');
  EXPECT_EQ(parse_ok("# unknown=x\n# escape=`\nFROM a\n").escape, '\\');
}

TEST(DockerfileDirectives, BadDirectives) {
  EXPECT_EQ(parse_err("# escape=x\nFROM a\n"),
            "dockerfile parse error on line 1: invalid escape token 'x' does not match ` or \\");
  EXPECT_EQ(parse_err("# escape=`\n# escape=\\\nFROM a\n"),
            "dockerfile parse error on line 2: only one escape parser directive can be used");
}

// ---- Errors ----

TEST(DockerfileErrors, UnknownInstructionNamesLineAndWord) {
  EXPECT_EQ(parse_err("FROM busybox\nRUN true\nFOO bar\n"),
            "dockerfile parse error on line 3: unknown instruction: FOO");
  EXPECT_EQ(parse_err("FROM busybox\n\napt-get install x\n"),
            "dockerfile parse error on line 3: unknown instruction: apt-get");
}

TEST(DockerfileErrors, LineOfAContinuedInstructionIsItsFirst) {
  EXPECT_EQ(parse_err("FROM busybox\nWORKDIR \\\n\\\n\n"),
            "dockerfile parse error on line 2: WORKDIR requires exactly one argument");
}

TEST(DockerfileErrors, ParserErrorsComeBeforeInstructionErrors) {
  // Docker's AST pass fails first, on the later line.
  EXPECT_EQ(parse_err("FROM busybox\nBOGUS\nRUN [\"a\", 1]\n"),
            "dockerfile parse error on line 3: when using JSON array syntax, arrays must be "
            "comprised of strings only");
}

TEST(DockerfileErrors, EmptyAndStageless) {
  EXPECT_EQ(parse_err(""), "dockerfile parse error on line 0: file with no instructions");
  EXPECT_EQ(parse_err("# only\n\n# comments\n"),
            "dockerfile parse error on line 3: file with no instructions");
  EXPECT_EQ(parse_err("RUN true\n"),
            "dockerfile parse error on line 1: no build stage in current context");
  EXPECT_EQ(parse_err("ARG A=1\nENV B=2\nFROM x\n"),
            "dockerfile parse error on line 2: no build stage in current context");
  EXPECT_EQ(parse_err("ARG A=1\n"), "dockerfile contains no stages to build");
}

TEST(DockerfileErrors, ArgumentCounts) {
  EXPECT_EQ(one_err("COPY onlyone"),
            "dockerfile parse error on line 2: COPY requires at least two arguments, but only one "
            "was provided. Destination could not be determined");
  EXPECT_EQ(one_err("ADD"),
            "dockerfile parse error on line 2: ADD requires at least two arguments, but only one "
            "was provided. Destination could not be determined");
  EXPECT_EQ(one_err("EXPOSE"),
            "dockerfile parse error on line 2: EXPOSE requires at least one argument");
  EXPECT_EQ(one_err("VOLUME"),
            "dockerfile parse error on line 2: VOLUME requires at least one argument");
  EXPECT_EQ(one_err("VOLUME [\"/a\", \" \"]"),
            "dockerfile parse error on line 2: VOLUME specified can not be an empty string");
  EXPECT_EQ(one_err("USER"),
            "dockerfile parse error on line 2: USER requires exactly one argument");
  EXPECT_EQ(one_err("STOPSIGNAL"),
            "dockerfile parse error on line 2: STOPSIGNAL requires exactly one argument");
  EXPECT_EQ(one_err("MAINTAINER"),
            "dockerfile parse error on line 2: MAINTAINER requires exactly one argument");
  EXPECT_EQ(one_err("ARG"), "dockerfile parse error on line 2: ARG requires at least one argument");
  EXPECT_EQ(one_err("ARG =x"), "dockerfile parse error on line 2: ARG names can not be blank");
  EXPECT_EQ(one_err("LABEL"),
            "dockerfile parse error on line 2: LABEL requires at least one argument");
  EXPECT_EQ(one_err("LABEL =x"), "dockerfile parse error on line 2: LABEL names can not be blank");
  EXPECT_EQ(parse_err("FROM"),
            "dockerfile parse error on line 1: FROM requires either one or three arguments");
  EXPECT_EQ(parse_err("FROM a b"),
            "dockerfile parse error on line 1: FROM requires either one or three arguments");
  EXPECT_EQ(parse_err("FROM a TO b"),
            "dockerfile parse error on line 1: FROM requires either one or three arguments");
}

TEST(DockerfileErrors, Flags) {
  EXPECT_EQ(one_err("COPY --foo=bar a b"), "dockerfile parse error on line 2: unknown flag: --foo");
  EXPECT_EQ(one_err("COPY --from a b"),
            "dockerfile parse error on line 2: missing a value on flag: --from");
  EXPECT_EQ(one_err("COPY --from=a --from=b a b"),
            "dockerfile parse error on line 2: duplicate flag specified: --from");
  EXPECT_EQ(one_err("COPY --link=yes a b"),
            "dockerfile parse error on line 2: expecting boolean value for flag --link, not: yes");
  EXPECT_EQ(one_err("COPY --link= a b"),
            "dockerfile parse error on line 2: missing a value on flag: --link");
  EXPECT_EQ(one_err("WORKDIR --x=1 /a"), "dockerfile parse error on line 2: unknown flag: --x");
  EXPECT_EQ(one_err("ENV --x=1 A=b"), "dockerfile parse error on line 2: unknown flag: --x");
  EXPECT_EQ(parse_err("FROM --plat=x a"), "dockerfile parse error on line 1: unknown flag: --plat");
}

// ---- FROM and stages ----

TEST(DockerfileStages, MultiStageNamesAndPlatforms) {
  Dockerfile f = parse_ok(
      "ARG GO=1.22\n"
      "ARG BASE=alpine\n"
      "FROM --platform=$BUILDPLATFORM golang:${GO} AS Builder\n"
      "RUN go build\n"
      "from scratch as final.stage-2\n"
      "COPY --from=builder /out /app\n"
      "FROM $BASE\n");
  ASSERT_EQ(f.global_args.size(), 2u);
  EXPECT_EQ(f.global_args[0].args, Strings{"GO=1.22"});
  ASSERT_EQ(f.stages.size(), 3u);
  EXPECT_EQ(f.stages[0].index, 0u);
  EXPECT_EQ(f.stages[0].base, "golang:${GO}");
  EXPECT_EQ(f.stages[0].name, "builder");
  EXPECT_EQ(f.stages[0].platform, "$BUILDPLATFORM");
  EXPECT_EQ(f.stages[0].from.original, "FROM --platform=$BUILDPLATFORM golang:${GO} AS Builder");
  EXPECT_EQ(f.stages[0].instructions.size(), 1u);
  EXPECT_EQ(f.stages[1].base, "scratch");
  EXPECT_EQ(f.stages[1].name, "final.stage-2");
  EXPECT_EQ(f.stages[1].instructions[0].flag("from"), "builder");
  EXPECT_EQ(f.stages[2].base, "$BASE");
  EXPECT_EQ(f.stages[2].name, "");
  EXPECT_TRUE(f.stages[2].instructions.empty());
}

TEST(DockerfileStages, BadStageNames) {
  EXPECT_EQ(parse_err("FROM a AS 1abc"),
            "dockerfile parse error on line 1: invalid name for build stage: \"1abc\", name can't "
            "start with a number or contain symbols");
  EXPECT_EQ(parse_err("FROM a AS x$y"),
            "dockerfile parse error on line 1: invalid name for build stage: \"x$y\", name can't "
            "start with a number or contain symbols");
  EXPECT_EQ(parse_err("FROM a AS one\nFROM b AS ONE\n"),
            "dockerfile parse error on line 2: one stage name already used");
}

TEST(DockerfileStages, TargetLookupAndStepCount) {
  Dockerfile f = parse_ok(
      "ARG V=1\n"
      "FROM alpine AS base\n"
      "RUN a\n"
      "RUN b\n"
      "FROM base AS test\n"
      "RUN c\n"
      "FROM base\n"
      "COPY --from=test /x /y\n"
      "CMD [\"x\"]\n");
  EXPECT_EQ(*resolve_target(f, ""), 2u);
  EXPECT_EQ(*resolve_target(f, "base"), 0u);
  EXPECT_EQ(*resolve_target(f, "TEST"), 1u);
  auto missing = resolve_target(f, "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "failed to reach build target nope in Dockerfile");
  // One per global ARG, per FROM and per instruction, up to the target.
  EXPECT_EQ(step_count(f, 2), 9u);
  EXPECT_EQ(step_count(f, 0), 4u);
  EXPECT_EQ(step_count(f, 1), 6u);
}

TEST(DockerfileStages, CopyFromAndBaseResolution) {
  Dockerfile f = parse_ok("FROM alpine AS build\nFROM build AS two\nFROM x\nFROM y\n");
  EXPECT_EQ(base_stage(f, "build", 1), 0u);
  EXPECT_EQ(base_stage(f, "BUILD", 1), 0u);
  EXPECT_EQ(base_stage(f, "two", 1), std::nullopt);  // not built yet
  EXPECT_EQ(base_stage(f, "0", 1), std::nullopt);    // FROM takes no index
  EXPECT_EQ(base_stage(f, "alpine", 1), std::nullopt);

  EXPECT_EQ(*copy_from_stage(f, "two", 3), std::optional<size_t>(1));
  EXPECT_EQ(*copy_from_stage(f, "0", 3), std::optional<size_t>(0));
  EXPECT_EQ(*copy_from_stage(f, "2", 3), std::optional<size_t>(2));
  EXPECT_EQ(*copy_from_stage(f, "nginx:latest", 3), std::nullopt);
  auto cur = copy_from_stage(f, "3", 3);
  ASSERT_FALSE(cur.ok());
  EXPECT_EQ(cur.error().message, "invalid from flag value 3: refers to current build stage");
  auto later = copy_from_stage(f, "7", 3);
  ASSERT_FALSE(later.ok());
  EXPECT_EQ(later.error().message, "invalid from flag value 7: index out of bounds");
  EXPECT_FALSE(copy_from_stage(f, "-1", 3).ok());
}

// ---- Exec and shell forms ----

TEST(DockerfileForms, JsonOrShell) {
  EXPECT_EQ(one("RUN [\"echo\", \"a b\"]").args, (Strings{"echo", "a b"}));
  EXPECT_TRUE(one("RUN [\"echo\", \"a b\"]").json);
  EXPECT_TRUE(one("RUN []").json);
  EXPECT_TRUE(one("RUN []").args.empty());
  // Anything that is not a valid JSON array of strings is shell form, silently.
  for (const char* text : {"CMD [\"echo\",\"hi\"] # c", "ENTRYPOINT ['a','b']", "RUN [\"c:\\x\"]",
                           "CMD [\"unterminated\""}) {
    Instruction i = one(text);
    EXPECT_FALSE(i.json) << text;
    ASSERT_EQ(i.args.size(), 1u) << text;
    EXPECT_EQ(i.keyword + " " + i.args[0], text);
  }
  EXPECT_EQ(one("ENTRYPOINT [\"/bin/sh\", \"-c\", \"echo \\\"q\\\" \\u00e9\"]").args,
            (Strings{"/bin/sh", "-c", "echo \"q\" \xC3\xA9"}));
  EXPECT_EQ(one_err("CMD [\"a\", null]"),
            "dockerfile parse error on line 2: when using JSON array syntax, arrays must be "
            "comprised of strings only");
}

TEST(DockerfileForms, ShellRequiresJson) {
  Instruction s = one("SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]");
  EXPECT_EQ(s.args, (Strings{"/bin/bash", "-o", "pipefail", "-c"}));
  EXPECT_EQ(one_err("SHELL /bin/bash -c"),
            "dockerfile parse error on line 2: SHELL requires the arguments to be in JSON form");
  EXPECT_EQ(one_err("SHELL []"),
            "dockerfile parse error on line 2: SHELL requires at least one argument");
}

TEST(DockerfileForms, CopyAddVolumeLists) {
  Instruction c = one("COPY --chown=1000:1000 --chmod=0755 a.txt b/ /dest/");
  EXPECT_EQ(c.args, (Strings{"a.txt", "b/", "/dest/"}));
  ASSERT_EQ(c.flags.size(), 2u);
  EXPECT_EQ(c.flags[0].name, "chown");
  EXPECT_EQ(c.flags[0].value, "1000:1000");
  EXPECT_EQ(c.flag("chmod"), "0755");
  EXPECT_EQ(c.flag("from"), std::nullopt);

  Instruction j = one("COPY [\"with space.txt\", \"/a dir/\"]");
  EXPECT_TRUE(j.json);
  EXPECT_EQ(j.args, (Strings{"with space.txt", "/a dir/"}));

  Instruction a = one("ADD --chown=app https://example.com/x.tgz   /opt/");
  EXPECT_EQ(a.args, (Strings{"https://example.com/x.tgz", "/opt/"}));
  EXPECT_EQ(a.flag("chown"), "app");

  EXPECT_EQ(one("VOLUME /a /b").args, (Strings{"/a", "/b"}));
  EXPECT_EQ(one("VOLUME [\"/data\", \" /logs \"]").args, (Strings{"/data", "/logs"}));
}

TEST(DockerfileForms, FlagsWithQuotesAndBooleans) {
  Instruction c = one("COPY --chown=\"a b\" --link --from='st age' x y");
  EXPECT_EQ(c.flag("chown"), "a b");
  EXPECT_EQ(c.flag("link"), "true");
  EXPECT_EQ(c.flag("from"), "st age");
  EXPECT_EQ(one("COPY --link=FALSE x y").flag("link"), "false");
  // "--" ends the flags.
  Instruction d = one("COPY -- --notaflag y");
  EXPECT_TRUE(d.flags.empty());
  EXPECT_EQ(d.args, (Strings{"--notaflag", "y"}));
}

TEST(DockerfileForms, RestOfLineInstructions) {
  EXPECT_EQ(one("WORKDIR /a b").args, Strings{"/a b"});
  EXPECT_EQ(one("USER app:app").args, Strings{"app:app"});
  EXPECT_EQ(one("STOPSIGNAL SIGKILL").args, Strings{"SIGKILL"});
  EXPECT_EQ(one("MAINTAINER Jane Doe <jane@example.com>").args,
            Strings{"Jane Doe <jane@example.com>"});
  EXPECT_EQ(one("EXPOSE 80/tcp  443 $P").args, (Strings{"80/tcp", "443", "$P"}));
}

// ---- ENV, LABEL, ARG ----

TEST(DockerfileEnv, BothForms) {
  EXPECT_EQ(one("ENV A B C").args, (Strings{"A", "B C"}));
  EXPECT_EQ(one("ENV PATH=/x:$PATH  B=\"two words\" C='$lit' D=a\\ b").args,
            (Strings{"PATH", "/x:$PATH", "B", "\"two words\"", "C", "'$lit'", "D", "a\\ b"}));
  EXPECT_EQ(one("ENV E=").args, (Strings{"E", ""}));
  EXPECT_EQ(one("ENV E=\"\"").args, (Strings{"E", "\"\""}));
  EXPECT_EQ(one_err("ENV A"), "dockerfile parse error on line 2: ENV must have two arguments");
  EXPECT_EQ(one_err("ENV A=1 B"),
            "dockerfile parse error on line 2: Syntax error - can't find = in \"B\". Must be of "
            "the form: name=value");
  EXPECT_EQ(one_err("ENV"), "dockerfile parse error on line 2: ENV requires at least one argument");
}

TEST(DockerfileEnv, ExpansionRemovesQuotesAndEscapes) {
  Instruction e = one("ENV PATH=/x:$PATH  B=\"two words\" C='$lit' D=a\\ b E=\"$HOME/q\"");
  auto x = expand_instruction(e, {{"PATH", "/bin"}, {"HOME", "/root"}}, '\\');
  ASSERT_TRUE(x.ok()) << x.error().message;
  EXPECT_EQ(x->args, (Strings{"PATH", "/x:/bin", "B", "two words", "C", "$lit", "D", "a b", "E",
                              "/root/q"}));
  EXPECT_EQ(x->original, e.original);

  auto legacy = expand_instruction(one("ENV GREETING \"hello  world\" $X"), {{"X", "!"}}, '\\');
  ASSERT_TRUE(legacy.ok());
  EXPECT_EQ(legacy->args, (Strings{"GREETING", "hello  world !"}));
}

TEST(DockerfileEnv, LabelsLikeEnv) {
  Instruction l =
      one("LABEL \"com.example.vendor\"=\"ACME Inc\" version=1.0 description=\"multi\\\n"
          "line\"");
  EXPECT_EQ(l.args, (Strings{"\"com.example.vendor\"", "\"ACME Inc\"", "version", "1.0",
                             "description", "\"multiline\""}));
  auto x = expand_instruction(l, {}, '\\');
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x->args, (Strings{"com.example.vendor", "ACME Inc", "version", "1.0", "description",
                              "multiline"}));
}

TEST(DockerfileArgs, DeclarationsAndDefaults) {
  Instruction a = one("ARG A B=2 C=\"x y\" D=");
  EXPECT_EQ(a.args, (Strings{"A", "B=2", "C=\"x y\"", "D="}));
  auto decls = arg_decls(a);
  ASSERT_EQ(decls.size(), 4u);
  EXPECT_EQ(decls[0].name, "A");
  EXPECT_FALSE(decls[0].value.has_value());
  EXPECT_EQ(decls[1].value, "2");
  EXPECT_EQ(decls[3].value, "");
  auto x = expand_instruction(a, {{"B", "ignored"}}, '\\');
  ASSERT_TRUE(x.ok());
  auto ex = arg_decls(*x);
  EXPECT_EQ(ex[2].name, "C");
  EXPECT_EQ(ex[2].value, "x y");
  EXPECT_FALSE(ex[0].value.has_value());
  auto chained =
      expand_instruction(one("ARG FULL=${BASE}:${TAG:-latest}"), {{"BASE", "alpine"}}, '\\');
  ASSERT_TRUE(chained.ok());
  EXPECT_EQ(chained->args, Strings{"FULL=alpine:latest"});
}

TEST(DockerfileArgs, GlobalArgsExpandInFrom) {
  Dockerfile f = parse_ok("ARG TAG=3.19\nARG REG\nFROM ${REG:-docker.io}/alpine:$TAG AS b\n");
  ASSERT_EQ(f.global_args.size(), 2u);
  Env meta;
  for (const auto& g : f.global_args) {
    for (const auto& d : arg_decls(g)) {
      if (d.value) meta[d.name] = *d.value;
    }
  }
  auto from = expand_instruction(f.stages[0].from, meta, f.escape);
  ASSERT_TRUE(from.ok());
  EXPECT_EQ(from->args[0], "docker.io/alpine:3.19");
  EXPECT_EQ(from->args[2], "b");
  auto blank = expand_instruction(parse_ok("FROM $NOPE").stages[0].from, {}, '\\');
  ASSERT_FALSE(blank.ok());
  EXPECT_EQ(blank.error().message, "base name ($NOPE) should not be blank");
}

// ---- Expansion per instruction ----

TEST(DockerfileExpand, WhatEachInstructionExpands) {
  Env env{{"D", "/dst"}, {"U", "app"}, {"P", "80 443/udp"}, {"S", "src"}, {"M", "755"}};
  auto copy = expand_instruction(one("COPY --from=$S --chown=$U:$U --chmod=0$M $S/a \"$S\"b $D/"),
                                 env, '\\');
  ASSERT_TRUE(copy.ok()) << copy.error().message;
  EXPECT_EQ(copy->args, (Strings{"src/a", "srcb", "/dst/"}));
  // Shell form splits on blanks before quotes are looked at, as Docker's does.
  auto split = expand_instruction(one("COPY \"$S b\" /x"), env, '\\');
  ASSERT_FALSE(split.ok());
  EXPECT_EQ(split.error().message,
            "failed to process \"\\\"$S\": unexpected end of statement while looking for matching "
            "double-quote");
  EXPECT_EQ(copy->flag("chown"), "app:app");
  EXPECT_EQ(copy->flag("chmod"), "0755");
  EXPECT_EQ(copy->flag("from"), "$S");  // never expanded

  auto json_copy = expand_instruction(one("COPY [\"$S\", \"$D\"]"), env, '\\');
  ASSERT_TRUE(json_copy.ok());
  EXPECT_EQ(json_copy->args, (Strings{"src", "/dst"}));

  auto expose = expand_instruction(one("EXPOSE 8080 $P 22"), env, '\\');
  ASSERT_TRUE(expose.ok());
  // Docker sorts the words as written ("$P" < "22" < "8080"), then expands each.
  EXPECT_EQ(expose->args, (Strings{"80", "443/udp", "22", "8080"}));

  EXPECT_EQ(expand_instruction(one("WORKDIR $D/${U}"), env, '\\')->args, Strings{"/dst/app"});
  EXPECT_EQ(expand_instruction(one("USER ${U}:${G:-staff}"), env, '\\')->args,
            Strings{"app:staff"});
  EXPECT_EQ(expand_instruction(one("VOLUME $D /v"), env, '\\')->args, (Strings{"/dst", "/v"}));
  EXPECT_EQ(expand_instruction(one("STOPSIGNAL SIG$X"), {{"X", "TERM"}}, '\\')->args,
            Strings{"SIGTERM"});

  for (const char* untouched :
       {"RUN echo $D", "CMD echo $D", "ENTRYPOINT [\"$D\"]", "HEALTHCHECK CMD test -d $D",
        "MAINTAINER $U", "ONBUILD RUN $D", "SHELL [\"$D\"]"}) {
    Instruction i = one(untouched);
    auto x = expand_instruction(i, env, '\\');
    ASSERT_TRUE(x.ok());
    EXPECT_EQ(x->args, i.args) << untouched;
  }

  auto bad = expand_instruction(one("WORKDIR ${D"), env, '\\');
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "failed to process \"${D\": syntax error: missing '}'");
}

// ---- HEALTHCHECK ----

TEST(DockerfileHealthcheck, FormsAndFlags) {
  Instruction h =
      one("HEALTHCHECK --interval=5m --timeout=3s --start-period=1m30s --retries=4 \\\n"
          "  CMD curl -f http://localhost/ || exit 1");
  EXPECT_EQ(h.args, (Strings{"CMD", "curl -f http://localhost/ || exit 1"}));
  auto c = health_config(h);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->test, (Strings{"CMD-SHELL", "curl -f http://localhost/ || exit 1"}));
  EXPECT_EQ(c->interval_ns, 300'000'000'000);
  EXPECT_EQ(c->timeout_ns, 3'000'000'000);
  EXPECT_EQ(c->start_period_ns, 90'000'000'000);
  EXPECT_EQ(c->start_interval_ns, 0);
  EXPECT_EQ(c->retries, 4);

  auto json = health_config(one("healthcheck --start-interval=1.5s cmd [\"/bin/check\", \"-q\"]"));
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(json->test, (Strings{"CMD", "/bin/check", "-q"}));
  EXPECT_EQ(json->start_interval_ns, 1'500'000'000);
  EXPECT_EQ(json->retries, 0);

  auto none = health_config(one("HEALTHCHECK NONE"));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->test, Strings{"NONE"});
  auto us = health_config(one("HEALTHCHECK --interval=1500us --timeout=2h45m CMD true"));
  ASSERT_TRUE(us.ok());
  EXPECT_EQ(us->interval_ns, 1'500'000);
  EXPECT_EQ(us->timeout_ns, 9'900'000'000'000);
}

TEST(DockerfileHealthcheck, Errors) {
  EXPECT_EQ(one_err("HEALTHCHECK"),
            "dockerfile parse error on line 2: HEALTHCHECK requires at least one argument");
  EXPECT_EQ(one_err("HEALTHCHECK NONE x"),
            "dockerfile parse error on line 2: HEALTHCHECK NONE takes no arguments");
  EXPECT_EQ(one_err("HEALTHCHECK CMD"),
            "dockerfile parse error on line 2: Missing command after HEALTHCHECK CMD");
  EXPECT_EQ(one_err("HEALTHCHECK RUN x"),
            "dockerfile parse error on line 2: Unknown type \"RUN\" in HEALTHCHECK (try CMD)");
  EXPECT_EQ(one_err("HEALTHCHECK --interval=10 CMD x"),
            "dockerfile parse error on line 2: time: missing unit in duration \"10\"");
  // The type is checked before the durations.
  EXPECT_EQ(one_err("HEALTHCHECK --interval=5 seconds CMD x"),
            "dockerfile parse error on line 2: Unknown type \"SECONDS\" in HEALTHCHECK (try CMD)");
  EXPECT_EQ(one_err("HEALTHCHECK --timeout=3y CMD x"),
            "dockerfile parse error on line 2: time: unknown unit \"y\" in duration \"3y\"");
  EXPECT_EQ(one_err("HEALTHCHECK --timeout=abc CMD x"),
            "dockerfile parse error on line 2: time: invalid duration \"abc\"");
  EXPECT_EQ(one_err("HEALTHCHECK --interval=500us CMD x"),
            "dockerfile parse error on line 2: Interval \"interval\" cannot be less than 1ms");
  EXPECT_EQ(one_err("HEALTHCHECK --interval=0s CMD x"),
            "dockerfile parse error on line 2: Interval \"interval\" cannot be less than 1ms");
  EXPECT_EQ(one_err("HEALTHCHECK --retries=0 CMD x"),
            "dockerfile parse error on line 2: --retries must be at least 1 (not 0)");
  EXPECT_EQ(one_err("HEALTHCHECK --retries=two CMD x"),
            "dockerfile parse error on line 2: strconv.ParseInt: parsing \"two\": invalid syntax");
  EXPECT_EQ(one_err("HEALTHCHECK --retries=3000000000 CMD x"),
            "dockerfile parse error on line 2: strconv.ParseInt: parsing \"3000000000\": value out "
            "of range");
  EXPECT_EQ(one_err("HEALTHCHECK --when=1s CMD x"),
            "dockerfile parse error on line 2: unknown flag: --when");
}

// ---- ONBUILD ----

TEST(DockerfileOnbuild, TriggersAndRefusals) {
  Instruction o = one("ONBUILD  RUN  echo \"$HOME\"   ");
  EXPECT_EQ(o.keyword, "ONBUILD");
  EXPECT_EQ(o.original, "ONBUILD  RUN  echo \"$HOME\"");
  // What the image config keeps: the text after ONBUILD, trailing blanks and all.
  EXPECT_EQ(o.args, Strings{"RUN  echo \"$HOME\"   "});
  ASSERT_EQ(o.trigger.size(), 1u);
  EXPECT_EQ(o.trigger[0].keyword, "RUN");
  EXPECT_EQ(o.trigger[0].args, Strings{"echo \"$HOME\""});

  Instruction c = one("onbuild copy --chown=1 [\"a\", \"b\"]");
  EXPECT_EQ(c.args, Strings{"copy --chown=1 [\"a\", \"b\"]"});
  EXPECT_TRUE(c.trigger[0].json);
  EXPECT_EQ(c.trigger[0].flag("chown"), "1");

  EXPECT_EQ(
      one_err("ONBUILD ONBUILD RUN x"),
      "dockerfile parse error on line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  EXPECT_EQ(one_err("ONBUILD FROM x"),
            "dockerfile parse error on line 2: FROM isn't allowed as an ONBUILD trigger");
  EXPECT_EQ(one_err("ONBUILD maintainer me"),
            "dockerfile parse error on line 2: MAINTAINER isn't allowed as an ONBUILD trigger");
  EXPECT_EQ(one_err("ONBUILD"),
            "dockerfile parse error on line 2: ONBUILD requires at least one argument");
  // Docker only checks a trigger when a child image runs it.
  EXPECT_EQ(one("ONBUILD BOGUS x").args, Strings{"BOGUS x"});
}

TEST(DockerfileOnbuild, ParseTriggerFromImageConfig) {
  auto t = parse_trigger("COPY --chown=app . /src");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->keyword, "COPY");
  EXPECT_EQ(t->args, (Strings{".", "/src"}));
  EXPECT_EQ(t->flag("chown"), "app");
  EXPECT_EQ(parse_trigger("BOGUS x").error().message, "unknown instruction: BOGUS");
  EXPECT_EQ(parse_trigger("RUN a\nRUN b").error().message,
            "onbuild trigger should be a single expression");
  EXPECT_FALSE(parse_trigger("FROM x").ok());
}

// ---- Flags only BuildKit honours ----

TEST(DockerfileClassic, BuildKitOnlyFlagsAreRefusedAtTheStep) {
  Instruction run = one("RUN --mount=type=cache,target=/root/.cache --network=none make");
  ASSERT_EQ(run.flags.size(), 2u);
  EXPECT_EQ(run.args, Strings{"make"});
  auto st = check_classic_support(run);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message,
            "the --mount option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ "
            "to learn how to build images with BuildKit enabled");
  EXPECT_EQ(check_classic_support(one("COPY --parents a b")).error().message,
            "the --parents option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ "
            "to learn how to build images with BuildKit enabled");
  EXPECT_EQ(check_classic_support(one("COPY --parents a b")).error().code, Code::Unsupported);
  EXPECT_FALSE(check_classic_support(one("ADD --checksum=sha256:00 http://x/y /z")).ok());
  EXPECT_TRUE(check_classic_support(one("COPY --link --chmod=644 --chown=1 --from=a x y")).ok());
  EXPECT_TRUE(check_classic_support(one("RUN make")).ok());
  EXPECT_EQ(one("RUN --mount=a --mount=b x").flags.size(), 2u);  // repeatable
}

// ---- The shell lexer ----

TEST(ShellLex, QuotesAndEscapes) {
  EXPECT_EQ(word("hello"), "hello");
  EXPECT_EQ(word("he'll'o"), "hello");
  EXPECT_EQ(word("he\\'llo"), "he'llo");
  EXPECT_EQ(word("abc\\tdef"), "abctdef");
  EXPECT_EQ(word("\"abc\\tdef\""), "abc\\tdef");
  EXPECT_EQ(word("\"abc\\\\tdef\""), "abc\\tdef");
  EXPECT_EQ(word("'abc\\tdef'"), "abc\\tdef");
  EXPECT_EQ(word("hello\\"), "hello");
  EXPECT_EQ(word("hello\\\\"), "hello\\");
  EXPECT_EQ(word("\"hel'lo\""), "hel'lo");
  EXPECT_EQ(word("'hello\\'"), "hello\\");
  EXPECT_EQ(word("'hello\\\\there'"), "hello\\\\there");
  EXPECT_EQ(word("\"''\""), "''");
  EXPECT_EQ(word("'\"hello\"'"), "\"hello\"");
  EXPECT_EQ(word("\xEC\x95\x88'\xEB\x85\x95'"), "\xEC\x95\x88\xEB\x85\x95");
}

TEST(ShellLex, UnterminatedQuotes) {
  EXPECT_EQ(word("he'llo"),
            "ERROR: failed to process \"he'llo\": unexpected end of statement while looking for "
            "matching single-quote");
  EXPECT_EQ(word("he\\\\'llo").substr(0, 6), "ERROR:");
  EXPECT_EQ(word("\"hello"),
            "ERROR: failed to process \"\\\"hello\": unexpected end of statement while looking for "
            "matching double-quote");
  EXPECT_EQ(word("\"hello\\\"").substr(0, 6), "ERROR:");
}

TEST(ShellLex, Variables) {
  Env env{{"PWD", "/home"}, {"SHELL", "bash"}, {"KOREAN", "\xED\x95\x9C"}, {"NULL", ""}};
  EXPECT_EQ(word("$.", env), "$.");
  EXPECT_EQ(word("he$1x", env), "hex");
  EXPECT_EQ(word("he$.x", env), "he$.x");
  EXPECT_EQ(word("he$pwd.", env), "he.");  // names are case-sensitive
  EXPECT_EQ(word("he$PWD", env), "he/home");
  EXPECT_EQ(word("he\\$PWD", env), "he$PWD");
  EXPECT_EQ(word("he\\\\$PWD", env), "he\\/home");
  EXPECT_EQ(word("\"he\\$PWD\"", env), "he$PWD");
  EXPECT_EQ(word("\"he\\\\$PWD\"", env), "he\\/home");
  EXPECT_EQ(word("'he\\$PWD'", env), "he\\$PWD");
  EXPECT_EQ(word("\\${}", env), "${}");
  EXPECT_EQ(word("he\\${}xx", env), "he${}xx");
  EXPECT_EQ(word("he${hi}xx", env), "hexx");
  EXPECT_EQ(word("he${PWD}", env), "he/home");
  EXPECT_EQ(word("'he${XX}'", env), "he${XX}");
  EXPECT_EQ(word("\"he'$PWD'\"", env), "he'/home'");
  EXPECT_EQ(word("'$PWD'", env), "$PWD");
  EXPECT_EQ(word("$KOREAN!", env), "\xED\x95\x9C!");
  EXPECT_EQ(word("$$ $@ $# x", env), "   x");  // special parameters are unset variables
  EXPECT_EQ(word("${aaa}}", env), "}");
  EXPECT_EQ(word("${aaa}\"}}\"", env), "}}");
  EXPECT_EQ(word("a$", env), "a$");
}

TEST(ShellLex, Operators) {
  Env env{{"PWD", "/home"}, {"SHELL", "bash"}, {"NULL", ""}};
  EXPECT_EQ(word("he${XXX:-000}xx", env), "he000xx");
  EXPECT_EQ(word("he${PWD:-000}xx", env), "he/homexx");
  EXPECT_EQ(word("he${XXX:-$PWD}xx", env), "he/homexx");
  EXPECT_EQ(word("he${XXX:-${PWD:-yyy}}xx", env), "he/homexx");
  EXPECT_EQ(word("he${XXX:-${YYY:-yyy}}xx", env), "heyyyxx");
  EXPECT_EQ(word("he${NULL:-x}|${NULL-x}|${XXX-x}", env), "hex||x");
  EXPECT_EQ(word("he${XXX:+${PWD}}xx", env), "hexx");
  EXPECT_EQ(word("he${PWD:+${XXX}}xx", env), "hexx");
  EXPECT_EQ(word("he${PWD:+${SHELL}}xx", env), "hebashxx");
  EXPECT_EQ(word("${NULL:+a}|${NULL+a}|${XXX+a}", env), "|a|");
  EXPECT_EQ(word("he${PWD:+${PWD}:}xx", env), "he/home:xx");
  EXPECT_EQ(word("he${XXX:-\\$PWD:}xx", env), "he$PWD:xx");
  EXPECT_EQ(word("he${XXX:-\\${PWD}z}xx", env), "he${PWDz}xx");
  EXPECT_EQ(word("${aaa:-\"b b\"}|${aaa:-'$PWD'}", env), "b b|$PWD");
  EXPECT_EQ(word("he${PWD?}|${PWD:?}|${NULL?}", env), "he/home|/home|");
  EXPECT_EQ(word("${XXX?}", env),
            "ERROR: failed to process \"${XXX?}\": XXX: is not allowed to be unset");
  EXPECT_EQ(word("${NULL:?}", env),
            "ERROR: failed to process \"${NULL:?}\": NULL: is not allowed to be empty");
  EXPECT_EQ(word("${XXX:?need $SHELL}", env),
            "ERROR: failed to process \"${XXX:?need $SHELL}\": XXX: need bash");
}

TEST(ShellLex, PatternOperators) {
  auto w = [](std::string_view in, Env env) { return word(in, env); };
  EXPECT_EQ(w("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {{"FOO", "()[]{}^$.*?|\\x"}}), "x");
  EXPECT_EQ(w("${FOO%%\\**}", {{"FOO", "xx**"}}), "xx");
  EXPECT_EQ(w("${FOO#*x*y}", {{"FOO", "xxyy"}}), "y");
  EXPECT_EQ(w("${FOO#*}", {{"FOO", "xxyy"}}), "xxyy");
  EXPECT_EQ(w("${FOO#$BAR}", {{"FOO", "xxyy"}, {"BAR", "x"}}), "xyy");
  EXPECT_EQ(w("${FOO##*x}", {{"FOO", "xxyy"}}), "yy");
  EXPECT_EQ(w("${FOO#?\\?}", {{"FOO", "???y"}}), "?y");
  EXPECT_EQ(w("${ABC:-.}${FOO%x}${ABC:-.}", {{"FOO", "xxyy"}}), ".xxyy.");
  EXPECT_EQ(w("${FOO%%\\**\\*}", {{"FOO", "a***yy*"}}), "a");
  EXPECT_EQ(w("${FOO%.*}|${FOO%%.*}", {{"FOO", "a.tar.gz"}}), "a.tar|a");
  EXPECT_EQ(w("${FOO#*/}|${FOO##*/}", {{"FOO", "usr/local/bin"}}), "local/bin|bin");
  EXPECT_EQ(
      w("${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", {{"FOO", "/foo*/*/*.txt"}, {"NEEDLE", "\\*/"}}),
      "/foo.*/*.txt - /foo..*.txt");
  EXPECT_EQ(
      w("${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", {{"FOO", "/tmp/tmp/bar.txt"}, {"NEEDLE", "/tmp"}}),
      "/tmp/bar.txt - /bar.txt");
  EXPECT_EQ(
      w("${FOO/$N/$R} - ${FOO//$N/$R}", {{"FOO", "/a/foo/b/c.txt"}, {"N", "/?/"}, {"R", "/"}}),
      "/foo/b/c.txt - /foo/c.txt");
  EXPECT_EQ(w("${FOO/$N/$R}", {{"FOO", "http://google.de"}, {"N", "http://"}, {"R", "https://"}}),
            "https://google.de");
  EXPECT_EQ(w("${FOO//\\//\\/}", {{"FOO", "/tmp/foo.txt"}}), "\\/tmp\\/foo.txt");
  EXPECT_EQ(w("${FOO/$BAR/ww}", {{"FOO", "xxyy"}, {"BAR", ""}}), "wwxxyy");
  EXPECT_EQ(w("${FOO///}", {{"FOO", "xxyy"}}), "xxyy");
  EXPECT_EQ(w("${FOO///}", {}), "");
  EXPECT_EQ(w("${FOO//x/-}", {{"FOO", "axbxc"}}), "a-b-c");
  EXPECT_EQ(w("${FOO//ww}", {{"FOO", "xxyy"}}),
            "ERROR: failed to process \"${FOO//ww}\": syntax error: missing '/' in ${}");
  EXPECT_EQ(w("${FOO#\\x}", {{"FOO", "x"}}),
            "ERROR: failed to process \"${FOO#\\\\x}\": invalid pattern (\\x) in substitution: "
            "invalid escape '\\x'");
}

TEST(ShellLex, SyntaxErrors) {
  Env env{{"PWD", "/home"}};
  EXPECT_EQ(word("${}", env), "ERROR: failed to process \"${}\": syntax error: bad substitution");
  EXPECT_EQ(word("he${}xx", env).substr(0, 6), "ERROR:");
  EXPECT_EQ(word("${{aaa}", env).substr(0, 6), "ERROR:");
  EXPECT_EQ(word("${:x}", env),
            "ERROR: failed to process \"${:x}\": syntax error: bad substitution");
  EXPECT_EQ(word("he${.}", env),
            "ERROR: failed to process \"he${.}\": unsupported modifier (.) in substitution");
  EXPECT_EQ(
      word("he${PWD:=000}xx", env),
      "ERROR: failed to process \"he${PWD:=000}xx\": unsupported modifier (:=) in substitution");
  EXPECT_EQ(word("he${XXX:YYY}", env).substr(0, 6), "ERROR:");
  EXPECT_EQ(word("he${PWD", env),
            "ERROR: failed to process \"he${PWD\": syntax error: missing '}'");
  EXPECT_EQ(word("${PWD:-x", env),
            "ERROR: failed to process \"${PWD:-x\": syntax error: missing '}'");
  EXPECT_EQ(word("${", env), "ERROR: failed to process \"${\": syntax error: missing '}'");
}

TEST(ShellLex, WordsSplitOnUnquotedWhitespace) {
  Env env{{"PORTS", "80  443/udp"}, {"E", ""}, {"Q", "'a b'"}};
  EXPECT_EQ(words("$PORTS 22", env), (Strings{"80", "443/udp", "22"}));
  EXPECT_EQ(words("\"$PORTS\" 22", env), (Strings{"80  443/udp", "22"}));
  EXPECT_EQ(words("  a\\ b   'c d'e  ", env), (Strings{"a b", "c de"}));
  EXPECT_EQ(words("$E \"\" x", env), Strings{"x"});    // empty words vanish
  EXPECT_EQ(words("$Q", env), (Strings{"'a", "b'"}));  // values are not re-quoted
  EXPECT_EQ(words("", env), Strings{});
}

}  // namespace
}  // namespace berth::build
