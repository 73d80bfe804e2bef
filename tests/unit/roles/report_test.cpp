// agency usage's report, chart and statusline reading against hand-computed
// figures.
#include "roles/accountant/report.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "roles/accountant/chart.hpp"
#include "roles/accountant/settings.hpp"

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
  e.cost_usd = 0.25;
  return e;
}

config::Accountant limits_config(std::int64_t five_hour, std::int64_t seven_day) {
  config::Accountant c;
  c.enabled = true;
  c.time_zone = "UTC";
  config::Account a;
  a.five_hour = five_hour;
  a.seven_day = seven_day;
  c.accounts.push_back(a);
  return c;
}

// Monday 2026-11-23, a five-hour block from 10:00; 100k per five hours, 1M
// per week (from Monday 00:00, the default reset).
Ledger sample_ledger() {
  Ledger l(limits_config(100'000, 1'000'000));
  l.add(entry("h1", utc(2026, 11, 23, 10, 5), 20'000, true));
  l.add(entry("a1", utc(2026, 11, 23, 10, 30), 30'000, false, "builder", "t-1"));
  l.add(entry("a2", utc(2026, 11, 23, 11, 10), 10'000, false, "planner", "t-1"));
  l.add(entry("a3", utc(2026, 11, 22, 9, 0), 5'000, false, "builder", "t-0"));  // last week
  return l;
}

const WindowReport* find_window(const Report& r, Window w, std::string_view account = "default") {
  for (const auto& one : r.windows) {
    if (one.state.window == w && one.state.account == account) return &one;
  }
  return nullptr;
}

TEST_CASE("report: windows, pace, projection and unused area by hand") {
  auto ledger = sample_ledger();
  const Time now = utc(2026, 11, 23, 12, 30);  // 2.5 h into the block from 10:00
  auto r = build_report(ledger, now, 7);
  // five_hour and seven_day have limits; seven_day_sonnet has use but no
  // limit; seven_day_opus neither and is left out.
  REQUIRE(r.windows.size() == 3);
  CHECK(find_window(r, Window::seven_day_opus) == nullptr);
  const auto* sonnet = find_window(r, Window::seven_day_sonnet);
  REQUIRE(sonnet != nullptr);
  CHECK(sonnet->state.limit == 0);
  CHECK(sonnet->unused == 0);

  const auto* five = find_window(r, Window::five_hour);
  REQUIRE(five != nullptr);
  CHECK(five->state.open);
  CHECK(five->state.span.start == utc(2026, 11, 23, 10));
  CHECK(five->state.human == 20'000);
  CHECK(five->state.agents == 40'000);
  CHECK(five->utilization == doctest::Approx(60.0));
  CHECK(five->pace == doctest::Approx(50.0));
  // 60k in half the block would be 120k at the reset: the limit stops it,
  // at 100k / (60k per 2.5 h) = 4 h 10 min after 10:00.
  CHECK(five->projected == 100'000);
  REQUIRE(five->limit_at.has_value());
  CHECK(*five->limit_at == utc(2026, 11, 23, 14, 10));
  // 100k / 30 steps = 3,333.3 per 10 minutes; 15 steps so far, 3 used more
  // than that (10:00, 10:30, 11:10): 12 x 3,333.3 unused of 50k offered.
  CHECK(five->offered == 50'000);
  CHECK(five->unused == 40'000);

  const auto* week = find_window(r, Window::seven_day);
  REQUIRE(week != nullptr);
  CHECK(week->state.span.start == utc(2026, 11, 23, 0));
  CHECK(week->state.used() == 60'000);  // last week's 5k is not in it
  CHECK(week->utilization == doctest::Approx(6.0));
  CHECK(week->pace == doctest::Approx(100.0 * 12.5 / 168));
  CHECK(week->projected == 806'400);  // 60k x 168 h / 12.5 h, below the limit
  CHECK_FALSE(week->limit_at.has_value());
  CHECK(week->offered == 74'405);  // 75 steps x 1M x 600 s / 604,800 s
  CHECK(week->unused == 71'429);   // 72 of them unused

  // Spend over 7 days: builder 35k (two calls), human 20k, planner 10k.
  REQUIRE(r.roles.size() == 3);
  CHECK(r.roles[0].key == "builder");
  CHECK(r.roles[0].tokens.counted() == 35'000);
  CHECK(r.roles[0].tokens.cache_read == 2'000);
  CHECK(r.roles[0].calls == 2);
  CHECK(r.roles[0].cost_usd == doctest::Approx(0.5));
  CHECK(r.roles[1].key == "human");
  CHECK(r.roles[1].tokens.counted() == 20'000);
  CHECK(r.roles[2].key == "planner");
  REQUIRE(r.tasks.size() == 2);
  CHECK(r.tasks[0].key == "t-1");
  CHECK(r.tasks[0].tokens.counted() == 40'000);
  CHECK(r.tasks[0].calls == 2);
  CHECK(r.tasks[1].key == "t-0");
  // Days with use only, as ccusage daily lists them.
  REQUIRE(r.day_totals.size() == 2);
  CHECK(r.day_totals.front().date == "2026-11-22");
  CHECK(r.day_totals.front().agents.counted() == 5'000);
  CHECK(r.day_totals.front().human.counted() == 0);
  const auto& today = r.day_totals.back();
  CHECK(today.date == "2026-11-23");
  CHECK(today.human.counted() == 20'000);
  CHECK(today.human.total() == 21'000);  // cache reads kept in the day totals
  CHECK(today.agents.counted() == 40'000);
  CHECK(today.cost_usd == doctest::Approx(0.75));

  SUBCASE("a shorter range leaves older spend out") {
    auto one = build_report(ledger, now, 1);
    REQUIRE(one.roles.size() == 3);
    CHECK(one.roles[0].key == "builder");
    CHECK(one.roles[0].tokens.counted() == 30'000);  // 11-22 09:00 is more than a day back
    CHECK(one.tasks.size() == 1);
  }
}

TEST_CASE("report: JSON fields and the text tables") {
  auto ledger = sample_ledger();
  auto r = build_report(ledger, utc(2026, 11, 23, 12, 30), 7);
  auto j = nlohmann::json::parse(report_json(r));
  CHECK(j.at("now") == "2026-11-23T12:30:00Z");
  CHECK(j.at("days") == 7);
  CHECK(j.at("time_zone") == "UTC");
  const auto& five = j.at("windows").at(0);
  for (const char* key : {"account", "window", "open", "start", "resets_at", "limit",
                          "limit_source", "human", "agents", "used", "leased", "utilization",
                          "pace", "projected", "limit_at", "offered", "unused"}) {
    CHECK_MESSAGE(five.contains(key), key);
  }
  CHECK(five.at("window") == "five_hour");
  CHECK(five.at("account") == "default");
  CHECK(five.at("limit") == 100'000);
  CHECK(five.at("limit_source") == "config");
  CHECK(five.at("used") == 60'000);
  CHECK(five.at("start") == "2026-11-23T10:00:00Z");
  CHECK(five.at("resets_at") == "2026-11-23T15:00:00Z");
  CHECK(five.at("limit_at") == "2026-11-23T14:10:00Z");
  CHECK(five.at("unused") == 40'000);
  CHECK(j.at("windows").at(1).at("limit_at").is_null());
  CHECK(j.at("roles").at(0).at("role") == "builder");
  CHECK(j.at("roles").at(0).at("tokens").at("counted") == 35'000);
  CHECK(j.at("roles").at(0).at("tokens").at("cache_read") == 2'000);
  CHECK(j.at("roles").at(0).at("calls") == 2);
  CHECK(j.at("tasks").at(0).at("task") == "t-1");
  CHECK(j.at("day_totals").back().at("date") == "2026-11-23");
  CHECK(j.at("day_totals").back().at("total").at("counted") == 60'000);
  CHECK(j.at("day_totals").back().at("human").at("cache_read") == 1'000);

  const auto text = report_text(r);
  const auto windows_at = text.find("ACCOUNT");
  const auto roles_at = text.find("ROLE");
  const auto tasks_at = text.find("TASK");
  const auto days_at = text.find("DAY");
  REQUIRE(windows_at != std::string::npos);
  CHECK(windows_at < roles_at);
  CHECK(roles_at < tasks_at);
  CHECK(tasks_at < days_at);
  CHECK(text.find("five_hour") != std::string::npos);
  CHECK(text.find("60.0%") != std::string::npos);
  CHECK(text.find("limit at 11-23 14:10") != std::string::npos);
  CHECK(text.find("Mon 11-23 15:00 (in 2h30m)") != std::string::npos);
  CHECK(text.find("40k (80%)") != std::string::npos);  // unused of the offered 50k
  // Columns line up: every row of the window table has WINDOW at one place.
  const auto header_end = text.find('\n', windows_at);
  const auto column = text.find("WINDOW", windows_at) - windows_at;
  const auto row = text.find('\n', header_end + 1);
  CHECK(text.substr(header_end + 1, row - header_end - 1).find("five_hour") == column);
}

TEST_CASE("report: closed block, early window, reached limit, accounts, time zone") {
  SUBCASE("no five-hour block running") {
    auto ledger = sample_ledger();
    const Time now = utc(2026, 11, 23, 17);  // the block ended at 15:00
    auto r = build_report(ledger, now, 7);
    const auto* five = find_window(r, Window::five_hour);
    REQUIRE(five != nullptr);
    CHECK_FALSE(five->state.open);
    CHECK(five->state.used() == 0);
    CHECK(five->pace == 0);
    CHECK(five->projected == 0);
    CHECK_FALSE(five->limit_at.has_value());
    CHECK(report_text(r).find("no block") != std::string::npos);
  }
  SUBCASE("a rate says nothing in the first 10 minutes") {
    Ledger l(limits_config(100'000, 0));
    l.add(entry("e", utc(2026, 11, 23, 10, 1), 50'000, false, "builder"));
    auto r = build_report(l, utc(2026, 11, 23, 10, 5), 1);
    const auto* five = find_window(r, Window::five_hour);
    REQUIRE(five != nullptr);
    CHECK(five->projected == 50'000);
    CHECK_FALSE(five->limit_at.has_value());
    CHECK(five->offered == 0);  // no whole step yet
  }
  SUBCASE("a reached limit") {
    Ledger l(limits_config(100'000, 0));
    l.add(entry("e", utc(2026, 11, 23, 10, 1), 120'000, false, "builder"));
    const Time now = utc(2026, 11, 23, 11);
    auto r = build_report(l, now, 1);
    const auto* five = find_window(r, Window::five_hour);
    REQUIRE(five != nullptr);
    CHECK(five->utilization == doctest::Approx(120.0));
    CHECK(five->projected == 120'000);  // never below what is used
    REQUIRE(five->limit_at.has_value());
    CHECK(*five->limit_at == now);
    CHECK(report_text(r).find("limit reached") != std::string::npos);
  }
  SUBCASE("one account of two") {
    config::Accountant c = limits_config(100'000, 0);
    config::Account b;
    b.name = "b";
    b.five_hour = 50'000;
    c.accounts.push_back(b);
    Ledger l(c);
    l.add(entry("a", utc(2026, 11, 23, 10, 0), 10'000, false, "builder"));
    Entry other = entry("b", utc(2026, 11, 23, 10, 0), 20'000, false, "planner");
    other.account = "b";
    l.add(other);
    const Time now = utc(2026, 11, 23, 11);
    auto all = build_report(l, now, 1);
    REQUIRE(find_window(all, Window::five_hour, "default") != nullptr);
    CHECK(find_window(all, Window::five_hour, "default")->state.used() == 10'000);
    REQUIRE(find_window(all, Window::five_hour, "b") != nullptr);
    CHECK(find_window(all, Window::five_hour, "b")->state.used() == 20'000);
    CHECK(all.roles.size() == 2);
    auto only = build_report(l, now, 1, "b");
    CHECK(only.account == "b");
    for (const auto& w : only.windows) CHECK(w.state.account == "b");
    REQUIRE(only.roles.size() == 1);
    CHECK(only.roles[0].key == "planner");
    CHECK(only.roles[0].tokens.counted() == 20'000);
  }
  SUBCASE("day totals in a zone half an hour off the hour") {
    config::Accountant c = limits_config(100'000, 0);
    c.time_zone = "Asia/Kolkata";  // UTC+5:30, no DST
    Ledger l(c);
    l.add(entry("late", utc(2026, 11, 22, 18, 20), 1'000, true));   // 23:50 local, the 22nd
    l.add(entry("early", utc(2026, 11, 22, 18, 45), 2'000, true));  // 00:15 local, the 23rd
    auto r = build_report(l, utc(2026, 11, 23, 12), 2);
    std::int64_t on_22 = -1;
    std::int64_t on_23 = -1;
    for (const auto& d : r.day_totals) {
      if (d.date == "2026-11-22") on_22 = d.human.counted();
      if (d.date == "2026-11-23") on_23 = d.human.counted();
    }
    CHECK(on_22 == 1'000);
    CHECK(on_23 == 2'000);
  }
}

// ---------------------------------------------------------------- accounts

config::Account account(std::string provider, std::string name, std::int64_t five_hour,
                        std::int64_t seven_day, int concurrency) {
  config::Account a;
  a.provider = std::move(provider);
  a.name = std::move(name);
  a.five_hour = five_hour;
  a.seven_day = seven_day;
  a.concurrency = concurrency;
  return a;
}

Entry on(std::string account_id, std::string id, Time at, std::int64_t tokens, bool human = false,
         double cost = 0.25) {
  Entry e = entry(std::move(id), at, tokens, human, human ? "" : "builder");
  e.account = std::move(account_id);
  e.cost_usd = cost;
  return e;
}

// Two claude subscriptions, a codex one and an OpenAI key, configured out
// of provider order; Monday 2026-11-23, 12:30 UTC.
Ledger fleet_ledger() {
  config::Accountant c;
  c.enabled = true;
  c.time_zone = "UTC";
  c.accounts.push_back(account("claude", "max-1", 100'000, 1'000'000, 2));
  c.accounts.push_back(account("codex", "plus", 200'000, 0, 0));
  c.accounts.push_back(account("claude", "pro-2", 50'000, 500'000, 1));
  auto api = account("openai", "api", 0, 0, 0);
  api.budget_usd_per_day = 5;
  api.budget_usd_per_month = 50;
  c.accounts.push_back(api);
  Ledger l(c);
  l.add(on("claude/max-1", "h1", utc(2026, 11, 23, 10, 5), 20'000, true));  // the person's
  l.add(on("claude/max-1", "m1", utc(2026, 11, 23, 10, 30), 30'000));
  l.add(on("max-1", "m2", utc(2026, 11, 23, 11, 10), 10'000));  // a bare name counts too
  l.add(on("claude/pro-2", "p1", utc(2026, 11, 23, 11, 0), 20'000));
  l.add(on("codex/plus", "c1", utc(2026, 11, 23, 11, 30), 30'000));
  l.add(on("openai/api", "o1", utc(2026, 11, 23, 9, 0), 10'000, false, 1.5));
  l.add(on("openai/api", "o2", utc(2026, 11, 20, 9, 0), 10'000, false, 2.0));  // this month
  l.add(on("openai/api", "o3", utc(2026, 10, 30, 9, 0), 10'000, false, 4.0));  // last month
  l.refused("claude/pro-2", utc(2026, 11, 23, 15));
  return l;
}

const AccountReport* find_account(const Report& r, std::string_view id) {
  for (const auto& a : r.accounts) {
    if (a.id == id) return &a;
  }
  return nullptr;
}

TEST_CASE("report: per account and provider, headroom, share, rate limit, calls now") {
  auto ledger = fleet_ledger();
  const Time now = utc(2026, 11, 23, 12, 30);
  auto r = build_report(ledger, now, 7);

  // Grouped by provider, the first account's provider first.
  REQUIRE(r.accounts.size() == 4);
  CHECK(r.accounts[0].id == "claude/max-1");
  CHECK(r.accounts[1].id == "claude/pro-2");
  CHECK(r.accounts[2].id == "codex/plus");
  CHECK(r.accounts[3].id == "openai/api");
  // The window table in the same order.
  std::vector<std::string> window_accounts;
  for (const auto& w : r.windows) {
    if (window_accounts.empty() || window_accounts.back() != w.state.account) {
      window_accounts.push_back(w.state.account);
    }
  }
  CHECK(window_accounts == std::vector<std::string>{"max-1", "pro-2", "plus", "api"});

  // The fleet's counted tokens over 7 days: 40k + 20k + 30k + 20k (October's
  // 10k is older); the person's 20k is no part of it.
  const auto* max1 = find_account(r, "claude/max-1");
  const auto* pro2 = find_account(r, "claude/pro-2");
  const auto* plus = find_account(r, "codex/plus");
  const auto* api = find_account(r, "openai/api");
  REQUIRE(max1 != nullptr);
  REQUIRE(pro2 != nullptr);
  REQUIRE(plus != nullptr);
  REQUIRE(api != nullptr);
  CHECK(max1->agents.counted() == 40'000);
  CHECK(max1->calls == 2);
  CHECK(max1->share == doctest::Approx(100.0 * 40 / 110));
  CHECK(pro2->share == doctest::Approx(100.0 * 20 / 110));
  CHECK(plus->share == doctest::Approx(100.0 * 30 / 110));
  CHECK(api->share == doctest::Approx(100.0 * 20 / 110));

  // pro-2 has no use of the person's: the reserve is accountant.reserve,
  // 20% of the limit. five_hour 50k - 10k - 20k, seven_day 500k - 100k - 20k.
  const auto* pro_five = find_window(r, Window::five_hour, "pro-2");
  const auto* pro_week = find_window(r, Window::seven_day, "pro-2");
  REQUIRE(pro_five != nullptr);
  REQUIRE(pro_week != nullptr);
  CHECK(pro_five->reserve == 10'000);
  CHECK(pro_five->headroom == 20'000);
  CHECK(pro_week->headroom == 380'000);
  CHECK(pro2->headroom == 20'000);
  CHECK(pro2->headroom_window == Window::five_hour);
  // max-1: the person's use may hold back more than 20%; what is left is
  // the limit less that reserve and the 60k used.
  const auto* max_five = find_window(r, Window::five_hour, "max-1");
  REQUIRE(max_five != nullptr);
  REQUIRE(max_five->reserve.has_value());
  REQUIRE(max_five->headroom.has_value());
  CHECK(*max_five->reserve >= 20'000);
  CHECK(*max_five->headroom ==
        doctest::Approx(std::max<std::int64_t>(0, 100'000 - *max_five->reserve - 60'000))
            .epsilon(0.0001));
  CHECK(*max_five->headroom <= 20'000);
  // codex: only five_hour has a limit, 200k - 40k - 30k.
  CHECK(plus->headroom == 130'000);
  CHECK_FALSE(api->headroom.has_value());

  // The rate limit pro-2 met holds it until 15:00; the others are free.
  REQUIRE(pro2->limited_until.has_value());
  CHECK(*pro2->limited_until == utc(2026, 11, 23, 15));
  CHECK_FALSE(max1->limited_until.has_value());
  // Past the reset it is no longer shown.
  CHECK_FALSE(find_account(build_report(ledger, utc(2026, 11, 23, 15, 1), 7), "claude/pro-2")
                  ->limited_until.has_value());

  // The API key: today's $1.50 and this month's $3.50 of its budgets.
  CHECK(api->api);
  CHECK(api->spent_today_usd == doctest::Approx(1.5));
  CHECK(api->spent_month_usd == doctest::Approx(3.5));

  // Per provider: claude sums its two accounts.
  REQUIRE(r.providers.size() == 3);
  CHECK(r.providers[0].provider == "claude");
  CHECK(r.providers[0].accounts == 2);
  CHECK(r.providers[0].agents.counted() == 60'000);
  CHECK(r.providers[0].share == doctest::Approx(100.0 * 60 / 110));
  CHECK(r.providers[0].headroom == sat_add(*max1->headroom, std::int64_t{20'000}));
  CHECK(r.providers[0].concurrency == 3);
  CHECK(r.providers[1].provider == "codex");
  CHECK(r.providers[1].concurrency == 0);  // no cap
  CHECK(r.providers[2].spent_month_usd == doctest::Approx(3.5));

  SUBCASE("calls now from the live fleet") {
    count_in_use(
        r, std::vector<std::string>{"claude/max-1", "max-1", "codex/plus", "claude/nope", ""});
    CHECK(r.fleet_read);
    CHECK(find_account(r, "claude/max-1")->in_use == 2);
    CHECK(find_account(r, "claude/pro-2")->in_use == 0);
    CHECK(find_account(r, "codex/plus")->in_use == 1);
    CHECK(r.providers[0].in_use == 2);
    auto j = nlohmann::json::parse(report_json(r));
    CHECK(j.at("accounts").at(0).at("in_use") == 2);
    CHECK(j.at("providers").at(0).at("in_use") == 2);
    CHECK(j.at("live_fleet").at("read") == true);
    const auto text = report_text(r);
    CHECK(text.find("2 of 2") != std::string::npos);
    CHECK(text.find("1, no cap") != std::string::npos);
    CHECK(text.find("could not be read") == std::string::npos);
  }
  SUBCASE("the live fleet cannot be read") {
    count_in_use(r, std::nullopt, "no server at nats://127.0.0.1:4222");
    CHECK_FALSE(r.fleet_read);
    CHECK_FALSE(find_account(r, "claude/max-1")->in_use.has_value());
    auto j = nlohmann::json::parse(report_json(r));
    CHECK(j.at("accounts").at(0).at("in_use").is_null());
    CHECK(j.at("providers").at(0).at("in_use").is_null());
    CHECK(j.at("live_fleet").at("read") == false);
    CHECK(j.at("live_fleet").at("error") == "no server at nats://127.0.0.1:4222");
    CHECK(report_text(r).find("could not be read: no server") != std::string::npos);
  }
  SUBCASE("JSON") {
    auto j = nlohmann::json::parse(report_json(r));
    const auto& a = j.at("accounts").at(1);
    CHECK(a.at("account") == "pro-2");
    CHECK(a.at("id") == "claude/pro-2");
    CHECK(a.at("provider") == "claude");
    CHECK(a.at("headroom") == 20'000);
    CHECK(a.at("headroom_window") == "five_hour");
    CHECK(a.at("limited_until") == "2026-11-23T15:00:00Z");
    CHECK(a.at("concurrency") == 1);
    CHECK(a.at("agents").at("counted") == 20'000);
    CHECK(a.at("share_pct").get<double>() == doctest::Approx(100.0 * 20 / 110));
    CHECK_FALSE(a.contains("spent_today_usd"));  // a subscription
    const auto& five = a.at("windows").at(0);
    CHECK(five.at("window") == "five_hour");
    CHECK(five.at("limit") == 50'000);
    CHECK(five.at("used") == 20'000);
    CHECK(five.at("reserve") == 10'000);
    CHECK(five.at("headroom") == 20'000);
    CHECK(j.at("accounts").at(0).at("limited_until").is_null());
    CHECK(j.at("accounts").at(0).at("in_use").is_null());  // not counted yet
    CHECK(j.at("live_fleet").at("read") == false);
    CHECK(j.at("live_fleet").at("error").is_null());
    const auto& key = j.at("accounts").at(3);
    CHECK(key.at("headroom").is_null());
    CHECK(key.at("spent_today_usd").get<double>() == doctest::Approx(1.5));
    CHECK(key.at("budget_usd_per_month").get<double>() == doctest::Approx(50));
    const auto& claude = j.at("providers").at(0);
    CHECK(claude.at("provider") == "claude");
    CHECK(claude.at("accounts") == 2);
    CHECK(claude.at("agents").at("counted") == 60'000);
    // The window rows keep their keys and name the account's id too.
    bool seen = false;
    for (const auto& w : j.at("windows")) {
      if (w.at("account") != "pro-2" || w.at("window") != "five_hour") continue;
      seen = true;
      CHECK(w.at("account_id") == "claude/pro-2");
      CHECK(w.at("provider") == "claude");
      CHECK(w.at("headroom") == 20'000);
    }
    CHECK(seen);
  }
  SUBCASE("text") {
    const auto text = report_text(r);
    CHECK(text.find("HEADROOM") != std::string::npos);
    CHECK(text.find("claude/pro-2") != std::string::npos);
    CHECK(text.find("claude (2 accounts)") != std::string::npos);
    CHECK(text.find("codex (1 account)") != std::string::npos);
    CHECK(text.find("until Mon 11-23 15:00") != std::string::npos);
    CHECK(text.find("20k (5h)") != std::string::npos);
    CHECK(text.find("$1.50 of $5.00 today, $3.50 of $50.00 this month") != std::string::npos);
    CHECK(text.find("18.2%") != std::string::npos);              // pro-2's and the key's share
    CHECK(text.find("54.5%") != std::string::npos);              // claude's
    CHECK(text.find("could not be read") == std::string::npos);  // not asked
  }
  SUBCASE("one account shown, its share still of the whole fleet") {
    auto only = build_report(ledger, now, 7, "claude/pro-2");
    REQUIRE(only.accounts.size() == 1);
    CHECK(only.accounts[0].share == doctest::Approx(100.0 * 20 / 110));
    CHECK(report_text(only).find("(1 account)") == std::string::npos);  // one provider
  }
}

// ---------------------------------------------------------------- chart

struct PanelView {
  std::string body;
  double unused = -1;
  double offered = -1;
  double step_width = 0;
  double token_height = 0;
};

double attribute(const std::string& text, const std::string& name) {
  const auto at = text.find(name + "=\"");
  REQUIRE(at != std::string::npos);
  return std::stod(text.substr(at + name.size() + 2));
}

PanelView panel(const std::string& svg, std::string_view window) {
  PanelView p;
  const auto at = svg.find("data-window=\"" + std::string(window) + "\"");
  if (at == std::string::npos) return p;
  const auto start = svg.rfind("<g class=\"panel\"", at);
  p.body = svg.substr(start, svg.find("</g>", at) - start);
  p.unused = attribute(p.body, "data-unused");
  p.offered = attribute(p.body, "data-offered");
  p.step_width = attribute(p.body, "data-step-width");
  p.token_height = attribute(p.body, "data-token-height");
  return p;
}

// The d attribute of a panel's path of that class.
std::string path_of(const PanelView& p, const std::string& cls) {
  const auto at = p.body.find("class=\"" + cls + "\"");
  if (at == std::string::npos) return {};
  const auto d = p.body.find("d=\"", at) + 3;
  return p.body.substr(d, p.body.find('"', d) - d);
}

// Tokens the shading stands for: its area over the area one token of one
// step takes.
double shaded_tokens(const PanelView& p) {
  const auto d = path_of(p, "unused");
  double area = 0;
  for (auto m = d.find('M'); m != std::string::npos; m = d.find('M', m + 1)) {
    double x0 = 0, y0 = 0, x1 = 0, y1 = 0, x2 = 0;
    REQUIRE(std::sscanf(d.c_str() + m, "M%lf %lfH%lfV%lfH%lfZ", &x0, &y0, &x1, &y1, &x2) == 5);
    area += (x1 - x0) * (y0 - y1);
  }
  return area / (p.step_width * p.token_height);
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto i = text.find(what); i != std::string::npos; i = text.find(what, i + 1)) ++n;
  return n;
}

TEST_CASE("chart: a panel per window with a limit, the unused area shaded") {
  auto ledger = sample_ledger();
  const auto svg = chart_svg(ledger, utc(2026, 11, 23, 12, 30), 1);
  CHECK(svg.find("<svg") != std::string::npos);
  CHECK(svg.find("</svg>") != std::string::npos);
  CHECK(count(svg, "<g class=\"panel\"") == 2);  // sonnet has use but no limit
  CHECK(svg.find("data-window=\"seven_day_sonnet\"") == std::string::npos);
  CHECK(svg.find("human") != std::string::npos);
  CHECK(svg.find("agents") != std::string::npos);

  auto five = panel(svg, "five_hour");
  REQUIRE_FALSE(five.body.empty());
  // 144 steps of 3,333.3 offered, 3 of them used beyond it.
  CHECK(five.unused == 470'000);
  CHECK(five.offered == 480'000);
  CHECK(shaded_tokens(five) == doctest::Approx(470'000).epsilon(0.002));
  CHECK_FALSE(path_of(five, "human").empty());
  CHECK_FALSE(path_of(five, "agents").empty());
  CHECK(five.body.find("class=\"pace\"") != std::string::npos);
  CHECK(five.body.find("class=\"block\"") != std::string::npos);  // the block from 10:00
  CHECK(five.body.find("60.0% used") != std::string::npos);
  CHECK(five.body.find("data-account-id=\"claude/default\"") != std::string::npos);
  CHECK(five.body.find("claude/default \xC2\xB7 five_hour") != std::string::npos);  // the header
  // The projection to the reset: 60% in 2.5 of the block's 5 hours.
  CHECK(attribute(five.body, "data-projected") == doctest::Approx(1.2));
  CHECK(five.body.find("120% by the reset at this rate") != std::string::npos);
  CHECK(five.body.find("unused in this range 470k of 480k offered (98%)") != std::string::npos);

  auto week = panel(svg, "seven_day");
  REQUIRE_FALSE(week.body.empty());
  CHECK(week.unused == 139'881);  // 141 x 1M x 600 s / 604,800 s
  CHECK(shaded_tokens(week) == doctest::Approx(139'881).epsilon(0.002));
  // The weekly reset at Monday 00:00 lies in the last day: marked, and the
  // pace is drawn once per window instance.
  CHECK(count(week.body, "class=\"reset\"") == 1);
  CHECK(count(week.body, "class=\"pace\"") == 2);

  SUBCASE("long ranges draw coarser columns and shade the same area") {
    const auto month = chart_svg(ledger, utc(2026, 11, 23, 12, 30), 30);
    auto p = panel(month, "five_hour");
    REQUIRE_FALSE(p.body.empty());
    CHECK(month.find("columns of 50 minutes") != std::string::npos);
    // 4,320 steps, 4 of them used beyond the pace (11-22 09:00 is in range now).
    CHECK(p.unused == doctest::Approx(4316 * 100'000.0 / 30).epsilon(1e-6));
    CHECK(shaded_tokens(p) == doctest::Approx(p.unused).epsilon(0.002));
  }
}

TEST_CASE("chart: a window with no use shades the whole pace area") {
  config::Accountant c = limits_config(100'000, 0);
  c.accounts.front().name = "solo <&>";
  Ledger empty(c);
  const auto svg = chart_svg(empty, utc(2026, 11, 23, 12), 1);
  CHECK(count(svg, "<g class=\"panel\"") == 1);
  CHECK(svg.find("solo &lt;&amp;&gt;") != std::string::npos);
  auto five = panel(svg, "five_hour");
  REQUIRE_FALSE(five.body.empty());
  CHECK(path_of(five, "human").empty());
  CHECK(path_of(five, "agents").empty());
  CHECK(five.unused == five.offered);
  CHECK(five.offered == 480'000);  // 144 steps x 3,333.3
  CHECK(shaded_tokens(five) == doctest::Approx(480'000).epsilon(0.001));

  Ledger none(config::Accountant{});  // no limits at all: no panel, a hint
  const auto blank = chart_svg(none, utc(2026, 11, 23, 12), 1);
  CHECK(count(blank, "<g class=\"panel\"") == 0);
  CHECK(blank.find("No window has a limit") != std::string::npos);
}

// ---------------------------------------------------------------- statusline

TEST_CASE("statusline: Claude Code's JSON gives readings and a line, garbage an error") {
  const Time now = utc(2026, 11, 23, 12);
  const std::string input = R"({
    "hook_event_name": "Status",
    "session_id": "9f1c2a4e-1b7d-4c55-9a0e-3f0c1e2d4b6a",
    "transcript_path": "/home/me/.claude/projects/-home-me-src/9f1c2a4e.jsonl",
    "cwd": "/home/me/src",
    "model": {"id": "claude-opus-4-1-20250805", "display_name": "Opus 4.1"},
    "workspace": {"current_dir": "/home/me/src", "project_dir": "/home/me/src"},
    "version": "2.0.31",
    "output_style": {"name": "default"},
    "cost": {"total_cost_usd": 0.0123, "total_duration_ms": 45000},
    "rate_limits": {
      "five_hour": {"used_percentage": 42.4, "resets_at": 1795446000},
      "seven_day": {"used_percentage": 18},
      "seven_day_opus": {"used_percentage": 7.6, "resets_at": 1795446000000}
    }
  })";
  auto s = parse_statusline(input, "work", now);
  REQUIRE(s.ok());
  CHECK(s->model_id == "claude-opus-4-1-20250805");
  CHECK(s->model_name == "Opus 4.1");
  REQUIRE(s->readings.size() == 3);
  const auto& five = s->readings[0];
  CHECK(five.window == Window::five_hour);
  CHECK(five.utilization == doctest::Approx(42.4));
  REQUIRE(five.resets_at.has_value());
  CHECK(*five.resets_at == utc(2026, 11, 23, 15));
  CHECK(five.account == "work");
  CHECK(five.source == "statusline");
  CHECK(five.at == now);
  CHECK(s->readings[1].window == Window::seven_day);
  CHECK_FALSE(s->readings[1].resets_at.has_value());
  CHECK(s->readings[2].window == Window::seven_day_opus);
  REQUIRE(s->readings[2].resets_at.has_value());
  CHECK(*s->readings[2].resets_at == utc(2026, 11, 23, 15));  // milliseconds read as such
  CHECK(statusline_text(*s) == "Opus 4.1 \xC2\xB7 5h 42% \xC2\xB7 7d 18% \xC2\xB7 7d opus 8%");

  auto readings = statusline_readings(input, "", now);
  REQUIRE(readings.ok());
  CHECK(readings->size() == 3);

  SUBCASE("a reading calibrates the ledger's limit") {
    auto ledger = sample_ledger();
    auto at_noon = parse_statusline(
        R"({"rate_limits": {"five_hour": {"used_percentage": 30, "resets_at": 1795446000}}})", "",
        utc(2026, 11, 23, 12, 30));
    REQUIRE(at_noon.ok());
    REQUIRE(at_noon->readings.size() == 1);
    ledger.observe(at_noon->readings[0]);
    auto r = build_report(ledger, utc(2026, 11, 23, 12, 30), 1);
    const auto* w = find_window(r, Window::five_hour);
    REQUIRE(w != nullptr);
    CHECK(w->state.limit == 200'000);  // 60k were 30%
    CHECK(w->state.limit_source.rfind("calibrated", 0) == 0);
    CHECK(w->utilization == doctest::Approx(30.0));
  }
  SUBCASE("missing pieces are tolerated") {
    auto bare = parse_statusline(R"({"model": {"id": "claude-sonnet-4-5"}})", "", now);
    REQUIRE(bare.ok());
    CHECK(bare->readings.empty());
    CHECK(statusline_text(*bare) == "claude-sonnet-4-5");
    auto odd = parse_statusline(
        R"({"rate_limits": {"five_hour": {"used_percentage": "x"}, "seven_day": null}})", "", now);
    REQUIRE(odd.ok());
    CHECK(odd->readings.empty());
    CHECK(statusline_text(*odd) == "agency: no rate limits yet");
  }
  SUBCASE("a reset time past what a time point holds is dropped, not overflowed") {
    // Found by tests/fuzz (statusline).
    auto far = parse_statusline(
        R"({"rate_limits": {"five_hour": {"used_percentage": 5, "resets_at": 1e300},
                            "seven_day": {"used_percentage": 6, "resets_at": 99999999999}}})",
        "", now);
    REQUIRE(far.ok());
    REQUIRE(far->readings.size() == 2);
    CHECK_FALSE(far->readings[0].resets_at.has_value());
    CHECK_FALSE(far->readings[1].resets_at.has_value());
    CHECK(far->readings[0].utilization == doctest::Approx(5.0));
  }
  SUBCASE("not JSON, or not an object") {
    for (const char* bad : {"not json", "", "[1, 2]", "{\"rate_limits\": "}) {
      auto r = parse_statusline(bad, "", now);
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().code == errc::config);
      CHECK_FALSE(statusline_readings(bad, "", now).ok());
    }
  }
}

}  // namespace
}  // namespace agency::accounting
