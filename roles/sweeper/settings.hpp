// agency.yaml's `sweeper:` section: the sweeper's own settings, read by the
// role (config::read_sweeper, its catalog entry's section reader) with the
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

// The sweeper (roles/sweeper): how often it walks the fleet and when it acts.
struct Sweeper {
  int every_seconds = 300;
  // A busy agent without progress this long is nudged; still none after
  // the grace, it is drained and its brief redelivered.
  int stuck_after_seconds = 900;
  int nudge_grace_seconds = 300;
  // A question an agent has waited on this long is taken to the proxy; its
  // answer is passed on when at least this confident.
  int answer_after_seconds = 60;
  double answer_confidence = 0.7;
  // A task that entered one stage this many times is in a loop: blocked.
  int loop_limit = 4;
  // A task whose tokens pass this many times its role's median is flagged.
  double burn_factor = 5.0;
};

// The section as read, or its defaults when the file has none.
inline const Sweeper& sweeper(const Config& config) { return section<Sweeper>(config, "sweeper"); }
inline Sweeper& sweeper(Config& config) { return section<Sweeper>(config, "sweeper"); }

// Reads the section into `config` (the catalog entry's section reader).
void read_sweeper(Reader& reader, const Reader::Item& section, Config& config);

}  // namespace agency::config
