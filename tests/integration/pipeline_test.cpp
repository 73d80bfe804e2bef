// The staged pipeline with real role processes, a real nats-server and a
// real git repository: briefs reach done, nothing is lost when an agent or
// the server dies, no stage is applied twice.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agency/v1/dead.pb.h"
#include "agency/v1/fleet.pb.h"
#include "bus/codec.hpp"
#include "bus/consumer.hpp"
#include "bus/kv.hpp"
#include "bus/provision.hpp"
#include "bus/subjects.hpp"
#include "runtime/git.hpp"
#include "runtime/tasks.hpp"
#include "tests/support/nats_server.hpp"
#include "tests/support/pipeline.hpp"
#include "tests/support/run.hpp"

namespace agency {
namespace {

using test::bin;
using test::Pipeline;
using test::write;

using namespace std::chrono_literals;

const char* kPassingScenario = R"(planner:
  - spec: "Add GREETING.md that says hello"
builder:
  - write: {path: GREETING.md, content: "hello from {task_id}\n"}
    summary: added GREETING.md
adversary:
  - verdict: pass
reviewer:
  - verdict: pass
)";

// One stage change per stage, in order, and nothing else.
void check_clean_trail(const std::vector<v1::TaskEvent>& events) {
  std::string moves;
  for (const auto& e : events) {
    moves += e.kind() + ":" + e.from_stage() + ">" + e.to_stage() + " (" + e.actor() + ") ";
  }
  CAPTURE(moves);
  std::vector<std::string> got;
  for (const auto& e : events) got.push_back(e.kind() + ":" + e.from_stage() + ">" + e.to_stage());
  CHECK(got == std::vector<std::string>{"created:>ready-for-prep",
                                        "stage-changed:ready-for-prep>ready-for-dev",
                                        "stage-changed:ready-for-dev>qa", "stage-changed:qa>review",
                                        "done:review>done"});
}

TEST_CASE("pipeline: a plain text brief from a non-agency client reaches done with a commit") {
  Pipeline p(kPassingScenario);
  p.start_fleet();
  p.plain_publish("agency.brief.planner", "Say hello in GREETING.md");
  auto task_id = p.task_with_objective("Say hello in GREETING.md");
  REQUIRE_FALSE(task_id.empty());
  auto done = p.wait_for_stage(task_id, "done");
  REQUIRE(done.has_value());
  CHECK(done->spec() == "Add GREETING.md that says hello");
  CHECK(done->branch() == "agency/" + task_id);
  CHECK(done->project() == "demo");
  check_clean_trail(p.events_through(task_id, "done"));
  auto commits = p.branch_commits(task_id);
  REQUIRE(commits.size() == 1);
  CHECK(commits[0].find(task_id) != std::string::npos);
}

TEST_CASE("pipeline: adversary findings send the task back, and the bounce limit blocks it") {
  Pipeline p(R"(planner:
  - spec: "Add GREETING.md"
builder:
  - write: {path: GREETING.md, content: "attempt {attempt}\n"}
adversary:
  - verdict: fail
    findings: ["GREETING.md is not friendly enough"]
reviewer:
  - verdict: pass
)");
  p.start_fleet();
  p.plain_publish("agency.brief.planner", "Say hello");
  auto task_id = p.task_with_objective("Say hello");
  REQUIRE_FALSE(task_id.empty());
  auto blocked = p.wait_for_stage(task_id, "blocked");
  REQUIRE(blocked.has_value());
  CHECK(blocked->bounces() == 3);
  CHECK(blocked->blocked_reason().find("limit 2") != std::string::npos);
  CHECK(blocked->blocked_reason().find("not friendly enough") != std::string::npos);
  int bounced = 0;
  for (const auto& e : p.events_through(task_id, "blocked"))
    bounced += e.kind() == "bounced" ? 1 : 0;
  CHECK(bounced == 2);
}

TEST_CASE("pipeline: kill -9 of the builder mid-engine loses nothing and commits once") {
  Pipeline p(R"(planner:
  - spec: "Add GREETING.md"
builder:
  - write: {path: GREETING.md, content: "hello\n"}
    sleep_ms: 4000
adversary:
  - verdict: pass
reviewer:
  - verdict: pass
)");
  p.start("planner", "planner-1");
  p.start("adversary", "adversary-1");
  p.start("reviewer", "reviewer-1");
  auto& victim = p.start("builder", "builder-1");
  p.plain_publish("agency.brief.planner", "Say hello");
  auto task_id = p.task_with_objective("Say hello");
  REQUIRE_FALSE(task_id.empty());
  REQUIRE(p.wait_for_agent_state("builder-1", "busy"));
  victim.signal(SIGKILL);
  REQUIRE(victim.wait(10s) == -1);  // killed by a signal, not exited
  p.forget("builder-1");
  p.start("builder", "builder-2");

  auto done = p.wait_for_stage(task_id, "done", 90s);
  REQUIRE(done.has_value());
  check_clean_trail(p.events_through(task_id, "done"));
  CHECK(p.branch_commits(task_id).size() == 1);
}

TEST_CASE("pipeline: SIGTERM during work hands the brief back and the next agent finishes it") {
  Pipeline p(R"(planner:
  - spec: "slow planning"
    sleep_ms: 6000
)");
  auto& first = p.start("planner", "planner-1");
  p.plain_publish("agency.brief.planner", "Plan slowly");
  auto task_id = p.task_with_objective("Plan slowly");
  REQUIRE_FALSE(task_id.empty());
  REQUIRE(p.wait_for_agent_state("planner-1", "busy"));
  auto started = std::chrono::steady_clock::now();
  first.signal(SIGTERM);
  CHECK(first.wait(10s) == 0);
  // It handed the brief back instead of finishing the 6 s of work.
  CHECK(std::chrono::steady_clock::now() - started < 3s);
  p.forget("planner-1");
  auto queues = list_consumers(p.connection(), subjects::kBriefsStream);
  REQUIRE(queues.ok());
  for (const auto& q : *queues) {
    // Still queued for the role: nothing was acked or lost.
    if (q.name == "briefs-planner")
      CHECK(q.pending + static_cast<std::uint64_t>(q.ack_pending) == 1);
  }
  CHECK(p.wait_for_stage(task_id, "ready-for-prep", 1s).has_value());

  p.start("planner", "planner-2");
  auto planned = p.wait_for_stage(task_id, "ready-for-dev", 30s);
  REQUIRE(planned.has_value());
  CHECK(planned->spec() == "slow planning");
  int changes = 0;
  for (const auto& e : p.events(task_id)) {
    if (e.kind() == "stage-changed") {
      ++changes;
      CHECK(e.actor() == "planner-2");
    }
  }
  CHECK(changes == 1);
}

TEST_CASE("pipeline: malformed briefs are dead-lettered with a reason and good ones still finish") {
  Pipeline p(kPassingScenario);
  p.start_fleet();
  p.plain_publish("agency.brief.planner", std::string("\xff\xfe\x01garbage", 10));
  p.plain_publish("agency.brief.planner", "First good brief");
  p.plain_publish("agency.brief.planner", R"({"objective": ["not", "a", "string"]})");
  p.plain_publish("agency.brief.planner", R"({"objective":"x","stage":"qa"})");
  p.plain_publish("agency.brief.planner", "Second good brief");
  for (const char* objective : {"First good brief", "Second good brief"}) {
    auto id = p.task_with_objective(objective);
    REQUIRE_FALSE(id.empty());
    CHECK(p.wait_for_stage(id, "done").has_value());
  }
  auto letters = replay(p.connection(), subjects::kDeadStream, "agency.dead.planner", 100);
  REQUIRE(letters.ok());
  REQUIRE(letters->size() == 3);
  std::set<std::string> reasons;
  for (const auto& m : *letters) {
    auto d = codec::decode<v1::DeadLetter>(m.data(), m.headers());
    REQUIRE(d.ok());
    CHECK_FALSE(d->reason().empty());
    reasons.insert(d->reason());
  }
  CHECK(reasons.size() == 3);
}

TEST_CASE("pipeline: an engine that keeps failing is dead-lettered and its task blocked") {
  Pipeline p(R"(planner:
  - error: "the model service is down"
)");
  p.start("planner", "planner-1");
  p.plain_publish("agency.brief.planner", "Plan against a broken engine");
  auto task_id = p.task_with_objective("Plan against a broken engine");
  REQUIRE_FALSE(task_id.empty());
  auto blocked = p.wait_for_stage(task_id, "blocked", 30s);
  REQUIRE(blocked.has_value());
  CHECK(blocked->blocked_reason().find("2 deliveries") != std::string::npos);
  CHECK(blocked->blocked_reason().find("the model service is down") != std::string::npos);
  auto letters = replay(p.connection(), subjects::kDeadStream, "agency.dead.planner", 10);
  REQUIRE(letters.ok());
  REQUIRE(letters->size() == 1);
  auto letter = codec::decode<v1::DeadLetter>((*letters)[0].data(), (*letters)[0].headers());
  REQUIRE(letter.ok());
  CHECK(letter->task_id() == task_id);
  CHECK(letter->payload() == "Plan against a broken engine");
  CHECK(letter->deliveries() == 2);
  auto events = p.events_through(task_id, "blocked");
  REQUIRE_FALSE(events.empty());
  CHECK(events.back().kind() == "blocked");
}

TEST_CASE("pipeline: 20 tasks through 2 agents per role all reach done, none twice") {
  Pipeline p(kPassingScenario);
  p.start_fleet(2);
  constexpr int kTasks = 20;
  for (int i = 0; i < kTasks; ++i)
    p.plain_publish("agency.brief.planner", "task number " + std::to_string(i));
  std::set<std::string> ids;
  for (int i = 0; i < kTasks; ++i) {
    auto id = p.task_with_objective("task number " + std::to_string(i), 60s);
    REQUIRE_FALSE(id.empty());
    ids.insert(id);
  }
  CHECK(ids.size() == kTasks);
  for (const auto& id : ids) {
    auto done = p.wait_for_stage(id, "done", 120s);
    REQUIRE_MESSAGE(done.has_value(), id);
    check_clean_trail(p.events_through(id, "done"));
    CHECK(p.branch_commits(id).size() == 1);
  }
}

TEST_CASE("pipeline: the server stopped and restarted mid-pipeline loses nothing") {
  Pipeline p(R"(planner:
  - spec: "Add GREETING.md"
builder:
  - write: {path: GREETING.md, content: "hello\n"}
    sleep_ms: 1500
adversary:
  - verdict: pass
reviewer:
  - verdict: pass
)");
  p.start_fleet();
  p.plain_publish("agency.brief.planner", "Survive a restart");
  auto task_id = p.task_with_objective("Survive a restart");
  REQUIRE_FALSE(task_id.empty());
  REQUIRE(p.wait_for_agent_state("builder-1", "busy"));
  REQUIRE(p.server().server().stop().ok());
  REQUIRE(p.server().server().restart().ok());
  auto done = p.wait_for_stage(task_id, "done", 90s);
  REQUIRE(done.has_value());
  check_clean_trail(p.events_through(task_id, "done"));
  CHECK(p.branch_commits(task_id).size() == 1);
}

// The scenario file shown in docs/ENGINES.md ("The scenario file"), read
// from the page itself so the example and this test cannot drift apart.
std::string documented_scenario() {
  std::ifstream in(std::string(AGENCY_SOURCE_DIR) + "/docs/ENGINES.md");
  REQUIRE(in.good());
  std::string line;
  std::string block;
  bool inside = false;
  while (std::getline(in, line)) {
    if (!inside) {
      inside = line == "```yaml";
      block.clear();
      continue;
    }
    if (line == "```") {
      if (block.rfind("# steps per role", 0) == 0) return block;
      inside = false;
      continue;
    }
    block += line + "\n";
  }
  FAIL("docs/ENGINES.md has no ```yaml block starting with \"# steps per role\"");
  return {};
}

TEST_CASE("pipeline: the scenario example of docs/ENGINES.md bounces once and reaches done") {
  Pipeline p(documented_scenario());
  p.start_fleet();
  p.plain_publish("agency.brief.planner", "Say hello as the docs do");
  auto task_id = p.task_with_objective("Say hello as the docs do");
  REQUIRE_FALSE(task_id.empty());
  auto done = p.wait_for_stage(task_id, "done", 90s);
  if (!done) {
    auto store = TaskStore::open(p.connection());
    REQUIRE(store.ok());
    auto now = store->load(task_id);
    REQUIRE(now.ok());
    FAIL("the task ended at " << now->task.stage() << ": " << now->task.blocked_reason());
  }
  CHECK(done->bounces() == 1);
  std::vector<std::string> got;
  for (const auto& e : p.events_through(task_id, "done")) {
    got.push_back(e.kind() + ":" + e.from_stage() + ">" + e.to_stage());
  }
  CHECK(got == std::vector<std::string>{
                   "created:>ready-for-prep", "stage-changed:ready-for-prep>ready-for-dev",
                   "stage-changed:ready-for-dev>qa", "bounced:qa>ready-for-dev",
                   "stage-changed:ready-for-dev>qa", "stage-changed:qa>review",
                   "done:review>done"});
  auto shown = git::run({"git", "show", git::branch_for(task_id) + ":GREETING.md"}, p.repo());
  CHECK(shown.output == "hello from " + task_id + "\n");
  CHECK(p.branch_commits(task_id).size() == 2);
}

}  // namespace
}  // namespace agency
