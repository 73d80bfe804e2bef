// The one way a YAML syntax error in a file of ours is reported:
// "<file>:<line>:<column>: not valid YAML: <what the parser said>".
#pragma once

#include <yaml-cpp/exceptions.h>

#include <string>

#include "bus/result.hpp"

namespace agency {

inline Error yaml_syntax_error(const std::string& label, const YAML::Exception& e) {
  std::string where = label;
  if (!e.mark.is_null()) {
    where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
  }
  return make_error(errc::config, where + ": not valid YAML: " + e.msg);
}

}  // namespace agency
