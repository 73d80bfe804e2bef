// agency.yaml's `synthesizer:` section: the synthesizer's own settings, read by the
// role (config::read_synthesizer, its catalog entry's section reader) with the
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

// The synthesizer (roles/synthesizer): the daily digest of the work logs.
struct Synthesizer {
  std::string digest_at = "04:00";  // HH:MM, in time_zone
  std::string time_zone;            // IANA name (Europe/Berlin); empty: the machine's
  std::filesystem::path dir;        // where digests go; empty: <state_dir>/digests
};

// The section as read, or its defaults when the file has none.
inline const Synthesizer& synthesizer(const Config& config) {
  return section<Synthesizer>(config, "synthesizer");
}
inline Synthesizer& synthesizer(Config& config) {
  return section<Synthesizer>(config, "synthesizer");
}

// Reads the section into `config` (the catalog entry's section reader).
void read_synthesizer(Reader& reader, const Reader::Item& section, Config& config);

}  // namespace agency::config
