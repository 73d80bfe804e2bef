#include <doctest/doctest.h>

#include "roles/reviewer/reviewer.hpp"
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

TEST_CASE("roles: reviewer reads the task's worktree, or a scratch dir without a project") {
  agency::test::Bench bench("reviewer");
  agency::roles::Reviewer reviewer;
  auto task = make_task(
      "t-r1", {pipeline::kReadyForPrep, pipeline::kReadyForDev, pipeline::kQa, pipeline::kReview});
  task.set_spec("SPEC TEXT");
  auto turn = reviewer.prepare(bench.ctx, brief_for(task), task);
  REQUIRE_MESSAGE(turn.ok(), turn.error().message);
  CHECK(fs::equivalent(turn->workdir, bench.ctx.work_dir / "worktrees" / "t-r1"));
  CHECK(turn->prompt.find("SPEC TEXT") != std::string::npos);
  CHECK(turn->prompt.find("back_to: ready-for-prep") != std::string::npos);

  bench.ctx.project = nullptr;
  auto alone = reviewer.prepare(bench.ctx, brief_for(task), task);
  REQUIRE(alone.ok());
  CHECK(fs::equivalent(alone->workdir, bench.ctx.work_dir / "scratch" / "t-r1"));
}

TEST_CASE("roles: reviewer decisions") {
  agency::test::Bench bench("reviewer");
  bench.ctx.project = nullptr;
  agency::roles::Reviewer reviewer;
  auto task = make_task(
      "t-r2", {pipeline::kReadyForPrep, pipeline::kReadyForDev, pipeline::kQa, pipeline::kReview});
  auto turn = reviewer.prepare(bench.ctx, brief_for(task), task);
  REQUIRE(turn.ok());

  SUBCASE("pass -> ready-to-land") {
    auto d = reviewer.finish(bench.ctx, *turn, outcome("pass", "meets the spec"));
    REQUIRE(d.ok());
    CHECK(agency::test::routed(*d, pipeline::kReview).next_stage == pipeline::kReadyToLand);
    CHECK_FALSE(agency::test::routed(*d, pipeline::kReview).bounce);
    CHECK(d->reason == "meets the spec");
    CHECK(d->attachments.at("review").find("meets the spec") != std::string::npos);
  }
  SUBCASE("fail -> ready-for-dev with the reasons") {
    auto d = reviewer.finish(bench.ctx, *turn,
                             outcome("fail", "not what was asked", {"greets in French"}));
    REQUIRE(d.ok());
    CHECK(agency::test::routed(*d, pipeline::kReview).next_stage == pipeline::kReadyForDev);
    CHECK(agency::test::routed(*d, pipeline::kReview).bounce);
    CHECK(d->reason.find("not what was asked") != std::string::npos);
    CHECK(d->context.find("- greets in French") != std::string::npos);
    CHECK(d->attachments.at("review").find("greets in French") != std::string::npos);
  }
  SUBCASE("blocked with back_to: ready-for-prep -> ready-for-prep") {
    auto o = outcome("blocked", "the spec misreads the brief", {"brief asks for English"});
    o.block.fields["back_to"] = "ready-for-prep";
    auto d = reviewer.finish(bench.ctx, *turn, o);
    REQUIRE(d.ok());
    CHECK(agency::test::routed(*d, pipeline::kReview).next_stage == pipeline::kReadyForPrep);
    CHECK(agency::test::routed(*d, pipeline::kReview).bounce);
    CHECK(d->context.find("brief asks for English") != std::string::npos);
  }
  SUBCASE("blocked otherwise -> blocked") {
    auto o = outcome("blocked", "a taste decision for a person");
    o.block.fields["back_to"] = "somewhere";
    auto d = reviewer.finish(bench.ctx, *turn, o);
    REQUIRE(d.ok());
    CHECK(agency::test::routed(*d, pipeline::kReview).next_stage == voc::kBlocked);
    CHECK_FALSE(agency::test::routed(*d, pipeline::kReview).bounce);
    CHECK(d->reason.find("a taste decision for a person") != std::string::npos);
  }
  SUBCASE("no verdict -> blocked") {
    agency::Outcome o;
    o.text = "looks ok I guess";
    auto d = reviewer.finish(bench.ctx, *turn, o);
    REQUIRE(d.ok());
    CHECK(agency::test::routed(*d, pipeline::kReview).next_stage == voc::kBlocked);
  }
}
