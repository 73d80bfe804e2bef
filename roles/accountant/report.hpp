// What `agency usage` shows: per window the limit, the person's and the
// fleet's use, utilisation, the reset, the pace, the projected use at the
// reset and the unused area so far; spend per role and per task; day
// totals. Built from a Ledger, so it needs no running accountant.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "roles/accountant/accounting.hpp"

namespace agency::accounting {

struct WindowReport {
  WindowState state;
  double utilization = 0;      // used / limit, percent (0 without a limit)
  double pace = 0;             // share of the window elapsed: where even use would be, percent
  std::int64_t projected = 0;  // used at the window's rate so far, extrapolated to the reset
  std::int64_t unused = 0;     // unused area from the window's start to now (tokens)
};

struct SpendRow {
  std::string key;  // role ("human" for the person) or task id
  TokenCounts tokens;
  double cost_usd = 0;
  int calls = 0;
};

struct DayRow {
  std::string date;  // local, accountant.time_zone
  TokenCounts human;
  TokenCounts agents;
};

struct Report {
  Time now;
  int days = 7;  // the spend and day tables cover this many days back
  std::vector<WindowReport> windows;
  std::vector<SpendRow> roles;  // most first
  std::vector<SpendRow> tasks;  // most first, at most 20
  std::vector<DayRow> day_totals;
};

Report build_report(const Ledger& ledger, Time now, int days);
// Stable field names; times RFC 3339 UTC.
std::string report_json(const Report& report);
// Aligned tables: windows, roles, tasks, days.
std::string report_text(const Report& report);

// Claude Code's statusline JSON (on stdin of its statusLine command):
// rate_limits.<window>.used_percentage and .resets_at (epoch seconds) for
// five_hour, seven_day and the model windows. errc::config when the text is
// not JSON; an empty list when it has no rate limits.
Result<std::vector<Reading>> statusline_readings(std::string_view json, std::string_view account,
                                                 Time now);

}  // namespace agency::accounting
