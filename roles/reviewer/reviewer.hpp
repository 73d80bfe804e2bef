// The reviewer acts on review: it checks the work against the spec and the
// brief. It approves (done), sends the work back to the builder, or, when the
// spec itself is wrong, to the planner.
//
// Thread: one call at a time, from the agent's work thread.
#pragma once

#include <string>

#include "runtime/role_logic.hpp"

namespace agency::roles {

class Reviewer final : public RoleLogic {
 public:
  [[nodiscard]] std::string name() const override { return "reviewer"; }
  // The task's worktree when the task has a project, else a scratch dir.
  Result<Turn> prepare(const RoleContext& ctx, const v1::Brief& brief,
                       const v1::Task& task) override;
  // pass -> done; fail -> ready-for-dev (a bounce); blocked with
  // `back_to: ready-for-prep` in the block -> ready-for-prep (a bounce);
  // other blocked or no verdict -> blocked.
  Result<Decision> finish(const RoleContext& ctx, const Turn& turn,
                          const Outcome& outcome) override;
};

}  // namespace agency::roles
