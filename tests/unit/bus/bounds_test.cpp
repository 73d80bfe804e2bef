// What keeps stored messages within their limits: text cut on a character
// boundary, bytes from outside made valid for a proto3 string field, and
// dead letters that fit the server's max payload whatever came in.
#include "bus/bounds.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>

#include "agency/v1/dead.pb.h"
#include "bus/codec.hpp"
#include "bus/dead_letter.hpp"

namespace {

namespace bounds = agency::bounds;

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xFFU);
  return s;
}

TEST_CASE("bounds: utf8_prefix never splits a character") {
  const std::string s =
      "ab\xC3\xA9"
      "cd\xE2\x82\xAC"
      "\xF0\x9F\x98\x80";  // ab é cd € 😀
  CHECK(bounds::utf8_prefix(s, 100) == s);
  CHECK(bounds::utf8_prefix(s, 3) == "ab");
  CHECK(bounds::utf8_prefix(s, 4) == "ab\xC3\xA9");
  CHECK(bounds::utf8_prefix(s, 8) ==
        "ab\xC3\xA9"
        "cd");
  CHECK(bounds::utf8_prefix(s, 9) ==
        "ab\xC3\xA9"
        "cd\xE2\x82\xAC");
  CHECK(bounds::utf8_prefix(s, 12) ==
        "ab\xC3\xA9"
        "cd\xE2\x82\xAC");
  CHECK(bounds::utf8_prefix(s, 0).empty());
}

TEST_CASE("bounds: valid_utf8 replaces each invalid byte and keeps valid text as it is") {
  CHECK(bounds::valid_utf8("plain é €") == "plain é €");
  CHECK(bounds::valid_utf8("a\xFF"
                           "b") ==
        "a\xEF\xBF\xBD"
        "b");
  // A lone surrogate (CESU form), an overlong '/', a cut sequence.
  CHECK(bounds::valid_utf8("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(bounds::valid_utf8("\xC0\xAF") == "\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(bounds::valid_utf8("x\xE2\x82") == "x\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_CASE("bounds: cut keeps text that fits and says how much went from text that does not") {
  std::string fits = "short";
  bounds::cut(fits, 64);
  CHECK(fits == "short");
  std::string long_text(10000, 'x');
  bounds::cut(long_text, 200);
  CHECK(long_text.size() <= 200);
  CHECK(long_text.find("[cut ") != std::string::npos);
  CHECK(long_text.ends_with("bytes]"));
  CHECK(long_text.starts_with("xxxx"));
}

TEST_CASE("bounds: sha256_hex matches the standard test vectors") {
  CHECK(bounds::sha256_hex("") ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(bounds::sha256_hex("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("dead letter: a 1 MiB binary payload is kept as its start, size and digest") {
  const std::string payload = random_bytes(1024 * 1024, 7);
  agency::Headers headers = {{"Nats-Msg-Id", "x"}};
  auto letter = agency::make_dead_letter("agency.brief.builder", headers, payload, "not a brief",
                                         "builder", "builder-1", 4096);
  CHECK(letter.payload().size() == 4096);
  CHECK(letter.payload() == payload.substr(0, 4096));
  CHECK(letter.payload_cut());
  CHECK(letter.payload_size() == payload.size());
  CHECK(letter.payload_sha256() == bounds::sha256_hex(payload));
  CHECK(agency::codec::encode(letter).data.size() < 64 * 1024);
}

TEST_CASE("dead letter: a small payload is kept byte for byte") {
  auto letter = agency::make_dead_letter("agency.brief.planner", {},
                                         "\xFF\x01"
                                         "abc",
                                         "bad", "planner", "planner-1");
  CHECK(letter.payload() ==
        "\xFF\x01"
        "abc");
  CHECK_FALSE(letter.payload_cut());
  CHECK(letter.payload_size() == 5);
}

TEST_CASE("dead letter: hostile headers, subject and reason stay bounded and decodable") {
  agency::Headers headers;
  for (int i = 0; i < 5000; ++i) {
    headers.emplace_back("X-Junk-" + std::to_string(i), random_bytes(300, i));
  }
  headers.emplace_back(std::string(100000, 'k'), std::string(500000, 'v'));
  const std::string subject = "agency.brief." + random_bytes(5000, 1);
  const std::string reason = "quoted input: " + random_bytes(200000, 2);
  auto letter = agency::make_dead_letter(subject, headers, random_bytes(100, 3), reason, "\xFF",
                                         "agent\xFE", 4096);
  CHECK(letter.headers_size() == 64);
  CHECK(letter.headers_cut());
  CHECK(letter.reason().size() <= 4096);
  CHECK(letter.original_subject().size() <= 1024);
  auto encoded = agency::codec::encode(letter);
  CHECK(encoded.data.size() < 200 * 1024);
  // Every string field is valid UTF-8, so the letter reads back.
  auto back = agency::codec::decode<agency::v1::DeadLetter>(encoded.data, encoded.headers);
  REQUIRE_MESSAGE(back.ok(), (back.ok() ? "" : back.error().message));
  CHECK(back->reason() == letter.reason());
}

}  // namespace
