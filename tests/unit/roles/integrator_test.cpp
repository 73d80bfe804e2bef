// The integrator's landing (roles/integrator/land.hpp) on real git
// repositories: what lands, what bounces, and that the default branch only
// ever moves to a tested result.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "roles/integrator/integrator.hpp"
#include "roles/integrator/land.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/roles/git_repo.hpp"
#include "tests/unit/roles/role_fixture.hpp"

namespace agency {
namespace {

namespace fs = std::filesystem;
using test::git_in;
using test::read_file;
using test::trimmed;
using test::write_file;

std::string head_of(const fs::path& repo, const std::string& ref) {
  return trimmed(git_in(repo, {"rev-parse", ref}));
}

// A branch `name` off main with `file` holding `text`, committed. The
// repository's checkout stays on main.
void branch_with(const fs::path& repo, const std::string& name, const std::string& file,
                 const std::string& text) {
  git_in(repo, {"checkout", "--quiet", "-b", name, "main"});
  write_file(repo / file, text);
  git_in(repo, {"add", "-A"});
  git_in(repo, {"commit", "--quiet", "-m", "work on " + name});
  git_in(repo, {"checkout", "--quiet", "main"});
}

struct Fixture {
  test::TempDir tmp;
  fs::path repo = tmp.path() / "repo";
  Fixture() { test::make_repo(repo); }

  land::Request request(const std::string& branch) const {
    land::Request rq;
    rq.repo = repo;
    rq.default_branch = "main";
    rq.branch = branch;
    rq.workdir = tmp.path() / "landing" / "demo";
    rq.message = "agency: land " + branch;
    rq.title = "title of " + branch;
    rq.body = "body";
    return rq;
  }
};

TEST_CASE("land: merge mode moves main to a merge commit that holds the branch, tests passing") {
  Fixture f;
  branch_with(f.repo, "agency/t-1", "A.md", "a\n");
  const std::string before = head_of(f.repo, "main");
  auto rq = f.request("agency/t-1");
  rq.test_command = "test -f A.md";
  auto out = land::land(rq);
  INFO(out.report);
  REQUIRE(out.kind == land::Kind::landed);
  CHECK(out.base == before);
  CHECK(head_of(f.repo, "main") == out.commit);
  CHECK(head_of(f.repo, "main^1") == before);
  CHECK(head_of(f.repo, "main^2") == head_of(f.repo, "agency/t-1"));
  // main is checked out in the repository: its files moved with it.
  CHECK(read_file(f.repo / "A.md") == "a\n");
  CHECK(trimmed(git_in(f.repo, {"status", "--porcelain"})).empty());
  // The landing's worktree is gone.
  CHECK_FALSE(fs::exists(rq.workdir));

  SUBCASE("a replay finds it landed and moves nothing") {
    auto again = land::land(rq);
    CHECK(again.kind == land::Kind::already_landed);
    CHECK(head_of(f.repo, "main") == out.commit);
  }
}

TEST_CASE("land: rebase mode puts the branch's commits on top of main, no merge commit") {
  Fixture f;
  branch_with(f.repo, "agency/t-1", "A.md", "a\n");
  branch_with(f.repo, "agency/t-2", "B.md", "b\n");
  auto first = f.request("agency/t-1");
  first.land_with = "rebase";
  REQUIRE(land::land(first).kind == land::Kind::landed);
  auto second = f.request("agency/t-2");
  second.land_with = "rebase";
  auto out = land::land(second);
  INFO(out.report);
  REQUIRE(out.kind == land::Kind::landed);
  CHECK(git_in(f.repo, {"log", "--format=%s", "main"}) ==
        "work on agency/t-2\nwork on agency/t-1\ninitial\n");
  // Rebased copies: a replay sees every commit upstream already.
  CHECK(land::land(second).kind == land::Kind::already_landed);
}

TEST_CASE("land: a conflict names the files and leaves main where it was") {
  Fixture f;
  branch_with(f.repo, "agency/t-1", "SHARED.md", "one\n");
  branch_with(f.repo, "agency/t-2", "SHARED.md", "two\n");
  REQUIRE(land::land(f.request("agency/t-1")).kind == land::Kind::landed);
  const std::string landed = head_of(f.repo, "main");
  for (const char* with : {"merge", "rebase"}) {
    CAPTURE(with);
    auto rq = f.request("agency/t-2");
    rq.land_with = with;
    auto out = land::land(rq);
    REQUIRE(out.kind == land::Kind::conflict);
    CHECK(out.conflicts == std::vector<std::string>{"SHARED.md"});
    CHECK(out.base == landed);
    CHECK(head_of(f.repo, "main") == landed);
    CHECK(read_file(f.repo / "SHARED.md") == "one\n");
  }
}

TEST_CASE("land: tests failing on the merged result leave main where it was") {
  Fixture f;
  // Each branch alone passes; together they break the rule "one part".
  branch_with(f.repo, "agency/t-1", "part-1.md", "1\n");
  branch_with(f.repo, "agency/t-2", "part-2.md", "2\n");
  auto first = f.request("agency/t-1");
  first.test_command = "test $(ls part-*.md | wc -l) -le 1";
  REQUIRE(land::land(first).kind == land::Kind::landed);
  const std::string landed = head_of(f.repo, "main");
  auto second = f.request("agency/t-2");
  second.test_command = first.test_command;
  auto out = land::land(second);
  REQUIRE(out.kind == land::Kind::tests_failed);
  CHECK(out.report.find("exit code 1") != std::string::npos);
  CHECK(head_of(f.repo, "main") == landed);
  CHECK_FALSE(fs::exists(f.repo / "part-2.md"));
}

TEST_CASE("land: a checked-out main with uncommitted changes waits, and nothing is lost") {
  Fixture f;
  branch_with(f.repo, "agency/t-1", "A.md", "a\n");
  write_file(f.repo / "README.md", "my own edit\n");
  const std::string before = head_of(f.repo, "main");
  auto out = land::land(f.request("agency/t-1"));
  CHECK(out.kind == land::Kind::retry);
  CHECK(out.report.find("uncommitted changes") != std::string::npos);
  CHECK(head_of(f.repo, "main") == before);
  CHECK(read_file(f.repo / "README.md") == "my own edit\n");
}

TEST_CASE("land: main not checked out anywhere moves by compare-and-set") {
  Fixture f;
  branch_with(f.repo, "agency/t-1", "A.md", "a\n");
  git_in(f.repo, {"checkout", "--quiet", "--detach"});
  auto out = land::land(f.request("agency/t-1"));
  REQUIRE(out.kind == land::Kind::landed);
  CHECK(head_of(f.repo, "main") == out.commit);
}

TEST_CASE("land: push mode pushes the tested result to the remote without force") {
  Fixture f;
  const fs::path remote = f.tmp.path() / "remote.git";
  git_in(f.tmp.path(), {"init", "--quiet", "--bare", "-b", "main", remote.string()});
  git_in(f.repo, {"remote", "add", "origin", remote.string()});
  git_in(f.repo, {"push", "--quiet", "origin", "main"});
  branch_with(f.repo, "agency/t-1", "A.md", "a\n");
  const std::string local_main = head_of(f.repo, "main");
  auto rq = f.request("agency/t-1");
  rq.mode = "push";
  auto out = land::land(rq);
  INFO(out.report);
  REQUIRE(out.kind == land::Kind::landed);
  CHECK(head_of(remote, "main") == out.commit);
  CHECK(head_of(f.repo, "main") == local_main);  // the local branch is the person's
  CHECK(land::land(rq).kind == land::Kind::already_landed);
}

TEST_CASE("land: pr mode pushes the branch and opens a pull request with gh") {
  Fixture f;
  const fs::path remote = f.tmp.path() / "remote.git";
  git_in(f.tmp.path(), {"init", "--quiet", "--bare", "-b", "main", remote.string()});
  git_in(f.repo, {"remote", "add", "origin", remote.string()});
  branch_with(f.repo, "agency/t-1", "A.md", "a\n");
  // A fake gh on PATH records its arguments and answers with a URL.
  const fs::path bin = f.tmp.path() / "bin";
  const fs::path args = f.tmp.path() / "gh-args";
  write_file(bin / "gh", "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > " +
                             args.string() + "\necho https://github.example/pr/7\n");
  fs::permissions(bin / "gh", fs::perms::owner_all);
  const std::string old_path = getenv("PATH");
  setenv("PATH", (bin.string() + ":" + old_path).c_str(), 1);
  auto rq = f.request("agency/t-1");
  rq.mode = "pr";
  auto out = land::land(rq);
  setenv("PATH", old_path.c_str(), 1);
  INFO(out.report);
  REQUIRE(out.kind == land::Kind::pr_opened);
  CHECK(out.report == "https://github.example/pr/7");
  CHECK(
      read_file(args) ==
      "pr\ncreate\n--base\nmain\n--head\nagency/t-1\n--title\ntitle of agency/t-1\n--body\nbody\n");
  CHECK(head_of(remote, "agency/t-1") == head_of(f.repo, "agency/t-1"));
}

TEST_CASE("land: a missing branch or a name git refuses is refused with the reason") {
  Fixture f;
  auto out = land::land(f.request("agency/t-404"));
  CHECK(out.kind == land::Kind::refused);
  CHECK(out.report.find("agency/t-404 does not exist") != std::string::npos);
  for (const char* bad : {"--upload-pack=touch x", "agency/t..1", "", "agency/t 1"}) {
    CAPTURE(bad);
    auto refused = land::land(f.request(bad));
    CHECK(refused.kind == land::Kind::refused);
    CHECK(refused.report.find("is not a branch name git accepts") != std::string::npos);
  }
  CHECK_FALSE(fs::exists(f.repo / "x"));
}

TEST_CASE("integrator: a conflict bounces to ready-for-dev with the files as findings") {
  Fixture f;
  branch_with(f.repo, "agency/t-1", "SHARED.md", "one\n");
  branch_with(f.repo, "agency/t-2", "SHARED.md", "two\n");
  REQUIRE(land::land(f.request("agency/t-1")).kind == land::Kind::landed);
  config::Project project;
  project.name = "demo";
  project.repo = f.repo;
  RoleContext ctx;
  ctx.agent_id = "integrator-1";
  ctx.project = &project;
  ctx.work_dir = f.tmp.path() / "work";
  v1::Brief brief;
  brief.set_task_id("t-2");
  brief.set_project("demo");
  v1::Task task;
  task.set_id("t-2");
  task.set_branch("agency/t-2");
  roles::Integrator integrator;
  auto d = integrator.precheck(ctx, brief, task);
  REQUIRE(d.has_value());
  CHECK(agency::test::routed(*d, agency::pipeline::kReadyToLand).next_stage == "ready-for-dev");
  CHECK(agency::test::routed(*d, agency::pipeline::kReadyToLand).bounce);
  CHECK(d->reason.find("SHARED.md") != std::string::npos);
  CHECK(d->context.find("- SHARED.md") != std::string::npos);

  SUBCASE("landing none: done without touching git") {
    project.landing = "none";
    auto none = integrator.precheck(ctx, brief, task);
    REQUIRE(none.has_value());
    CHECK(agency::test::routed(*none, agency::pipeline::kReadyToLand).next_stage == "done");
  }
}

}  // namespace
}  // namespace agency
