#include <doctest/doctest.h>

#include "roles/planner/planner.hpp"
#include "runtime/pipeline.hpp"
#include "tests/unit/roles/role_fixture.hpp"

namespace {

namespace fs = std::filesystem;
namespace voc = agency::vocabulary;
namespace pipeline = agency::pipeline;
using agency::test::brief_for;
using agency::test::make_task;
using agency::test::outcome;

}  // namespace

TEST_CASE("roles: planner works in a scratch dir and names the repository") {
  agency::test::Bench bench("planner");
  agency::roles::Planner planner;
  auto task = make_task("t-p1", {pipeline::kReadyForPrep});
  auto turn = planner.prepare(bench.ctx, brief_for(task), task);
  REQUIRE_MESSAGE(turn.ok(), turn.error().message);
  CHECK(turn->role == "planner");
  CHECK(turn->agent_id == "planner-1");
  CHECK(turn->task.id() == "t-p1");
  CHECK(fs::is_directory(turn->workdir));
  CHECK(fs::equivalent(turn->workdir, bench.ctx.work_dir / "scratch" / "t-p1"));
  CHECK(turn->prompt.rfind("You are the planner", 0) == 0);
  CHECK(turn->prompt.find(bench.repo().string()) != std::string::npos);
  CHECK(turn->prompt.find("Add a greeting") != std::string::npos);

  // Without a project it still plans, from the brief alone.
  bench.ctx.project = nullptr;
  auto alone = planner.prepare(bench.ctx, brief_for(task), task);
  REQUIRE(alone.ok());
  CHECK(alone->prompt.find("No repository") != std::string::npos);
}

TEST_CASE("roles: planner decisions for each verdict") {
  agency::test::Bench bench("planner");
  agency::roles::Planner planner;
  auto task = make_task("t-p2", {pipeline::kReadyForPrep});
  auto turn = planner.prepare(bench.ctx, brief_for(task), task);
  REQUIRE(turn.ok());

  SUBCASE("pass with a spec -> ready-for-dev carrying the spec") {
    auto d = planner.finish(bench.ctx, *turn,
                            outcome("pass", "spec written", {}, "1. create GREETING.md\n"));
    REQUIRE(d.ok());
    CHECK(agency::test::routed(*d, pipeline::kReadyForPrep).next_stage == pipeline::kReadyForDev);
    CHECK(d->spec == "1. create GREETING.md\n");
    CHECK(d->reason == "spec written");
    CHECK_FALSE(agency::test::routed(*d, pipeline::kReadyForPrep).bounce);
  }
  SUBCASE("pass without a spec field -> the answer is the spec") {
    auto o = outcome("pass", "planned");
    o.text = "## Plan\nCreate GREETING.md.\n\n```agency\nverdict: pass\nsummary: planned\n```\n";
    auto d = planner.finish(bench.ctx, *turn, o);
    REQUIRE(d.ok());
    CHECK(agency::test::routed(*d, pipeline::kReadyForPrep).next_stage == pipeline::kReadyForDev);
    CHECK(d->spec == "## Plan\nCreate GREETING.md.\n");
  }
  SUBCASE("pass with nothing written -> blocked") {
    auto o = outcome("pass", "planned");
    o.text = "```agency\nverdict: pass\n```";
    auto d = planner.finish(bench.ctx, *turn, o);
    REQUIRE(d.ok());
    CHECK(agency::test::routed(*d, pipeline::kReadyForPrep).next_stage == voc::kBlocked);
    CHECK(d->reason.find("no spec") != std::string::npos);
  }
  SUBCASE("fail -> blocked with the reason") {
    auto d = planner.finish(bench.ctx, *turn, outcome("fail", "the brief contradicts itself"));
    REQUIRE(d.ok());
    CHECK(agency::test::routed(*d, pipeline::kReadyForPrep).next_stage == voc::kBlocked);
    CHECK(d->reason.find("the brief contradicts itself") != std::string::npos);
  }
  SUBCASE("blocked -> blocked") {
    auto d = planner.finish(bench.ctx, *turn, outcome("blocked", "which database?"));
    REQUIRE(d.ok());
    CHECK(agency::test::routed(*d, pipeline::kReadyForPrep).next_stage == voc::kBlocked);
    CHECK(d->reason.find("which database?") != std::string::npos);
  }
  SUBCASE("no verdict -> blocked, naming the missing block") {
    agency::Outcome o;
    o.text = "I did some thinking.";
    auto d = planner.finish(bench.ctx, *turn, o);
    REQUIRE(d.ok());
    CHECK(agency::test::routed(*d, pipeline::kReadyForPrep).next_stage == voc::kBlocked);
    CHECK(d->reason.find("no verdict") != std::string::npos);
  }
}
