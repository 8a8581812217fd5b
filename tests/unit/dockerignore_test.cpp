// .dockerignore reading and matching against moby/patternmatcher: most cases are its own
// tests (TestMatches, the filepath.Match table, ignorefile's TestReadAll) and the examples of
// Docker's build-context documentation.

#include "build/dockerignore.hpp"

#include <gtest/gtest.h>

namespace berth::build::dockerignore {
namespace {

using Strings = std::vector<std::string>;

Matcher make(const Strings& patterns) {
  auto m = Matcher::create(patterns);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
  return m.ok() ? std::move(m).value() : *Matcher::create({});
}

Matcher from_file(std::string_view text) {
  auto m = parse(text);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
  return m.ok() ? std::move(m).value() : *Matcher::create({});
}

std::string create_err(const Strings& patterns) {
  auto m = Matcher::create(patterns);
  EXPECT_FALSE(m.ok());
  return m.ok() ? "" : m.error().message;
}

TEST(DockerignoreRead, LinesAsIgnorefileReadsThem) {
  EXPECT_EQ(read_patterns("test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n"
                          "! /inverted/abs/path\n!\n! "),
            (Strings{"test1", "test2", "a/file/here", "lastfile", "!inverted/abs/path", "!", "!"}));
  EXPECT_EQ(read_patterns(""), Strings{});
  EXPECT_EQ(read_patterns("\xEF\xBB\xBF"
                          "# bom then comment\r\nnode_modules\r\n  *.log  \r\n"),
            (Strings{"node_modules", "*.log"}));
  // Only a '#' in the first column starts a comment.
  EXPECT_EQ(read_patterns("  # not a comment\n#comment"), Strings{"# not a comment"});
  EXPECT_EQ(read_patterns("./src/../build/\n//a//b//\n!./x/\n/\ndir/.\n../up"),
            (Strings{"build", "a/b", "!x", "/", "dir", "../up"}));
}

TEST(DockerignoreRead, Errors) {
  EXPECT_EQ(parse("a\n!\n").error().message, "illegal exclusion pattern: \"!\"");
  EXPECT_EQ(create_err({"!"}), "illegal exclusion pattern: \"!\"");
  for (const char* bad : {"[", "[^", "[^bc", "a[", "\\", "a\\", "[]a]", "[-]", "[x-]", "[-x]",
                          "[a-b-c]", "[Local-Only]/"}) {
    EXPECT_EQ(create_err({bad}), "syntax error in pattern") << bad;
  }
}

TEST(DockerignoreRead, PatternsAndExclusionsAreKept) {
  Matcher m = make({"docs", "  !docs/README.md  ", "", "config/"});
  ASSERT_EQ(m.patterns().size(), 3u);
  EXPECT_EQ(m.patterns()[0].text, "docs");
  EXPECT_FALSE(m.patterns()[0].exclusion);
  EXPECT_EQ(m.patterns()[1].text, "docs/README.md");
  EXPECT_TRUE(m.patterns()[1].exclusion);
  EXPECT_EQ(m.patterns()[2].text, "config");
  EXPECT_TRUE(m.has_exclusions());
  EXPECT_FALSE(make({"a", "b"}).has_exclusions());
}

TEST(DockerignoreClean, GoFilepathClean) {
  EXPECT_EQ(clean_path(""), ".");
  EXPECT_EQ(clean_path("."), ".");
  EXPECT_EQ(clean_path("./a//b/../c/"), "a/c");
  EXPECT_EQ(clean_path("a/.."), ".");
  EXPECT_EQ(clean_path("../../a"), "../../a");
  EXPECT_EQ(clean_path("/../a"), "/a");
  EXPECT_EQ(clean_path("/"), "/");
  EXPECT_EQ(clean_path("a/b/../../.."), "..");
}

struct Case {
  const char* pattern;
  const char* path;
  bool excluded;
};

// patternmatcher's TestMatches, through MatchesOrParentMatches.
TEST(DockerignoreMatch, DoubleStarAndWildcards) {
  const Case cases[] = {
      {"**", "file", true},
      {"**", "file/", true},
      {"**/", "file", true},
      {"**", "dir/file", true},
      {"**/**", "dir/file", true},
      {"dir/**", "dir/file", true},
      {"dir/**", "dir/dir2/file", true},
      {"**/dir", "dir", true},
      {"**/dir", "dir/file", true},
      {"**/dir2/*", "dir/dir2/file", true},
      {"**/dir2/*", "dir/dir2/file/", true},
      {"**/dir2/**", "dir/dir2/dir3/file", true},
      {"**file", "file", true},
      {"**file", "dir/file", true},
      {"**/file", "dir/dir/file", true},
      {"**/file*", "dir/dir/file.txt", true},
      {"**/file*txt", "dir/dir/file.txt", true},
      {"**/file*.txt*", "dir/dir/file.txt", true},
      {"**/**/*.txt", "dir/dir/file.txt", true},
      {"**/**/*.txt2", "dir/dir/file.txt", false},
      {"**/*.txt", "file.txt", true},
      {"**/**/*.txt", "file.txt", true},
      {"a**/*.txt", "a/file.txt", true},
      {"a**/*.txt", "a/dir/dir/file.txt", true},
      {"a/*.txt", "a/dir/file.txt", false},
      {"a/*.txt", "a/file.txt", true},
      {"a/*.txt**", "a/file.txt", true},
      {"**/foo/bar", "foo/bar", true},
      {"**/foo/bar", "dir/dir2/foo/bar", true},
      {"abc/**", "abc", false},
      {"abc/**", "abc/def/ghi", true},
      {"**/.foo", ".foo", true},
      {"**/.foo", "bar.foo", false},
      {"**/dist/*.whl", "x/dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(make({c.pattern}).excluded(c.path), c.excluded) << c.pattern << " vs " << c.path;
  }
}

TEST(DockerignoreMatch, SuffixQuirkOfLeadingDoubleStar) {
  // `**` followed by plain text is matched as a suffix, not as `(.*/)?text`.
  EXPECT_TRUE(make({"**.go"}).excluded("a/b.go"));
  EXPECT_TRUE(make({"**.go"}).excluded("x.go"));
  EXPECT_TRUE(make({"**foo"}).excluded("barfoo"));
  EXPECT_FALSE(make({"**/foo"}).excluded("barfoo"));
  EXPECT_FALSE(make({"**.go"}).excluded("a.gox"));
}

// Go's filepath.Match table, as patternmatcher tests it.
TEST(DockerignoreMatch, FilepathMatchSemantics) {
  const Case cases[] = {
      {"abc", "abc", true},
      {"*", "abc", true},
      {"*c", "abc", true},
      {"a*", "a", true},
      {"a*", "ab/c", true},  // through the parent "ab"
      {"a*/b", "abc/b", true},
      {"a*/b", "a/c/b", false},
      {"a*b*c*d*e*/f", "axbxcxdxe/f", true},
      {"a*b*c*d*e*/f", "axbxcxdxexxx/f", true},
      {"a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false},
      {"a*b*c*d*e*/f", "axbxcxdxexxx/fff", false},
      {"a*b?c*x", "abxbbxdbxebxczzx", true},
      {"a*b?c*x", "abxbbxdbxebxczzy", false},
      {"ab[c]", "abc", true},
      {"ab[b-d]", "abc", true},
      {"ab[e-g]", "abc", false},
      {"ab[^c]", "abc", false},
      {"ab[^b-d]", "abc", false},
      {"ab[^e-g]", "abc", true},
      {"a\\*b", "a*b", true},
      {"a\\*b", "ab", false},
      {"a?b",
       "a\xE2\x98\xBA"
       "b",
       true},
      {"a[^a]b",
       "a\xE2\x98\xBA"
       "b",
       true},
      {"a???b",
       "a\xE2\x98\xBA"
       "b",
       false},
      {"[a-\xCE\xB6]*", "\xCE\xB1", true},
      {"*[a-\xCE\xB6]", "A", false},
      {"a?b", "a/b", false},
      {"a*b", "a/b", false},
      {"[\\]a]", "]", true},
      {"[\\-]", "-", true},
      {"[x\\-]", "x", true},
      {"[x\\-]", "-", true},
      {"[x\\-]", "z", false},
      {"[\\-x]", "a", false},
      {"*x", "xxx", true},
      {"a[b-d]e", "ace", true},
      {"a[b-d]e", "ae", false},
      {"a[^b-d]e", "aze", true},
      {".*", ".foo", true},
      {".*", "foo", false},
      {"abc.def", "abcdef", false},
      {"abc?def", "abcZdef", true},
      {"a(b)c/def", "a(b)c/def", true},
      {"a.|)$(}+{bc", "a.|)$(}+{bc", true},
      {"a\\\\", "a\\", true},
      {"\\#notes", "#notes", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(make({c.pattern}).excluded(c.path), c.excluded) << c.pattern << " vs " << c.path;
  }
}

TEST(DockerignoreMatch, AnchoredAtTheRootAndParentsCount) {
  Matcher m = from_file("foo\n/bar/baz\n./qux/\n*.md\n");
  EXPECT_TRUE(m.excluded("foo"));
  EXPECT_TRUE(m.excluded("foo/deep/file"));
  EXPECT_FALSE(m.excluded("a/foo"));
  EXPECT_FALSE(m.excluded("foobar"));
  EXPECT_TRUE(m.excluded("bar/baz/x"));
  EXPECT_FALSE(m.excluded("bar"));
  EXPECT_TRUE(m.excluded("qux"));
  EXPECT_TRUE(m.excluded("./qux/a"));  // the path is cleaned too
  EXPECT_TRUE(m.excluded("README.md"));
  EXPECT_FALSE(m.excluded("docs/guide.md"));  // * stops at '/'
  EXPECT_FALSE(m.excluded("."));
  EXPECT_FALSE(m.excluded(""));
  EXPECT_FALSE(make({}).excluded("anything/at/all"));
}

TEST(DockerignoreMatch, DocumentationExamples) {
  Matcher m = from_file("# comment\n*/temp*\n*/*/temp*\ntemp?\n");
  EXPECT_TRUE(m.excluded("somedir/temporary.txt"));
  EXPECT_TRUE(m.excluded("somedir/temp"));
  EXPECT_TRUE(m.excluded("somedir/subdir/temporary.txt"));
  EXPECT_TRUE(m.excluded("tempa"));
  EXPECT_TRUE(m.excluded("tempb/inside"));
  EXPECT_FALSE(m.excluded("temp"));
  EXPECT_FALSE(m.excluded("temporary.txt"));
  EXPECT_FALSE(m.excluded("a/b/c/temp"));
}

TEST(DockerignoreMatch, ExceptionsAndTheLastMatchWins) {
  Matcher readme = from_file("*.md\n!README.md\n");
  EXPECT_TRUE(readme.excluded("CHANGES.md"));
  EXPECT_FALSE(readme.excluded("README.md"));

  Matcher secret = from_file("*.md\n!README*.md\nREADME-secret.md\n");
  EXPECT_TRUE(secret.excluded("README-secret.md"));
  EXPECT_FALSE(secret.excluded("README-public.md"));
  EXPECT_TRUE(secret.excluded("other.md"));

  Matcher reversed = from_file("*.md\nREADME-secret.md\n!README*.md\n");
  EXPECT_FALSE(reversed.excluded("README-secret.md"));

  // An exception before the exclusion it would undo does nothing.
  Matcher early = make({"!fileutils.go", "*.go"});
  EXPECT_TRUE(early.excluded("fileutils.go"));
  EXPECT_FALSE(make({"*.go", "!fileutils.go"}).excluded("fileutils.go"));

  Matcher docs = make({"docs", "!docs/README.md"});
  EXPECT_FALSE(docs.excluded("docs/README.md"));
  EXPECT_TRUE(docs.excluded("docs/other.md"));
  EXPECT_TRUE(docs.excluded("docs"));
  EXPECT_FALSE(make({"docs/", "!docs/README.md"}).excluded("docs/README.md"));
  EXPECT_FALSE(make({"docs/*", "!docs/README.md"}).excluded("docs/README.md"));

  EXPECT_FALSE(make({"**", "!util/docker/web"}).excluded("util/docker/web/foo"));
  EXPECT_TRUE(
      make({"**", "!util/docker/web", "util/docker/web/foo"}).excluded("util/docker/web/foo"));
  EXPECT_FALSE(make({"**", "!dist/*.whl"})
                   .excluded("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"));
  // Everything but the Dockerfile, the way people write it.
  Matcher only = make({"*", "!Dockerfile", "!src"});
  EXPECT_TRUE(only.excluded("README"));
  EXPECT_FALSE(only.excluded("Dockerfile"));
  EXPECT_FALSE(only.excluded("src/main.c"));
}

TEST(DockerignoreSkip, DirectoriesAWalkMayPrune) {
  Matcher plain = make({"node_modules", ".git"});
  EXPECT_TRUE(plain.can_skip_dir("node_modules"));
  EXPECT_TRUE(plain.can_skip_dir("node_modules/x"));
  EXPECT_FALSE(plain.can_skip_dir("src"));  // not excluded at all
  EXPECT_FALSE(plain.can_skip_dir("."));

  Matcher docs = make({"docs", "!docs/README.md"});
  EXPECT_FALSE(docs.can_skip_dir("docs"));
  EXPECT_TRUE(docs.can_skip_dir("docs/sub"));

  // The legacy client's prefix test would skip dir; an exact check cannot.
  Matcher wild = make({"dir", "!dir/*/keep"});
  EXPECT_FALSE(wild.can_skip_dir("dir"));
  EXPECT_FALSE(wild.can_skip_dir("dir/a"));
  EXPECT_TRUE(wild.can_skip_dir("dir/a/b"));
  EXPECT_FALSE(wild.excluded("dir/a/keep"));
  EXPECT_TRUE(wild.excluded("dir/a/other"));

  Matcher any = make({"*", "!**/keep.txt"});
  EXPECT_FALSE(any.can_skip_dir("x"));
  EXPECT_FALSE(any.excluded("x/y/keep.txt"));

  Matcher build = make({"build/**", "!build/keep/**"});
  EXPECT_FALSE(build.excluded("build"));  // "build/**" matches only what is inside
  EXPECT_TRUE(build.excluded("build/keep"));
  EXPECT_FALSE(build.can_skip_dir("build/keep"));
  EXPECT_FALSE(build.excluded("build/keep/a"));
  EXPECT_TRUE(build.can_skip_dir("build/other"));

  // An exception that already applies at the directory changes nothing below it.
  Matcher nested = make({"docs", "!docs/keep", "docs/keep/secret"});
  EXPECT_FALSE(nested.can_skip_dir("docs"));
  EXPECT_TRUE(nested.can_skip_dir("docs/keep/secret"));
  EXPECT_TRUE(nested.excluded("docs/keep/secret/x"));
  EXPECT_FALSE(nested.excluded("docs/keep/y"));

  Matcher cls = make({"logs", "!logs/[0-9]*.keep"});
  EXPECT_FALSE(cls.can_skip_dir("logs"));
  EXPECT_TRUE(cls.can_skip_dir("logs/old"));
}

}  // namespace
}  // namespace berth::build::dockerignore
