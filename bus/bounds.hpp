// Keeping what the mesh stores within its limits (docs/OPERATIONS.md,
// "Limits and dead letters"): cutting text without splitting a character,
// making bytes from outside fit a proto3 string field (which must be valid
// UTF-8), naming a payload by its digest when it is too large to keep, and
// summing counts that come from outside without wrapping.
//
// Thread: all functions are reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace agency::bounds {

// Length of the valid UTF-8 sequence starting at s[i] (1 to 4), or 0 when
// the byte there does not start one (overlong forms, surrogates and code
// points past U+10FFFF included).
std::size_t utf8_sequence_at(std::string_view s, std::size_t i);

// The longest prefix of `s` of at most `max` bytes that ends on a
// character boundary (for valid UTF-8; invalid bytes count as one each).
std::string_view utf8_prefix(std::string_view s, std::size_t max);

// `s` with every byte that is not part of valid UTF-8 replaced by U+FFFD.
std::string valid_utf8(std::string_view s);

// Cuts `s` to at most `max` bytes (max >= 64), ending in a marker that says
// how much went: "... [cut 1048576 bytes]". Unchanged when it fits.
void cut(std::string& s, std::size_t max);

// SHA-256 of `data`, 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);

// a + b, held at the int64 range's ends instead of wrapping: every sum of
// tokens a client reported goes through it.
std::int64_t sat_add(std::int64_t a, std::int64_t b);
// a + b, held at the largest finite double instead of becoming infinite.
double sat_add(double a, double b);

}  // namespace agency::bounds
