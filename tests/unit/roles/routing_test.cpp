// Routing a lease to an account (roles/accountant/routing.hpp): the first
// account of the role's list with room, each rule that passes one over,
// the earliest retry when none has room, and that the answer is always one
// of the accounts asked for.
#include <doctest/doctest.h>

#include <chrono>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "roles/accountant/routing.hpp"
#include "roles/accountant/settings.hpp"
#include "runtime/config.hpp"

namespace agency::accounting {
namespace {

using namespace std::chrono_literals;

Time utc(int year, int month, int day, int hour, int minute = 0) {
  using namespace std::chrono;
  auto d = sys_days(std::chrono::year(year) / month / day);
  return Time(d) + hours(hour) + minutes(minute);
}

config::Account account(std::string name, std::string provider, int concurrency = 0) {
  config::Account a;
  a.name = std::move(name);
  a.provider = std::move(provider);
  a.concurrency = concurrency;
  return a;
}

config::Accountant policy(std::vector<config::Account> accounts) {
  config::Accountant p;
  p.enabled = true;
  p.time_zone = "UTC";
  p.accounts = std::move(accounts);
  return p;
}

// A weekly window of `limit` tokens of which `used` are the agents'.
WindowState weekly(const config::Account& a, Time start, std::int64_t limit, std::int64_t used) {
  WindowState w;
  w.account = a.name;
  w.window = Window::seven_day;
  w.span = {start, start + 7 * 24h};
  w.limit = limit;
  w.agents = used;
  return w;
}

Entry spent(std::string id, const std::string& account, Time at, std::int64_t tokens,
            double usd = 0) {
  Entry e;
  e.id = std::move(id);
  e.account = account;
  e.at = at;
  e.model = "claude-sonnet-4-5";
  e.role = "builder";
  e.agent_id = "builder-1";
  e.tokens.input = tokens;
  e.cost_usd = usd;
  return e;
}

const Time kNow = utc(2026, 12, 2, 12);  // a Wednesday, noon
const Ask kAsk{Priority::scheduled, 10'000, "claude-sonnet-4-5"};

TEST_CASE("routing: the first account with room is chosen, in the role's order") {
  auto max1 = account("max-1", "claude");
  auto pro2 = account("pro-2", "claude");
  auto p = policy({max1, pro2});
  std::vector<Candidate> c(2);
  c[0].account = &max1;
  c[1].account = &pro2;
  c[0].windows = {weekly(max1, kNow - 48h, 1'000'000, 100'000)};
  c[1].windows = {weekly(pro2, kNow - 48h, 1'000'000, 100'000)};
  auto r = route(p, c, kAsk, kNow);
  REQUIRE(r.chosen.has_value());
  CHECK(*r.chosen == 0);
  CHECK(r.verdict.granted);
  CHECK(r.verdict.reason.starts_with("claude/max-1: granted"));
  CHECK(r.passed.empty());
}

TEST_CASE("routing: a rate-limited account is passed over at once, until its reset") {
  auto max1 = account("max-1", "claude");
  auto pro2 = account("pro-2", "claude");
  auto p = policy({max1, pro2});
  std::vector<Candidate> c(2);
  c[0].account = &max1;
  c[1].account = &pro2;
  c[0].limited_until = kNow + 30min;
  auto r = route(p, c, kAsk, kNow);
  REQUIRE(r.chosen.has_value());
  CHECK(*r.chosen == 1);
  REQUIRE(r.passed.size() == 1);
  CHECK(r.passed[0] == "claude/max-1: rate-limited until 2026-12-02T12:30:00Z");
  CHECK(r.verdict.reason.find("passed over claude/max-1") != std::string::npos);

  // After the reset the first account is used again.
  auto later = route(p, c, kAsk, kNow + 31min);
  REQUIRE(later.chosen.has_value());
  CHECK(*later.chosen == 0);
}

TEST_CASE("routing: every account limited defers until the earliest reset") {
  auto max1 = account("max-1", "claude");
  auto pro2 = account("pro-2", "claude");
  auto plus = account("plus", "codex");
  auto p = policy({max1, pro2, plus});
  std::vector<Candidate> c(3);
  c[0].account = &max1;
  c[1].account = &pro2;
  c[2].account = &plus;
  c[0].limited_until = kNow + 2h;
  c[1].limited_until = kNow + 40min;
  c[2].limited_until = kNow + 3h;
  auto r = route(p, c, kAsk, kNow);
  CHECK_FALSE(r.chosen.has_value());
  CHECK_FALSE(r.verdict.granted);
  REQUIRE(r.verdict.retry_at.has_value());
  CHECK(*r.verdict.retry_at == kNow + 40min);
  CHECK(r.passed.size() == 3);
  CHECK(r.verdict.reason.starts_with("no account has room: claude/max-1: rate-limited"));
}

TEST_CASE("routing: the codex account is the fallback once both claude accounts are limited") {
  auto max1 = account("max-1", "claude");
  auto pro2 = account("pro-2", "claude");
  auto plus = account("plus", "codex");
  auto p = policy({max1, pro2, plus});
  std::vector<Candidate> c(3);
  c[0].account = &max1;
  c[1].account = &pro2;
  c[2].account = &plus;
  c[0].limited_until = kNow + 2h;
  c[1].limited_until = kNow + 2h;
  auto r = route(p, c, kAsk, kNow);
  REQUIRE(r.chosen.has_value());
  CHECK(c[*r.chosen].account->id() == "codex/plus");
}

TEST_CASE("routing: a concurrency cap of 1 holds: a second call goes to the next account") {
  auto one = account("one", "claude", 1);
  auto other = account("other", "claude", 1);
  auto p = policy({one, other});
  std::vector<Candidate> c(2);
  c[0].account = &one;
  c[1].account = &other;
  c[0].running = 1;
  auto r = route(p, c, kAsk, kNow);
  REQUIRE(r.chosen.has_value());
  CHECK(*r.chosen == 1);
  CHECK(r.passed[0] == "claude/one: 1 calls running, its cap is 1");
  // Both full: deferred a few seconds, not until any reset.
  c[1].running = 1;
  auto full = route(p, c, kAsk, kNow);
  CHECK_FALSE(full.chosen.has_value());
  REQUIRE(full.verdict.retry_at.has_value());
  CHECK(*full.verdict.retry_at == kNow + kSlotRetry);
  // No cap (0): any number of calls.
  one.concurrency = 0;
  auto uncapped = route(p, c, kAsk, kNow);
  REQUIRE(uncapped.chosen.has_value());
  CHECK(*uncapped.chosen == 0);
}

TEST_CASE("routing: the person's reserve holds per account") {
  // The first account's window is used up to its reserve by the person:
  // an interactive ask goes to the second account, whose reserve is free.
  auto max1 = account("max-1", "claude");
  auto pro2 = account("pro-2", "claude");
  auto p = policy({max1, pro2});
  p.reserve = 0.2;
  std::vector<Candidate> c(2);
  c[0].account = &max1;
  c[1].account = &pro2;
  auto mine = weekly(max1, kNow - 48h, 1'000'000, 0);
  mine.human = 795'000;  // 5,000 short of the reserve's edge
  c[0].windows = {mine};
  c[1].windows = {weekly(pro2, kNow - 48h, 1'000'000, 0)};
  Ask ask{Priority::interactive, 10'000, "claude-sonnet-4-5"};
  auto r = route(p, c, ask, kNow);
  REQUIRE(r.chosen.has_value());
  CHECK(*r.chosen == 1);
  REQUIRE(r.passed.size() == 1);
  CHECK(r.passed[0].find("the human's reserve") != std::string::npos);
  // The first account alone: deferred, the reserve untouched.
  auto alone = route(p, std::span(c).first(1), ask, kNow);
  CHECK_FALSE(alone.chosen.has_value());
}

TEST_CASE("routing: an API account past its day's budget waits for the next day") {
  auto key = account("team-key", "openai");
  key.budget_usd_per_day = 5;
  auto p = policy({key});
  std::vector<Candidate> c(1);
  c[0].account = &key;
  c[0].spent_today_usd = 5.25;
  c[0].day_end = utc(2026, 12, 3, 0);
  auto r = route(p, c, kAsk, kNow);
  CHECK_FALSE(r.chosen.has_value());
  REQUIRE(r.verdict.retry_at.has_value());
  CHECK(*r.verdict.retry_at == utc(2026, 12, 3, 0));
  // One account to choose from: its reason as it always reads.
  CHECK(r.verdict.reason == "spent $5.25 of its $5.00 today");
  CHECK(r.passed[0] == "openai/team-key: spent $5.25 of its $5.00 today");
}

TEST_CASE("routing: the ledger's spend, refusals and running calls make the candidate") {
  auto key = account("team-key", "openai");
  key.budget_usd_per_day = 5;
  key.budget_usd_per_month = 50;
  auto max1 = account("max-1", "claude", 2);
  auto p = policy({max1, key});
  Ledger ledger(p);
  ledger.add(spent("a", "openai/team-key", utc(2026, 12, 2, 9), 1000, 2.5));
  ledger.add(spent("b", "team-key", utc(2026, 12, 1, 9), 1000, 10));  // yesterday: this month only
  ledger.add(spent("c", "claude/max-1", utc(2026, 12, 2, 9), 5000));
  ledger.refused("claude/max-1", kNow + 10min);
  ledger.lease("l1", {"max-1", "claude-sonnet-4-5", "t-1", 100, kNow + 30min, "builder-1"});

  auto api = candidate(ledger, p, p.accounts[1], kNow);
  CHECK(api.spent_today_usd == doctest::Approx(2.5));
  CHECK(api.spent_month_usd == doctest::Approx(12.5));
  CHECK(api.day_end == utc(2026, 12, 3, 0));
  CHECK(api.month_end == utc(2027, 1, 1, 0));

  auto sub = candidate(ledger, p, p.accounts[0], kNow);
  CHECK(sub.running == 1);
  REQUIRE(sub.limited_until.has_value());
  CHECK(*sub.limited_until == kNow + 10min);
  CHECK_FALSE(ledger.limited_until("max-1", kNow + 11min).has_value());
  // A later, earlier reset does not shorten the refusal.
  ledger.refused("max-1", kNow + 5min);
  CHECK(*ledger.limited_until("max-1", kNow) == kNow + 10min);
  // An agent's unsettled lease ends with it: its slot is free again.
  ledger.lease("l2", {"max-1", "claude-sonnet-4-5", "t-2", 100, kNow + 30min, "builder-2"});
  CHECK(ledger.running("max-1") == 2);
  CHECK(ledger.holders() == std::set<std::string>{"builder-1", "builder-2"});
  CHECK(ledger.release("builder-2") == 1);
  CHECK(ledger.release("builder-2") == 0);
  CHECK(ledger.running("max-1") == 1);
  // A refusal of an account nobody configured limits none (it is not the
  // first account's, as unnamed usage would be).
  ledger.refused("claude/ghost", kNow + 1h);
  ledger.refused("ghost", kNow + 1h);
  CHECK_FALSE(ledger.limited_until("team-key", kNow).has_value());
  CHECK(*ledger.limited_until("max-1", kNow) == kNow + 10min);
}

TEST_CASE("routing: a lease can only be answered with an account the role allows") {
  // By construction: allowed_accounts keeps only configured accounts of the
  // role's own list, and route() answers with an index into them. Checked
  // here over many random states and random asks.
  auto parsed = config::parse(R"(accountant:
  accounts:
    - {name: max-1, provider: claude, plan: max20}
    - {name: pro-2, provider: claude, plan: pro}
    - {name: plus, provider: codex, plan: plus}
    - {name: other, provider: claude, plan: pro}
roles:
  builder:
    engines: [claude/max-1, claude/pro-2, codex/plus]
)",
                              "/srv/agency.yaml");
  REQUIRE(parsed.ok());
  const std::vector<std::string> role_list = {"claude/max-1", "claude/pro-2", "codex/plus"};

  // An agent asking for an account outside its role's list gets none of it.
  std::vector<std::string> asked = {"claude/other", "claude/nope", "codex/plus", "gemini/plus"};
  auto allowed = allowed_accounts(*parsed, "builder", asked, "");
  REQUIRE(allowed.accounts.size() == 1);
  CHECK(allowed.accounts[0]->id() == "codex/plus");
  REQUIRE(allowed.unknown.size() == 3);
  CHECK(allowed.unknown[0] == "claude/other: not among roles.builder.engines");
  CHECK(allowed.unknown[1] == "claude/nope: no such account");

  std::mt19937 rng(23);
  for (int round = 0; round < 500; ++round) {
    std::vector<std::string> ask_for;
    for (const char* id : {"claude/max-1", "claude/pro-2", "codex/plus", "claude/other"}) {
      if (rng() % 2 == 0) ask_for.emplace_back(id);
    }
    if (ask_for.empty()) continue;  // the lease names none: the next case
    auto a = allowed_accounts(*parsed, "builder", ask_for, "");
    std::vector<Candidate> c;
    for (const auto* acc : a.accounts) {
      Candidate k;
      k.account = acc;
      if (rng() % 3 == 0) k.limited_until = kNow + 1h;
      k.running = static_cast<int>(rng() % 12);
      c.push_back(k);
    }
    auto r = route(config::accountant(*parsed), c, kAsk, kNow);
    if (!r.chosen) continue;
    REQUIRE(*r.chosen < c.size());
    const std::string chosen = c[*r.chosen].account->id();
    CHECK(std::find(ask_for.begin(), ask_for.end(), chosen) != ask_for.end());
    CHECK(std::find(role_list.begin(), role_list.end(), chosen) != role_list.end());
  }
}

TEST_CASE("routing: a lease naming no accounts spends the one it names, else the first") {
  auto parsed = config::parse(R"(accountant:
  accounts:
    - {name: work}
    - {name: home}
)",
                              "/srv/agency.yaml");
  REQUIRE(parsed.ok());
  auto none = allowed_accounts(*parsed, "builder", {}, "");
  REQUIRE(none.accounts.size() == 1);
  CHECK(none.accounts[0]->name == "work");
  auto named = allowed_accounts(*parsed, "builder", {}, "home");
  REQUIRE(named.accounts.size() == 1);
  CHECK(named.accounts[0]->name == "home");
}

}  // namespace
}  // namespace agency::accounting
