// Reading rate limits: headers, Claude Code's texts and events, durations
// and dates.
#include "runtime/limits.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <string>

namespace agency {
namespace {

using namespace std::chrono_literals;
using limits::TimePoint;

const TimePoint kNow = TimePoint(std::chrono::seconds(1'795'000'000));

std::int64_t epoch(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

TEST_CASE("limits: usage limit reached text gives the reset time after the bar") {
  auto at = limits::usage_limit_reset("Claude AI usage limit reached|1795003600");
  REQUIRE(at.has_value());
  CHECK(epoch(*at) == 1'795'003'600);
  CHECK_FALSE(limits::usage_limit_reset("API Error: 500").has_value());
  CHECK_FALSE(limits::usage_limit_reset("usage limit reached|soon").has_value());
}

TEST_CASE("limits: a time past what a time point holds is no time, not an overflow") {
  // Found by tests/fuzz (transcripts): year 9999 overflowed nanoseconds.
  CHECK_FALSE(limits::parse_rfc3339("9999-12-31T23:59:59Z").has_value());
  CHECK_FALSE(limits::usage_limit_reset("usage limit reached|99999999999").has_value());
  auto last = limits::parse_rfc3339("2262-01-01T00:00:00Z");
  REQUIRE(last.has_value());
  CHECK(epoch(*last) == 9'214'646'400);
}

TEST_CASE("limits: Go durations as OpenAI sends them") {
  CHECK(limits::parse_go_duration("6m0s") == std::chrono::milliseconds(360'000));
  CHECK(limits::parse_go_duration("1.5s") == std::chrono::milliseconds(1500));
  CHECK(limits::parse_go_duration("20ms") == std::chrono::milliseconds(20));
  CHECK(limits::parse_go_duration("1h2m3s") == std::chrono::milliseconds(3'723'000));
  CHECK_FALSE(limits::parse_go_duration("").has_value());
  CHECK_FALSE(limits::parse_go_duration("soon").has_value());
  CHECK_FALSE(limits::parse_go_duration("5d").has_value());
}

TEST_CASE("limits: RFC 3339 times with zones and fractions") {
  auto z = limits::parse_rfc3339("2026-11-22T06:13:25Z");
  REQUIRE(z.has_value());
  CHECK(epoch(*z) == 1'795'328'005);
  auto offset = limits::parse_rfc3339("2026-11-22T07:13:25+01:00");
  REQUIRE(offset.has_value());
  CHECK(*offset == *z);
  auto fraction = limits::parse_rfc3339("2026-11-22T06:13:25.500Z");
  REQUIRE(fraction.has_value());
  CHECK(*fraction - *z == 500ms);
  CHECK_FALSE(limits::parse_rfc3339("2026-11-22 garbage").has_value());
  CHECK_FALSE(limits::parse_rfc3339("2026-11-22T06:13:25").has_value());
}

TEST_CASE("limits: subscription windows from anthropic unified headers, in percent") {
  std::map<std::string, std::string> h = {
      {"anthropic-ratelimit-unified-status", "allowed_warning"},
      {"anthropic-ratelimit-unified-5h-utilization", "0.92"},
      {"anthropic-ratelimit-unified-5h-reset", "1795003600"},
      {"anthropic-ratelimit-unified-7d-utilization", "0.4"},
      {"anthropic-ratelimit-unified-7d-reset", "1795300000"},
  };
  auto readings = limits::from_headers(h, kNow);
  REQUIRE(readings.size() == 2);
  CHECK(readings[0].window == "five_hour");
  CHECK(readings[0].utilization == doctest::Approx(92.0));
  REQUIRE(readings[0].resets_at.has_value());
  CHECK(epoch(*readings[0].resets_at) == 1'795'003'600);
  CHECK(readings[0].source == "headers");
  CHECK(readings[1].window == "seven_day");
  CHECK(readings[1].utilization == doctest::Approx(40.0));
  // Nothing is exhausted: the headers give no time to retry at.
  CHECK_FALSE(limits::retry_at(h, kNow).has_value());
}

TEST_CASE("limits: API limits from anthropic and OpenAI headers") {
  std::map<std::string, std::string> h = {
      {"anthropic-ratelimit-requests-limit", "50"},
      {"anthropic-ratelimit-requests-remaining", "0"},
      {"anthropic-ratelimit-requests-reset", "2026-11-22T06:13:25Z"},
      {"x-ratelimit-limit-tokens", "1000"},
      {"x-ratelimit-remaining-tokens", "250"},
      {"x-ratelimit-reset-tokens", "6m0s"},
  };
  auto readings = limits::from_headers(h, kNow);
  REQUIRE(readings.size() == 2);
  CHECK(readings[0].window == "requests");
  CHECK(readings[0].remaining == 0);
  CHECK(readings[0].utilization == doctest::Approx(100.0));
  CHECK(readings[1].window == "tokens");
  CHECK(readings[1].limit == 1000);
  CHECK(readings[1].utilization == doctest::Approx(75.0));
  REQUIRE(readings[1].resets_at.has_value());
  CHECK(*readings[1].resets_at - kNow == 360s);
  // The exhausted window decides when to retry.
  auto at = limits::retry_at(h, kNow);
  REQUIRE(at.has_value());
  CHECK(epoch(*at) == 1'795'328'005);
}

TEST_CASE("limits: retry-after wins, in seconds or as an HTTP date") {
  CHECK(limits::retry_at({{"retry-after", "30"}}, kNow) == kNow + 30s);
  auto date = limits::retry_at({{"retry-after", "Sun, 22 Nov 2026 06:13:25 GMT"}}, kNow);
  REQUIRE(date.has_value());
  CHECK(epoch(*date) == 1'795'328'005);
  CHECK_FALSE(limits::retry_at({{"retry-after", "later"}}, kNow).has_value());
  CHECK_FALSE(limits::retry_at({}, kNow).has_value());
}

TEST_CASE("limits: odd figures become readings the ledger accepts (0-100 %, -1 unknown)") {
  auto readings = limits::from_headers({{"anthropic-ratelimit-unified-5h-utilization", "130"},
                                        {"anthropic-ratelimit-unified-7d-utilization", "nan"},
                                        {"anthropic-ratelimit-unified-7d_opus-utilization", "-3"},
                                        {"anthropic-ratelimit-requests-limit", "-50"},
                                        {"anthropic-ratelimit-requests-remaining", "10"},
                                        {"x-ratelimit-limit-tokens", "100"},
                                        {"x-ratelimit-remaining-tokens", "250"}},
                                       kNow);
  REQUIRE(readings.size() == 5);
  CHECK(readings[0].utilization == 100.0);  // an overrun is the whole window
  CHECK(readings[1].utilization == -1);
  CHECK(readings[2].utilization == -1);
  CHECK(readings[3].window == "requests");
  CHECK(readings[3].limit == -1);
  CHECK(readings[3].remaining == 10);
  CHECK(readings[3].utilization == -1);
  CHECK(readings[4].window == "tokens");
  CHECK(readings[4].utilization == 0.0);  // more left than the limit: nothing used
  auto info = limits::from_rate_limit_info(R"({"rateLimitType":"five_hour","utilization":3.5})");
  REQUIRE(info.has_value());
  CHECK(info->utilization == 3.5);
  auto over = limits::from_usage_endpoint(R"({"five_hour": {"utilization": 130}})");
  REQUIRE(over.has_value());
  REQUIRE(over->size() == 1);
  CHECK((*over)[0].utilization == 100.0);
}

TEST_CASE("limits: Claude Code rate_limit_event info") {
  auto r = limits::from_rate_limit_info(
      R"({"status":"rejected","resetsAt":1795003600,"rateLimitType":"five_hour","utilization":0.97})");
  REQUIRE(r.has_value());
  CHECK(r->status == "rejected");
  CHECK(r->window == "five_hour");
  CHECK(r->utilization == doctest::Approx(97.0));
  REQUIRE(r->resets_at.has_value());
  CHECK(epoch(*r->resets_at) == 1'795'003'600);
  CHECK(r->source == "rate_limit_event");
  CHECK_FALSE(limits::from_rate_limit_info("not json").has_value());
  CHECK_FALSE(limits::from_rate_limit_info(R"({"other":1})").has_value());
}

}  // namespace
}  // namespace agency

TEST_CASE("limits: the usage endpoint's answer") {
  auto readings = agency::limits::from_usage_endpoint(
      R"({"five_hour": {"utilization": 42.5, "resets_at": "2026-11-22T15:00:00Z"},
          "seven_day": {"utilization": 18, "resets_at": null},
          "seven_day_opus": null,
          "seven_day_sonnet": {"utilization": 3.0, "resets_at": "2026-11-26T09:00:00+01:00"}})");
  REQUIRE(readings.has_value());
  REQUIRE(readings->size() == 3);
  CHECK((*readings)[0].window == "five_hour");
  CHECK((*readings)[0].utilization == doctest::Approx(42.5));
  REQUIRE((*readings)[0].resets_at.has_value());
  CHECK(
      std::chrono::duration_cast<std::chrono::seconds>((*readings)[0].resets_at->time_since_epoch())
          .count() == 1795359600);
  CHECK((*readings)[0].source == "endpoint");
  CHECK((*readings)[1].window == "seven_day");
  CHECK_FALSE((*readings)[1].resets_at.has_value());
  CHECK((*readings)[2].window == "seven_day_sonnet");
  REQUIRE((*readings)[2].resets_at.has_value());
  CHECK(
      std::chrono::duration_cast<std::chrono::seconds>((*readings)[2].resets_at->time_since_epoch())
          .count() == 1795680000);
  CHECK_FALSE(agency::limits::from_usage_endpoint("<html>login</html>").has_value());
  CHECK_FALSE(agency::limits::from_usage_endpoint(R"({"error": "unauthorized"})").has_value());
}
