#include "berth/sdk/options.hpp"

#include <cerrno>
#include <cstdlib>

namespace berth::sdk {

OptionReader::OptionReader(const Options& options, std::string what)
    : options_(options), what_(std::move(what)) {}

bool OptionReader::has(const std::string& key) const { return options_.count(key) != 0; }

std::string OptionReader::get(const std::string& key, const std::string& fallback) {
  taken_.insert(key);
  auto it = options_.find(key);
  return it == options_.end() ? fallback : it->second;
}

Result<bool> OptionReader::get_bool(const std::string& key, bool fallback) {
  taken_.insert(key);
  auto it = options_.find(key);
  if (it == options_.end()) {
    return fallback;
  }
  const std::string& v = it->second;
  if (v == "true" || v == "1" || v == "yes" || v == "on") {
    return true;
  }
  if (v == "false" || v == "0" || v == "no" || v == "off") {
    return false;
  }
  return make_error(Code::InvalidArgument,
                    what_ + ": option '" + key + "' must be true or false, not '" + v + "'");
}

Result<int64_t> OptionReader::get_int(const std::string& key, int64_t fallback, int64_t min,
                                      int64_t max) {
  taken_.insert(key);
  auto it = options_.find(key);
  if (it == options_.end()) {
    return fallback;
  }
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (errno != 0 || end == it->second.c_str() || *end != '\0' || v < min || v > max) {
    return make_error(Code::InvalidArgument, what_ + ": option '" + key +
                                                 "' must be an integer from " +
                                                 std::to_string(min) + " to " +
                                                 std::to_string(max) + ", not '" + it->second + "'");
  }
  return static_cast<int64_t>(v);
}

Result<std::string> OptionReader::get_enum(const std::string& key, const std::string& fallback,
                                           const std::set<std::string>& allowed) {
  std::string v = get(key, fallback);
  if (allowed.count(v) == 0) {
    std::string names;
    for (const auto& a : allowed) {
      names += names.empty() ? a : ", " + a;
    }
    return make_error(Code::InvalidArgument, what_ + ": option '" + key + "' must be one of " +
                                                 names + ", not '" + v + "'");
  }
  return v;
}

Status OptionReader::finish() const {
  std::string unknown;
  for (const auto& [k, v] : options_) {
    if (taken_.count(k) == 0) {
      unknown += unknown.empty() ? "'" + k + "'" : ", '" + k + "'";
    }
  }
  if (!unknown.empty()) {
    return make_error(Code::InvalidArgument, what_ + ": unknown option " + unknown);
  }
  return {};
}

}  // namespace berth::sdk
