#include "bus/errc.hpp"

#include <string>

#include "bus/result.hpp"

namespace agency {

std::string_view to_string(errc code) {
  switch (code) {
    case errc::internal:
      return "internal";
    case errc::config:
      return "config";
    case errc::connect:
      return "connect";
    case errc::not_connected:
      return "not-connected";
    case errc::timeout:
      return "timeout";
    case errc::no_responders:
      return "no-responders";
    case errc::bad_payload:
      return "bad-payload";
    case errc::not_found:
      return "not-found";
    case errc::wrong_revision:
      return "wrong-revision";
    case errc::already_exists:
      return "already-exists";
    case errc::jetstream:
      return "jetstream";
    case errc::io:
      return "io";
    case errc::refused:
      return "refused";
  }
  return "unknown";
}

std::string Error::describe() const { return std::string(to_string(code)) + ": " + message; }

}  // namespace agency
