#include "roles/sweeper/sweeper.hpp"

namespace agency::roles {

Result<Turn> Sweeper::prepare(const RoleContext& /*ctx*/, const v1::Brief& /*brief*/,
                           const v1::Task& /*task*/) {
  return make_error(errc::internal, "sweeper: not written yet");
}

Result<Decision> Sweeper::finish(const RoleContext& /*ctx*/, const Turn& /*turn*/,
                              const Outcome& /*outcome*/) {
  return make_error(errc::internal, "sweeper: not written yet");
}

}  // namespace agency::roles
