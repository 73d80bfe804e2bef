// json_count: counts read from JSON the engines and Claude Code write.
#include "agents/json_fields.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>

namespace agency {
namespace {

std::int64_t count_of(const char* json) { return json_count(nlohmann::json::parse(json), "n"); }

TEST_CASE("json_count: a count past the largest int64 is clamped, never negative") {
  // Found by tests/fuzz (transcripts): 2^63 + a bit read as a negative token count.
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  CHECK(count_of(R"({"n": 9223372036857475807})") == kMax);
  CHECK(count_of(R"({"n": 18446744073709551615})") == kMax);
  CHECK(count_of(R"({"n": 1e30})") == kMax);
  CHECK(count_of(R"({"n": 12.9})") == 12);
  CHECK(count_of(R"({"n": -5})") == 0);
  CHECK(count_of(R"({"n": -1e30})") == 0);
  CHECK(count_of(R"({"n": "12"})") == 0);
  CHECK(count_of(R"({"n": 9223372036854775807})") == kMax);
}

}  // namespace
}  // namespace agency
