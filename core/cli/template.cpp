#include "cli/template.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <variant>
#include <vector>

#include "cli/cli.hpp"
#include "util/util.hpp"

namespace berth::cli::tmpl {

using json = nlohmann::ordered_json;

// ---------------------------------------------------------------- the parse tree

struct Pipeline;

struct Arg {
  enum Kind { Dot, Field, Var, Ident, Literal, Sub } kind = Dot;
  std::vector<std::string> chain;  // Field: .A.B -> {A, B}; Var: $x.A -> {A}
  std::string name;                // Var (without '$'), Ident
  json value;                      // Literal
  std::shared_ptr<Pipeline> sub;   // Sub: ( pipeline )
};

struct Command {
  std::vector<Arg> args;
};

struct Pipeline {
  std::vector<std::string> decl;  // $x := / $k, $v :=
  std::vector<Command> cmds;
  std::string text;               // for error messages
};

struct Node {
  enum Kind { List, Text, Action, If, Range, With } kind = List;
  std::string text;
  std::shared_ptr<Pipeline> pipe;
  std::vector<std::shared_ptr<Node>> children;  // List
  std::shared_ptr<Node> body, alt;              // If/Range/With
};

namespace {

Error parse_error(int line, const std::string& msg) {
  return make_error(Code::InvalidArgument, "template: :" + std::to_string(line) + ": " + msg);
}

// ---------------------------------------------------------------- lexing an action

struct Tok {
  enum Kind { End, Field, Var, Ident, String, Number, Pipe, LParen, RParen, Declare, Comma } kind = End;
  std::string text;
};

Result<std::vector<Tok>> lex(const std::string& s, int line) {
  std::vector<Tok> out;
  size_t i = 0;
  auto ident_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '|') {
      out.push_back({Tok::Pipe, "|"});
      ++i;
    } else if (c == '(') {
      out.push_back({Tok::LParen, "("});
      ++i;
    } else if (c == ')') {
      out.push_back({Tok::RParen, ")"});
      ++i;
    } else if (c == ',') {
      out.push_back({Tok::Comma, ","});
      ++i;
    } else if (c == ':' && i + 1 < s.size() && s[i + 1] == '=') {
      out.push_back({Tok::Declare, ":="});
      i += 2;
    } else if (c == '=') {
      out.push_back({Tok::Declare, "="});
      ++i;
    } else if (c == '.' || c == '$') {
      size_t j = i + 1;
      while (j < s.size() && (ident_char(s[j]) || s[j] == '.')) ++j;
      out.push_back({c == '.' ? Tok::Field : Tok::Var, s.substr(i, j - i)});
      i = j;
    } else if (c == '"') {
      std::string v;
      size_t j = i + 1;
      for (; j < s.size() && s[j] != '"'; ++j) {
        if (s[j] == '\\' && j + 1 < s.size()) {
          char e = s[++j];
          v += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == '0' ? '\0' : e;
        } else {
          v += s[j];
        }
      }
      if (j >= s.size()) return parse_error(line, "unterminated quoted string");
      out.push_back({Tok::String, v});
      i = j + 1;
    } else if (c == '`') {
      size_t j = s.find('`', i + 1);
      if (j == std::string::npos) return parse_error(line, "unterminated raw quoted string");
      out.push_back({Tok::String, s.substr(i + 1, j - i - 1)});
      i = j + 1;
    } else if (std::isdigit(static_cast<unsigned char>(c)) || ((c == '-' || c == '+') && i + 1 < s.size() &&
                                                               std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      size_t j = i + 1;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
      out.push_back({Tok::Number, s.substr(i, j - i)});
      i = j;
    } else if (ident_char(c)) {
      size_t j = i;
      while (j < s.size() && ident_char(s[j])) ++j;
      out.push_back({Tok::Ident, s.substr(i, j - i)});
      i = j;
    } else {
      return parse_error(line, std::string("unexpected \"") + c + "\" in operand");
    }
  }
  return out;
}

std::vector<std::string> split_chain(const std::string& s) {
  std::vector<std::string> out;
  for (const auto& p : util::split(s, '.')) {
    if (!p.empty()) out.push_back(p);
  }
  return out;
}

class PipeParser {
 public:
  PipeParser(std::vector<Tok> toks, int line) : t_(std::move(toks)), line_(line) {}

  Result<std::shared_ptr<Pipeline>> pipeline(bool allow_decl) {
    auto p = std::make_shared<Pipeline>();
    // $x := ...  /  $k, $v := ...
    if (allow_decl) {
      size_t j = pos_;
      std::vector<std::string> vars;
      while (j < t_.size() && t_[j].kind == Tok::Var) {
        vars.push_back(t_[j].text.substr(1));
        ++j;
        if (j < t_.size() && t_[j].kind == Tok::Comma) {
          ++j;
          continue;
        }
        break;
      }
      if (!vars.empty() && j < t_.size() && t_[j].kind == Tok::Declare) {
        p->decl = vars;
        pos_ = j + 1;
      }
    }
    for (;;) {
      Command c;
      while (pos_ < t_.size() && t_[pos_].kind != Tok::Pipe && t_[pos_].kind != Tok::RParen) {
        BERTH_ASSIGN(Arg a, operand());
        c.args.push_back(std::move(a));
      }
      if (c.args.empty()) return parse_error(line_, "missing value for command");
      p->cmds.push_back(std::move(c));
      if (pos_ < t_.size() && t_[pos_].kind == Tok::Pipe) {
        ++pos_;
        continue;
      }
      break;
    }
    return p;
  }

  bool done() const { return pos_ >= t_.size(); }
  const Tok* peek() const { return pos_ < t_.size() ? &t_[pos_] : nullptr; }

 private:
  Result<Arg> operand() {
    const Tok& t = t_[pos_++];
    Arg a;
    switch (t.kind) {
      case Tok::Field:
        a.kind = t.text == "." ? Arg::Dot : Arg::Field;
        a.chain = split_chain(t.text);
        return a;
      case Tok::Var: {
        a.kind = Arg::Var;
        auto dot = t.text.find('.');
        a.name = t.text.substr(1, dot == std::string::npos ? std::string::npos : dot - 1);
        if (dot != std::string::npos) a.chain = split_chain(t.text.substr(dot));
        return a;
      }
      case Tok::String:
        a.kind = Arg::Literal;
        a.value = t.text;
        return a;
      case Tok::Number: {
        a.kind = Arg::Literal;
        char* end = nullptr;
        if (t.text.find_first_of(".eE") == std::string::npos) {
          long long v = std::strtoll(t.text.c_str(), &end, 0);
          a.value = static_cast<int64_t>(v);
        } else {
          a.value = std::strtod(t.text.c_str(), &end);
        }
        if (end == nullptr || *end != '\0') return parse_error(line_, "bad number syntax: \"" + t.text + "\"");
        return a;
      }
      case Tok::Ident:
        if (t.text == "true" || t.text == "false") {
          a.kind = Arg::Literal;
          a.value = t.text == "true";
        } else if (t.text == "nil") {
          a.kind = Arg::Literal;
          a.value = nullptr;
        } else {
          a.kind = Arg::Ident;
          a.name = t.text;
        }
        return a;
      case Tok::LParen: {
        a.kind = Arg::Sub;
        BERTH_ASSIGN(a.sub, pipeline(false));
        if (pos_ >= t_.size() || t_[pos_].kind != Tok::RParen) return parse_error(line_, "unclosed left paren");
        ++pos_;
        // (pipeline).Field
        if (pos_ < t_.size() && t_[pos_].kind == Tok::Field && t_[pos_].text != ".") {
          a.chain = split_chain(t_[pos_++].text);
        }
        return a;
      }
      default:
        return parse_error(line_, "unexpected \"" + t.text + "\" in operand");
    }
  }

  std::vector<Tok> t_;
  int line_;
  size_t pos_ = 0;
};

// ---------------------------------------------------------------- parsing the text

struct Piece {
  bool action = false;
  std::string text;
  int line = 1;
};

Result<std::vector<Piece>> split_pieces(const std::string& src) {
  std::vector<Piece> out;
  size_t i = 0;
  int line = 1;
  while (i < src.size()) {
    size_t open = src.find("{{", i);
    std::string text = src.substr(i, open == std::string::npos ? std::string::npos : open - i);
    if (open == std::string::npos) {
      out.push_back({false, text, line});
      break;
    }
    size_t close = src.find("}}", open + 2);
    if (close == std::string::npos) return parse_error(line, "unclosed action");
    std::string inner = src.substr(open + 2, close - open - 2);
    // {{- trims the whitespace before, -}} the whitespace after.
    if (inner.size() >= 2 && inner[0] == '-' && std::isspace(static_cast<unsigned char>(inner[1]))) {
      while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
      inner = inner.substr(2);
    }
    bool trim_after = false;
    if (inner.size() >= 2 && inner.back() == '-' && std::isspace(static_cast<unsigned char>(inner[inner.size() - 2]))) {
      inner = inner.substr(0, inner.size() - 2);
      trim_after = true;
    }
    if (!text.empty()) out.push_back({false, text, line});
    line += static_cast<int>(std::count(text.begin(), text.end(), '\n'));
    out.push_back({true, inner, line});
    line += static_cast<int>(std::count(inner.begin(), inner.end(), '\n'));
    i = close + 2;
    if (trim_after) {
      while (i < src.size() && std::isspace(static_cast<unsigned char>(src[i]))) {
        if (src[i] == '\n') ++line;
        ++i;
      }
    }
  }
  return out;
}

class TreeParser {
 public:
  explicit TreeParser(std::vector<Piece> pieces) : p_(std::move(pieces)) {}

  // Parses until one of `stops` ("end", "else") or the end of input; returns the stop word
  // met (and, for "else", what followed it in the action).
  Result<std::shared_ptr<Node>> list(const std::vector<std::string>& stops, std::string* stop, std::string* rest) {
    auto node = std::make_shared<Node>();
    node->kind = Node::List;
    while (i_ < p_.size()) {
      const Piece& piece = p_[i_++];
      if (!piece.action) {
        auto t = std::make_shared<Node>();
        t->kind = Node::Text;
        t->text = piece.text;
        node->children.push_back(t);
        continue;
      }
      std::string a = util::trim(piece.text);
      if (util::starts_with(a, "/*")) continue;  // a comment
      std::string word = a.substr(0, a.find_first_of(" \t\n("));
      if (word == "end" || word == "else") {
        if (std::find(stops.begin(), stops.end(), word) == stops.end()) {
          return parse_error(piece.line, "unexpected {{" + word + "}}");
        }
        *stop = word;
        *rest = util::trim(a.substr(word.size()));
        return node;
      }
      if (word == "if" || word == "range" || word == "with") {
        BERTH_ASSIGN(auto n, control(word, util::trim(a.substr(word.size())), piece.line));
        node->children.push_back(n);
        continue;
      }
      if (word == "define" || word == "template" || word == "block") {
        return parse_error(piece.line, "{{" + word + "}} is not supported");
      }
      auto act = std::make_shared<Node>();
      act->kind = Node::Action;
      BERTH_ASSIGN(act->pipe, pipe(a, piece.line, true));
      node->children.push_back(act);
    }
    if (!stops.empty()) return parse_error(p_.empty() ? 1 : p_.back().line, "unexpected EOF");
    return node;
  }

 private:
  Result<std::shared_ptr<Pipeline>> pipe(const std::string& text, int line, bool allow_decl) {
    BERTH_ASSIGN(auto toks, lex(text, line));
    if (toks.empty()) return parse_error(line, "missing value for command");
    PipeParser pp(std::move(toks), line);
    BERTH_ASSIGN(auto p, pp.pipeline(allow_decl));
    if (!pp.done()) return parse_error(line, "unexpected \"" + pp.peek()->text + "\" in operand");
    p->text = text;
    return p;
  }

  Result<std::shared_ptr<Node>> control(const std::string& word, const std::string& arg, int line) {
    auto n = std::make_shared<Node>();
    n->kind = word == "if" ? Node::If : word == "range" ? Node::Range : Node::With;
    BERTH_ASSIGN(n->pipe, pipe(arg, line, word != "if"));
    std::string stop, rest;
    BERTH_ASSIGN(n->body, list({"end", "else"}, &stop, &rest));
    if (stop == "else") {
      if (util::starts_with(rest, "if ") && n->kind == Node::If) {
        // {{else if x}} is an if nested in the else branch, sharing its {{end}}.
        auto alt = std::make_shared<Node>();
        alt->kind = Node::List;
        BERTH_ASSIGN(auto inner, control("if", util::trim(rest.substr(3)), line));
        alt->children.push_back(inner);
        n->alt = alt;
        return n;
      }
      BERTH_ASSIGN(n->alt, list({"end"}, &stop, &rest));
    }
    return n;
  }

  std::vector<Piece> p_;
  size_t i_ = 0;
};

// ---------------------------------------------------------------- values

// A value, or the "no value" of a missing map key.
struct Value {
  json v;
  bool missing = false;
};

std::string number_text(const json& v) {
  if (v.is_number_integer()) return v.dump();
  double d = v.get<double>();
  if (std::floor(d) == d && std::fabs(d) < 1e21) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.0f", d);
    return buf;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  // The shortest form that reads back the same, as Go's %v gives.
  for (int prec = 1; prec <= 17; ++prec) {
    char tryb[64];
    std::snprintf(tryb, sizeof tryb, "%.*g", prec, d);
    if (std::strtod(tryb, nullptr) == d) return tryb;
  }
  return buf;
}

std::string print_value(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "<nil>";
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) return number_text(v);
  if (v.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + print_value(v[i]);
    return out + "]";
  }
  // Go prints maps with their keys sorted.
  std::vector<std::string> keys;
  for (auto it = v.begin(); it != v.end(); ++it) keys.push_back(it.key());
  std::sort(keys.begin(), keys.end());
  std::string out = "map[";
  for (size_t i = 0; i < keys.size(); ++i) out += (i ? " " : "") + keys[i] + ":" + print_value(v[keys[i]]);
  return out + "]";
}

std::string print_value(const Value& v) { return v.missing ? "<no value>" : print_value(v.v); }

bool truthy(const Value& v) {
  if (v.missing) return false;
  const json& j = v.v;
  if (j.is_null()) return false;
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number()) return j.get<double>() != 0;
  if (j.is_string()) return !j.get<std::string>().empty();
  return !j.empty();
}

// ---------------------------------------------------------------- execution

class Exec {
 public:
  // `$` is the data the template was given.
  explicit Exec(const json& root) { vars_.push_back({{"", root}}); }

  Status run(const Node& n, const json& dot, std::string* out) {
    switch (n.kind) {
      case Node::List:
        for (const auto& c : n.children) BERTH_TRY(run(*c, dot, out));
        return {};
      case Node::Text:
        *out += n.text;
        return {};
      case Node::Action: {
        BERTH_ASSIGN(Value v, pipeline(*n.pipe, dot));
        if (n.pipe->decl.empty()) *out += print_value(v);
        return {};
      }
      case Node::If: {
        BERTH_ASSIGN(Value v, pipeline(*n.pipe, dot));
        if (truthy(v)) return run(*n.body, dot, out);
        if (n.alt) return run(*n.alt, dot, out);
        return {};
      }
      case Node::With: {
        vars_.emplace_back();
        BERTH_ASSIGN(Value v, pipeline(*n.pipe, dot));
        Status s;
        if (truthy(v)) s = run(*n.body, v.v, out);
        else if (n.alt) s = run(*n.alt, dot, out);
        vars_.pop_back();
        return s;
      }
      case Node::Range: {
        auto decl = n.pipe->decl;
        Pipeline p = *n.pipe;
        p.decl.clear();
        BERTH_ASSIGN(Value v, pipeline(p, dot));
        const json& items = v.v;
        bool any = false;
        auto each = [&](const json& key, const json& item) -> Status {
          any = true;
          vars_.emplace_back();
          if (decl.size() == 1) vars_.back()[decl[0]] = item;
          if (decl.size() == 2) {
            vars_.back()[decl[0]] = key;
            vars_.back()[decl[1]] = item;
          }
          Status s = run(*n.body, item, out);
          vars_.pop_back();
          return s;
        };
        if (!v.missing && items.is_array()) {
          for (size_t i = 0; i < items.size(); ++i) BERTH_TRY(each(json(static_cast<int64_t>(i)), items[i]));
        } else if (!v.missing && items.is_object()) {
          std::vector<std::string> keys;
          for (auto it = items.begin(); it != items.end(); ++it) keys.push_back(it.key());
          std::sort(keys.begin(), keys.end());
          for (const auto& k : keys) BERTH_TRY(each(json(k), items[k]));
        } else if (!v.missing && items.is_number_integer()) {
          for (int64_t i = 0; i < items.get<int64_t>(); ++i) BERTH_TRY(each(json(i), json(i)));
        } else if (!v.missing && !items.is_null()) {
          return failure(p, "range can't iterate over " + print_value(items));
        }
        if (!any && n.alt) return run(*n.alt, dot, out);
        return {};
      }
    }
    return {};
  }

 private:
  Error failure(const Pipeline& p, const std::string& msg) {
    return make_error(Code::InvalidArgument, "template: :1: executing \"\" at <" + p.text + ">: " + msg);
  }

  Result<Value> pipeline(const Pipeline& p, const json& dot) {
    Value v;
    bool have = false;
    for (const auto& c : p.cmds) {
      BERTH_ASSIGN(v, command(p, c, dot, have ? &v : nullptr));
      have = true;
    }
    if (!p.decl.empty()) vars_.back()[p.decl[0]] = v.v;
    return v;
  }

  Result<Value> field(const Pipeline& p, Value base, const std::vector<std::string>& chain) {
    for (const auto& name : chain) {
      if (base.missing) return base;
      if (!base.v.is_object()) {
        return failure(p, "can't evaluate field " + name + " in type " +
                              (base.v.is_array() ? "[]interface {}" : base.v.is_string() ? "string" : "interface {}"));
      }
      auto it = base.v.find(name);
      if (it == base.v.end()) return Value{json(), true};
      base = Value{*it, false};
    }
    return base;
  }

  Result<Value> arg(const Pipeline& p, const Arg& a, const json& dot) {
    switch (a.kind) {
      case Arg::Dot:
        return Value{dot, false};
      case Arg::Field:
        return field(p, Value{dot, false}, a.chain);
      case Arg::Var: {
        for (auto it = vars_.rbegin(); it != vars_.rend(); ++it) {
          auto f = it->find(a.name);
          if (f != it->end()) return field(p, Value{f->second, false}, a.chain);
        }
        return failure(p, "undefined variable: $" + a.name);
      }
      case Arg::Literal:
        return Value{a.value, false};
      case Arg::Sub: {
        BERTH_ASSIGN(Value v, pipeline(*a.sub, dot));
        return field(p, v, a.chain);
      }
      case Arg::Ident:
        return call(p, a.name, {}, dot);
    }
    return Value{};
  }

  Result<Value> command(const Pipeline& p, const Command& c, const json& dot, const Value* piped) {
    const Arg& first = c.args[0];
    std::vector<Value> args;
    for (size_t i = 1; i < c.args.size(); ++i) {
      BERTH_ASSIGN(Value v, arg(p, c.args[i], dot));
      args.push_back(v);
    }
    if (piped != nullptr) args.push_back(*piped);
    if (first.kind == Arg::Ident) return call(p, first.name, args, dot);
    BERTH_ASSIGN(Value v, arg(p, first, dot));
    if (args.empty()) return v;
    // `.Label "key"`: Docker's formatter methods taking a key are maps here.
    if ((first.kind == Arg::Field || first.kind == Arg::Var) && v.v.is_object() && args.size() == 1 &&
        args[0].v.is_string()) {
      auto it = v.v.find(args[0].v.get<std::string>());
      return it == v.v.end() ? Value{json(""), false} : Value{*it, false};
    }
    // (A table's header row gives such a method's column title, whatever the key.)
    if (first.kind == Arg::Field && v.v.is_string() && args.size() == 1 && args[0].v.is_string()) return v;
    return failure(p, "can't give argument to non-function " + p.text);
  }

  Result<Value> call(const Pipeline& p, const std::string& fn, const std::vector<Value>& a, const json& dot) {
    (void)dot;
    auto want = [&](size_t n) -> Status {
      if (a.size() != n) {
        return failure(p, "wrong number of args for " + fn + ": want " + std::to_string(n) + " got " +
                              std::to_string(a.size()));
      }
      return {};
    };
    auto str = [&](size_t i) { return print_value(a[i]); };
    if (fn == "json") {
      BERTH_TRY(want(1));
      return Value{json(a[0].missing ? std::string("null") : a[0].v.dump()), false};
    }
    if (fn == "join") {
      BERTH_TRY(want(2));
      std::string out;
      if (a[0].v.is_array()) {
        for (size_t i = 0; i < a[0].v.size(); ++i) out += (i ? str(1) : "") + print_value(a[0].v[i]);
      } else if (!a[0].missing && !a[0].v.is_null()) {
        out = str(0);
      }
      return Value{json(out), false};
    }
    if (fn == "split") {
      BERTH_TRY(want(2));
      json out = json::array();
      std::string s = str(0), sep = str(1);
      if (sep.empty()) {
        for (char ch : s) out.push_back(std::string(1, ch));
      } else {
        size_t from = 0, at;
        while ((at = s.find(sep, from)) != std::string::npos) {
          out.push_back(s.substr(from, at - from));
          from = at + sep.size();
        }
        out.push_back(s.substr(from));
      }
      return Value{out, false};
    }
    if (fn == "upper" || fn == "lower" || fn == "title") {
      BERTH_TRY(want(1));
      std::string s = str(0);
      bool start = true;
      for (auto& ch : s) {
        auto u = static_cast<unsigned char>(ch);
        if (fn == "upper") ch = static_cast<char>(std::toupper(u));
        if (fn == "lower") ch = static_cast<char>(std::tolower(u));
        if (fn == "title") {
          if (start) ch = static_cast<char>(std::toupper(u));
          start = std::isspace(u) != 0;
        }
      }
      return Value{json(s), false};
    }
    if (fn == "pad") {
      BERTH_TRY(want(3));
      int64_t l = a[1].v.is_number() ? a[1].v.get<int64_t>() : 0;
      int64_t r = a[2].v.is_number() ? a[2].v.get<int64_t>() : 0;
      return Value{json(std::string(static_cast<size_t>(std::max<int64_t>(l, 0)), ' ') + str(0) +
                        std::string(static_cast<size_t>(std::max<int64_t>(r, 0)), ' ')),
                   false};
    }
    if (fn == "truncate") {
      BERTH_TRY(want(2));
      std::string s = str(0);
      int64_t n = a[1].v.is_number() ? a[1].v.get<int64_t>() : 0;
      if (n >= 0 && static_cast<size_t>(n) < s.size()) s = s.substr(0, static_cast<size_t>(n));
      return Value{json(s), false};
    }
    if (fn == "index") {
      if (a.empty()) return failure(p, "wrong number of args for index: want at least 1 got 0");
      Value v = a[0];
      for (size_t i = 1; i < a.size(); ++i) {
        if (v.missing || v.v.is_null()) return failure(p, "error calling index: index of untyped nil");
        if (v.v.is_object()) {
          auto it = v.v.find(str(i));
          v = it == v.v.end() ? Value{json(), true} : Value{*it, false};
        } else if (v.v.is_array() && a[i].v.is_number_integer()) {
          auto k = a[i].v.get<int64_t>();
          if (k < 0 || static_cast<size_t>(k) >= v.v.size()) {
            return failure(p, "error calling index: index out of range: " + std::to_string(k));
          }
          v = Value{v.v[static_cast<size_t>(k)], false};
        } else {
          return failure(p, "error calling index: cannot index " + print_value(v));
        }
      }
      return v;
    }
    if (fn == "len") {
      BERTH_TRY(want(1));
      const json& v = a[0].v;
      if (v.is_string()) return Value{json(static_cast<int64_t>(v.get<std::string>().size())), false};
      if (v.is_array() || v.is_object()) return Value{json(static_cast<int64_t>(v.size())), false};
      return failure(p, "error calling len: len of type " + print_value(a[0]));
    }
    if (fn == "eq" || fn == "ne" || fn == "lt" || fn == "le" || fn == "gt" || fn == "ge") {
      if (a.size() < 2) return failure(p, "wrong number of args for " + fn + ": want 2 got " + std::to_string(a.size()));
      auto cmp = [&](const Value& x, const Value& y) -> int {
        if (x.v.is_number() && y.v.is_number()) {
          double dx = x.v.get<double>(), dy = y.v.get<double>();
          return dx < dy ? -1 : dx > dy ? 1 : 0;
        }
        std::string sx = print_value(x), sy = print_value(y);
        return sx < sy ? -1 : sx > sy ? 1 : 0;
      };
      if (fn == "eq") {
        for (size_t i = 1; i < a.size(); ++i) {
          if (cmp(a[0], a[i]) == 0) return Value{json(true), false};
        }
        return Value{json(false), false};
      }
      BERTH_TRY(want(2));
      int c = cmp(a[0], a[1]);
      bool r = fn == "ne" ? c != 0 : fn == "lt" ? c < 0 : fn == "le" ? c <= 0 : fn == "gt" ? c > 0 : c >= 0;
      return Value{json(r), false};
    }
    if (fn == "not") {
      BERTH_TRY(want(1));
      return Value{json(!truthy(a[0])), false};
    }
    if (fn == "and" || fn == "or") {
      if (a.empty()) return failure(p, "wrong number of args for " + fn);
      for (const auto& v : a) {
        if ((fn == "and") != truthy(v)) return v;
      }
      return a.back();
    }
    if (fn == "print" || fn == "println") {
      std::string out;
      for (size_t i = 0; i < a.size(); ++i) {
        // Go's Sprint puts spaces between operands when neither is a string.
        bool space = fn == "println" || (i > 0 && !a[i].v.is_string() && !a[i - 1].v.is_string());
        if (i > 0 && space) out += " ";
        out += str(i);
      }
      if (fn == "println") out += "\n";
      return Value{json(out), false};
    }
    if (fn == "printf") {
      if (a.empty()) return failure(p, "wrong number of args for printf: want at least 1 got 0");
      std::string f = str(0), out;
      size_t next = 1;
      for (size_t i = 0; i < f.size(); ++i) {
        if (f[i] != '%' || i + 1 >= f.size()) {
          out += f[i];
          continue;
        }
        char verb = f[++i];
        if (verb == '%') {
          out += '%';
        } else if (next < a.size()) {
          std::string v = print_value(a[next++]);
          out += verb == 'q' ? json(v).dump() : v;
        } else {
          out += std::string("%!") + verb + "(MISSING)";
        }
      }
      return Value{json(out), false};
    }
    return failure(p, "function \"" + fn + "\" not defined");
  }

  std::vector<std::map<std::string, json>> vars_;
};

}  // namespace

Result<Template> Template::parse(const std::string& text) {
  BERTH_ASSIGN(auto pieces, split_pieces(text));
  TreeParser tp(std::move(pieces));
  std::string stop, rest;
  BERTH_ASSIGN(auto root, tp.list({}, &stop, &rest));
  Template t;
  t.root_ = root;
  return t;
}

Result<std::string> Template::execute(const json& data) const {
  std::string out;
  Exec ex(data);
  BERTH_TRY(ex.run(*root_, data, &out));
  return out;
}

CliFormat cli_format(const std::string& format) {
  CliFormat f;
  std::string body = format;
  if (util::starts_with(body, "table")) {
    f.table = true;
    body = body.substr(5);
  }
  body = util::trim(body);
  std::string out;
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\\' && i + 1 < body.size() && (body[i + 1] == 't' || body[i + 1] == 'n')) {
      out += body[i + 1] == 't' ? '\t' : '\n';
      ++i;
    } else {
      out += body[i];
    }
  }
  f.body = out;
  return f;
}

std::string tabwrite(const std::string& text) {
  Table t;
  std::string body = text;
  if (!body.empty() && body.back() == '\n') body.pop_back();
  for (const auto& line : util::split(body, '\n')) t.row(util::split(line, '\t'));
  return t.str();
}

}  // namespace berth::cli::tmpl
