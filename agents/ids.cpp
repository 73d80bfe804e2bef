#include "agents/ids.hpp"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <random>

namespace agency::ids {

std::string make(std::string_view prefix) {
  static constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";  // Crockford
  thread_local std::mt19937_64 rng{std::random_device{}()};
  auto ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count());
  std::uint64_t rnd = rng();
  std::string out(prefix);
  out += '-';
  for (int shift = 45; shift >= 0; shift -= 5) out += kAlphabet[(ms >> shift) & 31U];  // 10 chars
  for (int i = 0; i < 6; ++i) out += kAlphabet[(rnd >> (5 * i)) & 31U];             // 6 chars
  return out;
}

std::string host_name() {
  std::array<char, 256> buf{};
  if (::gethostname(buf.data(), buf.size() - 1) != 0) return "localhost";
  return buf.data();
}

}  // namespace agency::ids
