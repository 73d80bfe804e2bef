// Cron schedules against fire times computed by hand and written as UTC:
// zones, both DST days (hour and half-hour shifts), the day-of-month /
// day-of-week rule, leap days, parse errors, runs missed while down.
#include "roles/dispatcher/cron.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

namespace agency::dispatch {
namespace {

namespace chr = std::chrono;

Time utc(int y, int mo, int d, int h, int mi = 0, int s = 0) {
  return Time(chr::sys_days(chr::year(y) / mo / d)) + chr::hours(h) + chr::minutes(mi) +
         chr::seconds(s);
}

Cron cron(const char* text) {
  auto c = parse_cron(text, "test.cron");
  REQUIRE_MESSAGE(c.ok(), (c ? std::string() : c.error().message));
  return *c;
}

std::string error_of(const char* text) {
  auto c = parse_cron(text, "dispatcher.schedules[2].cron");
  if (c) return {};
  CHECK(c.error().code == errc::config);
  return c.error().message;
}

// The fires after `after`, following next_fire from one to the next.
std::vector<Time> fires(const Cron& c, Time after, const char* zone, int n) {
  std::vector<Time> out;
  for (int i = 0; i < n; ++i) {
    auto t = next_fire(c, after, zone);
    if (!t) break;
    out.push_back(*t);
    after = *t;
  }
  return out;
}

TEST_CASE("cron: 4 AM in Berlin is 03:00Z in winter and 02:00Z in summer") {
  auto c = cron("0 4 * * *");
  CHECK(next_fire(c, utc(2026, 11, 22, 12), "Europe/Berlin") == utc(2026, 11, 23, 3));
  CHECK(next_fire(c, utc(2026, 7, 1, 12), "Europe/Berlin") == utc(2026, 7, 2, 2));
  // Strictly after: at the fire itself, and within its minute, the next is a day later.
  CHECK(next_fire(c, utc(2026, 11, 23, 3), "Europe/Berlin") == utc(2026, 11, 24, 3));
  CHECK(next_fire(c, utc(2026, 11, 23, 3, 0, 30), "Europe/Berlin") == utc(2026, 11, 24, 3));
  CHECK(next_fire(c, utc(2026, 11, 23, 2, 59, 59), "Europe/Berlin") == utc(2026, 11, 23, 3));
  // Across the spring change (2026-03-29, 02:00 CET -> 03:00 CEST): 04:00 CET, then CEST.
  CHECK(fires(c, utc(2026, 3, 27, 12), "Europe/Berlin", 3) ==
        std::vector<Time>{utc(2026, 3, 28, 3), utc(2026, 3, 29, 2), utc(2026, 3, 30, 2)});
  // The same schedule read in UTC.
  CHECK(next_fire(c, utc(2026, 11, 22, 12), "UTC") == utc(2026, 11, 23, 4));
}

TEST_CASE("cron: every 15 minutes in working hours skips the weekend") {
  auto c = cron("*/15 9-17 * * mon-fri");
  // 2026-11-20 is a Friday, 2026-11-23 a Monday.
  CHECK(next_fire(c, utc(2026, 11, 20, 17, 44), "UTC") == utc(2026, 11, 20, 17, 45));
  CHECK(next_fire(c, utc(2026, 11, 20, 17, 45), "UTC") == utc(2026, 11, 23, 9, 0));
  CHECK(next_fire(c, utc(2026, 11, 21, 12), "UTC") == utc(2026, 11, 23, 9, 0));
  CHECK(next_fire(c, utc(2026, 11, 23, 8, 59, 59), "UTC") == utc(2026, 11, 23, 9, 0));
  CHECK(fires(c, utc(2026, 11, 23, 9), "UTC", 2) ==
        std::vector<Time>{utc(2026, 11, 23, 9, 15), utc(2026, 11, 23, 9, 30)});
}

TEST_CASE("cron: a time in the spring gap fires once, when the clock jumps") {
  const char* ny = "America/New_York";
  // 2026-03-08, New York: 02:00 EST (07:00Z) jumps to 03:00 EDT.
  auto c = cron("30 2 * * *");
  CHECK(next_fire(c, utc(2026, 3, 8, 5), ny) == utc(2026, 3, 8, 7));
  CHECK(next_fire(c, utc(2026, 3, 8, 6, 59, 59), ny) == utc(2026, 3, 8, 7));
  CHECK(next_fire(c, utc(2026, 3, 8, 7), ny) == utc(2026, 3, 9, 6, 30));  // 02:30 EDT
  CHECK(fires(c, utc(2026, 3, 7, 0), ny, 3) ==
        std::vector<Time>{utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30)});
  // Four times in the gap are one fire.
  CHECK(fires(cron("*/15 2 * * *"), utc(2026, 3, 8, 5), ny, 2) ==
        std::vector<Time>{utc(2026, 3, 8, 7), utc(2026, 3, 9, 6)});
  // Hourly: 02:00 and 03:00 are both the jump, one fire; every real hour has one.
  CHECK(fires(cron("0 * * * *"), utc(2026, 3, 8, 5, 30), ny, 3) ==
        std::vector<Time>{utc(2026, 3, 8, 6), utc(2026, 3, 8, 7), utc(2026, 3, 8, 8)});
  CHECK(fires(cron("* * * * *"), utc(2026, 3, 8, 6, 58), ny, 3) ==
        std::vector<Time>{utc(2026, 3, 8, 6, 59), utc(2026, 3, 8, 7), utc(2026, 3, 8, 7, 1)});
}

TEST_CASE("cron: a time that occurs twice in autumn fires once, the first time") {
  const char* ny = "America/New_York";
  // 2026-11-01, New York: 01:30 EDT (05:30Z), then 01:30 EST (06:30Z).
  auto c = cron("30 1 * * *");
  CHECK(next_fire(c, utc(2026, 11, 1, 4), ny) == utc(2026, 11, 1, 5, 30));
  CHECK(next_fire(c, utc(2026, 11, 1, 5, 30), ny) == utc(2026, 11, 2, 6, 30));
  // From inside the repeated hour, second pass (01:00 EST): 01:30 has fired.
  CHECK(next_fire(c, utc(2026, 11, 1, 6), ny) == utc(2026, 11, 2, 6, 30));
  // 02:30 that day exists once, in EST.
  CHECK(next_fire(cron("30 2 * * *"), utc(2026, 11, 1, 4), ny) == utc(2026, 11, 1, 7, 30));
  // Hourly: 01:00 EST is not fired again.
  CHECK(fires(cron("0 * * * *"), utc(2026, 11, 1, 4, 30), ny, 2) ==
        std::vector<Time>{utc(2026, 11, 1, 5), utc(2026, 11, 1, 7)});
}

TEST_CASE("cron: half-hour DST shifts (Lord Howe Island)") {
  const char* lh = "Australia/Lord_Howe";
  // 2026-04-05: 02:00 +11 falls back to 01:30 +10:30; 01:45 is first at 14:45Z.
  CHECK(fires(cron("45 1 * * *"), utc(2026, 4, 4, 12), lh, 2) ==
        std::vector<Time>{utc(2026, 4, 4, 14, 45), utc(2026, 4, 5, 15, 15)});
  // 2026-10-04: 02:00 +10:30 (15:30Z) jumps to 02:30 +11; 02:15 fires at the jump.
  CHECK(next_fire(cron("15 2 * * *"), utc(2026, 10, 3, 12), lh) == utc(2026, 10, 3, 15, 30));
}

TEST_CASE("cron: leap days, dates that never come, the day rule, macros, names") {
  CHECK(next_fire(cron("0 0 29 2 *"), utc(2026, 11, 22, 0), "UTC") == utc(2028, 2, 29, 0));
  CHECK(next_fire(cron("0 0 31 4 *"), utc(2026, 11, 22, 0), "UTC") == std::nullopt);
  CHECK(next_fire(cron("0 0 30 2 *"), utc(2026, 11, 22, 0), "Europe/Berlin") == std::nullopt);

  // Both day fields restricted: either matches. 2026-11-23 and -30 are Mondays,
  // 2026-12-01 a Tuesday.
  auto either = cron("0 12 1 * mon");
  CHECK(fires(either, utc(2026, 11, 22, 12), "UTC", 4) ==
        std::vector<Time>{utc(2026, 11, 23, 12), utc(2026, 11, 30, 12), utc(2026, 12, 1, 12),
                          utc(2026, 12, 7, 12)});
  // One of them starting with `*`: both must match (odd-dated Mondays).
  CHECK(fires(cron("0 0 */2 * mon"), utc(2026, 11, 22, 12), "UTC", 2) ==
        std::vector<Time>{utc(2026, 11, 23, 0), utc(2026, 12, 7, 0)});
  auto d = cron("0 0 1 * mon");
  CHECK(day_matches(d, 12, 1, 2));
  CHECK(day_matches(d, 11, 30, 1));
  CHECK_FALSE(day_matches(d, 12, 2, 3));
  CHECK_FALSE(day_matches(cron("0 0 1 * *"), 11, 30, 1));

  CHECK(next_fire(cron("@daily"), utc(2026, 11, 22, 12), "UTC") == utc(2026, 11, 23, 0));
  CHECK(next_fire(cron("@MIDNIGHT"), utc(2026, 11, 22, 12), "UTC") == utc(2026, 11, 23, 0));
  CHECK(next_fire(cron("@hourly"), utc(2026, 11, 22, 12, 5), "UTC") == utc(2026, 11, 22, 13));
  CHECK(next_fire(cron("@weekly"), utc(2026, 11, 22, 12), "UTC") == utc(2026, 11, 29, 0));
  CHECK(next_fire(cron("@monthly"), utc(2026, 11, 22, 12), "UTC") == utc(2026, 12, 1, 0));
  CHECK(next_fire(cron("@yearly"), utc(2026, 11, 22, 12), "UTC") == utc(2027, 1, 1, 0));
  CHECK(next_fire(cron("@annually"), utc(2026, 11, 22, 12), "UTC") == utc(2027, 1, 1, 0));
  // 7 is Sunday; names in any case; N/step runs to the end of the field.
  CHECK(next_fire(cron("0 0 * * 7"), utc(2026, 11, 22, 12), "UTC") == utc(2026, 11, 29, 0));
  CHECK(next_fire(cron("0 0 * * 5-7"), utc(2026, 11, 23, 12), "UTC") == utc(2026, 11, 27, 0));
  CHECK(next_fire(cron("0 0 * * Sat-SUN"), utc(2026, 11, 23, 12), "UTC") == utc(2026, 11, 28, 0));
  CHECK(fires(cron("0 0 * * 5-0"), utc(2026, 11, 23, 12), "UTC", 4) ==
        std::vector<Time>{utc(2026, 11, 27, 0), utc(2026, 11, 28, 0), utc(2026, 11, 29, 0),
                          utc(2026, 12, 4, 0)});
  CHECK(fires(cron("5/20 * * JAN-mar *"), utc(2026, 11, 22, 12), "UTC", 4) ==
        std::vector<Time>{utc(2027, 1, 1, 0, 5), utc(2027, 1, 1, 0, 25), utc(2027, 1, 1, 0, 45),
                          utc(2027, 1, 1, 1, 5)});
  CHECK(fires(cron("0,30 8-12/2\t* * *"), utc(2026, 11, 22, 9), "UTC", 3) ==
        std::vector<Time>{utc(2026, 11, 22, 10), utc(2026, 11, 22, 10, 30), utc(2026, 11, 22, 12)});
}

TEST_CASE("cron: errors name the key and the field") {
  CHECK(error_of("0 25 * * *")
            .rfind("dispatcher.schedules[2].cron: field 2 (hour) '25' is out of range 0-23", 0) ==
        0);
  CHECK(error_of("60 * * * *").find("field 1 (minute) '60' is out of range 0-59") !=
        std::string::npos);
  CHECK(error_of("0 0 32 * *").find("field 3 (day of month) '32' is out of range 1-31") !=
        std::string::npos);
  CHECK(error_of("0 0 0 * *").find("field 3 (day of month) '0' is out of range 1-31") !=
        std::string::npos);
  CHECK(error_of("0 0 * 13 *").find("field 4 (month) '13' is out of range 1-12") !=
        std::string::npos);
  CHECK(error_of("0 0 * foo *").find("field 4 (month) 'foo' is not a number or a month name") !=
        std::string::npos);
  CHECK(error_of("0 0 * * 8").find("field 5 (day of week) '8' is out of range 0-7") !=
        std::string::npos);
  CHECK(error_of("0 4 * * funday").find("field 5 (day of week) 'funday' is not a number") !=
        std::string::npos);
  CHECK(error_of("0 4 * * mon-funday").find("field 5 (day of week) 'mon-funday': 'funday'") !=
        std::string::npos);
  CHECK(error_of("0 1,25 * * *").find("field 2 (hour) '1,25': '25' is out of range 0-23") !=
        std::string::npos);
  CHECK(error_of("*/0 * * * *").find("field 1 (minute) '*/0' has step '0'") != std::string::npos);
  CHECK(error_of("*/90 * * * *").find("field 1 (minute) '*/90' has step '90', out of range") !=
        std::string::npos);
  CHECK(error_of("0 */x * * *").find("field 2 (hour) '*/x' has step 'x'") != std::string::npos);
  CHECK(error_of("0 9-5 * * *").find("field 2 (hour) '9-5' runs backwards") != std::string::npos);
  CHECK(error_of("0 1,,2 * * *").find("field 2 (hour) '1,,2': '' has an empty item") !=
        std::string::npos);
  CHECK(error_of("0 jan * * *").find("field 2 (hour) 'jan' is not a number") != std::string::npos);
  CHECK(error_of("0 4 * *").find("'0 4 * *' has 4 fields, not 5") != std::string::npos);
  CHECK(error_of("0 4 * * * *").find("has 6 fields, not 5") != std::string::npos);
  CHECK(error_of("").find("dispatcher.schedules[2].cron: the schedule is empty") == 0);
  CHECK(error_of("@reboot").find("'@reboot' is not a schedule macro") != std::string::npos);
  // Every message says what a schedule looks like.
  CHECK(error_of("0 25 * * *").find("five fields") != std::string::npos);
  CHECK(error_of("0 0 * * *").empty());
  CHECK(error_of("  0 0 * * *  ").empty());
}

TEST_CASE("cron: the missed-run policy") {
  CHECK(*parse_missed("skip", "k") == Missed::skip);
  CHECK(*parse_missed("run_once", "k") == Missed::run_once);
  auto bad = parse_missed("always", "dispatcher.schedules[1].missed");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == errc::config);
  CHECK(bad.error().message.find("dispatcher.schedules[1].missed: 'always'") == 0);
  CHECK(bad.error().message.find("skip") != std::string::npos);
}

TEST_CASE("cron: runs missed while down are skipped or run once") {
  auto hourly = cron("0 * * * *");
  const auto last = utc(2026, 11, 22, 9);  // down from 09:00 to 12:xx: 10, 11, 12 fell
  SUBCASE("back within the minute of a fire: it runs, on time, whatever the policy") {
    for (auto now : {utc(2026, 11, 22, 12), utc(2026, 11, 22, 12, 0, 59)}) {
      for (auto policy : {Missed::skip, Missed::run_once}) {
        auto d = due(hourly, "UTC", last, now, policy);
        CHECK(d.fire == utc(2026, 11, 22, 12));
        CHECK(d.missed == 2);
      }
    }
  }
  SUBCASE("back between fires: skip runs nothing, run_once the latest, late") {
    const auto now = utc(2026, 11, 22, 12, 20);
    auto skip = due(hourly, "UTC", last, now, Missed::skip);
    CHECK_FALSE(skip.fire.has_value());
    CHECK(skip.missed == 3);
    auto once = due(hourly, "UTC", last, now, Missed::run_once);
    CHECK(once.fire == utc(2026, 11, 22, 12));
    CHECK(once.missed == 2);
    // A minute late is late.
    CHECK_FALSE(due(hourly, "UTC", last, utc(2026, 11, 22, 12, 1), Missed::skip).fire);
  }
  SUBCASE("running normally: one fire at a time, none twice") {
    auto d = due(hourly, "UTC", utc(2026, 11, 22, 11, 59, 55), utc(2026, 11, 22, 12, 0, 2),
                 Missed::skip);
    CHECK(d.fire == utc(2026, 11, 22, 12));
    CHECK(d.missed == 0);
    for (auto policy : {Missed::skip, Missed::run_once}) {
      auto again = due(hourly, "UTC", utc(2026, 11, 22, 12), utc(2026, 11, 22, 12, 0, 40), policy);
      CHECK_FALSE(again.fire.has_value());
      CHECK(again.missed == 0);
    }
    // `last` at or after now (a clock stepped back): nothing.
    CHECK_FALSE(
        due(hourly, "UTC", utc(2026, 11, 22, 13), utc(2026, 11, 22, 12), Missed::run_once).fire);
  }
  SUBCASE("first start: only a fire of the current minute, nothing missed") {
    for (auto now : {utc(2026, 11, 22, 12), utc(2026, 11, 22, 12, 0, 30)}) {
      auto d = due(hourly, "UTC", std::nullopt, now, Missed::run_once);
      CHECK(d.fire == utc(2026, 11, 22, 12));
      CHECK(d.missed == 0);
    }
    for (auto now :
         {utc(2026, 11, 22, 11, 59, 59), utc(2026, 11, 22, 12, 1), utc(2026, 11, 22, 12, 20)}) {
      auto d = due(hourly, "UTC", std::nullopt, now, Missed::run_once);
      CHECK_FALSE(d.fire.has_value());
      CHECK(d.missed == 0);
    }
    // In its zone: 04:00 Berlin is 03:00Z in November.
    CHECK(due(cron("0 4 * * *"), "Europe/Berlin", std::nullopt, utc(2026, 11, 23, 3, 0, 10),
              Missed::skip)
              .fire == utc(2026, 11, 23, 3));
  }
}

TEST_CASE("cron: missed runs are counted exactly across DST days and long downtimes") {
  const char* ny = "America/New_York";
  auto hourly = cron("0 * * * *");
  // Spring day: 01:00 EST (06Z), the jump (07Z), 04:00 (08Z), 05:00 EDT (09Z).
  auto spring = due(hourly, ny, utc(2026, 3, 8, 5), utc(2026, 3, 8, 9, 30), Missed::run_once);
  CHECK(spring.fire == utc(2026, 3, 8, 9));
  CHECK(spring.missed == 3);
  // Autumn day: 01:00 EDT (05Z), 02:00 EST (07Z), 03:00 (08Z); not 01:00 EST.
  auto autumn = due(hourly, ny, utc(2026, 11, 1, 4), utc(2026, 11, 1, 8, 30), Missed::skip);
  CHECK_FALSE(autumn.fire.has_value());
  CHECK(autumn.missed == 3);

  auto minutely = cron("* * * * *");
  // Two days over the autumn change: 2880 real minutes, less the 60 of the
  // second 01:xx; the last one is on time.
  auto over_autumn =
      due(minutely, ny, utc(2026, 10, 31, 12), utc(2026, 11, 2, 12, 0, 30), Missed::skip);
  CHECK(over_autumn.fire == utc(2026, 11, 2, 12));
  CHECK(over_autumn.missed == 2880 - 60 - 1);
  // Over the spring change every real minute still fires once.
  auto over_spring =
      due(minutely, ny, utc(2026, 3, 7, 12), utc(2026, 3, 9, 12, 0, 30), Missed::skip);
  CHECK(over_spring.fire == utc(2026, 3, 9, 12));
  CHECK(over_spring.missed == 2880 - 1);
  // Three weeks down, every minute, in a zone: 21 * 1440 fires.
  const auto before = chr::steady_clock::now();
  auto weeks = due(minutely, "Europe/Berlin", utc(2026, 11, 1, 10), utc(2026, 11, 22, 10, 20),
                   Missed::run_once);
  CHECK(weeks.fire == utc(2026, 11, 22, 10, 20));
  CHECK(weeks.missed == 21 * 1440 + 20 - 1);
  // A handful of zone conversions per day, not one per minute.
  CHECK(chr::steady_clock::now() - before < chr::seconds(2));
}

}  // namespace
}  // namespace agency::dispatch
