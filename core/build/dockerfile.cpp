#include "build/dockerfile.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

// The parser works on bytes. Every character with a meaning (quotes, escapes, $, braces,
// whitespace) is ASCII and never occurs inside a UTF-8 sequence, so multi-byte text passes
// through unchanged; only Go's Unicode whitespace beyond ASCII is not treated as a separator.

namespace berth::build {
namespace {

constexpr int kEof = -1;

// Go's unicode.IsSpace, restricted to ASCII.
bool is_space(int c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// The separators of Docker's reWhitespace, `[\t\v\f\r ]+`.
bool is_separator(char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r'; }

bool is_digit(int c) { return c >= '0' && c <= '9'; }

std::string_view trim_left(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  return s;
}

std::string_view trim(std::string_view s) {
  s = trim_left(s);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string to_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && to_lower(a) == to_lower(b);
}

// Splits on runs of reWhitespace; `s` must already be trimmed, as Docker's callers ensure.
std::vector<std::string> split_separators(std::string_view s, size_t max_parts = 0) {
  std::vector<std::string> out;
  size_t i = 0;
  while (true) {
    if (max_parts != 0 && out.size() + 1 == max_parts) {
      out.emplace_back(s.substr(i));
      return out;
    }
    size_t j = i;
    while (j < s.size() && !is_separator(s[j])) ++j;
    out.emplace_back(s.substr(i, j - i));
    if (j == s.size()) return out;
    while (j < s.size() && is_separator(s[j])) ++j;
    i = j;
  }
}

// Go's %q, for messages that quote user text the way Docker's do.
std::string go_quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

Error invalid(std::string message) { return make_error(Code::InvalidArgument, std::move(message)); }

Error at_line(int line, const std::string& message) {
  return invalid("dockerfile parse error on line " + std::to_string(line) + ": " + message);
}

// ---- Physical lines, directives, continuations (parser.Parse) ----

struct Directives {
  char escape = '\\';
  bool done = false;
  std::set<std::string> seen;
};

// `# key=value` before anything else; Go's reDirectives is
// ^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$ with \s = [\t\n\f\r ].
Status possible_directive(Directives& d, std::string_view line) {
  if (d.done) return {};
  auto re_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
  };
  size_t i = 0;
  auto fail = [&]() -> Status {
    d.done = true;
    return {};
  };
  if (i >= line.size() || line[i] != '#') return fail();
  ++i;
  while (i < line.size() && re_space(line[i])) ++i;
  size_t key_start = i;
  if (i >= line.size() || !std::isalpha(static_cast<unsigned char>(line[i]))) return fail();
  while (i < line.size() && std::isalnum(static_cast<unsigned char>(line[i]))) ++i;
  std::string key = to_lower(line.substr(key_start, i - key_start));
  while (i < line.size() && re_space(line[i])) ++i;
  if (i >= line.size() || line[i] != '=') return fail();
  ++i;
  while (i < line.size() && re_space(line[i])) ++i;
  std::string_view value = line.substr(i);
  while (!value.empty() && re_space(value.back())) value.remove_suffix(1);
  if (value.empty()) return fail();
  if (key != "escape" && key != "syntax" && key != "check") return fail();
  if (!d.seen.insert(key).second) {
    return invalid("only one " + key + " parser directive can be used");
  }
  if (key == "escape") {
    if (value != "`" && value != "\\") {
      return invalid("invalid escape token '" + std::string(value) + "' does not match ` or \\");
    }
    d.escape = value[0];
  }
  return {};
}

bool is_comment(std::string_view line) {
  line = trim_left(line);
  return !line.empty() && line.front() == '#';
}

// The continuation regex, `ESC[ \t]*$`: strips it and reports whether the line goes on.
bool trim_continuation(std::string& line, char escape) {
  size_t end = line.size();
  while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t')) --end;
  if (end == 0 || line[end - 1] != escape) return false;
  line.resize(end - 1);
  return true;
}

// ---- Splitting an instruction line (split_command.go, line_parsers.go) ----

struct Node {
  std::string word;                     // the keyword as written
  std::string raw;                      // the joined line before trimming (ONBUILD uses it)
  std::vector<std::string> flag_words;  // "--name=value", quotes removed
  Instruction ins;
};

// Leading --flags. Quotes and backslashes here are always '\\', whatever the escape token.
std::pair<std::string, std::vector<std::string>> extract_builder_flags(std::string_view line) {
  enum { kInSpaces, kInWord, kInQuote } phase = kInSpaces;
  std::vector<std::string> words;
  std::string word;
  char quote = 0;
  bool blank_ok = false;
  for (size_t pos = 0; pos <= line.size(); ++pos) {
    char ch = pos < line.size() ? line[pos] : 0;
    if (phase == kInSpaces) {
      if (pos == line.size()) break;
      if (is_space(ch)) continue;
      if (ch != '-' || pos + 1 == line.size() || line[pos + 1] != '-') {
        return {std::string(line.substr(pos)), words};
      }
      phase = kInWord;
    }
    if (pos == line.size()) {
      if (word != "--" && (blank_ok || !word.empty())) words.push_back(word);
      break;
    }
    if (phase == kInWord) {
      if (is_space(ch)) {
        phase = kInSpaces;
        if (word == "--") return {std::string(line.substr(pos)), words};
        if (blank_ok || !word.empty()) words.push_back(word);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        blank_ok = true;
        phase = kInQuote;
        continue;
      }
      if (ch == '\\') {
        if (pos + 1 == line.size()) continue;
        ch = line[++pos];
      }
      word += ch;
      continue;
    }
    if (ch == quote) {
      phase = kInWord;
      continue;
    }
    if (ch == '\\') {
      if (pos + 1 == line.size()) {
        phase = kInWord;
        continue;
      }
      ch = line[++pos];
    }
    word += ch;
  }
  return {"", words};
}

// Quote-aware words for ENV, LABEL and ARG. Quotes and escapes stay in the words: the shell
// lexer removes them when the instruction is expanded.
std::vector<std::string> parse_words(std::string_view rest, char escape) {
  enum { kInSpaces, kInWord, kInQuote } phase = kInSpaces;
  std::vector<std::string> words;
  std::string word;
  char quote = 0;
  bool blank_ok = false;
  for (size_t pos = 0; pos <= rest.size(); ++pos) {
    char ch = pos < rest.size() ? rest[pos] : 0;
    if (phase == kInSpaces) {
      if (pos == rest.size()) break;
      if (is_space(ch)) continue;
      phase = kInWord;
    }
    if (pos == rest.size()) {
      if (blank_ok || !word.empty()) words.push_back(word);
      break;
    }
    if (phase == kInWord) {
      if (is_space(ch)) {
        phase = kInSpaces;
        if (blank_ok || !word.empty()) words.push_back(word);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        blank_ok = true;
        phase = kInQuote;
      }
      if (ch == escape) {
        if (pos + 1 == rest.size()) continue;
        word += ch;
        ch = rest[++pos];
      }
      word += ch;
      continue;
    }
    if (ch == quote) phase = kInWord;
    if (ch == escape && quote != '\'') {
      if (pos + 1 == rest.size()) {
        phase = kInWord;
        continue;
      }
      word += ch;
      ch = rest[++pos];
    }
    word += ch;
  }
  return words;
}

constexpr const char* kNotStringArray =
    "when using JSON array syntax, arrays must be comprised of strings only";

// A JSON array of strings, or nullopt when `rest` is not one (then it is shell form).
Result<std::optional<std::vector<std::string>>> parse_json(std::string_view rest) {
  rest = trim_left(rest);
  if (rest.empty() || rest.front() != '[') return std::optional<std::vector<std::string>>{};
  auto doc = nlohmann::json::parse(rest.begin(), rest.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_array()) return std::optional<std::vector<std::string>>{};
  std::vector<std::string> out;
  for (const auto& item : doc) {
    if (!item.is_string()) return invalid(kNotStringArray);
    out.push_back(item.get<std::string>());
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

Status parse_maybe_json(std::string_view rest, Instruction& ins) {
  if (rest.empty()) return {};
  BERTH_ASSIGN(auto list, parse_json(rest));
  if (list) {
    ins.args = std::move(*list);
    ins.json = true;
  } else {
    ins.args = {std::string(rest)};
  }
  return {};
}

Status parse_maybe_json_to_list(std::string_view rest, Instruction& ins) {
  BERTH_ASSIGN(auto list, parse_json(rest));
  if (list) {
    ins.args = std::move(*list);
    ins.json = true;
  } else if (!rest.empty()) {
    ins.args = split_separators(rest);
  }
  return {};
}

Status parse_name_val(std::string_view rest, const std::string& keyword, char escape,
                      Instruction& ins) {
  auto words = parse_words(rest, escape);
  if (words.empty()) return {};
  if (words[0].find('=') == std::string::npos) {
    // The legacy form, `ENV key rest of the line`.
    auto parts = split_separators(rest, 2);
    if (parts.size() < 2) return invalid(keyword + " must have two arguments");
    ins.args = std::move(parts);
    return {};
  }
  for (const auto& word : words) {
    size_t eq = word.find('=');
    if (eq == std::string::npos) {
      return invalid("Syntax error - can't find = in " + go_quote(word) +
                     ". Must be of the form: name=value");
    }
    ins.args.push_back(word.substr(0, eq));
    ins.args.push_back(word.substr(eq + 1));
  }
  return {};
}

Status parse_health_line(std::string_view rest, Instruction& ins) {
  size_t sep = 0;
  while (sep < rest.size() && !is_space(rest[sep])) ++sep;
  if (sep == 0) return {};
  size_t next = sep;
  while (next < rest.size() && is_space(rest[next])) ++next;
  Instruction cmd;
  BERTH_TRY(parse_maybe_json(rest.substr(next), cmd));
  ins.args.emplace_back(rest.substr(0, sep));
  ins.args.insert(ins.args.end(), cmd.args.begin(), cmd.args.end());
  ins.json = cmd.json;
  return {};
}

// newNodeFromLine: keyword, flags, then the keyword's own argument syntax. Unknown keywords
// parse with no arguments; the instruction pass refuses them.
Result<Node> node_from_line(std::string_view line, char escape) {
  Node node;
  node.raw = std::string(line);
  std::string_view text = trim(line);
  size_t cut = 0;
  while (cut < text.size() && !is_separator(text[cut])) ++cut;
  node.word = std::string(text.substr(0, cut));
  std::string args;
  if (cut < text.size()) {
    size_t rest = cut;
    while (rest < text.size() && is_separator(text[rest])) ++rest;
    auto [remaining, flags] = extract_builder_flags(text.substr(rest));
    args = std::string(trim(remaining));
    node.flag_words = std::move(flags);
  }
  Instruction& ins = node.ins;
  ins.keyword = to_upper(node.word);
  ins.original = std::string(trim(line));
  const std::string& k = ins.keyword;
  if (k == "ADD" || k == "COPY" || k == "VOLUME") {
    BERTH_TRY(parse_maybe_json_to_list(args, ins));
  } else if (k == "RUN" || k == "CMD" || k == "ENTRYPOINT" || k == "SHELL") {
    BERTH_TRY(parse_maybe_json(args, ins));
  } else if (k == "ENV" || k == "LABEL") {
    BERTH_TRY(parse_name_val(args, k, escape, ins));
  } else if (k == "ARG") {
    ins.args = parse_words(args, escape);
  } else if (k == "FROM" || k == "EXPOSE") {
    if (!args.empty()) ins.args = split_separators(args);
  } else if (k == "MAINTAINER" || k == "STOPSIGNAL" || k == "USER" || k == "WORKDIR") {
    if (!args.empty()) ins.args = {args};
  } else if (k == "HEALTHCHECK") {
    BERTH_TRY(parse_health_line(args, ins));
  } else if (k == "ONBUILD") {
    if (!args.empty()) {
      BERTH_ASSIGN(Node child, node_from_line(args, escape));
      for (size_t i = 0; i < child.flag_words.size(); ++i) {
        const std::string& w = child.flag_words[i];
        size_t eq = w.find('=');
        child.ins.flags.push_back(
            {w.substr(2, eq == std::string::npos ? std::string::npos : eq - 2),
             eq == std::string::npos ? "" : w.substr(eq + 1)});
      }
      ins.trigger.push_back(std::move(child.ins));
    }
  }
  return node;
}

// ---- Flags (BFlags) ----

enum class FlagKind { kString, kBool, kStrings };

struct FlagSpec {
  const char* name;
  FlagKind kind;
};

Status parse_flags(const std::vector<std::string>& words, std::initializer_list<FlagSpec> specs,
                   std::vector<Flag>& out) {
  std::set<std::string> used;
  for (const auto& w : words) {
    if (w.rfind("--", 0) != 0) return invalid("arg should start with -- : " + w);
    if (w == "--") return {};
    std::string name = w.substr(2);
    std::string value;
    size_t eq = name.find('=');
    bool has_value = eq != std::string::npos;
    if (has_value) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    const FlagSpec* spec = nullptr;
    for (const auto& s : specs) {
      if (name == s.name) spec = &s;
    }
    if (spec == nullptr) return invalid("unknown flag: --" + name);
    if (!used.insert(name).second && spec->kind != FlagKind::kStrings) {
      return invalid("duplicate flag specified: --" + name);
    }
    switch (spec->kind) {
      case FlagKind::kBool: {
        if (has_value && value.empty()) return invalid("missing a value on flag: --" + name);
        std::string lower = to_lower(value);
        if (lower.empty()) {
          value = "true";
        } else if (lower == "true" || lower == "false") {
          value = lower;
        } else {
          return invalid("expecting boolean value for flag --" + name + ", not: " + value);
        }
        break;
      }
      case FlagKind::kString:
      case FlagKind::kStrings:
        if (!has_value) return invalid("missing a value on flag: --" + name);
        break;
    }
    out.push_back({name, value});
  }
  return {};
}

// ---- Go's time.ParseDuration and strconv.ParseInt, for HEALTHCHECK ----

Result<int64_t> go_parse_duration(std::string_view orig) {
  auto bad = [&]() { return invalid("time: invalid duration " + go_quote(orig)); };
  std::string_view s = orig;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return int64_t{0};
  if (s.empty()) return bad();
  constexpr uint64_t kLimit = uint64_t{1} << 63;
  uint64_t total = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || is_digit(s[0]))) return bad();
    uint64_t v = 0;
    size_t i = 0;
    for (; i < s.size() && is_digit(s[i]); ++i) {
      if (v > (kLimit - 1) / 10) return bad();
      v = v * 10 + static_cast<uint64_t>(s[i] - '0');
      if (v > kLimit) return bad();
    }
    bool pre = i > 0;
    s.remove_prefix(i);
    uint64_t frac = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      size_t j = 0;
      bool overflow = false;
      for (; j < s.size() && is_digit(s[j]); ++j) {
        if (overflow) continue;
        if (frac > (std::numeric_limits<int64_t>::max() - 9) / 10) {
          overflow = true;
          continue;
        }
        frac = frac * 10 + static_cast<uint64_t>(s[j] - '0');
        scale *= 10;
      }
      post = j > 0;
      s.remove_prefix(j);
    }
    if (!pre && !post) return bad();
    size_t u = 0;
    while (u < s.size() && s[u] != '.' && !is_digit(s[u])) ++u;
    if (u == 0) return invalid("time: missing unit in duration " + go_quote(orig));
    std::string_view unit_name = s.substr(0, u);
    s.remove_prefix(u);
    uint64_t unit = 0;
    if (unit_name == "ns") {
      unit = 1;
    } else if (unit_name == "us" || unit_name == "\xC2\xB5s" || unit_name == "\xCE\xBCs") {
      unit = 1000;
    } else if (unit_name == "ms") {
      unit = 1000000;
    } else if (unit_name == "s") {
      unit = 1000000000;
    } else if (unit_name == "m") {
      unit = 60ULL * 1000000000;
    } else if (unit_name == "h") {
      unit = 3600ULL * 1000000000;
    } else {
      return invalid("time: unknown unit " + go_quote(unit_name) + " in duration " +
                     go_quote(orig));
    }
    if (v > kLimit / unit) return bad();
    v *= unit;
    if (frac > 0) {
      v += static_cast<uint64_t>(static_cast<double>(frac) * (static_cast<double>(unit) / scale));
      if (v > kLimit) return bad();
    }
    total += v;
    if (total > kLimit) return bad();
  }
  if (neg)
    return total == kLimit ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(total);
  if (total > kLimit - 1) return bad();
  return static_cast<int64_t>(total);
}

Result<int64_t> go_parse_int32(const std::string& s) {
  auto fail = [&](const char* why) {
    return invalid("strconv.ParseInt: parsing " + go_quote(s) + ": " + why);
  };
  size_t i = 0;
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    i = 1;
  }
  if (i == s.size()) return fail("invalid syntax");
  int64_t v = 0;
  bool range = false;
  for (; i < s.size(); ++i) {
    if (!is_digit(s[i])) return fail("invalid syntax");
    if (v <= (int64_t{1} << 32)) v = v * 10 + (s[i] - '0');
    if (v > (int64_t{1} << 31)) range = true;
  }
  if (range || (!neg && v == (int64_t{1} << 31))) return fail("value out of range");
  return neg ? -v : v;
}

// ---- The instruction pass (instructions.Parse) ----

Status kvps(const Instruction& ins) {
  if (ins.args.empty()) return invalid(ins.keyword + " requires at least one argument");
  for (size_t i = 0; i < ins.args.size(); i += 2) {
    if (ins.args[i].empty()) return invalid(ins.keyword + " names can not be blank");
  }
  return {};
}

Status exactly_one(const Instruction& ins) {
  if (ins.args.size() != 1) return invalid(ins.keyword + " requires exactly one argument");
  return {};
}

Status at_least_one(const Instruction& ins) {
  if (ins.args.empty()) return invalid(ins.keyword + " requires at least one argument");
  return {};
}

Status sources_and_dest(const Instruction& ins) {
  if (ins.args.size() < 2) {
    return invalid(ins.keyword +
                   " requires at least two arguments, but only one was provided. Destination "
                   "could not be determined");
  }
  return {};
}

// Checks one instruction as ParseInstruction does and fills its flags. Error texts are
// Docker's; the caller adds the line.
Status check_instruction(Node& node) {
  Instruction& ins = node.ins;
  const std::string& k = ins.keyword;
  const auto& fw = node.flag_words;
  if (k == "ENV" || k == "LABEL") {
    BERTH_TRY(parse_flags(fw, {}, ins.flags));
    return kvps(ins);
  }
  if (k == "MAINTAINER") {
    BERTH_TRY(exactly_one(ins));
    return parse_flags(fw, {}, ins.flags);
  }
  if (k == "ADD") {
    BERTH_TRY(sources_and_dest(ins));
    return parse_flags(fw,
                       {{"chown", FlagKind::kString},
                        {"chmod", FlagKind::kString},
                        {"link", FlagKind::kBool},
                        {"keep-git-dir", FlagKind::kBool},
                        {"checksum", FlagKind::kString},
                        {"unpack", FlagKind::kBool},
                        {"exclude", FlagKind::kStrings}},
                       ins.flags);
  }
  if (k == "COPY") {
    BERTH_TRY(sources_and_dest(ins));
    return parse_flags(fw,
                       {{"chown", FlagKind::kString},
                        {"from", FlagKind::kString},
                        {"chmod", FlagKind::kString},
                        {"link", FlagKind::kBool},
                        {"parents", FlagKind::kBool},
                        {"exclude", FlagKind::kStrings}},
                       ins.flags);
  }
  if (k == "FROM") {
    if (ins.args.size() == 3 && iequals(ins.args[1], "as")) {
      std::string name = to_lower(ins.args[2]);
      bool ok = !name.empty() && name[0] >= 'a' && name[0] <= 'z';
      for (char c : name) {
        ok = ok && ((c >= 'a' && c <= 'z') || is_digit(c) || c == '-' || c == '_' || c == '.');
      }
      if (!ok) {
        return invalid("invalid name for build stage: " + go_quote(ins.args[2]) +
                       ", name can't start with a number or contain symbols");
      }
    } else if (ins.args.size() != 1) {
      return invalid("FROM requires either one or three arguments");
    }
    return parse_flags(fw, {{"platform", FlagKind::kString}}, ins.flags);
  }
  if (k == "ONBUILD") {
    if (ins.trigger.empty()) return invalid("ONBUILD requires at least one argument");
    BERTH_TRY(parse_flags(fw, {}, ins.flags));
    const std::string& t = ins.trigger[0].keyword;
    if (t == "ONBUILD") return invalid("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    if (t == "MAINTAINER" || t == "FROM")
      return invalid(t + " isn't allowed as an ONBUILD trigger");
    // The trigger text as the image config keeps it: `(?i)^\s*ONBUILD\s*` removed from the
    // untrimmed line, so trailing blanks survive as in Docker.
    std::string_view raw = node.raw;
    size_t i = 0;
    while (i < raw.size() && is_space(raw[i]) && raw[i] != '\v') ++i;
    i += 7;
    while (i < raw.size() && is_space(raw[i]) && raw[i] != '\v') ++i;
    ins.args = {std::string(raw.substr(std::min(i, raw.size())))};
    return {};
  }
  if (k == "WORKDIR" || k == "USER") {
    BERTH_TRY(exactly_one(ins));
    return parse_flags(fw, {}, ins.flags);
  }
  if (k == "RUN") {
    return parse_flags(fw,
                       {{"mount", FlagKind::kStrings},
                        {"network", FlagKind::kString},
                        {"security", FlagKind::kString},
                        {"device", FlagKind::kStrings}},
                       ins.flags);
  }
  if (k == "CMD" || k == "ENTRYPOINT") return parse_flags(fw, {}, ins.flags);
  if (k == "HEALTHCHECK") {
    if (ins.args.empty()) return invalid("HEALTHCHECK requires at least one argument");
    // NONE takes no flags and Docker does not look at them.
    if (to_upper(ins.args[0]) != "NONE") {
      BERTH_TRY(parse_flags(fw,
                            {{"interval", FlagKind::kString},
                             {"timeout", FlagKind::kString},
                             {"start-period", FlagKind::kString},
                             {"start-interval", FlagKind::kString},
                             {"retries", FlagKind::kString}},
                            ins.flags));
    }
    return health_config(ins).status();
  }
  if (k == "EXPOSE") {
    BERTH_TRY(at_least_one(ins));
    return parse_flags(fw, {}, ins.flags);
  }
  if (k == "VOLUME") {
    BERTH_TRY(at_least_one(ins));
    BERTH_TRY(parse_flags(fw, {}, ins.flags));
    for (auto& v : ins.args) {
      v = std::string(trim(v));
      if (v.empty()) return invalid("VOLUME specified can not be an empty string");
    }
    return {};
  }
  if (k == "STOPSIGNAL") return exactly_one(ins);  // Docker never parses its flags
  if (k == "ARG") {
    BERTH_TRY(at_least_one(ins));
    for (const auto& w : ins.args) {
      if (w.find('=') == 0) return invalid("ARG names can not be blank");
    }
    return {};  // nor ARG's
  }
  if (k == "SHELL") {
    BERTH_TRY(parse_flags(fw, {}, ins.flags));
    if (ins.args.empty()) return invalid("SHELL requires at least one argument");
    if (!ins.json) return invalid("SHELL requires the arguments to be in JSON form");
    return {};
  }
  return invalid("unknown instruction: " + node.word);
}

// parser.Parse: one Node per logical line, with its line range.
Result<std::vector<Node>> read_nodes(std::string_view text, Directives& d,
                                     std::vector<std::string>& warnings) {
  std::vector<std::string_view> lines;
  for (size_t start = 0; start < text.size();) {
    size_t nl = text.find('\n', start);
    std::string_view l = text.substr(start, nl == std::string_view::npos ? text.npos : nl - start);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    lines.push_back(l);
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  if (!lines.empty() && lines[0].substr(0, 3) == "\xEF\xBB\xBF") lines[0].remove_prefix(3);

  std::vector<Node> nodes;
  size_t i = 0;
  while (i < lines.size()) {
    std::string_view first = trim_left(lines[i]);
    int start_line = static_cast<int>(i) + 1;
    if (auto st = possible_directive(d, first); !st) return at_line(start_line, st.error().message);
    ++i;
    std::string line(first);
    if (!line.empty() && line.front() == '#') line.clear();  // trimComments
    bool more = trim_continuation(line, d.escape);
    if (!more && line.empty()) continue;
    bool empty_continuation = false;
    while (more && i < lines.size()) {
      std::string_view next = lines[i];
      if (auto st = possible_directive(d, next); !st) {
        return at_line(static_cast<int>(i) + 1, st.error().message);
      }
      ++i;
      if (is_comment(next)) continue;
      if (trim_left(next).empty()) {
        empty_continuation = true;
        continue;
      }
      std::string piece(next);
      more = trim_continuation(piece, d.escape);
      line += piece;
    }
    if (empty_continuation) {
      warnings.push_back("[WARNING]: Empty continuation line found in:\n    " + line);
    }
    auto node = node_from_line(line, d.escape);
    if (!node) return at_line(start_line, node.error().message);
    node->ins.line = start_line;
    node->ins.end_line = static_cast<int>(i);
    for (auto& t : node->ins.trigger) {
      t.line = start_line;
      t.end_line = node->ins.end_line;
    }
    nodes.push_back(std::move(*node));
  }
  if (!warnings.empty()) {
    warnings.push_back(
        "[WARNING]: Empty continuation lines will become errors in a future release.");
  }
  return nodes;
}

// ---- The shell lexer (shell/lex.go) ----

struct Words {
  std::string word;
  std::vector<std::string> words;
  bool in_word = false;

  void add_char(char c) {
    if (is_space(c) && in_word) {
      if (!word.empty()) {
        words.push_back(std::move(word));
        word.clear();
        in_word = false;
      }
    } else if (!is_space(c)) {
      add_raw_char(c);
    }
  }
  void add_raw_char(char c) {
    word += c;
    in_word = true;
  }
  void add_string(std::string_view s) {
    for (char c : s) add_char(c);
  }
  void add_raw_string(std::string_view s) {
    word += s;
    in_word = true;
  }
  std::vector<std::string> take() {
    if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
      in_word = false;
    }
    return std::move(words);
  }
};

size_t utf8_len(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;
}

// Patterns of ${v#p} ${v%p} ${v/p/r}: only `*` and `?` are special, `\` escapes them.
// Go turns them into regexps whose `.` stops at newlines; so do these.
struct ShellPattern {
  enum Kind { kLit, kOne, kStar };
  std::vector<std::pair<Kind, char>> toks;

  static Result<ShellPattern> compile(std::string_view p) {
    ShellPattern out;
    for (size_t i = 0; i < p.size(); ++i) {
      char c = p[i];
      if (c == '*') {
        out.toks.push_back({kStar, 0});
      } else if (c == '?') {
        out.toks.push_back({kOne, 0});
      } else if (c == '\\') {
        // An escaped } or / belongs to the ${} syntax, not to the pattern.
        if (i + 1 < p.size() && (p[i + 1] == '}' || p[i + 1] == '/')) continue;
        ++i;
        char t = i < p.size() ? p[i] : 0;
        if (t != '*' && t != '?' && t != '\\') {
          return invalid("invalid pattern (" + std::string(p) +
                         ") in substitution: invalid escape '\\" +
                         (i < p.size() ? std::string(1, t) : std::string("\xEF\xBF\xBD")) + "'");
        }
        out.toks.push_back({kLit, t});
      } else {
        out.toks.push_back({kLit, c});
      }
    }
    return out;
  }

  // Every end position e such that s[start, e) matches the whole pattern.
  std::vector<char> ends(std::string_view s, size_t start) const {
    std::vector<char> cur(s.size() + 1, 0);
    cur[start] = 1;
    for (const auto& [kind, c] : toks) {
      std::vector<char> next(s.size() + 1, 0);
      for (size_t p = start; p <= s.size(); ++p) {
        if (!cur[p]) continue;
        if (kind == kLit) {
          if (p < s.size() && s[p] == c) next[p + 1] = 1;
        } else if (kind == kOne) {
          if (p < s.size() && s[p] != '\n') {
            next[std::min(s.size(), p + utf8_len(static_cast<unsigned char>(s[p])))] = 1;
          }
        } else {
          size_t q = p;
          next[q] = 1;
          while (q < s.size() && s[q] != '\n') {
            q = std::min(s.size(), q + utf8_len(static_cast<unsigned char>(s[q])));
            next[q] = 1;
          }
        }
      }
      cur.swap(next);
    }
    return cur;
  }

  // The leftmost match at or after `from`, as long as it can be (Go's greedy regexp).
  std::optional<std::pair<size_t, size_t>> find(std::string_view s, size_t from) const {
    for (size_t start = from; start <= s.size(); ++start) {
      auto e = ends(s, start);
      for (size_t end = s.size() + 1; end-- > start;) {
        if (e[end]) return std::pair{start, end};
      }
    }
    return std::nullopt;
  }
};

class Lexer {
 public:
  Lexer(std::string_view src, const Env& env, char escape)
      : src_(src), env_(env), escape_(escape) {}

  Result<std::pair<std::string, std::vector<std::string>>> process() {
    auto r = process_stop_on(kEof, false);
    if (!r) {
      return invalid("failed to process " + go_quote(src_) + ": " + r.error().message);
    }
    return r;
  }

 private:
  int peek() const { return pos_ < src_.size() ? static_cast<unsigned char>(src_[pos_]) : kEof; }
  int next() { return pos_ < src_.size() ? static_cast<unsigned char>(src_[pos_++]) : kEof; }

  std::optional<std::string> get_env(const std::string& name) const {
    auto it = env_.find(name);
    if (it == env_.end()) return std::nullopt;
    return it->second;
  }

  Result<std::pair<std::string, std::vector<std::string>>> process_stop_on(int stop,
                                                                           bool raw_escapes) {
    struct Restore {
      bool& ref;
      bool saved;
      ~Restore() { ref = saved; }
    } restore{raw_escapes_, raw_escapes_};
    raw_escapes_ = raw_escapes;
    std::string result;
    Words words;
    while (peek() != kEof) {
      int ch = peek();
      if (stop != kEof && ch == stop) {
        next();
        return std::pair{result, words.take()};
      }
      if (ch == '$' || ch == '\'' || ch == '"') {
        Result<std::string> tmp = ch == '$'    ? dollar()
                                  : ch == '\'' ? single_quote()
                                               : double_quote();
        if (!tmp) return std::move(tmp).error();
        result += *tmp;
        if (ch == '$') {
          words.add_string(*tmp);
        } else {
          words.add_raw_string(*tmp);
        }
        continue;
      }
      ch = next();
      if (ch == static_cast<unsigned char>(escape_)) {
        if (raw_escapes_) {
          words.add_raw_char(static_cast<char>(ch));
          result += static_cast<char>(ch);
        }
        ch = next();
        if (ch == kEof) break;
        words.add_raw_char(static_cast<char>(ch));
      } else {
        words.add_char(static_cast<char>(ch));
      }
      result += static_cast<char>(ch);
    }
    if (stop != kEof) {
      return invalid(std::string("unexpected end of statement while looking for matching ") +
                     static_cast<char>(stop));
    }
    return std::pair{result, words.take()};
  }

  Result<std::string> single_quote() {
    next();
    std::string out;
    while (true) {
      int ch = next();
      if (ch == kEof) {
        return invalid("unexpected end of statement while looking for matching single-quote");
      }
      if (ch == '\'') return out;
      out += static_cast<char>(ch);
    }
  }

  Result<std::string> double_quote() {
    next();
    std::string out;
    while (true) {
      int ch = peek();
      if (ch == kEof) {
        return invalid("unexpected end of statement while looking for matching double-quote");
      }
      if (ch == '"') {
        next();
        return out;
      }
      if (ch == '$') {
        BERTH_ASSIGN(std::string v, dollar());
        out += v;
        continue;
      }
      ch = next();
      if (ch == static_cast<unsigned char>(escape_)) {
        if (raw_escapes_) out += static_cast<char>(ch);
        int after = peek();
        if (after == kEof) continue;
        if (after == '"' || after == '$' || after == static_cast<unsigned char>(escape_)) {
          ch = next();
        }
      }
      out += static_cast<char>(ch);
    }
  }

  static bool is_special_param(int c) {
    return c == '@' || c == '*' || c == '#' || c == '?' || c == '-' || c == '$' || c == '!' ||
           c == '0';
  }

  // Letters and digits as Go's unicode.IsLetter/IsDigit; any non-ASCII byte counts as one.
  static bool is_name_char(int c) {
    return c == '_' || is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
  }

  std::string process_name() {
    std::string name;
    while (peek() != kEof) {
      int ch = peek();
      if (name.empty() && is_digit(ch)) {
        while (peek() != kEof && is_digit(peek())) name += static_cast<char>(next());
        return name;
      }
      if (name.empty() && is_special_param(ch)) return std::string(1, static_cast<char>(next()));
      if (!is_name_char(ch)) break;
      name += static_cast<char>(next());
    }
    return name;
  }

  Result<std::string> dollar() {
    next();
    if (peek() != '{') {
      std::string name = process_name();
      if (name.empty()) return std::string("$");
      return get_env(name).value_or("");
    }
    next();
    int first = peek();
    if (first == kEof) return invalid("syntax error: missing '}'");
    if (first == '{' || first == '}' || first == ':')
      return invalid("syntax error: bad substitution");
    std::string name = process_name();
    int ch = next();
    if (ch == kEof) return invalid("syntax error: missing '}'");
    std::string chs(1, static_cast<char>(ch));
    if (ch == '}') return get_env(name).value_or("");
    if (ch == '/') return replace(name);
    bool null_is_unset = false;
    if (ch == ':') {
      null_is_unset = true;
      ch = next();
      if (ch != kEof) chs += static_cast<char>(ch);
    } else if (ch != '+' && ch != '-' && ch != '?' && ch != '#' && ch != '%') {
      return invalid("unsupported modifier (" + chs + ") in substitution");
    }
    auto word_r = process_stop_on('}', ch == '#' || ch == '%');
    if (!word_r) {
      if (peek() == kEof) return invalid("syntax error: missing '}'");
      return std::move(word_r).error();
    }
    std::string word = std::move(word_r->first);
    auto value = get_env(name);
    bool set = value.has_value();
    bool empty_or_unset = !set || (null_is_unset && value->empty());
    switch (ch) {
      case '-':
        return empty_or_unset ? word : *value;
      case '+':
        return empty_or_unset ? std::string() : word;
      case '?':
        if (!set)
          return invalid(name + ": " + (word.empty() ? "is not allowed to be unset" : word));
        if (null_is_unset && value->empty()) {
          return invalid(name + ": " + (word.empty() ? "is not allowed to be empty" : word));
        }
        return *value;
      case '#':
      case '%': {
        bool greedy = !word.empty() && word[0] == static_cast<char>(ch);
        if (greedy) word.erase(0, 1);
        BERTH_ASSIGN(ShellPattern pat, ShellPattern::compile(word));
        std::string v = value.value_or("");
        if (ch == '#') {
          auto e = pat.ends(v, 0);
          if (greedy) {
            for (size_t end = v.size() + 1; end-- > 0;) {
              if (e[end]) return v.substr(end);
            }
          } else {
            for (size_t end = 0; end <= v.size(); ++end) {
              if (e[end]) return v.substr(end);
            }
          }
          return v;
        }
        auto suffix_at = [&](size_t start) { return pat.ends(v, start)[v.size()] != 0; };
        if (greedy) {
          for (size_t start = 0; start <= v.size(); ++start) {
            if (suffix_at(start)) return v.substr(0, start);
          }
        } else {
          for (size_t start = v.size() + 1; start-- > 0;) {
            if (suffix_at(start)) return v.substr(0, start);
          }
        }
        return v;
      }
      default:
        return invalid("unsupported modifier (" + chs + ") in substitution");
    }
  }

  Result<std::string> replace(const std::string& name) {
    bool all = peek() == '/';
    if (all) next();
    auto pattern = process_stop_on('/', true);
    if (!pattern) {
      if (peek() == kEof) return invalid("syntax error: missing '/' in ${}");
      return std::move(pattern).error();
    }
    auto replacement = process_stop_on('}', true);
    if (!replacement) {
      if (peek() == kEof) return invalid("syntax error: missing '}'");
      return std::move(replacement).error();
    }
    std::string value = get_env(name).value_or("");
    BERTH_ASSIGN(ShellPattern pat, ShellPattern::compile(pattern->first));
    const std::string& repl = replacement->first;
    if (!all) {
      auto m = pat.find(value, 0);
      if (!m) return value;
      return value.substr(0, m->first) + repl + value.substr(m->second);
    }
    // Go's Regexp.ReplaceAllString: an empty match right after a match is not replaced, and
    // the search always moves on by at least one character.
    std::string out;
    size_t last_end = 0;
    size_t search = 0;
    while (search <= value.size()) {
      auto m = pat.find(value, search);
      if (!m) break;
      out += value.substr(last_end, m->first - last_end);
      if (m->second > last_end || m->first == 0) out += repl;
      last_end = m->second;
      size_t width =
          search < value.size() ? utf8_len(static_cast<unsigned char>(value[search])) : 0;
      if (search + width > m->second) {
        search += width;
      } else if (search + 1 > m->second) {
        ++search;
      } else {
        search = m->second;
      }
    }
    out += value.substr(last_end);
    return out;
  }

  std::string_view src_;
  size_t pos_ = 0;
  const Env& env_;
  char escape_;
  bool raw_escapes_ = false;
};

bool parse_go_int(std::string_view s, long long& out) {
  size_t i = 0;
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    i = 1;
  }
  if (i == s.size() || s.size() - i > 18) return false;
  long long v = 0;
  for (; i < s.size(); ++i) {
    if (!is_digit(s[i])) return false;
    v = v * 10 + (s[i] - '0');
  }
  out = neg ? -v : v;
  return true;
}

}  // namespace

std::optional<std::string> Instruction::flag(std::string_view name) const {
  std::optional<std::string> out;
  for (const auto& f : flags) {
    if (f.name == name) out = f.value;
  }
  return out;
}

Result<Dockerfile> parse_dockerfile(std::string_view text) {
  Dockerfile file;
  Directives d;
  BERTH_ASSIGN(std::vector<Node> nodes, read_nodes(text, d, file.warnings));
  file.escape = d.escape;
  if (nodes.empty()) {
    int lines = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
    return at_line(lines, "file with no instructions");
  }
  for (auto& node : nodes) {
    if (auto st = check_instruction(node); !st) return at_line(node.ins.line, st.error().message);
    Instruction& ins = node.ins;
    if (ins.keyword == "FROM") {
      Stage stage;
      stage.index = file.stages.size();
      stage.base = ins.args[0];
      if (ins.args.size() == 3) stage.name = to_lower(ins.args[2]);
      stage.platform = ins.flag("platform").value_or("");
      for (const auto& other : file.stages) {
        if (!stage.name.empty() && other.name == stage.name) {
          return at_line(ins.line, stage.name + " stage name already used");
        }
      }
      stage.from = std::move(ins);
      file.stages.push_back(std::move(stage));
    } else if (file.stages.empty()) {
      if (ins.keyword != "ARG") return at_line(ins.line, "no build stage in current context");
      file.global_args.push_back(std::move(ins));
    } else {
      file.stages.back().instructions.push_back(std::move(ins));
    }
  }
  if (file.stages.empty()) return invalid("dockerfile contains no stages to build");
  return file;
}

Result<Instruction> parse_trigger(std::string_view expression) {
  Directives d;
  std::vector<std::string> warnings;
  BERTH_ASSIGN(std::vector<Node> nodes, read_nodes(expression, d, warnings));
  if (nodes.size() != 1) return invalid("onbuild trigger should be a single expression");
  Node& node = nodes[0];
  BERTH_TRY(check_instruction(node));
  if (node.ins.keyword == "FROM") return invalid("*instructions.Stage is not a command type");
  return std::move(node.ins);
}

Result<size_t> resolve_target(const Dockerfile& file, std::string_view target) {
  if (target.empty()) return file.stages.size() - 1;
  for (const auto& stage : file.stages) {
    if (iequals(stage.name, target)) return stage.index;
  }
  return invalid("failed to reach build target " + std::string(target) + " in Dockerfile");
}

Result<std::optional<size_t>> copy_from_stage(const Dockerfile& file, std::string_view ref,
                                              size_t current) {
  if (auto byname = base_stage(file, ref, current)) return std::optional<size_t>(byname);
  long long ix = 0;
  if (!parse_go_int(ref, ix)) return std::optional<size_t>();
  auto fail = [&](const char* why) {
    return invalid("invalid from flag value " + std::string(ref) + ": " + why);
  };
  if (ix == static_cast<long long>(current)) return fail("refers to current build stage");
  if (ix < 0 || ix > static_cast<long long>(current)) return fail("index out of bounds");
  return std::optional<size_t>(static_cast<size_t>(ix));
}

std::optional<size_t> base_stage(const Dockerfile& file, std::string_view base, size_t current) {
  if (base.empty()) return std::nullopt;
  for (size_t i = 0; i < current && i < file.stages.size(); ++i) {
    if (iequals(file.stages[i].name, base)) return i;
  }
  return std::nullopt;
}

size_t step_count(const Dockerfile& file, size_t last) {
  size_t n = file.global_args.size();
  for (size_t i = 0; i <= last && i < file.stages.size(); ++i) {
    n += 1 + file.stages[i].instructions.size();
  }
  return n;
}

Status check_classic_support(const Instruction& ins) {
  static const std::vector<std::string_view> kRun = {"mount", "network", "security", "device"};
  static const std::vector<std::string_view> kCopy = {"parents", "exclude", "checksum",
                                                      "keep-git-dir", "unpack"};
  static const std::vector<std::string_view> kNone;
  const auto& refused = ins.keyword == "RUN"                            ? kRun
                        : ins.keyword == "COPY" || ins.keyword == "ADD" ? kCopy
                                                                        : kNone;
  for (const auto& f : ins.flags) {
    for (std::string_view name : refused) {
      if (f.name == name) {
        return make_error(Code::Unsupported,
                          "the --" + f.name +
                              " option requires BuildKit. Refer to "
                              "https://docs.docker.com/go/buildkit/ to learn how to build images "
                              "with BuildKit enabled");
      }
    }
  }
  return {};
}

Result<std::string> expand_word(std::string_view word, const Env& env, char escape) {
  BERTH_ASSIGN(auto r, Lexer(word, env, escape).process());
  return std::move(r.first);
}

Result<std::vector<std::string>> expand_words(std::string_view word, const Env& env, char escape) {
  BERTH_ASSIGN(auto r, Lexer(word, env, escape).process());
  return std::move(r.second);
}

Result<Instruction> expand_instruction(const Instruction& ins, const Env& env, char escape) {
  Instruction out = ins;
  auto word = [&](std::string& s) -> Status {
    BERTH_ASSIGN(std::string v, expand_word(s, env, escape));
    s = std::move(v);
    return {};
  };
  auto flag = [&](const char* name) -> Status {
    for (auto& f : out.flags) {
      if (f.name == name) BERTH_TRY(word(f.value));
    }
    return {};
  };
  const std::string& k = ins.keyword;
  if (k == "FROM") {
    BERTH_TRY(word(out.args[0]));
    if (out.args[0].empty()) {
      return invalid("base name (" + ins.args[0] + ") should not be blank");
    }
    BERTH_TRY(flag("platform"));
  } else if (k == "ENV" || k == "LABEL" || k == "VOLUME" || k == "WORKDIR" || k == "USER" ||
             k == "STOPSIGNAL") {
    for (auto& a : out.args) BERTH_TRY(word(a));
  } else if (k == "COPY" || k == "ADD") {
    BERTH_TRY(flag("chown"));
    BERTH_TRY(flag("chmod"));
    for (auto& a : out.args) BERTH_TRY(word(a));
  } else if (k == "ARG") {
    for (auto& a : out.args) {
      size_t eq = a.find('=');
      std::string name = a.substr(0, eq);
      BERTH_TRY(word(name));
      if (eq == std::string::npos) {
        a = name;
      } else {
        std::string value = a.substr(eq + 1);
        BERTH_TRY(word(value));
        a = name + "=" + value;
      }
    }
  } else if (k == "EXPOSE") {
    std::vector<std::string> sorted = ins.args;
    std::sort(sorted.begin(), sorted.end());
    out.args.clear();
    for (const auto& a : sorted) {
      BERTH_ASSIGN(auto ports, expand_words(a, env, escape));
      out.args.insert(out.args.end(), ports.begin(), ports.end());
    }
  }
  return out;
}

std::vector<ArgDecl> arg_decls(const Instruction& arg) {
  std::vector<ArgDecl> out;
  for (const auto& w : arg.args) {
    size_t eq = w.find('=');
    if (eq == std::string::npos) {
      out.push_back({w, std::nullopt});
    } else {
      out.push_back({w.substr(0, eq), w.substr(eq + 1)});
    }
  }
  return out;
}

Result<HealthConfig> health_config(const Instruction& hc) {
  if (hc.args.empty()) return invalid("HEALTHCHECK requires at least one argument");
  HealthConfig out;
  std::string type = to_upper(hc.args[0]);
  std::vector<std::string> rest(hc.args.begin() + 1, hc.args.end());
  if (type == "NONE") {
    if (!rest.empty()) return invalid("HEALTHCHECK NONE takes no arguments");
    out.test = {"NONE"};
    return out;
  }
  if (type != "CMD") return invalid("Unknown type " + go_quote(type) + " in HEALTHCHECK (try CMD)");
  if (rest.empty()) return invalid("Missing command after HEALTHCHECK CMD");
  out.test.push_back(hc.json ? "CMD" : "CMD-SHELL");
  out.test.insert(out.test.end(), rest.begin(), rest.end());
  auto interval = [&](const char* name, int64_t& dst) -> Status {
    auto v = hc.flag(name);
    if (!v || v->empty()) return {};
    BERTH_ASSIGN(dst, go_parse_duration(*v));
    if (dst < 1000000) {
      return invalid(std::string("Interval \"") + name + "\" cannot be less than 1ms");
    }
    return {};
  };
  BERTH_TRY(interval("interval", out.interval_ns));
  BERTH_TRY(interval("timeout", out.timeout_ns));
  BERTH_TRY(interval("start-period", out.start_period_ns));
  BERTH_TRY(interval("start-interval", out.start_interval_ns));
  if (auto r = hc.flag("retries"); r && !r->empty()) {
    BERTH_ASSIGN(int64_t n, go_parse_int32(*r));
    if (n < 1) return invalid("--retries must be at least 1 (not " + std::to_string(n) + ")");
    out.retries = static_cast<int>(n);
  }
  return out;
}

}  // namespace berth::build
