// The bus primitives against a real nats-server: JetStream publish with
// Nats-Msg-Id, batches of them with every ack checked, request/reply, KV
// compare-and-set and watch, reconnects.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "agency/v1/brief.pb.h"
#include "agency/v1/task.pb.h"
#include "bus/codec.hpp"
#include "bus/consumer.hpp"
#include "bus/js_batch.hpp"
#include "bus/kv.hpp"
#include "bus/provision.hpp"
#include "bus/subjects.hpp"
#include "runtime/config.hpp"
#include "runtime/tasks.hpp"
#include "tests/support/nats_server.hpp"

namespace agency {
namespace {

using namespace std::chrono_literals;

TEST_CASE("bus: a JetStream publish with the same Nats-Msg-Id is dropped as a duplicate") {
  test::NatsServer server;
  auto c = server.connect();
  REQUIRE(provision(*c, agency::config::provision_plan(agency::config::Config{}, {})).ok());
  v1::Brief brief;
  brief.set_objective("write the spec");
  auto first =
      c->js_publish(subjects::brief("planner"), codec::encode(brief), "t-1:ready-for-prep:1");
  auto second =
      c->js_publish(subjects::brief("planner"), codec::encode(brief), "t-1:ready-for-prep:1");
  auto third =
      c->js_publish(subjects::brief("planner"), codec::encode(brief), "t-1:ready-for-prep:2");
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  REQUIRE(third.ok());
  CHECK_FALSE(first->duplicate);
  CHECK(second->duplicate);
  CHECK(second->sequence == first->sequence);
  CHECK_FALSE(third->duplicate);
  CHECK(third->sequence == first->sequence + 1);
}

TEST_CASE("bus: publishing where no stream listens says to provision") {
  test::NatsServer server;
  auto c = server.connect();
  auto r = c->js_publish("agency.brief.planner", Outgoing{"x", {}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("agency init") != std::string::npos);
}

TEST_CASE("bus: request/reply carries headers, and no responder is its own error") {
  test::NatsServer server;
  auto c = server.connect();
  auto sub = c->subscribe("svc.echo", "workers", [&](Incoming m) {
    Outgoing reply{"echo:" + std::string(m.data()),
                   {{"X-Seen", m.header("X-In").value_or("none")}}};
    (void)c->publish(m.reply(), reply);
  });
  REQUIRE(sub.ok());
  REQUIRE(c->flush(2000ms).ok());
  auto answer = c->request("svc.echo", Outgoing{"hi", {{"X-In", "42"}}}, 2000ms);
  REQUIRE(answer.ok());
  CHECK(answer->data() == "echo:hi");
  CHECK(answer->header("X-Seen") == std::optional<std::string>("42"));

  auto nobody = c->request("svc.nobody", Outgoing{"hi", {}}, 2000ms);
  REQUIRE_FALSE(nobody.ok());
  CHECK(nobody.error().code == errc::no_responders);
}

TEST_CASE("bus: KV create, compare-and-set update and watch") {
  test::NatsServer server;
  auto c = server.connect();
  REQUIRE(provision(*c, agency::config::provision_plan(agency::config::Config{}, {})).ok());
  auto kv = KeyValue::open(*c, subjects::kTasksBucket);
  REQUIRE(kv.ok());

  auto missing = kv->get("t-x");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == errc::not_found);

  auto rev1 = kv->create("t-x", "one");
  REQUIRE(rev1.ok());
  auto again = kv->create("t-x", "other");
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == errc::already_exists);

  auto rev2 = kv->update("t-x", "two", *rev1);
  REQUIRE(rev2.ok());
  auto stale = kv->update("t-x", "three", *rev1);
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.error().code == errc::wrong_revision);
  auto now = kv->get("t-x");
  REQUIRE(now.ok());
  CHECK(now->value == "two");
  CHECK(now->revision == *rev2);

  auto watcher = kv->watch(">");
  REQUIRE(watcher.ok());
  auto initial = watcher->next(2000ms);
  REQUIRE(initial.ok());
  REQUIRE(initial->has_value());
  CHECK((*initial)->key == "t-x");
  auto marker = watcher->next(2000ms);
  REQUIRE(marker.ok());
  REQUIRE(marker->has_value());
  CHECK((*marker)->key.empty());
  REQUIRE(kv->put("t-y", "new").ok());
  auto change = watcher->next(2000ms);
  REQUIRE(change.ok());
  REQUIRE(change->has_value());
  CHECK((*change)->key == "t-y");
  CHECK((*change)->value == "new");
  auto keys = kv->keys();
  REQUIRE(keys.ok());
  CHECK(keys->size() == 2);
}

TEST_CASE("bus: concurrent task updates all land through compare-and-set") {
  test::NatsServer server;
  auto c = server.connect();
  REQUIRE(provision(*c, agency::config::provision_plan(agency::config::Config{}, {})).ok());
  auto store = TaskStore::open(*c);
  REQUIRE(store.ok());
  v1::Brief brief;
  brief.set_id("b-1");
  brief.set_task_id("t-cas");
  brief.set_objective("count to forty");
  REQUIRE(store->create(brief, "ready-for-prep", "test").ok());

  constexpr int kThreads = 4;
  constexpr int kEach = 10;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto own = server.connect("writer-" + std::to_string(t));
      auto s = TaskStore::open(*own);
      if (!s) {
        ++failures;
        return;
      }
      for (int i = 0; i < kEach; ++i) {
        auto r = s->update("t-cas", [](v1::Task& task) {
          task.set_bounces(task.bounces() + 1);
          return true;
        });
        if (!r) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  auto final_task = store->load("t-cas");
  REQUIRE(final_task.ok());
  CHECK(final_task->task.bounces() == kThreads * kEach);
}

TEST_CASE("bus: task create is idempotent and writes one created event") {
  test::NatsServer server;
  auto c = server.connect();
  REQUIRE(provision(*c, agency::config::provision_plan(agency::config::Config{}, {})).ok());
  auto store = TaskStore::open(*c);
  REQUIRE(store.ok());
  v1::Brief brief;
  brief.set_id("b-2");
  brief.set_task_id("t-idem");
  brief.set_objective("Add rate limiting to the API\nwith details below");
  auto first = store->create(brief, "ready-for-prep", "agency-cli");
  auto replay_ = store->create(brief, "ready-for-prep", "agency-cli");
  REQUIRE(first.ok());
  REQUIRE(replay_.ok());
  CHECK(replay_->revision == first->revision);
  CHECK(first->task.title() == "Add rate limiting to the API");
  auto events = store->history("t-idem");
  REQUIRE(events.ok());
  REQUIRE(events->size() == 1);
  CHECK(events->front().kind() == "created");
  CHECK(events->front().to_stage() == "ready-for-prep");
}

// The accountant follows AGENCY_USAGE with replay() on the thread that
// answers its questions; in the bus fuzzer one replay kept that thread 66 s
// while the flood went on. replay() reads what the stream holds when it is
// called and returns, however fast messages keep coming.
TEST_CASE("bus: replay reads what the stream holds and returns while messages keep coming") {
  test::NatsServer server;
  auto c = server.connect();
  REQUIRE(provision(*c, agency::config::provision_plan(agency::config::Config{}, {})).ok());
  const std::string subject = "agency.usage.claude.builder";
  for (int i = 0; i < 300; ++i) {
    REQUIRE(c->js_publish(subject, Outgoing{"before " + std::to_string(i), {}}).ok());
  }
  // Another connection stores messages as fast as it can until told to stop.
  auto writer_connection = server.connect("writer");
  std::atomic<bool> writing{true};
  std::atomic<int> written{0};
  std::thread writer([&] {
    while (writing.load()) {
      if (writer_connection->js_publish(subject, Outgoing{"during", {}}).ok()) ++written;
      std::this_thread::sleep_for(1ms);  // the writer's pace, not a wait for anything
    }
  });
  while (written.load() < 5) std::this_thread::yield();  // the writer is storing
  const auto began = std::chrono::steady_clock::now();
  auto got = replay(*c, subjects::kUsageStream, "agency.usage.>", 1000);
  const auto took = std::chrono::steady_clock::now() - began;
  const int during_read = written.load();
  writing.store(false);
  writer.join();
  REQUIRE(got.ok());
  // Everything stored before the call, in order, and not the 1000 asked
  // for: the writer's messages stored during the read are left.
  REQUIRE(got->size() >= 305);
  CHECK(got->size() < 1000);
  CHECK(std::string(got->front().data()) == "before 0");
  CHECK(std::string((*got)[299].data()) == "before 299");
  CHECK_MESSAGE(
      took < 5s,
      "replay took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                     << " ms while " << during_read << " messages were stored");
  // A replay from a sequence past the end returns at once with nothing.
  auto none = replay(*c, subjects::kUsageStream, "agency.usage.>", 1000, 100000);
  REQUIRE(none.ok());
  CHECK(none->empty());
}

TEST_CASE("bus: a connection rides out a server restart on the same store") {
  test::NatsServer server;
  std::mutex mu;
  std::condition_variable cv;
  bool reconnected = false;
  ConnectSettings settings;
  settings.servers = {server.url()};
  settings.origin = "test";
  ConnectOptions options;
  options.name = "restart";
  options.on_event = [&](std::string_view e) {
    if (e.rfind("reconnected", 0) == 0) {
      std::lock_guard lock(mu);
      reconnected = true;
      cv.notify_all();
    }
  };
  auto c = Connection::open(settings, options);
  REQUIRE(c.ok());
  REQUIRE(provision(**c, ProvisionPlan{{"builder"}, 1}).ok());
  REQUIRE((*c)->js_publish("agency.brief.builder", Outgoing{"before", {}}).ok());
  CHECK((*c)->reconnects() == 0);

  REQUIRE(server.server().stop().ok());
  REQUIRE(server.server().restart().ok());
  {
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, 20s, [&] { return reconnected; }));
  }
  CHECK((*c)->reconnects() == 1);  // what an inbox reads to ask its queues again
  REQUIRE((*c)->js_publish("agency.brief.builder", Outgoing{"after", {}}).ok());
  auto consumer =
      PullConsumer::bind(**c, "AGENCY_BRIEFS", "briefs-builder", "agency.brief.builder");
  REQUIRE(consumer.ok());
  auto got = consumer->fetch(10, 2000ms);
  REQUIRE(got.ok());
  REQUIRE(got->size() == 2);
  CHECK((*got)[0].data() == "before");
  CHECK((*got)[1].data() == "after");
}

TEST_CASE("bus: a consumer may deliver while a message waits or is out unacknowledged") {
  test::NatsServer server;
  auto c = server.connect();
  REQUIRE(provision(*c, ProvisionPlan{{"builder"}, 1}).ok());
  auto consumer = PullConsumer::bind(*c, "AGENCY_BRIEFS", "briefs-builder", "agency.brief.builder");
  REQUIRE(consumer.ok());
  auto empty = consumer->may_deliver();
  REQUIRE(empty.ok());
  CHECK_FALSE(*empty);

  REQUIRE(c->js_publish("agency.brief.builder", Outgoing{"one", {}}).ok());
  CHECK(consumer->may_deliver().value());
  auto got = consumer->fetch_now(1, 1000ms);
  REQUIRE(got.ok());
  REQUIRE(got->size() == 1);
  // Out and not acknowledged: it may come back (a NAK, an ack wait).
  CHECK(consumer->may_deliver().value());
  // Handed back, with a delay and at once: it will be delivered again.
  REQUIRE((*got)[0].nak(60000).ok());
  REQUIRE(c->flush(1000ms).ok());
  CHECK(consumer->may_deliver().value());
  REQUIRE(hand_back(*c, (*got)[0].reply()).ok());
  CHECK(consumer->may_deliver().value());
  auto again = consumer->fetch_now(1, 1000ms);
  REQUIRE(again.ok());
  REQUIRE(again->size() == 1);
  REQUIRE((*again)[0].ack().ok());
  CHECK_FALSE(consumer->may_deliver().value());
}

std::uint64_t stored_on(Connection& c, const std::string& subject) {
  auto counts = stream_subjects(c, subjects::kUsageStream, subject);
  REQUIRE(counts.ok());
  return counts->empty() ? 0 : counts->front().messages;
}

TEST_CASE("bus: a JsBatch publishes thousands without waiting for each ack, and counts every ack") {
  test::NatsServer server;
  auto c = server.connect();
  REQUIRE(provision(*c, agency::config::provision_plan(agency::config::Config{}, {})).ok());
  JsBatchOptions options;
  options.window = 64;  // far fewer than the batch: publish waits for room
  auto batch = JsBatch::open(*c, options);
  REQUIRE(batch.ok());
  const std::string subject = "agency.usage.claude.batch";
  auto publish = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      REQUIRE(batch
                  ->publish(subject, Outgoing{"sample " + std::to_string(i), {}},
                            "u-" + std::to_string(i))
                  .ok());
      CHECK(batch->outstanding() <= 64);
    }
  };
  publish(0, 3000);
  auto first = batch->finish();
  REQUIRE_MESSAGE(first.ok(), first.error().message);
  CHECK(first->stored == 3000);
  CHECK(first->duplicates == 0);
  CHECK(batch->outstanding() == 0);
  CHECK(stored_on(*c, subject) == 3000);

  // The same msg ids again are duplicates; new ones among them are stored.
  publish(2990, 3010);
  auto second = batch->finish();
  REQUIRE_MESSAGE(second.ok(), second.error().message);
  CHECK(second->stored == 10);
  CHECK(second->duplicates == 10);
  CHECK(stored_on(*c, subject) == 3010);
  // In the order published.
  auto messages = replay(*c, subjects::kUsageStream, subject, 10, 3001);
  REQUIRE(messages.ok());
  REQUIRE(messages->size() == 10);
  CHECK(messages->front().data() == "sample 3000");
  CHECK(messages->back().data() == "sample 3009");
}

TEST_CASE("bus: a JsBatch reports every publish the stream refused, and goes on afterwards") {
  test::NatsServer server;
  auto c = server.connect();
  ProvisionPlan plan = agency::config::provision_plan(agency::config::Config{}, {});
  plan.usage_bytes = 1024;
  REQUIRE(provision(*c, plan).ok());
  auto batch = JsBatch::open(*c);
  REQUIRE(batch.ok());

  SUBCASE("no stream for the subject") {
    for (int i = 0; i < 3; ++i) {
      REQUIRE(batch->publish("nowhere.stored", Outgoing{"x", {}}, "n-" + std::to_string(i)).ok());
    }
    auto r = batch->finish();
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == errc::not_found);
    CHECK(r.error().message.find("3 of 3") != std::string::npos);
    CHECK(r.error().message.find("agency init") != std::string::npos);
  }
  SUBCASE("one message too large among good ones") {
    const std::string subject = "agency.usage.claude.batch";
    for (int i = 0; i < 5; ++i) {
      const std::string data = i == 2 ? std::string(64 * 1024, 'x') : "small";
      REQUIRE(batch->publish(subject, Outgoing{data, {}}, "m-" + std::to_string(i)).ok());
    }
    auto r = batch->finish();
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == errc::jetstream);
    CHECK(r.error().message.find("1 of 5") != std::string::npos);
    CHECK(r.error().message.find("m-2") != std::string::npos);
    CHECK(stored_on(*c, subject) == 4);
  }
  // The failures were said once: the next batch starts clean.
  REQUIRE(batch->publish("agency.usage.claude.after", Outgoing{"ok", {}}, "a-1").ok());
  auto after = batch->finish();
  REQUIRE_MESSAGE(after.ok(), after.error().message);
  CHECK(after->stored == 1);
}

TEST_CASE("bus: a JsBatch publish that is never acknowledged fails after ack_wait") {
  test::NatsServer server;
  auto c = server.connect();
  // A plain subscriber that never answers: the publish has a listener
  // (no "no responders") but no ack comes.
  auto silent = c->subscribe("silent.>", {}, [](Incoming) {});
  REQUIRE(silent.ok());
  REQUIRE(c->flush(5s).ok());
  JsBatchOptions options;
  options.window = 1;
  options.ack_wait = 200ms;
  auto batch = JsBatch::open(*c, options);
  REQUIRE(batch.ok());
  const auto began = std::chrono::steady_clock::now();
  REQUIRE(batch->publish("silent.one", Outgoing{"1", {}}, "s-1").ok());
  // The window is full: the second waits for the first to run out.
  REQUIRE(batch->publish("silent.two", Outgoing{"2", {}}, "s-2").ok());
  auto r = batch->finish();
  const auto took = std::chrono::steady_clock::now() - began;
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == errc::timeout);
  CHECK(r.error().message.find("2 of 2") != std::string::npos);
  CHECK(took >= 400ms);
  CHECK(took < 5s);
}

}  // namespace
}  // namespace agency
