#include <doctest/doctest.h>

#include "roles/adversary/adversary.hpp"
#include "roles/builder/builder.hpp"
#include "runtime/pipeline.hpp"
#include "tests/unit/roles/role_fixture.hpp"

namespace {

namespace fs = std::filesystem;
namespace voc = agency::vocabulary;
namespace pipeline = agency::pipeline;
using agency::test::brief_for;
using agency::test::git_in;
using agency::test::make_task;
using agency::test::outcome;
using agency::test::read_file;
using agency::test::trimmed;
using agency::test::write_file;

// The builder's work on the task's branch, as qa receives it.
agency::v1::Task built(agency::test::Bench& bench, const std::string& id) {
  agency::roles::Builder builder;
  auto task = make_task(id, {pipeline::kReadyForPrep, pipeline::kReadyForDev});
  auto turn = builder.prepare(bench.ctx, brief_for(task), task);
  REQUIRE(turn.ok());
  write_file(turn->workdir / "GREETING.md", "Hello!\n");
  auto d = builder.finish(bench.ctx, *turn, outcome("pass", "built"));
  REQUIRE(d.ok());
  REQUIRE(agency::test::routed(*d, pipeline::kReadyForDev).next_stage == pipeline::kQa);
  auto task_in_qa = make_task(id, {pipeline::kReadyForPrep, pipeline::kReadyForDev, pipeline::kQa});
  task_in_qa.set_branch(d->branch);
  return task_in_qa;
}

}  // namespace

TEST_CASE("roles: adversary works in the builder's worktree") {
  agency::test::Bench bench("adversary", "test -f GREETING.md");
  auto task = built(bench, "t-a1");
  agency::roles::Adversary adversary;
  CHECK_FALSE(adversary.precheck(bench.ctx, brief_for(task), task).has_value());
  // Leftovers of an earlier qa run are gone; the builder's commit is there.
  write_file(bench.ctx.work_dir / "worktrees" / "t-a1" / "scratch_test.sh", "exit 1\n");
  auto turn = adversary.prepare(bench.ctx, brief_for(task, "commit abc: built"), task);
  REQUIRE_MESSAGE(turn.ok(), turn.error().message);
  CHECK(fs::equivalent(turn->workdir, bench.ctx.work_dir / "worktrees" / "t-a1"));
  CHECK(read_file(turn->workdir / "GREETING.md") == "Hello!\n");
  CHECK_FALSE(fs::exists(turn->workdir / "scratch_test.sh"));
  CHECK(turn->prompt.find("git diff main...HEAD") != std::string::npos);
  CHECK(turn->prompt.find("agency: Add a greeting (task t-a1, attempt 1)") != std::string::npos);
  CHECK(turn->prompt.find("commit abc: built") != std::string::npos);
}

TEST_CASE("roles: adversary decisions") {
  agency::test::Bench bench("adversary", "test -f GREETING.md");
  auto task = built(bench, "t-a2");
  agency::roles::Adversary adversary;
  auto turn = adversary.prepare(bench.ctx, brief_for(task), task);
  REQUIRE(turn.ok());

  SUBCASE("pass and the tests pass -> review") {
    auto d = adversary.finish(bench.ctx, *turn, outcome("pass", "could not break it"));
    REQUIRE(d.ok());
    CHECK(agency::test::routed(*d, pipeline::kQa).next_stage == pipeline::kReview);
    CHECK_FALSE(agency::test::routed(*d, pipeline::kQa).bounce);
    CHECK(d->reason == "could not break it");
    REQUIRE(d->attachments.count("adversary-tests") == 1);
    CHECK(d->attachments.at("adversary-tests").find("exit code 0") != std::string::npos);
  }
  SUBCASE("fail -> ready-for-dev with the findings") {
    auto d = adversary.finish(
        bench.ctx, *turn,
        outcome("fail", "two problems", {"empty name crashes", "no newline at end"}));
    REQUIRE(d.ok());
    CHECK(agency::test::routed(*d, pipeline::kQa).next_stage == pipeline::kReadyForDev);
    CHECK(agency::test::routed(*d, pipeline::kQa).bounce);
    CHECK(d->reason.find("two problems") != std::string::npos);
    CHECK(d->context.find("- empty name crashes\n- no newline at end\n") != std::string::npos);
    REQUIRE(d->attachments.count("findings") == 1);
    CHECK(d->attachments.at("findings") == "- empty name crashes\n- no newline at end\n");
  }
  SUBCASE("pass but the tests fail -> ready-for-dev with the test output") {
    // The adversary's probing broke the build.
    std::filesystem::remove(turn->workdir / "GREETING.md");
    auto d = adversary.finish(bench.ctx, *turn, outcome("pass", "looks fine"));
    REQUIRE(d.ok());
    CHECK(agency::test::routed(*d, pipeline::kQa).next_stage == pipeline::kReadyForDev);
    CHECK(agency::test::routed(*d, pipeline::kQa).bounce);
    CHECK(d->reason.find("tests failed") != std::string::npos);
    CHECK(d->context.find("$ test -f GREETING.md") != std::string::npos);
    CHECK(d->attachments.at("findings").find("the tests fail (exit 1)") != std::string::npos);
    CHECK(d->attachments.at("adversary-tests").find("exit code 1") != std::string::npos);
  }
  SUBCASE("blocked -> blocked") {
    auto d = adversary.finish(bench.ctx, *turn, outcome("blocked", "cannot run the service"));
    REQUIRE(d.ok());
    CHECK(agency::test::routed(*d, pipeline::kQa).next_stage == voc::kBlocked);
    CHECK(d->reason.find("cannot run the service") != std::string::npos);
  }
  SUBCASE("no verdict -> blocked") {
    agency::Outcome o;
    o.text = "hmm";
    auto d = adversary.finish(bench.ctx, *turn, o);
    REQUIRE(d.ok());
    CHECK(agency::test::routed(*d, pipeline::kQa).next_stage == voc::kBlocked);
  }
}

TEST_CASE("roles: adversary without a project is blocked before any engine runs") {
  agency::test::Bench bench("adversary");
  bench.ctx.project = nullptr;
  bench.config.projects.clear();
  agency::roles::Adversary adversary;
  auto task = make_task("t-a3", {pipeline::kQa});
  task.set_project("");
  auto brief = brief_for(task);
  auto pre = adversary.precheck(bench.ctx, brief, task);
  REQUIRE(pre.has_value());
  CHECK(agency::test::routed(*pre, pipeline::kQa).next_stage == voc::kBlocked);
  CHECK(pre->reason.find("lists no projects") != std::string::npos);
  CHECK_FALSE(adversary.prepare(bench.ctx, brief, task).ok());
}
