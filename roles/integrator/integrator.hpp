// The integrator acts on ready-to-land: the merge queue. It lands one task
// of a project at a time (the project's lock in agency-memory), highest
// priority first, then oldest (its priority queues): in a clean worktree it
// brings the task's branch onto the default branch, runs the project's
// test command on the result, and only when they pass moves the default
// branch (landing merge), pushes it (push), or opens a pull request (pr).
// A conflict or red tests send the task back to ready-for-dev with the
// conflicting files or the test output as findings.
//
// It runs no engine: its precheck decides every brief (land.hpp does the
// git). Thread: one call at a time, from the agent's work thread.
#pragma once

#include <string>

#include "runtime/role_logic.hpp"

namespace agency::roles {

class Integrator final : public EnginelessRole {
 public:
  [[nodiscard]] std::string name() const override { return "integrator"; }
  std::optional<Decision> precheck(const RoleContext& ctx, const v1::Brief& brief,
                                   const v1::Task& task) override;
};

// The agency-memory key of a project's landing lock.
std::string landing_lock_key(std::string_view project);

}  // namespace agency::roles
