// Hostile input against hard limits, with real role processes and a real
// nats-server: nothing a client publishes can jam a role, make a record or a
// dead letter that cannot be stored, or be redelivered forever.
#include <doctest/doctest.h>
#include <nats/nats.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "agency/v1/dead.pb.h"
#include "bus/bounds.hpp"
#include "bus/codec.hpp"
#include "bus/consumer.hpp"
#include "bus/handles.hpp"
#include "bus/kv.hpp"
#include "bus/subjects.hpp"
#include "runtime/tasks.hpp"
#include "tests/support/pipeline.hpp"

namespace agency {
namespace {

using test::Pipeline;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

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

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xFFU);
  return s;
}

// The dead letters on `subject`, once there are at least `count` (or the
// deadline passed).
std::vector<v1::DeadLetter> dead_letters(Connection& c, const std::string& subject,
                                         std::size_t count, std::chrono::seconds timeout = 30s) {
  auto deadline = Clock::now() + timeout;
  std::vector<v1::DeadLetter> out;
  while (true) {
    out.clear();
    auto messages = replay(c, subjects::kDeadStream, subject, 1000);
    REQUIRE(messages.ok());
    for (const auto& m : *messages) {
      auto d = codec::decode<v1::DeadLetter>(m.data(), m.headers());
      REQUIRE(d.ok());
      out.push_back(std::move(*d));
    }
    if (out.size() >= count || Clock::now() >= deadline) return out;
    std::this_thread::sleep_for(50ms);  // polling a stream, with a deadline
  }
}

// True once no brief queue holds anything, delivered or not.
bool queues_empty(Connection& c, std::chrono::seconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    auto queues = list_consumers(c, subjects::kBriefsStream);
    REQUIRE(queues.ok());
    bool empty = true;
    for (const auto& q : *queues) empty = empty && q.pending == 0 && q.ack_pending == 0;
    if (empty) return true;
    std::this_thread::sleep_for(50ms);  // polling consumer state, with a deadline
  }
  return false;
}

TEST_CASE("limits: a 1 MiB brief, binary or text, is refused and the briefs behind it go on") {
  Pipeline p(kPassingScenario);
  p.start_fleet();
  const std::string binary = random_bytes(1000 * 1000, 1);
  const std::string text(1000 * 1000, 'a');
  // A JetStream publish hears the refusal from the stream itself.
  auto refused = p.connection().js_publish("agency.brief.planner", Outgoing{binary, {}});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.find("maximum") != std::string::npos);
  // A core publish (what `nats pub` does) is dropped by the stream.
  for (const char* role : {"planner", "builder", "adversary", "reviewer"}) {
    p.plain_publish(std::string("agency.brief.") + role, binary);
    p.plain_publish(std::string("agency.brief.") + role, text);
  }
  const auto sent = Clock::now();
  p.plain_publish("agency.brief.planner", "Good brief behind the poison");
  auto id = p.task_with_objective("Good brief behind the poison");
  REQUIRE_FALSE(id.empty());
  REQUIRE(p.wait_for_stage(id, "done", 60s).has_value());
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - sent);
  MESSAGE("the good brief behind eight 1 MB briefs reached done in " << took.count() << " ms");
  CHECK(took < 20s);
  CHECK(queues_empty(p.connection(), 10s));
  auto store = TaskStore::open(p.connection());
  REQUIRE(store.ok());
  auto tasks = store->list();
  REQUIRE(tasks.ok());
  CHECK(tasks->size() == 1);
}

TEST_CASE(
    "limits: a brief over limits.brief_bytes is dead-lettered with its size, digest and start") {
  Pipeline p(kPassingScenario, {}, "limits:\n  brief_bytes: 4096\n  dead_letter_keep_bytes: 512\n");
  p.start_fleet();
  REQUIRE(p.wait_for_agent_state("builder-1", "idle"));
  const std::string payload = "poison " + random_bytes(10000, 2);
  p.plain_publish("agency.brief.builder", payload);
  p.plain_publish("agency.brief.planner", "Good brief after an oversized one");
  auto id = p.task_with_objective("Good brief after an oversized one");
  REQUIRE_FALSE(id.empty());
  CHECK(p.wait_for_stage(id, "done", 60s).has_value());
  auto letters = dead_letters(p.connection(), "agency.dead.builder", 1);
  REQUIRE(letters.size() == 1);
  const auto& d = letters.front();
  CHECK(d.payload_size() == payload.size());
  CHECK(d.payload_sha256() == bounds::sha256_hex(payload));
  CHECK(d.payload() == payload.substr(0, 512));
  CHECK(d.payload_cut());
  CHECK(d.reason().find("limits.brief_bytes") != std::string::npos);
  CHECK(queues_empty(p.connection(), 10s));
}

TEST_CASE("limits: a large text brief makes a task record within limits.task_bytes") {
  Pipeline p(kPassingScenario, {}, "limits:\n  brief_bytes: 200000\n  task_bytes: 65536\n");
  p.start_fleet();
  REQUIRE(p.wait_for_agent_state("planner-1", "idle"));
  const std::string objective = "Large brief\n" + std::string(150000, 'x');
  p.plain_publish("agency.brief.planner", objective);
  auto store = TaskStore::open(p.connection());
  REQUIRE(store.ok());
  std::string id;
  auto deadline = Clock::now() + 30s;
  while (id.empty() && Clock::now() < deadline) {
    if (auto all = store->list(); all) {
      for (const auto& t : *all) {
        if (t.title() == "Large brief") id = t.id();
      }
    }
    std::this_thread::sleep_for(50ms);  // polling, with a deadline
  }
  REQUIRE_FALSE(id.empty());
  REQUIRE(p.wait_for_stage(id, "done", 60s).has_value());
  auto tasks = KeyValue::open(p.connection(), subjects::kTasksBucket);
  REQUIRE(tasks.ok());
  auto raw = tasks->get(id);
  REQUIRE(raw.ok());
  CHECK(raw->value.size() <= 65536);
  auto record = store->load(id);
  REQUIRE(record.ok());
  CHECK(record->task.brief().objective().starts_with("Large brief\nxxxx"));
  CHECK(record->task.brief().objective().find("[cut ") != std::string::npos);
}

TEST_CASE(
    "limits: a brief for a stage the pipeline does not have is dead-lettered, naming its stages") {
  Pipeline p(kPassingScenario);
  p.start_fleet();
  REQUIRE(p.wait_for_agent_state("reviewer-1", "idle"));
  // Well formed, so the codec takes it; no row of the pipeline table has it.
  p.plain_publish("agency.brief.reviewer", R"({"objective":"merge it","stage":"merge"})");
  auto letters = dead_letters(p.connection(), "agency.dead.reviewer", 1);
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].reason().find("stage merge is not in the pipeline") != std::string::npos);
  CHECK(letters[0].reason().find("ready-for-prep, ready-for-dev, qa, review") != std::string::npos);
  // The agent goes on: the next brief to the reviewer's role is taken.
  p.plain_publish("agency.brief.planner", "Good brief after an unknown stage");
  auto id = p.task_with_objective("Good brief after an unknown stage");
  REQUIRE_FALSE(id.empty());
  CHECK(p.wait_for_stage(id, "done", 60s).has_value());
}

TEST_CASE("limits: a brief whose attempt is ahead of its task is dead-lettered at once") {
  Pipeline p(kPassingScenario);
  p.start_fleet();
  REQUIRE(p.wait_for_agent_state("builder-1", "idle"));
  // A task that does not exist, at attempt 7: nothing agency publishes.
  const auto sent = Clock::now();
  p.plain_publish("agency.brief.builder", R"({"objective":"x","taskId":"t-ghost-1","attempt":7})");
  p.plain_publish("agency.brief.planner", "Good brief beside a ghost");
  auto letters = dead_letters(p.connection(), "agency.dead.builder", 1);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - sent);
  REQUIRE(letters.size() == 1);
  MESSAGE("the ghost brief was dead-lettered in " << took.count() << " ms");
  CHECK(took < 10s);
  CHECK(letters[0].reason().find("does not exist") != std::string::npos);
  CHECK(letters[0].task_id() == "t-ghost-1");
  auto id = p.task_with_objective("Good brief beside a ghost");
  REQUIRE_FALSE(id.empty());
  REQUIRE(p.wait_for_stage(id, "done", 60s).has_value());
  auto store = TaskStore::open(p.connection());
  REQUIRE(store.ok());
  auto ghost = store->load("t-ghost-1");
  REQUIRE_FALSE(ghost.ok());
  CHECK(ghost.error().code == errc::not_found);

  // A task that exists, at an attempt far past its record: refused the same
  // way, and the task is left as it was.
  auto before = store->load(id);
  REQUIRE(before.ok());
  p.plain_publish("agency.brief.builder", R"({"objective":"y","taskId":")" + id +
                                              R"(","stage":"ready-for-dev","attempt":9})");
  letters = dead_letters(p.connection(), "agency.dead.builder", 2);
  REQUIRE(letters.size() == 2);
  CHECK(letters[1].reason().find("ahead of task") != std::string::npos);
  auto after = store->load(id);
  REQUIRE(after.ok());
  CHECK(after->task.stage() == "done");
  CHECK(after->task.history_size() == before->task.history_size());
  CHECK(queues_empty(p.connection(), 10s));
}

TEST_CASE("limits: a brief whose dead letter cannot be stored is terminated, not redelivered") {
  Pipeline p(kPassingScenario);
  p.start_fleet();
  REQUIRE(p.wait_for_agent_state("planner-1", "idle"));
  // The dead letter stream refuses everything from now on.
  jsStreamInfo* raw = nullptr;
  REQUIRE(js_GetStreamInfo(&raw, p.connection().js(), "AGENCY_DEAD", nullptr, nullptr) == NATS_OK);
  nats::StreamInfoPtr info(raw);
  jsStreamConfig cfg = *info->Config;
  cfg.MaxMsgSize = 16;
  jsStreamInfo* updated = nullptr;
  REQUIRE(js_UpdateStream(&updated, p.connection().js(), &cfg, nullptr, nullptr) == NATS_OK);
  jsStreamInfo_Destroy(updated);

  p.plain_publish("agency.brief.planner", random_bytes(300, 3));
  // pipeline.max_deliver is 2: handed back once, then terminated.
  CHECK(queues_empty(p.connection(), 30s));
  p.plain_publish("agency.brief.planner", "Good brief after a lost cause");
  auto id = p.task_with_objective("Good brief after a lost cause");
  REQUIRE_FALSE(id.empty());
  CHECK(p.wait_for_stage(id, "done", 60s).has_value());
}

}  // namespace
}  // namespace agency
