// What the full reading of a transcript line (transcripts.cpp) and the quick
// one (transcript_scan.cpp) both need of a line's text. Internal to the
// accountant.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

namespace agency::transcript_text {

// Where a token count saturates (counts are kept whole, within int64).
inline constexpr std::int64_t kMaxCount = std::numeric_limits<std::int64_t>::max();

// Whether `in` is well-formed UTF-8 (the decoder would change nothing).
bool well_formed_utf8(std::string_view in);

// The code unit of a \uXXXX escape at `at` in `text`, or -1.
long escaped_unit(std::string_view text, std::size_t at);

// ccusage's timestamp: the pattern its schema demands, then what
// JavaScript's Date takes of it; nullopt where ccusage drops the line.
std::optional<std::chrono::system_clock::time_point> ccusage_timestamp(std::string_view t);

}  // namespace agency::transcript_text
