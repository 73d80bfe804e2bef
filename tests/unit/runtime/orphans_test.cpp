// When a dead agent's brief may be handed back (runtime/orphans.hpp): the
// window in which the server cannot have redelivered it, and the fleet.
#include "runtime/orphans.hpp"

#include <doctest/doctest.h>

#include "bus/clock.hpp"

namespace agency {
namespace {

using namespace std::chrono_literals;
using orphans::Clock;

const Clock::time_point kNow = Clock::time_point(std::chrono::seconds(1'800'000'000));

v1::AgentStatus held(Clock::duration progress_age) {
  v1::AgentStatus s;
  s.set_agent_id("builder-1");
  s.set_role("builder");
  s.set_state("busy");
  s.set_task_id("t-1");
  s.set_pid(4242);
  s.set_brief_ack_subject("$JS.ACK.AGENCY_BRIEFS.brief-builder.1.7.9.1800000000000000000.0");
  *s.mutable_brief_progress_at() = to_timestamp(kNow - progress_age);
  return s;
}

TEST_CASE("orphans: a brief delivered or extended well within the ack wait is handed back") {
  auto v = orphans::judge(held(5s), {}, kNow, 30s);
  CHECK(v.hand_back);
  CHECK(v.why.find("still the current one") != std::string::npos);
}

TEST_CASE("orphans: near or past the ack wait the server may have redelivered it: no NAK") {
  // 30 s ack wait, 2 s margin: 27.9 s is the last safe moment.
  CHECK(orphans::judge(held(27s), {}, kNow, 30s).hand_back);
  CHECK_FALSE(orphans::judge(held(28s), {}, kNow, 30s).hand_back);
  auto late = orphans::judge(held(45s), {}, kNow, 30s);
  CHECK_FALSE(late.hand_back);
  CHECK(late.why.find("may have redelivered") != std::string::npos);
}

TEST_CASE("orphans: a long ack wait counts only as long as duplicates are dropped") {
  // ack wait 10 min, but the claim is remembered 2 min: 119 s is too late.
  CHECK(orphans::judge(held(100s), {}, kNow, 600s).hand_back);
  CHECK_FALSE(orphans::judge(held(119s), {}, kNow, 600s).hand_back);
}

TEST_CASE("orphans: another agent working on the task means the brief moved on") {
  v1::AgentStatus other;
  other.set_agent_id("builder-2");
  other.set_state("busy");
  other.set_task_id("t-1");
  auto v = orphans::judge(held(1s), {held(1s), other}, kNow, 30s);
  CHECK_FALSE(v.hand_back);
  CHECK(v.why.find("builder-2") != std::string::npos);
  // Its own entry, and idle agents, do not count.
  other.set_state("idle");
  CHECK(orphans::judge(held(1s), {held(1s), other}, kNow, 30s).hand_back);
}

TEST_CASE("orphans: no brief, not busy, or no progress time: nothing is handed back") {
  auto idle = held(1s);
  idle.set_state("idle");
  CHECK_FALSE(orphans::judge(idle, {}, kNow, 30s).hand_back);
  // Rate limited: it handed the brief back with a delay itself.
  auto limited = held(1s);
  limited.set_state("rate-limited");
  CHECK_FALSE(orphans::judge(limited, {}, kNow, 30s).hand_back);
  auto nameless = held(1s);
  nameless.clear_brief_ack_subject();
  CHECK_FALSE(orphans::judge(nameless, {}, kNow, 30s).hand_back);
  auto older = held(1s);
  older.clear_brief_progress_at();
  auto v = orphans::judge(older, {}, kNow, 30s);
  CHECK_FALSE(v.hand_back);
  CHECK(v.why.find("ack wait") != std::string::npos);
}

TEST_CASE("orphans: the event names who stopped, how far it got and that the brief went back") {
  auto s = held(1s);
  s.set_engine("scripted");
  s.set_last_progress("tool: Edit");
  v1::Task task;
  task.set_id("t-1");
  task.set_stage("ready-for-dev");
  auto e = orphans::interrupted_event(s, task, "builder-1", "the agent started again", kNow);
  CHECK(e.kind() == "interrupted");
  CHECK(e.from_stage() == "ready-for-dev");
  CHECK(e.to_stage() == "ready-for-dev");
  CHECK(e.reason().find("builder-1 (pid 4242") != std::string::npos);
  CHECK(e.reason().find("tool: Edit") != std::string::npos);
  CHECK(e.reason().find("handed back") != std::string::npos);
  CHECK(orphans::claim_id(s.brief_ack_subject()) == "interrupted:" + s.brief_ack_subject());
}

v1::Task task_through(const std::vector<std::pair<std::string, Clock::time_point>>& changes) {
  v1::Task t;
  t.set_id("t-1");
  t.set_stage("ready-for-prep");
  for (const auto& [to, at] : changes) {
    auto* h = t.add_history();
    h->set_from(t.stage());
    h->set_to(to);
    *h->mutable_at() = to_timestamp(at);
    t.set_stage(to);
  }
  return t;
}

TEST_CASE("orphans: the brief's stage and attempt tell whether the task moved on, not times") {
  auto s = held(1s);
  *s.mutable_since() = to_timestamp(kNow - 10s);
  s.set_brief_stage("ready-for-dev");
  s.set_brief_attempt(1);
  // The builder went busy waiting for the record, which the planner wrote
  // after it: the change that sent the brief is later than since.
  auto sent = task_through({{"ready-for-dev", kNow - 9s}});
  CHECK_FALSE(orphans::moved_on(s, sent).has_value());
  // Still behind the brief (the planner has not written it yet).
  CHECK_FALSE(orphans::moved_on(s, task_through({})).has_value());
  // Past it: on to qa, or back in the stage for a second attempt.
  auto on = orphans::moved_on(s, task_through({{"ready-for-dev", kNow - 9s}, {"qa", kNow - 5s}}));
  REQUIRE(on.has_value());
  CHECK(on->find("moved on from ready-for-dev attempt 1") != std::string::npos);
  CHECK(on->find("at qa now") != std::string::npos);
  CHECK(orphans::moved_on(
            s, task_through(
                   {{"ready-for-dev", kNow - 9s}, {"qa", kNow - 5s}, {"ready-for-dev", kNow - 3s}}))
            .has_value());
  // The second attempt's holder has not been overtaken by that record.
  s.set_brief_attempt(2);
  CHECK_FALSE(orphans::moved_on(s, task_through({{"ready-for-dev", kNow - 9s},
                                                 {"qa", kNow - 5s},
                                                 {"ready-for-dev", kNow - 3s}}))
                  .has_value());
}

TEST_CASE("orphans: an older agent's status without the brief's stage is judged by time") {
  auto s = held(1s);
  *s.mutable_since() = to_timestamp(kNow - 10s);
  CHECK_FALSE(orphans::moved_on(s, task_through({{"ready-for-dev", kNow - 11s}})).has_value());
  auto later = orphans::moved_on(s, task_through({{"ready-for-dev", kNow - 11s}, {"qa", kNow}}));
  REQUIRE(later.has_value());
  CHECK(later->find("(to qa)") != std::string::npos);
}

TEST_CASE("orphans: an interruption counts only until the task moves") {
  v1::TaskEvent created, interrupted, moved;
  created.set_kind("created");
  interrupted.set_kind("interrupted");
  interrupted.set_reason("first");
  moved.set_kind("stage-changed");
  CHECK(orphans::interruption_since_last_move({created}) == nullptr);
  std::vector<v1::TaskEvent> now{created, interrupted};
  REQUIRE(orphans::interruption_since_last_move(now) != nullptr);
  CHECK(orphans::interruption_since_last_move(now)->reason() == "first");
  CHECK(orphans::interruption_since_last_move({created, interrupted, moved}) == nullptr);
}

}  // namespace
}  // namespace agency
