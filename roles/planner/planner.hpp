// The planner acts on ready-for-prep: it reads the brief (and the project's
// code, read-only) and writes the concrete spec the builder implements.
//
// Thread: one call at a time, from the agent's work thread.
#pragma once

#include <string>

#include "runtime/role_logic.hpp"

namespace agency::roles {

class Planner final : public RoleLogic {
 public:
  [[nodiscard]] std::string name() const override { return "planner"; }
  // Works in a scratch dir (<work_dir>/scratch/<task-id>); the repository's
  // path is in the prompt, to read, not to change.
  Result<Turn> prepare(const RoleContext& ctx, const v1::Brief& brief,
                       const v1::Task& task) override;
  // pass -> ready-for-dev with the spec (the block's spec, else the answer);
  // pass with `tasks:` -> split: the task becomes the epic of those
  // sub-tasks (runtime/epics.hpp), or blocked when their dependencies
  // dangle or form a cycle; fail, blocked or no verdict -> blocked.
  Result<Decision> finish(const RoleContext& ctx, const Turn& turn,
                          const Outcome& outcome) override;
};

}  // namespace agency::roles
