// agency.yaml's `dispatcher:` section: the dispatcher's own settings, read by the
// role (config::read_dispatcher, its catalog entry's section reader) with the
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

// The dispatcher (roles/dispatcher): nobody idles.
// A standing order: work a role gets when one of its agents is idle, its
// queue is empty and the accountant's pacing leaves capacity.
struct StandingOrder {
  std::string role;
  std::string objective;              // "{project}" is the project's name
  std::vector<std::string> projects;  // rotated through; empty: every project, or none
  std::string priority = "batch";
  std::int64_t token_budget = 0;  // per task; 0: none
};
// A brief on a cron schedule.
struct Schedule {
  std::string name;  // its identity: fires are "schedule:<name>:<minute>"
  std::string cron;  // five fields, or @daily...
  std::string time_zone;
  std::string role;
  std::string objective;
  std::string project;
  std::string priority = "scheduled";
  std::int64_t token_budget = 0;
  std::string missed = "skip";  // skip | run_once: runs missed while the dispatcher was down
};
// A brief for each message on a subject.
struct Trigger {
  std::string name;
  std::string subject;  // a NATS subject pattern: git.push.>, agency.event.task.>
  // Only events of these kinds (TaskEvent.kind, for agency.event.task.*
  // subjects); empty: every message.
  std::vector<std::string> kinds;
  std::string role;
  std::string objective;  // a template: {subject}, {subject.N}, {json.a.b}, {data}, {task.field}
  std::string project;    // a template too
  std::string priority = "scheduled";
  std::int64_t token_budget = 0;
};
struct Dispatcher {
  int every_seconds = 5;  // a full look besides the fleet watch
  std::vector<StandingOrder> standing_orders;
  std::vector<Schedule> schedules;
  std::vector<Trigger> triggers;
  // The estimate a standing order's lease probe asks capacity for.
  std::int64_t order_estimate = 50000;
  // An idle spell is looked at for unused capacity (an `unused` event) once
  // it is this old: the short idles between two briefs of a busy pipeline
  // cost no consumer listing and no probe.
  int unused_after_seconds = 60;
};

// The section as read, or its defaults when the file has none.
inline const Dispatcher& dispatcher(const Config& config) {
  return section<Dispatcher>(config, "dispatcher");
}
inline Dispatcher& dispatcher(Config& config) { return section<Dispatcher>(config, "dispatcher"); }

// Reads the section into `config` (the catalog entry's section reader).
void read_dispatcher(Reader& reader, const Reader::Item& section, Config& config);

}  // namespace agency::config
