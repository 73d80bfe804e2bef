// The stage change a decision makes, without the bus: the next brief, the
// task record after the compare-and-set step, the event (runtime/stage_change.hpp).
#include "runtime/stage_change.hpp"

#include <doctest/doctest.h>

#include <string>

#include "bus/clock.hpp"

namespace agency {
namespace {

google::protobuf::Timestamp at(std::int64_t seconds) {
  google::protobuf::Timestamp t;
  t.set_seconds(seconds);
  return t;
}

void enter(v1::Task& task, const std::string& from, const std::string& to) {
  auto* h = task.add_history();
  h->set_from(from);
  h->set_to(to);
  task.set_stage(to);
}

// A task at qa for the first time, after planning and development.
v1::Task task_at_qa() {
  v1::Task t;
  t.set_id("t-1");
  t.set_project("shop");
  t.mutable_brief()->set_objective("add a basket");
  t.mutable_brief()->set_audience("shoppers");
  t.mutable_brief()->set_done_when("the basket keeps items");
  t.mutable_brief()->add_constraints("no new dependencies");
  enter(t, "", "ready-for-prep");
  enter(t, "ready-for-prep", "ready-for-dev");
  enter(t, "ready-for-dev", "qa");
  t.set_tokens_used(100);
  return t;
}

v1::Brief qa_brief() {
  v1::Brief b;
  b.set_task_id("t-1");
  b.set_stage("qa");
  b.set_attempt(1);
  b.set_priority("interactive");
  b.set_token_budget(5000);
  return b;
}

Decision to(const std::string& next, bool bounce = false) {
  Decision d;
  d.next_stage = next;
  d.reason = "because";
  d.bounce = bounce;
  return d;
}

TEST_CASE("stage change: a pass publishes the next stage's first brief, built from the task") {
  auto task = task_at_qa();
  Decision d = to("review");
  d.context = "commit abc";
  auto change = plan_stage_change(task, qa_brief(), "qa", d, 40, "adversary-1", 3);
  REQUIRE(change.ok());
  CHECK(change->next == "review");
  CHECK(change->next_attempt == 1);
  CHECK_FALSE(change->closes());

  auto brief = next_brief(*change, task, qa_brief(), 64 * 1024, at(1000));
  REQUIRE(brief.has_value());
  CHECK(brief->id() == "t-1:review:1");
  CHECK(brief->task_id() == "t-1");
  CHECK(brief->stage() == "review");
  CHECK(brief->attempt() == 1);
  CHECK(brief->project() == "shop");
  // The brief in hand named no objective: the task's stands.
  CHECK(brief->objective() == "add a basket");
  CHECK(brief->audience() == "shoppers");
  CHECK(brief->done_when() == "the basket keeps items");
  REQUIRE(brief->constraints_size() == 1);
  CHECK(brief->priority() == "interactive");
  CHECK(brief->token_budget() == 5000);
  CHECK(brief->context() == "commit abc");
  CHECK(brief->origin() == "adversary-1");
  CHECK(brief->created_at().seconds() == 1000);
}

TEST_CASE("stage change: the record moves once, and a second apply finds it applied") {
  auto task = task_at_qa();
  Decision d = to("review");
  d.branch = "agency/t-1";
  d.attachments["report"] = "all green";
  auto change = plan_stage_change(task, qa_brief(), "qa", d, 40, "adversary-1", 3);
  REQUIRE(change.ok());

  v1::Task record = task;
  REQUIRE(record_stage_change(record, *change, at(2000)));
  CHECK(record.stage() == "review");
  REQUIRE(record.history_size() == 4);
  const auto& entry = record.history(3);
  CHECK(entry.from() == "qa");
  CHECK(entry.to() == "review");
  CHECK(entry.actor() == "adversary-1");
  CHECK(entry.reason() == "because");
  CHECK(entry.at().seconds() == 2000);
  CHECK(record.tokens_used() == 140);
  CHECK(record.branch() == "agency/t-1");
  CHECK(record.attachments().at("report") == "all green");
  CHECK(record.blocked_reason().empty());

  // A replay of the same step (the record left qa): nothing changes.
  const auto before = record.SerializeAsString();
  CHECK_FALSE(record_stage_change(record, *change, at(3000)));
  CHECK(record.SerializeAsString() == before);
}

TEST_CASE("stage change: a record that entered the stage again is not changed by an old attempt") {
  auto task = task_at_qa();
  auto change = plan_stage_change(task, qa_brief(), "qa", to("review"), 0, "adversary-1", 3);
  REQUIRE(change.ok());
  v1::Task record = task;
  enter(record, "qa", "ready-for-dev");
  enter(record, "ready-for-dev", "qa");  // qa attempt 2 now
  CHECK_FALSE(record_stage_change(record, *change, at(1)));
  CHECK(record.stage() == "qa");
}

TEST_CASE("stage change: a bounce counts, its brief is the next attempt, its event says bounced") {
  auto task = task_at_qa();
  auto change =
      plan_stage_change(task, qa_brief(), "qa", to("ready-for-dev", true), 0, "adversary-1", 3);
  REQUIRE(change.ok());
  CHECK(change->bounces == 1);
  CHECK(change->next_attempt == 2);
  auto brief = next_brief(*change, task, qa_brief(), 64 * 1024, at(1));
  REQUIRE(brief.has_value());
  CHECK(brief->id() == "t-1:ready-for-dev:2");
  auto event = stage_event(*change, task, at(5));
  CHECK(event.kind() == "bounced");
  CHECK(event.from_stage() == "qa");
  CHECK(event.to_stage() == "ready-for-dev");
  CHECK(event.task_id() == "t-1");
  CHECK(event.project() == "shop");
  CHECK(event.actor() == "adversary-1");
  CHECK(event.at().seconds() == 5);
  CHECK(change->event_msg_id() == "event:t-1:qa:1");
}

TEST_CASE("stage change: past the bounce limit the task is blocked and needs a person") {
  auto task = task_at_qa();
  task.set_bounces(3);
  auto change =
      plan_stage_change(task, qa_brief(), "qa", to("ready-for-dev", true), 0, "adversary-1", 3);
  REQUIRE(change.ok());
  CHECK(change->next == "blocked");
  CHECK(change->bounces == 4);
  CHECK(change->reason.starts_with("sent back 4 times (limit 3), needs a person: because"));
  CHECK(change->closes());
  CHECK_FALSE(next_brief(*change, task, qa_brief(), 64 * 1024, at(1)).has_value());
  v1::Task record = task;
  REQUIRE(record_stage_change(record, *change, at(1)));
  CHECK(record.stage() == "blocked");
  CHECK(record.blocked_reason() == change->reason);
  CHECK(stage_event(*change, task, at(1)).kind() == "blocked");
}

TEST_CASE("stage change: done publishes no brief and leaves a work log") {
  auto task = task_at_qa();
  Decision d = to("done");
  d.context = "merged";
  auto change = plan_stage_change(task, qa_brief(), "qa", d, 0, "reviewer-1", 3);
  REQUIRE(change.ok());
  CHECK(change->closes());
  CHECK_FALSE(next_brief(*change, task, qa_brief(), 64 * 1024, at(1)).has_value());
  CHECK(stage_event(*change, task, at(1)).kind() == "done");
  CHECK(change->work_log_summary() == "because\n\nmerged");
  CHECK(change->work_log_msg_id() == "log:t-1:qa:1");
}

TEST_CASE("stage change: an unknown stage is refused before anything is written") {
  auto change = plan_stage_change(task_at_qa(), qa_brief(), "qa", to("shipping"), 0, "a", 3);
  REQUIRE_FALSE(change.ok());
  CHECK(change.error().message.find("stage 'shipping' that is not in the task's pipeline") !=
        std::string::npos);
}

TEST_CASE("stage change: a long reason is cut, and the next brief fits its stream") {
  auto task = task_at_qa();
  Decision d = to("review");
  d.reason = std::string(20 * 1024, 'r');
  d.context = std::string(200 * 1024, 'c');
  auto change = plan_stage_change(task, qa_brief(), "qa", d, 0, "adversary-1", 3);
  REQUIRE(change.ok());
  CHECK(change->reason.size() <= kMostReasonBytes);
  auto brief = next_brief(*change, task, qa_brief(), 32 * 1024, at(1));
  REQUIRE(brief.has_value());
  CHECK(brief->ByteSizeLong() <= 32 * 1024);
  CHECK(brief->objective() == "add a basket");  // the context is cut first
}

TEST_CASE("stage change: entries_into counts the entries into a stage") {
  auto task = task_at_qa();
  CHECK(entries_into(task, "qa") == 1);
  CHECK(entries_into(task, "review") == 0);
}

TEST_CASE("stage change: the event rebuilt from the record's history equals the one sent") {
  for (bool bounce : {false, true}) {
    auto task = task_at_qa();
    auto change =
        plan_stage_change(task, qa_brief(), "qa", to(bounce ? "ready-for-dev" : "review", bounce),
                          0, "adversary-1", 3);
    REQUIRE(change.ok());
    auto sent = stage_event(*change, task, at(5));
    REQUIRE(record_stage_change(task, *change, at(5)));
    auto again = stage_event(task.history(task.history_size() - 1), task);
    CHECK(again.SerializeAsString() == sent.SerializeAsString());
    CHECK(event_msg_id(task.id(), "qa", 1) == change->event_msg_id());
  }
}

}  // namespace
}  // namespace agency

namespace agency {
namespace {

// A task that carries a pipeline with a lint stage between dev and QA and
// no landing stage (its project does not land).
v1::Task linted_task_at(const std::string& stage, bool optional_lint = false) {
  v1::Task t;
  t.set_id("t-2");
  t.set_project("web");
  pipeline::Pipeline p("linted", {{"ready-for-prep", "planner", "", false, false},
                                  {"ready-for-dev", "builder", "", false, false},
                                  {"lint", "linter", "ready-for-dev", optional_lint, false},
                                  {"qa", "adversary", "ready-for-dev", false, false},
                                  {"review", "reviewer", "ready-for-dev", false, false},
                                  {"ready-to-land", "integrator", "ready-for-dev", false, true}});
  p.stamp(t, /*lands=*/false);
  enter(t, "", "ready-for-prep");
  enter(t, "ready-for-prep", "ready-for-dev");
  if (stage != "ready-for-dev") enter(t, "ready-for-dev", stage);
  return t;
}

v1::Brief brief_at(const std::string& stage) {
  v1::Brief b;
  b.set_task_id("t-2");
  b.set_stage(stage);
  b.set_attempt(1);
  return b;
}

Decision verdict(Decision::Verdict v) {
  Decision d;
  d.verdict = v;
  d.reason = "because";
  return d;
}

}  // namespace

TEST_CASE("stage change: a verdict is routed by the pipeline the task carries") {
  using V = Decision::Verdict;
  SUBCASE("a pass at dev goes to the lint stage, briefed to its role") {
    auto task = linted_task_at("ready-for-dev");
    auto change = plan_stage_change(task, brief_at("ready-for-dev"), "ready-for-dev",
                                    verdict(V::pass), 0, "builder-1", 3);
    REQUIRE(change.ok());
    CHECK(change->next == "lint");
    CHECK(change->bounces == 0);
    auto brief = next_brief(*change, task, brief_at("ready-for-dev"), 64 * 1024, at(1));
    REQUIRE(brief.has_value());
    CHECK(brief->id() == "t-2:lint:1");
    CHECK(pipeline::Pipeline::of(task).role_for_stage(brief->stage()) == "linter");
  }
  SUBCASE("a fail at lint bounces where the pipeline says") {
    auto task = linted_task_at("lint");
    auto change =
        plan_stage_change(task, brief_at("lint"), "lint", verdict(V::fail), 0, "linter-1", 3);
    REQUIRE(change.ok());
    CHECK(change->next == "ready-for-dev");
    CHECK(change->bounces == 1);
    CHECK(change->next_attempt == 2);
    CHECK(stage_event(*change, task, at(1)).kind() == "bounced");
  }
  SUBCASE("a fail at an optional stage goes on, the verdict kept in the reason") {
    auto task = linted_task_at("lint", /*optional_lint=*/true);
    auto change =
        plan_stage_change(task, brief_at("lint"), "lint", verdict(V::fail), 0, "linter-1", 3);
    REQUIRE(change.ok());
    CHECK(change->next == "qa");
    CHECK(change->bounces == 0);
    CHECK(change->reason.find("optional stage lint failed") != std::string::npos);
  }
  SUBCASE("the last carried stage passes to done: the landing stage was left out") {
    auto task = linted_task_at("review");
    auto change =
        plan_stage_change(task, brief_at("review"), "review", verdict(V::pass), 0, "reviewer-1", 3);
    REQUIRE(change.ok());
    CHECK(change->next == "done");
  }
  SUBCASE("a built-in stage the pipeline lacks: a send-back goes to the bounce target") {
    auto task = linted_task_at("review");
    task.clear_pipeline_stages();
    pipeline::Pipeline("short", {{"ready-for-dev", "builder", "", false, false},
                                 {"review", "reviewer", "ready-for-dev", false, false}})
        .stamp(task, true);
    Decision back = to("ready-for-prep", true);
    auto change = plan_stage_change(task, brief_at("review"), "review", back, 0, "reviewer-1", 3);
    REQUIRE(change.ok());
    CHECK(change->next == "ready-for-dev");
    CHECK(change->bounces == 1);
  }
  SUBCASE("a fail at the entry stage, which sends nothing back, blocks the task") {
    v1::Task task;
    task.set_id("t-2");
    pipeline::Pipeline("one", {{"triage", "triager", "", false, false}}).stamp(task, true);
    enter(task, "", "triage");
    auto change =
        plan_stage_change(task, brief_at("triage"), "triage", verdict(V::fail), 0, "triager-1", 3);
    REQUIRE(change.ok());
    CHECK(change->next == "blocked");
    CHECK(change->reason.find("sends no task back") != std::string::npos);
  }
  SUBCASE("a task from before pipelines were carried walks the built-in one") {
    auto task = task_at_qa();
    auto change = plan_stage_change(task, qa_brief(), "qa", verdict(V::pass), 0, "adversary-1", 3);
    REQUIRE(change.ok());
    CHECK(change->next == "review");
    auto failed = plan_stage_change(task, qa_brief(), "qa", verdict(V::fail), 0, "adversary-1", 3);
    REQUIRE(failed.ok());
    CHECK(failed->next == "ready-for-dev");
    CHECK(failed->bounces == 1);
  }
  SUBCASE("without landing, the built-in pipeline's review passes to done") {
    v1::Task task = task_at_qa();
    enter(task, "qa", "review");
    v1::Brief b = qa_brief();
    b.set_stage("review");
    auto change = plan_stage_change(task, b, "review", verdict(V::pass), 0, "reviewer-1", 3,
                                    /*lands=*/false);
    REQUIRE(change.ok());
    CHECK(change->next == "done");
  }
}

}  // namespace agency
