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
//
// `follow_origin` (a clone made by sync_clone): the task's branch as the
// remote has it (refs/remotes/origin/agency/<task-id>, pushed by an agent on
// any host) wins over the local one unless the local one already contains
// it (a commit not pushed yet), and a new branch starts there.
Result<std::filesystem::path> prepare_worktree(const std::filesystem::path& repo,
                                               const std::string& base_branch,
                                               const std::filesystem::path& worktrees_dir,
                                               std::string_view task_id,
                                               bool follow_origin = false);

// Whether a project's `remote` is an address to clone (scheme://..., a
// scp-like user@host:path, or a path starting with '/', './' or '../')
// rather than the name of a remote of its repository.
bool is_clone_address(std::string_view remote);

// A bare clone of `address` at `clone` (made the first time), fetched now:
// its `base_branch` is the remote's, and the remote's task branches are
// refs/remotes/origin/agency/*. Agents of one host share the clone; a lock
// file beside it keeps two of them from cloning or fetching at once.
Result<void> sync_clone(const std::string& address, const std::filesystem::path& clone,
                        const std::string& base_branch);

// Pushes the task's branch from its worktree to origin (a fast-forward: a
// branch someone else moved is refused, never overwritten).
Result<void> push_task_branch(const std::filesystem::path& worktree, std::string_view task_id);

// Commits everything in the worktree with `message` (author agency <agent_id>).
// Returns the new commit id, or "" when there was nothing to commit.
Result<std::string> commit_all(const std::filesystem::path& worktree, const std::string& message,
                               const std::string& agent_id);

// Subject lines of the commits on the branch since base_branch, newest first.
Result<std::vector<std::string>> commits_since(const std::filesystem::path& worktree,
                                               const std::string& base_branch);

}  // namespace agency::git
