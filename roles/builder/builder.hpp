// The builder acts on ready-for-dev: it implements the spec on branch
// agency/<task-id> in the task's own git worktree, commits, and runs the
// project's tests before the work goes to qa.
//
// Thread: one call at a time, from the agent's work thread.
#pragma once

#include <string>
#include <string_view>

#include "runtime/role_logic.hpp"

namespace agency::roles {

class Builder final : public RoleLogic {
 public:
  [[nodiscard]] std::string name() const override { return "builder"; }
  // A brief without a known project has no repository to work in: blocked
  // before any engine runs.
  std::optional<Decision> precheck(const RoleContext& ctx, const v1::Brief& brief,
                                   const v1::Task& task) override;
  // The task's worktree, reset to its last commit. When that commit already
  // names this task and attempt (a crash after the commit), the turn's env
  // says so: AGENCY_ALREADY_COMMITTED=<sha>. The runtime still runs the
  // engine; finish() then discards what it changed and keeps the commit.
  Result<Turn> prepare(const RoleContext& ctx, const v1::Brief& brief,
                       const v1::Task& task) override;
  // pass -> commit, run the tests -> qa; failing tests -> ready-for-dev
  // again (a bounce); nothing changed, fail, blocked -> blocked.
  Result<Decision> finish(const RoleContext& ctx, const Turn& turn,
                          const Outcome& outcome) override;
};

// "agency: <title> (task <id>, attempt <n>)": the message of the builder's
// commit. Its tail identifies the attempt, which makes the commit idempotent.
std::string commit_message(const v1::Task& task, std::string_view task_id, std::uint32_t attempt);
std::string commit_marker(std::string_view task_id, std::uint32_t attempt);

}  // namespace agency::roles
