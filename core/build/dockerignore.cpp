#include "build/dockerignore.hpp"

#include <utility>

namespace berth::build::dockerignore {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// One UTF-8 character at s[i]; a malformed byte stands for itself, as Go decodes it to
// U+FFFD with width 1.
char32_t decode(std::string_view s, size_t i, size_t& width) {
  auto b = static_cast<unsigned char>(s[i]);
  size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) {
    width = 1;
    return 0xFFFD;
  }
  char32_t r = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
  for (size_t k = 1; k < n; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c >> 6) != 0x2) {
      width = 1;
      return 0xFFFD;
    }
    r = (r << 6) | (c & 0x3F);
  }
  width = n;
  return r;
}

// Go's getEsc inside a class: one possibly escaped character that must be followed by more
// of the class.
bool class_char(std::string_view p, size_t& i, char32_t& out) {
  if (i >= p.size() || p[i] == '-' || p[i] == ']') return false;
  if (p[i] == '\\') {
    ++i;
    if (i >= p.size()) return false;
  }
  size_t w = 0;
  out = decode(p, i, w);
  i += w;
  return i < p.size();
}

// A class starting after '[' at p[i]; leaves i after its ']'. False for what Go's
// filepath.Match calls a syntax error.
bool parse_class(std::string_view p, size_t& i, bool& negated,
                 std::vector<std::pair<char32_t, char32_t>>& ranges) {
  negated = false;
  if (i < p.size() && p[i] == '^') {
    negated = true;
    ++i;
  }
  while (true) {
    if (i < p.size() && p[i] == ']' && !ranges.empty()) {
      ++i;
      return true;
    }
    char32_t lo = 0;
    if (!class_char(p, i, lo)) return false;
    char32_t hi = lo;
    if (p[i] == '-') {
      ++i;
      if (!class_char(p, i, hi)) return false;
    }
    ranges.emplace_back(lo, hi);
  }
}

// filepath.Match(p, ".") fails only for malformed patterns; this is that check. It also
// refuses a reversed range ("[z-a]"): Match accepts it, but the regexp Docker compiles from it
// fails on first use, so the build fails with the same "syntax error in pattern".
bool valid_pattern(std::string_view p) {
  for (size_t i = 0; i < p.size();) {
    if (p[i] == '\\') {
      if (i + 1 >= p.size()) return false;
      i += 2;
    } else if (p[i] == '[') {
      ++i;
      bool negated = false;
      std::vector<std::pair<char32_t, char32_t>> ranges;
      if (!parse_class(p, i, negated, ranges)) return false;
      for (const auto& [lo, hi] : ranges) {
        if (lo > hi) return false;
      }
    } else {
      ++i;
    }
  }
  return true;
}

}  // namespace

std::string clean_path(std::string_view path) {
  if (path.empty()) return ".";
  bool rooted = path.front() == '/';
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view elem = path.substr(i, j - i);
    if (elem.empty() || elem == ".") {
      // dropped
    } else if (elem == "..") {
      if (!parts.empty() && parts.back() != "..") {
        parts.pop_back();
      } else if (!rooted) {
        parts.push_back(elem);
      }
    } else {
      parts.push_back(elem);
    }
    i = j + 1;
  }
  std::string out = rooted ? "/" : "";
  for (size_t k = 0; k < parts.size(); ++k) {
    if (k > 0) out += '/';
    out += parts[k];
  }
  return out.empty() ? "." : out;
}

std::vector<std::string> read_patterns(std::string_view text) {
  std::vector<std::string> out;
  bool first = true;
  for (size_t start = 0; start < text.size();) {
    size_t nl = text.find('\n', start);
    std::string_view line = text.substr(start, nl == text.npos ? text.npos : nl - start);
    start = nl == text.npos ? text.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (first && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
    first = false;
    if (!line.empty() && line.front() == '#') continue;
    line = trim(line);
    if (line.empty()) continue;
    bool invert = line.front() == '!';
    if (invert) line = trim(line.substr(1));
    std::string pattern(line);
    if (!pattern.empty()) {
      pattern = clean_path(pattern);
      if (pattern.size() > 1 && pattern.front() == '/') pattern.erase(0, 1);
    }
    out.push_back(invert ? "!" + pattern : pattern);
  }
  return out;
}

Result<Matcher> Matcher::create(const std::vector<std::string>& patterns) {
  Matcher m;
  for (const auto& raw : patterns) {
    std::string_view trimmed = trim(raw);
    if (trimmed.empty()) continue;
    std::string p = clean_path(trimmed);
    Pattern pat;
    if (p.front() == '!') {
      if (p.size() == 1)
        return make_error(Code::InvalidArgument, "illegal exclusion pattern: \"!\"");
      pat.exclusion = true;
      m.has_exclusions_ = true;
      p.erase(0, 1);
    }
    if (!valid_pattern(p)) return make_error(Code::InvalidArgument, "syntax error in pattern");

    // Pattern.compile, as tokens instead of a regexp.
    Compiled c;
    enum { kExact, kPrefix, kSuffix, kRegexp } type = kExact;
    for (size_t i = 0, step = 0; i < p.size(); ++step) {
      char ch = p[i++];
      if (ch == '*') {
        if (i < p.size() && p[i] == '*') {
          ++i;
          if (i < p.size() && p[i] == '/') ++i;
          if (i == p.size()) {
            type = type == kExact ? kPrefix : kRegexp;
            c.tokens.push_back({Token::kAny});
          } else {
            type = kRegexp;
            c.tokens.push_back({Token::kDirs});
          }
          if (step == 0) type = kSuffix;
        } else {
          type = kRegexp;
          c.tokens.push_back({Token::kStar});
        }
      } else if (ch == '?') {
        type = kRegexp;
        c.tokens.push_back({Token::kOne});
      } else if (ch == '\\') {
        // valid_pattern guarantees a next character. Docker hands "\x" to Go's regexp, which
        // reads punctuation literally; letters are taken literally here too.
        type = kRegexp;
        c.tokens.push_back({Token::kLiteral, p[i++]});
      } else if (ch == '[') {
        type = kRegexp;
        Token t{Token::kClass};
        parse_class(p, i, t.negated, t.ranges);
        c.tokens.push_back(std::move(t));
      } else if (ch == ']') {
        type = kRegexp;
        c.tokens.push_back({Token::kLiteral, ch});
      } else {
        c.tokens.push_back({Token::kLiteral, ch});
      }
    }
    if (type == kSuffix) {
      c.suffix_mode = true;
      c.suffix = p.substr(2);
    }
    pat.text = std::move(p);
    m.patterns_.push_back(std::move(pat));
    m.compiled_.push_back(std::move(c));
  }
  return m;
}

namespace {

// One step of the token simulation: from each reachable position in `cur`, where can
// token `t` end.
template <typename TokenT>
std::vector<char> step(const TokenT& t, std::string_view s, const std::vector<char>& cur) {
  std::vector<char> next(s.size() + 1, 0);
  for (size_t p = 0; p <= s.size(); ++p) {
    if (!cur[p]) continue;
    switch (t.kind) {
      case TokenT::kLiteral:
        if (p < s.size() && s[p] == t.byte) next[p + 1] = 1;
        break;
      case TokenT::kOne:
        if (p < s.size() && s[p] != '/') {
          size_t w = 0;
          decode(s, p, w);
          next[p + w] = 1;
        }
        break;
      case TokenT::kClass:
        if (p < s.size()) {
          size_t w = 0;
          char32_t r = decode(s, p, w);
          bool in = false;
          for (const auto& [lo, hi] : t.ranges) in = in || (lo <= r && r <= hi);
          if (in != t.negated) next[p + w] = 1;
        }
        break;
      case TokenT::kStar: {
        next[p] = 1;
        size_t q = p;
        while (q < s.size() && s[q] != '/') {
          size_t w = 0;
          decode(s, q, w);
          q += w;
          next[q] = 1;
        }
        break;
      }
      case TokenT::kDirs:
        // `(.*/)?`: Go's `.` does not match a newline.
        next[p] = 1;
        for (size_t q = p; q < s.size() && s[q] != '\n'; ++q) {
          if (s[q] == '/') next[q + 1] = 1;
        }
        break;
      case TokenT::kAny:
        next[p] = 1;
        for (size_t q = p; q < s.size() && s[q] != '\n'; ++q) next[q + 1] = 1;
        break;
    }
  }
  return next;
}

}  // namespace

bool Matcher::full_match(const Compiled& c, std::string_view path) {
  if (c.suffix_mode) {
    if (path.size() >= c.suffix.size() && path.substr(path.size() - c.suffix.size()) == c.suffix) {
      return true;
    }
    // "**/foo" also matches "foo".
    return !c.suffix.empty() && c.suffix[0] == '/' && path == std::string_view(c.suffix).substr(1);
  }
  std::vector<char> cur(path.size() + 1, 0);
  cur[0] = 1;
  for (const auto& t : c.tokens) cur = step(t, path, cur);
  return cur[path.size()] != 0;
}

bool Matcher::may_match_below(const Compiled& c, std::string_view dir_slash) {
  if (c.suffix_mode) return true;
  std::vector<char> cur(dir_slash.size() + 1, 0);
  cur[0] = 1;
  for (const auto& t : c.tokens) {
    // Once the directory is consumed, what is left can match some name inside it.
    if (cur[dir_slash.size()]) return true;
    bool any = false;
    for (char v : cur) any = any || v;
    if (!any) return false;
    if (t.kind == Token::kDirs || t.kind == Token::kAny) return true;
    cur = step(t, dir_slash, cur);
  }
  return cur[dir_slash.size()] != 0;
}

bool Matcher::matches_or_parent(const Compiled& c, std::string_view path) const {
  if (full_match(c, path)) return true;
  for (size_t k = path.find('/'); k != std::string_view::npos; k = path.find('/', k + 1)) {
    if (full_match(c, path.substr(0, k))) return true;
  }
  return false;
}

bool Matcher::excluded(std::string_view path) const {
  std::string clean = clean_path(path);
  if (clean == ".") return false;
  bool matched = false;
  for (size_t i = 0; i < patterns_.size(); ++i) {
    // An include only matters while the path is included, an exclusion only while excluded.
    if (patterns_[i].exclusion != matched) continue;
    if (matches_or_parent(compiled_[i], clean)) matched = !patterns_[i].exclusion;
  }
  return matched;
}

bool Matcher::can_skip_dir(std::string_view dir) const {
  std::string clean = clean_path(dir);
  if (clean == "." || !excluded(clean)) return false;
  // Anything below dir sees every pattern dir sees, and more. Includes can only exclude it
  // further; so it is excluded too unless some exclusion matches below dir but not at dir.
  for (size_t i = 0; i < patterns_.size(); ++i) {
    if (!patterns_[i].exclusion) continue;
    if (matches_or_parent(compiled_[i], clean)) continue;
    if (may_match_below(compiled_[i], clean + "/")) return false;
  }
  return true;
}

Result<Matcher> parse(std::string_view text) { return Matcher::create(read_patterns(text)); }

}  // namespace berth::build::dockerignore
