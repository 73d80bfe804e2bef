#include "roles/synthesizer/synthesizer.hpp"

namespace agency::roles {

Result<Turn> Synthesizer::prepare(const RoleContext& /*ctx*/, const v1::Brief& /*brief*/,
                           const v1::Task& /*task*/) {
  return make_error(errc::internal, "synthesizer: not written yet");
}

Result<Decision> Synthesizer::finish(const RoleContext& /*ctx*/, const Turn& /*turn*/,
                              const Outcome& /*outcome*/) {
  return make_error(errc::internal, "synthesizer: not written yet");
}

}  // namespace agency::roles
