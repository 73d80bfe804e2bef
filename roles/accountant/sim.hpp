// `agency sim`: a week replayed against one account's limits under three
// policies, with the accountant's own code (Ledger, decide) keeping the
// books for all three and deciding for the third, so what it measures is
// what the fleet does.
//
//   greedy  no accountant: an agent's call goes when it fits under the
//           limit of every window; refused, the agent waits for the reset
//           the refusal names;
//   fixed   agents pace their own use: in every window, the fleet's use so
//           far at most limit x elapsed share of the window, and the limit;
//           nothing known of the person, no reserve, no release;
//   agency  accounting::decide() with the configured rules, agent work at
//           batch priority; a deferred agent asks again at retry_at.
//   oracle  not a policy but the bound beside them (sim_oracle): the least
//           unused area any schedule of the fleet's calls can leave, knowing
//           the whole week, without denying the person.
//
// The person's requests go whenever they fit under the limit of every
// window (Priority::human: only the limit) and are denied otherwise; a
// denied request is what the person notices.
//
// Deterministic: every random draw comes from std::mt19937_64 streams
// seeded from SimSetup::seed (the person's trace, the task costs, one
// stream per agent for its calls), drawn without library distributions, so
// a seed gives the same week on every platform and the three policies meet
// the same person, the same tasks and the same calls.
//
// Several accounts (SimSetup::accounts, `agency sim --accounts`, issue 23):
// every role lists them all in the given order, as roles.<role>.engines
// would, and each call of an agent goes where accounting::route() sends it
// (agency) or to the first account whose rule lets it go (greedy, fixed);
// the person uses one of them. Each account keeps its own windows and its
// own unused area; simulate_accounts() runs the same week and backlog on
// all of them and on the person's account alone.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bus/result.hpp"
#include "roles/accountant/accounting.hpp"
#include "roles/accountant/settings.hpp"

namespace agency::accounting {

// One request of the person.
struct SimRequest {
  Time at;
  std::int64_t tokens = 0;  // counted
  std::string model;        // as the ledger has it; empty from the drawn person
};

struct SimSetup {
  std::uint64_t seed = 20261122;
  int days = 7;
  // Default: Thursday 2026-11-26 18:00 UTC, the account's weekly reset, so
  // seven days are exactly one weekly window.
  Time start;
  // An agent's call takes one step: at most one call per agent per step.
  std::chrono::minutes step{5};
  // The step of the unused area (docs/ACCOUNTING.md).
  std::chrono::minutes unused_step{10};

  // The account's limits, counted tokens. The weekly one binds: 33.6
  // five-hour windows fit in a week, the week's limit is 10 of them.
  std::int64_t five_hour = 4'000'000;
  std::int64_t seven_day = 40'000'000;
  // The model window: a weekly limit on Sonnet alone (0: none, the
  // default), and the share of the fleet's calls and of the person's
  // requests on Sonnet; the rest go to Opus, which the Sonnet window does
  // not count. Each call's model is drawn from a stream of its own, so
  // these leave every other draw of a seed as it was.
  std::int64_t seven_day_sonnet = 0;
  double agent_sonnet_share = 1.0;
  double human_sonnet_share = 1.0;

  // The person (wall clock of policy.time_zone): on weekdays two sessions,
  // 09:00-12:30 and 13:30-18:00, each edge moved by up to
  // session_jitter_minutes either way; on a weekend day, with
  // weekend_chance, one session of 30-90 minutes starting 10:00-20:00. In a
  // session a request every human_min_gap..human_max_gap minutes (plus
  // 0-59 s) of human_min_tokens..human_max_tokens counted tokens, uniform.
  int human_min_tokens = 3'000;
  int human_max_tokens = 27'000;
  int human_min_gap_minutes = 1;
  int human_max_gap_minutes = 5;
  int session_jitter_minutes = 15;
  double weekend_chance = 0.5;

  // The fleet: `agents` agents, each making at most one call per step of
  // call_min..call_max counted tokens, working a shared backlog (more
  // tasks than any policy finishes) in order, each task costing
  // task_min..task_max counted tokens.
  int agents = 4;
  int call_min_tokens = 20'000;
  int call_max_tokens = 60'000;
  int task_min_tokens = 150'000;
  int task_max_tokens = 1'500'000;

  // The accountant's rules for the agency policy: the config defaults,
  // night and weekly reset read in UTC.
  config::Accountant policy;

  // Weeks of the person's own use the ledger holds before the start, as a
  // running accountant's does: the agency rules learn the person's pattern
  // from it. Drawn like the week (from streams of their own), or a
  // --person-trace's week repeated. The oracle needs none: it knows the week.
  int history_weeks = 1;
  // Keep the run's ledger entries of the period in SimResult::entries (a
  // test feeds them to a real accountant).
  bool keep_entries = false;

  // A real person's requests (agency sim --person-trace) in place of the
  // drawn ones above; `person_from` names where they came from.
  std::optional<std::vector<SimRequest>> person;
  std::string person_from;

  // Several accounts, in the order every role's engines list them (empty:
  // one claude account, "sim", with the limits above). Limits not given
  // are the plan's (plan_limits); every weekly reset is at `start`;
  // concurrency -1 is the plan's default. The oracle is for one account.
  std::vector<config::Account> accounts;
  // The account the person uses ("provider/name" or a name); empty: the
  // first claude account, else the first.
  std::string person_account;
};

// `agency sim --accounts`: "claude/max5,claude/pro,codex/plus", each
// provider/plan (claude pro, max5, max20; codex plus, pro), limits the
// plan's; an account is named after its plan ("pro", a second one "pro-2").
Result<std::vector<config::Account>> sim_accounts(std::string_view spec);

// Index in sim_accountant(setup).accounts of the person's account.
std::size_t sim_person_account(const SimSetup& setup);

// The defaults above, start and the UTC time zone filled in.
SimSetup default_sim_setup();

enum class SimPolicy { greedy, fixed, agency, oracle };
std::string_view sim_policy_name(SimPolicy p);

// The person's requests over the setup's days, in time order: setup.person
// within them when set, else drawn.
std::vector<SimRequest> sim_human_trace(const SimSetup& setup);

// The accountant's config the simulation runs with: one account, "sim",
// with the setup's limits, or setup.accounts; every weekly reset at the
// setup's start.
config::Accountant sim_accountant(const SimSetup& setup);

// The person's requests of the `history_weeks` weeks before the start, in
// time order.
std::vector<SimRequest> sim_human_history(const SimSetup& setup);

// One weekly window met in the simulated period.
struct SimWeek {
  Span span;
  std::int64_t used = 0;
  std::int64_t limit = 0;
  std::int64_t sonnet_used = 0;  // the Sonnet window's, same span (its limit 0: none)
  std::int64_t sonnet_limit = 0;
  bool complete = false;                     // the whole window lies in the simulated period
  [[nodiscard]] double utilization() const;  // percent
};

// One account's share of a run (every run has at least one).
struct SimAccount {
  std::string id;  // provider/name
  std::string plan;
  bool person = false;         // the person's account
  std::int64_t five_hour = 0;  // its limits
  std::int64_t seven_day = 0;
  std::int64_t seven_day_sonnet = 0;
  std::vector<SimWeek> weeks;
  double weekly_utilization = 0;  // as SimResult's, of this account
  std::int64_t human_tokens = 0;  // in the period
  std::int64_t agent_tokens = 0;
  int agent_calls = 0;
  // Agent calls that went here after the accounts before it in the role's
  // list had no room.
  int passed_over = 0;
  std::int64_t unused_five_hour = 0;
  std::int64_t unused_seven_day = 0;
  std::int64_t unused_sonnet = 0;
  std::int64_t offered_five_hour = 0;
  std::int64_t offered_seven_day = 0;
  std::int64_t offered_sonnet = 0;
  [[nodiscard]] std::int64_t unused_total() const {
    return sat_add(sat_add(unused_five_hour, unused_seven_day), unused_sonnet);
  }
  [[nodiscard]] std::int64_t offered_total() const {
    return sat_add(sat_add(offered_five_hour, offered_seven_day), offered_sonnet);
  }
};

struct SimResult {
  std::string policy;
  // The oracle's row: a bound, not a run (no calls, tasks or blocks).
  bool bound = false;
  // The person's account's weekly windows (with several accounts,
  // `accounts` has each one's).
  std::vector<SimWeek> weeks;
  // The lowest use of a complete weekly window, percent of its limit (of
  // the partial ones when no window is complete).
  double weekly_utilization = 0;
  int five_hour_blocks = 0;
  double five_hour_mean = 0;  // mean use of the five-hour blocks, percent of the limit
  // The unused area over the whole period (steps() + unused_area()) and
  // what the even pace offered in it (limit x period / window length),
  // summed over the accounts.
  std::int64_t unused_five_hour = 0;
  std::int64_t unused_seven_day = 0;
  std::int64_t unused_sonnet = 0;  // the Sonnet window's, when it has a limit
  std::int64_t offered_five_hour = 0;
  std::int64_t offered_seven_day = 0;
  std::int64_t offered_sonnet = 0;
  int human_requests = 0;
  int human_denied = 0;
  std::int64_t human_tokens = 0;  // of the requests that went
  std::int64_t human_denied_tokens = 0;
  int agent_calls = 0;
  int agent_deferrals = 0;  // asks the policy or the limits sent back to wait
  int tasks_done = 0;
  std::int64_t agent_tokens = 0;
  // The ledger's entries of the period, the person's and the fleet's, in
  // the order they went in (time order): only with setup.keep_entries, and
  // not for the oracle.
  std::vector<Entry> entries;
  // Each account's share, in the roles' order (the oracle: none).
  std::vector<SimAccount> accounts;

  [[nodiscard]] std::int64_t unused_total() const {
    return sat_add(sat_add(unused_five_hour, unused_seven_day), unused_sonnet);
  }
  [[nodiscard]] double unused_five_hour_pct() const;
  [[nodiscard]] double unused_seven_day_pct() const;
  [[nodiscard]] double unused_sonnet_pct() const;
  [[nodiscard]] double unused_total_pct() const;
};

SimResult simulate(const SimSetup& setup, SimPolicy policy);
// The three policies on the same week, greedy, fixed, agency, and the
// oracle's bound.
std::vector<SimResult> simulate(const SimSetup& setup);
// Several accounts: agency's rules routing over all of setup.accounts
// (policy "agency"), then the same person, backlog and calls on the
// person's account alone (policy "agency, <id> alone").
std::vector<SimResult> simulate_accounts(const SimSetup& setup);

// The oracle: a lower bound on the unused area (five_hour + seven_day) of
// every schedule of the fleet's calls that serves every request of the
// person, causal or not. It knows the person's whole week (sim_human_trace)
// and solves a relaxation exactly: per unused-area step u the fleet adds
// a[u] >= 0 tokens, at most its capacity there (each agent one call per
// step of at most call_max_tokens: agents x ceil(unused_step / step) x
// call_max_tokens), and in each weekly window at most the limit less the
// person's use in it. The five-hour limit, whole calls and the task order
// are dropped, so every real schedule is one of the relaxation's and
// leaves at least as much unused. The relaxation's objective, per step
// max(0, p5 - use) + max(0, p7 - use) (p = the even pace of each window,
// p7 < p5), falls by 2 per token below p7 and by 1 between p7 and p5: a
// fractional knapsack, solved by filling every step to p7 first (as far as
// capacity and the week's budget go), then towards p5. With a Sonnet
// window its area is bounded on its own the same way (every fleet token
// may be Sonnet, the budget is its limit less the person's Sonnet use) and
// added: the least of a sum is at least the sum of the least of each.
SimResult sim_oracle(const SimSetup& setup);

// The setup in words, a table, and what the table says about the issue's
// target (agency: >= 95% of every weekly limit, no denial, less unused
// area than both baselines); with several accounts, a row per account and
// run, and the fleet's work against the run on one account.
std::string sim_table(const SimSetup& setup, const std::vector<SimResult>& results);
std::string sim_json(const SimSetup& setup, const std::vector<SimResult>& results);

// What every column and every parameter means, for --help and the docs.
std::string sim_explained();

}  // namespace agency::accounting
