#pragma once

// Dockerfiles as the classic builder reads them (moby's builder/dockerfile over BuildKit's
// frontend/dockerfile parser, instructions and shell packages), in two layers:
//
//   parse_dockerfile()    text -> stages of raw instructions, validated the way Docker
//                         validates before the first step runs; nothing is expanded.
//   expand_instruction()  one instruction with $VARs substituted, for the executor to call
//                         when it reaches the step, because ENV and ARG change the values
//                         as the build proceeds.
//
// Heredocs (RUN <<EOF) are not supported: their bodies parse as instructions, as in builders
// that predate them. Errors read as Docker's: "dockerfile parse error on line N: ...".

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "berth/sdk/result.hpp"

namespace berth::build {

struct Flag {
  std::string name;   // without the leading "--"
  std::string value;  // as written after "="; "true" for a bare boolean flag
};

// One instruction as written. The shape of `args` follows the keyword, as Docker's AST does:
//   FROM EXPOSE                 the words, split on whitespace
//   RUN CMD ENTRYPOINT SHELL    json: the array's strings; else one string, the rest of the line
//   COPY ADD VOLUME             json: the array's strings; else the words (sources..., dest)
//   ENV LABEL                   key, value, key, value...; quotes and escapes still in place
//   ARG                         "name" or "name=default" words; quotes still in place
//   USER WORKDIR STOPSIGNAL MAINTAINER   one string, the rest of the line
//   HEALTHCHECK                 "NONE", or "CMD" then the command as for CMD
//   ONBUILD                     one string, the trigger's text (what the image config keeps)
struct Instruction {
  std::string keyword;      // upper case: "RUN"
  std::vector<Flag> flags;  // --name=value words before the arguments, in order
  std::vector<std::string> args;
  bool json = false;     // exec form: the arguments were a JSON array
  std::string original;  // the text Docker prints in "Step N/M : ...": continuations
                         // joined, whole-line comments dropped, outer whitespace trimmed
  int line = 0;          // first and last physical line, 1-based
  int end_line = 0;
  std::vector<Instruction> trigger;  // ONBUILD: the one instruction it wraps

  // The last value given for --name, if any.
  std::optional<std::string> flag(std::string_view name) const;
};

struct Stage {
  size_t index = 0;
  std::string base;      // FROM's image (or earlier stage), unexpanded; may be "scratch"
  std::string name;      // the AS name, lower-cased; empty if none
  std::string platform;  // --platform, unexpanded; empty if none
  Instruction from;      // the FROM instruction itself
  std::vector<Instruction> instructions;  // everything after FROM up to the next FROM
};

struct Dockerfile {
  char escape = '\\';                    // from the "# escape=" directive
  std::vector<Instruction> global_args;  // the ARGs before the first FROM
  std::vector<Stage> stages;             // at least one
  std::vector<std::string> warnings;     // Docker's "[WARNING]: Empty continuation line..."
};

Result<Dockerfile> parse_dockerfile(std::string_view text);

// Parses one ONBUILD trigger taken from a base image's config, as the classic builder does
// before running it in the child build: exactly one instruction, and not FROM.
Result<Instruction> parse_trigger(std::string_view expression);

// The stage --target names (case-insensitively), or the last stage when `target` is empty.
// Error: "failed to reach build target X in Dockerfile".
Result<size_t> resolve_target(const Dockerfile& file, std::string_view target);

// What COPY --from=REF means in stage `current`: an earlier stage by name (any case) or by
// index, or nullopt when REF is an image to pull. An index of this stage or a later one is
// Docker's "invalid from flag value REF: refers to current build stage" (or "index out of
// bounds").
Result<std::optional<size_t>> copy_from_stage(const Dockerfile& file, std::string_view ref,
                                              size_t current);

// What FROM's (expanded) base means in stage `current`: an earlier stage by name, or nullopt
// for an image. Unlike --from, FROM never takes an index.
std::optional<size_t> base_stage(const Dockerfile& file, std::string_view base, size_t current);

// The M of "Step N/M" when building up to and including stage `last`: one step per global
// ARG, per FROM and per instruction, as the classic builder counts them.
size_t step_count(const Dockerfile& file, size_t last);

// The classic builder refuses some flags that BuildKit's parser accepts, when it reaches the
// step (after printing it): RUN's --mount, --network, --security, --device, and COPY/ADD's
// --parents, --exclude, --checksum, --keep-git-dir, --unpack. The error is Docker's
// "the --mount option requires BuildKit. ...". --link is accepted and has no effect there.
Status check_classic_support(const Instruction& ins);

// ---- Variable expansion (moby's shell.Lex) ----

using Env = std::map<std::string, std::string, std::less<>>;

// ProcessWord: substitutes $VAR, ${VAR}, ${VAR:-w}, ${VAR-w}, ${VAR:+w}, ${VAR+w},
// ${VAR:?msg}, ${VAR?msg}, ${VAR#p}, ${VAR##p}, ${VAR%p}, ${VAR%%p}, ${VAR/p/r},
// ${VAR//p/r}, and removes quotes and escapes: '...' is literal, "..." still expands, the
// escape character escapes any character outside quotes and only " $ and itself inside.
// Unset variables are empty. Errors read "failed to process \"WORD\": ...".
Result<std::string> expand_word(std::string_view word, const Env& env, char escape = '\\');

// ProcessWords: the same, then split on unquoted whitespace (EXPOSE $PORTS gives each port).
Result<std::vector<std::string>> expand_words(std::string_view word, const Env& env,
                                              char escape = '\\');

// A copy of `ins` with what Docker expands substituted against `env`:
//   FROM          the base and --platform (pass the global ARGs as env)
//   ENV LABEL     keys and values
//   ARG           names and defaults (each "name=default" word rebuilt after expansion)
//   WORKDIR USER STOPSIGNAL   the argument
//   VOLUME        each item
//   EXPOSE        the words sorted as written, then each expanded and split again
//   COPY ADD      sources, destination, --chown, --chmod (never --from)
// Others (RUN CMD ENTRYPOINT SHELL HEALTHCHECK MAINTAINER ONBUILD) come back unchanged: their
// text is for the shell or is stored verbatim. `original` is kept as written.
Result<Instruction> expand_instruction(const Instruction& ins, const Env& env, char escape);

// ---- Typed views over validated instructions ----

struct ArgDecl {
  std::string name;
  std::optional<std::string> value;  // the default, if "=..." was given (may be empty)
};

// ARG's words split at the first "=".
std::vector<ArgDecl> arg_decls(const Instruction& arg);

struct HealthConfig {
  std::vector<std::string> test;  // ["NONE"], ["CMD", args...] or ["CMD-SHELL", command]
  int64_t interval_ns = 0;        // 0: not given; the daemon applies its defaults
  int64_t timeout_ns = 0;
  int64_t start_period_ns = 0;
  int64_t start_interval_ns = 0;
  int retries = 0;
};

// HEALTHCHECK's flags and command, checked as Docker checks them: durations in Go's syntax
// ("1m30s") and at least 1ms, --retries at least 1.
Result<HealthConfig> health_config(const Instruction& healthcheck);

}  // namespace berth::build
