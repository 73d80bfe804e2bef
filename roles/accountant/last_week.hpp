// The last complete weekly window of an account, as `agency usage` closes
// it: how much of the weekly limit was used, the unused area per window as
// `agency sim` sums it, and the oracle's bound on that area from the
// person's own requests of the week (sim.hpp): the live counterpart of the
// simulation's table row.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "roles/accountant/accounting.hpp"

namespace agency::accounting {

struct LastWeek {
  std::string account;
  Span span;  // the weekly window, [start, end)
  std::int64_t five_hour_limit = 0;
  std::int64_t seven_day_limit = 0;
  std::int64_t sonnet_limit = 0;  // 0: no Sonnet window known
  std::int64_t used = 0;          // counted toward seven_day in the week
  std::int64_t sonnet_used = 0;
  std::int64_t human = 0;   // the person's part of `used`
  int person_requests = 0;  // that went through
  // The person's requests refused in the week: errors Claude Code wrote in
  // their own sessions in place of an answer (a usage limit, an overload).
  int person_refused = 0;
  // Unused area per window over the week (10-minute steps, as the sim).
  std::int64_t unused_five_hour = 0;
  std::int64_t unused_seven_day = 0;
  std::int64_t unused_sonnet = 0;
  // The bound: the least unused total any schedule of the fleet could have
  // left while serving every request of the person, the fleet adding at
  // most `fleet_step_max` per step: the most it used in any step of the
  // week, so what it did is one of the schedules the bound covers.
  std::int64_t fleet_step_max = 0;
  std::int64_t oracle = 0;
  [[nodiscard]] std::int64_t unused_total() const;
  [[nodiscard]] double used_pct() const;
  // unused_total / oracle; 1 when both are 0.
  [[nodiscard]] double vs_oracle() const;
};

// The account's last complete weekly window before `now`: none when the
// ledger holds nothing before the current one, or a limit of the five-hour
// or weekly window is unknown (no area without a limit).
std::optional<LastWeek> last_week(const Ledger& ledger, std::string_view account, Time now);

// "99.5% of the weekly limit used, unused area 106M (1.09x the oracle's
// 98M), the person refused 0 times", as `agency usage` prints it.
std::string last_week_line(const LastWeek& week);

}  // namespace agency::accounting
