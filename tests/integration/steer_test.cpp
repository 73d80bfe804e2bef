// A person steers: `agency task cancel|retry|unblock|move|priority|comment`
// and `agency agent pause|resume|stop|logs` run as a user runs them, against
// a real nats-server and real role processes (scripted engine).
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bus/consumer.hpp"
#include "bus/subjects.hpp"
#include "runtime/git.hpp"
#include "runtime/tasks.hpp"
#include "tests/support/pipeline.hpp"
#include "tests/support/run.hpp"

namespace agency {
namespace {

using json = nlohmann::json;
using test::Pipeline;
using namespace std::chrono_literals;

// The CLI as the person "tester" runs it beside the pipeline's fleet.
test::RunResult agency(Pipeline& p, std::vector<std::string> args) {
  std::vector<std::string> argv{test::agency_binary(), "--nats", p.server().url()};
  argv.insert(argv.end(), args.begin(), args.end());
  return test::run(argv, {{"NATS_URL", ""},
                          {"NATS_CONTEXT", ""},
                          {"USER", "tester"},
                          {"AGENCY_CONFIG", (p.dir() / "agency.yaml").string()}});
}

json json_of(const test::RunResult& r) {
  INFO(r.err);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  return json::parse(r.out);
}

const v1::TaskEvent* last_of(const std::vector<v1::TaskEvent>& trail, const std::string& kind) {
  const v1::TaskEvent* found = nullptr;
  for (const auto& e : trail) {
    if (e.kind() == kind) found = &e;
  }
  return found;
}

// Polls the agent's heartbeat until it names `task_id` (busy on it).
bool wait_until_busy_on(Pipeline& p, const std::string& agent, const std::string& task_id) {
  auto fleet = KeyValue::open(p.connection(), subjects::kFleetBucket);
  REQUIRE(fleet.ok());
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto e = fleet->get(agent); e) {
      auto s = codec::decode<v1::AgentStatus>(e->value);
      if (s && s->state() == "busy" && s->task_id() == task_id) return true;
    }
    std::this_thread::sleep_for(20ms);  // polling a heartbeat, with a deadline
  }
  return false;
}

// Polls the role's brief consumer until nothing is queued or in flight.
bool wait_until_settled(Pipeline& p, const std::string& role) {
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto consumers = list_consumers(p.connection(), subjects::kBriefsStream);
    REQUIRE(consumers.ok());
    bool busy = false;
    for (const auto& c : *consumers) {
      if (c.name.find(role) != std::string::npos && (c.pending > 0 || c.ack_pending > 0)) {
        busy = true;
      }
    }
    if (!busy) return true;
    std::this_thread::sleep_for(50ms);  // polling consumer state, with a deadline
  }
  return false;
}

TEST_CASE("steer: retry of a task the bounce limit blocked takes it up at qa and reaches done") {
  Pipeline p(R"(planner:
  - spec: "Add GREETING.md"
builder:
  - write: {path: GREETING.md, content: "attempt {attempt}\n"}
adversary:
  - verdict: fail
    findings: ["not friendly"]
  - verdict: fail
    findings: ["not friendly"]
  - verdict: fail
    findings: ["not friendly"]
  - verdict: pass
reviewer:
  - verdict: pass
)");
  p.start_fleet();
  p.plain_publish("agency.brief.planner", "Say hello");
  auto id = p.task_with_objective("Say hello");
  REQUIRE_FALSE(id.empty());
  auto blocked = p.wait_for_stage(id, "blocked");
  REQUIRE(blocked.has_value());
  REQUIRE(blocked->bounces() == 3);

  auto out = json_of(agency(p, {"task", "retry", id, "--json"}));
  CHECK(out["from"] == "blocked");
  CHECK(out["to"] == "qa");
  CHECK(out["actor"] == "human:tester");
  CHECK(out["brief"] == id + ":qa:4");
  CHECK(out["record"]["bounces"].is_null());  // reset to 0 (proto3 JSON leaves it out)

  auto done = p.wait_for_stage(id, "done");
  REQUIRE(done.has_value());
  auto trail = p.events_through(id, "done");
  const auto* retried = last_of(trail, "retried");
  REQUIRE(retried != nullptr);
  CHECK(retried->actor() == "human:tester");
  CHECK(retried->from_stage() == "blocked");
  CHECK(retried->to_stage() == "qa");
  // Retrying a task that is done is refused, naming what to do instead.
  auto again = agency(p, {"task", "retry", id});
  CHECK(again.exit_code == 1);
  CHECK(again.err.find("is at done") != std::string::npos);
}

TEST_CASE("steer: cancel during a long scripted turn ends the turn and settles its brief") {
  Pipeline p(R"(planner:
  - spec: "Write slowly"
builder:
  - sleep_ms: 120000
    write: {path: GREETING.md, content: "late\n"}
)");
  p.start_fleet();
  p.plain_publish("agency.brief.planner", "Take your time");
  auto id = p.task_with_objective("Take your time");
  REQUIRE_FALSE(id.empty());
  REQUIRE(wait_until_busy_on(p, "builder-1", id));

  const auto asked = std::chrono::steady_clock::now();
  auto out = json_of(agency(p, {"task", "cancel", id, "--reason", "not needed", "--json"}));
  CHECK(out["to"] == "cancelled");
  CHECK(out["cancelled_turns"] == json::array({"builder-1"}));
  // The turn ends (the agent is idle again) long before the scripted
  // 120 s, and the brief is settled: nothing queued or in flight.
  REQUIRE_MESSAGE(p.wait_for_agent_state("builder-1", "idle", 30s), p.agent("builder-1").err());
  CHECK(std::chrono::steady_clock::now() - asked < 60s);
  CHECK(wait_until_settled(p, "builder"));
  auto store = TaskStore::open(p.connection());
  REQUIRE(store.ok());
  auto record = store->load(id);
  REQUIRE(record.ok());
  CHECK(record->task.stage() == "cancelled");
  CHECK(record->task.blocked_reason() == "not needed");
  const auto trail = p.events_through(id, "cancelled");
  const auto* cancelled = last_of(trail, "cancelled");
  REQUIRE(cancelled != nullptr);
  CHECK(cancelled->actor() == "human:tester");
  CHECK(cancelled->reason() == "not needed");
  // Nothing reached the branch: the cancelled turn committed nothing.
  CHECK(p.branch_commits(id).empty());
  // Cancelling it again is refused.
  auto again = agency(p, {"task", "cancel", id});
  CHECK(again.exit_code == 1);
  CHECK(again.err.find("cancelled already") != std::string::npos);
}

TEST_CASE("steer: unblock sends the note to the next agent, and comment, priority and errors") {
  Pipeline p(R"(planner:
  - spec: "Add GREETING.md"
builder:
  - error: "the fixture is missing"
  - write: {path: GREETING.md, content: "{context}\n"}
adversary:
  - verdict: pass
reviewer:
  - verdict: pass
)");
  p.start_fleet();
  p.plain_publish("agency.brief.planner", "Greet with the fixture");
  auto id = p.task_with_objective("Greet with the fixture");
  REQUIRE_FALSE(id.empty());
  REQUIRE(p.wait_for_stage(id, "blocked").has_value());

  // Errors: an unknown task, an illegal move (naming the legal ones), an
  // unknown priority, unblocking what is not blocked.
  auto unknown = agency(p, {"task", "retry", "t-nope"});
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.err.find("no task t-nope") != std::string::npos);
  auto nowhere = agency(p, {"task", "move", id, "nowhere"});
  CHECK(nowhere.exit_code == 1);
  CHECK(nowhere.err.find("there is no stage nowhere") != std::string::npos);
  CHECK(nowhere.err.find("it can move to ready-for-prep, ready-for-dev, qa, review, done") !=
        std::string::npos);
  auto landing = agency(p, {"task", "move", id, "ready-to-land"});
  CHECK(landing.exit_code == 1);
  CHECK(landing.err.find("does not land") != std::string::npos);
  auto to_cancel = agency(p, {"task", "move", id, "cancelled"});
  CHECK(to_cancel.exit_code == 1);
  CHECK(to_cancel.err.find("agency task cancel") != std::string::npos);
  auto urgent = agency(p, {"task", "priority", id, "urgent"});
  CHECK(urgent.exit_code == 2);
  CHECK(urgent.err.find("human, interactive, scheduled, batch") != std::string::npos);

  // A comment: in the trail and the record, by the person.
  auto commented = json_of(agency(p, {"task", "comment", id, "the", "fixture", "moved", "--json"}));
  CHECK(commented["event"] == "commented");
  CHECK(commented["record"]["attachments"]["comments"].get<std::string>().find(
            "human:tester: the fixture moved") != std::string::npos);
  // Priority of a blocked task: the record only, for the briefs to come.
  auto batch = json_of(agency(p, {"task", "priority", id, "batch", "--json"}));
  CHECK(batch["record"]["brief"]["priority"] == "batch");
  CHECK(batch["brief"].is_null());

  auto unblocked = json_of(
      agency(p, {"task", "unblock", id, "--note", "the fixture is in tests/data", "--json"}));
  CHECK(unblocked["to"] == "ready-for-dev");
  CHECK(unblocked["brief"] == id + ":ready-for-dev:2");
  auto done = p.wait_for_stage(id, "done");
  REQUIRE(done.has_value());
  // The builder's second turn wrote its brief's context: the note.
  auto shown = git::run({"git", "show", "agency/" + id + ":GREETING.md"}, p.repo());
  REQUIRE(shown.exit_code == 0);
  CHECK(shown.output.find("Findings from human:tester (unblocked): the fixture is in tests/data") !=
        std::string::npos);
  auto trail = p.events_through(id, "done");
  for (const char* kind : {"commented", "priority-changed", "unblocked"}) {
    const auto* e = last_of(trail, kind);
    REQUIRE_MESSAGE(e != nullptr, kind);
    CHECK(e->actor() == "human:tester");
  }
  // The human-readable form names the move and the brief.
  auto show = agency(p, {"task", "show", id});
  CHECK(show.out.find("unblocked  blocked -> ready-for-dev  by human:tester") != std::string::npos);
}

TEST_CASE("steer: move sends a done task back to review, and a turn on it is ended") {
  Pipeline p(R"(planner:
  - spec: "Add GREETING.md"
builder:
  - write: {path: GREETING.md, content: "hello {attempt}\n"}
adversary:
  - verdict: pass
reviewer:
  - verdict: pass
  - sleep_ms: 120000
)");
  p.start_fleet();
  p.plain_publish("agency.brief.planner", "Review twice");
  auto id = p.task_with_objective("Review twice");
  REQUIRE_FALSE(id.empty());
  REQUIRE(p.wait_for_stage(id, "done").has_value());
  auto moved =
      json_of(agency(p, {"task", "move", id, "review", "--reason", "look again", "--json"}));
  CHECK(moved["from"] == "done");
  CHECK(moved["brief"] == id + ":review:2");
  REQUIRE(wait_until_busy_on(p, "reviewer-1", id));
  // While the reviewer works on it, the person takes it back to dev: the
  // turn ends, and the builder's next turn brings it to done again.
  auto back = json_of(agency(p, {"task", "move", id, "ready-for-dev", "--json"}));
  CHECK(back["cancelled_turns"] == json::array({"reviewer-1"}));
  REQUIRE_MESSAGE(p.wait_for_agent_state("reviewer-1", "idle", 30s), p.agent("reviewer-1").err());
  auto record = p.wait_for_stage(id, "review", 60s);
  if (!record) {
    for (const auto& e : p.events(id)) {
      MESSAGE(e.kind() << " " << e.from_stage() << ">" << e.to_stage() << " " << e.reason());
    }
  }
  REQUIRE(record.has_value());
  std::vector<std::string> moves;
  for (const auto& h : record->history()) moves.push_back(h.from() + ">" + h.to());
  CHECK(moves == std::vector<std::string>{">ready-for-prep", "ready-for-prep>ready-for-dev",
                                          "ready-for-dev>qa", "qa>review", "review>done",
                                          "done>review", "review>ready-for-dev", "ready-for-dev>qa",
                                          "qa>review"});
}

TEST_CASE("steer: an epic's priority and cancel reach its sub-tasks, and the turn on one ends") {
  Pipeline p(R"(planner:
  - summary: two parts
    tasks:
      - title: Part one
        spec: "Write the first part"
      - title: Part two
        spec: "Write the second part"
        depends_on: [1]
builder:
  - sleep_ms: 120000
    write: {path: "{task_id}.md", content: "late\n"}
)");
  p.start_fleet();
  p.plain_publish("agency.brief.planner", "Build it in two parts");
  const auto epic = p.task_with_objective("Build it in two parts");
  REQUIRE_FALSE(epic.empty());
  REQUIRE(p.wait_for_stage(epic, "split").has_value());
  const std::string one = epic + "-1";
  const std::string two = epic + "-2";
  REQUIRE(wait_until_busy_on(p, "builder-1", one));

  // Priority: the epic and both sub-tasks; the queued-nowhere second one
  // (pending) keeps it for its first brief.
  auto urgent = json_of(agency(p, {"task", "priority", epic, "interactive", "--json"}));
  CHECK(urgent["also"] == json::array({one, two}));
  auto store = TaskStore::open(p.connection());
  REQUIRE(store.ok());
  for (const auto& id : {epic, one, two}) {
    auto t = store->load(id);
    REQUIRE(t.ok());
    CHECK_MESSAGE(t->task.brief().priority() == "interactive", id);
  }
  // An epic is not moved by hand.
  auto moved = agency(p, {"task", "move", epic, "review"});
  CHECK(moved.exit_code == 1);
  CHECK(moved.err.find("is an epic") != std::string::npos);

  auto cancelled =
      json_of(agency(p, {"task", "cancel", epic, "--reason", "changed plans", "--json"}));
  CHECK(cancelled["to"] == "cancelled");
  CHECK(cancelled["also"] == json::array({one, two}));
  CHECK(cancelled["cancelled_turns"] == json::array({"builder-1"}));
  REQUIRE_MESSAGE(p.wait_for_agent_state("builder-1", "idle", 30s), p.agent("builder-1").err());
  CHECK(wait_until_settled(p, "builder"));
  for (const auto& id : {epic, one, two}) {
    auto t = store->load(id);
    REQUIRE(t.ok());
    CHECK_MESSAGE(t->task.stage() == "cancelled", id);
  }
}

TEST_CASE("steer: agent pause and resume are confirmed by the heartbeat, stop ends the agent") {
  Pipeline p(R"(planner:
  - spec: "Add GREETING.md"
builder:
  - write: {path: GREETING.md, content: "hello\n"}
)");
  p.start_fleet();
  REQUIRE(p.wait_for_agent_state("planner-1", "idle"));
  auto unknown = agency(p, {"agent", "pause", "planner-9"});
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.err.find("no agent planner-9 is running") != std::string::npos);
  CHECK(unknown.err.find("planner-1") != std::string::npos);

  auto paused = json_of(agency(p, {"agent", "pause", "planner-1", "--json"}));
  CHECK(paused["confirmed"] == true);
  CHECK(paused["state"] == "paused");
  auto resumed = json_of(agency(p, {"agent", "resume", "planner-1", "--json"}));
  CHECK(resumed["confirmed"] == true);
  CHECK(resumed["state"] != "paused");

  // Without `agency up` nobody retires it; the agent still stops.
  auto stopped = json_of(agency(p, {"agent", "stop", "adversary-1", "--json"}));
  CHECK(stopped["confirmed"] == true);
  CHECK(stopped["retired"] == false);
  CHECK(stopped["not_retired_because"].get<std::string>().find("agency up") != std::string::npos);
  CHECK(p.agent("adversary-1").wait(10s) == 0);

  // Logs: this fleet was not started by `agency up`, so no file is here;
  // the agent sends its last lines over the bus.
  auto remote = agency(p, {"agent", "logs", "planner-1", "-n", "500"});
  CHECK_MESSAGE(remote.exit_code == 0, remote.err);
  CHECK(remote.out.find("control command=pause from=human:tester") != std::string::npos);
  auto nobody = agency(p, {"agent", "logs", "planner-9"});
  CHECK(nobody.exit_code == 1);
  CHECK(nobody.err.find("no agent planner-9 answers on agency.tail.planner-9") !=
        std::string::npos);
  // With a file in the state dir (as `agency up` writes), its last lines.
  test::write(p.dir() / "state" / "logs" / "planner-1.log", "one\ntwo\nthree\n");
  auto tail = agency(p, {"agent", "logs", "planner-1", "-n", "2"});
  CHECK(tail.exit_code == 0);
  CHECK(tail.out == "two\nthree\n");
}

}  // namespace
}  // namespace agency
