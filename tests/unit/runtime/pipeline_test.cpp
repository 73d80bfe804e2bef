// The pipeline table and the role catalog: what every layer asks instead of
// naming a role or a stage itself.
#include "runtime/pipeline.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>

#include "bus/vocabulary.hpp"
#include "runtime/catalog.hpp"
#include "runtime/config.hpp"

namespace {

namespace pipeline = agency::pipeline;
namespace catalog = agency::catalog;
namespace voc = agency::vocabulary;

}  // namespace

TEST_CASE("pipeline: each stage's role, each role's stage and the stage after, from one table") {
  CHECK(pipeline::role_for_stage(pipeline::kReadyForPrep) == "planner");
  CHECK(pipeline::role_for_stage(pipeline::kQa) == "adversary");
  CHECK(pipeline::role_for_stage(voc::kDone).empty());
  CHECK(pipeline::role_for_stage("merge").empty());
  CHECK(pipeline::stage_of("builder") == pipeline::kReadyForDev);
  CHECK(pipeline::stage_of("proxy").empty());
  CHECK(pipeline::after(pipeline::kReadyForPrep) == pipeline::kReadyForDev);
  CHECK(pipeline::after(pipeline::kReadyForDev) == pipeline::kQa);
  CHECK(pipeline::after(pipeline::kQa) == pipeline::kReview);
  CHECK(pipeline::after(pipeline::kReview) == pipeline::kReadyToLand);
  CHECK(pipeline::after(pipeline::kReadyToLand) == voc::kDone);
  // A task whose project does not land skips the landing row.
  CHECK(pipeline::after(pipeline::kReview, false) == voc::kDone);
  CHECK(pipeline::after(pipeline::kQa, false) == pipeline::kReview);
  CHECK(pipeline::is_landing(pipeline::kReadyToLand));
  CHECK_FALSE(pipeline::is_landing(pipeline::kReview));
  CHECK(pipeline::role_for_stage(pipeline::kReadyToLand) == "integrator");
  CHECK(pipeline::after(voc::kDone).empty());
  CHECK(pipeline::after("nonsense").empty());
  // Every row: its role's stage is the row's, and the rows chain to done.
  std::string_view stage = pipeline::kStages.front().name;
  std::size_t walked = 0;
  while (stage != voc::kDone) {
    REQUIRE(pipeline::is_work_stage(stage));
    CHECK(pipeline::stage_of(pipeline::role_for_stage(stage)) == stage);
    stage = pipeline::after(stage);
    REQUIRE(++walked <= pipeline::kStages.size());
  }
  CHECK(walked == pipeline::kStages.size());
}

TEST_CASE("pipeline: a task's walk is drawn with where it is, the landing rows as it lands") {
  CHECK(pipeline::draw("qa") ==
        "ready-for-prep > ready-for-dev > [qa] > review > ready-to-land > done");
  CHECK(pipeline::draw("review", false) == "ready-for-prep > ready-for-dev > qa > [review] > done");
  CHECK(pipeline::draw("done", false) == "ready-for-prep > ready-for-dev > qa > review > [done]");
  // Outside the walk (an epic waiting for its sub-tasks): nothing marked.
  CHECK(pipeline::draw("split").find('[') == std::string::npos);
}

TEST_CASE("pipeline: the stage names are the table's, then the epic's two, then the three ends") {
  CHECK(voc::join(pipeline::work_stages()) ==
        "ready-for-prep, ready-for-dev, qa, review, ready-to-land");
  CHECK(voc::join(pipeline::all_stages()) ==
        "ready-for-prep, ready-for-dev, qa, review, ready-to-land, split, pending, done, blocked, "
        "cancelled");
  CHECK(pipeline::is_stage(voc::kCancelled));
  CHECK_FALSE(pipeline::is_work_stage(voc::kCancelled));
  CHECK(pipeline::is_stage(voc::kBlocked));
  CHECK(pipeline::is_stage(pipeline::kSplit));
  CHECK(pipeline::is_stage(pipeline::kPending));
  CHECK_FALSE(pipeline::is_work_stage(pipeline::kSplit));
  CHECK_FALSE(pipeline::is_work_stage(pipeline::kPending));
  CHECK_FALSE(pipeline::is_work_stage(voc::kBlocked));
  CHECK_FALSE(pipeline::is_stage("doing"));
  for (const auto& s : pipeline::kStages) CHECK(voc::is_stage_name(s.name));
}

TEST_CASE("catalog: every role of the build is registered once, with what it tells the others") {
  const auto names = catalog::names();
  const std::set<std::string> unique(names.begin(), names.end());
  CHECK(unique.size() == names.size());
  for (auto role : pipeline::roles()) {
    INFO("pipeline role " << role);
    CHECK(catalog::find(role) != nullptr);
  }
  for (const char* role :
       {"proxy", "sweeper", "scout", "synthesizer", "accountant", "dispatcher"}) {
    INFO(role);
    CHECK(catalog::find(role) != nullptr);
  }
  CHECK(catalog::find("role") == nullptr);  // the generic binary is not a role
  CHECK(catalog::find("nobody") == nullptr);
  CHECK(catalog::question_role() == "proxy");
  CHECK_FALSE(catalog::find("accountant")->runs_engine);
  CHECK_FALSE(catalog::find("accountant")->takes_leases);
  CHECK(catalog::find("builder")->runs_engine);
  CHECK_FALSE(catalog::find("integrator")->runs_engine);
  CHECK_FALSE(catalog::find("integrator")->takes_leases);
  CHECK_FALSE(static_cast<bool>(catalog::find("builder")->settings));
  CHECK(static_cast<bool>(catalog::find("proxy")->settings));
}

TEST_CASE("catalog: a role's own section is read by the role, with the same errors") {
  auto parsed = agency::config::parse("sweeper:\n  every_seconds: 42\n", "agency.yaml");
  REQUIRE(parsed.ok());
  CHECK(parsed->sections.count("sweeper") == 1);
  auto misspelt = agency::config::parse("sweper:\n  every_seconds: 42\n", "agency.yaml");
  REQUIRE_FALSE(misspelt.ok());
  CHECK(misspelt.error().message.find("did you mean 'sweeper'") != std::string::npos);
  CHECK(misspelt.error().message.find("dispatcher") != std::string::npos);
  auto bad = agency::config::parse("proxy:\n  passages: many\n", "agency.yaml");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("agency.yaml:2: proxy.passages: must be a whole number") !=
        std::string::npos);
  // A role without settings has no section: its name is an unknown key.
  auto none = agency::config::parse("builder:\n  count: 2\n", "agency.yaml");
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().message.find("unknown key 'builder'") != std::string::npos);
}
