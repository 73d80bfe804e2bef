// The adversary acts on qa: it tries to break what the builder committed on
// the task's branch, and runs the project's tests itself. Findings send the
// work back to the builder.
//
// Thread: one call at a time, from the agent's work thread.
#pragma once

#include <string>

#include "runtime/role_logic.hpp"

namespace agency::roles {

class Adversary final : public RoleLogic {
 public:
  [[nodiscard]] std::string name() const override { return "adversary"; }
  // Without a project there is no branch to attack: blocked at once.
  std::optional<Decision> precheck(const RoleContext& ctx, const v1::Brief& brief,
                                   const v1::Task& task) override;
  // The task's worktree (the builder's, reset to its last commit).
  Result<Turn> prepare(const RoleContext& ctx, const v1::Brief& brief,
                       const v1::Task& task) override;
  // pass and tests pass -> review; fail or failing tests -> ready-for-dev
  // with the findings (a bounce); blocked or no verdict -> blocked.
  Result<Decision> finish(const RoleContext& ctx, const Turn& turn,
                          const Outcome& outcome) override;
};

}  // namespace agency::roles
