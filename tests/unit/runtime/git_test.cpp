#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "runtime/git.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/roles/git_repo.hpp"

namespace {

namespace fs = std::filesystem;
namespace git = agency::git;
using agency::errc;
using agency::test::git_in;
using agency::test::make_repo;
using agency::test::read_file;
using agency::test::TempDir;
using agency::test::trimmed;
using agency::test::write_file;

// True while /proc lists pid as a live (not zombie) process.
bool alive(const std::string& pid) {
  auto stat = read_file("/proc/" + pid + "/stat");
  if (stat.empty()) return false;
  auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

}  // namespace

TEST_CASE("git: run merges stdout and stderr and returns the exit code") {
  TempDir dir;
  auto r = git::run({"sh", "-c", "echo out; echo err >&2; exit 3"}, dir.path());
  CHECK(r.exit_code == 3);
  CHECK(r.output.find("out\n") != std::string::npos);
  CHECK(r.output.find("err\n") != std::string::npos);

  auto where = git::run({"pwd"}, dir.path());
  CHECK(where.exit_code == 0);
  CHECK(fs::equivalent(trimmed(where.output), dir.path()));
}

TEST_CASE("git: run adds the given environment and passes no shell") {
  TempDir dir;
  auto r = git::run({"sh", "-c", "echo \"$AGENCY_TEST_VALUE\""}, dir.path(),
                    std::chrono::seconds(10), {{"AGENCY_TEST_VALUE", "a b;c"}});
  CHECK(r.exit_code == 0);
  CHECK(r.output == "a b;c\n");
  // Arguments reach the program as they are: no shell expands them.
  auto echo = git::run({"echo", "$HOME", "*"}, dir.path());
  CHECK(echo.output == "$HOME *\n");
}

TEST_CASE("git: run reports a program that cannot start") {
  TempDir dir;
  auto r = git::run({"agency-no-such-program-xyz"}, dir.path());
  CHECK(r.exit_code == 127);
  CHECK(r.output.find("cannot run 'agency-no-such-program-xyz'") != std::string::npos);

  auto nowhere = git::run({"true"}, dir.path() / "missing");
  CHECK(nowhere.exit_code == 127);
  CHECK(nowhere.output.find("work directory") != std::string::npos);
  CHECK(nowhere.output.find("does not exist") != std::string::npos);
}

TEST_CASE("git: run kills the whole process group at the timeout") {
  TempDir dir;
  auto started = std::chrono::steady_clock::now();
  auto r = git::run({"sh", "-c", "sleep 30 & echo $! > bg.pid; echo started; wait"}, dir.path(),
                    std::chrono::seconds(1));
  auto took = std::chrono::steady_clock::now() - started;
  CHECK(r.exit_code == -1);
  CHECK(r.output.find("started") != std::string::npos);
  CHECK(r.output.find("time limit") != std::string::npos);
  CHECK(took < std::chrono::seconds(10));
  std::string pid = trimmed(read_file(dir.path() / "bg.pid"));
  REQUIRE_FALSE(pid.empty());
  // The background sleep was in the group: it must be gone (polled, since
  // the kernel takes a moment to deliver the signal).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (alive(pid) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK_FALSE(alive(pid));
}

TEST_CASE("git: run_shell runs a command line in the directory") {
  TempDir dir;
  write_file(dir.path() / "GREETING.md", "hi\n");
  CHECK(git::run_shell("test -f GREETING.md && echo yes", dir.path()).output == "yes\n");
  CHECK(git::run_shell("test -f MISSING.md", dir.path()).exit_code == 1);
  CHECK(git::run_shell("exit 7", dir.path()).exit_code == 7);
}

TEST_CASE("git: branch_for names the task's branch") {
  CHECK(git::branch_for("t-01ABC") == "agency/t-01ABC");
}

TEST_CASE("git: prepare_worktree creates a worktree on agency/<task-id>") {
  TempDir tmp;
  auto repo = tmp.path() / "repo";
  make_repo(repo);
  auto dir = git::prepare_worktree(repo, "main", tmp.path() / "work" / "worktrees", "t-1");
  REQUIRE_MESSAGE(dir.ok(), dir.error().message);
  CHECK(fs::equivalent(*dir, tmp.path() / "work" / "worktrees" / "t-1"));
  CHECK(dir->is_absolute());
  CHECK(read_file(*dir / "README.md") == "# demo\n");
  CHECK(trimmed(git_in(*dir, {"symbolic-ref", "--short", "HEAD"})) == "agency/t-1");
  // The repository's own checkout is untouched.
  CHECK(trimmed(git_in(repo, {"symbolic-ref", "--short", "HEAD"})) == "main");
}

TEST_CASE("git: a reused worktree drops what an interrupted run left") {
  TempDir tmp;
  auto repo = tmp.path() / "repo";
  make_repo(repo);
  auto worktrees = tmp.path() / "worktrees";
  auto first = git::prepare_worktree(repo, "main", worktrees, "t-2");
  REQUIRE(first.ok());
  write_file(*first / "DONE.md", "kept\n");
  auto sha = git::commit_all(*first, "agency: first (task t-2, attempt 1)", "builder-1");
  REQUIRE(sha.ok());
  // An interrupted run: a changed tracked file, new files, an ignored build dir.
  write_file(*first / "README.md", "half-written\n");
  write_file(*first / "scratch" / "notes.txt", "junk\n");
  write_file(*first / ".gitignore", "build/\n");
  write_file(*first / "build" / "out.o", "obj\n");

  auto again = git::prepare_worktree(repo, "main", worktrees, "t-2");
  REQUIRE_MESSAGE(again.ok(), again.error().message);
  CHECK(*again == *first);
  CHECK(read_file(*again / "README.md") == "# demo\n");
  CHECK(read_file(*again / "DONE.md") == "kept\n");
  CHECK_FALSE(fs::exists(*again / "scratch"));
  CHECK_FALSE(fs::exists(*again / "build"));
  CHECK_FALSE(fs::exists(*again / ".gitignore"));
  CHECK(trimmed(git_in(*again, {"status", "--porcelain"})).empty());
  CHECK(trimmed(git_in(*again, {"rev-parse", "HEAD"})) == *sha);
}

TEST_CASE("git: commit_all commits as the agent and is empty when nothing changed") {
  TempDir tmp;
  auto repo = tmp.path() / "repo";
  make_repo(repo);
  auto dir = git::prepare_worktree(repo, "main", tmp.path() / "wt", "t-3");
  REQUIRE(dir.ok());

  auto nothing = git::commit_all(*dir, "agency: nothing", "builder-1");
  REQUIRE(nothing.ok());
  CHECK(nothing->empty());

  write_file(*dir / "GREETING.md", "hello\n");
  write_file(*dir / "sub" / "new.txt", "new\n");
  auto sha = git::commit_all(*dir, "agency: greet (task t-3, attempt 1)", "builder-1");
  REQUIRE_MESSAGE(sha.ok(), sha.error().message);
  CHECK(sha->size() == 40);
  CHECK(trimmed(git_in(*dir, {"rev-parse", "HEAD"})) == *sha);
  CHECK(trimmed(git_in(*dir, {"log", "-1", "--format=%an <%ae>"})) ==
        "agency <builder-1@agency.local>");
  CHECK(trimmed(git_in(*dir, {"status", "--porcelain"})).empty());

  // Committing again without a change makes no second commit.
  auto again = git::commit_all(*dir, "agency: greet (task t-3, attempt 1)", "builder-1");
  REQUIRE(again.ok());
  CHECK(again->empty());

  auto subjects = git::commits_since(*dir, "main");
  REQUIRE(subjects.ok());
  REQUIRE(subjects->size() == 1);
  CHECK(subjects->front() == "agency: greet (task t-3, attempt 1)");

  // A deleted file is committed too.
  fs::remove(*dir / "sub" / "new.txt");
  auto removal = git::commit_all(*dir, "agency: remove", "builder 1/x");
  REQUIRE(removal.ok());
  CHECK_FALSE(removal->empty());
  CHECK(trimmed(git_in(*dir, {"log", "-1", "--format=%ae"})) == "builder-1-x@agency.local");
  auto both = git::commits_since(*dir, "main");
  REQUIRE(both.ok());
  REQUIRE(both->size() == 2);
  CHECK(both->at(0) == "agency: remove");  // newest first
}

TEST_CASE("git: commits_since is empty on a fresh branch and fails on an unknown base") {
  TempDir tmp;
  auto repo = tmp.path() / "repo";
  make_repo(repo);
  auto dir = git::prepare_worktree(repo, "main", tmp.path() / "wt", "t-4");
  REQUIRE(dir.ok());
  auto none = git::commits_since(*dir, "main");
  REQUIRE(none.ok());
  CHECK(none->empty());
  auto bad = git::commits_since(*dir, "no-such-base");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("no-such-base") != std::string::npos);
}

TEST_CASE("git: a worktree whose folder was removed is pruned and recreated on its branch") {
  TempDir tmp;
  auto repo = tmp.path() / "repo";
  make_repo(repo);
  auto worktrees = tmp.path() / "wt";
  auto dir = git::prepare_worktree(repo, "main", worktrees, "t-5");
  REQUIRE(dir.ok());
  write_file(*dir / "WORK.md", "work\n");
  auto sha = git::commit_all(*dir, "agency: work (task t-5, attempt 1)", "builder-1");
  REQUIRE(sha.ok());
  // The folder goes (a wiped state dir) but git still has it registered.
  fs::remove_all(*dir);
  CHECK(git_in(repo, {"worktree", "list"}).find("t-5") != std::string::npos);

  auto again = git::prepare_worktree(repo, "main", worktrees, "t-5");
  REQUIRE_MESSAGE(again.ok(), again.error().message);
  CHECK(read_file(*again / "WORK.md") == "work\n");
  CHECK(trimmed(git_in(*again, {"rev-parse", "HEAD"})) == *sha);
  CHECK(trimmed(git_in(*again, {"symbolic-ref", "--short", "HEAD"})) == "agency/t-5");
}

TEST_CASE("git: a folder that is not a worktree is rebuilt from the branch") {
  TempDir tmp;
  auto repo = tmp.path() / "repo";
  make_repo(repo);
  auto worktrees = tmp.path() / "wt";
  write_file(worktrees / "t-6" / "leftover.txt", "from a crash\n");
  auto dir = git::prepare_worktree(repo, "main", worktrees, "t-6");
  REQUIRE_MESSAGE(dir.ok(), dir.error().message);
  CHECK_FALSE(fs::exists(*dir / "leftover.txt"));
  CHECK(read_file(*dir / "README.md") == "# demo\n");
}

TEST_CASE("git: prepare_worktree says what is wrong") {
  TempDir tmp;
  auto repo = tmp.path() / "repo";
  make_repo(repo);

  auto base = git::prepare_worktree(repo, "trunk", tmp.path() / "wt", "t-7");
  REQUIRE_FALSE(base.ok());
  CHECK(base.error().code == errc::config);
  CHECK(base.error().message.find("'trunk'") != std::string::npos);

  auto not_repo = git::prepare_worktree(tmp.path() / "plain", "main", tmp.path() / "wt", "t-7");
  REQUIRE_FALSE(not_repo.ok());
  CHECK(not_repo.error().code == errc::config);
  fs::create_directories(tmp.path() / "plain");
  auto plain = git::prepare_worktree(tmp.path() / "plain", "main", tmp.path() / "wt", "t-7");
  REQUIRE_FALSE(plain.ok());
  CHECK(plain.error().message.find("not a git repository") != std::string::npos);

  for (std::string bad : {"", "../escape", "a/b", "-rf", "has space"}) {
    CAPTURE(bad);
    auto r = git::prepare_worktree(repo, "main", tmp.path() / "wt", bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == errc::bad_payload);
  }
  CHECK_FALSE(fs::exists(tmp.path() / "escape"));
}

TEST_CASE("git: is_clone_address tells an address from a remote's name") {
  CHECK(git::is_clone_address("https://example.com/a/b.git"));
  CHECK(git::is_clone_address("git@example.com:a/b.git"));
  CHECK(git::is_clone_address("/srv/git/b.git"));
  CHECK(git::is_clone_address("../b.git"));
  CHECK_FALSE(git::is_clone_address("origin"));
  CHECK_FALSE(git::is_clone_address("upstream"));
}

// Two hosts, each with its own clone of one bare remote: a task branch
// pushed from one is the other's starting point, and catches up after.
TEST_CASE("git: clones of one remote pass a task's branch between hosts") {
  TempDir tmp;
  auto seed = tmp.path() / "seed";
  make_repo(seed);
  const auto remote = tmp.path() / "remote.git";
  git_in(tmp.path(), {"clone", "--bare", "--quiet", seed.string(), remote.string()});

  const auto clone_a = tmp.path() / "a" / "clones" / "demo.git";
  const auto clone_b = tmp.path() / "b" / "clones" / "demo.git";
  REQUIRE(git::sync_clone(remote.string(), clone_a, "main").ok());
  REQUIRE(git::sync_clone(remote.string(), clone_b, "main").ok());

  // Host a's builder: a commit on the task branch, pushed.
  auto wa = git::prepare_worktree(clone_a, "main", tmp.path() / "a" / "worktrees", "t-9", true);
  REQUIRE_MESSAGE(wa.ok(), wa.error().message);
  write_file(*wa / "feature.txt", "from a\n");
  auto first = git::commit_all(*wa, "t-9: feature", "builder-1");
  REQUIRE_MESSAGE(first.ok(), first.error().message);
  auto pushed = git::push_task_branch(*wa, "t-9");
  REQUIRE_MESSAGE(pushed.ok(), pushed.error().message);

  // Host b, after a fetch, starts from the pushed commit.
  REQUIRE(git::sync_clone(remote.string(), clone_b, "main").ok());
  auto wb = git::prepare_worktree(clone_b, "main", tmp.path() / "b" / "worktrees", "t-9", true);
  REQUIRE_MESSAGE(wb.ok(), wb.error().message);
  CHECK(read_file(*wb / "feature.txt") == "from a\n");
  CHECK(trimmed(git_in(*wb, {"rev-parse", "HEAD"})) == *first);

  // b's fix goes back; a's reused worktree catches up with it.
  write_file(*wb / "feature.txt", "fixed on b\n");
  auto second = git::commit_all(*wb, "t-9: fix", "builder-2");
  REQUIRE(second.ok());
  REQUIRE(git::push_task_branch(*wb, "t-9").ok());
  REQUIRE(git::sync_clone(remote.string(), clone_a, "main").ok());
  auto again = git::prepare_worktree(clone_a, "main", tmp.path() / "a" / "worktrees", "t-9", true);
  REQUIRE(again.ok());
  CHECK(read_file(*again / "feature.txt") == "fixed on b\n");

  // The remote's default branch moved: the clone's follows at the next sync.
  auto person = tmp.path() / "person";
  git_in(tmp.path(), {"clone", "--quiet", remote.string(), person.string()});
  write_file(person / "other.txt", "x\n");
  git_in(person, {"add", "other.txt"});
  git_in(person, {"-c", "commit.gpgsign=false", "commit", "--quiet", "-m", "person"});
  git_in(person, {"push", "--quiet", "origin", "main"});
  REQUIRE(git::sync_clone(remote.string(), clone_a, "main").ok());
  CHECK(trimmed(git_in(clone_a, {"rev-parse", "main"})) ==
        trimmed(git_in(person, {"rev-parse", "HEAD"})));
}

TEST_CASE("git: sync_clone says which remote cannot be cloned") {
  TempDir tmp;
  auto r = git::sync_clone((tmp.path() / "nowhere.git").string(),
                           tmp.path() / "clones" / "demo.git", "main");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("nowhere.git") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(tmp.path() / "clones" / "demo.git"));
}
