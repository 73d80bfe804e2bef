// One named spdlog logger per role or module, on stderr (`agency up`
// sends each agent's stderr to its log file). Level from AGENCY_LOG_LEVEL
// (trace, debug, info, warn, error; default info).
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace agency {

std::shared_ptr<spdlog::logger> make_logger(const std::string& name);

}  // namespace agency
