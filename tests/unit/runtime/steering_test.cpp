// What a person may do to a task, without the bus (runtime/steering.hpp),
// and how an agent recognises a person's move (runtime/stage_change.hpp):
// the result it drops, the brief a move overtook.
#include "runtime/steering.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "runtime/stage_change.hpp"

namespace agency {
namespace {

void enter(v1::Task& task, const std::string& from, const std::string& to,
           const std::string& actor = "builder-1") {
  auto* h = task.add_history();
  h->set_from(from);
  h->set_to(to);
  h->set_actor(actor);
  task.set_stage(to);
}

v1::Task task_at(const std::string& project) {
  v1::Task t;
  t.set_id("t-1");
  t.set_project(project);
  enter(t, "", "ready-for-prep", "agency-cli");
  enter(t, "ready-for-prep", "ready-for-dev", "planner-1");
  return t;
}

config::Config config_with(const std::string& landing) {
  config::Config c;
  config::Project p;
  p.name = "shop";
  p.landing = landing;
  c.projects.push_back(p);
  return c;
}

TEST_CASE(
    "steering: a task moves to the pipeline's stages, done and blocked, landing only if it lands") {
  auto t = task_at("shop");
  CHECK(steering::move_targets(t, config_with("merge")) ==
        std::vector<std::string>{"ready-for-prep", "ready-for-dev", "qa", "review", "ready-to-land",
                                 "done", "blocked"});
  CHECK(steering::move_targets(t, config_with("none")) ==
        std::vector<std::string>{"ready-for-prep", "ready-for-dev", "qa", "review", "done",
                                 "blocked"});
  enter(t, "ready-for-dev", "done");
  auto done = steering::move_targets(t, config_with("none"));
  CHECK(std::find(done.begin(), done.end(), "done") == done.end());
  t.add_children("t-1-1");
  CHECK(
      steering::move_targets(t, config_with("none")).empty());  // an epic moves with its sub-tasks
}

TEST_CASE("steering: the actions offered follow the stage") {
  auto t = task_at("shop");
  CHECK(steering::allowed_actions(t) ==
        std::vector<std::string>{"cancel", "move", "priority", "comment"});
  enter(t, "ready-for-dev", "blocked");
  CHECK(steering::allowed_actions(t) ==
        std::vector<std::string>{"cancel", "retry", "unblock", "move", "priority", "comment"});
  enter(t, "blocked", "cancelled");
  CHECK(steering::allowed_actions(t) == std::vector<std::string>{"retry", "move", "comment"});
}

TEST_CASE("steering: the person's name is reduced to a safe actor") {
  CHECK(steering::human_actor("alice") == "human:alice");
  CHECK(steering::human_actor("a.b-c_d@example") == "human:a.b-c_d@example");
  CHECK(steering::human_actor("\x1b]0;x\x07 bob") == "human:0xbob");
  CHECK(steering::human_actor("") == "human:unknown");
  CHECK(steering::human_actor(std::string(200, 'x')).size() == 6 + 64);
}

TEST_CASE("steering: an agent sees a person's move after it read the record") {
  auto seen = task_at("shop");
  auto now = seen;
  CHECK(moved_by_person(now, seen) == nullptr);
  enter(now, "ready-for-dev", "qa", "builder-1");  // an agent's own change
  CHECK(moved_by_person(now, seen) == nullptr);
  enter(now, "qa", "review", "human:alice");
  const auto* person = moved_by_person(now, seen);
  REQUIRE(person != nullptr);
  CHECK(person->to() == "review");
}

TEST_CASE("steering: a brief whose sending change can no longer be written is overtaken") {
  auto record = task_at("shop");  // at ready-for-dev, entered once
  v1::Brief brief;
  brief.set_follows("ready-for-dev:1");
  // The builder sent qa:1 and is about to write the record: wait for it.
  CHECK_FALSE(overtaken(record, brief));
  // A person moved the task to review meanwhile: the record never follows.
  enter(record, "ready-for-dev", "review", "human:alice");
  CHECK(overtaken(record, brief));
  // Or sent it back into ready-for-dev (a new attempt there).
  auto again = task_at("shop");
  enter(again, "ready-for-dev", "ready-for-dev", "human:alice");
  CHECK(overtaken(again, brief));
  // A brief that names nothing, or nonsense, is never judged overtaken.
  v1::Brief plain;
  CHECK_FALSE(overtaken(record, plain));
  plain.set_follows("ready-for-dev:x");
  CHECK_FALSE(overtaken(record, plain));
}

}  // namespace
}  // namespace agency
