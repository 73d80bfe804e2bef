#include "runtime/logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>

namespace agency {

std::shared_ptr<spdlog::logger> make_logger(const std::string& name) {
  if (auto existing = spdlog::get(name)) return existing;
  auto logger = spdlog::stderr_color_mt(name);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
  if (const char* level = std::getenv("AGENCY_LOG_LEVEL"); level != nullptr && *level != '\0') {
    logger->set_level(spdlog::level::from_str(level));
  }
  return logger;
}

}  // namespace agency
