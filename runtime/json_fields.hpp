// Reading fields of JSON the engines get back (Claude Code's stream, codex's
// and gemini's events, the HTTP APIs' answers): formats change between
// versions, so a missing or mistyped field reads as empty, never throws.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace agency {

// The string at `key` of an object; "" when absent or not a string.
inline std::string json_text(const nlohmann::json& j, std::string_view key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A count (tokens, a status code) at `key`: a missing, negative or
// non-numeric field is 0; a fraction is cut.
inline std::int64_t json_count(const nlohmann::json& j, std::string_view key) {
  if (!j.is_object()) return 0;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return 0;
  // Past the largest int64 a count is clamped: a cast would wrap it negative
  // (or, from a double, be undefined).
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  if (it->is_number_float()) {
    const double v = it->get<double>();
    if (!(v > 0)) return 0;                       // negative or NaN
    if (v >= 9223372036854775807.0) return kMax;  // 2^63
    return static_cast<std::int64_t>(v);
  }
  if (it->is_number_unsigned()) {
    return static_cast<std::int64_t>(
        std::min(it->get<std::uint64_t>(), static_cast<std::uint64_t>(kMax)));
  }
  return std::max<std::int64_t>(0, it->get<std::int64_t>());
}

}  // namespace agency
