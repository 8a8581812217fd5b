#pragma once

// Driver options cross the plugin boundary as string maps, exactly as the user wrote them
// (`network create -o key=value`, `[drivers."network.bridge"]` in the host's TOML).
// OptionReader lets a driver take the keys it knows and refuse the rest.

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "berth/sdk/result.hpp"

namespace berth::sdk {

using Options = std::map<std::string, std::string>;
using Labels = std::map<std::string, std::string>;

class OptionReader {
 public:
  // `what` names the options' owner in errors, e.g. "driver 'overlay'".
  OptionReader(const Options& options, std::string what);

  bool has(const std::string& key) const;
  std::string get(const std::string& key, const std::string& fallback = "");
  Result<bool> get_bool(const std::string& key, bool fallback);
  Result<int64_t> get_int(const std::string& key, int64_t fallback, int64_t min, int64_t max);
  // One of the allowed values, or InvalidArgument naming them.
  Result<std::string> get_enum(const std::string& key, const std::string& fallback,
                               const std::set<std::string>& allowed);
  // InvalidArgument naming every key that no get*() asked for.
  Status finish() const;

 private:
  const Options& options_;
  std::string what_;
  std::set<std::string> taken_;
};

}  // namespace berth::sdk
