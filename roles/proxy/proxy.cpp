#include "roles/proxy/proxy.hpp"

namespace agency::roles {

Result<Turn> Proxy::prepare(const RoleContext& /*ctx*/, const v1::Brief& /*brief*/,
                           const v1::Task& /*task*/) {
  return make_error(errc::internal, "proxy: not written yet");
}

Result<Decision> Proxy::finish(const RoleContext& /*ctx*/, const Turn& /*turn*/,
                              const Outcome& /*outcome*/) {
  return make_error(errc::internal, "proxy: not written yet");
}

}  // namespace agency::roles
