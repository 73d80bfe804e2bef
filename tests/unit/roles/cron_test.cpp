// Cron schedules against hand-computed fire times: zones, DST days, the
// day-of-month / day-of-week rule, leap days, missed runs.
#include "roles/dispatcher/cron.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

namespace agency::dispatch {
namespace {

using namespace std::chrono;

Time utc(int y, int mo, int d, int h, int mi = 0, int s = 0) {
  return Time(sys_days(year(y) / mo / d)) + hours(h) + minutes(mi) + seconds(s);
}

Cron cron(const char* text) {
  auto c = parse_cron(text, "test.cron");
  REQUIRE_MESSAGE(c.ok(), (c ? std::string() : c.error().message));
  return *c;
}

std::string error_of(const char* text) {
  auto c = parse_cron(text, "dispatcher.schedules[2].cron");
  return c ? std::string() : c.error().message;
}

TEST_CASE("cron: 4 AM in Berlin is 03:00Z in winter and 02:00Z in summer") {
  auto c = cron("0 4 * * *");
  CHECK(next_fire(c, utc(2026, 11, 22, 12), "Europe/Berlin") == utc(2026, 11, 23, 3));
  CHECK(next_fire(c, utc(2026, 7, 1, 12), "Europe/Berlin") == utc(2026, 7, 2, 2));
  // Strictly after: at the fire itself the next is a day later.
  CHECK(next_fire(c, utc(2026, 11, 23, 3), "Europe/Berlin") == utc(2026, 11, 24, 3));
}

TEST_CASE("cron: every 15 minutes in working hours skips the weekend") {
  auto c = cron("*/15 9-17 * * mon-fri");
  CHECK(next_fire(c, utc(2026, 11, 20, 17, 44), "UTC") == utc(2026, 11, 20, 17, 45));
  CHECK(next_fire(c, utc(2026, 11, 20, 17, 50), "UTC") == utc(2026, 11, 23, 9, 0));
}

TEST_CASE("cron: a time in the spring gap fires once when the clock jumps") {
  auto c = cron("30 2 * * *");
  // 2026-03-08, New York: 02:00 EST jumps to 03:00 EDT (07:00Z).
  CHECK(next_fire(c, utc(2026, 3, 8, 5), "America/New_York") == utc(2026, 3, 8, 7));
  CHECK(next_fire(c, utc(2026, 3, 8, 7), "America/New_York") == utc(2026, 3, 9, 6, 30));
}

TEST_CASE("cron: a time that occurs twice in autumn fires once, the first time") {
  auto c = cron("30 1 * * *");
  // 2026-11-01, New York: 01:30 EDT (05:30Z), then 01:30 EST (06:30Z).
  CHECK(next_fire(c, utc(2026, 11, 1, 4), "America/New_York") == utc(2026, 11, 1, 5, 30));
  CHECK(next_fire(c, utc(2026, 11, 1, 5, 30), "America/New_York") == utc(2026, 11, 2, 6, 30));
}

TEST_CASE("cron: leap days, impossible dates, the day rule, macros") {
  CHECK(next_fire(cron("0 0 29 2 *"), utc(2026, 11, 22, 0), "UTC") == utc(2028, 2, 29, 0));
  CHECK(next_fire(cron("0 0 31 4 *"), utc(2026, 11, 22, 0), "UTC") == std::nullopt);
  auto either = cron("0 12 1 * mon");
  CHECK(next_fire(either, utc(2026, 11, 22, 12), "UTC") == utc(2026, 11, 23, 12));  // a Monday
  CHECK(next_fire(either, utc(2026, 11, 30, 12), "UTC") == utc(2026, 12, 1, 12));   // the 1st
  CHECK(next_fire(cron("@daily"), utc(2026, 11, 22, 12), "UTC") == utc(2026, 11, 23, 0));
  CHECK(next_fire(cron("0 0 * * 7"), utc(2026, 11, 22, 12), "UTC") == utc(2026, 11, 29, 0));
  CHECK(next_fire(cron("5/20 * * JAN-mar *"), utc(2026, 11, 22, 12), "UTC") ==
        utc(2027, 1, 1, 0, 5));
}

TEST_CASE("cron: errors name the key and the field") {
  CHECK(error_of("0 25 * * *")
            .find("dispatcher.schedules[2].cron: field 2 (hour) '25' is out of "
                  "range 0-23") != std::string::npos);
  CHECK(error_of("0 4 * *").find("has 4 fields, not 5") != std::string::npos);
  CHECK(error_of("0 4 * * funday").find("field 5 (day of week)") != std::string::npos);
  CHECK(error_of("*/0 * * * *").find("step") != std::string::npos);
  CHECK(error_of("0 9-5 * * *").find("out of range") != std::string::npos);
  CHECK(error_of("0 0 * * *").empty());
}

TEST_CASE("cron: runs missed while down are skipped or run once") {
  auto hourly = cron("0 * * * *");
  const auto last = utc(2026, 11, 22, 9);
  // Back within the minute of a fire: that fire runs, two were missed.
  auto now = utc(2026, 11, 22, 12, 0, 30);
  for (auto policy : {Missed::skip, Missed::run_once}) {
    auto d = due(hourly, "UTC", last, now, policy);
    CHECK(d.fire == utc(2026, 11, 22, 12));
    CHECK(d.missed == 2);
  }
  // Back between fires: skip runs nothing, run_once the latest.
  now = utc(2026, 11, 22, 12, 20);
  auto skip = due(hourly, "UTC", last, now, Missed::skip);
  CHECK_FALSE(skip.fire.has_value());
  CHECK(skip.missed == 3);
  auto once = due(hourly, "UTC", last, now, Missed::run_once);
  CHECK(once.fire == utc(2026, 11, 22, 12));
  CHECK(once.missed == 2);
  // Nothing due since the last fire.
  CHECK_FALSE(due(hourly, "UTC", utc(2026, 11, 22, 12), now, Missed::run_once).fire.has_value());
  // First start: only the current minute's fire.
  CHECK(due(hourly, "UTC", std::nullopt, utc(2026, 11, 22, 12, 0, 30), Missed::run_once).fire ==
        utc(2026, 11, 22, 12));
  CHECK_FALSE(due(hourly, "UTC", std::nullopt, utc(2026, 11, 22, 12, 20), Missed::run_once)
                  .fire.has_value());
}

}  // namespace
}  // namespace agency::dispatch
