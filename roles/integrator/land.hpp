// Landing one task branch on a project's default branch, with the real
// `git` and no NATS: the integrator (integrator.hpp) decides what the
// outcome means for the task.
//
// The default branch moves only by a compare-and-set from the commit the
// landing started from to the tested result (`git update-ref NEW OLD`, or a
// fast-forward of the worktree that has it checked out, or a push without
// force): a crash at any point leaves it at the old or the new commit, and
// a replay finds the branch landed already.
//
// Thread: any; two landings of one repository must not run at once (the
// integrator holds the project's lock).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace agency::land {

struct Request {
  std::filesystem::path repo;       // the project's repository
  std::string default_branch;       // where the work lands (main)
  std::string branch;               // the task's branch (agency/<task-id>)
  std::string mode = "merge";       // merge | push | pr
  std::string land_with = "merge";  // merge | rebase
  std::string remote = "origin";    // for push and pr
  // Where the task branch's tip is read; empty: refs/heads/<branch>. A clone
  // of a project worked from its remote reads the pushed branch
  // (refs/remotes/origin/<branch>), which is on the remote already.
  std::string tip_ref;
  std::string test_command;       // run on the result; empty: none
  std::filesystem::path workdir;  // the clean worktree's place (recreated)
  std::string message;            // the merge commit's message
  std::string title;              // the pull request's (mode pr)
  std::string body;
};

enum class Kind {
  landed,          // the default branch is at `commit`
  already_landed,  // the branch was in the default branch before (a replay)
  pr_opened,       // mode pr: `report` holds what gh printed (the URL)
  conflict,        // `conflicts` names the files; nothing moved
  tests_failed,    // the tests failed on the merged result; nothing moved
  retry,           // nothing moved; try again later (`report` says why)
  refused,         // cannot be landed as configured (`report` says why)
};

struct Outcome {
  Kind kind = Kind::refused;
  std::string base;    // the default branch's commit the landing started from
  std::string commit;  // landed, already_landed: the default branch's commit
  std::vector<std::string> conflicts;
  std::string report;  // test output, gh's answer, or why
};

Outcome land(const Request& request);

// The name of a kind, for logs and tests.
const char* to_string(Kind kind);

}  // namespace agency::land
