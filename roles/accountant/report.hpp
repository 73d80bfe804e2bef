// What `agency usage` shows: per window the limit, the person's and the
// fleet's use, utilisation, headroom, the reset, the pace, the projected use
// at the reset and the unused area so far; per account and provider the
// headroom, the calls running, a rate limit met, API spend against its
// budgets and the share of the fleet's work it carried; spend per role and
// per task; day totals. Built from a Ledger, so it needs no running accountant. Also the
// pure half of `agency usage ingest-statusline`: reading Claude Code's
// statusline JSON and the line it prints back.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "roles/accountant/accounting.hpp"
#include "roles/accountant/last_week.hpp"

namespace agency::accounting {

// The step the unused area is measured in (docs/ACCOUNTING.md).
inline constexpr std::chrono::minutes kUnusedStep{10};

struct WindowReport {
  WindowState state;
  double utilization = 0;  // used / limit, percent (0 without a limit)
  // Share of the window elapsed, percent: where even use would be by now.
  // 0 when no five-hour block runs (the next starts at the next use).
  double pace = 0;
  // Used so far extrapolated to the reset at the window's average rate
  // since its start; never above the limit (the plan stops use there) nor
  // below what is used. Just `used` in the first 10 minutes, when a rate
  // says nothing yet, and when no five-hour block runs.
  std::int64_t projected = 0;
  // When that rate reaches the limit, if before the reset (now when it
  // already has).
  std::optional<Time> limit_at;
  // What the even pace offered from the window's start to now (whole
  // 10-minute steps) and what of it nobody used (accounting::unused_area).
  std::int64_t offered = 0;
  std::int64_t unused = 0;
  // Without a limit both stay nullopt. reserve: the tokens of the limit
  // agents leave to the person now, limit x max(accountant.reserve,
  // 1.5 x human_expected / limit) (the interactive reserve, decide()).
  // headroom: what agents may still lease now, the largest interactive ask
  // decide() grants: limit - reserve - used - leased, never below 0.
  std::optional<std::int64_t> reserve;
  std::optional<std::int64_t> headroom;
};

// One configured account: what it has left, what runs on it, what it
// carried of the fleet's work over the report's days.
struct AccountReport {
  std::string name;      // as in accountant.accounts ("max-1")
  std::string provider;  // claude, codex, gemini, openai, anthropic
  std::string id;        // "claude/max-1"
  std::string plan;
  bool api = false;  // paid per token (openai, anthropic)
  // The smallest headroom of its five_hour and seven_day windows (every
  // model counts toward both) and which window that is; nullopt when
  // neither has a limit.
  std::optional<std::int64_t> headroom;
  std::optional<Window> headroom_window;
  std::optional<Time> limited_until;  // a rate limit met, while still ahead
  int concurrency = 0;                // engine calls at once; 0: no cap
  // Agents of the live fleet (agency-fleet) whose status names this
  // account; nullopt until count_in_use() reads them, or when it could not.
  std::optional<int> in_use;
  // The fleet's (not the person's) use of it over the report's days.
  TokenCounts agents;
  double cost_usd = 0;
  int calls = 0;
  double share = 0;  // percent of every account's agents' counted tokens
  // API accounts: dollars the fleet spent today and this month
  // (accountant.time_zone) against their budgets (0: none).
  double spent_today_usd = 0;
  double spent_month_usd = 0;
  double budget_usd_per_day = 0;
  double budget_usd_per_month = 0;
};

// The accounts of one provider summed.
struct ProviderReport {
  std::string provider;
  int accounts = 0;
  // Sum of the accounts' headroom; nullopt when none has one.
  std::optional<std::int64_t> headroom;
  int concurrency = 0;  // sum of the caps; 0 when any account has none
  std::optional<int> in_use;
  TokenCounts agents;
  double cost_usd = 0;
  int calls = 0;
  double share = 0;
  bool api = false;  // any of them paid per token
  double spent_today_usd = 0;
  double spent_month_usd = 0;
};

struct SpendRow {
  std::string key;  // role ("human" for the person, "-" for none) or task id
  TokenCounts tokens;
  double cost_usd = 0;
  int calls = 0;
};

struct DayRow {
  std::string date;  // local, accountant.time_zone, YYYY-MM-DD
  TokenCounts human;
  TokenCounts agents;
  double cost_usd = 0;
};

struct Report {
  Time now;
  int days = 7;                       // spend and day totals cover this many days back
  std::string time_zone;              // accountant.time_zone (empty: the machine's)
  std::string account;                // the one account shown; empty: all
  std::vector<WindowReport> windows;  // per account, windows with a limit or use
  // The accounts shown in configured order, grouped by provider (the
  // provider of the first account first), and per provider their sums.
  std::vector<AccountReport> accounts;
  std::vector<ProviderReport> providers;
  // Whether count_in_use() read the live fleet, and why it could not
  // (empty: it read it, or was not asked to).
  bool fleet_read = false;
  std::string fleet_error;
  // Per account, its last complete weekly window against the oracle's bound.
  std::vector<LastWeek> last_weeks;
  std::vector<SpendRow> roles;     // most counted tokens first
  std::vector<SpendRow> tasks;     // most first; the text shows the top ones
  std::vector<DayRow> day_totals;  // oldest first, days with any use (as ccusage daily)
  // Usage messages left out of the ledger (ledger_io.hpp, read_usage): how
  // many, and the latest few with their reasons.
  std::uint64_t refused = 0;
  std::vector<Ledger::Rejected> refused_latest;
};

// `account` empty: every configured account; else only that one (usage of
// other accounts is left out of the spend and day tables too).
Report build_report(const Ledger& ledger, Time now, int days, std::string_view account = {});
// Calls in use per account from the live fleet: `running` holds each
// agent's AgentStatus.account ("provider/name", or a bare name; empty
// between calls). nullopt: the fleet could not be read, `error` says why;
// in_use stays unknown.
void count_in_use(Report& report, const std::optional<std::vector<std::string>>& running,
                  std::string_view error = {});
// Stable field names; times RFC 3339 UTC (docs: /work/notes/usage-docs.md).
std::string report_json(const Report& report);
// Aligned tables a person reads: windows, roles, top tasks, days.
std::string report_text(const Report& report);

// ---------------------------------------------------------------- statusline

// Claude Code's statusline JSON, as its statusLine command gets it on stdin:
// rate_limits.<window>.used_percentage (0-100) and .resets_at (epoch
// seconds) for five_hour, seven_day and the model windows, and model.id /
// model.display_name. Anything may be missing.
struct Statusline {
  std::vector<Reading> readings;  // one per window given, source "statusline"
  std::string model_id;
  std::string model_name;  // display_name, else the id
};
// errc::config when the text is not a JSON object; no readings when it
// has no rate limits.
Result<Statusline> parse_statusline(std::string_view json, std::string_view account, Time now);
Result<std::vector<Reading>> statusline_readings(std::string_view json, std::string_view account,
                                                 Time now);
// The line Claude Code shows: "Sonnet 4.5 · 5h 42% · 7d 18%".
std::string statusline_text(const Statusline& statusline);

}  // namespace agency::accounting
