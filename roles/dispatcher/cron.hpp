// Cron schedules for the dispatcher: five fields "minute hour day-of-month
// month day-of-week" (or @hourly, @daily/@midnight, @weekly, @monthly,
// @yearly/@annually), read in a time zone.
//
// Fields take `*`, numbers, ranges `a-b`, lists `a,b`, steps `*/n` and
// `a-b/n`, month names jan-dec and weekday names sun-sat (any case);
// weekday 7 is Sunday too. As in Vixie cron, when both day-of-month and
// day-of-week are restricted, a day matches if either does.
//
// Time zones: the schedule is wall-clock time in its zone. A time that does
// not exist that day (the spring DST gap) fires once, at the moment the
// clock jumps to; a time that occurs twice (autumn) fires once, the first
// time.
#pragma once

#include <bitset>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "bus/result.hpp"

namespace agency::dispatch {

using Time = std::chrono::system_clock::time_point;

struct Cron {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days;     // 1-31
  std::bitset<13> months;   // 1-12
  std::bitset<7> weekdays;  // 0 = Sunday
  bool any_day = true;      // day-of-month was `*`
  bool any_weekday = true;  // day-of-week was `*`
};

// errc::config naming `key` and the field ("dispatcher.schedules[0].cron:
// field 2 (hour) '25' is out of range 0-23").
Result<Cron> parse_cron(std::string_view expression, std::string_view key);

// Whether the local date matches the day fields (Vixie cron's OR rule).
bool day_matches(const Cron& cron, int month, int day, int weekday);

// The first fire strictly after `after`: the first minute whose wall clock
// in `time_zone` matches. Nullopt when none within five years (30 February).
std::optional<Time> next_fire(const Cron& cron, Time after, std::string_view time_zone);

// Runs missed while the dispatcher was down.
enum class Missed { skip, run_once };

struct Due {
  std::optional<Time> fire;  // the fire to act on now, if any
  std::size_t missed = 0;    // fires that were due and are not acted on
};

// What to do at `now`, given the last fire acted on (persisted by the
// dispatcher; nullopt on the very first start: nothing counts as missed).
// Fires in (last, now]: the one in the current minute is acted on;
// older ones were missed: with run_once the latest of them is acted on
// once (if none is current), with skip none is.
Due due(const Cron& cron, std::string_view time_zone, std::optional<Time> last, Time now,
        Missed policy);

}  // namespace agency::dispatch
