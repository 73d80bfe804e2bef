// Keeping what the mesh stores within its limits (docs/OPERATIONS.md,
// "Limits and dead letters"): cutting text without splitting a character,
// making bytes from outside fit a proto3 string field (which must be valid
// UTF-8), and naming a payload by its digest when it is too large to keep.
//
// Thread: all functions are reentrant.
#pragma once

#include <cstddef>
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

}  // namespace agency::bounds
