// The git a builder needs: a worktree per task on branch agency/<task-id>,
// commits that name the task, and the project's test command. Every call
// runs the real `git` (no library), so what happens is what a person would
// see in the repository.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "bus/result.hpp"

namespace agency::git {

struct CommandResult {
  int exit_code = -1;  // -1: did not finish (timeout or signal)
  std::string output;  // stdout and stderr together
};

// Runs argv in dir; the environment is ours plus `env`. Kills the process
// group after timeout.
CommandResult run(const std::vector<std::string>& argv, const std::filesystem::path& dir,
                  std::chrono::seconds timeout = std::chrono::seconds(120),
                  const std::vector<std::pair<std::string, std::string>>& env = {});

// `sh -c command` in dir, for the project's test command.
CommandResult run_shell(const std::string& command, const std::filesystem::path& dir,
                        std::chrono::seconds timeout = std::chrono::seconds(600));

// The environment that makes `who`@agency.local the author and committer of
// a commit (a machine may have no git identity at all).
std::vector<std::pair<std::string, std::string>> identity_env(std::string_view who);

// The lines of a command's output, trimmed, blank ones left out.
std::vector<std::string> output_lines(std::string_view output);

// The files a merge or rebase in progress in `worktree` left in conflict.
std::vector<std::string> conflicted_files(const std::filesystem::path& worktree);

// The branch of a task: agency/<task-id>.
std::string branch_for(std::string_view task_id);

// A worktree for the task at <worktrees_dir>/<task-id> on branch
// agency/<task-id>, created from `base_branch` of `repo` the first time and
// reused after. Whatever an interrupted run left uncommitted is discarded
// (reset --hard, clean -fd), so a redelivered brief starts from the last
// commit. Returns the worktree path.
Result<std::filesystem::path> prepare_worktree(const std::filesystem::path& repo,
                                               const std::string& base_branch,
                                               const std::filesystem::path& worktrees_dir,
                                               std::string_view task_id);

// Commits everything in the worktree with `message` (author agency <agent_id>).
// Returns the new commit id, or "" when there was nothing to commit.
Result<std::string> commit_all(const std::filesystem::path& worktree, const std::string& message,
                               const std::string& agent_id);

// Subject lines of the commits on the branch since base_branch, newest first.
Result<std::vector<std::string>> commits_since(const std::filesystem::path& worktree,
                                               const std::string& base_branch);

}  // namespace agency::git
