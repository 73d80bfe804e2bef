#include <doctest/doctest.h>

#include "roles/builder/builder.hpp"
#include "runtime/pipeline.hpp"
#include "tests/unit/roles/role_fixture.hpp"

namespace {

namespace fs = std::filesystem;
namespace git = agency::git;
namespace voc = agency::vocabulary;
namespace pipeline = agency::pipeline;
using agency::test::brief_for;
using agency::test::git_in;
using agency::test::make_task;
using agency::test::outcome;
using agency::test::read_file;
using agency::test::trimmed;
using agency::test::write_file;

// What the scripted engine does for the builder: write the file.
void engine_writes(const agency::Turn& turn, const std::string& text = "Hello!\n") {
  write_file(turn.workdir / "GREETING.md", text);
}

std::vector<std::string> commits(const fs::path& worktree) {
  auto c = git::commits_since(worktree, "main");
  REQUIRE_MESSAGE(c.ok(), c.error().message);
  return *c;
}

}  // namespace

TEST_CASE("roles: builder without a known project is blocked before any engine runs") {
  agency::test::Bench bench("builder");
  bench.ctx.project = nullptr;
  agency::roles::Builder builder;
  auto task = make_task("t-b0", {pipeline::kReadyForPrep, pipeline::kReadyForDev});
  auto brief = brief_for(task);
  auto pre = builder.precheck(bench.ctx, brief, task);
  REQUIRE(pre.has_value());
  CHECK(agency::test::routed(*pre, pipeline::kReadyForDev).next_stage == voc::kBlocked);
  CHECK(pre->reason.rfind("no project", 0) == 0);
  CHECK(pre->reason.find("'demo'") != std::string::npos);
  // prepare refuses too, should a runtime not ask precheck first.
  auto turn = builder.prepare(bench.ctx, brief, task);
  REQUIRE_FALSE(turn.ok());
  CHECK(turn.error().code == agency::errc::config);

  bench.ctx.project = &bench.config.projects.front();
  CHECK_FALSE(builder.precheck(bench.ctx, brief, task).has_value());
}

TEST_CASE("roles: builder commits, runs the passing tests and hands over to qa") {
  agency::test::Bench bench("builder", "test -f GREETING.md");
  agency::roles::Builder builder;
  auto task = make_task("t-b1", {pipeline::kReadyForPrep, pipeline::kReadyForDev});
  task.set_spec("Create GREETING.md saying hello.");
  auto turn = builder.prepare(bench.ctx, brief_for(task), task);
  REQUIRE_MESSAGE(turn.ok(), turn.error().message);
  CHECK(fs::equivalent(turn->workdir, bench.ctx.work_dir / "worktrees" / "t-b1"));
  CHECK(trimmed(git_in(turn->workdir, {"symbolic-ref", "--short", "HEAD"})) == "agency/t-b1");
  CHECK(turn->prompt.find("Create GREETING.md saying hello.") != std::string::npos);
  CHECK(turn->prompt.find("test -f GREETING.md") != std::string::npos);
  CHECK(turn->prompt.find(turn->workdir.string()) != std::string::npos);
  CHECK(turn->env.count("AGENCY_ALREADY_COMMITTED") == 0);

  engine_writes(*turn);
  auto d = builder.finish(bench.ctx, *turn, outcome("pass", "added the greeting"));
  REQUIRE_MESSAGE(d.ok(), d.error().message);
  CHECK(agency::test::routed(*d, pipeline::kReadyForDev).next_stage == pipeline::kQa);
  CHECK_FALSE(agency::test::routed(*d, pipeline::kReadyForDev).bounce);
  CHECK(d->branch == "agency/t-b1");
  CHECK(d->reason == "added the greeting");
  auto head = trimmed(git_in(turn->workdir, {"rev-parse", "HEAD"}));
  CHECK(d->context.find(head.substr(0, 12)) != std::string::npos);
  CHECK(d->context.find("added the greeting") != std::string::npos);
  REQUIRE(d->attachments.count("tests") == 1);
  CHECK(d->attachments.at("tests").find("$ test -f GREETING.md") != std::string::npos);
  CHECK(d->attachments.at("tests").find("exit code 0") != std::string::npos);
  CHECK(commits(turn->workdir) ==
        std::vector<std::string>{"agency: Add a greeting (task t-b1, attempt 1)"});
  // The commit is on the branch in the project's repository.
  CHECK(trimmed(git_in(bench.repo(), {"rev-parse", "agency/t-b1"})) == head);
}

TEST_CASE("roles: builder redelivered after its commit does not commit twice") {
  agency::test::Bench bench("builder", "test -f GREETING.md");
  agency::roles::Builder builder;
  auto task = make_task("t-b2", {pipeline::kReadyForPrep, pipeline::kReadyForDev});
  auto turn = builder.prepare(bench.ctx, brief_for(task), task);
  REQUIRE(turn.ok());
  engine_writes(*turn);
  auto first = builder.finish(bench.ctx, *turn, outcome("pass", "done"));
  REQUIRE(first.ok());
  auto sha = trimmed(git_in(turn->workdir, {"rev-parse", "HEAD"}));
  // The agent died before the stage change: the same brief comes again.
  auto again = builder.prepare(bench.ctx, brief_for(task), task);
  REQUIRE(again.ok());
  REQUIRE(again->env.count("AGENCY_ALREADY_COMMITTED") == 1);
  CHECK(again->env.at("AGENCY_ALREADY_COMMITTED") == sha);
  // The runtime still runs the engine, which writes again (differently).
  engine_writes(*again, "Hello again!\n");
  auto second = builder.finish(bench.ctx, *again, outcome("pass", "done"));
  REQUIRE_MESSAGE(second.ok(), second.error().message);
  CHECK(agency::test::routed(*second, pipeline::kReadyForDev).next_stage == pipeline::kQa);
  CHECK(commits(again->workdir).size() == 1);
  CHECK(trimmed(git_in(again->workdir, {"rev-parse", "HEAD"})) == sha);
  // What goes to qa is the commit, not the rerun's leftovers.
  CHECK(read_file(again->workdir / "GREETING.md") == "Hello!\n");
  CHECK(trimmed(git_in(again->workdir, {"status", "--porcelain"})).empty());
}

TEST_CASE("roles: builder with failing tests is sent back to ready-for-dev") {
  agency::test::Bench bench("builder", "echo 'greeting check failed'; false");
  agency::roles::Builder builder;
  auto task = make_task("t-b3", {pipeline::kReadyForPrep, pipeline::kReadyForDev});
  auto turn = builder.prepare(bench.ctx, brief_for(task), task);
  REQUIRE(turn.ok());
  engine_writes(*turn);
  auto d = builder.finish(bench.ctx, *turn, outcome("pass", "added"));
  REQUIRE(d.ok());
  CHECK(agency::test::routed(*d, pipeline::kReadyForDev).next_stage == pipeline::kReadyForDev);
  CHECK(agency::test::routed(*d, pipeline::kReadyForDev).bounce);
  CHECK(d->reason.find("tests failed (exit 1)") != std::string::npos);
  CHECK(d->context.find("greeting check failed") != std::string::npos);
  CHECK(d->branch == "agency/t-b3");
  REQUIRE(d->attachments.count("tests") == 1);
  CHECK(d->attachments.at("tests").find("exit code 1") != std::string::npos);
  CHECK(commits(turn->workdir).size() == 1);

  // The second attempt builds on the first commit and names attempt 2.
  bench.set_test_command("test -f GREETING.md");
  auto retry_task =
      make_task("t-b3", {pipeline::kReadyForPrep, pipeline::kReadyForDev, pipeline::kReadyForDev});
  auto retry = builder.prepare(bench.ctx, brief_for(retry_task, d->context), retry_task);
  REQUIRE(retry.ok());
  CHECK(retry->env.count("AGENCY_ALREADY_COMMITTED") == 0);
  CHECK(retry->prompt.find("attempt 2") != std::string::npos);
  CHECK(retry->prompt.find("greeting check failed") != std::string::npos);
  CHECK(read_file(retry->workdir / "GREETING.md") == "Hello!\n");
  engine_writes(*retry, "Hello, fixed!\n");
  auto fixed = builder.finish(bench.ctx, *retry, outcome("pass", "fixed"));
  REQUIRE(fixed.ok());
  CHECK(agency::test::routed(*fixed, pipeline::kReadyForDev).next_stage == pipeline::kQa);
  CHECK(commits(retry->workdir) ==
        std::vector<std::string>{"agency: Add a greeting (task t-b3, attempt 2)",
                                 "agency: Add a greeting (task t-b3, attempt 1)"});
}

TEST_CASE("roles: builder that changed nothing, failed or was blocked is blocked") {
  agency::test::Bench bench("builder", "test -f GREETING.md");
  agency::roles::Builder builder;
  auto task = make_task("t-b4", {pipeline::kReadyForPrep, pipeline::kReadyForDev});
  auto turn = builder.prepare(bench.ctx, brief_for(task), task);
  REQUIRE(turn.ok());

  SUBCASE("pass without changes") {
    auto d = builder.finish(bench.ctx, *turn, outcome("pass", "all good"));
    REQUIRE(d.ok());
    CHECK(agency::test::routed(*d, pipeline::kReadyForDev).next_stage == voc::kBlocked);
    CHECK(d->reason.find("the engine changed nothing") != std::string::npos);
    CHECK(commits(turn->workdir).empty());
  }
  SUBCASE("pass after the engine committed by itself") {
    engine_writes(*turn);
    git_in(turn->workdir, {"add", "-A"});
    git_in(turn->workdir, {"commit", "--quiet", "-m", "engine's own commit"});
    auto d = builder.finish(bench.ctx, *turn, outcome("pass", "committed myself"));
    REQUIRE(d.ok());
    CHECK(agency::test::routed(*d, pipeline::kReadyForDev).next_stage == pipeline::kQa);
    CHECK(commits(turn->workdir) == std::vector<std::string>{"engine's own commit"});
  }
  SUBCASE("fail") {
    engine_writes(*turn);
    auto d = builder.finish(bench.ctx, *turn, outcome("fail", "cannot be done in this codebase"));
    REQUIRE(d.ok());
    CHECK(agency::test::routed(*d, pipeline::kReadyForDev).next_stage == voc::kBlocked);
    CHECK(d->reason.find("cannot be done in this codebase") != std::string::npos);
    CHECK(commits(turn->workdir).empty());
  }
  SUBCASE("blocked") {
    auto d = builder.finish(bench.ctx, *turn, outcome("blocked", "needs an API key"));
    REQUIRE(d.ok());
    CHECK(agency::test::routed(*d, pipeline::kReadyForDev).next_stage == voc::kBlocked);
    CHECK(d->reason.find("needs an API key") != std::string::npos);
  }
}

TEST_CASE("roles: builder without a test command goes to qa on its commit") {
  agency::test::Bench bench("builder");
  agency::roles::Builder builder;
  auto task = make_task("t-b5", {pipeline::kReadyForPrep, pipeline::kReadyForDev});
  auto turn = builder.prepare(bench.ctx, brief_for(task), task);
  REQUIRE(turn.ok());
  engine_writes(*turn);
  auto d = builder.finish(bench.ctx, *turn, outcome("pass", "done"));
  REQUIRE(d.ok());
  CHECK(agency::test::routed(*d, pipeline::kReadyForDev).next_stage == pipeline::kQa);
  CHECK(d->attachments.count("tests") == 0);
  CHECK(d->context.find("No test command") != std::string::npos);
}

TEST_CASE("roles: builder commit message names the task and the attempt") {
  auto task = make_task("t-x", {pipeline::kReadyForDev}, "Line one\nline two");
  CHECK(agency::roles::commit_message(task, "t-x", 3) == "agency: Line one (task t-x, attempt 3)");
}

TEST_CASE(
    "roles: builder after an interrupted run cleans the worktree to its last commit and says so") {
  agency::test::Bench bench("builder", "test -f GREETING.md");
  agency::roles::Builder builder;
  auto task = make_task("t-b9", {pipeline::kReadyForPrep, pipeline::kReadyForDev});
  auto first = builder.prepare(bench.ctx, brief_for(task), task);
  REQUIRE(first.ok());
  CHECK(first->prompt.find("stopped before it finished") == std::string::npos);
  const auto head = trimmed(git_in(first->workdir, {"rev-parse", "HEAD"}));
  // The engine was half way when its agent was killed.
  write_file(first->workdir / "half.txt", "half done\n");
  write_file(first->workdir / "README.md", "changed\n");
  auto again = builder.prepare(bench.ctx, brief_for(task), task);
  REQUIRE_MESSAGE(again.ok(), again.error().message);
  CHECK(again->workdir == first->workdir);
  CHECK(trimmed(git_in(again->workdir, {"status", "--porcelain"})).empty());
  CHECK_FALSE(fs::exists(again->workdir / "half.txt"));
  CHECK(trimmed(git_in(again->workdir, {"rev-parse", "HEAD"})) == head);
  CHECK(again->prompt.find("stopped before it finished") != std::string::npos);
  CHECK(again->prompt.find("half.txt") != std::string::npos);
  CHECK(again->prompt.find("README.md") != std::string::npos);
  CHECK(again->prompt.find(head.substr(0, 12)) != std::string::npos);
}

TEST_CASE("roles: builder back from landing merges the moved default branch, and refuses markers") {
  agency::test::Bench bench("builder", "test -f GREETING.md");
  agency::roles::Builder builder;
  auto task = make_task("t-land", {pipeline::kReadyForPrep, pipeline::kReadyForDev});
  // First attempt: GREETING.md on the task's branch.
  auto turn = builder.prepare(bench.ctx, brief_for(task), task);
  REQUIRE_MESSAGE(turn.ok(), turn.error().message);
  engine_writes(*turn, "hello from the task\n");
  REQUIRE(builder.finish(bench.ctx, *turn, outcome("pass", "wrote it")).ok());
  // Meanwhile main got its own GREETING.md: the landing conflicts.
  write_file(bench.repo() / "GREETING.md", "hello from main\n");
  git_in(bench.repo(), {"add", "-A"});
  git_in(bench.repo(), {"commit", "-q", "-m", "main moves"});
  task = make_task("t-land", {pipeline::kReadyForPrep, pipeline::kReadyForDev, pipeline::kQa,
                              pipeline::kReview, pipeline::kReadyToLand, pipeline::kReadyForDev});

  auto again = builder.prepare(bench.ctx, brief_for(task), task);
  REQUIRE_MESSAGE(again.ok(), again.error().message);
  CHECK(again->prompt.find("came back from landing") != std::string::npos);
  CHECK(again->prompt.find("conflict markers to resolve") != std::string::npos);
  CHECK(again->prompt.find("GREETING.md") != std::string::npos);
  CHECK(read_file(again->workdir / "GREETING.md").find("<<<<<<< ") != std::string::npos);

  SUBCASE("an engine that leaves the markers is sent back, nothing committed") {
    auto d = builder.finish(bench.ctx, *again, outcome("pass", "did nothing"));
    REQUIRE(d.ok());
    CHECK(agency::test::routed(*d, pipeline::kReadyForDev).next_stage == pipeline::kReadyForDev);
    CHECK(agency::test::routed(*d, pipeline::kReadyForDev).bounce);
    CHECK(d->reason == "conflict markers left in GREETING.md");
  }
  SUBCASE("a resolved conflict is committed as the merge, on top of main") {
    engine_writes(*again, "hello from main and from the task\n");
    auto d = builder.finish(bench.ctx, *again, outcome("pass", "resolved"));
    REQUIRE_MESSAGE(d.ok(), d.error().message);
    CHECK(agency::test::routed(*d, pipeline::kReadyForDev).next_stage == pipeline::kQa);
    // main is an ancestor of the branch now: the landing is a fast merge.
    auto r = git::run({"git", "merge-base", "--is-ancestor", "main", "HEAD"}, again->workdir);
    CHECK(r.exit_code == 0);
    CHECK(trimmed(git_in(again->workdir, {"rev-list", "--parents", "-n", "1", "HEAD"}))
              .find(' ', 41) != std::string::npos);  // two parents
  }
}
