#include <doctest/doctest.h>

#include "runtime/pipeline.hpp"

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>

#include "bus/clock.hpp"
#include "roles/accountant/sim.hpp"
#include "roles/auditor/audit.hpp"
#include "roles/auditor/auditor.hpp"
#include "roles/auditor/settings.hpp"
#include "tests/unit/roles/role_fixture.hpp"

namespace {

namespace fs = std::filesystem;
namespace voc = agency::vocabulary;
using namespace std::chrono_literals;
using agency::accounting::Entry;
using agency::accounting::Ledger;
using agency::audit::Input;
using agency::audit::Report;
using agency::audit::Rules;
using Time = std::chrono::system_clock::time_point;

// 2026-11-23T00:00:00Z: the audited day starts here.
const Time kFrom = Time(std::chrono::seconds(1'795'392'000));
const Time kTo = kFrom + 24h;

agency::v1::StageChange* move(agency::v1::Task& t, std::string_view from, std::string_view to,
                              Time at, const std::string& reason = {},
                              const std::string& actor = "agent-1") {
  auto* c = t.add_history();
  c->set_from(std::string(from));
  c->set_to(std::string(to));
  c->set_actor(actor);
  c->set_reason(reason);
  *c->mutable_at() = agency::to_timestamp(at);
  t.set_stage(std::string(to));
  return c;
}

// A task that went through the pipeline and closed as done at `at`.
agency::v1::Task done_task(const std::string& id, Time at) {
  agency::v1::Task t;
  t.set_id(id);
  move(t, "", "ready-for-prep", at - 4h);
  move(t, "ready-for-prep", "ready-for-dev", at - 3h);
  move(t, "ready-for-dev", "qa", at - 2h);
  move(t, "qa", "review", at - 1h);
  move(t, "review", voc::kDone, at);
  return t;
}

Entry agent_entry(const std::string& id, const std::string& task, const std::string& role,
                  std::int64_t input, Time at, const std::string& session = {},
                  std::int64_t cache_read = 0) {
  Entry e;
  e.id = id;
  e.at = at;
  e.account = "default";
  e.model = "claude-sonnet-4-5";
  e.engine = "claude";
  e.role = role;
  e.agent_id = role + "-1";
  e.task_id = task;
  e.session_id = session;
  e.tokens.input = input;
  e.tokens.cache_read = cache_read;
  return e;
}

Report audit_of(const std::vector<agency::v1::Task>& tasks, const Ledger& ledger,
                const Rules& rules = {}, std::map<std::string, std::int64_t> rotation = {}) {
  Input in;
  in.rotation_limits = std::move(rotation);
  in.from = kFrom;
  in.to = kTo;
  in.tasks = tasks;
  in.ledger = &ledger;
  in.time_zone = "UTC";
  return agency::audit::run(in, rules);
}

std::size_t count(const Report& r, const std::string& rule) {
  std::size_t n = 0;
  for (const auto& f : r.findings) n += f.rule == rule ? 1 : 0;
  return n;
}

const agency::audit::Finding* first(const Report& r, const std::string& rule) {
  for (const auto& f : r.findings) {
    if (f.rule == rule) return &f;
  }
  return nullptr;
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("audit: a done task over the role's median x the rule is a finding, at it none") {
  // Four done tasks; the builder spent 1,000 on three and 3,000 (3x the
  // median of 1,000 or 2,000) on the fourth.
  Ledger ledger(agency::config::Accountant{});
  std::vector<agency::v1::Task> tasks;
  const std::int64_t spent[] = {1000, 1000, 1000, 3000};
  for (int i = 0; i < 4; ++i) {
    const std::string id = "t-" + std::to_string(i);
    tasks.push_back(done_task(id, kFrom + std::chrono::hours(2 + i)));
    REQUIRE(ledger.add(agent_entry("e-" + id, id, "builder", spent[i], kFrom + 1h)));
    REQUIRE(ledger.add(agent_entry("p-" + id, id, "planner", 500, kFrom + 1h)));
  }
  // A task done before the window is outside it, whatever it spent.
  tasks.push_back(done_task("t-old", kFrom - 1h));
  REQUIRE(ledger.add(agent_entry("e-old", "t-old", "builder", 90'000, kFrom - 2h)));

  Rules rules;
  rules.token_outlier = 3.0;
  auto r = audit_of(tasks, ledger, rules);
  CHECK(r.done == 4);
  REQUIRE(r.roles.size() == 2);
  CHECK(r.roles[0].role == "builder");
  CHECK(r.roles[0].tasks == 4);
  CHECK(r.roles[0].median == 1000);
  CHECK(r.roles[0].max == 3000);
  CHECK(r.roles[0].total == 6000);
  // 3,000 is 3.0x the median: not over the rule.
  CHECK(count(r, "tokens") == 0);
  rules.token_outlier = 2.9;
  r = audit_of(tasks, ledger, rules);
  REQUIRE(count(r, "tokens") == 1);
  const auto* f = first(r, "tokens");
  CHECK(f->refs == std::vector<std::string>{"task t-3"});
  CHECK(f->text.find("builder spent 3,000 tokens on the task, 3.0x the role's median of 1,000") !=
        std::string::npos);
  // Without enough done tasks a role has no norm.
  rules.norm_tasks = 5;
  CHECK(count(audit_of(tasks, ledger, rules), "tokens") == 0);
}

TEST_CASE("audit: bounces are read in the pipeline the task carries") {
  Ledger ledger(agency::config::Accountant{});
  agency::v1::Task t;
  t.set_id("t-l");
  agency::pipeline::Pipeline("linted", {{"ready-for-dev", "builder", "", false, false},
                                        {"lint", "linter", "ready-for-dev", false, false},
                                        {"qa", "adversary", "ready-for-dev", false, false}})
      .stamp(t, true);
  move(t, "", "ready-for-dev", kFrom + 1h);
  move(t, "ready-for-dev", "lint", kFrom + 2h);
  move(t, "lint", "ready-for-dev", kFrom + 3h, "lint: trailing spaces");
  move(t, "ready-for-dev", "lint", kFrom + 4h);
  move(t, "lint", "qa", kFrom + 5h);
  auto r = audit_of({t}, ledger, Rules{});
  // The move into lint and on to qa go forward there; the one back is the
  // bounce.
  CHECK(r.bounces == 1);
  CHECK(r.bounced_tasks == 1);
}

TEST_CASE(
    "audit: a task sent back the rule's times is a finding with the reasons, once less none") {
  Ledger ledger(agency::config::Accountant{});
  agency::v1::Task t;
  t.set_id("t-b");
  move(t, "", "ready-for-prep", kFrom + 1h);
  move(t, "ready-for-prep", "ready-for-dev", kFrom + 2h);
  move(t, "ready-for-dev", "qa", kFrom + 3h);
  move(t, "qa", "ready-for-dev", kFrom + 4h, "the tests fail: test_login");
  t.set_bounces(1);
  // A person's move back is no bounce.
  move(t, "ready-for-dev", "ready-for-prep", kFrom + 5h, "rethink", "human:ann");
  Rules rules;
  rules.bounces = 2;
  auto r = audit_of({t}, ledger, rules);
  CHECK(r.bounces == 1);
  CHECK(r.bounced_tasks == 1);
  CHECK(count(r, "bounces") == 0);
  move(t, "ready-for-prep", "ready-for-dev", kFrom + 6h);
  move(t, "ready-for-dev", "qa", kFrom + 7h);
  move(t, "qa", "review", kFrom + 8h);
  move(t, "review", "ready-for-dev", kFrom + 9h, "the error message leaks the password");
  t.set_bounces(2);
  r = audit_of({t}, ledger, rules);
  CHECK(r.bounces == 2);
  REQUIRE(count(r, "bounces") == 1);
  const auto* f = first(r, "bounces");
  CHECK(f->refs == std::vector<std::string>{"task t-b"});
  CHECK(f->text.find("sent back 2 times") != std::string::npos);
  CHECK(f->text.find("qa -> ready-for-dev: the tests fail: test_login") != std::string::npos);
  CHECK(f->text.find("review -> ready-for-dev: the error message leaks") != std::string::npos);
  // Bounces before the window are not the window's.
  Input in;
  in.from = kFrom + 10h;
  in.to = kTo;
  in.tasks = {t};
  in.ledger = &ledger;
  CHECK(agency::audit::run(in, rules).findings.empty());
}

TEST_CASE("audit: a task the runaway guard blocked is a finding, another block is not") {
  Ledger ledger(agency::config::Accountant{});
  agency::v1::Task guarded;
  guarded.set_id("t-r");
  move(guarded, "", "ready-for-dev", kFrom + 1h);
  move(guarded, "ready-for-dev", voc::kBlocked, kFrom + 2h);
  guarded.set_blocked_reason("runaway guard: task t-r has spent 600,000 of its 500,000 tokens");
  agency::v1::Task other = guarded;
  other.set_id("t-o");
  other.set_blocked_reason("sent back 4 times (limit 3), needs a person");
  auto r = audit_of({guarded, other}, ledger);
  CHECK(r.blocked == 2);
  CHECK(r.runaway == 1);
  REQUIRE(count(r, "runaway") == 1);
  CHECK(first(r, "runaway")->refs == std::vector<std::string>{"task t-r"});
}

TEST_CASE("audit: an agent session under the cache-read share is a finding, at it none") {
  Ledger ledger(agency::config::Accountant{});
  // Five calls of session s-1: 100 input and 100 cache read each (50%);
  // s-2 reads 90% from the cache.
  for (int i = 0; i < 5; ++i) {
    const auto at = kFrom + std::chrono::minutes(10 * i);
    REQUIRE(
        ledger.add(agent_entry("s1-" + std::to_string(i), "t-1", "builder", 100, at, "s-1", 100)));
    REQUIRE(
        ledger.add(agent_entry("s2-" + std::to_string(i), "t-2", "builder", 10, at, "s-2", 90)));
  }
  Rules rules;
  rules.cache_read_share = 0.5;
  auto r = audit_of({}, ledger, rules);
  CHECK(r.sessions == 2);
  CHECK(count(r, "cache") == 0);  // 50% is not under 50%
  rules.cache_read_share = 0.51;
  r = audit_of({}, ledger, rules);
  REQUIRE(count(r, "cache") == 1);
  CHECK(first(r, "cache")->refs == std::vector<std::string>{"session s-1"});
  CHECK(first(r, "cache")->text.find("read 50% of its input from the prompt cache over 5 calls") !=
        std::string::npos);
  // Fewer calls than the rule asks for: no figure to judge.
  rules.session_calls = 6;
  CHECK(count(audit_of({}, ledger, rules), "cache") == 0);
}

TEST_CASE("audit: a session past the share of its rotation limit is a finding, at it none") {
  Ledger ledger(agency::config::Accountant{});
  // The builder rotates at 150,000: 135,000 is 90% of it. The reviewer
  // never rotates (0) and is measured against the context window.
  auto call = [&](const std::string& id, const std::string& role, const std::string& session,
                  std::int64_t context, Time at) {
    Entry e = agent_entry(id, "t-1", role, 100, at, session);
    e.context_tokens = context;
    REQUIRE(ledger.add(e));
  };
  call("c-1", "builder", "s-b", 40'000, kFrom + 1h);
  call("c-2", "builder", "s-b", 135'000, kFrom + 2h);
  call("c-3", "reviewer", "s-r", 180'000, kFrom + 2h);
  const std::map<std::string, std::int64_t> limits{{"builder", 150'000}, {"reviewer", 0}};
  Rules rules;
  rules.context_share = 0.9;
  auto r = audit_of({}, ledger, rules, limits);
  CHECK(count(r, "context") == 0);  // 90% and 180,000 of 200,000: not over 90%
  REQUIRE(r.session_figures.size() == 2);
  CHECK(r.session_figures[0].id == "s-b");
  CHECK(r.session_figures[0].context_max == 135'000);
  CHECK(r.session_figures[0].context_limit == 150'000);
  CHECK(r.session_figures[1].context_limit == agency::audit::kContextWindow);
  rules.context_share = 0.89;
  r = audit_of({}, ledger, rules, limits);
  REQUIRE(count(r, "context") == 2);
  CHECK(first(r, "context")->refs == std::vector<std::string>{"session s-b"});
  CHECK(first(r, "context")
            ->text.find("135,000 tokens of context, 90% of its rotation limit of "
                        "150,000") != std::string::npos);
  CHECK(agency::audit::markdown(r).find("| s-b | builder | 2 |") != std::string::npos);
}

TEST_CASE("audit: tool calls refused by permissions past the rule are a finding") {
  Ledger ledger(agency::config::Accountant{});
  Entry e = agent_entry("d-1", "t-1", "builder", 100, kFrom + 1h, "s-1");
  e.denials = 2;
  REQUIRE(ledger.add(e));
  REQUIRE(ledger.add(agent_entry("d-2", "t-2", "builder", 100, kFrom + 1h, "s-2")));
  Rules rules;
  rules.denials = 2;
  CHECK(count(audit_of({}, ledger, rules), "denials") == 0);  // 2 is not over 2
  rules.denials = 1;
  auto r = audit_of({}, ledger, rules);
  REQUIRE(count(r, "denials") == 1);
  CHECK(first(r, "denials")->refs == std::vector<std::string>{"session s-1"});
  CHECK(first(r, "denials")->text.find("refused 2 tool calls") != std::string::npos);
  CHECK(agency::audit::to_json(r)["sessions"][0]["denials"] == 2);
}

TEST_CASE("audit: failed calls and retries past the rule are a finding, with the last error") {
  Ledger ledger(agency::config::Accountant{});
  Entry retried = agent_entry("f-1", "t-1", "builder", 100, kFrom + 1h, "s-1");
  retried.retries = 1;
  REQUIRE(ledger.add(retried));
  Entry failed = agent_entry("f-2", "t-1", "builder", 0, kFrom + 2h, "s-1");
  failed.error = "claude reported an error (error_during_execution)";
  REQUIRE(ledger.add(failed));
  // A first call that failed has no session: it counts under its agent.
  Entry first_call = agent_entry("f-3", "t-2", "builder", 0, kFrom + 3h);
  first_call.error = "engine: timed out";
  REQUIRE(ledger.add(first_call));
  Rules rules;
  rules.errors = 2;
  auto r = audit_of({}, ledger, rules);
  CHECK(count(r, "errors") == 0);  // 1 failed call and 1 retry: not over 2
  CHECK(r.sessions == 1);          // the agent's bucket is no engine session
  rules.errors = 1;
  r = audit_of({}, ledger, rules);
  REQUIRE(count(r, "errors") == 1);
  CHECK(first(r, "errors")->refs == std::vector<std::string>{"session s-1"});
  CHECK(first(r, "errors")->text.find("1 failed calls and 1 retries") != std::string::npos);
  CHECK(first(r, "errors")->text.find("error_during_execution") != std::string::npos);
  rules.errors = 0;
  r = audit_of({}, ledger, rules);
  REQUIRE(count(r, "errors") == 2);
  CHECK(r.findings.front().refs == std::vector<std::string>{"agent builder-1"});
  CHECK(agency::audit::markdown(r).find("2 failed calls, 1 retries") != std::string::npos);
}

TEST_CASE("audit: hours idled while pacing allowed work count to the next call, past the rule") {
  Ledger ledger(agency::config::Accountant{});
  // builder-1 idle from 2 h before the window (counted from its start) to
  // its next engine call 3 h in; builder-2 idle 1 h, gone from the fleet
  // after (its spell known to end then); reviewer-1 idle 30 minutes
  // before the window's end, still idle.
  REQUIRE(ledger.add(agent_entry("n-1", "t-1", "builder", 100, kFrom + 3h)));
  Input in;
  in.from = kFrom;
  in.to = kTo;
  in.ledger = &ledger;
  in.time_zone = "UTC";
  in.unused = {{"builder-1", "builder", kFrom - 2h, std::nullopt},
               {"builder-2", "builder", kFrom + 5h, kFrom + 6h},
               {"builder-2", "builder", kFrom + 5h, kFrom + 6h},  // the same spell twice
               {"reviewer-1", "reviewer", kTo - 30min, std::nullopt}};
  Rules rules;
  rules.unused_hours = 4.0;
  auto r = agency::audit::run(in, rules);
  REQUIRE(r.idle.size() == 2);
  CHECK(r.idle[0].role == "builder");
  CHECK(r.idle[0].hours == doctest::Approx(4.0));
  CHECK(r.idle[0].agents == std::vector<std::string>{"builder-1", "builder-2"});
  CHECK(r.idle[1].hours == doctest::Approx(0.5));
  CHECK(count(r, "unused") == 0);  // 4 hours is not over 4
  rules.unused_hours = 3.9;
  r = agency::audit::run(in, rules);
  REQUIRE(count(r, "unused") == 1);
  CHECK(first(r, "unused")->refs == std::vector<std::string>{"agent builder-1", "agent builder-2"});
  CHECK(first(r, "unused")->text.find("builder agents idled 4.0 hours") != std::string::npos);
  CHECK(agency::audit::markdown(r).find("builder 4.0 h (2 agents); reviewer 0.5 h") !=
        std::string::npos);
}

TEST_CASE("audit: the person's refused requests are a finding, none without any") {
  Ledger ledger(agency::config::Accountant{});
  Entry h = agent_entry("h-1", "", "", 2000, kFrom + 9h + 5min);
  h.human = true;
  h.role.clear();
  h.agent_id.clear();
  REQUIRE(ledger.add(h));
  auto r = audit_of({}, ledger);
  CHECK(r.person.requests == 1);
  CHECK(r.person.tokens == 2000);
  CHECK(r.person.by_hour[9] == 1);
  CHECK(count(r, "person-refused") == 0);
  Entry refused = h;
  refused.id = "h-2";
  refused.api_error = true;
  refused.tokens = {};
  REQUIRE(ledger.add(refused));
  r = audit_of({}, ledger);
  CHECK(r.person.requests == 1);
  CHECK(r.person.refused == 1);
  REQUIRE(count(r, "person-refused") == 1);
  CHECK(first(r, "person-refused")->text.find("2026-11-23T09:05:00Z") != std::string::npos);
  // The windows where they hit a limit: the five-hour blocks holding a
  // refusal, and not the blocks without one.
  CHECK(r.person.limited_blocks == std::vector<std::string>{"2026-11-23T09:00:00Z"});
  Entry later = h;
  later.id = "h-3";
  later.at = kFrom + 20h;
  REQUIRE(ledger.add(later));
  Entry again = refused;
  again.id = "h-4";
  again.at = kFrom + 14h + 30min;
  REQUIRE(ledger.add(again));
  r = audit_of({}, ledger);
  CHECK(r.person.limited_blocks ==
        std::vector<std::string>{"2026-11-23T09:00:00Z", "2026-11-23T14:00:00Z"});
  CHECK(first(r, "person-refused")->text.find("in 2 five-hour blocks") != std::string::npos);
}

TEST_CASE("audit: last week's unused area over the oracle x the rule is a finding, at it none") {
  auto s = agency::accounting::default_sim_setup();
  s.keep_entries = true;
  s.days = 7;
  const auto week = agency::accounting::simulate(s, agency::accounting::SimPolicy::agency);
  Ledger ledger(agency::accounting::sim_accountant(s));
  for (const auto& e : week.entries) REQUIRE(ledger.add(e));
  Input in;
  in.to = s.start + 7 * 24h + 1h;
  in.from = in.to - 24h;
  in.ledger = &ledger;
  auto r = agency::audit::run(in, Rules{});
  REQUIRE(r.weeks.size() == 1);
  const double ratio = r.weeks[0].vs_oracle();
  CHECK(ratio > 1.0);
  Rules rules;
  rules.unused_vs_oracle = ratio;
  CHECK(count(agency::audit::run(in, rules), "capacity") == 0);
  rules.unused_vs_oracle = ratio - 0.01;
  r = agency::audit::run(in, rules);
  REQUIRE(count(r, "capacity") == 1);
  CHECK(first(r, "capacity")->text.find("the oracle's bound") != std::string::npos);
}

TEST_CASE("auditor: the audit file holds the figures, with the engine's suggestions or without") {
  agency::test::Bench bench("auditor");
  agency::config::auditor(bench.config).dir = bench.tmp.path() / "audits";
  agency::config::auditor(bench.config).time_zone = "UTC";
  Ledger ledger(agency::config::Accountant{});
  agency::v1::Task guarded;
  guarded.set_id("t-r");
  move(guarded, "", "ready-for-dev", kFrom + 1h);
  move(guarded, "ready-for-dev", voc::kBlocked, kFrom + 2h);
  guarded.set_blocked_reason("runaway guard: task t-r has spent too much");
  agency::v1::Brief brief;
  brief.set_id("schedule:nightly-audit:1");
  brief.set_task_id("t-audit");
  agency::v1::Task task;
  task.set_id("t-audit");
  const fs::path path = bench.tmp.path() / "audits" / "2026-11-24.md";

  agency::roles::Auditor auditor;
  SUBCASE("with suggestions") {
    auditor.take_report(audit_of({guarded}, ledger));
    CHECK_FALSE(auditor.precheck(bench.ctx, brief, task).has_value());
    auto turn = auditor.prepare(bench.ctx, brief, task);
    REQUIRE_MESSAGE(turn.ok(), turn.error().message);
    CHECK(turn->brief.context().find("**runaway**") != std::string::npos);
    CHECK(turn->prompt.find("blocked by the runaway guard") != std::string::npos);
    auto o = agency::test::outcome("pass", "1 suggestion");
    o.text =
        "- Raise t-r's budget or split it (runaway, task t-r).\n\n```agency\nverdict: pass\n```\n";
    auto d = auditor.finish(bench.ctx, *turn, o);
    REQUIRE_MESSAGE(d.ok(), d.error().message);
    CHECK(d->next_stage == voc::kDone);
    CHECK(d->attachments.at("audit") == path.string());
    const auto md = read(path);
    CHECK(md.find("# Audit, 2026-11-23T00:00:00Z to 2026-11-24T00:00:00Z") == 0);
    CHECK(md.find("1 blocked (1 by the runaway guard)") != std::string::npos);
    CHECK(md.find("## Suggestions\n\n- Raise t-r's budget") != std::string::npos);
    CHECK(md.find("```agency") == std::string::npos);
  }
  SUBCASE("an engine that gives no answer: the figures alone, with why") {
    auditor.take_report(audit_of({guarded}, ledger));
    auto turn = auditor.prepare(bench.ctx, brief, task);
    REQUIRE(turn.ok());
    auto d = auditor.finish(bench.ctx, *turn, agency::test::outcome("blocked", "no access"));
    REQUIRE(d.ok());
    CHECK(d->next_stage == voc::kDone);
    const auto md = read(path);
    CHECK(md.find("## Findings") != std::string::npos);
    CHECK(md.find("## Suggestions") == std::string::npos);
    CHECK(md.find("No suggestions: the engine reports blocked: no access.") != std::string::npos);
  }
  SUBCASE("suggestions off: written in precheck, no engine turn") {
    agency::config::auditor(bench.config).suggestions = false;
    auditor.take_report(audit_of({guarded}, ledger));
    auto d = auditor.precheck(bench.ctx, brief, task);
    REQUIRE(d.has_value());
    CHECK(d->next_stage == voc::kDone);
    CHECK(read(path).find("No suggestions: auditor.suggestions is false.") != std::string::npos);
  }
}

TEST_CASE("audit: names a publisher chose stay on one line of the file") {
  Ledger ledger(agency::config::Accountant{});
  std::vector<agency::v1::Task> tasks;
  for (int i = 0; i < 3; ++i) {
    const std::string id = "t-" + std::to_string(i);
    tasks.push_back(done_task(id, kFrom + 2h));
    REQUIRE(ledger.add(
        agent_entry("e-" + id, id, "bad\n| role", i == 2 ? 9000 : 1000, kFrom + 1h, "s\r\n1")));
  }
  const auto r = audit_of(tasks, ledger);
  const auto md = agency::audit::markdown(r);
  CHECK(md.find("| bad   role | 3 | 1,000 | 9,000 | 11,000 |\n") != std::string::npos);
  REQUIRE(count(r, "tokens") == 1);
  CHECK(first(r, "tokens")->text.find("bad   role spent 9,000") == 0);
  CHECK(md.find("bad\n") == std::string::npos);
}
