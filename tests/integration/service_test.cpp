// $SRV discovery (ADR-32) against a real nats-server: what `nats micro ls`,
// `nats micro info` and @nats-io/services would see, asked with plain
// requests from a separate connection; and what a running agent's stats
// count.
#include "bus/service.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/nats_server.hpp"
#include "tests/support/pipeline.hpp"

namespace agency {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

ServiceIdentity planner_identity(std::string id) {
  return ServiceIdentity{"agency-planner", std::move(id), "0.1.0", "agency planner agent"};
}

std::vector<ServiceEndpoint> planner_endpoints() {
  return {ServiceEndpoint{"brief", "agency.brief.planner", "", {{"consumer", "briefs-planner"}}},
          ServiceEndpoint{"ask", "agency.ask.planner", "planner", {}}};
}

json ask(Connection& c, const std::string& subject) {
  auto reply = c.request(subject, Outgoing{}, 2000ms);
  REQUIRE_MESSAGE(reply.ok(), subject << ": " << reply.error().describe());
  json out = json::parse(reply->data(), nullptr, false);
  REQUIRE_MESSAGE(out.is_object(), subject << " answered " << reply->data());
  return out;
}

// name, id, version and metadata: the identity every answer carries.
void check_identity(const json& j, const std::string& type, const std::string& id,
                    const std::map<std::string, std::string>& metadata) {
  REQUIRE(j.contains("type"));
  CHECK(j["type"] == type);
  CHECK(j["name"] == "agency-planner");
  CHECK(j["id"] == id);
  CHECK(j["version"] == "0.1.0");
  REQUIRE(j["metadata"].is_object());
  CHECK(j["metadata"].size() == metadata.size());
  for (const auto& [k, v] : metadata) {
    REQUIRE(j["metadata"].contains(k));
    CHECK(j["metadata"][k] == v);
  }
}

std::set<std::string> keys(const json& j) {
  std::set<std::string> out;
  for (const auto& item : j.items()) out.insert(item.key());
  return out;
}

// Seconds since the epoch of "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ", or -1.
std::int64_t parse_started(const std::string& text) {
  static const std::regex pattern(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$)");
  if (!std::regex_match(text, pattern)) return -1;
  std::tm tm{};
  if (strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) return -1;
  return static_cast<std::int64_t>(timegm(&tm));
}

TEST_CASE("service: ping, info and stats answer on every SRV subject with ADR-32 fields") {
  test::NatsServer server;
  auto agent = server.connect("agent");
  auto client = server.connect("client");
  const std::map<std::string, std::string> metadata{{"role", "planner"}, {"state", "idle"}};
  const auto before = std::chrono::system_clock::now();
  auto responder =
      ServiceResponder::start(*agent, planner_identity("planner-1"), planner_endpoints(), metadata);
  REQUIRE_MESSAGE(responder.ok(), responder.error().describe());

  for (const std::string suffix : {"", ".agency-planner", ".agency-planner.planner-1"}) {
    CAPTURE(suffix);
    {  // ping
      const json j = ask(*client, "$SRV.PING" + suffix);
      check_identity(j, "io.nats.micro.v1.ping_response", "planner-1", metadata);
      CHECK(keys(j) == std::set<std::string>{"type", "name", "id", "version", "metadata"});
      CHECK(j == json::parse((*responder)->ping_json()));
    }
    {  // info
      const json j = ask(*client, "$SRV.INFO" + suffix);
      check_identity(j, "io.nats.micro.v1.info_response", "planner-1", metadata);
      CHECK(j["description"] == "agency planner agent");
      REQUIRE(j["endpoints"].is_array());
      REQUIRE(j["endpoints"].size() == 2);
      const json& brief = j["endpoints"][0];
      CHECK(keys(brief) == std::set<std::string>{"name", "subject", "queue_group", "metadata"});
      CHECK(brief["name"] == "brief");
      CHECK(brief["subject"] == "agency.brief.planner");
      CHECK(brief["queue_group"] == "");
      REQUIRE(brief["metadata"].is_object());
      CHECK(brief["metadata"]["consumer"] == "briefs-planner");
      const json& asked = j["endpoints"][1];
      CHECK(asked["name"] == "ask");
      CHECK(asked["subject"] == "agency.ask.planner");
      CHECK(asked["queue_group"] == "planner");
      REQUIRE(asked["metadata"].is_object());
      CHECK(asked["metadata"].empty());
    }
    {  // stats
      const json j = ask(*client, "$SRV.STATS" + suffix);
      check_identity(j, "io.nats.micro.v1.stats_response", "planner-1", metadata);
      REQUIRE(j["started"].is_string());
      const std::int64_t started = parse_started(j["started"].get<std::string>());
      CHECK_MESSAGE(started >= 0, "started is not RFC 3339 with nanoseconds: " << j["started"]);
      const auto secs = [](auto tp) {
        return std::chrono::duration_cast<std::chrono::seconds>(tp.time_since_epoch()).count();
      };
      CHECK(started >= secs(before) - 1);
      CHECK(started <= secs(std::chrono::system_clock::now()) + 1);
      REQUIRE(j["endpoints"].is_array());
      REQUIRE(j["endpoints"].size() == 2);
      for (const json& e : j["endpoints"]) {
        CHECK(keys(e) == std::set<std::string>{"name", "subject", "queue_group", "num_requests",
                                               "num_errors", "last_error", "processing_time",
                                               "average_processing_time"});
        CHECK(e["num_requests"].is_number_integer());
        CHECK(e["num_errors"].is_number_integer());
        CHECK(e["processing_time"].is_number_integer());
        CHECK(e["average_processing_time"].is_number_integer());
        CHECK(e["num_requests"] == 0);
        CHECK(e["last_error"] == "");
      }
      CHECK(j["endpoints"][0]["name"] == "brief");
      CHECK(j["endpoints"][1]["subject"] == "agency.ask.planner");
      CHECK(j["endpoints"][1]["queue_group"] == "planner");
    }
  }
}

TEST_CASE("service: stats count what record() reports, in nanoseconds") {
  test::NatsServer server;
  auto agent = server.connect("agent");
  auto client = server.connect("client");
  auto responder =
      ServiceResponder::start(*agent, planner_identity("planner-1"), planner_endpoints(), {});
  REQUIRE(responder.ok());
  (*responder)->record("ask", 3ms);
  (*responder)->record("ask", 1ms, "engine timed out");
  (*responder)->record("ask", 2ms);
  (*responder)->record("no-such-endpoint", 5ms, "ignored");

  const json j = ask(*client, "$SRV.STATS.agency-planner.planner-1");
  REQUIRE(j["endpoints"].size() == 2);
  const json& brief = j["endpoints"][0];
  CHECK(brief["num_requests"] == 0);
  CHECK(brief["num_errors"] == 0);
  CHECK(brief["processing_time"] == 0);
  CHECK(brief["average_processing_time"] == 0);
  const json& asked = j["endpoints"][1];
  CHECK(asked["num_requests"] == 3);
  CHECK(asked["num_errors"] == 1);
  CHECK(asked["last_error"] == "engine timed out");
  CHECK(asked["processing_time"] == 6'000'000);
  CHECK(asked["average_processing_time"] == 2'000'000);
  CHECK(json::parse((*responder)->stats_json())["endpoints"] == j["endpoints"]);
}

TEST_CASE("service: a metadata change is visible in the next answer") {
  test::NatsServer server;
  auto agent = server.connect("agent");
  auto client = server.connect("client");
  auto responder = ServiceResponder::start(*agent, planner_identity("planner-1"),
                                           planner_endpoints(), {{"state", "idle"}});
  REQUIRE(responder.ok());
  CHECK(ask(*client, "$SRV.PING.agency-planner")["metadata"]["state"] == "idle");
  (*responder)->set_metadata({{"state", "busy"}, {"task", "t-1"}});
  const json ping = ask(*client, "$SRV.PING.agency-planner");
  CHECK(ping["metadata"] == json{{"state", "busy"}, {"task", "t-1"}});
  CHECK(ask(*client, "$SRV.INFO.agency-planner")["metadata"]["task"] == "t-1");
  CHECK(ask(*client, "$SRV.STATS.agency-planner")["metadata"]["task"] == "t-1");
}

TEST_CASE("service: every instance answers SRV.PING, and the name.id subject reaches only one") {
  test::NatsServer server;
  auto agent_a = server.connect("agent-a");
  auto agent_b = server.connect("agent-b");
  auto client = server.connect("client");
  auto a =
      ServiceResponder::start(*agent_a, planner_identity("planner-a"), planner_endpoints(), {});
  auto b =
      ServiceResponder::start(*agent_b, planner_identity("planner-b"), planner_endpoints(), {});
  REQUIRE(a.ok());
  REQUIRE(b.ok());

  // One request, many replies: a raw inbox subscription, as `nats micro ls` does.
  natsInbox* raw_inbox = nullptr;
  REQUIRE(natsInbox_Create(&raw_inbox) == NATS_OK);
  const std::string inbox(raw_inbox);
  natsInbox_Destroy(raw_inbox);
  natsSubscription* raw_sub = nullptr;
  REQUIRE(natsConnection_SubscribeSync(&raw_sub, client->raw(), inbox.c_str()) == NATS_OK);
  nats::SubscriptionPtr sub(raw_sub);
  REQUIRE(natsConnection_PublishRequestString(client->raw(), "$SRV.PING", inbox.c_str(), "") ==
          NATS_OK);

  std::set<std::string> ids;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (ids.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    natsMsg* raw_msg = nullptr;
    if (natsSubscription_NextMsg(&raw_msg, sub.get(), std::max<std::int64_t>(1, left.count())) !=
        NATS_OK) {
      break;
    }
    Incoming msg{nats::MsgPtr(raw_msg)};
    const json j = json::parse(msg.data(), nullptr, false);
    REQUIRE(j.is_object());
    CHECK(j["type"] == "io.nats.micro.v1.ping_response");
    CHECK(j["name"] == "agency-planner");
    ids.insert(j["id"].get<std::string>());
  }
  CHECK(ids == std::set<std::string>{"planner-a", "planner-b"});

  CHECK(ask(*client, "$SRV.PING.agency-planner.planner-b")["id"] == "planner-b");
  CHECK(ask(*client, "$SRV.INFO.agency-planner.planner-a")["id"] == "planner-a");

  // Once an instance stops, its own subject has nobody behind it.
  a->reset();
  auto gone = client->request("$SRV.PING.agency-planner.planner-a", Outgoing{}, 1000ms);
  CHECK_FALSE(gone.ok());
  CHECK(ask(*client, "$SRV.PING.agency-planner")["id"] == "planner-b");
}

TEST_CASE("service: invalid name, id, version or endpoint is a config error") {
  test::NatsServer server;
  auto agent = server.connect("agent");
  const auto start = [&](ServiceIdentity identity, std::vector<ServiceEndpoint> endpoints) {
    return ServiceResponder::start(*agent, std::move(identity), std::move(endpoints), {});
  };
  const auto is_config = [](const auto& r) { return !r.ok() && r.error().code == errc::config; };

  CHECK(is_config(start({"agency planner", "p-1", "0.1.0", ""}, {})));
  CHECK(is_config(start({"agency.planner", "p-1", "0.1.0", ""}, {})));
  CHECK(is_config(start({"", "p-1", "0.1.0", ""}, {})));
  CHECK(is_config(start({"agency-planner", "p.1", "0.1.0", ""}, {})));
  CHECK(is_config(start({"agency-planner", "p*", "0.1.0", ""}, {})));
  CHECK(is_config(start({"agency-planner", "", "0.1.0", ""}, {})));
  CHECK(is_config(start({"agency-planner", "p-1", "1.0", ""}, {})));
  CHECK(is_config(start({"agency-planner", "p-1", "v1.0.0", ""}, {})));
  CHECK(is_config(start({"agency-planner", "p-1", "0.1.0", ""}, {{"a b", "x", "", {}}})));
  CHECK(is_config(start({"agency-planner", "p-1", "0.1.0", ""}, {{"ask", "", "", {}}})));
  CHECK(is_config(
      start({"agency-planner", "p-1", "0.1.0", ""}, {{"ask", "x", "", {}}, {"ask", "y", "", {}}})));
  // Semantic versions with pre-release and build parts are fine.
  CHECK(start({"agency-planner", "p-1", "1.2.3-rc.1+g1234", ""}, {}).ok());
  CHECK(start({"agency_planner", "p-2", "0.1.0", ""}, {}).ok());
}

// The endpoint `name` in a stats answer.
json endpoint_of(const json& stats, const std::string& name) {
  for (const json& e : stats["endpoints"]) {
    if (e["name"] == name) return e;
  }
  FAIL("no endpoint " << name << " in " << stats.dump());
  return {};
}

TEST_CASE("service: a running agent's stats count its briefs, questions and failures") {
  test::Pipeline p(R"(planner:
  - spec: "Add GREETING.md"
)");
  p.start("planner", "planner-1");
  p.plain_publish("agency.brief.planner", "Count this brief");
  const auto task_id = p.task_with_objective("Count this brief");
  REQUIRE_FALSE(task_id.empty());
  INFO("planner log: " << p.agent("planner-1").err());
  REQUIRE(p.wait_for_stage(task_id, "ready-for-dev", 30s).has_value());

  Outgoing question;
  question.data = "What did you plan?";
  auto answer = p.connection().request("agency.ask.planner", question, 10000ms);
  REQUIRE_MESSAGE(answer.ok(), answer.error().describe());
  // A stage of another role can never be planned: a failed brief.
  p.plain_publish("agency.brief.planner", R"({"objective":"misrouted","stage":"qa"})");

  // The answer is sent before it is counted, and the failed brief is
  // handled in the background: ask until both show, with a deadline.
  json stats;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    stats = ask(p.connection(), "$SRV.STATS.agency-planner.planner-1");
    if (endpoint_of(stats, "brief")["num_errors"] >= 1 &&
        endpoint_of(stats, "ask")["num_requests"] >= 1) {
      break;
    }
    std::this_thread::sleep_for(50ms);  // polling a service, with a deadline
  }
  CAPTURE(stats.dump());
  const json brief = endpoint_of(stats, "brief");
  CHECK(brief["num_requests"] == 2);
  CHECK(brief["num_errors"] == 1);
  CHECK(brief["last_error"].get<std::string>().find("belongs to role adversary") !=
        std::string::npos);
  CHECK(brief["processing_time"] > 0);
  CHECK(brief["average_processing_time"] > 0);
  const json asked = endpoint_of(stats, "ask");
  CHECK(asked["num_requests"] == 1);
  CHECK(asked["num_errors"] == 0);
  CHECK(asked["last_error"] == "");
  CHECK(asked["processing_time"] > 0);
}

}  // namespace
}  // namespace agency
