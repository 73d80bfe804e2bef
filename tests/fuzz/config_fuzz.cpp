// Fuzz target: agency.yaml, runtime/config.hpp config::parse. The input is
// the whole file. Bad YAML or a bad value must come back as an errc::config
// error with a message, never an exception, a crash or UB.
#include "runtime/config.hpp"
#include "tests/fuzz/fuzz.hpp"

using namespace agency;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parsed = config::parse(fuzz::text(data, size), "/fuzz/agency.yaml");
  if (!parsed.ok()) {
    AGENCY_FUZZ_CHECK(parsed.error().code == errc::config,
                      "a config error that is not errc::config");
    AGENCY_FUZZ_CHECK(!parsed.error().message.empty(), "a config error without a message");
  }
  return 0;
}
