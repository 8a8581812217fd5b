#pragma once

#include <memory>
#include <string>

#include "berth/sdk/logger.hpp"

namespace spdlog {
class logger;
}

namespace berth::plugin_host {

// The sdk::Logger drivers receive, backed by the engine's spdlog logger.
class SpdLogger final : public sdk::Logger {
 public:
  explicit SpdLogger(std::shared_ptr<spdlog::logger> l) : l_(std::move(l)) {}
  void log(sdk::LogLevel level, std::string_view message) override;
  bool enabled(sdk::LogLevel level) const override;

 private:
  std::shared_ptr<spdlog::logger> l_;
};

// Sets up the process's default logger: stderr at `level` ("warn" by default), or a file.
std::shared_ptr<spdlog::logger> setup_logging(const std::string& level, const std::string& file = "");
// Writes out what the default logger holds (before a process leaves with _exit).
void flush_logs();

}  // namespace berth::plugin_host
