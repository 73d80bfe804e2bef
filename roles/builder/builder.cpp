#include "roles/builder/builder.hpp"

#include <fstream>

#include "bus/vocabulary.hpp"
#include "runtime/catalog.hpp"
#include "runtime/pipeline.hpp"

namespace agency::roles {
namespace {

namespace voc = vocabulary;

constexpr const char* kAlreadyCommitted = "AGENCY_ALREADY_COMMITTED";
constexpr const char* kStartCommit = "AGENCY_START_COMMIT";
constexpr const char* kConflicts = "AGENCY_MERGE_CONFLICTS";

// The task's last move was the integrator's bounce (ready-to-land ->
// ready-for-dev).
bool back_from_landing(const v1::Task& task) {
  return task.history_size() > 0 &&
         task.history(task.history_size() - 1).from() == pipeline::kReadyToLand &&
         task.history(task.history_size() - 1).to() == pipeline::kReadyForDev;
}

// Merges `branch` into the worktree's branch; the files left in conflict
// (the merge stays in progress for the engine to finish), none when it
// merged cleanly (committed) or could not start.
std::vector<std::string> merge_default_branch(const std::filesystem::path& worktree,
                                              const std::string& branch) {
  auto merged = git::run({"git", "-c", "commit.gpgsign=false", "merge", "--no-edit", branch},
                         worktree, std::chrono::seconds(120), git::identity_env("builder"));
  if (merged.exit_code == 0) return {};
  return git::conflicted_files(worktree);
}

// A file still holding a merge's conflict markers.
bool has_conflict_markers(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string line;
  bool ours = false;
  while (std::getline(in, line)) {
    if (line.starts_with("<<<<<<< ")) ours = true;
    if (ours && line.starts_with(">>>>>>> ")) return true;
  }
  return false;
}

std::string head_of(const std::filesystem::path& worktree) {
  auto r = git::run({"git", "rev-parse", "HEAD"}, worktree);
  if (r.exit_code != 0) return {};
  std::string sha = r.output;
  while (!sha.empty() && (sha.back() == '\n' || sha.back() == '\r')) sha.pop_back();
  return sha;
}

std::string short_sha(const std::string& sha) { return sha.substr(0, 12); }

// Paths with uncommitted changes in the task's worktree, if it exists: what
// an interrupted run left, which task_worktree is about to discard.
std::vector<std::string> uncommitted_in(const RoleContext& ctx, std::string_view task_id) {
  std::error_code ec;
  const auto dir = ctx.work_dir / "worktrees" / std::string(task_id);
  if (!std::filesystem::exists(dir / ".git", ec)) return {};
  auto r = git::run({"git", "status", "--porcelain", "--untracked-files=all"}, dir);
  std::vector<std::string> out;
  if (r.exit_code != 0) return out;
  std::size_t start = 0;
  while (start < r.output.size()) {
    auto end = r.output.find('\n', start);
    if (end == std::string::npos) end = r.output.size();
    if (end > start + 3) out.push_back(r.output.substr(start + 3, end - start - 3));
    start = end + 1;
  }
  return out;
}

std::string env_of(const Turn& turn, const std::string& key) {
  auto it = turn.env.find(key);
  return it == turn.env.end() ? std::string() : it->second;
}

}  // namespace

std::string commit_marker(std::string_view task_id, std::uint32_t attempt) {
  return "(task " + std::string(task_id) + ", attempt " + std::to_string(attempt) + ")";
}

std::string commit_message(const v1::Task& task, std::string_view task_id, std::uint32_t attempt) {
  std::string title = task.title();
  if (title.empty()) title = task.brief().objective();
  title = title.substr(0, title.find('\n'));
  if (title.size() > 72) title = title.substr(0, 72);
  if (title.empty()) title = "work";
  return "agency: " + title + " " + commit_marker(task_id, attempt);
}

std::optional<Decision> Builder::precheck(const RoleContext& ctx, const v1::Brief& brief,
                                          const v1::Task& task) {
  if (auto why = missing_project(ctx, brief, task)) return blocked(*why);
  return std::nullopt;
}

Result<Turn> Builder::prepare(const RoleContext& ctx, const v1::Brief& brief,
                              const v1::Task& task) {
  if (auto why = missing_project(ctx, brief, task)) return make_error(errc::config, *why);
  const std::string id = task_id_of(brief, task);
  // Reused, never mixed: task_worktree resets it to the branch's last
  // commit, so an interrupted run's half-done edits go and the engine is
  // told (its commits stay).
  const auto discarded = uncommitted_in(ctx, id);
  auto dir = task_worktree(ctx, id);
  if (!dir) return dir.error();

  Turn turn = start_turn(ctx, name(), brief, task);
  turn.workdir = *dir;
  const config::Project& project = *ctx.project;
  const std::uint32_t attempt = attempt_in(task, pipeline::kReadyForDev);
  const std::string head = head_of(*dir);
  turn.env[kStartCommit] = head;
  if (auto commits = git::commits_since(*dir, project.default_branch);
      commits && !commits->empty() && commits->front().ends_with(commit_marker(id, attempt))) {
    turn.env[kAlreadyCommitted] = head;
  }
  // Back from landing: the default branch moved on. The work goes on on top
  // of it: merged in here, with conflict markers for the engine to resolve.
  std::vector<std::string> conflicts;
  if (turn.env.count(kAlreadyCommitted) == 0 && back_from_landing(task)) {
    conflicts = merge_default_branch(*dir, project.default_branch);
    std::string list;
    for (const auto& f : conflicts) list += (list.empty() ? "" : "\n") + f;
    turn.env[kConflicts] = list;
  }

  std::string workspace = "# Workspace\n\n";
  workspace += "Your working directory " + dir->string() + " is a git worktree of " +
               project.repo.string() + " on branch " + git::branch_for(id) + ", started from " +
               project.default_branch + ". Make every change there.\n\n";
  workspace +=
      "- Do not commit, push or switch branches: when your verdict is pass the agency "
      "commits everything in the worktree for you.\n";
  if (!project.test_command.empty()) {
    workspace += "- The tests run with `" + project.test_command +
                 "` from the worktree's top; they must pass before the work goes on to qa.\n";
  } else {
    workspace +=
        "- The project has no test command configured; say in your summary how you "
        "checked the change.\n";
  }
  if (attempt > 1) {
    workspace += "- This is attempt " + std::to_string(attempt) +
                 ": the work came back. The context above says why; fix that first.\n";
  }
  if (back_from_landing(task)) {
    workspace += "- The work came back from landing: " + project.default_branch +
                 " moved on and was merged into your branch";
    if (conflicts.empty()) {
      workspace += " without conflicts.\n";
    } else {
      workspace += ". These files have conflict markers to resolve (keep both sides' intent): ";
      for (std::size_t i = 0; i < conflicts.size(); ++i) {
        workspace += (i == 0 ? "" : ", ") + conflicts[i];
      }
      workspace += ". The agency commits the merge when your verdict is pass.\n";
    }
  }
  if (!discarded.empty()) {
    std::string paths;
    for (std::size_t i = 0; i < discarded.size() && i < 10; ++i) {
      paths += (i == 0 ? "" : ", ") + discarded[i];
    }
    if (discarded.size() > 10) paths += " and " + std::to_string(discarded.size() - 10) + " more";
    workspace +=
        "- An earlier run on this task stopped before it finished and left uncommitted "
        "changes (" +
        paths + "). They were discarded: the worktree is at the branch's last commit " +
        short_sha(head) + ". Start the work again from there.\n";
  }
  workspace += "\n" + commits_note(*dir, project.default_branch);
  turn.prompt = compose_prompt(ctx.skill, brief, task, workspace);
  return turn;
}

Result<Decision> Builder::finish(const RoleContext& ctx, const Turn& turn, const Outcome& outcome) {
  std::string reason = reason_of(outcome);
  if (outcome.verdict == "fail" || outcome.verdict == "blocked") {
    return blocked("the builder reports " + outcome.verdict + ": " + reason);
  }
  if (outcome.verdict != "pass") {
    return blocked("the builder gave no verdict (no ```agency block, docs/OUTCOME.md): " + reason);
  }
  if (ctx.project == nullptr) {
    return blocked(missing_project(ctx, turn.brief, turn.task).value_or("no project"));
  }
  const config::Project& project = *ctx.project;
  const std::string id = task_id_of(turn.brief, turn.task);
  const std::uint32_t attempt = attempt_in(turn.task, pipeline::kReadyForDev);
  const std::filesystem::path& worktree = turn.workdir;

  // A merge the engine left unresolved is not committed.
  const std::string conflicted = env_of(turn, kConflicts);
  if (!conflicted.empty()) {
    std::string left;
    std::size_t start = 0;
    while (start < conflicted.size()) {
      auto end = conflicted.find('\n', start);
      if (end == std::string::npos) end = conflicted.size();
      const std::string file = conflicted.substr(start, end - start);
      if (has_conflict_markers(worktree / file)) left += (left.empty() ? "" : ", ") + file;
      start = end + 1;
    }
    if (!left.empty()) {
      Decision d;
      d.next_stage = std::string(pipeline::kReadyForDev);
      d.bounce = true;
      d.reason = "conflict markers left in " + left;
      d.context = "The merge of " + project.default_branch + " still has conflict markers in " +
                  left + ": resolve them.\n";
      return d;
    }
  }

  std::string sha = env_of(turn, kAlreadyCommitted);
  if (!sha.empty()) {
    // Committed before a crash: what the engine did again is dropped, so the
    // tests see exactly the commit that goes on to qa.
    auto again = task_worktree(ctx, id);
    if (!again) return again.error();
  } else {
    auto committed =
        git::commit_all(worktree, commit_message(turn.task, id, attempt), ctx.agent_id);
    if (!committed) return committed.error();
    sha = *committed;
    if (sha.empty()) {
      // The engine may have committed by itself despite the brief.
      std::string head = head_of(worktree);
      std::string start = env_of(turn, kStartCommit);
      if (head.empty() || head == start) return blocked("the engine changed nothing: " + reason);
      sha = head;
    }
  }

  // Where agents on other hosts, and the integrator, find it.
  if (project.from_remote) {
    if (auto pushed = git::push_task_branch(worktree, id); !pushed) return pushed.error();
  }

  Decision d;
  d.branch = git::branch_for(id);
  std::string done = "commit " + short_sha(sha) + " on " + d.branch + ": " + reason + "\n";
  if (!outcome.block.findings.empty()) {
    done += "\nThe builder's own notes:\n" + findings_list(outcome.block);
  }
  if (!project.test_command.empty()) {
    TestRun tests = run_tests(project.test_command, worktree);
    d.attachments["tests"] = tests.report;
    if (!tests.passed) {
      d.next_stage = std::string(pipeline::kReadyForDev);
      d.bounce = true;
      d.reason = "tests failed (" +
                 (tests.exit_code == -1 ? std::string("did not finish")
                                        : "exit " + std::to_string(tests.exit_code)) +
                 ") on commit " + short_sha(sha);
      d.context = "Your " + done + "\nThe tests fail on it:\n\n```\n" + tests.report + "```\n";
      return d;
    }
    done += "\nTests pass: `" + project.test_command + "`.\n";
  } else {
    done += "\nNo test command is configured for project " + project.name + ".\n";
  }
  d.verdict = Decision::Verdict::pass;
  d.reason = reason;
  d.context = "Built: " + done;
  return d;
}

}  // namespace agency::roles

// The role's entry in the catalog (runtime/catalog.hpp).
namespace agency::catalog::entries {
RoleInfo builder() { return RoleInfo("builder"); }
}  // namespace agency::catalog::entries
