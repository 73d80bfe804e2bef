// Fuzz target: SKILL.md, runtime/skill.hpp parse_skill. The input is the
// whole file: front matter between --- lines, then the markdown body.
#include "runtime/skill.hpp"
#include "tests/fuzz/fuzz.hpp"

using namespace agency;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto parsed = parse_skill(fuzz::text(data, size), "/fuzz/SKILL.md");
  if (!parsed.ok()) {
    AGENCY_FUZZ_CHECK(parsed.error().code == errc::config,
                      "a skill error that is not errc::config");
    AGENCY_FUZZ_CHECK(!parsed.error().message.empty(), "a skill error without a message");
  } else {
    AGENCY_FUZZ_CHECK(!parsed->name.empty(), "a skill without a name was accepted");
  }
  return 0;
}
