// Briefs coming in: any NATS client's plain publish becomes a Brief; a bad
// payload is dead-lettered with its reason and the next good brief is still
// handled.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "agency/v1/dead.pb.h"
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

// Exactly what `nats pub agency.brief.planner "..."` does: a core publish of
// bytes, no headers.
void plain_publish(Connection& c, const char* subject, std::string_view payload) {
  REQUIRE(natsConnection_Publish(c.raw(), subject, payload.data(),
                                 static_cast<int>(payload.size())) == NATS_OK);
  REQUIRE(natsConnection_Flush(c.raw()) == NATS_OK);
}

std::vector<v1::DeadLetter> dead_letters(Connection& c) {
  auto msgs = replay(c, subjects::kDeadStream, "agency.dead.>", 100);
  REQUIRE(msgs.ok());
  std::vector<v1::DeadLetter> out;
  for (const auto& m : *msgs) {
    auto d = codec::decode<v1::DeadLetter>(m.data(), m.headers());
    REQUIRE(d.ok());
    out.push_back(*d);
  }
  return out;
}

TEST_CASE("inbox: a plain core publish of text lands as a Brief") {
  test::NatsServer server;
  auto c = server.connect();
  REQUIRE(provision(*c, agency::config::provision_plan(agency::config::Config{}, {})).ok());
  plain_publish(*c, "agency.brief.planner", "Add rate limiting to the API\n");

  auto inbox = BriefInbox::open(*c, "planner", "planner-1");
  REQUIRE(inbox.ok());
  auto got = inbox->next(5000ms);
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  const auto& brief = (*got)->brief;
  CHECK(brief.objective() == "Add rate limiting to the API");
  CHECK(brief.origin() == "nats");
  CHECK_FALSE(brief.id().empty());
  CHECK(brief.has_created_at());
  CHECK((*got)->delivery.deliveries == 1);
  REQUIRE((*got)->message.ack().ok());
}

TEST_CASE("inbox: JSON in the protobuf mapping fills any field") {
  test::NatsServer server;
  auto c = server.connect();
  REQUIRE(provision(*c, agency::config::provision_plan(agency::config::Config{}, {})).ok());
  plain_publish(
      *c, "agency.brief.builder",
      R"({"objective":"Fix the flaky test","doneWhen":"CI green 10 times","constraints":["no sleeps"],"priority":"batch","tokenBudget":"50000"})");
  auto inbox = BriefInbox::open(*c, "builder", "builder-1");
  REQUIRE(inbox.ok());
  auto got = inbox->next(5000ms);
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  const auto& brief = (*got)->brief;
  CHECK(brief.objective() == "Fix the flaky test");
  CHECK(brief.done_when() == "CI green 10 times");
  REQUIRE(brief.constraints_size() == 1);
  CHECK(brief.priority() == "batch");
  CHECK(brief.token_budget() == 50000);
}

TEST_CASE("inbox: bad payloads are dead-lettered with the reason, good ones still handled") {
  test::NatsServer server;
  auto c = server.connect();
  REQUIRE(provision(*c, agency::config::provision_plan(agency::config::Config{}, {})).ok());
  const std::string garbage("\xff\xfe\x00\x01\x80garbage", 12);
  plain_publish(*c, "agency.brief.reviewer", garbage);
  plain_publish(*c, "agency.brief.reviewer", R"({"objective": 5})");
  plain_publish(*c, "agency.brief.reviewer", "check the spec against the branch");
  plain_publish(*c, "agency.brief.reviewer", R"({"stage":"Not A Stage","objective":"x"})");
  plain_publish(*c, "agency.brief.reviewer", "second good one");

  auto inbox = BriefInbox::open(*c, "reviewer", "reviewer-7");
  REQUIRE(inbox.ok());
  auto first = inbox->next(5000ms);
  REQUIRE(first.ok());
  REQUIRE(first->has_value());
  CHECK((*first)->brief.objective() == "check the spec against the branch");
  REQUIRE((*first)->message.ack().ok());
  auto second = inbox->next(5000ms);
  REQUIRE(second.ok());
  REQUIRE(second->has_value());
  CHECK((*second)->brief.objective() == "second good one");
  REQUIRE((*second)->message.ack().ok());
  CHECK(inbox->dead_lettered() == 3);

  auto letters = dead_letters(*c);
  REQUIRE(letters.size() == 3);
  CHECK(letters[0].payload() == garbage);
  CHECK(letters[0].original_subject() == "agency.brief.reviewer");
  CHECK(letters[0].role() == "reviewer");
  CHECK(letters[0].agent_id() == "reviewer-7");
  CHECK(letters[0].stream_sequence() != 0);
  CHECK_FALSE(letters[0].reason().empty());
  CHECK(letters[1].payload() == R"({"objective": 5})");
  CHECK(letters[1].reason().find("objective") != std::string::npos);
  CHECK(letters[2].reason().find("Not A Stage") != std::string::npos);

  // Nothing left behind: every message was settled.
  auto empty = inbox->next(300ms);
  REQUIRE(empty.ok());
  CHECK_FALSE(empty->has_value());
  auto queues = list_consumers(*c, subjects::kBriefsStream);
  REQUIRE(queues.ok());
  for (const auto& q : *queues) {
    if (q.name == "briefs-reviewer") {
      CHECK(q.pending == 0);
      CHECK(q.ack_pending == 0);
    }
  }
}

TEST_CASE("inbox: two agents of one role never get the same brief") {
  test::NatsServer server;
  auto c1 = server.connect("a1");
  auto c2 = server.connect("a2");
  REQUIRE(provision(*c1, agency::config::provision_plan(agency::config::Config{}, {})).ok());
  constexpr int kBriefs = 20;
  for (int i = 0; i < kBriefs; ++i) {
    plain_publish(*c1, "agency.brief.builder", "task " + std::to_string(i));
  }
  auto a = BriefInbox::open(*c1, "builder", "builder-1");
  auto b = BriefInbox::open(*c2, "builder", "builder-2");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  std::vector<std::string> seen;
  for (int round = 0; round < kBriefs && static_cast<int>(seen.size()) < kBriefs; ++round) {
    for (auto* inbox : {&*a, &*b}) {
      auto got = inbox->next(300ms);
      REQUIRE(got.ok());
      if (got->has_value()) {
        seen.push_back((*got)->brief.objective());
        REQUIRE((*got)->message.ack().ok());
      }
    }
  }
  std::sort(seen.begin(), seen.end());
  CHECK(seen.size() == kBriefs);
  CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end());
}

}  // namespace
}  // namespace agency
