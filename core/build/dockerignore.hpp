#pragma once

// .dockerignore as Docker reads it: moby/patternmatcher's ignorefile.ReadAll for the file,
// patternmatcher.New and MatchesOrParentMatches for the matching.
//
// Paths are relative to the context root, '/'-separated. A pattern is anchored at the root:
// `foo` excludes foo and everything under it, not a/foo. `*` and `?` stop at '/', `**`
// spans any number of directories, `[a-z]` and `[^a]` are classes, `\` escapes. Lines are
// applied in order and the last one that matches decides; `!pattern` re-includes.
//
// Docker still sends the Dockerfile and .dockerignore when a pattern excludes them (the
// classic client adds `!Dockerfile` and `!.dockerignore`); that is the caller's to do.

#include <string>
#include <string_view>
#include <vector>

#include "berth/sdk/result.hpp"

namespace berth::build::dockerignore {

struct Pattern {
  std::string text;        // cleaned, without the leading "!"
  bool exclusion = false;  // written "!text": re-includes what earlier lines excluded
};

// The patterns of a .dockerignore, as ignorefile.ReadAll returns them: a UTF-8 BOM dropped,
// lines starting with '#' in the first column skipped, the rest trimmed, blank ones skipped,
// each cleaned as Go's filepath.Clean and one leading '/' removed ("!" kept in front).
std::vector<std::string> read_patterns(std::string_view text);

class Matcher {
 public:
  // patternmatcher.New. Errors as Docker's: `illegal exclusion pattern: "!"`, and
  // "syntax error in pattern" for what Go's filepath.Match refuses ("[a", "a\") and for a
  // reversed range ("[z-a]"), which Docker's regexp refuses when it first matches.
  static Result<Matcher> create(const std::vector<std::string>& patterns);

  // Whether `path` is left out of the context: the last pattern matching it, or matching one
  // of its parent directories, is not an exclusion. The root (".") is never excluded.
  bool excluded(std::string_view path) const;

  // Whether a walk may skip directory `dir` without looking inside: it is excluded, and no
  // "!" pattern can match anything below it that it does not already match at `dir`. This is
  // exact where Docker's legacy client (a plain prefix test on each "!" pattern) is not, as
  // BuildKit's walker is: with `dir` then `!dir/*/keep`, dir is entered. When a walk enters
  // an excluded directory, the directories above an included file still have to be sent.
  bool can_skip_dir(std::string_view dir) const;

  bool has_exclusions() const { return has_exclusions_; }
  const std::vector<Pattern>& patterns() const { return patterns_; }

 private:
  struct Token {
    enum Kind {
      kLiteral,  // one byte
      kOne,      // ?     one character, not '/'
      kStar,     // *     any run without '/'
      kDirs,     // **    nothing, or anything ending in '/'
      kAny,      // **    at the end: anything
      kClass,    // [...]
    } kind = kLiteral;
    char byte = 0;
    bool negated = false;
    std::vector<std::pair<char32_t, char32_t>> ranges{};
  };
  struct Compiled {
    std::vector<Token> tokens;
    // Docker matches a pattern that starts with ** and has no other special characters
    // as a plain suffix: `**.go` excludes a/b.go, which `**/*.go` would too.
    bool suffix_mode = false;
    std::string suffix;
  };

  static bool full_match(const Compiled& c, std::string_view path);
  static bool may_match_below(const Compiled& c, std::string_view dir_slash);
  bool matches_or_parent(const Compiled& c, std::string_view path) const;

  std::vector<Pattern> patterns_;
  std::vector<Compiled> compiled_;
  bool has_exclusions_ = false;
};

// read_patterns, then Matcher::create.
Result<Matcher> parse(std::string_view text);

// Go's filepath.Clean for '/'-separated paths: "" is ".", "./a//b/../c/" is "a/c".
std::string clean_path(std::string_view path);

}  // namespace berth::build::dockerignore
