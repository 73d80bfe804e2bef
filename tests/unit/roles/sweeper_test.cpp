// The sweeper's rules (roles/sweeper/sweep.hpp) on hand-built statuses,
// tasks, questions and times: no server, every decision checked.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "roles/sweeper/settings.hpp"
#include "roles/sweeper/sweep.hpp"
#include "roles/sweeper/sweeper.hpp"

namespace agency::roles::sweep {
namespace {

using namespace std::chrono_literals;

const Time kT0 = Time(std::chrono::seconds(1'800'000'000));
const std::string kAck = "$JS.ACK.AGENCY_BRIEFS.briefs-builder.1.7.7.1.0";

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
  if (!task.empty()) s.set_brief_ack_subject(kAck);
  return s;
}

void add_stage(v1::Task& t, const std::string& to, Time at = {}) {
  auto* c = t.add_history();
  c->set_from(t.stage());
  c->set_to(to);
  c->set_actor("someone");
  if (at != Time{}) *c->mutable_at() = to_timestamp(at);
  t.set_stage(to);
}

v1::Task task(const std::string& id, const std::vector<std::string>& stages) {
  v1::Task t;
  t.set_id(id);
  t.set_title("task " + id);
  for (const auto& s : stages) add_stage(t, s);
  return t;
}

// stuck after 60 s, a 30 s grace, stale after 15 s, answer after 20 s,
// loops at 3 entries, burn at 5x the median.
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

// Every action but the snapshot.
std::vector<Action> acts(const Plan& plan) {
  std::vector<Action> out;
  for (const auto& a : plan.actions) {
    if (a.kind != kSnapshot) out.push_back(a);
  }
  return out;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A builder busy on t-1 since kT0, without progress since then, heartbeat
// fresh at `now`; one walk at `now`.
Plan walk_stuck(Time now, Memory memory, Time progress = kT0) {
  auto in = input(now);
  in.fleet = {agent("builder-1", "busy", "t-1", kT0, now, progress)};
  in.tasks = {task("t-1", {"ready-for-prep", "ready-for-dev"})};
  return sweep(in, std::move(memory));
}

Waiting question(const std::string& id, Time asked_at, const std::string& role = "planner") {
  Waiting w;
  w.key = "question.builder-1." + id;
  w.question.set_id(id);
  w.question.set_text("Which port?");
  w.question.set_role(role);
  w.question.set_from_agent("builder-1");
  w.question.set_from_role("builder");
  w.question.set_task_id("t-1");
  w.question.set_reply_to("_INBOX.x");
  *w.question.mutable_asked_at() = to_timestamp(asked_at);
  return w;
}

}  // namespace

TEST_CASE("sweep: a stuck agent is nudged, then drained, then its brief redelivered") {
  // Below stuck_after: nothing but the snapshot, which comes first.
  auto plan = walk_stuck(kT0 + 59s, {});
  REQUIRE(!plan.actions.empty());
  CHECK(plan.actions.front().kind == kSnapshot);
  CHECK(acts(plan).empty());

  // No progress for stuck_after: nudged, the reason saying how long.
  plan = walk_stuck(kT0 + 60s, plan.memory);
  REQUIRE(acts(plan).size() == 1);
  auto nudged = of_kind(plan, kNudged);
  REQUIRE(nudged.size() == 1);
  CHECK(nudged[0].agent_id == "builder-1");
  CHECK(nudged[0].task_id == "t-1");
  CHECK(has(nudged[0].reason, "without progress for 60 s"));
  CHECK(nudged[0].details.at("idle_seconds") == "60");
  CHECK_FALSE(nudged[0].stop_agent);
  REQUIRE(plan.memory.nudged.count("builder-1") == 1);
  CHECK(plan.memory.nudged.at("builder-1").at == kT0 + 60s);

  // Within the grace: no second nudge, no drain.
  plan = walk_stuck(kT0 + 89s, plan.memory);
  CHECK(acts(plan).empty());

  // The grace over without progress: drained.
  plan = walk_stuck(kT0 + 90s, plan.memory);
  REQUIRE(acts(plan).size() == 1);
  auto drained = of_kind(plan, kDrained);
  REQUIRE(drained.size() == 1);
  CHECK(drained[0].agent_id == "builder-1");
  CHECK(drained[0].task_id == "t-1");
  CHECK(has(drained[0].reason, "since it was nudged"));
  CHECK(plan.memory.nudged.empty());
  REQUIRE(plan.memory.drained.count("builder-1") == 1);
  CHECK(plan.memory.drained.at("builder-1").ack_subject == kAck);
  const Memory after_drain = plan.memory;

  SUBCASE("still on the task a grace after the drain: handed back, the agent stopped") {
    plan = walk_stuck(kT0 + 119s, after_drain);
    CHECK(acts(plan).empty());

    plan = walk_stuck(kT0 + 120s, plan.memory);
    REQUIRE(acts(plan).size() == 1);
    auto redelivered = of_kind(plan, kRedelivered);
    REQUIRE(redelivered.size() == 1);
    CHECK(redelivered[0].agent_id == "builder-1");
    CHECK(redelivered[0].task_id == "t-1");
    CHECK(redelivered[0].ack_subject == kAck);
    CHECK(redelivered[0].stop_agent);
    CHECK(redelivered[0].details.at("cause") == "stuck");
    CHECK(has(redelivered[0].reason, "after it was drained"));
    CHECK(plan.memory.drained.empty());
    CHECK(plan.memory.redelivered.count("builder-1/t-1") == 1);

    // Told to stop and still reporting the task: not nudged over again.
    plan = walk_stuck(kT0 + 300s, plan.memory);
    CHECK(acts(plan).empty());
  }
  SUBCASE("gone stale after the drain: handed back at once") {
    auto in = input(kT0 + 100s);
    in.fleet = {agent("builder-1", "draining", "t-1", kT0, kT0 + 84s, kT0)};
    in.tasks = {task("t-1", {"ready-for-prep", "ready-for-dev"})};
    plan = sweep(in, after_drain);
    auto redelivered = of_kind(plan, kRedelivered);
    REQUIRE(redelivered.size() == 1);
    CHECK(redelivered[0].stop_agent);
    CHECK(redelivered[0].ack_subject == kAck);
    CHECK(has(redelivered[0].reason, "heartbeat"));
    CHECK(acts(plan).size() == 1);
  }
  SUBCASE("let go of the brief after the drain: nothing more") {
    auto in = input(kT0 + 100s);
    in.fleet = {agent("builder-1", "draining", "", kT0 + 95s, kT0 + 100s)};
    plan = sweep(in, after_drain);
    CHECK(acts(plan).empty());
    CHECK(plan.memory.drained.empty());
    in.now = kT0 + 300s;
    CHECK(acts(sweep(in, plan.memory)).empty());
  }
}

TEST_CASE("sweep: progress after a nudge clears it") {
  auto plan = walk_stuck(kT0 + 60s, {});
  REQUIRE(of_kind(plan, kNudged).size() == 1);

  // Progress at 70 s, after the nudge: the nudge is settled.
  plan = walk_stuck(kT0 + 75s, plan.memory, kT0 + 70s);
  CHECK(acts(plan).empty());
  CHECK(plan.memory.nudged.empty());

  // Past the old nudge's grace: no drain.
  plan = walk_stuck(kT0 + 95s, plan.memory, kT0 + 70s);
  CHECK(acts(plan).empty());

  // Stuck again for stuck_after since that progress: a fresh nudge, not a
  // drain.
  plan = walk_stuck(kT0 + 130s, plan.memory, kT0 + 70s);
  CHECK(of_kind(plan, kDrained).empty());
  REQUIRE(of_kind(plan, kNudged).size() == 1);
  CHECK(plan.memory.nudged.at("builder-1").at == kT0 + 130s);
}

TEST_CASE("sweep: the later of last progress and the state change is the agent's last sign") {
  // Progress long ago, but it turned busy again (since) 20 s ago.
  auto in = input(kT0 + 200s);
  in.fleet = {agent("builder-1", "busy", "t-1", kT0 + 180s, kT0 + 200s, kT0)};
  in.tasks = {task("t-1", {"ready-for-dev"})};
  CHECK(acts(sweep(in, {})).empty());

  // Busy since long ago, but progress 20 s ago.
  in.fleet = {agent("builder-1", "busy", "t-1", kT0, kT0 + 200s, kT0 + 180s)};
  CHECK(acts(sweep(in, {})).empty());
}

TEST_CASE("sweep: idle and waiting agents, and the sweeper itself, are never nudged") {
  auto in = input(kT0 + 1h);
  in.fleet = {agent("builder-1", "idle", "", kT0, kT0 + 1h),
              agent("builder-2", "waiting", "t-8", kT0, kT0 + 1h),
              agent("sweeper-1", "busy", "t-9", kT0, kT0 + 1h)};
  in.tasks = {task("t-8", {"ready-for-dev"}), task("t-9", {"ready-for-dev"})};
  auto plan = sweep(in, {});
  CHECK(acts(plan).empty());
  CHECK(plan.memory.nudged.empty());
}

TEST_CASE("sweep: a dead agent's brief is redelivered once, and only when nobody took it over") {
  const auto t = task("t-2", {"ready-for-prep", "ready-for-dev"});
  // Last seen busy on t-2 at 1 s.
  const Memory seen_busy =
      observe({}, {agent("builder-1", "busy", "t-2", kT0, kT0 + 1s, kT0)}, kT0 + 1s);

  SUBCASE("gone from agency-fleet") {
    auto in = input(kT0 + 40s);
    in.tasks = {t};
    auto plan = sweep(in, seen_busy);
    REQUIRE(acts(plan).size() == 1);
    auto redelivered = of_kind(plan, kRedelivered);
    REQUIRE(redelivered.size() == 1);
    CHECK(redelivered[0].agent_id == "builder-1");
    CHECK(redelivered[0].task_id == "t-2");
    CHECK(redelivered[0].ack_subject == kAck);
    CHECK_FALSE(redelivered[0].stop_agent);
    CHECK(redelivered[0].details.at("cause") == "dead");
    CHECK(has(redelivered[0].reason, "gone from agency-fleet"));

    in.now = kT0 + 50s;
    CHECK(acts(sweep(in, plan.memory)).empty());
  }
  SUBCASE("a stale heartbeat, once while the entry stays") {
    auto in = input(kT0 + 60s);
    in.fleet = {agent("builder-1", "busy", "t-2", kT0, kT0 + 10s, kT0 + 5s)};
    in.tasks = {t};
    auto plan = sweep(in, {});
    auto redelivered = of_kind(plan, kRedelivered);
    REQUIRE(redelivered.size() == 1);
    CHECK(redelivered[0].agent_id == "builder-1");
    CHECK(redelivered[0].details.at("cause") == "dead");
    CHECK(of_kind(plan, kNudged).empty());

    in.now = kT0 + 70s;
    CHECK(acts(sweep(in, plan.memory)).empty());
    in.now = kT0 + 600s;
    CHECK(acts(sweep(in, plan.memory)).empty());
  }
  SUBCASE("a heartbeat 15 s old is not yet stale") {
    auto in = input(kT0 + 25s);
    in.fleet = {agent("builder-1", "busy", "t-2", kT0, kT0 + 10s, kT0 + 5s)};
    in.tasks = {t};
    CHECK(acts(sweep(in, {})).empty());
  }
  SUBCASE("not while another live agent works on the task") {
    auto in = input(kT0 + 40s);
    in.fleet = {agent("builder-2", "busy", "t-2", kT0 + 30s, kT0 + 40s, kT0 + 39s)};
    in.tasks = {t};
    CHECK(acts(sweep(in, seen_busy)).empty());
  }
  SUBCASE("not for a task that is done or blocked") {
    auto in = input(kT0 + 40s);
    in.tasks = {task("t-2", {"ready-for-dev", "qa", "review", "done"})};
    CHECK(acts(sweep(in, seen_busy)).empty());
    in.tasks = {task("t-2", {"ready-for-dev", "blocked"})};
    CHECK(acts(sweep(in, seen_busy)).empty());
  }
  SUBCASE("not for a task that moved on after the agent took it") {
    auto in = input(kT0 + 40s);
    auto moved = t;
    add_stage(moved, "qa", kT0 + 20s);
    in.tasks = {moved};
    CHECK(acts(sweep(in, seen_busy)).empty());
  }
  SUBCASE("the stage a walk saw the brief at decides whether the task moved") {
    auto in = input(kT0 + 5s);
    in.fleet = {agent("builder-1", "busy", "t-2", kT0, kT0 + 5s, kT0)};
    in.tasks = {t};
    auto plan = sweep(in, {});
    CHECK(acts(plan).empty());
    REQUIRE(plan.memory.seen.count("builder-1") == 1);
    CHECK(plan.memory.seen.at("builder-1").stage == "ready-for-dev");
    CHECK(plan.memory.seen.at("builder-1").history_size == 2);

    in.now = kT0 + 40s;
    in.fleet = {};
    auto moved = t;
    add_stage(moved, "qa");  // no time on the change: only the stage tells
    in.tasks = {moved};
    CHECK(acts(sweep(in, plan.memory)).empty());
    in.tasks = {t};
    CHECK(of_kind(sweep(in, plan.memory), kRedelivered).size() == 1);
  }
  SUBCASE("the brief's own stage and attempt decide, where the status names them") {
    // The walk saw the agent busy while the record was still behind the
    // brief (at ready-for-prep); the planner's record came later.
    auto busy = agent("builder-1", "busy", "t-2", kT0, kT0 + 1s, kT0);
    busy.set_brief_stage("ready-for-dev");
    busy.set_brief_attempt(1);
    auto behind = task("t-2", {"ready-for-prep"});
    auto in = input(kT0 + 1s);
    in.fleet = {busy};
    in.tasks = {behind};
    auto plan = sweep(in, {});
    REQUIRE(plan.memory.seen.count("builder-1") == 1);
    CHECK(plan.memory.seen.at("builder-1").stage == "ready-for-prep");

    in.now = kT0 + 40s;
    in.fleet = {};
    in.tasks = {t};
    CHECK(of_kind(sweep(in, plan.memory), kRedelivered).size() == 1);
    auto moved = t;
    add_stage(moved, "qa");
    in.tasks = {moved};
    CHECK(acts(sweep(in, plan.memory)).empty());
    // And so across a restart of the sweeper (its memory as JSON).
    auto restored = memory_from_json(to_json(plan.memory));
    REQUIRE(restored.has_value());
    CHECK(restored->seen.at("builder-1").status.brief_stage() == "ready-for-dev");
    CHECK(restored->seen.at("builder-1").status.brief_attempt() == 1);
    in.tasks = {t};
    CHECK(of_kind(sweep(in, *restored), kRedelivered).size() == 1);
  }
  SUBCASE("not for an agent that held no brief") {
    auto in = input(kT0 + 40s);
    in.tasks = {t};
    auto idle = observe({}, {agent("builder-1", "idle", "", kT0, kT0 + 1s)}, kT0 + 1s);
    CHECK(acts(sweep(in, idle)).empty());
    auto no_ack = agent("builder-1", "busy", "t-2", kT0, kT0 + 1s, kT0);
    no_ack.clear_brief_ack_subject();
    CHECK(acts(sweep(in, observe({}, {no_ack}, kT0 + 1s))).empty());
  }
}

TEST_CASE("sweep: a task going round in a loop is blocked with the reason") {
  auto in = input(kT0);
  in.tasks = {
      task("t-loop",
           {"ready-for-prep", "ready-for-dev", "qa", "ready-for-dev", "qa", "ready-for-dev"}),
      task("t-fine", {"ready-for-prep", "ready-for-dev", "qa", "ready-for-dev", "qa"}),
      task("t-done", {"ready-for-dev", "qa", "ready-for-dev", "qa", "ready-for-dev", "done"}),
      task("t-blocked",
           {"ready-for-dev", "qa", "ready-for-dev", "qa", "ready-for-dev", "blocked"})};
  auto plan = sweep(in, {});
  REQUIRE(acts(plan).size() == 1);
  auto loops = of_kind(plan, kLoopBlocked);
  REQUIRE(loops.size() == 1);
  CHECK(loops[0].task_id == "t-loop");
  CHECK(has(loops[0].reason, "entered ready-for-dev 3 times"));
  CHECK(has(loops[0].reason, "ready-for-dev -> qa -> ready-for-dev"));
  CHECK(loops[0].details.at("stage") == "ready-for-dev");
  CHECK(loops[0].details.at("entries") == "3");
  CHECK(loops[0].details.at("loop_limit") == "3");

  // Not twice.
  CHECK(acts(sweep(in, plan.memory)).empty());

  SUBCASE("a person unblocks it: only the entries since count") {
    auto looped = in.tasks[0];
    add_stage(looped, "blocked");
    add_stage(looped, "ready-for-dev");  // the unblocking
    add_stage(looped, "qa");
    add_stage(looped, "ready-for-dev");
    auto again = input(kT0 + 300s);
    again.tasks = {looped};
    // Two entries since the unblocking: not a loop yet, even though the
    // task was unblocked before any walk saw it blocked.
    auto next = sweep(again, plan.memory);
    CHECK(acts(next).empty());

    add_stage(looped, "qa");
    add_stage(looped, "ready-for-dev");
    again.tasks = {looped};
    auto blocked = of_kind(sweep(again, next.memory), kLoopBlocked);
    REQUIRE(blocked.size() == 1);
    CHECK(blocked[0].details.at("entries") == "3");
  }
}

TEST_CASE("sweep: a question waited on past answer_after goes to the proxy, once") {
  auto in = input(kT0 + 30s);
  const Waiting old_one = question("q-1", kT0);
  const Waiting young = question("q-2", kT0 + 25s);
  const Waiting to_proxy = question("q-3", kT0, "proxy");
  Waiting from_proxy = question("q-4", kT0);
  from_proxy.question.set_from_role("proxy");
  Waiting nowhere_to_reply = question("q-5", kT0);
  nowhere_to_reply.question.clear_reply_to();
  in.questions = {old_one, young, to_proxy, from_proxy, nowhere_to_reply};

  auto plan = sweep(in, {});
  REQUIRE(acts(plan).size() == 1);
  auto asks = of_kind(plan, kAskProxy);
  REQUIRE(asks.size() == 1);
  CHECK(asks[0].question.key == "question.builder-1.q-1");
  CHECK(asks[0].question.question.text() == "Which port?");
  CHECK(asks[0].question.question.reply_to() == "_INBOX.x");
  CHECK(asks[0].agent_id == "builder-1");
  CHECK(asks[0].task_id == "t-1");
  CHECK(asks[0].details.at("waited_seconds") == "30");
  CHECK(has(asks[0].reason, "planner"));

  // Not at the next walk, nor when it could not read the questions.
  in.now = kT0 + 60s;
  in.questions = {old_one};
  auto next = sweep(in, plan.memory);
  CHECK(acts(next).empty());
  in.questions = {};
  in.questions_error = "no bucket";
  next = sweep(in, next.memory);
  CHECK(next.memory.asked.count(old_one.key) == 1);
  in.questions = {old_one};
  in.questions_error.clear();
  CHECK(acts(sweep(in, next.memory)).empty());

  // Once it is no longer waited on, it is forgotten.
  in.questions = {};
  CHECK(sweep(in, next.memory).memory.asked.empty());
}

TEST_CASE("sweep: token burn far above the role's median is flagged once") {
  auto in = input(kT0);
  in.usage = {{{"t-1", "builder"}, 1000},
              {{"t-2", "builder"}, 1200},
              {{"t-3", "builder"}, 900},
              {{"t-4", "builder"}, 9000},
              {{"t-1", "planner"}, 50000}};
  auto plan = sweep(in, {});
  REQUIRE(acts(plan).size() == 1);
  auto burns = of_kind(plan, kBurnFlagged);
  REQUIRE(burns.size() == 1);
  CHECK(burns[0].task_id == "t-4");
  CHECK(burns[0].details.at("role") == "builder");
  CHECK(burns[0].details.at("tokens") == "9000");
  CHECK(burns[0].details.at("median") == "1100");
  CHECK(burns[0].details.at("factor") == "5");
  CHECK(has(burns[0].reason, "9000 tokens on t-4"));
  CHECK(has(burns[0].reason, "8.2x"));
  CHECK(acts(sweep(in, plan.memory)).empty());

  SUBCASE("not with fewer than three other tasks of the role") {
    auto few = input(kT0);
    few.usage = {
        {{"t-1", "builder"}, 1000}, {{"t-2", "builder"}, 1000}, {{"t-4", "builder"}, 90000}};
    CHECK(acts(sweep(few, {})).empty());
  }
  SUBCASE("not at the factor, only above it") {
    auto edge = input(kT0);
    edge.usage = {{{"t-1", "builder"}, 1000},
                  {{"t-2", "builder"}, 1000},
                  {{"t-3", "builder"}, 1000},
                  {{"t-4", "builder"}, 5000}};
    CHECK(acts(sweep(edge, {})).empty());
    edge.usage[{"t-4", "builder"}] = 5001;
    CHECK(of_kind(sweep(edge, {}), kBurnFlagged).size() == 1);
  }
}

TEST_CASE("sweep: the snapshot counts agents by state and queued briefs") {
  const std::vector<v1::AgentStatus> fleet = {agent("builder-1", "busy", "t-1", kT0, kT0),
                                              agent("builder-2", "idle", "", kT0, kT0),
                                              agent("planner-1", "idle", "", kT0, kT0)};
  const std::vector<Queue> queues = {{"planner", 0, 0}, {"builder", 4, 1}};
  CHECK(snapshot_reason(fleet, queues, kT0 + 1s, 15s) ==
        "3 agents: 2 idle, 1 busy; briefs queued: builder 4 (1 in flight), planner 0");
  CHECK(snapshot_reason(fleet, queues, kT0 + 20s, 15s) ==
        "3 agents: 2 idle, 1 busy; 3 with a stale heartbeat; briefs queued: builder 4 (1 in "
        "flight), planner 0");
  CHECK(snapshot_reason(fleet, queues, kT0 + 1s, 15s, "no stream") ==
        "3 agents: 2 idle, 1 busy; briefs queued: unknown (no stream)");
  CHECK(snapshot_reason({}, {}, kT0, 15s) == "0 agents; briefs queued: none");

  // Each walk's first action, with the figures in its details.
  auto in = input(kT0 + 1s);
  in.fleet = fleet;
  in.queues = queues;
  auto plan = sweep(in, {});
  REQUIRE(plan.actions.size() == 1);
  const Action& snap = plan.actions.front();
  CHECK(snap.kind == kSnapshot);
  CHECK(snap.reason == snapshot_reason(fleet, queues, kT0 + 1s, 15s));
  CHECK(snap.details.at("agents") == "3");
  CHECK(snap.details.at("state.idle") == "2");
  CHECK(snap.details.at("state.busy") == "1");
  CHECK(snap.details.at("queued.builder") == "4");
  CHECK(snap.details.at("in_flight.builder") == "1");
  CHECK(plan.summary == snap.reason + "; no action");
}

TEST_CASE("sweep: observe keeps gone agents and starts a new holding afresh") {
  auto m = observe({}, {agent("builder-1", "busy", "t-1", kT0, kT0)}, kT0);
  m.seen.at("builder-1").stage = "ready-for-dev";
  m.seen.at("builder-1").history_size = 2;

  // Gone: still remembered, as last seen.
  m = observe(m, {}, kT0 + 10s);
  REQUIRE(m.seen.count("builder-1") == 1);
  CHECK(m.seen.at("builder-1").status.task_id() == "t-1");
  CHECK(m.seen.at("builder-1").seen_at == kT0);

  // The same holding: the stage stays.
  m = observe(m, {agent("builder-1", "busy", "t-1", kT0, kT0 + 20s)}, kT0 + 20s);
  CHECK(m.seen.at("builder-1").stage == "ready-for-dev");
  CHECK(m.seen.at("builder-1").seen_at == kT0 + 20s);

  // A new brief: the stage is no longer known.
  m = observe(m, {agent("builder-1", "busy", "t-1", kT0 + 25s, kT0 + 30s)}, kT0 + 30s);
  CHECK(m.seen.at("builder-1").stage.empty());
  CHECK(m.seen.at("builder-1").history_size == -1);
}

TEST_CASE("sweep: its memory survives a round trip through JSON, and garbage is refused") {
  Memory m;
  Seen seen;
  seen.status = agent("builder-1", "busy", "t-1", kT0, kT0 + 1s, kT0 + 500ms);
  seen.seen_at = kT0 + 1s;
  seen.stage = "ready-for-dev";
  seen.history_size = 2;
  m.seen["builder-1"] = seen;
  m.nudged["builder-1"] = Nudge{"t-1", kT0 + 2s, kT0 + 500ms};
  m.drained["builder-2"] = Drain{"t-3", kT0 + 3s, "$JS.ACK.x"};
  m.redelivered = {"builder-9/t-8"};
  m.burns = {"t-4/builder"};
  m.loops = {"t-loop@0"};
  m.asked = {"question.builder-1.q-1"};
  auto back = memory_from_json(to_json(m));
  REQUIRE(back.has_value());
  const Seen& s = back->seen.at("builder-1");
  CHECK(s.status.agent_id() == "builder-1");
  CHECK(s.status.role() == "builder");
  CHECK(s.status.state() == "busy");
  CHECK(s.status.task_id() == "t-1");
  CHECK(s.status.brief_ack_subject() == kAck);
  CHECK(to_time(s.status.since()) == kT0);
  CHECK(to_time(s.status.heartbeat_at()) == kT0 + 1s);
  CHECK(to_time(s.status.last_progress_at()) == kT0 + 500ms);
  CHECK(s.seen_at == kT0 + 1s);
  CHECK(s.stage == "ready-for-dev");
  CHECK(s.history_size == 2);
  CHECK(back->nudged.at("builder-1").task_id == "t-1");
  CHECK(back->nudged.at("builder-1").at == kT0 + 2s);
  CHECK(back->nudged.at("builder-1").progress_at == kT0 + 500ms);
  CHECK(back->drained.at("builder-2").task_id == "t-3");
  CHECK(back->drained.at("builder-2").at == kT0 + 3s);
  CHECK(back->drained.at("builder-2").ack_subject == "$JS.ACK.x");
  CHECK(back->redelivered == m.redelivered);
  CHECK(back->burns == m.burns);
  CHECK(back->loops == m.loops);
  CHECK(back->asked == m.asked);
  CHECK(to_json(*back) == to_json(m));

  auto empty = memory_from_json("{}");
  REQUIRE(empty.has_value());
  CHECK(empty->seen.empty());
  CHECK(empty->asked.empty());

  CHECK_FALSE(memory_from_json("").has_value());
  CHECK_FALSE(memory_from_json("not json").has_value());
  CHECK_FALSE(memory_from_json("[1,2]").has_value());
  CHECK_FALSE(memory_from_json(R"({"seen": {"a": {"role": 5}}})").has_value());
  CHECK_FALSE(memory_from_json(R"({"burns": "t-1/builder"})").has_value());
}

TEST_CASE("sweep: durations for people and settings from agency.yaml") {
  CHECK(human_duration(45s) == "45 s");
  CHECK(human_duration(16min) == "16 min");
  CHECK(human_duration(2h) == "2 h");
  CHECK(human_duration(2h + 5min) == "2 h 5 min");

  config::Sweeper c;
  c.stuck_after_seconds = 120;
  c.nudge_grace_seconds = 40;
  c.answer_after_seconds = 9;
  c.loop_limit = 6;
  c.burn_factor = 3.5;
  const Settings s = settings_from(c);
  CHECK(s.stuck_after == 120s);
  CHECK(s.nudge_grace == 40s);
  CHECK(s.answer_after == 9s);
  CHECK(s.loop_limit == 6);
  CHECK(s.burn_factor == doctest::Approx(3.5));
  CHECK(s.stale_after == 15s);
  CHECK(s.proxy_role == "proxy");
}

TEST_CASE("sweeper: has its name") { CHECK(Sweeper().name() == "sweeper"); }

TEST_CASE("sweep: an agent of another protocol version is told to stop, once") {
  auto in = input(kT0);
  auto other = agent("linter-1", "idle", "", kT0, kT0);
  other.set_protocol(agency::codec::kProtocolVersion + 1);
  auto same = agent("builder-1", "idle", "", kT0, kT0);
  same.set_protocol(agency::codec::kProtocolVersion);
  auto unstated = agent("scribe-1", "idle", "", kT0, kT0);
  in.fleet = {other, same, unstated};
  auto plan = sweep(in, {});
  auto refused = of_kind(plan, kProtocolRefused);
  REQUIRE(refused.size() == 1);
  CHECK(refused[0].agent_id == "linter-1");
  CHECK(refused[0].stop_agent);
  CHECK(refused[0].details.at("protocol") == std::to_string(agency::codec::kProtocolVersion + 1));
  CHECK(has(refused[0].reason,
            "this mesh speaks " + std::to_string(agency::codec::kProtocolVersion)));
  // Once: the next walk remembers it, across a restart of the sweeper too.
  CHECK(of_kind(sweep(in, plan.memory), kProtocolRefused).empty());
  auto restored = memory_from_json(to_json(plan.memory));
  REQUIRE(restored.has_value());
  CHECK(of_kind(sweep(in, *restored), kProtocolRefused).empty());
  // Gone from the fleet, it is forgotten; back with the wrong version, it
  // is told again.
  in.fleet = {same};
  auto gone = sweep(in, plan.memory);
  CHECK(gone.memory.refused.empty());
  in.fleet = {other};
  CHECK(of_kind(sweep(in, gone.memory), kProtocolRefused).size() == 1);
}

}  // namespace agency::roles::sweep
