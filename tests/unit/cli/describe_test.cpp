#include "cli/describe.hpp"

#include <doctest/doctest.h>
#include <google/protobuf/util/time_util.h>

#include <string>

#include "agency/v1/ask.pb.h"
#include "agency/v1/brief.pb.h"
#include "agency/v1/control.pb.h"
#include "agency/v1/dead.pb.h"
#include "agency/v1/event.pb.h"
#include "agency/v1/fleet.pb.h"
#include "agency/v1/task.pb.h"
#include "agency/v1/usage.pb.h"
#include "agency/v1/worklog.pb.h"
#include "bus/codec.hpp"

namespace {

using agency::cli::describe;
namespace v1 = agency::v1;

// The line for a message as an agent publishes it: protobuf plus headers.
std::string line_for(std::string_view subject, const google::protobuf::Message& m) {
  const agency::Outgoing out = agency::codec::encode(m);
  return describe(subject, out.headers, out.data);
}

bool one_line(const std::string& s) {
  return s.find('\n') == std::string::npos && s.find('\r') == std::string::npos;
}

}  // namespace

TEST_CASE("describe: brief shows task, stage, project, priority and the objective") {
  v1::Brief b;
  b.set_task_id("t-123");
  b.set_stage("ready-for-prep");
  b.set_project("demo");
  b.set_priority("batch");
  b.set_objective("Add rate limiting to the API");
  const std::string line = line_for("agency.brief.planner", b);
  CHECK(line ==
        "Brief task=t-123 stage=ready-for-prep project=demo prio=batch "
        "\"Add rate limiting to the API\"");
}

TEST_CASE("describe: long text is cut with an ellipsis and stays on one line") {
  v1::Brief b;
  std::string objective = "first line\nsecond line\t";
  for (int i = 0; i < 30; ++i) objective += "word ";
  b.set_objective(objective);
  const std::string line = line_for("agency.brief.planner", b);
  CHECK(one_line(line));
  CHECK(line.find("first line second line") != std::string::npos);
  CHECK(line.find("\xE2\x80\xA6\"") != std::string::npos);
  CHECK(line.size() < 140);
}

TEST_CASE("describe: plain text and JSON without headers are decoded by subject") {
  CHECK(describe("agency.brief.planner", {}, "Add rate limiting") == "Brief \"Add rate limiting\"");
  CHECK(describe("agency.brief.planner", {}, R"({"objective":"Fix it","taskId":"t-9"})") ==
        "Brief task=t-9 \"Fix it\"");
  CHECK(describe("agency.control.all", {}, "pause") == "Control pause");
}

TEST_CASE("describe: task event shows the stage change, actor and reason") {
  v1::TaskEvent e;
  e.set_task_id("t-1");
  e.set_kind("stage-changed");
  e.set_from_stage("ready-for-dev");
  e.set_to_stage("qa");
  e.set_actor("builder-1");
  e.set_reason("tests pass");
  CHECK(
      line_for("agency.event.task.t-1", e) ==
      "TaskEvent task=t-1 stage-changed ready-for-dev\xE2\x86\x92qa by builder-1: \"tests pass\"");
}

TEST_CASE("describe: task record from the KV bucket") {
  v1::Task t;
  t.set_id("t-7");
  t.set_stage("blocked");
  t.set_project("demo");
  t.set_bounces(3);
  t.set_title("Rate limits");
  t.set_blocked_reason("too many bounces");
  // KV writers set no Agency-Type: the bucket says what it holds.
  const std::string line = describe("$KV.agency-tasks.t-7", {}, agency::codec::to_json(t));
  CHECK(line ==
        "Task t-7 blocked project=demo bounces=3 \"Rate limits\" blocked: too many bounces");
}

TEST_CASE("describe: KV delete markers") {
  const agency::Headers del{{"KV-Operation", "DEL"}};
  CHECK(describe("$KV.agency-fleet.builder-1", del, "") == "AgentStatus deleted");
  const agency::Headers purge{{"KV-Operation", "PURGE"}};
  CHECK(describe("$KV.agency-tasks.t-1", purge, "") == "Task purged");
}

TEST_CASE("describe: agent status") {
  v1::AgentStatus s;
  s.set_agent_id("builder-1");
  s.set_state("busy");
  s.set_task_id("t-1");
  s.set_engine("scripted");
  CHECK(line_for("$KV.agency-fleet.builder-1", s) ==
        "AgentStatus builder-1 busy task=t-1 engine=scripted");
  s.set_last_progress("ran tests");
  CHECK(line_for("$KV.agency-fleet.builder-1", s) ==
        "AgentStatus builder-1 busy task=t-1 engine=scripted \"ran tests\"");
}

TEST_CASE("describe: dead letter shows the original subject and the reason") {
  v1::DeadLetter d;
  d.set_original_subject("agency.brief.planner");
  d.set_reason("agency.v1.Brief needs an objective");
  d.set_payload(std::string("\x00\x01", 2));
  CHECK(line_for("agency.dead.planner", d) ==
        "DeadLetter agency.brief.planner: agency.v1.Brief needs an objective");
}

TEST_CASE("describe: control with reason") {
  v1::Control c;
  c.set_command("pause");
  c.set_reason("night is over");
  CHECK(line_for("agency.control.builder-1", c) == "Control pause (night is over)");
}

TEST_CASE("describe: usage sample") {
  v1::UsageSample u;
  u.set_engine("claude");
  u.set_model("sonnet");
  u.set_role("builder");
  u.set_input_tokens(100);
  u.set_output_tokens(20);
  u.set_cost_usd(0.01);
  u.set_started_by_agency(true);
  CHECK(line_for("agency.usage.claude.builder", u) ==
        "UsageSample claude/sonnet builder in=100 out=20 $0.01");
}

TEST_CASE("describe: limit reading") {
  v1::LimitReading r;
  r.set_engine("claude");
  r.set_window("five_hour");
  r.set_status("rejected");
  r.set_utilization(97.4);
  r.set_remaining(-1);
  r.set_agent_id("builder-1");
  r.mutable_resets_at()->set_seconds(1795328005);
  CHECK(line_for("agency.usage.limits.claude", r) ==
        "LimitReading claude five_hour rejected used=97% resets=2026-11-22T06:13:25Z "
        "agent=builder-1");
}

TEST_CASE("describe: lease, lease reply and settle") {
  v1::Lease l;
  l.set_id("l-1");
  l.set_agent_id("builder-1");
  l.set_task_id("t-1");
  l.set_priority("batch");
  l.set_estimate_tokens(5000);
  l.set_engine("claude");
  l.set_model("sonnet");
  CHECK(line_for("agency.budget.lease", l) ==
        "Lease l-1 builder-1 task=t-1 prio=batch est=5000 claude/sonnet");

  v1::LeaseReply granted;
  granted.set_lease_id("l-1");
  granted.set_granted(true);
  granted.set_allowance_tokens(5000);
  granted.set_reason("within pace");
  CHECK(line_for("_INBOX.x", granted) == "LeaseReply l-1 granted 5000 (within pace)");

  v1::LeaseReply deferred;
  deferred.set_lease_id("l-2");
  deferred.set_granted(false);
  *deferred.mutable_retry_at() =
      google::protobuf::util::TimeUtil::SecondsToTimestamp(1'800'000'000);
  deferred.set_reason("reserve for the human");
  CHECK(line_for("_INBOX.y", deferred) ==
        "LeaseReply l-2 deferred until 2027-01-15T08:00:00Z (reserve for the human)");

  v1::Settle s;
  s.set_lease_id("l-1");
  s.set_agent_id("builder-1");
  s.set_input_tokens(1200);
  s.set_output_tokens(300);
  s.set_cost_usd(2.5);
  CHECK(line_for("agency.budget.settle", s) == "Settle l-1 builder-1 in=1200 out=300 $2.50");
}

TEST_CASE("describe: question and answer with confidence") {
  v1::Question q;
  q.set_id("q-1");
  q.set_from_agent("builder-1");
  q.set_task_id("t-1");
  q.set_text("Which HTTP client do we use?");
  CHECK(line_for("agency.ask.proxy", q) ==
        "Question q-1 from builder-1 task=t-1: \"Which HTTP client do we use?\"");

  v1::Answer a;
  a.set_question_id("q-1");
  a.set_answered_by("proxy-1");
  a.set_confidence(0.82);
  a.set_text("libcurl, see docs/http.md");
  a.add_sources()->set_ref("docs/http.md");
  CHECK(line_for("_INBOX.z", a) ==
        "Answer q-1 by proxy-1 confidence=0.82 sources=1: \"libcurl, see docs/http.md\"");
}

TEST_CASE("describe: mail and work log") {
  v1::Mail m;
  m.set_from("human");
  m.set_to("builder-1");
  m.set_subject("heads up");
  m.set_body("the API changed");
  CHECK(line_for("agency.mail.builder-1", m) ==
        "Mail human\xE2\x86\x92"
        "builder-1 \"heads up\": \"the API changed\"");

  v1::WorkLog w;
  w.set_task_id("t-1");
  w.set_outcome("done");
  w.set_project("demo");
  w.set_agent_id("reviewer-1");
  w.set_title("Rate limits");
  CHECK(line_for("agency.log.demo", w) ==
        "WorkLog t-1 done project=demo by reviewer-1 \"Rate limits\"");
}

TEST_CASE("describe: fleet event shows kind, actor, target, sorted details and the reason") {
  v1::FleetEvent e;
  e.set_kind("nudged");
  e.set_actor("sweeper-1");
  e.set_agent_id("builder-2");
  e.set_task_id("t-7");
  e.set_reason("no progress for 20 min");
  (*e.mutable_details())["tokens"] = "1200";
  (*e.mutable_details())["norm"] = "300";
  // Decoded by subject alone too: a FleetEvent carries no header in a replay.
  const agency::Outgoing out = agency::codec::encode(e);
  const std::string expected =
      "FleetEvent nudged by sweeper-1 agent=builder-2 task=t-7 [norm=300 tokens=1200]: "
      "\"no progress for 20 min\"";
  CHECK(describe("agency.event.nudged", out.headers, out.data) == expected);
  CHECK(describe("agency.event.nudged", {}, out.data) == expected);
}

TEST_CASE("describe: fleet snapshot counts the agents by state instead of listing them") {
  v1::FleetEvent e;
  e.set_kind("snapshot");
  e.set_actor("sweeper-1");
  for (const char* state : {"busy", "idle", "busy", "paused", "busy"}) {
    e.add_agents()->set_state(state);
  }
  e.mutable_agents(0)->set_agent_id("builder-1");
  CHECK(line_for("agency.event.snapshot", e) ==
        "FleetEvent snapshot by sweeper-1 agents=5 (busy 3, idle 1, paused 1)");
  v1::FleetEvent empty;
  empty.set_kind("snapshot");
  empty.set_actor("sweeper-1");
  CHECK(line_for("agency.event.snapshot", empty) == "FleetEvent snapshot by sweeper-1 agents=0");
}

TEST_CASE("describe: garbage on an agency subject says why and shows the bytes") {
  SUBCASE("binary that is not the declared protobuf: hex preview") {
    const agency::Headers headers{{"Agency-Type", "agency.v1.Brief"},
                                  {"Content-Type", "application/protobuf"}};
    const std::string payload("\xff\xfe\x00\x01", 4);
    const std::string line = describe("agency.brief.planner", headers, payload);
    CHECK(line.rfind("undecodable (", 0) == 0);
    CHECK(line.find("): hex ff fe 00 01") != std::string::npos);
    CHECK(one_line(line));
  }
  SUBCASE("text that breaks the rules: text preview") {
    const std::string line = describe("agency.control.all", {}, "explode\nnow");
    CHECK(line.rfind("undecodable (", 0) == 0);
    CHECK(line.find("): explode now") != std::string::npos);
    CHECK(one_line(line));
  }
  SUBCASE("unknown Agency-Type") {
    const std::string line = describe("foo", {{"Agency-Type", "agency.v1.Nope"}}, "x");
    CHECK(line.rfind("undecodable (", 0) == 0);
    CHECK(line.find("agency.v1.Nope") != std::string::npos);
  }
  SUBCASE("empty payload") {
    const std::string line = describe("agency.brief.planner", {}, "");
    CHECK(line.rfind("undecodable (", 0) == 0);
    CHECK(line.find("(empty)") != std::string::npos);
  }
  SUBCASE("long binary is cut") {
    const std::string payload(200, '\x01');
    const std::string line = describe("agency.brief.planner", {}, payload);
    CHECK(line.rfind("undecodable (", 0) == 0);
    CHECK(line.find("hex 01 01") != std::string::npos);
    CHECK(line.find("\xE2\x80\xA6") != std::string::npos);
    CHECK(line.size() < 400);
  }
}

TEST_CASE("describe: a subject that is not agency's shows size and a preview") {
  CHECK(describe("orders.new", {}, "hello world") == "11 bytes: hello world");
  CHECK(describe("orders.new", {}, "") == "0 bytes");
  CHECK(describe("orders.new", {}, std::string("\x00\x9f", 2)) == "2 bytes: hex 00 9f");
  const std::string line = describe("orders.new", {}, std::string(500, 'a'));
  CHECK(line.rfind("500 bytes: aaaa", 0) == 0);
  CHECK(line.find("\xE2\x80\xA6") != std::string::npos);
}

TEST_CASE("describe: one_line keeps UTF-8 and replaces what a terminal would act on") {
  using agency::cli::one_line;
  CHECK(one_line("  caf\xC3\xA9 \n\t ok  ") == "caf\xC3\xA9 ok");
  CHECK(one_line("a\x1b[31mred") == "a\\x1b[31mred");
  CHECK(one_line("bad \xC3 byte") == "bad \\xc3 byte");
  CHECK(one_line("c1 \xC2\x9B"
                 "31m") == "c1 \\u009b31m");
  CHECK(one_line("abcdef", 3) == "abc\xE2\x80\xA6");
  CHECK(one_line("\xC3\xA9\xC3\xA9\xC3\xA9", 2) == "\xC3\xA9\xC3\xA9\xE2\x80\xA6");
}

TEST_CASE("describe: decode_any reports type, message and error") {
  const auto ok = agency::cli::decode_any("agency.brief.planner", {}, "do it");
  CHECK(ok.type == "agency.v1.Brief");
  REQUIRE(ok.message != nullptr);
  CHECK(ok.error.empty());
  const auto bad = agency::cli::decode_any("agency.control.all", {}, "explode");
  CHECK(bad.type == "agency.v1.Control");
  CHECK(bad.message == nullptr);
  CHECK_FALSE(bad.error.empty());
  const auto foreign = agency::cli::decode_any("orders.new", {}, "x");
  CHECK(foreign.type.empty());
  CHECK(foreign.message == nullptr);
  CHECK(foreign.error.empty());
}
