// Skeleton: being written.
#pragma once

#include "agents/role.hpp"

namespace agency::roles {

class Sweeper final : public RoleLogic {
 public:
  [[nodiscard]] std::string name() const override { return "sweeper"; }
  Result<Turn> prepare(const RoleContext& ctx, const v1::Brief& brief,
                       const v1::Task& task) override;
  Result<Decision> finish(const RoleContext& ctx, const Turn& turn,
                          const Outcome& outcome) override;
};

}  // namespace agency::roles
