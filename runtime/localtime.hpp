// Local time in a named zone (IANA, "Europe/Berlin"; empty: the machine's):
// the synthesizer's digest hour, the accountant's weekly reset and night
// hours, the dispatcher's cron schedules.
//
// TZ is process-wide, so every conversion here sets it under one mutex and
// puts it back afterwards; other threads' local times (log stamps) may see
// the zone for that instant.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "bus/result.hpp"

namespace agency {

struct LocalTime {
  int year = 1970;
  int month = 1;  // 1-12
  int day = 1;    // 1-31
  int hour = 0;
  int minute = 0;
  int second = 0;
  int weekday = 4;  // 0 = Sunday
};

// Checks a zone name against the zoneinfo database ($TZDIR, else
// /usr/share/zoneinfo); empty is fine. errc::config naming `key`
// ("accountant.time_zone: unknown time zone 'Mars/Olympus' ...").
Result<void> check_time_zone(std::string_view zone, std::string_view key);

// The wall clock in `zone` at `t` (whole seconds, down). The zone must have
// passed check_time_zone; an unknown one reads as UTC.
LocalTime to_local(std::chrono::system_clock::time_point t, std::string_view zone);

// The moment whose wall clock in `zone` is the given date and time. Fields
// out of range are normalized as mktime does (day 32 is the next month's
// first); a time that does not exist that day (a spring DST gap) is the
// moment mktime moves it to; in an autumn overlap, the first. Nullopt when
// mktime cannot place it.
std::optional<std::chrono::system_clock::time_point> from_local(int year, int month, int day,
                                                                int hour, int minute,
                                                                std::string_view zone);

}  // namespace agency
