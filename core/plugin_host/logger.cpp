#include "plugin_host/logger.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace berth::plugin_host {

namespace {
spdlog::level::level_enum to_spd(sdk::LogLevel level) {
  switch (level) {
    case sdk::LogLevel::Trace: return spdlog::level::trace;
    case sdk::LogLevel::Debug: return spdlog::level::debug;
    case sdk::LogLevel::Info: return spdlog::level::info;
    case sdk::LogLevel::Warn: return spdlog::level::warn;
    case sdk::LogLevel::Error: return spdlog::level::err;
  }
  return spdlog::level::info;
}
}  // namespace

void SpdLogger::log(sdk::LogLevel level, std::string_view message) {
  l_->log(to_spd(level), "{}", message);
}

bool SpdLogger::enabled(sdk::LogLevel level) const { return l_->should_log(to_spd(level)); }

std::shared_ptr<spdlog::logger> setup_logging(const std::string& level, const std::string& file) {
  std::shared_ptr<spdlog::logger> l;
  if (file.empty()) {
    l = std::make_shared<spdlog::logger>("berth", std::make_shared<spdlog::sinks::stderr_sink_st>());
  } else {
    try {
      l = std::make_shared<spdlog::logger>(
          "berth", std::make_shared<spdlog::sinks::basic_file_sink_st>(file, false));
    } catch (const std::exception&) {
      l = std::make_shared<spdlog::logger>("berth", std::make_shared<spdlog::sinks::stderr_sink_st>());
    }
  }
  l->set_pattern(file.empty() ? "berth: %l: %v" : "%Y-%m-%dT%H:%M:%S.%f %P %l: %v");
  l->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(l);
  return l;
}

void flush_logs() {
  if (auto* l = spdlog::default_logger_raw(); l != nullptr) l->flush();
}

}  // namespace berth::plugin_host
