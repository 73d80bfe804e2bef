// The dispatcher with a real nats-server, a real accountant and real role
// processes: standing orders only when pacing allows, triggers filled from
// the message, a restart mid-decision files nothing twice.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>

#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "agency/v1/event.pb.h"
#include "agency/v1/task.pb.h"
#include "agency/v1/usage.pb.h"
#include "bus/codec.hpp"
#include "bus/consumer.hpp"
#include "bus/kv.hpp"
#include "bus/provision.hpp"
#include "bus/subjects.hpp"
#include "tests/support/pipeline.hpp"
#include "tests/support/run.hpp"

namespace agency {
namespace {

using namespace std::chrono_literals;
using test::Pipeline;

const char* kScenario = R"(planner:
  - spec: "Tidy up"
builder:
  - write: {path: GREETING.md, content: "hello\n"}
adversary:
  - verdict: pass
reviewer:
  - verdict: pass
)";

std::vector<v1::FleetEvent> dispatch_events(Pipeline& p) {
  auto got = replay(p.connection(), subjects::kEventsStream, "agency.event.dispatch", 1000);
  std::vector<v1::FleetEvent> out;
  if (!got) return out;
  for (const auto& m : *got) {
    auto e = codec::decode<v1::FleetEvent>(m.data(), m.headers());
    if (e) out.push_back(std::move(*e));
  }
  return out;
}

// Polls the dispatch events until one of `kind` appears.
std::optional<v1::FleetEvent> wait_for_event(Pipeline& p, const std::string& kind,
                                             std::chrono::seconds timeout = 30s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    for (auto& e : dispatch_events(p)) {
      if (e.kind() == kind) return e;
    }
    std::this_thread::sleep_for(50ms);  // polling a stream, with a deadline
  }
  return std::nullopt;
}

std::uint64_t queued(Pipeline& p, const std::string& role) {
  auto consumers = list_consumers(p.connection(), subjects::kBriefsStream);
  REQUIRE(consumers.ok());
  for (const auto& c : *consumers) {
    if (c.name == "briefs-" + role) return c.pending;
  }
  FAIL("no consumer briefs-" << role);
  return 0;
}

TEST_CASE("dispatcher: an idle agent gets a standing order when pacing allows") {
  Pipeline p(kScenario, {},
             "accountant:\n  time_zone: UTC\n  accounts:\n    - name: default\n"
             "      five_hour: 100000000\n      seven_day: 1000000000\n"
             "dispatcher:\n  standing_orders:\n    - role: planner\n"
             "      objective: \"Tidy {project}\"\n      projects: [demo]\n"
             "      priority: interactive\n");
  p.start("accountant", "accountant-1");
  p.wait_for_accountant();
  p.start("dispatcher", "dispatcher-1");
  p.start("planner", "planner-1");
  auto order = wait_for_event(p, "order");
  REQUIRE(order.has_value());
  CHECK(order->agent_id() == "planner-1");
  CHECK(order->reason().find("nothing queued for planner") != std::string::npos);
  CHECK(order->reason().find("accountant: granted") != std::string::npos);
  CHECK(order->details().at("project") == "demo");
  auto task = p.task_with_objective("Tidy demo");
  REQUIRE_FALSE(task.empty());
  CHECK(p.wait_for_stage(task, "ready-for-dev", 30s).has_value());
}

TEST_CASE("dispatcher: with no capacity the agent is left idle and the reason recorded") {
  // The weekly limit is nearly used: interactive work may not touch the reserve.
  Pipeline p(kScenario, {},
             "accountant:\n  time_zone: UTC\n  accounts:\n    - name: default\n"
             "      five_hour: 1000\n      seven_day: 1000\n"
             "dispatcher:\n  order_estimate: 900\n  standing_orders:\n    - role: planner\n"
             "      objective: \"Tidy {project}\"\n      projects: [demo]\n"
             "      priority: interactive\n");
  p.start("accountant", "accountant-1");
  p.wait_for_accountant();
  p.start("dispatcher", "dispatcher-1");
  p.start("planner", "planner-1");
  auto idle = wait_for_event(p, "idle");
  REQUIRE(idle.has_value());
  CHECK(idle->agent_id() == "planner-1");
  CHECK(idle->reason().find("reserve") != std::string::npos);
  bool ordered = false;
  for (const auto& e : dispatch_events(p)) ordered |= e.kind() == "order";
  CHECK_FALSE(ordered);
  CHECK(queued(p, "planner") == 0);
  CHECK(p.task_with_objective("Tidy demo", 1s).empty());
}

TEST_CASE("dispatcher: a message on a trigger's subject becomes a brief with its fields") {
  Pipeline p(kScenario, {},
             "dispatcher:\n  triggers:\n    - name: pushes\n      subject: git.push.>\n"
             "      role: planner\n      objective: \"Review {json.ref} pushed to {subject.2}\"\n"
             "      project: \"{json.repo}\"\n      priority: batch\n");
  p.start("dispatcher", "dispatcher-1");
  p.start("planner", "planner-1");
  // The dispatcher is up once its trigger subscription answers: poll by publishing.
  auto deadline = std::chrono::steady_clock::now() + 30s;
  std::optional<v1::FleetEvent> fired;
  while (!fired && std::chrono::steady_clock::now() < deadline) {
    p.plain_publish("git.push.demo", R"({"ref": "refs/heads/main", "repo": "demo"})");
    fired = wait_for_event(p, "trigger", 1s);
  }
  REQUIRE(fired.has_value());
  CHECK(fired->details().at("trigger") == "pushes");
  auto task = p.task_with_objective("Review refs/heads/main pushed to demo");
  REQUIRE_FALSE(task.empty());
  auto done = p.wait_for_stage(task, "ready-for-dev", 30s);
  REQUIRE(done.has_value());
  CHECK(done->project() == "demo");
  CHECK(done->brief().priority() == "batch");
}

TEST_CASE(
    "dispatcher: killed right after filing a scheduled brief, restarted, files nothing twice") {
  Pipeline p(kScenario, {},
             "dispatcher:\n  schedules:\n    - name: hourly\n      cron: \"0 * * * *\"\n"
             "      time_zone: UTC\n      role: scout\n      objective: Look around\n"
             "      missed: run_once\n");
  // The last run was three hours ago: the latest missed one runs once at start.
  auto memory = KeyValue::open(p.connection(), subjects::kMemoryBucket);
  REQUIRE(memory.ok());
  const auto three_hours_ago = std::chrono::duration_cast<std::chrono::seconds>(
      (std::chrono::system_clock::now() - 3h).time_since_epoch());
  REQUIRE(memory->put("dispatcher.schedule.hourly", std::to_string(three_hours_ago.count())).ok());
  REQUIRE(ensure_brief_consumer(p.connection(), "scout").ok());

  p.set_agent_env({{"AGENCY_DISPATCHER_CRASH", "filed"}});
  auto& crashing = p.start("dispatcher", "dispatcher-1");
  CHECK(crashing.wait(30s) == 9);
  CHECK(queued(p, "scout") == 1);  // filed, then the process died
  for (const auto& e : dispatch_events(p)) CHECK(e.kind() != "schedule");  // died before that
  p.forget("dispatcher-1");

  p.set_agent_env({});
  p.start("dispatcher", "dispatcher-1");
  auto fired = wait_for_event(p, "schedule");
  REQUIRE(fired.has_value());
  CHECK(fired->details().at("brief").rfind("schedule:hourly:", 0) == 0);
  // The restarted dispatcher decided again and the stream dropped the repeat.
  CHECK(queued(p, "scout") == 1);
  auto missed = wait_for_event(p, "missed");
  REQUIRE(missed.has_value());
  CHECK(missed->reason().find("missed 2 run(s)") != std::string::npos);
  int schedules = 0;
  int misses = 0;
  for (const auto& e : dispatch_events(p)) {
    schedules += e.kind() == "schedule" ? 1 : 0;
    misses += e.kind() == "missed" ? 1 : 0;
  }
  CHECK(schedules == 1);
  CHECK(misses == 1);
}

TEST_CASE("dispatcher: restarted, it goes on with the next standing order, not the first") {
  Pipeline p("planner:\n  - spec: \"planned\"\n    sleep_ms: 4000\n", {},
             "accountant:\n  time_zone: UTC\n  accounts:\n    - name: default\n"
             "      five_hour: 100000000\n      seven_day: 1000000000\n"
             "dispatcher:\n  standing_orders:\n"
             "    - role: planner\n      objective: \"First order\"\n"
             "    - role: planner\n      objective: \"Second order\"\n");
  p.start("accountant", "accountant-1");
  p.wait_for_accountant();
  // Dies right after filing the first order, before recording it.
  p.set_agent_env({{"AGENCY_DISPATCHER_CRASH", "filed"}});
  auto& crashing = p.start("dispatcher", "dispatcher-1");
  p.start("planner", "planner-1");
  CHECK(crashing.wait(30s) == 9);
  p.forget("dispatcher-1");
  REQUIRE_FALSE(p.task_with_objective("First order").empty());
  REQUIRE(p.wait_for_agent_state("planner-1", "busy"));

  p.set_agent_env({});
  p.start("dispatcher", "dispatcher-1");
  // When the planner is idle again, the order after the first one follows.
  auto order = wait_for_event(p, "order");
  REQUIRE(order.has_value());
  CHECK(order->reason().find("Second order") != std::string::npos);
  CHECK_FALSE(p.task_with_objective("Second order").empty());
}

TEST_CASE("dispatcher: a task event published while it was down still triggers once it is back") {
  Pipeline p(kScenario, {},
             "dispatcher:\n  triggers:\n    - name: after-done\n"
             "      subject: agency.event.task.>\n      kinds: [done]\n      role: scout\n"
             "      objective: \"Follow up on {task.id}\"\n");
  REQUIRE(ensure_brief_consumer(p.connection(), "scout").ok());
  auto followed = [&] {
    auto consumers = list_consumers(p.connection(), subjects::kEventsStream);
    if (!consumers) return false;
    for (const auto& c : *consumers) {
      if (c.name == "dispatch-trigger-after-done") return true;
    }
    return false;
  };
  auto& first = p.start("dispatcher", "dispatcher-1");
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!followed() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);  // polling the stream's consumers, with a deadline
  }
  REQUIRE(followed());
  first.signal(SIGTERM);
  CHECK(first.wait(30s) == 0);
  p.forget("dispatcher-1");

  // While no dispatcher runs: a task moves on (no trigger) and another is done.
  auto publish = [&](const std::string& task, const std::string& kind) {
    v1::TaskEvent e;
    e.set_task_id(task);
    e.set_kind(kind);
    e.set_to_stage(kind == "done" ? "done" : "qa");
    e.set_actor("reviewer-1");
    REQUIRE(p.connection()
                .js_publish(subjects::task_event(task), codec::encode(e), task + ":" + kind)
                .ok());
  };
  publish("t-moved", "stage-changed");
  // Bad input is skipped and stops nothing.
  REQUIRE(p.connection()
              .js_publish(subjects::task_event("t-bad"),
                          Outgoing{"\xff\xff\xff not a TaskEvent", {}}, "t-bad")
              .ok());
  publish("t-gone", "done");

  p.start("dispatcher", "dispatcher-1");
  auto fired = wait_for_event(p, "trigger");
  REQUIRE(fired.has_value());
  CHECK(fired->details().at("trigger") == "after-done");
  CHECK(fired->task_id() == "t-gone");
  CHECK(fired->reason().find("brief to scout \"Follow up on t-gone\"") != std::string::npos);
  CHECK(queued(p, "scout") == 1);
  int triggers = 0;
  for (const auto& e : dispatch_events(p)) triggers += e.kind() == "trigger" ? 1 : 0;
  CHECK(triggers == 1);
}

TEST_CASE(
    "dispatcher: an agent idle with nothing to do while pacing allows is unused capacity, "
    "and the audit counts its hours") {
  // The planner has a standing order; the builder has none, and nothing is
  // queued for it.
  Pipeline p(kScenario, {},
             "accountant:\n  time_zone: UTC\n  accounts:\n    - name: default\n"
             "      five_hour: 100000000\n      seven_day: 1000000000\n"
             "dispatcher:\n  unused_after_seconds: 1\n  standing_orders:\n    - role: planner\n"
             "      objective: \"Tidy {project}\"\n      projects: [demo]\n"
             "auditor:\n  time_zone: UTC\n  rules:\n    unused_hours: 0\n");
  p.start("accountant", "accountant-1");
  p.wait_for_accountant();
  p.start("dispatcher", "dispatcher-1");
  p.start("builder", "builder-1");
  auto unused = wait_for_event(p, "unused");
  REQUIRE(unused.has_value());
  CHECK(unused->agent_id() == "builder-1");
  CHECK(unused->details().at("role") == "builder");
  CHECK(unused->reason().find("no standing order for builder") != std::string::npos);
  CHECK(unused->reason().find("accountant: granted") != std::string::npos);
  // Recorded once per idle spell, however often the dispatcher looks.
  p.start("planner", "planner-1");
  REQUIRE(wait_for_event(p, "order").has_value());
  std::size_t count = 0;
  for (const auto& e : dispatch_events(p)) {
    count += e.kind() == "unused" ? 1 : 0;
    CHECK_FALSE((e.kind() == "unused" && e.agent_id() == "planner-1"));
  }
  CHECK(count == 1);

  // The audit: the builder's idle time since, against a rule of 0 hours.
  auto cli = test::run({test::bin("agency"), "--config", (p.dir() / "agency.yaml").string(),
                        "--nats", p.server().url(), "audit", "--json", "--hours", "1"},
                       {}, 60s);
  REQUIRE_MESSAGE(cli.exit_code == 0, cli.err);
  const nlohmann::json j = nlohmann::json::parse(cli.out);
  REQUIRE(j.at("idle").size() == 1);
  CHECK(j["idle"][0]["role"] == "builder");
  CHECK(j["idle"][0]["agents"] == nlohmann::json::array({"builder-1"}));
  const double hours = j["idle"][0]["hours"];
  CHECK(hours > 0);
  CHECK(hours < 0.5);
  bool finding = false;
  for (const auto& f : j.at("findings")) finding |= f.at("rule") == "unused";
  CHECK(finding);
}

}  // namespace
}  // namespace agency
