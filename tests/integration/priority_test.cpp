// Priority queues against a real nats-server: one queue per priority and
// role, human first, fair turns for lower work, the plain subject as the
// default, and an idle agent told at once of a publish or a hand-back
// (docs/STREAMS.md, "Priorities").
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <string>
#include <vector>

#include "bus/codec.hpp"
#include "bus/consumer.hpp"
#include "bus/provision.hpp"
#include "bus/subjects.hpp"
#include "runtime/config.hpp"
#include "runtime/inbox.hpp"
#include "tests/support/nats_server.hpp"

namespace agency {
namespace {

using namespace std::chrono_literals;

void provision_role(Connection& c, const std::string& role) {
  config::Config cfg;
  REQUIRE(provision(c, config::provision_plan(cfg, {role})).ok());
}

// A brief published as `agency brief` does: JetStream, acked by the stream.
void publish(Connection& c, const std::string& role, const std::string& priority,
             const std::string& objective) {
  v1::Brief b;
  b.set_objective(objective);
  auto ack = c.js_publish(subjects::brief(role, priority), codec::encode(b), "");
  REQUIRE_MESSAGE(ack.ok(), (ack.ok() ? "" : ack.error().message));
}

ReceivedBrief take(BriefInbox& inbox) {
  auto got = inbox.next(5000ms);
  REQUIRE_MESSAGE(got.ok(), (got.ok() ? "" : got.error().message));
  REQUIRE(got->has_value());
  REQUIRE((*got)->message.ack().ok());
  return std::move(**got);
}

}  // namespace

TEST_CASE("priority: each role has a queue per priority, the default on the plain subject") {
  test::NatsServer server;
  auto c = server.connect();
  provision_role(*c, "builder");
  auto consumers = list_consumers(*c, subjects::kBriefsStream);
  REQUIRE(consumers.ok());
  std::map<std::string, std::string> filter_of;
  for (const auto& q : *consumers) filter_of[q.name] = q.filter_subject;
  CHECK(filter_of["briefs-builder"] == "agency.brief.builder");
  CHECK(filter_of["briefs-builder@human"] == "agency.brief.builder.human");
  CHECK(filter_of["briefs-builder@interactive"] == "agency.brief.builder.interactive");
  CHECK(filter_of["briefs-builder@batch"] == "agency.brief.builder.batch");
  // Provisioning again changes nothing.
  auto again = provision(*c, config::provision_plan(config::Config{}, {"builder"}));
  REQUIRE(again.ok());
  CHECK(again->created.empty());
  CHECK(again->updated.empty());
}

TEST_CASE("priority: with 200 batch briefs queued, a human brief is the next one taken") {
  test::NatsServer server;
  auto c = server.connect();
  provision_role(*c, "builder");
  for (int i = 0; i < 200; ++i) publish(*c, "builder", "batch", "batch " + std::to_string(i));
  auto inbox = BriefInbox::open(*c, "builder", "builder-1");
  REQUIRE(inbox.ok());
  auto first = take(*inbox);
  CHECK(first.brief.objective() == "batch 0");
  CHECK(first.brief.priority() == "batch");

  publish(*c, "builder", "human", "the person's brief");
  auto next = take(*inbox);
  CHECK(next.brief.objective() == "the person's brief");
  CHECK(next.brief.priority() == "human");
  // Then the batch work goes on where it was, oldest first.
  CHECK(take(*inbox).brief.objective() == "batch 1");
}

TEST_CASE("priority: batch work still moves while interactive work keeps arriving") {
  test::NatsServer server;
  auto c = server.connect();
  provision_role(*c, "builder");
  for (int i = 0; i < 3; ++i) publish(*c, "builder", "batch", "batch " + std::to_string(i));
  for (int i = 0; i < 4; ++i) publish(*c, "builder", "", "scheduled " + std::to_string(i));
  auto inbox = BriefInbox::open(*c, "builder", "builder-1");
  REQUIRE(inbox.ok());
  std::vector<std::string> order;
  for (int i = 0; i < 20; ++i) {
    publish(*c, "builder", "interactive", "interactive " + std::to_string(i));
    order.push_back(take(*inbox).brief.objective());
  }
  // Of every five briefs, four interactive and one of the lower queues in
  // turn (docs/STREAMS.md; the exact rule is brief_picker_test's): here,
  // against a real server whose answers a loaded machine may delay, scheduled
  // and batch work both moved, each queue oldest first, and interactive
  // work kept most of the turns.
  std::vector<std::string> scheduled;
  std::vector<std::string> batch;
  for (const auto& o : order) {
    if (o.starts_with("scheduled")) scheduled.push_back(o);
    if (o.starts_with("batch")) batch.push_back(o);
  }
  CAPTURE(order);
  CHECK(scheduled.size() + batch.size() >= 3);
  CHECK(scheduled.size() + batch.size() <= 8);
  REQUIRE_FALSE(scheduled.empty());
  REQUIRE_FALSE(batch.empty());
  for (std::size_t i = 0; i < scheduled.size(); ++i) {
    CHECK(scheduled[i] == "scheduled " + std::to_string(i));
  }
  for (std::size_t i = 0; i < batch.size(); ++i) CHECK(batch[i] == "batch " + std::to_string(i));
}

TEST_CASE("priority: the plain subject keeps the sender's priority, a priority's subject sets it") {
  test::NatsServer server;
  auto c = server.connect();
  provision_role(*c, "planner");
  // `nats pub agency.brief.planner '{"objective":...,"priority":"batch"}'`
  const std::string json = R"({"objective":"plain with a field","priority":"batch"})";
  // Published to the stream and acked, so both are stored before the look.
  REQUIRE(c->js_publish("agency.brief.planner", Outgoing{json, {}}).ok());
  REQUIRE(
      c->js_publish("agency.brief.planner.human", Outgoing{"typed on the human subject", {}}).ok());
  auto inbox = BriefInbox::open(*c, "planner", "planner-1");
  REQUIRE(inbox.ok());
  auto human = take(*inbox);
  CHECK(human.brief.objective() == "typed on the human subject");
  CHECK(human.brief.priority() == "human");
  auto plain = take(*inbox);
  CHECK(plain.brief.objective() == "plain with a field");
  CHECK(plain.brief.priority() == "batch");
}

TEST_CASE("priority: an idle agent is told at once of a publish and of a hand-back") {
  test::NatsServer server;
  auto c = server.connect();
  provision_role(*c, "reviewer");
  InboxLimits slow;
  slow.recheck = 120s;  // only an announcement can bring a brief within the test
  auto a = BriefInbox::open(*c, "reviewer", "reviewer-1", slow);
  REQUIRE(a.ok());
  auto idle = a->next(100ms);  // the first look finds every queue empty
  REQUIRE(idle.ok());
  REQUIRE_FALSE(idle->has_value());

  auto waiting = std::async(std::launch::async, [&] { return a->next(20s); });
  REQUIRE(waiting.wait_for(200ms) == std::future_status::timeout);  // it waits
  publish(*c, "reviewer", "batch", "review me");
  REQUIRE(waiting.wait_for(10s) == std::future_status::ready);
  auto got = waiting.get();
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK((*got)->brief.objective() == "review me");

  // Agent b, idle, learns of the brief a hands back.
  auto b = BriefInbox::open(*c, "reviewer", "reviewer-2", slow);
  REQUIRE(b.ok());
  auto none = b->next(100ms);
  REQUIRE(none.ok());
  REQUIRE_FALSE(none->has_value());
  auto b_waiting = std::async(std::launch::async, [&] { return b->next(20s); });
  REQUIRE(b_waiting.wait_for(200ms) == std::future_status::timeout);
  REQUIRE((*got)->message.hand_back(*c).ok());
  REQUIRE(b_waiting.wait_for(10s) == std::future_status::ready);
  auto again = b_waiting.get();
  REQUIRE(again.ok());
  REQUIRE(again->has_value());
  CHECK((*again)->brief.objective() == "review me");
  CHECK((*again)->delivery.deliveries == 2);
  REQUIRE((*again)->message.ack().ok());
}

TEST_CASE("priority: a brief handed back with a delay is found at the next recheck") {
  test::NatsServer server;
  auto c = server.connect();
  provision_role(*c, "scout");
  InboxLimits quick;
  quick.recheck = 300ms;
  auto inbox = BriefInbox::open(*c, "scout", "scout-1", quick);
  REQUIRE(inbox.ok());
  publish(*c, "scout", "", "look around");
  auto got = inbox->next(5000ms);
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  REQUIRE((*got)->message.nak(500).ok());  // no announcement: the recheck finds it
  auto again = inbox->next(10s);
  REQUIRE(again.ok());
  REQUIRE(again->has_value());
  CHECK((*again)->brief.objective() == "look around");
  REQUIRE((*again)->message.ack().ok());
}

TEST_CASE(
    "priority: an idle inbox with every queue quiet stops asking, and a publish brings "
    "the rechecks back") {
  test::NatsServer server;
  auto c = server.connect();
  provision_role(*c, "scout");
  std::atomic<int> asked{0};  // consumer reads (rechecks), seen on the wire
  auto watch = c->subscribe("$JS.API.CONSUMER.INFO.>", {}, [&](Incoming) { ++asked; });
  REQUIRE(watch.ok());
  REQUIRE(c->flush(5s).ok());
  InboxLimits limits;
  limits.recheck = 200ms;
  limits.quiet_recheck = 120s;
  auto inbox = BriefInbox::open(*c, "scout", "scout-1", limits);
  REQUIRE(inbox.ok());
  auto idle = inbox->next(100ms);  // the first look: every queue quiet
  REQUIRE(idle.ok());
  REQUIRE_FALSE(idle->has_value());
  REQUIRE(c->flush(5s).ok());
  const int first = asked.load();
  CHECK(first >= 4);                 // opening reads each consumer, the first look each queue
  auto still = inbox->next(1500ms);  // seven rechecks' worth of time, all quiet
  REQUIRE(still.ok());
  REQUIRE_FALSE(still->has_value());
  REQUIRE(c->flush(5s).ok());
  CHECK(asked.load() == first);

  // A publish is heard: the brief may come back with a delay later, unannounced,
  // so the quick rechecks resume and find it.
  publish(*c, "scout", "", "look around");
  auto got = inbox->next(5000ms);
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  REQUIRE((*got)->message.nak(500).ok());
  auto again = inbox->next(10s);
  REQUIRE(again.ok());
  REQUIRE(again->has_value());
  CHECK((*again)->brief.objective() == "look around");
  REQUIRE((*again)->message.ack().ok());
}

}  // namespace agency
