// agency.yaml's `auditor:` section: where audits go, the window each covers,
// whether the engine adds suggestions, and the thresholds of the rules
// (docs/AUDIT.md), read by the role (config::read_auditor, its catalog
// entry's section reader) with the errors every section gives
// (runtime/config_reader.hpp). docs/CONFIG.md lists the keys.
#pragma once

#include <filesystem>
#include <string>

#include "roles/auditor/audit.hpp"
#include "runtime/config.hpp"
#include "runtime/config_reader.hpp"

namespace agency::config {

struct Auditor {
  std::filesystem::path dir;  // where audits go; empty: <state_dir>/audits
  int window_hours = 24;      // each audit covers the hours before it
  bool suggestions = true;    // false: the figures alone, no engine turn
  std::string time_zone;      // for the date of a file and the person's hours; empty: the machine's
  audit::Rules rules;
};

inline const Auditor& auditor(const Config& config) { return section<Auditor>(config, "auditor"); }
inline Auditor& auditor(Config& config) { return section<Auditor>(config, "auditor"); }

void read_auditor(Reader& reader, const Reader::Item& section, Config& config);

}  // namespace agency::config
