// `agency sim`: a week replayed against one account's limits under three
// policies, with the accountant's own code (Ledger, decide) deciding for
// the third, so what it measures is what the fleet does.
//
//   greedy  no accountant: every agent call goes if it fits under the
//           limits, the person's requests too, first come first served;
//   fixed   agents pace their own use evenly over each window (limit x
//           elapsed share), knowing nothing of the person; no reserve;
//   agency  accounting::decide() with the configured policy, agent work at
//           batch priority.
//
// The person's requests always go when they fit under the limits and are
// denied otherwise (that is what a refused request is to them).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "roles/accountant/accounting.hpp"

namespace agency::accounting {

struct SimSetup {
  std::uint64_t seed = 20261122;
  int days = 7;
  Time start;  // default: Thursday 2026-11-26 18:00 UTC, a weekly reset
  std::chrono::minutes step{5};
  // The account's limits (counted tokens).
  std::int64_t five_hour = 4'000'000;
  std::int64_t seven_day = 40'000'000;
  // The person: weekday sessions 09:00-12:30 and 13:30-18:00 (UTC), a
  // request every 1-5 minutes of 3,000-27,000 tokens.
  int human_min_tokens = 3'000;
  int human_max_tokens = 27'000;
  // The fleet: `agents` agents, each making at most one call per step of
  // 20,000-60,000 tokens, working tasks of 100,000-500,000 tokens.
  int agents = 4;
  int call_min_tokens = 20'000;
  int call_max_tokens = 60'000;
  int task_min_tokens = 100'000;
  int task_max_tokens = 500'000;
  // The accountant's rules for the agency policy (its defaults, UTC).
  config::Accountant policy;
};

// Thursday 2026-11-26 18:00 UTC, the account's weekly reset, and the
// accountant's default rules in UTC.
SimSetup default_sim_setup();

struct SimResult {
  std::string policy;
  double weekly_utilization = 0;  // used / limit of the weekly window, percent
  double five_hour_mean = 0;      // mean over the five-hour blocks, percent
  std::int64_t unused_five_hour = 0;
  std::int64_t unused_seven_day = 0;
  double unused_five_hour_pct = 0;  // of what the even pace offered
  double unused_seven_day_pct = 0;
  int human_requests = 0;
  int human_denied = 0;
  int agent_calls = 0;
  int agent_calls_held = 0;  // asks the policy or the limits did not let go
  int tasks_done = 0;
  std::int64_t agent_tokens = 0;
  std::int64_t human_tokens = 0;
};

// The three policies on the same traces (same seed: same person, same backlog).
std::vector<SimResult> simulate(const SimSetup& setup);

// A table for people, and JSON.
std::string sim_table(const SimSetup& setup, const std::vector<SimResult>& results);
std::string sim_json(const SimSetup& setup, const std::vector<SimResult>& results);

}  // namespace agency::accounting
