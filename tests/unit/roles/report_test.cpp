// agency usage's report, chart and statusline reading against hand-computed
// figures.
#include "roles/accountant/report.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "roles/accountant/chart.hpp"

namespace agency::accounting {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

Time utc(int y, int mo, int d, int h, int mi = 0) {
  return Time(sys_days(year(y) / mo / d)) + hours(h) + minutes(mi);
}

Entry entry(std::string id, Time at, std::int64_t tokens, bool human, std::string role = "",
            std::string task = "") {
  Entry e;
  e.id = std::move(id);
  e.at = at;
  e.model = "claude-sonnet-4-5";
  e.human = human;
  e.role = std::move(role);
  e.task_id = std::move(task);
  e.tokens.input = tokens;
  e.tokens.cache_read = 1000;
  return e;
}

Ledger sample_ledger() {
  config::Accountant c;
  c.enabled = true;
  c.time_zone = "UTC";
  config::Account a;
  a.five_hour = 100'000;
  a.seven_day = 1'000'000;
  c.accounts.push_back(a);
  Ledger l(c);
  // Monday 2026-11-23, a five-hour block from 10:00.
  l.add(entry("h1", utc(2026, 11, 23, 10, 5), 20'000, true));
  l.add(entry("a1", utc(2026, 11, 23, 10, 30), 30'000, false, "builder", "t-1"));
  l.add(entry("a2", utc(2026, 11, 23, 11, 10), 10'000, false, "planner", "t-1"));
  l.add(entry("a3", utc(2026, 11, 22, 9, 0), 5'000, false, "builder", "t-0"));  // last week
  return l;
}

TEST_CASE("report: windows, pace, projection and spend by hand") {
  auto ledger = sample_ledger();
  const Time now = utc(2026, 11, 23, 12, 30);  // 2.5 h into the block from 10:00
  auto r = build_report(ledger, now, 7);
  // five_hour and seven_day have limits; seven_day_sonnet has use, no limit.
  REQUIRE(r.windows.size() == 3);
  CHECK(r.windows[2].state.window == Window::seven_day_sonnet);
  CHECK(r.windows[2].state.limit == 0);
  CHECK(r.windows[2].unused == 0);
  const auto& five = r.windows[0];
  CHECK(five.state.window == Window::five_hour);
  CHECK(five.state.human == 20'000);
  CHECK(five.state.agents == 40'000);
  CHECK(five.utilization == doctest::Approx(60.0));
  CHECK(five.pace == doctest::Approx(50.0));
  CHECK(five.projected == 120'000);  // 60k in half the block
  // Offered 100k / 30 steps per 10 min = 3,333.3; 15 steps so far, 3 used
  // more than that (10:00, 10:30, 11:10): 12 x 3,333.3 unused.
  CHECK(five.unused == 40'000);
  const auto& week = r.windows[1];
  CHECK(week.state.window == Window::seven_day);
  CHECK(week.state.span.start == utc(2026, 11, 23, 0));  // Monday 00:00, the default reset
  CHECK(week.state.used() == 60'000);                    // last week's 5k is not in it
  // Spend over 7 days: builder 35k (two calls), human 20k, planner 10k.
  REQUIRE(r.roles.size() == 3);
  CHECK(r.roles[0].key == "builder");
  CHECK(r.roles[0].tokens.counted() == 35'000);
  CHECK(r.roles[0].calls == 2);
  CHECK(r.roles[1].key == "human");
  REQUIRE(r.tasks.size() == 2);
  CHECK(r.tasks[0].key == "t-1");
  CHECK(r.tasks[0].tokens.counted() == 40'000);
  REQUIRE(r.day_totals.size() == 2);
  CHECK(r.day_totals[1].date == "2026-11-23");
  CHECK(r.day_totals[1].human.total() == 21'000);  // cache reads in the day totals
  CHECK(r.day_totals[1].agents.counted() == 40'000);

  auto j = nlohmann::json::parse(report_json(r));
  CHECK(j.at("windows").at(0).at("window") == "five_hour");
  CHECK(j.at("windows").at(0).at("limit") == 100'000);
  CHECK(j.at("windows").at(0).at("resets_at") == "2026-11-23T15:00:00Z");
  CHECK(j.at("windows").at(0).at("unused") == 40'000);
  CHECK(j.at("roles").at(0).at("role") == "builder");
  CHECK(j.at("day_totals").at(1).at("total").at("counted") == 60'000);
  auto text = report_text(r);
  CHECK(text.find("five_hour") != std::string::npos);
  CHECK(text.find("60.0%") != std::string::npos);
}

TEST_CASE("report: the chart has a panel per window with a limit and shades the unused area") {
  auto ledger = sample_ledger();
  auto svg = chart_svg(ledger, utc(2026, 11, 23, 12, 30), 1);
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find("data-window=\"five_hour\"") != std::string::npos);
  CHECK(svg.find("data-window=\"seven_day\"") != std::string::npos);
  CHECK(svg.find("data-window=\"seven_day_opus\"") == std::string::npos);
  CHECK(svg.find("class=\"unused\" fill=\"#f4b183\" fill-opacity=\"0.6\" d=\"M") !=
        std::string::npos);
  CHECK(svg.find("class=\"human\" fill=\"#5b9bd5\" d=\"M") != std::string::npos);
  // Nothing used at all: every step of the day is shaded, no use drawn.
  config::Accountant c;
  c.time_zone = "UTC";
  config::Account a;
  a.five_hour = 100'000;
  c.accounts.push_back(a);
  Ledger empty(c);
  auto blank = chart_svg(empty, utc(2026, 11, 23, 12), 1);
  CHECK(blank.find("class=\"human\" fill=\"#5b9bd5\" d=\"\"") != std::string::npos);
  const auto unused_at = blank.find("class=\"unused\"");
  REQUIRE(unused_at != std::string::npos);
  const auto path_end = blank.find('"', blank.find("d=\"", unused_at) + 3);
  const auto path = blank.substr(unused_at, path_end - unused_at);
  std::size_t rects = 0;
  for (std::size_t i = path.find('M'); i != std::string::npos; i = path.find('M', i + 1)) ++rects;
  CHECK(rects == 144);  // 24 h of 10-minute steps
}

TEST_CASE("report: statusline JSON gives readings, garbage an error") {
  const Time now = utc(2026, 11, 23, 12);
  auto r = statusline_readings(
      R"({"model": {"id": "claude-sonnet-4-5"}, "rate_limits": {
            "five_hour": {"used_percentage": 42.5, "resets_at": 1795359600},
            "seven_day": {"used_percentage": 18}}})",
      "work", now);
  REQUIRE(r.ok());
  REQUIRE(r->size() == 2);
  CHECK((*r)[0].window == Window::five_hour);
  CHECK((*r)[0].utilization == doctest::Approx(42.5));
  CHECK((*r)[0].resets_at == Time(seconds(1795359600)));
  CHECK((*r)[0].account == "work");
  CHECK((*r)[0].source == "statusline");
  CHECK((*r)[1].window == Window::seven_day);
  CHECK_FALSE((*r)[1].resets_at.has_value());
  auto none = statusline_readings(R"({"model": {"id": "x"}})", "", now);
  REQUIRE(none.ok());
  CHECK(none->empty());
  CHECK_FALSE(statusline_readings("not json", "", now).ok());
}

}  // namespace
}  // namespace agency::accounting
