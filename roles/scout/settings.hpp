// agency.yaml's `scout:` section: the scout's own settings, read by the
// role (config::read_scout, its catalog entry's section reader) with the
// errors every section gives (runtime/config_reader.hpp). docs/CONFIG.md
// lists the keys.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "runtime/config.hpp"
#include "runtime/config_reader.hpp"

namespace agency::config {

// The scout (roles/scout).
struct Scout {
  // New tasks one exploration may file.
  int max_tasks = 5;
};

// The section as read, or its defaults when the file has none.
inline const Scout& scout(const Config& config) { return section<Scout>(config, "scout"); }
inline Scout& scout(Config& config) { return section<Scout>(config, "scout"); }

// Reads the section into `config` (the catalog entry's section reader).
void read_scout(Reader& reader, const Reader::Item& section, Config& config);

}  // namespace agency::config
