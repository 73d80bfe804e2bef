// agency.yaml's `accountant:` section: the accountant's own settings, read by the
// role (config::read_accountant, its catalog entry's section reader) with the
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

// The accountant (roles/accountant) and the leases every agent asks it for.
// The section being present turns leases on.
struct Accountant {
  bool enabled = false;
  std::vector<Account> accounts;  // empty in the file: one named default
  // Share of every window agents never lease while the human may need it.
  double reserve = 0.2;
  // Before a reset, the reserve shrinks to nothing over this long, for
  // batch work: capacity that would expire unused.
  int release_five_hour_minutes = 30;
  int release_seven_day_minutes = 720;
  // ... but only while the person has used nothing for this long: someone
  // at work may need the reserve right up to the reset.
  int human_idle_minutes = 30;
  // How far ahead of the even pace scheduled and batch work may run, as a
  // share of the window's limit.
  double burst = 0.01;
  // Night hours (local, in time_zone), when batch work runs night_weight
  // times the daytime pace. Every hour run off the even pace is capacity
  // some other hour leaves unused; 1.25 keeps that cost below what a fixed
  // pace loses (docs/BENCHMARKS.md).
  int night_from_minute = 22 * 60;
  int night_to_minute = 7 * 60;
  double night_weight = 1.25;
  std::string time_zone;
  // How often the human's transcripts and the usage endpoint are read.
  int transcripts_every_seconds = 60;
  int usage_every_seconds = 300;
  // An agent waits this long for a lease answer; no answer means the
  // accountant is down and the fallback applies: at most
  // fallback_tokens_per_hour per agent, then briefs wait for the next hour.
  int lease_timeout_ms = 2000;
  int lease_ttl_seconds = 1800;
  std::int64_t fallback_tokens_per_hour = 200000;
  // An agent's estimate before it has spent anything.
  std::int64_t first_estimate = 20000;
};

// The section as read, or its defaults when the file has none.
inline const Accountant& accountant(const Config& config) {
  return section<Accountant>(config, "accountant");
}
inline Accountant& accountant(Config& config) { return section<Accountant>(config, "accountant"); }

// Reads the section into `config` (the catalog entry's section reader).
void read_accountant(Reader& reader, const Reader::Item& section, Config& config);

}  // namespace agency::config
