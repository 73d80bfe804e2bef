// The generic role: a role without code of its own, driven by its SKILL.md
// alone (`agency-role --skill PATH`). Its name is the skill's name; its
// front matter says where the task goes next:
//
//   next: review        # after verdict pass (default: done)
//   on_fail: blocked    # after verdict fail (default: blocked)
//
// Thread: one call at a time, from the agent's work thread.
#pragma once

#include <memory>
#include <string>

#include "runtime/role_logic.hpp"

namespace agency::roles {

class GenericRole final : public RoleLogic {
 public:
  // Checks that next and on_fail name stages (errc::config otherwise).
  static Result<std::unique_ptr<GenericRole>> from_skill(Skill skill);

  [[nodiscard]] std::string name() const override { return skill_.name; }
  [[nodiscard]] const std::string& next_stage() const { return next_; }
  [[nodiscard]] const std::string& fail_stage() const { return on_fail_; }

  // A scratch dir (<work_dir>/scratch/<task-id>), and the project's
  // repository named in the prompt when there is one.
  Result<Turn> prepare(const RoleContext& ctx, const v1::Brief& brief,
                       const v1::Task& task) override;
  // pass -> next; fail -> on_fail (a bounce when that is a stage someone is
  // briefed for); blocked or no verdict -> blocked.
  Result<Decision> finish(const RoleContext& ctx, const Turn& turn,
                          const Outcome& outcome) override;

 private:
  GenericRole(Skill skill, std::string next, std::string on_fail)
      : skill_(std::move(skill)), next_(std::move(next)), on_fail_(std::move(on_fail)) {}

  Skill skill_;
  std::string next_;
  std::string on_fail_;
};

// The value of `--skill PATH` or `--skill=PATH` in argv, "" when absent.
std::string skill_argument(int argc, char** argv);

}  // namespace agency::roles
