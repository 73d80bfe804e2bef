// Cron schedules for the dispatcher ("the 4 AM digest", "nightly research"):
// parsing a schedule, the next time it fires in its time zone, and what to do
// about fires missed while the dispatcher was down. Pure arithmetic on plain
// time points, no bus and no clock of its own, so tests pass the time in.
//
// Syntax: five fields "minute hour day-of-month month day-of-week", or one of
// @hourly, @daily (= @midnight), @weekly, @monthly, @yearly (= @annually).
// A field is `*` or a comma list of items; an item is a value, a range `a-b`,
// or either of those or `*` with a step: `*/15`, `9-17/2`. `5/20` means
// `5-<end of the field>/20`. Months may be jan-dec, weekdays sun-sat (any
// case); weekday 0 and 7 are both Sunday, so "fri-sun" and "5-0" mean 5-7.
//
// Day rule (Vixie cron's, which every cron user has met): when both
// day-of-month and day-of-week are restricted, a day matches if EITHER does
// ("0 12 1 * mon": noon on the 1st and on every Monday). When either of them
// starts with `*` the day must match both, so "0 0 */2 * mon" is odd-dated
// Mondays: as in Vixie cron, `*/2` counts as `*` for this rule.
//
// Time zones: a schedule is wall-clock time in its zone, read through
// runtime/localtime.hpp (the project's one place that touches TZ). On DST
// days a schedule fires once per wall-clock minute it names, never twice and
// never not at all:
//  - a time that does not exist (the spring gap: 02:30 in New York on
//    2026-03-08) fires at the moment the clock jumps (03:00 EDT); several
//    such times, and the minute the clock jumps to, make one fire;
//  - a time that occurs twice (autumn: 01:30 on 2026-11-01) fires the first
//    time only.
//
// Threads: everything here is a pure function of its arguments; call it from
// any thread (localtime.hpp serialises its use of TZ).
#pragma once

#include <bitset>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string_view>

#include "bus/result.hpp"

namespace agency::dispatch {

using Time = std::chrono::system_clock::time_point;

// A parsed schedule: the set of values each field allows.
struct Cron {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days;     // 1-31 (bit 0 unused)
  std::bitset<13> months;   // 1-12 (bit 0 unused)
  std::bitset<7> weekdays;  // 0 = Sunday (a 7 in the text sets bit 0)
  bool any_day = true;      // day-of-month started with `*`: the day rule ANDs
  bool any_weekday = true;  // day-of-week started with `*`
};

// Reads an expression from agency.yaml. On bad input, errc::config with a
// message naming `key` and the field, and what the syntax is:
// "dispatcher.schedules[2].cron: field 2 (hour) '25' is out of range 0-23 (...)".
Result<Cron> parse_cron(std::string_view expression, std::string_view key);

// Whether a local date matches the month and day fields (the day rule above).
// weekday: 0 = Sunday.
bool day_matches(const Cron& cron, int month, int day, int weekday);

// The first fire strictly after `after`: the first minute whose wall clock in
// `time_zone` matches, with the DST rules above. `time_zone` must have passed
// check_time_zone (empty: the machine's zone; an unknown one reads as UTC).
// Nullopt when nothing fires within five years of `after` ("0 0 30 2 *"; also
// 29 February across a century year that is not a leap year, like 2100).
// Days and months that cannot match are skipped without converting times, so
// a rare schedule costs a few zone conversions per matching day, not one per
// minute.
std::optional<Time> next_fire(const Cron& cron, Time after, std::string_view time_zone);

// What to do with fires that fell while the dispatcher was down (agency.yaml
// dispatcher.schedules[].missed).
enum class Missed {
  skip,      // forget them: only a fire due in the current minute runs
  run_once,  // run the latest of them once, late, however many there were
};

// "skip" | "run_once"; anything else is errc::config naming `key`.
Result<Missed> parse_missed(std::string_view text, std::string_view key);

// The answer of due(): at most one fire to act on, and how many were missed.
struct Due {
  // The fire to act on now (file the brief for it, then persist it as the
  // last fire): the latest fire in (last, now], when the policy runs it.
  std::optional<Time> fire;
  // Fires in (last, now] not acted on, for "missed N runs" in the dispatch
  // log: all of them without `fire`, all but `fire` with it. 0 when nothing
  // was missed, and always 0 on a first start.
  std::size_t missed = 0;
};

// What schedule `cron` asks for at `now`, given `last`, the last fire the
// dispatcher acted on (it persists it; or the time it last looked, if that is
// later: nothing at or before `last` is ever returned again).
//  - No `last` (the first start of this schedule): nothing counts as missed;
//    `fire` is the fire of the current minute, if there is one (the fire F
//    with now - 1 min < F <= now).
//  - Otherwise, the fires in (last, now]: the latest of them is `fire` if it
//    is within the last 60 seconds (on time, whatever the policy) or if the
//    policy is run_once; the others are `missed`.
// Called every few seconds, so normally (last, now] holds zero or one fire.
// After a long downtime the count is still exact and cheap: whole days are
// counted by arithmetic, only DST days convert each fire.
Due due(const Cron& cron, std::string_view time_zone, std::optional<Time> last, Time now,
        Missed policy);

}  // namespace agency::dispatch
