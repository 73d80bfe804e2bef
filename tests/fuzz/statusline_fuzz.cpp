// Fuzz target: Claude Code's statusline JSON, which `agency usage
// ingest-statusline` reads on stdin (roles/accountant/usage_command.cpp), parsed by
// roles/accountant/report.hpp parse_statusline; then the line it prints.
#include <chrono>

#include "roles/accountant/report.hpp"
#include "tests/fuzz/fuzz.hpp"

using namespace agency;
using namespace agency::accounting;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Time now{std::chrono::sys_days{std::chrono::year{2026} / 11 / 23} + std::chrono::hours{12}};
  auto parsed = parse_statusline(fuzz::text(data, size), "work", now);
  if (!parsed.ok()) {
    AGENCY_FUZZ_CHECK(!parsed.error().message.empty(), "a statusline error without a message");
    return 0;
  }
  for (const auto& r : parsed->readings) {
    AGENCY_FUZZ_CHECK(r.account == "work" && r.at == now, "a reading lost its account or time");
  }
  (void)statusline_text(*parsed);
  return 0;
}
