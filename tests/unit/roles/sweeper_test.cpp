// The sweeper's rules (roles/sweeper/sweep.hpp) on hand-built statuses,
// tasks, questions and times: no server, every decision checked.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "bus/clock.hpp"
#include "roles/sweeper/sweep.hpp"
#include "roles/sweeper/sweeper.hpp"

namespace agency::roles::sweep {
namespace {

using namespace std::chrono_literals;

const Time kT0 = Time(std::chrono::seconds(1'800'000'000));

v1::AgentStatus agent(const std::string& id, const std::string& state, const std::string& task,
                      Time since, Time heartbeat, Time progress = {}) {
  v1::AgentStatus s;
  s.set_agent_id(id);
  s.set_role(id.substr(0, id.find('-')));
  s.set_state(state);
  s.set_task_id(task);
  *s.mutable_since() = to_timestamp(since);
  *s.mutable_heartbeat_at() = to_timestamp(heartbeat);
  if (progress != Time{}) *s.mutable_last_progress_at() = to_timestamp(progress);
  if (!task.empty()) s.set_brief_ack_subject("$JS.ACK.AGENCY_BRIEFS.briefs-builder.1.7.7.1.0");
  return s;
}

v1::Task task(const std::string& id, const std::vector<std::string>& stages) {
  v1::Task t;
  t.set_id(id);
  t.set_title("task " + id);
  for (const auto& s : stages) {
    auto* c = t.add_history();
    c->set_to(s);
    c->set_actor("someone");
  }
  t.set_stage(stages.empty() ? "" : stages.back());
  return t;
}

Input input(Time now) {
  Input in;
  in.self_id = "sweeper-1";
  in.now = now;
  in.settings.stuck_after = 60s;
  in.settings.nudge_grace = 30s;
  in.settings.answer_after = 20s;
  in.settings.loop_limit = 3;
  return in;
}

std::vector<Action> of_kind(const Plan& plan, std::string_view kind) {
  std::vector<Action> out;
  for (const auto& a : plan.actions) {
    if (a.kind == kind) out.push_back(a);
  }
  return out;
}

}  // namespace

TEST_CASE("sweep: a stuck agent is nudged, then drained, then its brief redelivered") {
  const Time started = kT0;
  auto t = task("t-1", {"ready-for-prep", "ready-for-dev"});
  Memory memory;

  // 50 s without progress: below stuck_after, nothing.
  auto in = input(started + 50s);
  in.fleet = {agent("builder-1", "busy", "t-1", started, started + 50s, started)};
  in.tasks = {t};
  auto plan = sweep(in, memory);
  CHECK(of_kind(plan, kNudged).empty());
  REQUIRE(!plan.actions.empty());
  CHECK(plan.actions.front().kind == kSnapshot);

  // 70 s: nudged, with a reason that says how long.
  in = input(started + 70s);
  in.fleet = {agent("builder-1", "busy", "t-1", started, started + 70s, started)};
  in.tasks = {t};
  plan = sweep(in, plan.memory);
  auto nudged = of_kind(plan, kNudged);
  REQUIRE(nudged.size() == 1);
  CHECK(nudged[0].agent_id == "builder-1");
  CHECK(nudged[0].task_id == "t-1");
  CHECK(!nudged[0].reason.empty());
  CHECK(of_kind(plan, kDrained).empty());

  // Within the grace: no second nudge, no drain.
  in.now = started + 90s;
  in.fleet = {agent("builder-1", "busy", "t-1", started, started + 90s, started)};
  plan = sweep(in, plan.memory);
  CHECK(of_kind(plan, kNudged).empty());
  CHECK(of_kind(plan, kDrained).empty());

  // Past the grace without progress: drained.
  in.now = started + 105s;
  in.fleet = {agent("builder-1", "busy", "t-1", started, started + 105s, started)};
  plan = sweep(in, plan.memory);
  auto drained = of_kind(plan, kDrained);
  REQUIRE(drained.size() == 1);
  CHECK(drained[0].agent_id == "builder-1");
  CHECK(of_kind(plan, kRedelivered).empty());

  // Still on the task a grace after the drain: the brief is handed back and
  // the agent told to stop.
  in.now = started + 140s;
  in.fleet = {agent("builder-1", "busy", "t-1", started, started + 140s, started)};
  plan = sweep(in, plan.memory);
  auto redelivered = of_kind(plan, kRedelivered);
  REQUIRE(redelivered.size() == 1);
  CHECK(redelivered[0].agent_id == "builder-1");
  CHECK(redelivered[0].ack_subject.rfind("$JS.ACK.", 0) == 0);
  CHECK(redelivered[0].stop_agent);
}

TEST_CASE("sweep: progress after a nudge clears it") {
  const Time started = kT0;
  auto t = task("t-1", {"ready-for-dev"});
  auto in = input(started + 70s);
  in.fleet = {agent("builder-1", "busy", "t-1", started, started + 70s, started)};
  in.tasks = {t};
  auto plan = sweep(in, {});
  REQUIRE(of_kind(plan, kNudged).size() == 1);

  // It reported progress after the nudge: no drain past the grace.
  in.now = started + 105s;
  in.fleet = {agent("builder-1", "busy", "t-1", started, started + 105s, started + 80s)};
  plan = sweep(in, plan.memory);
  CHECK(of_kind(plan, kDrained).empty());
  CHECK(of_kind(plan, kNudged).empty());
}

TEST_CASE("sweep: an idle agent and the sweeper itself are never nudged") {
  auto in = input(kT0 + 1h);
  in.fleet = {agent("builder-1", "idle", "", kT0, kT0 + 1h),
              agent("sweeper-1", "busy", "t-9", kT0, kT0 + 1h)};
  in.tasks = {task("t-9", {"ready-for-dev"})};
  auto plan = sweep(in, {});
  CHECK(of_kind(plan, kNudged).empty());
}

TEST_CASE("sweep: a dead agent's brief is redelivered once, and only when nobody took it over") {
  const Time started = kT0;
  auto t = task("t-2", {"ready-for-prep", "ready-for-dev"});
  Memory memory = observe({}, {agent("builder-1", "busy", "t-2", started, started + 1s, started)},
                          started + 1s);

  // The entry expired: builder-1 is gone while it held t-2.
  auto in = input(started + 40s);
  in.fleet = {};
  in.tasks = {t};
  memory = observe(memory, in.fleet, in.now);
  auto plan = sweep(in, memory);
  auto redelivered = of_kind(plan, kRedelivered);
  REQUIRE(redelivered.size() == 1);
  CHECK(redelivered[0].agent_id == "builder-1");
  CHECK(redelivered[0].task_id == "t-2");
  CHECK(!redelivered[0].ack_subject.empty());

  // Once.
  in.now = started + 50s;
  plan = sweep(in, plan.memory);
  CHECK(of_kind(plan, kRedelivered).empty());

  SUBCASE("not while another agent works on the task") {
    Memory m = observe({}, {agent("builder-1", "busy", "t-2", started, started + 1s, started)},
                       started + 1s);
    auto in2 = input(started + 40s);
    in2.fleet = {agent("builder-2", "busy", "t-2", started + 30s, started + 40s, started + 39s)};
    in2.tasks = {t};
    m = observe(m, in2.fleet, in2.now);
    CHECK(of_kind(sweep(in2, m), kRedelivered).empty());
  }
  SUBCASE("not for a task that is done") {
    Memory m = observe({}, {agent("builder-1", "busy", "t-2", started, started + 1s, started)},
                       started + 1s);
    auto in2 = input(started + 40s);
    in2.tasks = {task("t-2", {"ready-for-dev", "qa", "review", "done"})};
    m = observe(m, in2.fleet, in2.now);
    CHECK(of_kind(sweep(in2, m), kRedelivered).empty());
  }
  SUBCASE("a stale heartbeat counts as dead") {
    auto in2 = input(started + 60s);
    in2.fleet = {agent("builder-1", "busy", "t-2", started, started + 10s, started + 5s)};
    in2.tasks = {t};
    Memory m = observe({}, in2.fleet, in2.now);
    auto got = of_kind(sweep(in2, m), kRedelivered);
    REQUIRE(got.size() == 1);
    CHECK(got[0].agent_id == "builder-1");
  }
}

TEST_CASE("sweep: a task going round in a loop is blocked with the reason") {
  auto in = input(kT0);
  in.tasks = {
      task("t-loop",
           {"ready-for-prep", "ready-for-dev", "qa", "ready-for-dev", "qa", "ready-for-dev"}),
      task("t-fine", {"ready-for-prep", "ready-for-dev", "qa", "ready-for-dev"}),
      task("t-done", {"ready-for-dev", "qa", "ready-for-dev", "qa", "ready-for-dev", "done"})};
  auto plan = sweep(in, {});
  auto loops = of_kind(plan, kLoopBlocked);
  REQUIRE(loops.size() == 1);
  CHECK(loops[0].task_id == "t-loop");
  CHECK(loops[0].reason.find("loop") != std::string::npos);
  CHECK(loops[0].reason.find("ready-for-dev") != std::string::npos);
  CHECK(loops[0].reason.find("3") != std::string::npos);

  // Not twice.
  CHECK(of_kind(sweep(in, plan.memory), kLoopBlocked).empty());
}

TEST_CASE("sweep: a question waited on past answer_after goes to the proxy, once") {
  auto in = input(kT0 + 30s);
  Waiting old_one;
  old_one.key = "question.builder-1.q-1";
  old_one.question.set_id("q-1");
  old_one.question.set_text("Which port?");
  old_one.question.set_role("planner");
  old_one.question.set_from_agent("builder-1");
  old_one.question.set_reply_to("_INBOX.x");
  *old_one.question.mutable_asked_at() = to_timestamp(kT0);
  Waiting young = old_one;
  young.key = "question.builder-1.q-2";
  young.question.set_id("q-2");
  *young.question.mutable_asked_at() = to_timestamp(kT0 + 25s);
  Waiting to_proxy = old_one;
  to_proxy.key = "question.builder-1.q-3";
  to_proxy.question.set_id("q-3");
  to_proxy.question.set_role("proxy");
  in.questions = {old_one, young, to_proxy};

  auto plan = sweep(in, {});
  auto asks = of_kind(plan, kAskProxy);
  REQUIRE(asks.size() == 1);
  CHECK(asks[0].question.key == "question.builder-1.q-1");
  CHECK(asks[0].question.question.text() == "Which port?");
  CHECK(of_kind(sweep(in, plan.memory), kAskProxy).empty());
}

TEST_CASE("sweep: token burn far above the role's median is flagged once") {
  auto in = input(kT0);
  in.usage = {{{"t-1", "builder"}, 1000},
              {{"t-2", "builder"}, 1200},
              {{"t-3", "builder"}, 900},
              {{"t-4", "builder"}, 9000},
              {{"t-1", "planner"}, 50000}};
  auto plan = sweep(in, {});
  auto burns = of_kind(plan, kBurnFlagged);
  REQUIRE(burns.size() == 1);
  CHECK(burns[0].task_id == "t-4");
  CHECK(burns[0].details.count("tokens") == 1);
  CHECK(!burns[0].reason.empty());
  CHECK(of_kind(sweep(in, plan.memory), kBurnFlagged).empty());

  SUBCASE("not with fewer than three other tasks of the role") {
    auto few = input(kT0);
    few.usage = {
        {{"t-1", "builder"}, 1000}, {{"t-2", "builder"}, 1000}, {{"t-4", "builder"}, 90000}};
    CHECK(of_kind(sweep(few, {}), kBurnFlagged).empty());
  }
}

TEST_CASE("sweep: the snapshot counts agents by state and queued briefs") {
  std::vector<v1::AgentStatus> fleet = {agent("builder-1", "busy", "t-1", kT0, kT0),
                                        agent("builder-2", "idle", "", kT0, kT0),
                                        agent("planner-1", "idle", "", kT0, kT0)};
  std::vector<Queue> queues = {{"builder", 4, 1}};
  auto reason = snapshot_reason(fleet, queues, kT0 + 1s, 15s);
  CHECK(reason.find("3 agents") == 0);
  CHECK(reason.find("1 busy") != std::string::npos);
  CHECK(reason.find("2 idle") != std::string::npos);
  CHECK(reason.find("builder 4 (1 in flight)") != std::string::npos);
}

TEST_CASE("sweep: its memory survives a round trip through JSON, and garbage is refused") {
  Memory m;
  Seen seen;
  seen.status = agent("builder-1", "busy", "t-1", kT0, kT0 + 1s, kT0);
  seen.seen_at = kT0 + 1s;
  seen.stage = "ready-for-dev";
  seen.history_size = 2;
  m.seen["builder-1"] = seen;
  m.nudged["builder-1"] = Nudge{"t-1", kT0 + 2s, kT0};
  m.drained["builder-2"] = Drain{"t-3", kT0 + 3s, "$JS.ACK.x"};
  m.redelivered = {"builder-9/t-8"};
  m.burns = {"t-4/builder"};
  m.loops = {"t-loop"};
  m.asked = {"question.builder-1.q-1"};
  auto back = memory_from_json(to_json(m));
  REQUIRE(back.has_value());
  CHECK(back->seen.at("builder-1").status.task_id() == "t-1");
  CHECK(back->seen.at("builder-1").stage == "ready-for-dev");
  CHECK(back->seen.at("builder-1").history_size == 2);
  CHECK(back->nudged.at("builder-1").at == kT0 + 2s);
  CHECK(back->drained.at("builder-2").ack_subject == "$JS.ACK.x");
  CHECK(back->redelivered == m.redelivered);
  CHECK(back->burns == m.burns);
  CHECK(back->loops == m.loops);
  CHECK(back->asked == m.asked);

  CHECK_FALSE(memory_from_json("not json").has_value());
  CHECK_FALSE(memory_from_json("[1,2]").has_value());
  CHECK_FALSE(memory_from_json(R"({"seen": {"a": {"role": 5}}})").has_value());
}

TEST_CASE("sweeper: has its name") { CHECK(Sweeper().name() == "sweeper"); }

}  // namespace agency::roles::sweep
