// A task record always fits its bucket (limits.task_bytes), whatever a brief
// or an engine brought in, without losing the history that counts attempts.
#include "runtime/tasks.hpp"

#include <doctest/doctest.h>

#include <string>

namespace {

agency::v1::Task big_task() {
  agency::v1::Task t;
  t.set_id("t-big");
  t.set_title("A big one");
  t.set_stage("ready-for-dev");
  t.mutable_brief()->set_objective(std::string(600 * 1024, 'o'));
  t.set_spec(std::string(900 * 1024, 's'));
  for (int i = 0; i < 20; ++i) {
    auto* h = t.add_history();
    h->set_to(i % 2 == 0 ? "ready-for-dev" : "qa");
    h->set_reason(std::string(10 * 1024, 'r'));
  }
  return t;
}

TEST_CASE("tasks: fit_task cuts the longest texts until the record fits") {
  auto t = big_task();
  REQUIRE(t.ByteSizeLong() > 1024 * 1024);
  auto r = agency::fit_task(t, 256 * 1024);
  REQUIRE(r.ok());
  CHECK(t.ByteSizeLong() <= 256 * 1024);
  // Attempts are counted from the history: every entry stays.
  CHECK(t.history_size() == 20);
  CHECK(t.spec().find("[cut ") != std::string::npos);
  CHECK(t.brief().objective().starts_with("oooo"));
  CHECK(t.id() == "t-big");
}

TEST_CASE("tasks: fit_task leaves a record that fits as it is") {
  agency::v1::Task t;
  t.set_id("t-small");
  t.set_spec("short");
  auto before = t.SerializeAsString();
  REQUIRE(agency::fit_task(t, 64 * 1024).ok());
  CHECK(t.SerializeAsString() == before);
}

TEST_CASE("tasks: fit_task says so when even cut texts cannot fit") {
  agency::v1::Task t;
  t.set_id("t-long-history");
  for (int i = 0; i < 5000; ++i) t.add_history()->set_to("qa");
  auto r = agency::fit_task(t, 4096);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("limits.task_bytes") != std::string::npos);
}

}  // namespace
