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
#include <map>
#include <optional>
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
  // A session whose context passed this share of its role's rotation limit
  // (session_max_tokens; the model's context window when it never rotates).
  double context_share = 0.9;
  // A session with more tool calls refused by permissions than this ...
  int denials = 0;
  // ... or more failed calls and retries than this.
  int errors = 2;
  // Last week's unused area over this many times the oracle's bound.
  double unused_vs_oracle = 1.5;
  // A role's agents idle over this many hours (together) in the window
  // while pacing allowed work and nothing was queued for them.
  double unused_hours = 1.0;
};

// An idle spell the dispatcher recorded (its `unused` event): an agent of a
// stage role idle with nothing queued while pacing allowed work, and no
// standing order for its role.
struct UnusedSpell {
  std::string agent_id;
  std::string role;
  Time since;  // when the agent turned idle
  // When the spell is known to have ended at the latest: the agent's next
  // state in agency-fleet, or, for an agent gone from it, when the event
  // was recorded (what was seen). Unset: idle still.
  std::optional<Time> until;
};

struct Input {
  Time from;  // the window audited, [from, to)
  Time to;
  std::vector<v1::Task> tasks;
  const accounting::Ledger* ledger = nullptr;
  std::string time_zone;  // for the person's hours; empty: the machine's
  // Each role's rotation limit (roles.<role>.session_max_tokens); a role not
  // here, or 0 (never rotates), is measured against kContextWindow.
  std::map<std::string, std::int64_t> rotation_limits;
  std::vector<UnusedSpell> unused;
};

// The context window a session that never rotates is measured against:
// the models agency's engines run have at least this many tokens.
inline constexpr std::int64_t kContextWindow = 200'000;

// One agent engine session in the window, from its calls' samples. Calls
// without a session id (a first call that failed) count under the agent,
// as "agent <id>".
struct Session {
  std::string id;
  std::string role;
  std::string agent_id;
  std::size_t calls = 0;
  std::int64_t tokens = 0;         // counted
  double cache_read_share = 0;     // of its input (input + cache creation + cache read)
  std::int64_t context_max = 0;    // the largest context after a call
  std::int64_t context_limit = 0;  // its role's rotation limit (or kContextWindow)
  int denials = 0;                 // tool calls refused by permissions
  int retries = 0;                 // requests the engine sent again
  int errors = 0;                  // calls that gave no answer
  std::string last_error;
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
  // The person's five-hour blocks (as ccusage forms them) in which a
  // request was refused: the windows where they hit a limit. RFC 3339
  // starts.
  std::vector<std::string> limited_blocks;
  int by_hour[24] = {};  // requests per local hour of day
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
  std::vector<Session> session_figures;  // by session id
  // Hours each role's agents idled while pacing allowed work: from the
  // dispatcher's `unused` events to the agent's next engine call.
  struct Idle {
    std::string role;
    double hours = 0;
    std::vector<std::string> agents;
  };
  std::vector<Idle> idle;
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
