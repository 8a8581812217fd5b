#pragma once

// Go text/template, the part Docker users write in --format and inspect -f: field paths
// (.Config.Env, $.Name, .Label "k"), pipelines (|), parenthesised calls, variables
// ($x := ..., range $k, $v := ...), if / else if / else, range (with else), with, comments,
// {{- and -}} trimming, and the functions Go and Docker's CLI define: json, join, split,
// upper, lower, title, pad, truncate, index, len, eq, ne, lt, le, gt, ge, not, and, or,
// print, println, printf. Data is JSON; values print as Go's %v prints them ("[a b]",
// "map[k:v]", "<no value>" for a missing key).

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "berth/sdk/result.hpp"

namespace berth::cli::tmpl {

struct Node;

class Template {
 public:
  // Parse errors read as Go's: "template: :1:12: unexpected \"}\" in operand".
  static Result<Template> parse(const std::string& text);
  Result<std::string> execute(const nlohmann::ordered_json& data) const;

 private:
  std::shared_ptr<const Node> root_;
};

// Docker's CLI formats (ps, images): "table" prefix, and the two-character sequences \t and
// \n in the format string stand for a tab and a newline.
struct CliFormat {
  bool table = false;
  std::string body;  // the template, after the prefix and with \t, \n replaced
};
CliFormat cli_format(const std::string& format);

// Aligns tab-separated cells as Docker's tabwriter does (minimum width 10, padding 3).
std::string tabwrite(const std::string& text);

}  // namespace berth::cli::tmpl
