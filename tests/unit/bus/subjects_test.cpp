// Subject, stream, consumer and bucket names: what agents, the CLI and plain
// NATS users type must agree, so the builders and the reverse lookup are
// pinned here.
#include "bus/subjects.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

namespace subjects = agency::subjects;

TEST_CASE("subjects: builders") {
  CHECK(subjects::brief("planner") == "agency.brief.planner");
  CHECK(subjects::task_event("t-01HZX") == "agency.event.task.t-01HZX");
  CHECK(subjects::ask("proxy") == "agency.ask.proxy");
  CHECK(subjects::mail("builder-host-7") == "agency.mail.builder-host-7");
  CHECK(subjects::usage("claude", "builder") == "agency.usage.claude.builder");
  CHECK(subjects::limits("claude") == "agency.usage.limits.claude");
  CHECK(subjects::work_log("shop") == "agency.log.shop");
  CHECK(subjects::dead("planner") == "agency.dead.planner");
  CHECK(subjects::control("all") == "agency.control.all");
  CHECK(subjects::control("reviewer") == "agency.control.reviewer");
  CHECK(subjects::brief_consumer("planner") == "briefs-planner");
  // One queue per priority; the default (scheduled) has the plain names.
  CHECK(subjects::brief("builder", "") == "agency.brief.builder");
  CHECK(subjects::brief("builder", "scheduled") == "agency.brief.builder");
  CHECK(subjects::brief("builder", "human") == "agency.brief.builder.human");
  CHECK(subjects::brief("builder", "batch") == "agency.brief.builder.batch");
  CHECK(subjects::brief_consumer("builder", "scheduled") == "briefs-builder");
  CHECK(subjects::brief_consumer("builder", "interactive") == "briefs-builder@interactive");
  CHECK(subjects::wake("briefs-builder@human") == "agency.wake.briefs-builder@human");
  CHECK(subjects::mail_consumer("builder-host-7") == "mail-builder-host-7");
}

TEST_CASE("subjects: fixed names") {
  CHECK(subjects::kBudgetLease == "agency.budget.lease");
  CHECK(subjects::kBudgetSettle == "agency.budget.settle");
  CHECK(subjects::kAll == "agency.>");
  CHECK(subjects::kBriefsStream == "AGENCY_BRIEFS");
  CHECK(subjects::kTasksBucket == "agency-tasks");
  CHECK(subjects::kFleetBucket == "agency-fleet");
}

TEST_CASE("subjects: token validity") {
  for (std::string_view ok : {"planner", "builder-host-7", "t-01HZX", "my_project", "été", "A1"}) {
    CAPTURE(ok);
    CHECK(subjects::is_valid_token(ok));
  }
  for (std::string_view bad : {"", "a.b", "*", "a*", ">", "x>", "two words", "tab\there", "line\n",
                               " lead", "trail ", "\r", "nul\x01", "del\x7f"}) {
    CAPTURE(bad);
    CHECK_FALSE(subjects::is_valid_token(bad));
  }
  CHECK_FALSE(subjects::is_valid_token(std::string_view("a\0b", 3)));
}

TEST_CASE("subjects: message type for a subject") {
  using subjects::message_type_for;
  CHECK(message_type_for(subjects::brief("planner")) == "agency.v1.Brief");
  CHECK(message_type_for(subjects::task_event("t-1")) == "agency.v1.TaskEvent");
  CHECK(message_type_for(subjects::ask("proxy")) == "agency.v1.Question");
  CHECK(message_type_for(subjects::mail("a-1")) == "agency.v1.Mail");
  CHECK(message_type_for(subjects::usage("claude", "builder")) == "agency.v1.UsageSample");
  CHECK(message_type_for(subjects::limits("claude")) == "agency.v1.LimitReading");
  CHECK(message_type_for(subjects::kBudgetLease) == "agency.v1.Lease");
  CHECK(message_type_for(subjects::kBudgetSettle) == "agency.v1.Settle");
  CHECK(message_type_for(subjects::work_log("shop")) == "agency.v1.WorkLog");
  CHECK(message_type_for(subjects::dead("planner")) == "agency.v1.DeadLetter");
  CHECK(message_type_for(subjects::control("all")) == "agency.v1.Control");
  CHECK(message_type_for("$KV.agency-tasks.t-1") == "agency.v1.Task");
  CHECK(subjects::fleet_event("sweep") == "agency.event.sweep");
  CHECK(message_type_for(subjects::fleet_event("sweep")) == "agency.v1.FleetEvent");
  CHECK(message_type_for("$KV.agency-fleet.builder-host-7") == "agency.v1.AgentStatus");

  // Not ours, or not a complete subject of ours.
  for (std::string_view other :
       {"", "foo", "agency", "agency.brief", "agency.brief.", "agency.brief.a.b.c",
        "agency.event.task", "agency.event.a.b", "agency.usage.claude", "agency.usage.a.b.c",
        "agency.budget.lease.x", "agency.budget", "agency.mail..x", "$KV.agency-memory.k",
        "$KV.agency-tasks.", "agency.briefx.planner", "_INBOX.abc", "$SRV.PING"}) {
    CAPTURE(other);
    CHECK(message_type_for(other).empty());
  }
}

TEST_CASE("subjects: a brief queue's role and priority from its subject") {
  auto plain = subjects::brief_queue("agency.brief.builder");
  REQUIRE(plain.has_value());
  CHECK(plain->role == "builder");
  CHECK(plain->priority == "scheduled");
  for (std::string_view priority : {"human", "interactive", "batch"}) {
    CAPTURE(priority);
    auto q = subjects::brief_queue(subjects::brief("my-role", priority));
    REQUIRE(q.has_value());
    CHECK(q->role == "my-role");
    CHECK(q->priority == priority);
  }
  // The default has no suffix; an unknown one, or more tokens, is no queue.
  for (std::string_view other :
       {"agency.brief.builder.scheduled", "agency.brief.builder.urgent", "agency.brief.a.b.c",
        "agency.brief.", "agency.brief", "agency.mail.builder", "agency.brief..human"}) {
    CAPTURE(other);
    CHECK_FALSE(subjects::brief_queue(other).has_value());
  }
}

TEST_CASE("subjects: the consumer of an ack subject, with or without a domain") {
  CHECK(
      subjects::consumer_of_ack("$JS.ACK.AGENCY_BRIEFS.briefs-builder@human.1.42.7.1700000000.0") ==
      "briefs-builder@human");
  CHECK(subjects::consumer_of_ack(
            "$JS.ACK.hub.ACCHASH.AGENCY_BRIEFS.briefs-builder.1.42.7.1700000000.0.token") ==
        "briefs-builder");
  for (std::string_view other : {"", "$JS.ACK.a.b", "_INBOX.x.y.z.a.b.c.d.e", "agency.brief.x"}) {
    CAPTURE(other);
    CHECK(subjects::consumer_of_ack(other).empty());
  }
}

TEST_CASE("subjects: a pattern covers another when it matches everything that one matches") {
  using subjects::covers;
  CHECK(covers("agency.event.>", "agency.event.task.>"));
  CHECK(covers("agency.event.>", "agency.event.task.t-1"));
  CHECK(covers("agency.event.>", "agency.event.*"));
  CHECK(covers("agency.*.task.*", "agency.event.task.*"));
  CHECK(covers("a.b", "a.b"));
  CHECK(covers(">", "a"));
  CHECK_FALSE(covers("agency.event.>", "agency.event"));
  CHECK_FALSE(covers("agency.event.>", "agency.>"));
  CHECK_FALSE(covers("agency.event.*", "agency.event.>"));
  CHECK_FALSE(covers("agency.event.task", "agency.event.*"));
  CHECK_FALSE(covers("agency.brief.>", "agency.event.task.>"));
  CHECK_FALSE(covers("a.b", "a.b.c"));
  CHECK_FALSE(covers("a.b.c", "a.b"));
}
