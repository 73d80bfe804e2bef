// Fuzz target: the engine answer block (docs/OUTCOME.md), runtime/engine.hpp
// parse_outcome_block. The input is an engine's whole answer.
#include "runtime/engine.hpp"
#include "tests/fuzz/fuzz.hpp"

using namespace agency;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view answer = fuzz::text(data, size);
  auto parsed = parse_outcome_block(answer);
  if (!parsed.ok()) {
    AGENCY_FUZZ_CHECK(parsed.error().code == errc::bad_payload,
                      "a malformed block that is not errc::bad_payload");
    AGENCY_FUZZ_CHECK(!parsed.error().message.empty(), "a malformed block without a message");
    // A block needs its opening fence; an answer without one has no block.
    AGENCY_FUZZ_CHECK(answer.find("```agency") != std::string_view::npos,
                      "an answer without a ```agency fence is called malformed");
  } else if (parsed->has_value()) {
    const std::string& verdict = (*parsed)->verdict;
    AGENCY_FUZZ_CHECK(verdict == "pass" || verdict == "fail" || verdict == "blocked",
                      "a block was accepted with a verdict other than pass, fail or blocked");
  }
  return 0;
}
