// Shared by the fuzz targets: the input as text, and a check that stops the
// run (libFuzzer saves the input as a crash) when a parser breaks a promise
// its header makes. A plain abort() is what libFuzzer and the replay driver
// both report, with the message printed first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace agency::fuzz {

inline std::string_view text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "fuzz: broken promise: %s\n", what);
  std::abort();
}

}  // namespace agency::fuzz

#define AGENCY_FUZZ_CHECK(cond, what)        \
  do {                                       \
    if (!(cond)) ::agency::fuzz::fail(what); \
  } while (0)
