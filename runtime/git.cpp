#include "runtime/git.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <optional>
#include <system_error>

#include "runtime/process.hpp"

extern char** environ;

namespace agency::git {
namespace {

namespace fs = std::filesystem;

// Output beyond this is cut from the front: the end of a test run is what
// says why it failed.
constexpr std::size_t kMaxOutput = 4U << 20U;

using EnvChanges = std::vector<std::pair<std::string, std::optional<std::string>>>;

// Our environment with `changes` applied (nullopt removes the variable).
std::vector<std::string> make_environment(const EnvChanges& changes) {
  std::map<std::string, std::string> vars;
  std::vector<std::string> order;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry(*e);
    auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    auto name = entry.substr(0, eq);
    if (vars.emplace(name, entry.substr(eq + 1)).second) order.push_back(name);
  }
  for (const auto& [name, value] : changes) {
    if (!value) {
      vars.erase(name);
    } else if (vars.insert_or_assign(name, *value).second) {
      order.push_back(name);
    }
  }
  std::vector<std::string> out;
  for (const auto& name : order) {
    auto it = vars.find(name);
    if (it == vars.end()) continue;
    out.push_back(name + "=" + it->second);
    vars.erase(it);  // a name removed and set again is listed twice in `order`
  }
  return out;
}

CommandResult run_command(const std::vector<std::string>& argv, const fs::path& dir,
                          std::chrono::seconds timeout, const EnvChanges& env) {
  CommandResult result;
  if (argv.empty() || argv.front().empty()) {
    result.exit_code = 127;
    result.output = "no command to run";
    return result;
  }
  ProcessSpec spec;
  spec.argv = argv;
  spec.env = make_environment(env);
  spec.workdir = dir;
  spec.deadline = std::chrono::steady_clock::now() + timeout;
  spec.merge_stderr = true;
  spec.max_output = kMaxOutput;
  spec.keep_tail = true;
  const std::atomic<bool> never{false};
  auto ran = run_process(spec, {}, never);
  if (!ran) {
    result.exit_code = 127;
    result.output = ran.error().message;
    return result;
  }
  result.output = std::move(ran->stdout_text);
  if (ran->output_cut) result.output.insert(0, "[... earlier output cut ...]\n");
  if (ran->end == ProcessEnd::timeout) {
    result.exit_code = -1;
    result.output +=
        "\n[agency: stopped after " + std::to_string(timeout.count()) + " s, the time limit]";
  } else if (ran->exit_code() >= 0) {
    result.exit_code = ran->exit_code();
  } else {
    result.exit_code = -1;
    result.output += "\n[agency: killed by " + signal_name(WTERMSIG(ran->status)) + "]";
  }
  return result;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  std::size_t start = 0;
  while (start < s.size() && (s[start] == '\n' || s[start] == ' ')) ++start;
  return s.substr(start);
}

// git as a person would run it in `dir`, never prompting, and not steered by
// GIT_DIR & co. that a calling git hook may have set.
CommandResult run_git(const fs::path& dir, std::vector<std::string> args,
                      std::chrono::seconds timeout = std::chrono::seconds(120)) {
  args.insert(args.begin(), "git");
  EnvChanges env = {{"GIT_TERMINAL_PROMPT", "0"},     {"GIT_DIR", std::nullopt},
                    {"GIT_WORK_TREE", std::nullopt},  {"GIT_INDEX_FILE", std::nullopt},
                    {"GIT_COMMON_DIR", std::nullopt}, {"GIT_PREFIX", std::nullopt}};
  return run_command(args, dir, timeout, env);
}

std::string describe_args(const std::vector<std::string>& args) {
  std::string out = "git";
  for (const auto& a : args) out += " " + a;
  return out;
}

// An error that quotes git: "git worktree add ... failed (exit 128): fatal: ...".
Error git_error(const fs::path& dir, const std::vector<std::string>& args, const CommandResult& r) {
  std::string msg = describe_args(args) + " in " + dir.string() + " failed";
  msg += r.exit_code == -1 ? std::string(" (did not finish)")
                           : " (exit " + std::to_string(r.exit_code) + ")";
  auto said = trim(r.output);
  if (!said.empty()) msg += ": " + said;
  return make_error(errc::io, msg);
}

Result<std::string> git_ok(const fs::path& dir, const std::vector<std::string>& args) {
  auto r = run_git(dir, args);
  if (r.exit_code != 0) return git_error(dir, args, r);
  return std::move(r.output);
}

fs::path canonical_or_same(const fs::path& p) {
  std::error_code ec;
  auto c = fs::weakly_canonical(p, ec);
  return ec ? p : c;
}

bool is_task_token(std::string_view id) {
  if (id.empty() || id == "." || id == ".." || id.front() == '-' || id.front() == '.') {
    return false;
  }
  return std::all_of(id.begin(), id.end(),
                     [](unsigned char c) {
                       return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
                     }) &&
         id.find("..") == std::string_view::npos;
}

// True when `dir` is a working tree of the repository whose common git dir
// is `common_dir`, at its top level.
bool is_worktree_of(const fs::path& dir, const fs::path& common_dir) {
  auto top = run_git(dir, {"rev-parse", "--show-toplevel"});
  if (top.exit_code != 0) return false;
  if (canonical_or_same(trim(top.output)) != canonical_or_same(dir)) return false;
  auto common = run_git(dir, {"rev-parse", "--path-format=absolute", "--git-common-dir"});
  if (common.exit_code != 0) return false;
  return canonical_or_same(trim(common.output)) == common_dir;
}

}  // namespace

CommandResult run(const std::vector<std::string>& argv, const fs::path& dir,
                  std::chrono::seconds timeout,
                  const std::vector<std::pair<std::string, std::string>>& env) {
  EnvChanges changes;
  for (const auto& [k, v] : env) changes.emplace_back(k, v);
  return run_command(argv, dir, timeout, changes);
}

CommandResult run_shell(const std::string& command, const fs::path& dir,
                        std::chrono::seconds timeout) {
  return run_command({"/bin/sh", "-c", command}, dir, timeout, {});
}

std::vector<std::pair<std::string, std::string>> identity_env(std::string_view who) {
  const std::string email = std::string(who) + "@agency.local";
  return {{"GIT_AUTHOR_NAME", "agency"},
          {"GIT_AUTHOR_EMAIL", email},
          {"GIT_COMMITTER_NAME", "agency"},
          {"GIT_COMMITTER_EMAIL", email}};
}

std::vector<std::string> output_lines(std::string_view output) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < output.size()) {
    auto end = output.find('\n', start);
    if (end == std::string_view::npos) end = output.size();
    std::string line = trim(std::string(output.substr(start, end - start)));
    if (!line.empty()) out.push_back(std::move(line));
    start = end + 1;
  }
  return out;
}

std::vector<std::string> conflicted_files(const fs::path& worktree) {
  auto r = run({"git", "diff", "--name-only", "--diff-filter=U"}, worktree);
  return r.exit_code == 0 ? output_lines(r.output) : std::vector<std::string>{};
}

std::string branch_for(std::string_view task_id) { return "agency/" + std::string(task_id); }

Result<fs::path> prepare_worktree(const fs::path& repo, const std::string& base_branch,
                                  const fs::path& worktrees_dir, std::string_view task_id,
                                  bool follow_origin) {
  if (!is_task_token(task_id)) {
    return make_error(errc::bad_payload,
                      "task id '" + std::string(task_id) +
                          "' cannot name a branch and a folder: use letters, digits, '-', '_'");
  }
  std::error_code ec;
  if (!fs::is_directory(repo, ec)) {
    return make_error(errc::config, "project repository " + repo.string() +
                                        " does not exist (repo: in agency.yaml)");
  }
  auto common = run_git(repo, {"rev-parse", "--path-format=absolute", "--git-common-dir"});
  if (common.exit_code != 0) {
    return make_error(errc::config, "project repository " + repo.string() +
                                        " is not a git repository: " + trim(common.output));
  }
  const fs::path common_dir = canonical_or_same(trim(common.output));

  fs::create_directories(worktrees_dir, ec);
  if (ec) {
    return make_error(errc::io, "cannot create " + worktrees_dir.string() + ": " + ec.message());
  }
  const fs::path dir = canonical_or_same(fs::absolute(worktrees_dir) / std::string(task_id));
  const std::string branch = branch_for(task_id);

  // Registrations whose folder is gone (removed by hand, a wiped state dir)
  // would make `worktree add` refuse the branch.
  if (auto r = git_ok(repo, {"worktree", "prune"}); !r) return r.error();

  // The branch as the remote has it, when this is a clone that follows one.
  std::string pushed;
  if (follow_origin) {
    auto r = run_git(
        repo, {"rev-parse", "--verify", "--quiet", "refs/remotes/origin/" + branch + "^{commit}"});
    if (r.exit_code == 0) pushed = trim(r.output);
  }
  // In the worktree: the local branch moves to the pushed one unless it
  // contains it already.
  auto catch_up = [&](const fs::path& wt) -> Result<fs::path> {
    if (pushed.empty()) return wt;
    if (run_git(wt, {"merge-base", "--is-ancestor", pushed, "HEAD"}).exit_code == 0) return wt;
    if (auto r = git_ok(wt, {"reset", "--hard", "--quiet", pushed}); !r) return r.error();
    return wt;
  };

  if (fs::exists(dir, ec)) {
    if (!is_worktree_of(dir, common_dir)) {
      // Left by an interrupted `worktree add`, or not ours at all: the folder
      // under our work dir belongs to this task, so it is rebuilt.
      fs::remove_all(dir, ec);
      if (ec) {
        return make_error(errc::io, dir.string() + " is not a worktree of " + repo.string() +
                                        " and cannot be removed: " + ec.message());
      }
      if (auto r = git_ok(repo, {"worktree", "prune"}); !r) return r.error();
    } else {
      // Reused: whatever an interrupted run left uncommitted goes, so the
      // work starts again from the last commit.
      if (auto r = git_ok(dir, {"reset", "--hard", "--quiet"}); !r) return r.error();
      if (auto r = git_ok(dir, {"clean", "-fdxq"}); !r) return r.error();
      auto head = run_git(dir, {"symbolic-ref", "--quiet", "--short", "HEAD"});
      if (head.exit_code != 0 || trim(head.output) != branch) {
        if (auto r = git_ok(dir, {"checkout", "--quiet", branch}); !r) return r.error();
      }
      return catch_up(dir);
    }
  }

  auto exists = run_git(repo, {"rev-parse", "--verify", "--quiet", "refs/heads/" + branch});
  if (exists.exit_code == 0) {
    if (auto r = git_ok(repo, {"worktree", "add", "--quiet", dir.string(), branch}); !r) {
      return r.error();
    }
    return catch_up(dir);
  }
  if (!pushed.empty()) {
    if (auto r = git_ok(repo, {"worktree", "add", "--quiet", "-B", branch, dir.string(), pushed});
        !r) {
      return r.error();
    }
    return dir;
  }
  auto base = run_git(repo, {"rev-parse", "--verify", "--quiet", base_branch + "^{commit}"});
  if (base.exit_code != 0) {
    return make_error(errc::config, "project repository " + repo.string() + " has no branch '" +
                                        base_branch +
                                        "' to start from (default_branch in agency.yaml)");
  }
  if (auto r =
          git_ok(repo, {"worktree", "add", "--quiet", "-B", branch, dir.string(), base_branch});
      !r) {
    return r.error();
  }
  return dir;
}

bool is_clone_address(std::string_view remote) {
  if (remote.starts_with("/") || remote.starts_with("./") || remote.starts_with("../")) {
    return true;
  }
  // A remote's name is a ref name component: never a ':'.
  return remote.find(':') != std::string_view::npos;
}

namespace {

// An flock held for one clone's cloning or fetching, released when it goes.
class CloneLock {
 public:
  explicit CloneLock(const fs::path& file)
      : fd_(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~CloneLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  CloneLock(const CloneLock&) = delete;
  CloneLock& operator=(const CloneLock&) = delete;
  [[nodiscard]] bool held() const { return fd_ >= 0; }

 private:
  int fd_;
};

}  // namespace

Result<void> sync_clone(const std::string& address, const fs::path& clone,
                        const std::string& base_branch) {
  std::error_code ec;
  fs::create_directories(clone.parent_path(), ec);
  if (ec) {
    return make_error(errc::io,
                      "cannot create " + clone.parent_path().string() + ": " + ec.message());
  }
  fs::path lock_file = clone;
  lock_file += ".lock";
  CloneLock lock(lock_file);
  if (!lock.held()) return make_error(errc::io, "cannot lock " + lock_file.string());
  if (!fs::exists(clone / "HEAD", ec)) {
    // Made aside and moved in whole, so a clone cut short is never taken
    // for one.
    fs::path partial = clone;
    partial += ".partial";
    fs::remove_all(partial, ec);
    const std::vector<std::string> args = {"clone", "--bare", "--quiet",
                                           "--",    address,  partial.string()};
    auto r = run_git(clone.parent_path(), args, std::chrono::seconds(600));
    if (r.exit_code != 0) {
      fs::remove_all(partial, ec);
      return make_error(errc::io, "cannot clone the project's remote " + address + ": " +
                                      trim(r.output) + " (remote: in agency.yaml)");
    }
    fs::remove_all(clone, ec);
    fs::rename(partial, clone, ec);
    if (ec) {
      return make_error(errc::io,
                        "cannot move the clone to " + clone.string() + ": " + ec.message());
    }
  }
  const std::vector<std::string> args = {
      "fetch",
      "--quiet",
      "--prune",
      "origin",
      "+refs/heads/" + base_branch + ":refs/heads/" + base_branch,
      "+refs/heads/agency/*:refs/remotes/origin/agency/*"};
  auto r = run_git(clone, args, std::chrono::seconds(600));
  if (r.exit_code != 0) return git_error(clone, args, r);
  return {};
}

Result<void> push_task_branch(const fs::path& worktree, std::string_view task_id) {
  const std::string branch = branch_for(task_id);
  const std::vector<std::string> args = {"push", "--quiet", "origin",
                                         branch + ":refs/heads/" + branch};
  auto r = run_git(worktree, args, std::chrono::seconds(600));
  if (r.exit_code != 0) return git_error(worktree, args, r);
  return {};
}

Result<std::string> commit_all(const fs::path& worktree, const std::string& message,
                               const std::string& agent_id) {
  if (auto r = git_ok(worktree, {"add", "-A"}); !r) return r.error();
  auto staged = run_git(worktree, {"diff", "--cached", "--quiet"});
  if (staged.exit_code == 0) return std::string();
  if (staged.exit_code != 1) {
    return git_error(worktree, {"diff", "--cached", "--quiet"}, staged);
  }
  // The address names the agent; the machine may have no git identity at all.
  std::string local;
  for (char c : agent_id) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.';
    local += plain ? c : '-';
  }
  if (local.empty()) local = "agent";
  std::vector<std::string> args = {
      "-c", "user.name=agency", "-c", "user.email=" + local + "@agency.local",
      // An agent has no signing key.
      "-c", "commit.gpgsign=false", "commit", "--quiet", "-m", message};
  if (auto r = git_ok(worktree, args); !r) return r.error();
  auto head = git_ok(worktree, {"rev-parse", "HEAD"});
  if (!head) return head.error();
  return trim(*head);
}

Result<std::vector<std::string>> commits_since(const fs::path& worktree,
                                               const std::string& base_branch) {
  auto out = git_ok(worktree, {"log", "--format=%s", base_branch + "..HEAD"});
  if (!out) return out.error();
  std::vector<std::string> subjects;
  std::size_t start = 0;
  const std::string& text = *out;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) subjects.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return subjects;
}

}  // namespace agency::git
