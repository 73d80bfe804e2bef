// The codec as a receiver sees it: every agency.v1 message survives protobuf
// and JSON, humans can publish plain text, and anything else is refused with
// a reason instead of a crash.
#include "bus/codec.hpp"

#include <doctest/doctest.h>
#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/util/message_differencer.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "agency/v1/ask.pb.h"
#include "agency/v1/brief.pb.h"
#include "agency/v1/control.pb.h"
#include "agency/v1/dead.pb.h"
#include "agency/v1/fleet.pb.h"
#include "agency/v1/task.pb.h"
#include "agency/v1/usage.pb.h"
#include "agency/v1/worklog.pb.h"
#include "bus/vocabulary.hpp"

namespace {

namespace codec = agency::codec;
namespace v1 = agency::v1;
namespace pb = google::protobuf;
using agency::errc;
using agency::Headers;

pb::Timestamp ts(std::int64_t seconds, std::int32_t nanos = 0) {
  pb::Timestamp t;
  t.set_seconds(seconds);
  t.set_nanos(nanos);
  return t;
}

// One filled-in message of each type, with repeated, map, bytes and
// timestamp fields where the type has them.
void fill(v1::Brief& m) {
  m.set_id("b-01HZX");
  m.set_project("shop");
  m.set_objective("Add rate limiting to the API");
  m.set_audience("maintainers");
  m.add_constraints("no new dependencies");
  m.add_constraints("keep the API");
  m.set_done_when("tests for the limiter pass");
  m.set_stage("ready-for-dev");
  m.set_task_id("t-01HZX");
  m.set_priority("batch");
  m.set_token_budget(250000);
  *m.mutable_not_before() = ts(1700000000, 5);
  m.set_context("the previous reviewer said: \"too slow\"");
  m.set_origin("agency-cli");
  m.set_attempt(3);
  *m.mutable_created_at() = ts(1699999999, 123000000);
}
void fill(v1::StageChange& m) {
  m.set_from("qa");
  m.set_to("ready-for-dev");
  m.set_actor("adversary-host-42");
  m.set_reason("found a race");
  *m.mutable_at() = ts(1700000100);
}
void fill(v1::Task& m) {
  m.set_id("t-01HZX");
  m.set_title("Rate limiting");
  m.set_project("shop");
  m.set_stage("review");
  m.set_spec("# Spec\n\n- a token bucket per key\n");
  m.set_pipeline("linted");
  auto* lint = m.add_pipeline_stages();
  lint->set_name("lint");
  lint->set_role("linter");
  lint->set_bounce("ready-for-dev");
  lint->set_optional(true);
  m.set_branch("agency/t-01HZX");
  m.set_bounces(2);
  fill(*m.add_history());
  auto* second = m.add_history();
  fill(*second);
  second->set_from("ready-for-dev");
  second->set_to("qa");
  m.set_blocked_reason("");
  fill(*m.mutable_brief());
  *m.mutable_created_at() = ts(1700000000);
  *m.mutable_updated_at() = ts(1700000200, 999999999);
  m.set_tokens_used(123456789012LL);
  (*m.mutable_attachments())["tests"] = "42 passed";
  (*m.mutable_attachments())["findings"] = "none \xE2\x9C\x93";
}
void fill(v1::TaskEvent& m) {
  m.set_task_id("t-01HZX");
  m.set_kind("bounced");
  m.set_from_stage("qa");
  m.set_to_stage("ready-for-dev");
  m.set_actor("adversary-host-42");
  m.set_reason("found a race");
  *m.mutable_at() = ts(1700000100);
  m.set_project("shop");
}
void fill(v1::AgentStatus& m) {
  m.set_agent_id("builder-host-7");
  m.set_role("builder");
  m.set_state("rate-limited");
  m.set_task_id("t-01HZX");
  *m.mutable_since() = ts(1700000000);
  m.set_last_progress("tool: Edit");
  *m.mutable_last_progress_at() = ts(1700000001);
  m.set_engine("claude/sonnet");
  m.set_window_tokens(98765);
  m.set_pid(4242);
  m.set_host("host");
  m.set_version("0.1.0");
  *m.mutable_resumes_at() = ts(1700018000);
  *m.mutable_heartbeat_at() = ts(1700000002);
}
void fill(v1::Question& m) {
  m.set_id("q-1");
  m.set_text("Which rate limiter does the gateway use?");
  m.set_from_agent("planner-host-1");
  m.set_from_role("planner");
  m.set_task_id("t-01HZX");
  m.set_context("see docs/gateway.md");
  *m.mutable_asked_at() = ts(1700000000);
}
void fill(v1::Source& m) {
  m.set_ref("docs/gateway.md");
  m.set_excerpt("the gateway uses a token bucket");
}
void fill(v1::Answer& m) {
  m.set_question_id("q-1");
  m.set_text("A token bucket.");
  m.set_confidence(0.75);
  fill(*m.add_sources());
  auto* s = m.add_sources();
  s->set_ref("t-0001");
  s->set_excerpt("\xC3\xA9t\xC3\xA9");  // "été"
  m.set_answered_by("proxy-host-1");
  *m.mutable_answered_at() = ts(1700000010);
}
void fill(v1::Mail& m) {
  m.set_id("m-1");
  m.set_from("human");
  m.set_to("builder-host-7");
  m.set_subject("naming");
  m.set_body("Call it Limiter, please \xE2\x80\x94 thanks");
  m.set_task_id("t-01HZX");
  *m.mutable_sent_at() = ts(1700000000);
}
void fill(v1::UsageSample& m) {
  m.set_id("msg-1:req-1");
  m.set_engine("claude");
  m.set_model("sonnet");
  m.set_role("builder");
  m.set_agent_id("builder-host-7");
  m.set_task_id("t-01HZX");
  m.set_project("shop");
  m.set_input_tokens(1000);
  m.set_output_tokens(200);
  m.set_cache_creation_tokens(30);
  m.set_cache_read_tokens(4000);
  m.set_cost_usd(0.0125);
  m.set_duration_ms(5400);
  m.set_session_id("sess-1");
  m.set_started_by_agency(true);
  *m.mutable_at() = ts(1700000000);
  m.set_account("default");
  m.set_source("transcript");
  m.set_message_id("msg-1");
  m.set_request_id("req-1");
}
void fill(v1::Lease& m) {
  m.set_id("l-1");
  m.set_agent_id("builder-host-7");
  m.set_role("builder");
  m.set_task_id("t-01HZX");
  m.set_priority("interactive");
  m.set_estimate_tokens(50000);
  m.set_engine("claude");
  m.set_model("sonnet");
  m.set_account("default");
}
void fill(v1::LeaseReply& m) {
  m.set_lease_id("l-1");
  m.set_granted(false);
  m.set_allowance_tokens(0);
  *m.mutable_retry_at() = ts(1700003600);
  m.set_reason("reserve for the human");
  *m.mutable_expires_at() = ts(1700007200);
}
void fill(v1::Settle& m) {
  m.set_lease_id("l-1");
  m.set_agent_id("builder-host-7");
  m.set_task_id("t-01HZX");
  m.set_input_tokens(1000);
  m.set_output_tokens(200);
  m.set_cache_creation_tokens(30);
  m.set_cache_read_tokens(4000);
  m.set_cost_usd(0.0125);
}
void fill(v1::WorkLog& m) {
  m.set_task_id("t-01HZX");
  m.set_project("shop");
  m.set_agent_id("reviewer-host-2");
  m.set_role("reviewer");
  m.set_title("Rate limiting");
  m.set_summary("Added a token bucket.\n\n- tests pass");
  m.set_outcome("done");
  m.set_branch("agency/t-01HZX");
  m.add_commits("abc123");
  m.add_commits("def456");
  m.set_tokens(300000);
  *m.mutable_started_at() = ts(1700000000);
  *m.mutable_closed_at() = ts(1700090000);
}
void fill(v1::Header& m) {
  m.set_key("Nats-Msg-Id");
  m.set_value("t-01HZX:qa:1");
}
void fill(v1::DeadLetter& m) {
  m.set_original_subject("agency.brief.planner");
  fill(*m.add_headers());
  auto* h = m.add_headers();
  h->set_key("Agency-Type");
  h->set_value("agency.v1.Brief");
  m.set_payload(std::string("\x00\xFF\xFE garbage", 11));
  m.set_reason("not agency.v1.Brief");
  m.set_role("planner");
  m.set_agent_id("planner-host-1");
  m.set_stream_sequence(77);
  m.set_deliveries(5);
  *m.mutable_at() = ts(1700000000);
  m.set_task_id("t-01HZX");
}
void fill(v1::Control& m) {
  m.set_command("drain");
  m.set_reason("maintenance");
  m.set_from("agency-cli");
  *m.mutable_at() = ts(1700000000);
}

template <class T>
T sample() {
  T m;
  fill(m);
  return m;
}

bool same(const pb::Message& a, const pb::Message& b) {
  return pb::util::MessageDifferencer::Equals(a, b);
}

Headers json_headers() { return {{"Content-Type", "application/json"}}; }
Headers text_headers() { return {{"Content-Type", "text/plain; charset=utf-8"}}; }

// The error of decoding `payload` as T, which must fail.
template <class T>
agency::Error refusal(std::string_view payload, const Headers& headers = {}) {
  auto r = codec::decode<T>(payload, headers);
  REQUIRE_MESSAGE(!r.ok(), "expected a refusal for: ", std::string(payload));
  CHECK(r.error().code == errc::bad_payload);
  return r.error();
}

bool has(const agency::Error& e, std::string_view phrase) {
  return e.message.find(phrase) != std::string::npos;
}

#define AGENCY_ALL_TYPES                                                                          \
  v1::Brief, v1::Task, v1::StageChange, v1::TaskEvent, v1::AgentStatus, v1::Question, v1::Source, \
      v1::Answer, v1::Mail, v1::UsageSample, v1::Lease, v1::LeaseReply, v1::Settle, v1::WorkLog,  \
      v1::Header, v1::DeadLetter, v1::Control

constexpr std::string_view kAllTypeNames[] = {
    "agency.v1.Brief",       "agency.v1.Task",        "agency.v1.StageChange",
    "agency.v1.TaskEvent",   "agency.v1.AgentStatus", "agency.v1.Question",
    "agency.v1.Source",      "agency.v1.Answer",      "agency.v1.Mail",
    "agency.v1.UsageSample", "agency.v1.Lease",       "agency.v1.LeaseReply",
    "agency.v1.Settle",      "agency.v1.WorkLog",     "agency.v1.Header",
    "agency.v1.DeadLetter",  "agency.v1.Control",
};

}  // namespace

TEST_CASE_TEMPLATE("codec: protobuf round trip", T, AGENCY_ALL_TYPES) {
  const T original = sample<T>();
  const agency::Outgoing out = codec::encode(original);
  CHECK(agency::find_header(out.headers, "Agency-Type") == original.GetDescriptor()->full_name());
  CHECK(agency::find_header(out.headers, "Content-Type") == "application/protobuf");

  SUBCASE("with the headers") {
    auto back = codec::decode<T>(out.data, out.headers);
    REQUIRE_MESSAGE(back.ok(), back.error().message);
    CHECK(same(*back, original));
  }
  SUBCASE("without headers, sniffed") {
    auto back = codec::decode<T>(out.data);
    REQUIRE_MESSAGE(back.ok(), back.error().message);
    CHECK(same(*back, original));
  }
}

TEST_CASE_TEMPLATE("codec: JSON round trip", T, AGENCY_ALL_TYPES) {
  const T original = sample<T>();
  const std::string json = codec::to_json(original);
  CHECK(json.find('\n') == std::string::npos);
  CHECK(json.front() == '{');

  SUBCASE("sniffed") {
    auto back = codec::decode<T>(json);
    REQUIRE_MESSAGE(back.ok(), back.error().message, " in ", json);
    CHECK(same(*back, original));
  }
  SUBCASE("with Content-Type") {
    auto back = codec::decode<T>(json, json_headers());
    REQUIRE_MESSAGE(back.ok(), back.error().message);
    CHECK(same(*back, original));
  }
  SUBCASE("pretty") {
    const std::string pretty = codec::to_pretty_json(original);
    CHECK(pretty.find("\n \"") != std::string::npos);
    auto back = codec::decode<T>(pretty);
    REQUIRE_MESSAGE(back.ok(), back.error().message);
    CHECK(same(*back, original));
  }
}

TEST_CASE("codec: JSON uses lowerCamelCase and encodes bytes, int64 and timestamps") {
  const std::string brief = codec::to_json(sample<v1::Brief>());
  CHECK(brief.find("\"doneWhen\":\"tests for the limiter pass\"") != std::string::npos);
  CHECK(brief.find("\"tokenBudget\":\"250000\"") != std::string::npos);
  CHECK(brief.find("\"createdAt\":\"2023-11-14T22:13:19.123Z\"") != std::string::npos);
  CHECK(brief.find("done_when") == std::string::npos);

  const std::string dead = codec::to_json(sample<v1::DeadLetter>());
  CHECK(dead.find("\"payload\":\"AP/+IGdhcmJhZ2U=\"") != std::string::npos);

  const std::string task = codec::to_json(sample<v1::Task>());
  CHECK(task.find("\"attachments\":{") != std::string::npos);
}

TEST_CASE("codec: to_json says so when a message cannot be JSON") {
  v1::Brief brief = sample<v1::Brief>();
  brief.mutable_created_at()->set_seconds(std::numeric_limits<std::int64_t>::max());
  const std::string json = codec::to_json(brief);
  CHECK(json.find("agency.v1.Brief cannot be printed as JSON") != std::string::npos);
}

TEST_CASE("codec: JSON input accepts lowerCamelCase and proto field names") {
  SUBCASE("lowerCamelCase") {
    auto b = codec::decode<v1::Brief>(
        R"({"objective":"x","doneWhen":"y","tokenBudget":"12","notBefore":"2024-01-02T03:04:05Z",
            "constraints":["a","b"],"taskId":"t-1"})");
    REQUIRE_MESSAGE(b.ok(), b.error().message);
    CHECK(b->done_when() == "y");
    CHECK(b->token_budget() == 12);
    CHECK(b->not_before().seconds() == 1704164645);
    CHECK(b->constraints_size() == 2);
    CHECK(b->task_id() == "t-1");
  }
  SUBCASE("proto names") {
    auto b = codec::decode<v1::Brief>(
        R"({"objective":"x","done_when":"y","token_budget":12,"task_id":"t-1"})");
    REQUIRE_MESSAGE(b.ok(), b.error().message);
    CHECK(b->done_when() == "y");
    CHECK(b->token_budget() == 12);
    CHECK(b->task_id() == "t-1");
  }
  SUBCASE("map and nested messages") {
    auto t = codec::decode<v1::Task>(
        R"({"id":"t-1","stage":"qa","attachments":{"tests":"ok"},
            "history":[{"from":"","to":"ready-for-prep","at":"2024-01-01T00:00:00Z"}],
            "brief":{"objective":"do it"}})");
    REQUIRE_MESSAGE(t.ok(), t.error().message);
    CHECK(t->attachments().at("tests") == "ok");
    CHECK(t->history(0).to() == "ready-for-prep");
    CHECK(t->brief().objective() == "do it");
  }
  SUBCASE("leading whitespace and a byte-order mark") {
    auto b = codec::decode<v1::Brief>("\xEF\xBB\xBF \n {\"objective\":\"x\"}");
    REQUIRE_MESSAGE(b.ok(), b.error().message);
    CHECK(b->objective() == "x");
  }
}

TEST_CASE("codec: plain text lands in the text field, trimmed") {
  SUBCASE("Brief.objective") {
    auto b = codec::decode<v1::Brief>("  Add rate limiting to the API\n");
    REQUIRE_MESSAGE(b.ok(), b.error().message);
    CHECK(b->objective() == "Add rate limiting to the API");
    CHECK(b->id().empty());
  }
  SUBCASE("Question.text") {
    auto q = codec::decode<v1::Question>("\tWhich limiter?\r\n");
    REQUIRE_MESSAGE(q.ok(), q.error().message);
    CHECK(q->text() == "Which limiter?");
  }
  SUBCASE("Answer.text") {
    auto a = codec::decode<v1::Answer>("A token bucket.");
    REQUIRE_MESSAGE(a.ok(), a.error().message);
    CHECK(a->text() == "A token bucket.");
  }
  SUBCASE("Mail.body keeps inner lines and non-ASCII text") {
    auto m = codec::decode<v1::Mail>("\n\nLine one\n\nLine two \xE2\x9C\x93\n");
    REQUIRE_MESSAGE(m.ok(), m.error().message);
    CHECK(m->body() == "Line one\n\nLine two \xE2\x9C\x93");
  }
  SUBCASE("Control.command") {
    auto c = codec::decode<v1::Control>("pause\n");
    REQUIRE_MESSAGE(c.ok(), c.error().message);
    CHECK(c->command() == "pause");
  }
  SUBCASE("WorkLog.summary") {
    auto w = codec::decode<v1::WorkLog>(" Shipped it. ");
    REQUIRE_MESSAGE(w.ok(), w.error().message);
    CHECK(w->summary() == "Shipped it.");
  }
  SUBCASE("text that starts like a protobuf tag") {
    // '*' is the tag of Brief.constraints; the rest is no exact encoding.
    auto b = codec::decode<v1::Brief>("* fix the login page");
    REQUIRE_MESSAGE(b.ok(), b.error().message);
    CHECK(b->objective() == "* fix the login page");
    CHECK(b->constraints_size() == 0);
  }
}

TEST_CASE("codec: headers decide the format") {
  SUBCASE("text/plain keeps a leading brace as text") {
    auto b = codec::decode<v1::Brief>("{not json}", text_headers());
    REQUIRE_MESSAGE(b.ok(), b.error().message);
    CHECK(b->objective() == "{not json}");
  }
  SUBCASE("application/json with parameters and any case") {
    auto b = codec::decode<v1::Brief>(R"({"objective":"x"})",
                                      {{"content-type", "Application/JSON; charset=UTF-8"}});
    REQUIRE_MESSAGE(b.ok(), b.error().message);
    CHECK(b->objective() == "x");
  }
  SUBCASE("application/protobuf refuses text") {
    auto e = refusal<v1::Brief>("hello there", {{"Content-Type", "application/protobuf"}});
    CHECK(has(e, "not agency.v1.Brief as protobuf"));
  }
  SUBCASE("application/json refuses text") {
    auto e = refusal<v1::Brief>("hello there", json_headers());
    CHECK(has(e, "must be an object"));
  }
  SUBCASE("the right Agency-Type alone still sniffs") {
    auto b = codec::decode<v1::Brief>("do it", {{"Agency-Type", "agency.v1.Brief"}});
    REQUIRE_MESSAGE(b.ok(), b.error().message);
    CHECK(b->objective() == "do it");
  }
  SUBCASE("an unknown Content-Type is refused by name") {
    auto e = refusal<v1::Brief>("<brief/>", {{"Content-Type", "application/xml"}});
    CHECK(has(e, "application/xml"));
    CHECK(has(e, "agency.v1.Brief"));
  }
  SUBCASE("a charset other than UTF-8 is refused") {
    auto e = refusal<v1::Brief>("do it", {{"Content-Type", "text/plain; charset=latin1"}});
    CHECK(has(e, "latin1"));
    CHECK(has(e, "UTF-8"));
  }
}

TEST_CASE("codec: the protocol version is stated, and another version is refused") {
  v1::Brief brief;
  brief.set_objective("do it");
  const auto out = codec::encode(brief);
  CHECK(agency::find_header(out.headers, "Agency-Protocol") ==
        std::to_string(codec::kProtocolVersion));
  SUBCASE("this version, with spaces, is read") {
    auto headers = out.headers;
    for (auto& [k, v] : headers) {
      if (k == "Agency-Protocol") v = " " + v + " ";
    }
    CHECK(codec::decode<v1::Brief>(out.data, headers).ok());
  }
  SUBCASE("without the header, as a person's `nats pub` sends it, it is read") {
    CHECK(codec::decode<v1::Brief>("do it", text_headers()).ok());
  }
  SUBCASE("another version is refused, saying which this agent speaks") {
    const std::string other = std::to_string(codec::kProtocolVersion + 1);
    auto e = refusal<v1::Brief>("do it", {{"Agency-Protocol", other}});
    CHECK(has(e, "Agency-Protocol \"" + other + "\""));
    CHECK(has(e, "this agent speaks protocol " + std::to_string(codec::kProtocolVersion)));
    CHECK(has(e, "Versioning"));
    CHECK(has(refusal<v1::Brief>("do it", {{"Agency-Protocol", "one"}}), "\"one\""));
  }
}

TEST_CASE("codec: printable protobuf without headers is still protobuf") {
  // A Mail with only a 40-byte body encodes to printable bytes ('*', '(',
  // then the body): exactly what a foreign client may publish bare.
  v1::Mail mail;
  mail.set_body("0123456789012345678901234567890123456789");
  const std::string bytes = codec::encode(mail).data;
  REQUIRE(bytes.substr(0, 2) == "*(");
  auto back = codec::decode<v1::Mail>(bytes);
  REQUIRE_MESSAGE(back.ok(), back.error().message);
  CHECK(back->body() == mail.body());
}

TEST_CASE("codec: refuses bad payloads with a reason") {
  SUBCASE("empty") {
    auto e = refusal<v1::Brief>("");
    CHECK(has(e, "empty payload: expected agency.v1.Brief as protobuf, JSON or plain text"));
    CHECK(has(refusal<v1::Brief>(" \n\t\r\n"), "empty payload"));
    CHECK(has(refusal<v1::Brief>("  ", text_headers()), "empty payload"));
    CHECK(has(refusal<v1::Task>("", {{"Content-Type", "application/protobuf"}}),
              "empty payload: expected agency.v1.Task"));
  }
  SUBCASE("too large") {
    const std::string big(codec::kMaxPayload + 1, 'a');
    auto e = refusal<v1::Brief>(big);
    CHECK(has(e, "payload is 1048577 bytes; the limit is 1048576"));
    // The limit itself is allowed.
    auto at_limit = codec::decode<v1::Brief>(std::string(codec::kMaxPayload, 'a'));
    CHECK(at_limit.ok());
  }
  SUBCASE("another type named in Agency-Type") {
    auto e = refusal<v1::Brief>(codec::encode(sample<v1::Question>()).data,
                                {{"Agency-Type", "agency.v1.Question"}});
    CHECK(has(e, "got agency.v1.Question where agency.v1.Brief was expected"));
  }
  SUBCASE("an unknown Agency-Type") {
    auto e = refusal<v1::Brief>("do it", {{"Agency-Type", "agency.v1.Nope"}});
    CHECK(has(e, "agency.v1.Nope"));
    CHECK(has(e, "expected agency.v1.Brief"));
    CHECK(has(refusal<v1::Brief>("do it", {{"Agency-Type", "google.protobuf.Timestamp"}}),
              "not an agency message type"));
  }
  SUBCASE("unknown JSON field") {
    auto e = refusal<v1::Brief>(R"({"objectiv":"typo"})");
    CHECK(has(e, "invalid JSON for agency.v1.Brief"));
    CHECK(has(e, "objectiv"));
  }
  SUBCASE("wrong JSON types") {
    auto e1 = refusal<v1::Brief>(R"({"objective": 5})");
    CHECK(has(e1, "invalid JSON for agency.v1.Brief"));
    CHECK(has(e1, "objective"));
    auto e2 = refusal<v1::Brief>(R"({"objective":"x","constraints":"x"})");
    CHECK(has(e2, "invalid JSON for agency.v1.Brief: constraints must be a list, not a string"));
    auto e3 = refusal<v1::Brief>(R"({"objective":"x","tokenBudget":"lots"})");
    CHECK(has(e3, "invalid JSON"));
    auto e4 = refusal<v1::Brief>(R"({"objective":"x","createdAt":"yesterday"})");
    CHECK(has(e4, "invalid JSON"));
    CHECK(has(refusal<v1::Task>(R"({"attachments":["a"]})"), "attachments must be an object"));
    CHECK(has(refusal<v1::Task>(R"({"brief":"do it"})"), "brief must be an object, not a string"));
    CHECK(
        has(refusal<v1::Task>(R"({"history":[{"to":"qa"},"x"]})"), "history[1] must be an object"));
    CHECK(has(refusal<v1::Task>(R"({"brief":{"objective":"x","constraints":{}}})"),
              "brief.constraints must be a list, not an object"));
  }
  SUBCASE("broken JSON") {
    CHECK(has(refusal<v1::Brief>(R"({"objective":"x")"),
              "invalid JSON at byte 16: unexpected end of input; expected '}' (reading "
              "agency.v1.Brief)"));
    // "trailing" reads as "true" up to its third byte.
    CHECK(has(refusal<v1::Brief>(R"({"objective":"x"} trailing)"), "invalid JSON at byte 20"));
  }
  SUBCASE("JSON that is not an object") {
    CHECK(has(refusal<v1::Brief>("[1,2]", json_headers()), "must be an object"));
    CHECK(has(refusal<v1::Brief>("\"x\"", json_headers()), "must be an object"));
    CHECK(has(refusal<v1::Task>("42", json_headers()), "must be an object"));
  }
  SUBCASE("invalid UTF-8") {
    const std::vector<std::string> bad = {
        "abc\xFF",           // never valid
        "ab\xC3\x28",        // a lead byte without its continuation
        "\xC0\xAF",          // overlong '/'
        "x\xED\xA0\x80y",    // a UTF-16 surrogate
        "\xF4\x90\x80\x80",  // past U+10FFFF
        "abc\xE2\x82",       // cut short at the end
    };
    for (const std::string& s : bad) {
      CAPTURE(s);
      CHECK(has(refusal<v1::Brief>(s), "UTF-8"));
      CHECK(has(refusal<v1::Brief>(s, text_headers()), "UTF-8"));
    }
    CHECK(has(refusal<v1::Brief>("abc\xFF"), "invalid UTF-8 at byte 3"));
    CHECK(has(refusal<v1::Brief>("{\"objective\":\"\xFF\"}"), "UTF-8"));
  }
  SUBCASE("control characters in text") {
    auto e = refusal<v1::Brief>("ring \x07 the bell", text_headers());
    CHECK(has(e, "control character 0x07 at byte 5"));
  }
  SUBCASE("text for a type without a text form") {
    CHECK(has(refusal<v1::Task>("finish the task"),
              "agency.v1.Task has no plain-text form: send JSON or protobuf"));
    CHECK(has(refusal<v1::Lease>("a lease please", text_headers()),
              "agency.v1.Lease has no plain-text form"));
  }
  SUBCASE("truncated protobuf") {
    std::string bytes = codec::encode(sample<v1::Brief>()).data;
    bytes.pop_back();
    auto e = refusal<v1::Brief>(bytes, {{"Content-Type", "application/protobuf"}});
    CHECK(has(e, "not agency.v1.Brief as protobuf"));
    CHECK(has(refusal<v1::Brief>(bytes), "not agency.v1.Brief"));
  }
  SUBCASE("protobuf of another type") {
    auto e = refusal<v1::Brief>(codec::encode(sample<v1::Task>()).data);
    CHECK(has(e, "not agency.v1.Brief"));
    CHECK(has(refusal<v1::Control>(codec::encode(sample<v1::UsageSample>()).data),
              "not agency.v1.Control"));
  }
  SUBCASE("protobuf with a field the schema lacks") {
    // Field 99, varint 1: valid wire format, unknown to Brief.
    auto e = refusal<v1::Brief>(std::string("\x98\x06\x01", 3),
                                {{"Content-Type", "application/protobuf"}});
    CHECK(has(e, "field number 99 is not in agency.v1.Brief"));
  }
  SUBCASE("protobuf with a nested unknown field") {
    // Task.brief (field 10) holding field 99.
    auto e = refusal<v1::Task>(std::string("\x52\x03\x98\x06\x01", 5));
    CHECK(has(e, "field number 99 is not in agency.v1.Brief"));
  }
  SUBCASE("protobuf string field with invalid UTF-8") {
    // Brief.objective (field 3) = "\xFF".
    auto e = refusal<v1::Brief>(std::string("\x1A\x01\xFF", 3),
                                {{"Content-Type", "application/protobuf"}});
    CHECK(has(e, "agency.v1.Brief.objective is not valid UTF-8"));
  }
}

TEST_CASE("codec: JSON is read as strict RFC 8259, errors name the byte") {
  SUBCASE("a trailing comma") {
    auto e = refusal<v1::Brief>(R"({"objective":"x",})");
    CHECK(has(e, "invalid JSON at byte 17"));
    CHECK(has(e, "no comma after the last item"));
    CHECK(has(e, "agency.v1.Brief"));
    CHECK(has(refusal<v1::Brief>(R"({"objective":"x","constraints":["a",]})"),
              "invalid JSON at byte 36"));
  }
  SUBCASE("single quotes") {
    auto e = refusal<v1::Brief>(R"({'objective':'x'})");
    CHECK(has(e, "invalid JSON at byte 1"));
    CHECK(has(e, "double quotes"));
    CHECK(has(refusal<v1::Brief>(R"({"objective":'x'})"), "invalid JSON at byte 13"));
  }
  SUBCASE("an escape JSON does not have") {
    // Was stored as "x41".
    auto e = refusal<v1::Brief>(R"({"objective":"\x41"})");
    CHECK(has(e, "invalid JSON at byte 15"));
    CHECK(has(e, "backslash"));
    CHECK(has(refusal<v1::Brief>(R"({"objective":"\a"})"), "invalid JSON at byte 15"));
    // The escapes JSON has still work.
    auto ok = codec::decode<v1::Brief>(R"({"objective":"\u0041\"\\\/\n\t\ud83d\ude80"})");
    REQUIRE_MESSAGE(ok.ok(), ok.error().message);
    CHECK(ok->objective() == "A\"\\/\n\t\xF0\x9F\x9A\x80");
  }
  SUBCASE("a lone surrogate escape") {
    CHECK(has(refusal<v1::Brief>(R"({"objective":"\ud800"})"), "invalid JSON at byte 20"));
  }
  SUBCASE("NaN, Infinity and numbers JSON does not write") {
    CHECK(has(refusal<v1::Brief>(R"({"objective":"x","tokenBudget":NaN})"),
              "invalid JSON at byte 31"));
    CHECK(has(refusal<v1::Brief>(R"({"objective":"x","tokenBudget":Infinity})"),
              "invalid JSON at byte 31"));
    CHECK(has(refusal<v1::Brief>(R"({"objective":"x","tokenBudget":-Infinity})"),
              "invalid JSON at byte 32"));
    CHECK(has(refusal<v1::Brief>(R"({"objective":"x","attempt":01})"), "invalid JSON at byte 28"));
    CHECK(has(refusal<v1::Brief>(R"({"objective":"x","attempt":+1})"), "invalid JSON at byte 27"));
    CHECK(has(refusal<v1::Brief>(R"({"objective":"x","attempt":.5})"), "invalid JSON at byte 27"));
    CHECK(
        has(refusal<v1::Brief>(R"({"objective":"x","attempt":0x10})"), "invalid JSON at byte 28"));
    CHECK(has(refusal<v1::Answer>(R"({"text":"x","confidence":1e999})"), "invalid JSON at byte"));
  }
  SUBCASE("comments and bare words") {
    CHECK(has(refusal<v1::Brief>("{\"objective\":\"x\" // why\n}"), "invalid JSON at byte 17"));
    CHECK(has(refusal<v1::Brief>(R"({objective:"x"})"), "invalid JSON at byte 1"));
    CHECK(has(refusal<v1::Brief>(R"({"objective":"x"}{})"), "invalid JSON at byte 17"));
  }
  SUBCASE("the byte counts from the payload's first byte, a byte-order mark included") {
    CHECK(
        has(refusal<v1::Brief>("\xEF\xBB\xBF  {\"objective\":\"x\",}"), "invalid JSON at byte 22"));
    CHECK(has(refusal<v1::Brief>("\xEF\xBB\xBF{\"objective\":\"x\",}", json_headers()),
              "invalid JSON at byte 20"));
  }
  SUBCASE("a key given twice") {
    auto e = refusal<v1::Brief>(R"({"objective":"x","objective":"y"})");
    CHECK(has(e, "the key \"objective\" appears twice in the top-level object"));
    CHECK(has(refusal<v1::Task>(R"({"brief":{"objective":"x","objective":"y"}})"),
              "appears twice in brief"));
    CHECK(has(refusal<v1::Task>(R"({"history":[{},{"to":"qa","to":"done"}]})"),
              "appears twice in history[1]"));
    CHECK(has(refusal<v1::Task>(R"({"attachments":{"a":"1","a":"2"}})"),
              "the key \"a\" appears twice in attachments"));
    // One field under both of its names.
    CHECK(has(refusal<v1::Brief>(R"({"objective":"x","taskId":"t-1","task_id":"t-2"})"),
              "taskId and task_id name the same field"));
  }
  SUBCASE("nesting past any agency message is refused early") {
    const std::string deep = R"({"constraints":)" + std::string(100000, '[');
    auto e = refusal<v1::Brief>(deep);
    CHECK(has(e, "invalid JSON at byte 46: nested deeper than 32 levels"));
    // Brackets inside strings are text.
    auto ok = codec::decode<v1::Brief>(R"({"objective":")" + std::string(1000, '[') + R"("})");
    CHECK(ok.ok());
  }
  SUBCASE("integers out of their field's range, or not integers") {
    CHECK(has(refusal<v1::Brief>(R"({"objective":"x","attempt":-1})"), "attempt"));
    CHECK(has(refusal<v1::Brief>(R"({"objective":"x","attempt":4294967296})"), "attempt"));
    CHECK(has(refusal<v1::Brief>(R"({"objective":"x","attempt":1e30})"), "attempt"));
    CHECK(has(refusal<v1::Brief>(R"({"objective":"x","attempt":1.5})"), "attempt"));
    CHECK(has(refusal<v1::Brief>(R"({"objective":"x","attempt":true})"), "attempt"));
    CHECK(has(refusal<v1::Brief>(R"({"objective":"x","attempt":"7x"})"), "attempt"));
    CHECK(
        has(refusal<v1::Brief>(R"({"objective":"x","tokenBudget":9223372036854775808})"), "token"));
    CHECK(has(refusal<v1::Brief>(R"({"objective":"x","tokenBudget":"1e30"})"), "token"));
    // The JSON mapping writes 64-bit integers as strings and takes either
    // form for every integer: "7" is 7.
    auto quoted = codec::decode<v1::Brief>(R"({"objective":"x","attempt":"7"})");
    REQUIRE_MESSAGE(quoted.ok(), quoted.error().message);
    CHECK(quoted->attempt() == 7);
  }
  SUBCASE("numbers that are not finite") {
    CHECK(has(refusal<v1::UsageSample>(R"({"costUsd":"Infinity"})"),
              "agency.v1.UsageSample.cost_usd is inf; it must be a finite number"));
    CHECK(has(refusal<v1::UsageSample>(R"({"costUsd":"NaN"})"), "cost_usd is nan"));
    v1::LimitReading reading;
    reading.set_utilization(std::numeric_limits<double>::infinity());
    CHECK(has(refusal<v1::LimitReading>(codec::encode(reading).data), "utilization is inf"));
  }
}

TEST_CASE("codec: deep nesting in protobuf is refused, not a stack overflow") {
  // Start-group tags of field 1, nested half a million deep.
  const std::string groups(500000, '\x0B');
  CHECK(
      has(refusal<v1::Task>(groups, {{"Content-Type", "application/protobuf"}}), "agency.v1.Task"));
  CHECK(!codec::decode<v1::AgentStatus>(groups).ok());
}

TEST_CASE("codec: what a refusal quotes is one line of printable text") {
  // Reasons end up in dead letters, logs and terminals.
  auto e1 = refusal<v1::Brief>("x", {{"Content-Type", "text/\x1b]0;owned\x07"}});
  CHECK(has(e1, "text/\\x1b]0;owned\\x07"));
  auto e2 = refusal<v1::Control>(R"({"command":"stop\u001b[2J"})");
  CHECK(has(e2, "stop\\x1b[2J"));
  auto e3 = refusal<v1::Brief>("do it", {{"Agency-Type", "agency.v1.X\r\nFake: line"}});
  CHECK(has(e3, "agency.v1.X\\r\\nFake: line"));
  for (const auto* e : {&e1, &e2, &e3}) {
    for (char c : e->message) {
      const auto b = static_cast<unsigned char>(c);
      CHECK((b >= 0x20 && b != 0x7f));
    }
  }
  // A long header is cut, not copied whole.
  auto e4 = refusal<v1::Brief>("x", {{"Content-Type", std::string(100000, 'a')}});
  CHECK(e4.message.size() < 400);
  // Plain text refuses C1 controls as it refuses C0 ones.
  CHECK(has(refusal<v1::Brief>("ring \xC2\x9B"
                               "31m",
                               text_headers()),
            "control character U+009B at byte 5"));
}

TEST_CASE("codec: garbage bytes are refused, never a crash") {
  std::mt19937 rng(20240611);
  std::uniform_int_distribution<int> byte(0, 255);
  // At least 16 bytes: shorter random strings are now and then valid UTF-8
  // text, which a type with a text form rightly takes.
  std::uniform_int_distribution<int> length(16, 96);
  for (int i = 0; i < 400; ++i) {
    std::string garbage(static_cast<std::size_t>(length(rng)), '\0');
    for (char& c : garbage) c = static_cast<char>(byte(rng));
    CAPTURE(i);
    // Types with a required field can never take garbage.
    CHECK(!codec::decode<v1::Brief>(garbage).ok());
    CHECK(!codec::decode<v1::Control>(garbage).ok());
    CHECK(!codec::decode<v1::Question>(garbage).ok());
    CHECK(!codec::decode<v1::Brief>(garbage, {{"Content-Type", "application/protobuf"}}).ok());
    // Every other type refuses or, by rare chance, reads a valid message;
    // either way the answer is a decode result, not a crash.
    for (std::string_view name : kAllTypeNames) {
      auto message = codec::new_message(name);
      REQUIRE(message != nullptr);
      auto r = codec::decode_into(*message, garbage);
      if (!r) CHECK(r.error().code == errc::bad_payload);
    }
  }
}

TEST_CASE("codec: damaged messages are refused or read, never a crash") {
  // Flipped and cut bytes of real encodings reach deeper into the parser
  // than random bytes do.
  std::mt19937 rng(7);
  const std::vector<std::string> encodings = {
      codec::encode(sample<v1::Task>()).data, codec::encode(sample<v1::DeadLetter>()).data,
      codec::encode(sample<v1::Answer>()).data, codec::to_json(sample<v1::Task>())};
  for (const std::string& original : encodings) {
    for (int i = 0; i < 300; ++i) {
      std::string damaged = original;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        damaged[rng() % damaged.size()] = static_cast<char>(rng() % 256);
      }
      if (rng() % 3 == 0) damaged.resize(rng() % damaged.size() + 1);
      CAPTURE(i);
      for (std::string_view name :
           {"agency.v1.Task", "agency.v1.DeadLetter", "agency.v1.Answer", "agency.v1.Brief"}) {
        auto message = codec::new_message(name);
        REQUIRE(message != nullptr);
        auto r = codec::decode_into(*message, damaged);
        if (r) {
          // Whatever was read is a valid message that prints and re-reads.
          CHECK(codec::validate(*message).ok());
          auto again = codec::new_message(name);
          CHECK(codec::decode_into(*again, codec::to_json(*message)).ok());
        } else {
          CHECK(r.error().code == errc::bad_payload);
          CHECK(!r.error().message.empty());
        }
      }
    }
  }
}

TEST_CASE("codec: validation rules") {
  SUBCASE("Brief needs an objective or a task id") {
    auto e = refusal<v1::Brief>(R"({"project":"shop"})");
    CHECK(has(e, "agency.v1.Brief needs an objective"));
    CHECK(has(refusal<v1::Brief>(R"({"objective":"   "})"), "needs an objective"));
    CHECK(codec::decode<v1::Brief>(R"({"taskId":"t-1"})").ok());
  }
  SUBCASE("Brief.stage is a stage name, not an end") {
    auto e = refusal<v1::Brief>(R"({"objective":"x","stage":"done"})");
    CHECK(has(e, "agency.v1.Brief.stage is \"done\""));
    CHECK(has(e, "an end"));
    auto odd = refusal<v1::Brief>(R"({"objective":"x","stage":"Q A"})");
    CHECK(has(odd, "agency.v1.Brief.stage is \"Q A\""));
    CHECK(has(odd, "lowercase letters, digits and '-'"));
    CHECK(codec::decode<v1::Brief>(R"({"objective":"x","stage":"qa"})").ok());
    // Which stages exist is the pipeline's: the agent refuses a stage its
    // pipeline does not have (tests/integration).
    CHECK(codec::decode<v1::Brief>(R"({"objective":"x","stage":"merge"})").ok());
  }
  SUBCASE("Brief.priority is known") {
    auto e = refusal<v1::Brief>(R"({"objective":"x","priority":"urgent"})");
    CHECK(has(e, "agency.v1.Brief.priority is \"urgent\""));
    CHECK(has(e, "human, interactive, scheduled, batch"));
  }
  SUBCASE("Brief.token_budget is not negative") {
    CHECK(has(refusal<v1::Brief>(R"({"objective":"x","tokenBudget":"-1"})"),
              "agency.v1.Brief.token_budget is -1"));
  }
  SUBCASE("Task.stage is a stage name") {
    auto e = refusal<v1::Task>(R"({"id":"t-1","stage":"doing it"})");
    CHECK(has(e, "agency.v1.Task.stage is \"doing it\""));
    CHECK(has(e, "like ready-for-dev"));
    CHECK(codec::decode<v1::Task>(R"({"id":"t-1","stage":"blocked"})").ok());
  }
  SUBCASE("AgentStatus.state is known") {
    CHECK(has(refusal<v1::AgentStatus>(R"({"state":"sleeping"})"),
              "agency.v1.AgentStatus.state is \"sleeping\""));
  }
  SUBCASE("Control.command is required and known") {
    auto e = refusal<v1::Control>("explode");
    CHECK(has(e, "agency.v1.Control.command is \"explode\""));
    CHECK(has(e, "pause, resume, drain, stop, reload"));
    CHECK(has(refusal<v1::Control>(R"({"reason":"x"})"), "agency.v1.Control.command is required"));
  }
  SUBCASE("Question.text is required") {
    CHECK(has(refusal<v1::Question>(R"({"id":"q-1"})"), "agency.v1.Question.text is required"));
  }
  SUBCASE("Answer.confidence lies in [0, 1]") {
    CHECK(has(refusal<v1::Answer>(R"({"text":"x","confidence":1.5})"),
              "agency.v1.Answer.confidence is 1.5"));
    CHECK(has(refusal<v1::Answer>(R"({"text":"x","confidence":-0.1})"), "confidence"));
    CHECK(has(refusal<v1::Answer>(R"({"text":"x","confidence":"NaN"})"), "confidence"));
    CHECK(codec::decode<v1::Answer>(R"({"text":"x","confidence":1})").ok());
  }
  SUBCASE("Lease priority and estimate") {
    CHECK(has(refusal<v1::Lease>(R"({"priority":"now"})"), "agency.v1.Lease.priority"));
    CHECK(has(refusal<v1::Lease>(R"({"estimateTokens":"-5"})"),
              "agency.v1.Lease.estimate_tokens is -5"));
  }
  SUBCASE("TaskEvent.kind is known") {
    CHECK(has(refusal<v1::TaskEvent>(R"({"kind":"exploded"})"),
              "agency.v1.TaskEvent.kind is \"exploded\""));
  }
  SUBCASE("timestamps must be printable") {
    v1::Brief brief = sample<v1::Brief>();
    brief.mutable_created_at()->set_seconds(std::numeric_limits<std::int64_t>::max());
    auto e = refusal<v1::Brief>(codec::encode(brief).data);
    CHECK(has(e, "agency.v1.Brief.created_at is out of range"));
    v1::Task task = sample<v1::Task>();
    task.mutable_brief()->mutable_not_before()->set_nanos(-1);
    CHECK(has(refusal<v1::Task>(codec::encode(task).data), "agency.v1.Brief.not_before"));
  }
  SUBCASE("validate() on its own") {
    CHECK(codec::validate(sample<v1::Brief>()).ok());
    v1::Control c;
    auto r = codec::validate(c);
    REQUIRE(!r.ok());
    CHECK(r.error().code == errc::bad_payload);
    CHECK(codec::validate(v1::Settle()).ok());
    CHECK(codec::validate(ts(1)).ok());  // not ours: no rules
  }
}

TEST_CASE("codec: a failed decode leaves the message empty") {
  v1::Brief brief = sample<v1::Brief>();
  auto r = codec::decode_into(brief, std::string("\x1A\x01\xFF", 3));
  CHECK(!r.ok());
  CHECK(same(brief, v1::Brief()));
}

TEST_CASE("codec: new_message knows every agency.v1 type and nothing else") {
  for (std::string_view name : kAllTypeNames) {
    CAPTURE(name);
    auto m = codec::new_message(name);
    REQUIRE(m != nullptr);
    CHECK(m->GetDescriptor()->full_name() == name);
    CHECK(m->ByteSizeLong() == 0);
  }
  CHECK(codec::new_message("agency.v1.Nope") == nullptr);
  CHECK(codec::new_message("agency.v1.") == nullptr);
  CHECK(codec::new_message("") == nullptr);
  CHECK(codec::new_message("google.protobuf.Timestamp") == nullptr);
  CHECK(codec::new_message("agency.v1.Task.AttachmentsEntry") == nullptr);

  // Decoding through a message made by name works like the typed path.
  auto m = codec::new_message("agency.v1.Control");
  REQUIRE(m != nullptr);
  REQUIRE(codec::decode_into(*m, "stop").ok());
  CHECK(codec::to_json(*m) == R"({"command":"stop"})");
}

TEST_CASE("codec: text_field names each type's text field") {
  auto field_of = [](const pb::Descriptor* d) -> std::string {
    const pb::FieldDescriptor* f = codec::text_field(*d);
    return f != nullptr ? f->name() : std::string("-");
  };
  CHECK(field_of(v1::Brief::descriptor()) == "objective");
  CHECK(field_of(v1::Question::descriptor()) == "text");
  CHECK(field_of(v1::Answer::descriptor()) == "text");
  CHECK(field_of(v1::Mail::descriptor()) == "body");
  CHECK(field_of(v1::Control::descriptor()) == "command");
  CHECK(field_of(v1::WorkLog::descriptor()) == "summary");
  CHECK(field_of(v1::Task::descriptor()) == "-");
  CHECK(field_of(v1::DeadLetter::descriptor()) == "-");
}

TEST_CASE("codec: vocabulary") {
  namespace vocab = agency::vocabulary;
  CHECK(vocab::is_stage_name("ready-for-prep"));
  CHECK(vocab::is_stage_name("merge2"));
  CHECK_FALSE(vocab::is_stage_name("Ready-For-Prep"));
  CHECK_FALSE(vocab::is_stage_name(""));
  CHECK_FALSE(vocab::is_stage_name("-qa"));
  CHECK_FALSE(vocab::is_stage_name("a b"));
  CHECK_FALSE(vocab::is_stage_name(std::string(65, 'a')));
  CHECK(vocab::is_agent_state("rate-limited"));
  CHECK_FALSE(vocab::is_agent_state("asleep"));
  CHECK(vocab::is_priority("batch"));
  CHECK_FALSE(vocab::is_priority("urgent"));
  CHECK(vocab::is_control_command("reload"));
  CHECK_FALSE(vocab::is_control_command("kill"));
  CHECK(vocab::is_task_event_kind("stage-changed"));
  CHECK(vocab::is_task_event_kind("moved"));  // a person's (agency task move)
  CHECK(vocab::is_task_event_kind("cancelled"));
  CHECK_FALSE(vocab::is_task_event_kind("teleported"));
  CHECK(vocab::join(vocab::kControlCommands, "|") == "pause|resume|drain|stop|reload|nudge|cancel");
  CHECK(vocab::join(vocab::kPriorities, "|") == "human|interactive|scheduled|batch");
  CHECK(vocab::join(vocab::Names()).empty());
  static_assert(vocab::is_stage_name(vocab::kBlocked));
}

TEST_CASE("codec: a brief's task id and project must be safe in a subject and a KV key") {
  for (const char* json :
       {R"({"objective":"x","project":"a b.c>"})", R"({"objective":"x","project":"de mo"})",
        R"({"objective":"x","taskId":"../../etc/passwd"})",
        R"({"objective":"x","taskId":"t-1.2"})"}) {
    CAPTURE(json);
    auto b = codec::decode<agency::v1::Brief>(json);
    REQUIRE_FALSE(b.ok());
    CHECK(b.error().message.find("letters, digits") != std::string::npos);
  }
  auto ok =
      codec::decode<agency::v1::Brief>(R"({"objective":"x","project":"api_v2","taskId":"t-9_a"})");
  CHECK(ok.ok());
}
