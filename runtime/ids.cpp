#include "runtime/ids.hpp"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <random>

namespace agency::ids {

namespace {

std::string encode(std::string_view prefix, std::uint64_t ms, std::uint64_t tail) {
  static constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";  // Crockford
  std::string out(prefix);
  out += '-';
  for (int shift = 45; shift >= 0; shift -= 5) out += kAlphabet[(ms >> shift) & 31U];    // 10 chars
  for (int shift = 25; shift >= 0; shift -= 5) out += kAlphabet[(tail >> shift) & 31U];  // 6 chars
  return out;
}

}  // namespace

std::string make(std::string_view prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  auto ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count());
  return encode(prefix, ms, rng());
}

std::string task_for_message(std::int64_t stream_timestamp_ns, std::uint64_t stream_sequence) {
  auto ms = static_cast<std::uint64_t>(stream_timestamp_ns / 1000000);
  // The sequence's low 30 bits: unique among messages stored in the same ms.
  return encode("t", ms, stream_sequence);
}

std::string host_name() {
  std::array<char, 256> buf{};
  if (::gethostname(buf.data(), buf.size() - 1) != 0) return "localhost";
  return buf.data();
}

}  // namespace agency::ids
