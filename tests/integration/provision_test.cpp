// Provisioning against a real nats-server: everything docs/STREAMS.md names
// exists afterwards, and a second run changes nothing.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "bus/consumer.hpp"
#include "bus/kv.hpp"
#include "bus/provision.hpp"
#include "bus/subjects.hpp"
#include "runtime/catalog.hpp"
#include "runtime/config.hpp"
#include "tests/support/nats_server.hpp"

namespace agency {
namespace {

using namespace std::chrono_literals;

struct StreamFacts {
  int64_t created = 0;
  uint64_t messages = 0;
  int64_t max_age = 0;
  jsRetentionPolicy retention = js_LimitsPolicy;
};

StreamFacts facts(Connection& c, const std::string& name) {
  jsStreamInfo* raw = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  REQUIRE_MESSAGE(js_GetStreamInfo(&raw, c.js(), name.c_str(), nullptr, &code) == NATS_OK, name);
  nats::StreamInfoPtr info(raw);
  return {info->Created, info->State.Msgs, info->Config->MaxAge, info->Config->Retention};
}

TEST_CASE("provision: creates every stream, bucket and role consumer") {
  test::NatsServer server;
  auto c = server.connect();
  // The catalog's roles and the configured ones: the bus itself knows none.
  auto report = provision(*c, config::provision_plan(config::Config{}, {"custom-role"}));
  REQUIRE_MESSAGE(report.ok(), (report.ok() ? "" : report.error().message));
  CHECK(report->updated.empty());
  CHECK(report->unchanged.empty());

  for (auto stream : {subjects::kBriefsStream, subjects::kEventsStream, subjects::kMailStream,
                      subjects::kUsageStream, subjects::kLogsStream, subjects::kDeadStream}) {
    CAPTURE(stream);
    CHECK(std::find(report->created.begin(), report->created.end(),
                    "stream " + std::string(stream)) != report->created.end());
  }
  CHECK(facts(*c, "AGENCY_BRIEFS").retention == js_WorkQueuePolicy);
  CHECK(facts(*c, "AGENCY_USAGE").max_age == 400LL * 24 * 3600 * 1000000000LL);
  CHECK(facts(*c, "AGENCY_EVENTS").max_age == 30LL * 24 * 3600 * 1000000000LL);
  for (auto bucket : {subjects::kTasksBucket, subjects::kFleetBucket, subjects::kMemoryBucket}) {
    CAPTURE(bucket);
    CHECK(KeyValue::open(*c, bucket).ok());
  }
  auto consumers = list_consumers(*c, subjects::kBriefsStream);
  REQUIRE(consumers.ok());
  std::vector<std::string> names;
  for (const auto& cs : *consumers) names.push_back(cs.name);
  REQUIRE_FALSE(catalog::names().empty());
  for (const auto& role : catalog::names()) {
    CHECK(std::find(names.begin(), names.end(), "briefs-" + role) != names.end());
  }
  CHECK(std::find(names.begin(), names.end(), "briefs-custom-role") != names.end());
}

TEST_CASE("provision: a second run changes nothing and keeps the data") {
  test::NatsServer server;
  auto c = server.connect();
  auto first = provision(*c, agency::config::provision_plan(agency::config::Config{}, {}));
  REQUIRE(first.ok());
  auto kv = KeyValue::open(*c, subjects::kTasksBucket);
  REQUIRE(kv.ok());
  REQUIRE(kv->put("t-1", "record").ok());
  REQUIRE(c->js_publish("agency.brief.planner", Outgoing{"queued work", {}}).ok());
  auto before = facts(*c, "AGENCY_BRIEFS");

  auto second = provision(*c, agency::config::provision_plan(agency::config::Config{}, {}));
  REQUIRE_MESSAGE(second.ok(), (second.ok() ? "" : second.error().message));
  CHECK(second->created.empty());
  CHECK(second->updated.empty());
  CHECK(second->unchanged.size() == first->created.size());

  auto after = facts(*c, "AGENCY_BRIEFS");
  CHECK(after.created == before.created);
  CHECK(after.messages == 1);
  auto entry = kv->get("t-1");
  REQUIRE(entry.ok());
  CHECK(entry->value == "record");
}

TEST_CASE("provision: a changed setting is put back, and reported as updated") {
  test::NatsServer server;
  auto c = server.connect();
  REQUIRE(provision(*c, agency::config::provision_plan(agency::config::Config{}, {})).ok());
  // Someone shortens the events' retention by hand.
  jsStreamInfo* raw = nullptr;
  REQUIRE(js_GetStreamInfo(&raw, c->js(), "AGENCY_EVENTS", nullptr, nullptr) == NATS_OK);
  nats::StreamInfoPtr info(raw);
  jsStreamConfig cfg = *info->Config;
  cfg.MaxAge = 3600LL * 1000000000LL;
  jsStreamInfo* updated = nullptr;
  REQUIRE(js_UpdateStream(&updated, c->js(), &cfg, nullptr, nullptr) == NATS_OK);
  jsStreamInfo_Destroy(updated);

  auto again = provision(*c, agency::config::provision_plan(agency::config::Config{}, {}));
  REQUIRE(again.ok());
  CHECK(again->updated == std::vector<std::string>{"stream AGENCY_EVENTS"});
  CHECK(facts(*c, "AGENCY_EVENTS").max_age == 30LL * 24 * 3600 * 1000000000LL);
}

TEST_CASE("provision: a stream with the wrong retention is an error that says what to do") {
  test::NatsServer server;
  auto c = server.connect();
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = "AGENCY_BRIEFS";
  const char* subj[] = {"agency.brief.>"};
  cfg.Subjects = subj;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  jsStreamInfo* raw = nullptr;
  REQUIRE(js_AddStream(&raw, c->js(), &cfg, nullptr, nullptr) == NATS_OK);
  jsStreamInfo_Destroy(raw);

  auto r = provision(*c, agency::config::provision_plan(agency::config::Config{}, {}));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == errc::config);
  CHECK(r.error().message.find("nats stream rm AGENCY_BRIEFS") != std::string::npos);
}

TEST_CASE("provision: an agent's check at start is two requests, and makes only what is missing") {
  test::NatsServer server;
  auto c = server.connect();
  ProvisionPlan plan = config::provision_plan(config::Config{}, {"custom-role"});
  REQUIRE(provision(*c, plan).ok());
  // Changed since `agency init`: an agent's check must leave it.
  jsStreamInfo* raw = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  REQUIRE(js_GetStreamInfo(&raw, c->js(), "AGENCY_EVENTS", nullptr, &code) == NATS_OK);
  nats::StreamInfoPtr events(raw);
  jsStreamConfig changed = *events->Config;
  changed.MaxAge = 7LL * 24 * 3600 * 1000000000LL;
  nats::StreamInfoPtr updated;
  REQUIRE(js_UpdateStream(nats::out(updated), c->js(), &changed, nullptr, &code) == NATS_OK);

  // Every JetStream API request the check makes, seen from another connection.
  auto watcher = server.connect("watcher");
  // The handler runs on the watcher's delivery thread, after a flush may
  // have returned: a last message from the checking connection, delivered
  // in order after its requests, says every request has been counted.
  const std::string sentinel = "$JS.API.AGENCY-TEST-SENTINEL";
  std::atomic<int> requests{0};
  std::atomic<bool> all_seen{false};
  auto sub = watcher->subscribe("$JS.API.>", {}, [&](Incoming m) {
    if (m.subject() == sentinel) {
      all_seen = true;
    } else {
      requests.fetch_add(1);
    }
  });
  REQUIRE(sub.ok());
  REQUIRE(watcher->flush(5s).ok());
  plan.keep_existing = true;
  auto again = provision(*c, plan);
  REQUIRE_MESSAGE(again.ok(), again.error().message);
  REQUIRE(c->publish(sentinel, Outgoing{"", {}}).ok());
  REQUIRE(c->flush(5s).ok());
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!all_seen && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);  // polling the handler's flag, with a deadline
  }
  REQUIRE(all_seen.load());
  CHECK(requests.load() == 2);
  CHECK(again->created.empty());
  CHECK(again->updated.empty());
  CHECK(facts(*c, "AGENCY_EVENTS").max_age == 7LL * 24 * 3600 * 1000000000LL);

  // A stream and a queue gone: the check makes them again, and only them.
  const std::string queue = subjects::brief_consumer("planner", "human");
  REQUIRE(js_DeleteStream(c->js(), "AGENCY_LOGS", nullptr, &code) == NATS_OK);
  REQUIRE(js_DeleteConsumer(c->js(), "AGENCY_BRIEFS", queue.c_str(), nullptr, &code) == NATS_OK);
  auto repaired = provision(*c, plan);
  REQUIRE_MESSAGE(repaired.ok(), repaired.error().message);
  CHECK(repaired->created ==
        std::vector<std::string>{"stream AGENCY_LOGS", "consumer AGENCY_BRIEFS/" + queue});
  CHECK(facts(*c, "AGENCY_LOGS").max_age == 400LL * 24 * 3600 * 1000000000LL);

  // A role name no queue can carry is refused.
  plan.roles.emplace_back("bad role");
  auto refused = provision(*c, plan);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == errc::config);
}

}  // namespace
TEST_CASE("provision: the bus makes brief consumers only for the roles it is given") {
  test::NatsServer server;
  auto c = server.connect();
  REQUIRE(provision(*c, ProvisionPlan{{"solo"}, 1}).ok());
  auto consumers = list_consumers(*c, subjects::kBriefsStream);
  REQUIRE(consumers.ok());
  // One queue per priority, all of the one role.
  std::vector<std::string> names;
  for (const auto& q : *consumers) names.push_back(q.name);
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"briefs-solo", "briefs-solo@batch", "briefs-solo@human",
                                          "briefs-solo@interactive"});
}

}  // namespace agency
