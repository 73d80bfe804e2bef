#include "bus/bounds.hpp"

#include <openssl/evp.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>

#include "bus/text.hpp"

namespace agency::bounds {

std::size_t utf8_sequence_at(std::string_view s, std::size_t i) {
  char32_t cp = 0;
  return text::utf8_sequence(s, i, cp);
}

std::string_view utf8_prefix(std::string_view s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t end = 0;
  while (end < max) {
    std::size_t len = utf8_sequence_at(s, end);
    if (len == 0) len = 1;
    if (end + len > max) break;
    end += len;
  }
  return s.substr(0, end);
}

std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t len = utf8_sequence_at(s, i);
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
  }
  return out;
}

void cut(std::string& s, std::size_t max) {
  if (s.size() <= max) return;
  // The marker's length depends on the figure in it; 40 bytes hold any.
  constexpr std::size_t kMarkerRoom = 40;
  std::size_t keep = max > kMarkerRoom ? max - kMarkerRoom : 0;
  std::string_view kept = utf8_prefix(s, keep);
  std::string marker = "... [cut " + std::to_string(s.size() - kept.size()) + " bytes]";
  s = std::string(kept) + marker;
  if (s.size() > max) s.resize(max);  // only for a max below the marker's room
}

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest.data(), &length) != 1) {
    return {};
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4U];
    out += kHex[digest[i] & 0xFU];
  }
  return out;
}

std::int64_t sat_add(std::int64_t a, std::int64_t b) {
  std::int64_t sum = 0;
  if (!__builtin_add_overflow(a, b, &sum)) return sum;
  return b > 0 ? std::numeric_limits<std::int64_t>::max()
               : std::numeric_limits<std::int64_t>::min();
}

double sat_add(double a, double b) {
  const double sum = a + b;
  if (std::isfinite(sum) || std::isnan(sum)) return sum;
  return sum > 0 ? std::numeric_limits<double>::max() : std::numeric_limits<double>::lowest();
}

}  // namespace agency::bounds
