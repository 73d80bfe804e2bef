// json_count: counts read from JSON the engines and Claude Code write.
#include "runtime/json_fields.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "roles/accountant/transcripts.hpp"

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

TEST_CASE("transcripts: daily totals saturate at the largest count instead of overflowing") {
  // Found by tests/fuzz (transcripts): two lines claiming the largest count.
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  TranscriptEntry e;
  e.input_tokens = kMax;
  e.output_tokens = 7;
  const auto totals = daily_totals(std::vector<TranscriptEntry>{e, e});
  REQUIRE(totals.size() == 1);
  CHECK(totals.begin()->second.input_tokens == kMax);
  CHECK(totals.begin()->second.output_tokens == 14);
}

}  // namespace
}  // namespace agency
