#pragma once

#include <string_view>

#include "berth/sdk/visibility.hpp"

namespace berth::sdk {

enum class LogLevel { Trace, Debug, Info, Warn, Error };

// The host's logger, handed to every driver. Implementations are thread-safe.
class BERTH_SDK_VISIBLE Logger {
 public:
  virtual ~Logger() = default;
  virtual void log(LogLevel level, std::string_view message) = 0;
  virtual bool enabled(LogLevel level) const = 0;

  void debug(std::string_view m) { log(LogLevel::Debug, m); }
  void info(std::string_view m) { log(LogLevel::Info, m); }
  void warn(std::string_view m) { log(LogLevel::Warn, m); }
  void error(std::string_view m) { log(LogLevel::Error, m); }
};

}  // namespace berth::sdk
