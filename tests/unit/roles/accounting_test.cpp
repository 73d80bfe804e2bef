// The accountant's arithmetic against hand-computed cases: ccusage's block
// rules, weekly resets (UTC and New York across the end of DST),
// calibration, and each lease rule.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "roles/accountant/accounting.hpp"
#include "roles/accountant/settings.hpp"

namespace agency::accounting {
namespace {

using namespace std::chrono_literals;

// 2026-11-23 is a Monday.
Time utc(int year, int month, int day, int hour, int minute = 0, int second = 0) {
  using namespace std::chrono;
  auto d = sys_days(std::chrono::year(year) / month / day);
  return Time(d) + hours(hour) + minutes(minute) + seconds(second);
}

Entry entry(std::string id, Time at, std::int64_t tokens, bool human = false,
            std::string model = "claude-sonnet-4-5", std::string session = "") {
  Entry e;
  e.id = std::move(id);
  e.at = at;
  e.model = std::move(model);
  e.human = human;
  e.session_id = std::move(session);
  e.tokens.input = tokens;
  e.role = human ? "" : "builder";
  return e;
}

config::Accountant policy_utc() {
  config::Accountant p;
  p.enabled = true;
  p.time_zone = "UTC";
  p.accounts.emplace_back();
  return p;
}

WindowState weekly_state(Time start, std::int64_t limit, std::int64_t agents,
                         std::int64_t human = 0) {
  WindowState w;
  w.account = "default";
  w.window = Window::seven_day;
  w.span = {start, start + 7 * 24h};
  w.limit = limit;
  w.agents = agents;
  w.human = human;
  return w;
}

TEST_CASE("accounting: five-hour blocks start at the UTC hour and end as ccusage ends them") {
  std::vector<Entry> es = {
      entry("a", utc(2026, 11, 23, 10, 17), 100),
      entry("b", utc(2026, 11, 23, 11, 0), 50, true),
      entry("c", utc(2026, 11, 23, 14, 59), 10),
      entry("d", utc(2026, 11, 23, 15, 0, 1), 7),  // past start + 5 h: a new block
      entry("e", utc(2026, 11, 24, 1, 30), 3),     // a gap of more than 5 h
  };
  std::vector<const Entry*> ptrs;
  for (const auto& e : es) ptrs.push_back(&e);
  auto blocks = five_hour_blocks(ptrs);
  REQUIRE(blocks.size() == 3);
  CHECK(blocks[0].start == utc(2026, 11, 23, 10));
  CHECK(blocks[0].end == utc(2026, 11, 23, 15));
  CHECK(blocks[0].agents == 110);
  CHECK(blocks[0].human == 50);
  CHECK(blocks[0].last == utc(2026, 11, 23, 14, 59));
  CHECK(blocks[1].start == utc(2026, 11, 23, 15));
  CHECK(blocks[1].agents == 7);
  CHECK(blocks[2].start == utc(2026, 11, 24, 1));
}

TEST_CASE("accounting: an entry exactly 5 hours after the block start stays in it (ccusage)") {
  std::vector<Entry> es = {entry("a", utc(2026, 11, 23, 10, 0), 1),
                           entry("b", utc(2026, 11, 23, 15, 0), 1)};
  std::vector<const Entry*> ptrs = {&es[0], &es[1]};
  CHECK(five_hour_blocks(ptrs).size() == 1);
}

TEST_CASE("accounting: the weekly window in UTC, and an observed reset wins") {
  WeeklyReset monday{1, 0, 0, "UTC"};
  auto span = weekly_span(utc(2026, 11, 25, 12), monday, std::nullopt);
  CHECK(span.start == utc(2026, 11, 23, 0));
  CHECK(span.end == utc(2026, 11, 30, 0));
  // At the reset itself the next week has begun.
  span = weekly_span(utc(2026, 11, 30, 0), monday, std::nullopt);
  CHECK(span.start == utc(2026, 11, 30, 0));
  // An observed reset three weeks old is moved forward by whole weeks.
  span = weekly_span(utc(2026, 11, 25, 12), monday, utc(2026, 11, 5, 18));
  CHECK(span.end == utc(2026, 11, 26, 18));
  CHECK(span.start == utc(2026, 11, 19, 18));
}

TEST_CASE("accounting: a weekly reset in New York across the end of DST is 169 hours long") {
  // DST ended on Sunday 2026-11-01: Thursday 18:00 was 22:00Z before, 23:00Z after.
  WeeklyReset thursday{4, 18, 0, "America/New_York"};
  auto span = weekly_span(utc(2026, 11, 4, 12), thursday, std::nullopt);
  CHECK(span.start == utc(2026, 10, 29, 22));
  CHECK(span.end == utc(2026, 11, 5, 23));
  CHECK(span.end - span.start == 169h);
}

TEST_CASE("accounting: calibration divides the counted tokens by the utilisation") {
  CHECK(calibrate(300'000, 30).value() == 1'000'000);
  CHECK(calibrate(1, 0.5) == std::nullopt);  // too small a share to trust
  CHECK(calibrate(0, 40) == std::nullopt);
  CHECK(calibrate(10, 101) == std::nullopt);

  auto p = policy_utc();
  p.accounts[0].plan = "max5";
  Ledger ledger(p);
  const Time now = utc(2026, 11, 23, 10, 30);
  ledger.add(entry("a", utc(2026, 11, 23, 10, 5), 200'000));
  ledger.add(entry("b", utc(2026, 11, 23, 10, 20), 100'000, true));
  auto before = ledger.window("default", Window::five_hour, now);
  CHECK(before.limit == 10'000'000);
  CHECK(before.limit_source.find("plan max5") != std::string::npos);
  ledger.observe(Reading{"", Window::five_hour, 25, utc(2026, 11, 23, 15), now, "statusline"});
  auto after = ledger.window("default", Window::five_hour, now);
  CHECK(after.limit == 1'200'000);
  CHECK(after.limit_source.find("25%") != std::string::npos);
  CHECK(after.span.end == utc(2026, 11, 23, 15));
  CHECK(after.human == 100'000);
  CHECK(after.agents == 200'000);
}

TEST_CASE("accounting: the ledger keeps one entry per id and leaves agency's own sessions out") {
  Ledger ledger(policy_utc());
  const Time t = utc(2026, 11, 23, 9);
  CHECK(ledger.add(entry("s1", t, 100, false, "claude-opus-4-1", "sess-agency")));
  CHECK_FALSE(ledger.add(entry("s1", t, 100, false, "claude-opus-4-1", "sess-agency")));
  // The same call read back from the transcripts is not the human's.
  CHECK(ledger.add(entry("tx:m1:r1", t, 100, true, "claude-opus-4-1", "sess-agency")));
  CHECK(ledger.add(entry("tx:m2:r2", t + 1min, 40, true, "claude-opus-4-1", "sess-human")));
  auto w = ledger.window("", Window::seven_day, t + 1h);
  CHECK(w.agents == 100);
  CHECK(w.human == 40);
  CHECK(ledger.window("", Window::seven_day_opus, t + 1h).used() == 140);
  CHECK(ledger.window("", Window::seven_day_sonnet, t + 1h).used() == 0);
  // Unknown accounts count against the first.
  CHECK(ledger.account_of("nobody") == "default");
}

TEST_CASE("accounting: sums saturate at the int64 range instead of wrapping") {
  constexpr auto kTop = std::numeric_limits<std::int64_t>::max();
  constexpr auto kBottom = std::numeric_limits<std::int64_t>::min();
  CHECK(sat_add(kTop, 1) == kTop);
  CHECK(sat_add(kTop - 5, 10) == kTop);
  CHECK(sat_add(kBottom, -1) == kBottom);
  CHECK(sat_add(std::int64_t{40}, std::int64_t{2}) == 42);
  CHECK(sat_add(std::int64_t{-40}, std::int64_t{2}) == -38);
  CHECK(sat_add(std::numeric_limits<double>::max(), std::numeric_limits<double>::max()) ==
        std::numeric_limits<double>::max());
  CHECK(sat_add(0.25, 0.5) == 0.75);
  CHECK(sat_round(1e30) == kTop);
  CHECK(sat_round(-1e30) == kBottom);
  CHECK(sat_round(std::nan("")) == 0);
  CHECK(sat_round(2.5) == 3);
  CHECK(thousands(kBottom) == "-9,223,372,036,854,775,808");

  TokenCounts t;
  t.output = kTop;
  t.input = 10;
  CHECK(t.counted() == kTop);
  CHECK(t.total() == kTop);
  TokenCounts more;
  more.output = 50;
  t += more;
  CHECK(t.output == kTop);

  // Entries at the top of what the ledger takes, many times over: every
  // sum the windows, blocks, steps, task budgets and leases make stays at
  // the top, never negative.
  Ledger ledger(policy_utc());
  const Time t0 = utc(2026, 11, 23, 10);
  for (int i = 0; i < 3; ++i) {
    Entry e = entry("big-" + std::to_string(i), t0 + std::chrono::minutes(i), 0);
    e.tokens.input = kTop / 2;
    e.tokens.output = kTop / 2;
    e.task_id = "t-1";
    CHECK(ledger.add(e));
    Entry h = entry("human-" + std::to_string(i), t0 + std::chrono::minutes(i), 0, true);
    h.tokens.input = kTop / 2;
    CHECK(ledger.add(h));
  }
  const Time now = t0 + 10min;
  auto w = ledger.window("default", Window::five_hour, now);
  CHECK(w.agents == kTop);
  CHECK(w.human == kTop);
  CHECK(w.used() == kTop);
  CHECK(w.human_peak_hour == kTop);
  CHECK(ledger.task_tokens("t-1") == kTop);
  auto blocks = five_hour_blocks(ledger.entries("default"));
  REQUIRE(blocks.size() == 1);
  CHECK(blocks[0].agents == kTop);
  auto st = steps(ledger.entries("default"), Window::five_hour, t0, t0 + 10min, 10min);
  REQUIRE(st.size() == 1);
  CHECK(st[0].agents == kTop);
  CHECK(unused_area(st, Window::five_hour, kTop, 10min) >= 0);
  ledger.lease("l-1", {"default", "claude-sonnet-4-5", "t-1", kTop, now + 1h, "builder-1"});
  ledger.lease("l-2", {"default", "claude-sonnet-4-5", "t-1", kTop, now + 1h, "builder-2"});
  CHECK(ledger.leased("default", Window::five_hour) == kTop);
  CHECK(ledger.leased_for_task("t-1") == kTop);
  CHECK(calibrate(kTop, 1).value() == kTop);
}

TEST_CASE("accounting: leases outstanding count until settled or expired") {
  Ledger ledger(policy_utc());
  const Time t = utc(2026, 11, 23, 9);
  ledger.lease("l1", {"", "claude-sonnet-4-5", "t-1", 500, t + 30min, "builder-1"});
  ledger.lease("l2", {"", "claude-opus-4-1", "t-2", 300, t + 5min, "builder-2"});
  CHECK(ledger.leased("default", Window::seven_day) == 800);
  CHECK(ledger.leased("default", Window::seven_day_opus) == 300);
  CHECK(ledger.leased_for_task("t-1") == 500);
  ledger.expire(t + 10min);
  CHECK(ledger.leased("default", Window::seven_day) == 500);
  ledger.settle("l1");
  CHECK(ledger.leased("default", Window::seven_day) == 0);
}

TEST_CASE("accounting: the reserve is never leased to agents, the human gets it") {
  auto p = policy_utc();
  const Time start = utc(2026, 11, 23, 0);
  const Time now = start + 6 * 24h;  // late in the week: pacing allows plenty
  std::vector<WindowState> ws = {weekly_state(start, 1'000'000, 790'000)};
  auto interactive = decide(p, ws, Ask{Priority::interactive, 20'000, "m"}, now);
  CHECK_FALSE(interactive.granted);
  CHECK(interactive.reason.find("reserve") != std::string::npos);
  REQUIRE(interactive.retry_at.has_value());
  CHECK(*interactive.retry_at == ws[0].span.end);
  CHECK(decide(p, ws, Ask{Priority::interactive, 10'000, "m"}, now).granted);
  auto human = decide(p, ws, Ask{Priority::human, 200'000, "m"}, now);
  CHECK(human.granted);
  CHECK_FALSE(decide(p, ws, Ask{Priority::human, 210'001, "m"}, now).granted);
}

TEST_CASE("accounting: scheduled work is paced evenly toward the reset") {
  auto p = policy_utc();
  p.burst = 0.05;
  const Time start = utc(2026, 11, 23, 0);
  const Time now = start + 42h;  // a quarter of the week
  // allowed = min(800,000, 1,000,000 x 0.25 + 0.05 x 1,000,000) = 300,000
  std::vector<WindowState> ws = {weekly_state(start, 1'000'000, 290'000)};
  auto ok = decide(p, ws, Ask{Priority::scheduled, 10'000, "m"}, now);
  CHECK(ok.granted);
  CHECK(ok.allowance == 10'000);
  ws[0].agents = 300'000;
  auto late = decide(p, ws, Ask{Priority::scheduled, 5'000, "m"}, now);
  CHECK_FALSE(late.granted);
  CHECK(late.reason.find("pacing") != std::string::npos);
  // 1,000,000 x share + 50,000 >= 305,000 from share 0.255: 42.84 h in.
  REQUIRE(late.retry_at.has_value());
  const auto expected = start + std::chrono::seconds(static_cast<long>(0.255 * 7 * 24 * 3600));
  CHECK(*late.retry_at >= expected);
  CHECK(*late.retry_at - expected <= 1min);
  // Late in the week the reserve caps the pace: 800,000 at most.
  ws[0].agents = 795'000;
  CHECK_FALSE(decide(p, ws, Ask{Priority::scheduled, 10'000, "m"}, start + 160h).granted);
  CHECK(decide(p, ws, Ask{Priority::scheduled, 5'000, "m"}, start + 160h).granted);
  // Human use counts toward the pace: agents fill what the human leaves.
  ws[0].agents = 0;
  ws[0].human = 295'000;
  CHECK_FALSE(decide(p, ws, Ask{Priority::scheduled, 10'000, "m"}, now).granted);
  // Interactive work is not paced.
  CHECK(decide(p, ws, Ask{Priority::interactive, 10'000, "m"}, now).granted);
}

TEST_CASE("accounting: the person's likely use before the reset is kept for them") {
  auto p = policy_utc();  // weekly reset Monday 00:00 UTC
  p.accounts.front().seven_day = 1'000'000;
  const Time now = utc(2026, 11, 26, 8);  // Thursday; the window is 11-23 to 11-30
  SUBCASE("the same hours a week before") {
    Ledger ledger(p);
    CHECK(ledger.add(entry("last-thu", utc(2026, 11, 19, 10), 100'000, true)));
    CHECK(ledger.add(entry("last-fri", utc(2026, 11, 20, 10), 200'000, true)));
    CHECK(ledger.add(entry("too-early", utc(2026, 11, 19, 7), 500'000, true)));
    CHECK(ledger.add(entry("an-agent", utc(2026, 11, 20, 11), 700'000)));
    CHECK(ledger.add(entry("this-mon", utc(2026, 11, 23, 10), 50'000, true)));
    CHECK(ledger.add(entry("agents", utc(2026, 11, 24, 10), 400'000)));
    auto w = ledger.window("default", Window::seven_day, now);
    // 300,000 a week before; the rate so far gives 50,000 x 88 h / 80 h.
    CHECK(w.human_expected == 300'000);
    CHECK(w.at == now);
    // The reserve is 1.5 x 300,000 = 45% of the limit, not 20%: agents may
    // bring the window's use to 550,000.
    std::vector<WindowState> ws = {w};
    CHECK(decide(p, ws, Ask{Priority::interactive, 90'000, "m"}, now).granted);
    auto refused = decide(p, ws, Ask{Priority::interactive, 110'000, "m"}, now);
    CHECK_FALSE(refused.granted);
    CHECK(refused.reason.find("the last 45%") != std::string::npos);
    CHECK(decide(p, ws, Ask{Priority::human, 500'000, "m"}, now).granted);
  }
  SUBCASE("the last day's rate for the time left") {
    Ledger ledger(p);
    CHECK(ledger.add(entry("yesterday", utc(2026, 11, 25, 12), 240'000, true)));
    auto w = ledger.window("default", Window::seven_day, now);
    CHECK(w.human_expected == 240'000 * 88 / 24);
    // A day later the same hours two days before are the busiest: 240,000,
    // more than the rate over the span so far (240,000 x 64 h / 104 h).
    auto later = ledger.window("default", Window::seven_day, now + 24h);
    CHECK(later.human_expected == 240'000);
    // More than a week later none of it is seen.
    CHECK(ledger.window("default", Window::seven_day, utc(2026, 12, 3, 13)).human_expected == 0);
  }
  SUBCASE("only use that counts toward the window") {
    p.accounts.front().seven_day_sonnet = 1'000'000;
    Ledger ledger(p);
    CHECK(ledger.add(entry("opus", utc(2026, 11, 25, 12), 240'000, true, "claude-opus-4-1")));
    CHECK(ledger.window("default", Window::seven_day_sonnet, now).human_expected == 0);
    CHECK(ledger.window("default", Window::seven_day, now).human_expected > 0);
  }
}

TEST_CASE("accounting: the kept share shrinks with the time left, and a deferral says when") {
  auto p = policy_utc();
  const Time start = utc(2026, 11, 23, 0);
  WindowState w = weekly_state(start, 1'000'000, 700'000);
  w.at = start + 24h;
  w.human_expected = 300'000;  // 45% kept at `at`
  std::vector<WindowState> ws = {w};
  auto wait = decide(p, ws, Ask{Priority::interactive, 10'000, "m"}, w.at);
  CHECK_FALSE(wait.granted);
  // Kept: 0.45 x (end - t) / 6 days; 710,000 fits once that is 29%, after
  // 0.356 of the six days: 51.3 hours.
  REQUIRE(wait.retry_at.has_value());
  CHECK(*wait.retry_at >= w.at + 51h);
  CHECK(*wait.retry_at <= w.at + 52h);
  CHECK(decide(p, ws, Ask{Priority::interactive, 10'000, "m"}, w.at + 52h).granted);
}

TEST_CASE("accounting: near the reset the reserve is released to batch work only") {
  auto p = policy_utc();  // release_seven_day_minutes 720
  const Time start = utc(2026, 11, 23, 0);
  const Time now = start + 7 * 24h - 1h;
  // Reserve for batch: 0.2 x 60/720 = 1.67%: the ceiling is 983,333.
  std::vector<WindowState> ws = {weekly_state(start, 1'000'000, 900'000)};
  CHECK(decide(p, ws, Ask{Priority::batch, 80'000, "m"}, now).granted);
  CHECK_FALSE(decide(p, ws, Ask{Priority::batch, 90'000, "m"}, now).granted);
  CHECK_FALSE(decide(p, ws, Ask{Priority::scheduled, 10'000, "m"}, now).granted);
  // Someone at work in the last half hour keeps the whole reserve.
  ws[0].last_human = now - 10min;
  CHECK_FALSE(decide(p, ws, Ask{Priority::batch, 80'000, "m"}, now).granted);
  ws[0].last_human = now - 31min;
  CHECK(decide(p, ws, Ask{Priority::batch, 80'000, "m"}, now).granted);
  ws[0].last_human.reset();
  // With a week of history the reserve holds what the person could still
  // use, 1.5 x their busiest hour for the hours left, but never less than
  // human_idle_minutes of it: five minutes before the reset, someone at work
  // keeps 1.5 x 20,000 x 30/60 = 15,000, not the 2,500 five minutes need.
  {
    auto last = ws;
    last[0].human_peak_hour = 20'000;
    last[0].agents = 980'000;
    last[0].last_human = ws[0].span.end - 7min;
    CHECK_FALSE(decide(p, last, Ask{Priority::batch, 10'000, "m"}, ws[0].span.end - 5min).granted);
    CHECK(decide(p, last, Ask{Priority::batch, 5'000, "m"}, ws[0].span.end - 5min).granted);
  }
  // The release never goes below 1.5 x the person's likely use before the
  // reset: 1.5 x 20,000 is 3% where the release leaves 1.67%.
  {
    auto likely = ws;
    likely[0].human_expected = 20'000;
    likely[0].at = now;
    CHECK_FALSE(decide(p, likely, Ask{Priority::batch, 80'000, "m"}, now).granted);
    CHECK(decide(p, likely, Ask{Priority::batch, 60'000, "m"}, now).granted);
  }
  // Twelve hours before, the whole reserve still holds for batch too.
  CHECK_FALSE(
      decide(p, ws, Ask{Priority::batch, 10'000, "m"}, start + 7 * 24h - 12h - 1min).granted);
  // A batch deferral names the minute the shrinking reserve admits it.
  auto wait = decide(p, ws, Ask{Priority::batch, 90'000, "m"}, now);
  REQUIRE(wait.retry_at.has_value());
  // 0.2 x 1,000,000 x left/720 min <= 10,000  <=>  left <= 36 min
  CHECK(*wait.retry_at >= ws[0].span.end - 36min);
  CHECK(*wait.retry_at <= ws[0].span.end - 35min);
}

TEST_CASE("accounting: batch work prefers the night") {
  auto p = policy_utc();  // night 22:00-07:00 UTC
  p.night_weight = 3;
  p.burst = 0.05;
  const Time start = utc(2026, 11, 23, 0);
  WindowState w = weekly_state(start, 1'000'000, 0);
  // Nights in the week: Monday 00-07 (7 h), six of 22-07 (54 h), Sunday 22-24 (2 h) = 63 h;
  // weighted length 105 + 3 x 63 = 294.
  CHECK(pace_share(p, w, Priority::batch, start + 7h) == doctest::Approx(21.0 / 294));
  CHECK(pace_share(p, w, Priority::scheduled, start + 7h) == doctest::Approx(7.0 / 168));
  // Through Monday's day (07-22) batch gains only 15 of 294.
  CHECK(pace_share(p, w, Priority::batch, start + 22h) == doctest::Approx(36.0 / 294));
  CHECK(pace_share(p, w, Priority::batch, start + 7 * 24h) == doctest::Approx(1.0));
  CHECK(is_night(p, utc(2026, 11, 23, 23)));
  CHECK(is_night(p, utc(2026, 11, 23, 6, 59)));
  CHECK_FALSE(is_night(p, utc(2026, 11, 23, 7)));
  CHECK_FALSE(is_night(p, utc(2026, 11, 23, 12)));
  // At 07:00 batch may be further along than scheduled work.
  w.agents = 95'000;  // scheduled: 1M x 7/168 + 50k = 91.7k; batch: 1M x 21/294 + 50k = 121.4k
  std::vector<WindowState> ws = {w};
  CHECK(decide(p, ws, Ask{Priority::batch, 20'000, "m"}, start + 7h).granted);
  CHECK_FALSE(decide(p, ws, Ask{Priority::scheduled, 20'000, "m"}, start + 7h).granted);
}

TEST_CASE("accounting: model windows bind only their models, and unknown limits bind nothing") {
  auto p = policy_utc();
  const Time start = utc(2026, 11, 23, 0);
  WindowState opus = weekly_state(start, 100'000, 95'000);
  opus.window = Window::seven_day_opus;
  std::vector<WindowState> ws = {weekly_state(start, 10'000'000, 0), opus};
  const Time now = start + 100h;
  auto o = decide(p, ws, Ask{Priority::interactive, 10'000, "claude-opus-4-1"}, now);
  CHECK_FALSE(o.granted);
  CHECK(o.reason.find("seven_day_opus") != std::string::npos);
  CHECK(decide(p, ws, Ask{Priority::interactive, 10'000, "claude-sonnet-4-5"}, now).granted);
  std::vector<WindowState> none = {weekly_state(start, 0, 5'000'000)};
  auto free = decide(p, none, Ask{Priority::batch, 10'000, "m"}, now);
  CHECK(free.granted);
  CHECK(free.reason.find("no limit known") != std::string::npos);
}

TEST_CASE("accounting: priorities by name, empty is scheduled") {
  CHECK(priority_from_name("") == Priority::scheduled);
  CHECK(priority_from_name("batch") == Priority::batch);
  CHECK(priority_from_name("human") == Priority::human);
  CHECK(priority_from_name("urgent") == std::nullopt);
  CHECK(window_from_name("seven_day_sonnet") == Window::seven_day_sonnet);
  CHECK(window_from_name("requests") == std::nullopt);
  CHECK(plan_limits("claude", "max5", "k").value().five_hour > 0);
  CHECK(plan_limits("codex", "plus", "k").value().five_hour > 0);
  CHECK_FALSE(plan_limits("codex", "max5", "k").ok());
  CHECK(plan_limits("gemini", "any", "k").value().five_hour == 0);
  CHECK_FALSE(plan_limits("claude", "gold", "k").ok());
}

TEST_CASE("accounting: the unused area counts each step's unused share, never a surplus") {
  // five_hour limit 300: 10 tokens offered per 10-minute step.
  const Time t = utc(2026, 11, 23, 10);
  std::vector<Entry> es = {entry("a", t + 12min, 25), entry("b", t + 25min, 5, true),
                           entry("c", t + 31min, 1000, false, "m")};
  std::vector<const Entry*> ptrs = {&es[0], &es[1], &es[2]};
  auto s = steps(ptrs, Window::five_hour, t, t + 30min, 10min);
  REQUIRE(s.size() == 3);
  CHECK(s[0].agents == 0);
  CHECK(s[1].agents == 25);
  CHECK(s[2].human == 5);
  CHECK(unused_area(s, Window::five_hour, 300, 10min) == 10 + 0 + 5);
  CHECK(unused_area(s, Window::five_hour, 0, 10min) == 0);
}

}  // namespace
}  // namespace agency::accounting
