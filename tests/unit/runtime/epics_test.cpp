// Epics without the bus: the planner's sub-tasks checked and resolved, and
// what an epic's sub-tasks say happens next.
#include "runtime/epics.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "bus/vocabulary.hpp"
#include "runtime/engine.hpp"

namespace agency {
namespace {

ProposedTask proposed(std::string title, std::vector<std::string> depends_on = {}) {
  ProposedTask p;
  p.title = std::move(title);
  p.spec = "spec of " + p.title;
  p.depends_on = std::move(depends_on);
  return p;
}

v1::Task child(const std::string& id, std::string_view stage,
               std::vector<std::string> depends_on = {}) {
  v1::Task t;
  t.set_id(id);
  t.set_title("title of " + id);
  t.set_stage(std::string(stage));
  t.set_parent("t-e");
  for (auto& d : depends_on) t.add_depends_on(d);
  if (stage == vocabulary::kBlocked) t.set_blocked_reason("tests never pass");
  return t;
}

v1::Task epic_of(int n) {
  v1::Task e;
  e.set_id("t-e");
  e.set_stage(std::string(epics::kSplit));
  for (int i = 1; i <= n; ++i) e.add_children(epics::child_id("t-e", i));
  return e;
}

std::map<std::string, v1::Task> by_id(std::vector<v1::Task> tasks) {
  std::map<std::string, v1::Task> out;
  for (auto& t : tasks) out.emplace(t.id(), std::move(t));
  return out;
}

TEST_CASE("epics: depends_on resolves numbers and titles, and the plan keeps the planner's order") {
  auto plan = epics::plan_subtasks({proposed("Token bucket"), proposed("Middleware", {"1"}),
                                    proposed("Docs", {"token  BUCKET", "Middleware", "1"})});
  REQUIRE(plan.ok());
  REQUIRE(plan->size() == 3);
  CHECK((*plan)[0].depends_on.empty());
  CHECK((*plan)[1].depends_on == std::vector<std::size_t>{0});
  CHECK((*plan)[2].depends_on == std::vector<std::size_t>{0, 1});  // duplicates dropped
  CHECK((*plan)[1].spec == "spec of Middleware");
  CHECK(epics::child_id("t-abc", 2) == "t-abc-2");
}

TEST_CASE("epics: dangling dependencies, cycles, twice-used titles and too many are refused") {
  auto dangling = epics::plan_subtasks({proposed("A"), proposed("B", {"C"})});
  REQUIRE_FALSE(dangling.ok());
  CHECK(dangling.error().message ==
        "sub-task 2 (\"B\") depends on 'C', which is no sub-task (use a number 1..2 or a title)");
  auto out_of_range = epics::plan_subtasks({proposed("A", {"3"}), proposed("B")});
  REQUIRE_FALSE(out_of_range.ok());
  CHECK(out_of_range.error().message.find("depends on '3'") != std::string::npos);

  auto cycle = epics::plan_subtasks({proposed("A", {"3"}), proposed("B"), proposed("C", {"1"})});
  REQUIRE_FALSE(cycle.ok());
  CHECK(cycle.error().message.find("cycle (1 -> 3 -> 1)") != std::string::npos);
  auto self = epics::plan_subtasks({proposed("A", {"A"})});
  REQUIRE_FALSE(self.ok());
  CHECK(self.error().message.find("cycle (1 -> 1)") != std::string::npos);

  auto twice = epics::plan_subtasks({proposed("Same"), proposed("same")});
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.error().message.find("has the title of sub-task 1") != std::string::npos);

  std::vector<ProposedTask> many;
  for (std::size_t i = 0; i <= epics::kMostSubTasks; ++i)
    many.push_back(proposed(std::to_string(i) + "x"));
  auto flood = epics::plan_subtasks(many);
  REQUIRE_FALSE(flood.ok());
  CHECK(flood.error().message.find("at most 50") != std::string::npos);
}

TEST_CASE("epics: a pending sub-task starts when everything it depends on is done") {
  auto epic = epic_of(3);
  auto step =
      epics::assess_epic(epic, by_id({child("t-e-1", "review"), child("t-e-2", "ready-for-dev"),
                                      child("t-e-3", epics::kPending, {"t-e-1", "t-e-2"})}));
  CHECK(step.start.empty());
  CHECK(step.close.empty());
  step = epics::assess_epic(epic, by_id({child("t-e-1", "done"), child("t-e-2", "qa"),
                                         child("t-e-3", epics::kPending, {"t-e-1", "t-e-2"})}));
  CHECK(step.start.empty());
  step = epics::assess_epic(epic, by_id({child("t-e-1", "done"), child("t-e-2", "done"),
                                         child("t-e-3", epics::kPending, {"t-e-1", "t-e-2"})}));
  CHECK(step.start == std::vector<std::string>{"t-e-3"});
  CHECK(step.close.empty());
}

TEST_CASE("epics: done when every sub-task is done") {
  auto step =
      epics::assess_epic(epic_of(2), by_id({child("t-e-1", "done"), child("t-e-2", "done")}));
  CHECK(step.close == "done");
  CHECK(step.reason == "all 2 sub-tasks are done");
  // A sub-task whose record is not written yet keeps it open.
  step = epics::assess_epic(epic_of(2), by_id({child("t-e-1", "done")}));
  CHECK(step.close.empty());
}

TEST_CASE("epics: blocked, naming the sub-task and why, only when nothing else can move") {
  auto epic = epic_of(3);
  // Another sub-task still works: the epic waits.
  auto step = epics::assess_epic(epic, by_id({child("t-e-1", "blocked"), child("t-e-2", "review"),
                                              child("t-e-3", epics::kPending, {"t-e-1"})}));
  CHECK(step.close.empty());
  // Only what waits on the blocked one is left.
  step = epics::assess_epic(epic, by_id({child("t-e-1", "blocked"), child("t-e-2", "done"),
                                         child("t-e-3", epics::kPending, {"t-e-1"})}));
  CHECK(step.close == "blocked");
  CHECK(step.reason ==
        "sub-task t-e-1 (\"title of t-e-1\") is blocked: tests never pass; 1 other sub-task(s) "
        "cannot move");
  CHECK(step.start.empty());
}

TEST_CASE("epics: the answer block's tasks carry spec and depends_on") {
  auto block = parse_outcome_block(
      "```agency\nverdict: pass\ntasks:\n  - title: A\n    spec: |\n      do a\n  - title: B\n"
      "    depends_on: [1, A]\n  - title: C\n    depends_on: B\n```\n");
  REQUIRE(block.ok());
  REQUIRE(block->has_value());
  const auto& tasks = (*block)->tasks;
  REQUIRE(tasks.size() == 3);
  CHECK(tasks[0].spec == "do a\n");
  CHECK(tasks[1].depends_on == std::vector<std::string>{"1", "A"});
  CHECK(tasks[2].depends_on == std::vector<std::string>{"B"});
  auto bad = parse_outcome_block(
      "```agency\nverdict: pass\ntasks:\n  - title: A\n    depends_on: {x: 1}\n```\n");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("depends_on that must be a list") != std::string::npos);
}

}  // namespace
}  // namespace agency
