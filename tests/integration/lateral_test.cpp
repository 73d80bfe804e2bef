// Lateral collaboration with real processes on a real nats-server: a
// builder asks the planner from inside its engine turn, mail waits for an
// agent that is down, the sweeper acts on a stuck agent and on a task in a
// loop, the proxy answers from a corpus, the scout does not file a task
// twice, the synthesizer writes its digest. No dispatcher runs in any of them.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "agency/v1/event.pb.h"
#include "agency/v1/worklog.pb.h"
#include "agents/mesh.hpp"
#include "bus/consumer.hpp"
#include "tests/support/pipeline.hpp"

namespace agency::test {
namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Roles block: every listed role on the scripted engine with scenario.yaml.
std::string scripted_roles(std::initializer_list<const char*> roles) {
  std::string out;
  for (const char* role : roles) {
    out += std::string("  ") + role + ":\n    engine: scripted\n    scenario: scenario.yaml\n";
  }
  return out;
}

// The FleetEvents on agency.event.<family> so far.
std::vector<v1::FleetEvent> fleet_events(Connection& c, const std::string& family) {
  std::vector<v1::FleetEvent> out;
  auto got = replay(c, subjects::kEventsStream, subjects::fleet_event(family), 10000);
  REQUIRE(got.ok());
  for (auto& m : *got) {
    auto e = codec::decode<v1::FleetEvent>(m.data(), m.headers());
    if (e) out.push_back(std::move(*e));
  }
  return out;
}

// Polls until an event of `kind` (about `agent`, when given) is recorded.
std::optional<v1::FleetEvent> wait_for_event(Connection& c, const std::string& family,
                                             const std::string& kind, const std::string& agent = {},
                                             std::chrono::seconds timeout = 60s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    for (auto& e : fleet_events(c, family)) {
      if (e.kind() == kind && (agent.empty() || e.agent_id() == agent)) return e;
    }
    std::this_thread::sleep_for(100ms);  // polling a stream, with a deadline
  }
  return std::nullopt;
}

std::string show_file_on_branch(const std::filesystem::path& repo, const std::string& task_id,
                                const std::string& file) {
  auto r = git::run({"git", "show", git::branch_for(task_id) + ":" + file}, repo);
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  return r.output;
}

}  // namespace

TEST_CASE("lateral: a builder asks the planner from inside its turn and commits the answer") {
  Pipeline p(R"yaml(
planner.question:
  - text: "The API listens on port 8080 (decided in the spec of task one)."
    confidence: "0.9"
builder:
  - write:
      path: GREETING.md
      content: hello
    run: agency ask --role planner --timeout 30 "Which port does the API use?" > ANSWER.md
)yaml");
  p.start_fleet();
  p.plain_publish("agency.brief.planner", "Serve the API on the agreed port");
  auto task_id = p.task_with_objective("Serve the API on the agreed port");
  REQUIRE(!task_id.empty());
  auto done = p.wait_for_stage(task_id, "done", 90s);
  REQUIRE_MESSAGE(done.has_value(), p.agent("builder-1").err());
  const std::string answer = show_file_on_branch(p.repo(), task_id, "ANSWER.md");
  CHECK(answer.find("port 8080") != std::string::npos);
  // The planner answered it (not some other part in between).
  CHECK(answer.find("planner-1") != std::string::npos);
  CHECK(p.agent("planner-1").wait_for_output("answered question", 10s));
}

TEST_CASE("lateral: mail to an agent that is down waits and is read once it starts") {
  Pipeline p(R"yaml(
builder.mail:
  - write:
      path: MAIL.md
      content: "{objective}"
)yaml");
  auto sent = run({bin("agency"), "--config", (p.dir() / "agency.yaml").string(), "mail",
                   "builder-7", "--subject", "ports", "Ports below 1024 need root: use 8080."},
                  {{"NATS_URL", p.server().url()}, {"NATS_CONTEXT", ""}});
  REQUIRE_MESSAGE(sent.exit_code == 0, sent.err);

  auto& builder = p.start("builder", "builder-7");
  const auto mail_file = p.dir() / "state" / "work" / "scratch" / "mail-builder-7" / "MAIL.md";
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!std::filesystem::exists(mail_file) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);  // polling a file, with a deadline
  }
  REQUIRE_MESSAGE(std::filesystem::exists(mail_file), builder.err());
  const std::string got = read_file(mail_file);
  CHECK(got.find("Ports below 1024 need root: use 8080.") != std::string::npos);
  CHECK(got.find("ports") != std::string::npos);

  // Read once: acknowledged, nothing left for the agent.
  bool settled = false;
  deadline = std::chrono::steady_clock::now() + 10s;
  while (!settled && std::chrono::steady_clock::now() < deadline) {
    auto consumers = list_consumers(p.connection(), subjects::kMailStream);
    REQUIRE(consumers.ok());
    for (const auto& c : *consumers) {
      if (c.name == subjects::mail_consumer("builder-7")) {
        settled = c.pending == 0 && c.ack_pending == 0;
      }
    }
    if (!settled) std::this_thread::sleep_for(50ms);  // polling, with a deadline
  }
  CHECK(settled);
}

TEST_CASE("lateral: the sweeper nudges a stuck builder, drains it, and the task still gets done") {
  Pipeline p(R"yaml(
builder:
  - write:
      path: GREETING.md
      content: hello
    run: 'if [ "$AGENCY_AGENT_ID" = builder-1 ]; then exec sleep 600; fi'
)yaml",
             scripted_roles({"planner", "builder", "adversary", "reviewer", "sweeper"}),
             "sweeper:\n  every_seconds: 1\n  stuck_after_seconds: 2\n  nudge_grace_seconds: 2\n");
  p.start("planner", "planner-1");
  p.start("adversary", "adversary-1");
  p.start("reviewer", "reviewer-1");
  auto& stuck = p.start("builder", "builder-1");
  p.plain_publish("agency.brief.planner", "Greet the world");
  auto task_id = p.task_with_objective("Greet the world");
  REQUIRE(!task_id.empty());
  REQUIRE(p.wait_for_agent_state("builder-1", "busy"));
  // Only now a healthy builder and the sweeper: the brief is builder-1's.
  p.start("builder", "builder-2");
  p.start("sweeper", "sweeper-1");

  auto nudged = wait_for_event(p.connection(), "sweep", "nudged", "builder-1");
  REQUIRE(nudged.has_value());
  CHECK(nudged->task_id() == task_id);
  CHECK(!nudged->reason().empty());
  auto drained = wait_for_event(p.connection(), "sweep", "drained", "builder-1");
  REQUIRE(drained.has_value());
  CHECK(!drained->reason().empty());

  auto done = p.wait_for_stage(task_id, "done", 90s);
  REQUIRE_MESSAGE(done.has_value(), p.agent("builder-2").err());
  // builder-2 did the work; builder-1 handed it back and stopped (drained).
  bool by_builder2 = false;
  for (const auto& h : done->history()) by_builder2 |= h.actor() == "builder-2" && h.to() == "qa";
  CHECK(by_builder2);
  CHECK(stuck.wait(15s) == 0);
  CHECK(stuck.err().find("handing back brief on cancel") != std::string::npos);
}

TEST_CASE("lateral: the sweeper blocks a task that ping-pongs between qa and the builder") {
  Pipeline p(R"yaml(
builder:
  - write:
      path: GREETING.md
      content: hello
adversary:
  - verdict: fail
    findings: ["it still does not greet"]
)yaml",
             scripted_roles({"planner", "builder", "adversary", "reviewer", "sweeper"}),
             "pipeline:\n  bounce_limit: 50\n  max_deliver: 2\n  ack_wait_seconds: 3\n"
             "sweeper:\n  every_seconds: 1\n  loop_limit: 3\n");
  p.start_fleet();
  p.start("sweeper", "sweeper-1");
  p.plain_publish("agency.brief.planner", "Greet in a loop");
  auto task_id = p.task_with_objective("Greet in a loop");
  REQUIRE(!task_id.empty());
  auto blocked = p.wait_for_stage(task_id, "blocked", 90s);
  REQUIRE(blocked.has_value());
  CHECK(blocked->blocked_reason().find("loop") != std::string::npos);
  CHECK(blocked->history(blocked->history_size() - 1).actor() == "sweeper-1");
  // Well under the bounce limit: the sweeper, not the runtime, stopped it.
  CHECK(blocked->bounces() < 50);
  auto event = wait_for_event(p.connection(), "sweep", "loop-blocked");
  REQUIRE(event.has_value());
  CHECK(event->task_id() == task_id);
}

}  // namespace agency::test
