// Reading rate limits out of what engines return: HTTP headers of the
// Anthropic and OpenAI APIs, Claude Code's "usage limit reached|<epoch>"
// text and rate_limit_event. Shared by the engines so each limit is read
// one way everywhere (docs/ENGINES.md, "Rate limits").
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/engine.hpp"
#include "runtime/http.hpp"

namespace agency::limits {

using TimePoint = std::chrono::system_clock::time_point;

// The statuses a reading carries (LimitReading.status in
// schemas/agency/v1/usage.proto): allowed, allowed_warning, rejected. An
// engine's other words are dropped when read (the rest of the reading is
// kept); the accountant refuses a reading that carries one.
bool known_status(std::string_view status);

// "Claude AI usage limit reached|1767225600" -> that time. nullopt when the
// text holds no such mark.
std::optional<TimePoint> usage_limit_reset(std::string_view text);

// Readings from response headers (names in lower case):
//   anthropic-ratelimit-unified-{5h,7d,7d_opus,7d_sonnet}-{utilization,reset},
//   anthropic-ratelimit-unified-status / -reset (subscription windows; the
//   utilization is a fraction 0-1 and becomes percent),
//   anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-
//   {limit,remaining,reset} (RFC 3339 resets),
//   x-ratelimit-{limit,remaining,reset}-{requests,tokens} (OpenAI; resets
//   as durations "6m0s", "1.5s", "20ms").
std::vector<LimitReading> from_headers(const std::map<std::string, std::string>& headers,
                                       TimePoint now);

// When a refused call may be tried again, from the headers: retry-after
// (seconds or an HTTP date), else the latest reset among the windows that
// are exhausted or rejected. nullopt when the headers do not say.
std::optional<TimePoint> retry_at(const std::map<std::string, std::string>& headers, TimePoint now);

// The reading of one Claude Code rate_limit_event's rate_limit_info object
// ({"status":"rejected","resetsAt":1767225600,"rateLimitType":"five_hour",
// "utilization":0.93}). nullopt when it is not such an object.
std::optional<LimitReading> from_rate_limit_info(std::string_view json_object);

// The readings of the subscription usage endpoint's answer (GET
// /api/oauth/usage): {"five_hour": {"utilization": 42.0, "resets_at":
// "2026-11-22T15:00:00Z"}, "seven_day": {...}, "seven_day_opus": null, ...}.
// Windows that are null or absent give none; source "endpoint". nullopt
// when the body is not such an object at all.
std::optional<std::vector<LimitReading>> from_usage_endpoint(std::string_view body);

// The bearer token for the usage endpoint: the first line of `token_file`,
// trailing blanks dropped. Empty when the file is missing or empty.
std::string read_token_file(const std::filesystem::path& token_file);

// Asks the usage endpoint (GET `url`, as Claude Code does: the OAuth beta
// header, 15 s at most). Shared by the accountant and `agency doctor`, so
// the check asks exactly what the accountant will.
Result<http::Response> ask_usage_endpoint(const std::string& url, const std::string& token);

// "6m0s" -> 360 s, "1.5s", "20ms", "1h2m3s"; nullopt when unreadable.
std::optional<std::chrono::milliseconds> parse_go_duration(std::string_view text);

// "2026-11-22T06:13:25Z" (RFC 3339, any offset) -> time; nullopt when
// unreadable.
std::optional<TimePoint> parse_rfc3339(std::string_view text);

}  // namespace agency::limits
