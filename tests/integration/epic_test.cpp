// Epics with real role processes, a real nats-server and a real git
// repository: the planner splits a brief, sub-tasks run in parallel on two
// builders, one waits until what it depends on has landed, the epic closes;
// a blocked sub-task blocks the epic with its reason; a planner's cycle
// blocks it before anything starts.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "runtime/git.hpp"
#include "runtime/tasks.hpp"
#include "tests/support/pipeline.hpp"
#include "tests/support/run.hpp"

namespace agency {
namespace {

using test::Pipeline;
using namespace std::chrono_literals;

std::vector<std::string> kinds_of(const std::vector<v1::TaskEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.kind() + ":" + e.from_stage() + ">" + e.to_stage());
  return out;
}

// The agent that moved `task` out of `stage` the first time.
std::string actor_leaving(const v1::Task& task, const std::string& stage) {
  for (const auto& h : task.history()) {
    if (h.from() == stage) return h.actor();
  }
  return {};
}

TEST_CASE(
    "epics: three sub-tasks, two in parallel, the third after both landed, then the epic closes") {
  Pipeline p(R"(planner:
  - summary: three parts
    tasks:
      - title: Part one
        spec: "Write the first part"
      - title: Part two
        spec: "Write the second part"
      - title: Part three
        spec: "Write the third part on top of the other two"
        depends_on: [1, Part two]
builder:
  - sleep_ms: 300
    write: {path: "{task_id}.md", content: "work of {task_id}\n"}
    summary: wrote it
adversary:
  - verdict: pass
reviewer:
  - verdict: pass
)",
             {}, {}, "    landing: merge\n    test_command: ls *.md\n");
  p.start("planner", "planner-1");
  p.start("builder", "builder-1");
  p.start("builder", "builder-2");
  p.start("adversary", "adversary-1");
  p.start("reviewer", "reviewer-1");
  p.start("integrator", "integrator-1");
  p.plain_publish("agency.brief.planner", "Build it in three parts");
  const auto epic_id = p.task_with_objective("Build it in three parts");
  REQUIRE_FALSE(epic_id.empty());
  auto epic = p.wait_for_stage(epic_id, "done", 120s);
  REQUIRE(epic.has_value());
  REQUIRE(epic->children_size() == 3);
  const std::string one = epic->children(0);
  const std::string two = epic->children(1);
  const std::string three = epic->children(2);
  CHECK(one == epic_id + "-1");

  CHECK(kinds_of(p.events_through(epic_id, "done")) ==
        std::vector<std::string>{"created:>ready-for-prep", "stage-changed:ready-for-prep>split",
                                 "done:split>done"});
  auto store = TaskStore::open(p.connection());
  REQUIRE(store.ok());
  std::vector<v1::Task> children;
  for (const auto& id : {one, two, three}) {
    auto c = store->load(id);
    REQUIRE(c.ok());
    CHECK(c->task.stage() == "done");
    CHECK(c->task.parent() == epic_id);
    children.push_back(c->task);
  }
  CHECK(children[0].title() == "Part one");
  CHECK(children[2].spec() == "Write the third part on top of the other two");
  CHECK(
      std::vector<std::string>(children[2].depends_on().begin(), children[2].depends_on().end()) ==
      std::vector<std::string>{one, two});
  // Parts one and two went straight to the builders, on both of them.
  CHECK(p.events(one).front().to_stage() == "ready-for-dev");
  CHECK(p.events(two).front().to_stage() == "ready-for-dev");
  CHECK(actor_leaving(children[0], "ready-for-dev") != actor_leaving(children[1], "ready-for-dev"));
  // Part three waited, and started from a main that held both.
  const auto trail = kinds_of(p.events(three));
  REQUIRE(trail.size() >= 2);
  CHECK(trail[0] == "created:>pending");
  CHECK(trail[1] == "stage-changed:pending>ready-for-dev");
  for (const auto& id : {one, two}) {
    auto r =
        git::run({"git", "cat-file", "-e", git::branch_for(three) + ":" + id + ".md"}, p.repo());
    CHECK_MESSAGE(r.exit_code == 0, "part three's branch lacks " << id << ".md");
  }
  auto log = git::run({"git", "log", "--first-parent", "--format=%s", "main"}, p.repo());
  for (const auto& id : {one, two, three}) {
    CHECK(log.output.find("(task " + id + ")") != std::string::npos);
  }

  // What a person reads: the tree, the sub-tasks of the epic.
  const std::map<std::string, std::string> env = {
      {"NATS_URL", ""}, {"NATS_CONTEXT", ""}, {"AGENCY_CONFIG", ""}};
  auto agency = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {test::bin("agency"), "--nats", p.server().url()});
    return test::run(args, env);
  };
  auto tree = agency({"task", "show", epic_id});
  REQUIRE_MESSAGE(tree.exit_code == 0, tree.err);
  CHECK(tree.out.find("sub-tasks (3):") != std::string::npos);
  CHECK(tree.out.find("├─ " + one + "  done  Part one") != std::string::npos);
  CHECK(tree.out.find("└─ " + three + "  done  Part three  (after " + one + ", " + two + ")") !=
        std::string::npos);
  auto listed = agency({"task", "list", "--epic", epic_id, "--json"});
  REQUIRE_MESSAGE(listed.exit_code == 0, listed.err);
  auto rows = nlohmann::json::parse(listed.out);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0]["id"] == one);
  CHECK(rows[2]["parent"] == epic_id);
  auto shown = agency({"task", "show", epic_id, "--json"});
  REQUIRE(shown.exit_code == 0);
  CHECK(nlohmann::json::parse(shown.out)["subtasks"].size() == 3);
  // A task that is not an epic, and one that does not exist, say so.
  auto not_epic = agency({"task", "list", "--epic", one});
  CHECK(not_epic.exit_code != 0);
  CHECK(not_epic.err.find("is not an epic") != std::string::npos);
  auto missing = agency({"task", "list", "--epic", "t-nope"});
  CHECK(missing.exit_code != 0);
  CHECK(missing.err.find("no task t-nope") != std::string::npos);
}

TEST_CASE("epics: a blocked sub-task blocks the epic, naming it, once nothing else can move") {
  // The part whose objective says Broken never passes its tests.
  Pipeline p(R"(planner:
  - tasks:
      - title: Good part
      - title: Broken part
      - title: Last part
        depends_on: [Broken part]
builder:
  - write: {path: "{task_id}.md", content: "{objective}\n"}
adversary:
  - verdict: pass
reviewer:
  - verdict: pass
)",
             {}, {}, "    landing: none\n    test_command: \"! grep -q Broken *.md\"\n");
  p.start_fleet();
  p.plain_publish("agency.brief.planner", "Three parts, one broken");
  const auto epic_id = p.task_with_objective("Three parts, one broken");
  REQUIRE_FALSE(epic_id.empty());
  auto epic = p.wait_for_stage(epic_id, "blocked", 120s);
  REQUIRE(epic.has_value());
  CHECK(epic->blocked_reason().starts_with("sub-task " + epic_id +
                                           "-2 (\"Broken part\") is blocked: "));
  CHECK(epic->blocked_reason().find("1 other sub-task(s) cannot move") != std::string::npos);
  auto good = p.wait_for_stage(epic_id + "-1", "done");
  CHECK(good.has_value());
  auto last = p.wait_for_stage(epic_id + "-3", "pending", 1s);
  CHECK(last.has_value());
  auto trail = p.events_through(epic_id, "blocked");
  REQUIRE_FALSE(trail.empty());
  CHECK(trail.back().kind() == "blocked");
  CHECK(trail.back().from_stage() == "split");
}

TEST_CASE(
    "epics: sub-tasks that depend on each other in a cycle block the epic before anything starts") {
  Pipeline p(R"(planner:
  - tasks:
      - title: A
        depends_on: [C]
      - title: B
      - title: C
        depends_on: [A]
)");
  p.start("planner", "planner-1");
  p.plain_publish("agency.brief.planner", "Circular plan");
  const auto id = p.task_with_objective("Circular plan");
  REQUIRE_FALSE(id.empty());
  auto blocked = p.wait_for_stage(id, "blocked");
  REQUIRE(blocked.has_value());
  CHECK(blocked->blocked_reason().find("cycle (1 -> 3 -> 1)") != std::string::npos);
  CHECK(blocked->children_size() == 0);
  auto store = TaskStore::open(p.connection());
  REQUIRE(store.ok());
  CHECK(store->load(id + "-1").error().code == errc::not_found);
}

}  // namespace
}  // namespace agency
