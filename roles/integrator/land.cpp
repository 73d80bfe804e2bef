#include "roles/integrator/land.hpp"

#include <system_error>

#include "bus/text.hpp"
#include "runtime/git.hpp"
#include "runtime/role_logic.hpp"

namespace agency::land {
namespace {

namespace fs = std::filesystem;
using Env = std::vector<std::pair<std::string, std::string>>;

// The landing's commits are the integrator's; git never asks anything.
const Env& identity() {
  static const Env env = [] {
    Env e = git::identity_env("integrator");
    e.emplace_back("GIT_EDITOR", "true");
    e.emplace_back("GIT_TERMINAL_PROMPT", "0");
    return e;
  }();
  return env;
}

git::CommandResult git_in(const fs::path& dir, std::vector<std::string> args,
                          std::chrono::seconds timeout = std::chrono::seconds(120)) {
  args.insert(args.begin(), {"git", "-c", "commit.gpgsign=false"});
  return git::run(args, dir, timeout, identity());
}

std::string first_line(const std::string& text) {
  return std::string(text::trim(text.substr(0, text.find('\n'))));
}

// The commit `rev` names, "" when it names none.
std::string commit_of(const fs::path& repo, const std::string& rev) {
  auto r = git_in(repo, {"rev-parse", "--verify", "--quiet", rev + "^{commit}"});
  return r.exit_code == 0 ? first_line(r.output) : std::string();
}

bool is_ancestor(const fs::path& repo, const std::string& a, const std::string& b) {
  return git_in(repo, {"merge-base", "--is-ancestor", a, b}).exit_code == 0;
}

void drop_worktree(const fs::path& repo, const fs::path& dir) {
  (void)git_in(repo, {"worktree", "remove", "--force", dir.string()});
  std::error_code ec;
  fs::remove_all(dir, ec);
  (void)git_in(repo, {"worktree", "prune"});
}

// The worktree that has `branch` checked out, if any.
std::optional<fs::path> checked_out_at(const fs::path& repo, const std::string& branch) {
  auto r = git_in(repo, {"worktree", "list", "--porcelain"});
  if (r.exit_code != 0) return std::nullopt;
  std::string current;
  for (const auto& line : git::output_lines(r.output)) {
    if (line.starts_with("worktree ")) current = line.substr(9);
    if (line == "branch refs/heads/" + branch && !current.empty()) return fs::path(current);
  }
  return std::nullopt;
}

Outcome retry(std::string why, std::string base = {}) {
  Outcome o;
  o.kind = Kind::retry;
  o.base = std::move(base);
  o.report = std::move(why);
  return o;
}

Outcome refused(std::string why) {
  Outcome o;
  o.kind = Kind::refused;
  o.report = std::move(why);
  return o;
}

Outcome open_pr(const Request& rq) {
  // A branch read from the remote is there already.
  if (rq.tip_ref.empty()) {
    auto pushed =
        git_in(rq.repo, {"push", "--quiet", rq.remote, rq.branch + ":refs/heads/" + rq.branch});
    if (pushed.exit_code != 0) {
      return retry("pushing " + rq.branch + " to " + rq.remote +
                   " failed: " + first_line(pushed.output));
    }
  }
  auto gh = git::run({"gh", "pr", "create", "--base", rq.default_branch, "--head", rq.branch,
                      "--title", rq.title, "--body", rq.body},
                     rq.repo, std::chrono::seconds(120), {{"GH_PROMPT_DISABLED", "1"}});
  if (gh.exit_code == 127 || (gh.exit_code == -1 && gh.output.empty())) {
    return refused("landing is pr but the GitHub CLI `gh` is not installed (or not on PATH)");
  }
  if (gh.exit_code != 0) {
    // A replay after the pull request was opened: gh names the existing one.
    if (gh.output.find("already exists") != std::string::npos) {
      Outcome o;
      o.kind = Kind::pr_opened;
      o.report = std::string(text::trim(gh.output));
      return o;
    }
    return retry("gh pr create failed (exit " + std::to_string(gh.exit_code) +
                 "): " + roles::tail(gh.output, 2000));
  }
  Outcome o;
  o.kind = Kind::pr_opened;
  o.report = std::string(text::trim(gh.output));
  return o;
}

// Moves the local default branch from `base` to `result`, or says why not.
std::optional<Outcome> advance_local(const Request& rq, const std::string& base,
                                     const std::string& result) {
  const std::string ref = "refs/heads/" + rq.default_branch;
  if (auto where = checked_out_at(rq.repo, rq.default_branch)) {
    // A person's working copy: it moves with the branch (a fast-forward),
    // and only when nothing in it would be lost.
    auto dirty = git_in(*where, {"status", "--porcelain", "--untracked-files=no"});
    if (dirty.exit_code != 0) {
      return retry("cannot read the state of " + where->string() + ": " + first_line(dirty.output),
                   base);
    }
    if (!text::trim(dirty.output).empty()) {
      return retry(rq.default_branch + " is checked out in " + where->string() +
                       " with uncommitted changes; the landing waits until they are committed "
                       "or stashed",
                   base);
    }
    if (commit_of(rq.repo, ref) != base) {
      return retry(rq.default_branch + " moved while the tests ran; landing again on top", base);
    }
    auto ff = git_in(*where, {"merge", "--ff-only", "--quiet", result});
    if (ff.exit_code != 0) {
      return retry("fast-forwarding " + rq.default_branch + " in " + where->string() +
                       " failed: " + first_line(ff.output),
                   base);
    }
    return std::nullopt;
  }
  auto moved =
      git_in(rq.repo, {"update-ref", "-m", "agency: land " + rq.branch, ref, result, base});
  if (moved.exit_code != 0) {
    return retry(rq.default_branch + " moved while the tests ran; landing again on top", base);
  }
  return std::nullopt;
}

}  // namespace

const char* to_string(Kind kind) {
  switch (kind) {
    case Kind::landed:
      return "landed";
    case Kind::already_landed:
      return "already-landed";
    case Kind::pr_opened:
      return "pr-opened";
    case Kind::conflict:
      return "conflict";
    case Kind::tests_failed:
      return "tests-failed";
    case Kind::retry:
      return "retry";
    case Kind::refused:
      return "refused";
  }
  return "?";
}

Outcome land(const Request& rq) {
  std::error_code ec;
  if (!fs::is_directory(rq.repo, ec)) {
    return refused("project repository " + rq.repo.string() + " does not exist");
  }
  // A branch name git accepts, and never one an argument could mistake
  // for an option.
  if (rq.branch.empty() || rq.branch.front() == '-' ||
      git_in(rq.repo, {"check-ref-format", "--branch", rq.branch}).exit_code != 0) {
    return refused("'" + rq.branch + "' is not a branch name git accepts");
  }
  const std::string tip =
      commit_of(rq.repo, rq.tip_ref.empty() ? "refs/heads/" + rq.branch : rq.tip_ref);
  if (tip.empty()) {
    return refused("the task's branch " + rq.branch + " does not exist in " +
                   (rq.tip_ref.empty() ? rq.repo.string() : rq.remote));
  }
  if (rq.mode == "pr") return open_pr(rq);

  // The commit the landing starts from: the local default branch, or the
  // remote's as fetched now.
  std::string base_ref = "refs/heads/" + rq.default_branch;
  if (rq.mode == "push") {
    auto fetched = git_in(rq.repo, {"fetch", "--quiet", rq.remote, rq.default_branch});
    if (fetched.exit_code != 0) {
      return retry("fetching " + rq.default_branch + " from " + rq.remote +
                   " failed: " + first_line(fetched.output));
    }
    base_ref = "FETCH_HEAD";
  }
  const std::string base = commit_of(rq.repo, base_ref);
  if (base.empty()) {
    return refused("the default branch " + rq.default_branch + " does not exist in " +
                   (rq.mode == "push" ? rq.remote : rq.repo.string()));
  }
  if (is_ancestor(rq.repo, tip, base)) {
    Outcome o;
    o.kind = Kind::already_landed;
    o.base = base;
    o.commit = base;
    return o;
  }

  // A clean worktree at the base, whatever an earlier landing left.
  drop_worktree(rq.repo, rq.workdir);
  fs::create_directories(rq.workdir.parent_path(), ec);
  auto added =
      git_in(rq.repo, {"worktree", "add", "--quiet", "--detach", rq.workdir.string(), base});
  if (added.exit_code != 0) {
    return retry(
        "cannot make a worktree at " + rq.workdir.string() + ": " + first_line(added.output), base);
  }
  struct Cleanup {
    const Request& rq;
    ~Cleanup() { drop_worktree(rq.repo, rq.workdir); }
  } cleanup{rq};

  const fs::path& wd = rq.workdir;
  git::CommandResult joined;
  if (rq.land_with == "rebase") {
    if (auto r = git_in(wd, {"checkout", "--quiet", "--detach", tip}); r.exit_code != 0) {
      return retry("cannot check out " + rq.branch + ": " + first_line(r.output), base);
    }
    joined = git_in(wd, {"rebase", "--quiet", base});
  } else {
    joined = git_in(wd, {"merge", "--no-ff", "--no-edit", "-m", rq.message, tip});
  }
  if (joined.exit_code != 0) {
    auto conflicts = git::conflicted_files(wd);
    (void)git_in(wd, {rq.land_with == "rebase" ? "rebase" : "merge", "--abort"});
    Outcome o;
    o.base = base;
    o.conflicts = std::move(conflicts);
    if (o.conflicts.empty()) {
      return retry(
          rq.land_with + " of " + rq.branch + " failed: " + roles::tail(joined.output, 2000), base);
    }
    o.kind = Kind::conflict;
    o.report = roles::tail(joined.output, 2000);
    return o;
  }
  const std::string result = commit_of(wd, "HEAD");
  if (result.empty()) return retry("the landing's result has no commit", base);
  if (result == base) {
    // A rebase that found every commit upstream already: landed before.
    Outcome o;
    o.kind = Kind::already_landed;
    o.base = base;
    o.commit = base;
    return o;
  }

  if (!rq.test_command.empty()) {
    auto tests = roles::run_tests(rq.test_command, wd);
    if (!tests.passed) {
      Outcome o;
      o.kind = Kind::tests_failed;
      o.base = base;
      o.commit = result;
      o.report = tests.report;
      return o;
    }
  }

  if (rq.mode == "push") {
    auto pushed =
        git_in(wd, {"push", "--quiet", rq.remote, result + ":refs/heads/" + rq.default_branch});
    if (pushed.exit_code != 0) {
      return retry("pushing to " + rq.remote + " was refused (" + first_line(pushed.output) +
                       "); landing again on top",
                   base);
    }
  } else if (auto not_yet = advance_local(rq, base, result)) {
    return *not_yet;
  }
  Outcome o;
  o.kind = Kind::landed;
  o.base = base;
  o.commit = result;
  return o;
}

}  // namespace agency::land
