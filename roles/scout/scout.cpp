#include "roles/scout/scout.hpp"

namespace agency::roles {

Result<Turn> Scout::prepare(const RoleContext& /*ctx*/, const v1::Brief& /*brief*/,
                           const v1::Task& /*task*/) {
  return make_error(errc::internal, "scout: not written yet");
}

Result<Decision> Scout::finish(const RoleContext& /*ctx*/, const Turn& /*turn*/,
                              const Outcome& /*outcome*/) {
  return make_error(errc::internal, "scout: not written yet");
}

}  // namespace agency::roles
