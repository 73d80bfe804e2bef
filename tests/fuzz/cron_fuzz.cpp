// Fuzz target: cron expressions from agency.yaml dispatcher.schedules[].cron,
// roles/dispatcher/cron.hpp parse_cron; a schedule that parses is then asked
// for its next fire and what is due, in UTC and in a zone with DST.
//
// Input layout: the expression, then optionally a NUL byte and a missed
// policy ("skip", "run_once", anything else).
#include <chrono>
#include <utility>

#include "roles/dispatcher/cron.hpp"
#include "tests/fuzz/fuzz.hpp"

using namespace agency;
using namespace agency::dispatch;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view expression = fuzz::text(data, size);
  std::string_view policy_text = "run_once";
  if (const std::size_t nul = expression.find('\0'); nul != std::string_view::npos) {
    policy_text = expression.substr(nul + 1);
    expression = expression.substr(0, nul);
  }
  auto policy = parse_missed(policy_text, "dispatcher.schedules[0].missed");
  if (!policy.ok())
    AGENCY_FUZZ_CHECK(policy.error().code == errc::config, "missed: not errc::config");

  auto cron = parse_cron(expression, "dispatcher.schedules[0].cron");
  if (!cron.ok()) {
    AGENCY_FUZZ_CHECK(cron.error().code == errc::config, "a cron error that is not errc::config");
    AGENCY_FUZZ_CHECK(!cron.error().message.empty(), "a cron error without a message");
    return 0;
  }
  // 2026-03-29 00:30 UTC: the night Europe/Berlin springs forward.
  const Time after{std::chrono::sys_days{std::chrono::year{2026} / 3 / 29} +
                   std::chrono::minutes{30}};
  for (std::string_view zone : {"UTC", "Europe/Berlin"}) {
    if (auto next = next_fire(*cron, after, zone)) {
      AGENCY_FUZZ_CHECK(*next > after, "next_fire is not after its start");
      AGENCY_FUZZ_CHECK(*next - after <= std::chrono::days{5 * 366 + 1},
                        "next_fire beyond its five-year horizon");
    }
    // Down over the DST change: each fire there is converted, so the window
    // stays short (a fire a minute is 360 conversions). Then six weeks down
    // on days without a change, counted by arithmetic.
    for (const auto& [last, now] :
         {std::pair{after, after + std::chrono::hours{6}},
          std::pair{after + std::chrono::days{2}, after + std::chrono::days{44}}}) {
      const Due d = due(*cron, zone, last, now, policy.ok() ? *policy : Missed::skip);
      if (d.fire) {
        AGENCY_FUZZ_CHECK(*d.fire > last && *d.fire <= now, "due() fire outside (last, now]");
      }
    }
    (void)due(*cron, zone, std::nullopt, after, Missed::skip);
  }
  return 0;
}
