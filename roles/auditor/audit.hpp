// The auditor's figures, worked out in code from what the bus keeps: the
// task records (agency-tasks) and the ledger (AGENCY_USAGE, with the
// person's own sessions read from their transcripts). No engine here: the
// figures and the findings are the same whoever reads them; the auditor's
// engine only writes suggestions on top of them (auditor.hpp).
//
// Every rule and its threshold is in docs/AUDIT.md; a finding names the
// figure that fired it and the tasks or sessions behind it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "agency/v1/task.pb.h"
#include "roles/accountant/accounting.hpp"
#include "roles/accountant/last_week.hpp"

namespace agency::audit {

using Time = std::chrono::system_clock::time_point;

// The thresholds of the rules (docs/AUDIT.md, "Rules").
struct Rules {
  // A done task whose tokens in one role are over this many times the
  // role's median over the window's done tasks ...
  double token_outlier = 3.0;
  // ... once the role has at least this many done tasks in the window.
  std::size_t norm_tasks = 3;
  // A task sent back this many times or more (with a bounce in the window).
  std::uint32_t bounces = 2;
  // An agent's engine session whose cache reads are under this share of
  // its input tokens (input + cache creation + cache read) ...
  double cache_read_share = 0.5;
  // ... over at least this many calls.
  std::size_t session_calls = 5;
  // Last week's unused area over this many times the oracle's bound.
  double unused_vs_oracle = 1.5;
};

struct Input {
  Time from;  // the window audited, [from, to)
  Time to;
  std::vector<v1::Task> tasks;
  const accounting::Ledger* ledger = nullptr;
  std::string time_zone;  // for the person's hours; empty: the machine's
};

// One role's tokens per done task (input + output + cache creation: what
// counts toward the limits), over the window's done tasks it worked on.
struct RoleTokens {
  std::string role;
  std::size_t tasks = 0;
  std::int64_t median = 0;
  std::int64_t max = 0;
  std::int64_t total = 0;
};

struct Finding {
  std::string rule;               // the rule's name in docs/AUDIT.md
  std::string text;               // the figure and what it is against
  std::vector<std::string> refs;  // tasks ("task t-1") or sessions ("session s-1")
};

// The person's own Claude Code use in the window (the ledger's human
// entries: their transcripts).
struct Person {
  int requests = 0;
  std::int64_t tokens = 0;              // counted
  int refused = 0;                      // errors Claude Code wrote in place of an answer
  std::vector<std::string> refused_at;  // the first few, RFC 3339
  int by_hour[24] = {};                 // requests per local hour of day
};

struct Report {
  Time from;
  Time to;
  std::size_t done = 0;
  std::size_t blocked = 0;
  std::size_t runaway = 0;    // blocked by the accountant's runaway guard
  std::uint32_t bounces = 0;  // sent back in the window, all tasks
  std::size_t bounced_tasks = 0;
  std::vector<RoleTokens> roles;
  std::size_t sessions = 0;  // agents' engine sessions with calls in the window
  std::int64_t agent_tokens = 0;
  Person person;
  std::vector<accounting::LastWeek> weeks;  // each account's last complete week
  std::vector<Finding> findings;
};

Report run(const Input& input, const Rules& rules = {});

// The report as markdown: the figures, the findings, then `suggestions`
// (the engine's, already grounded in the figures) when not empty.
std::string markdown(const Report& report, std::string_view suggestions = {});
nlohmann::json to_json(const Report& report);

}  // namespace agency::audit
