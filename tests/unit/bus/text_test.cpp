// Outside text on a terminal: control characters are shown, never obeyed.
#include "bus/text.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace {

using agency::text::Layout;
using agency::text::terminal_safe;
using agency::text::terminal_safe_json;

// True when a terminal would find no control byte in `s`: no C0 but the
// layout ones allowed, no DEL, no raw 0x80..0x9F byte outside a valid
// UTF-8 sequence, no C1 code point.
bool inert(const std::string& s, bool layout_allowed) {
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t len = agency::text::utf8_sequence(s, i, cp);
    if (len == 0) return false;
    if (agency::text::is_control(cp) && !(layout_allowed && (cp == '\n' || cp == '\t'))) {
      return false;
    }
    i += len;
  }
  return true;
}

}  // namespace

TEST_CASE("text: terminal_safe escapes what a terminal would obey") {
  SUBCASE("an OSC title sequence and a bell") {
    const std::string hostile = "{\"objective\":\"x\"}\x1b]0;title\x07rest";
    const std::string safe = terminal_safe(hostile);
    CHECK(safe == "{\"objective\":\"x\"}\\x1b]0;title\\x07rest");
    CHECK(inert(safe, false));
  }
  SUBCASE("every C0 control and DEL") {
    for (int c = 0; c < 0x20; ++c) {
      CAPTURE(c);
      const std::string one(1, static_cast<char>(c));
      const std::string safe = terminal_safe("a" + one + "b", Layout::one_line);
      CHECK(safe.size() > 3);
      CHECK(inert(safe, false));
    }
    CHECK(terminal_safe("a\x7f"
                        "b") == "a\\x7fb");
    CHECK(terminal_safe(std::string("a\0b", 3)) == "a\\x00b");
  }
  SUBCASE("layout: newlines and tabs stay unless the text must be one line") {
    CHECK(terminal_safe("line 1\n\tline 2") == "line 1\n\tline 2");
    CHECK(terminal_safe("line 1\n\tline 2", Layout::one_line) == "line 1\\n\\tline 2");
    // A carriage return overwrites what the line showed: always escaped.
    CHECK(terminal_safe("shown\rhidden") == "shown\\rhidden");
  }
  SUBCASE("C1 controls written as UTF-8 are code points: \\u escapes") {
    CHECK(terminal_safe("a\xC2\x9B"
                        "31mb") == "a\\u009b31mb");
    CHECK(terminal_safe("\xC2\x85") == "\\u0085");
    CHECK(terminal_safe("\xC2\x80\xC2\x9F") == "\\u0080\\u009f");
  }
  SUBCASE("raw bytes of invalid UTF-8, 0x80..0x9F among them, are \\x escapes") {
    CHECK(terminal_safe("a\x9B"
                        "31mb") == "a\\x9b31mb");
    CHECK(terminal_safe("\xFF\xC3") == "\\xff\\xc3");
    CHECK(terminal_safe("\xC0\xAF") == "\\xc0\\xaf");               // overlong '/'
    CHECK(terminal_safe("x\xED\xA0\x80y") == "x\\xed\\xa0\\x80y");  // a surrogate
  }
  SUBCASE("ordinary text reads unchanged") {
    const std::string plain =
        "Add rate limiting \xE2\x80\x94 caf\xC3\xA9, \xF0\x9F\x9A\x80, C:\\path";
    CHECK(terminal_safe(plain) == plain);
    CHECK(terminal_safe(plain, Layout::one_line) == plain);
    CHECK(terminal_safe("\xC2\xA0nbsp") == "\xC2\xA0nbsp");  // U+00A0 is the first after C1
    CHECK(terminal_safe("") == "");
  }
}

TEST_CASE("text: terminal_safe_json keeps the JSON value and drops raw DEL and C1") {
  const nlohmann::json original = {{"reason",
                                    "a\x7f"
                                    "b\xC2\x9B"
                                    "c\x1b"
                                    "d \xC3\xA9"}};
  const std::string dumped = original.dump();
  // nlohmann escapes C0 itself but writes DEL and C1 raw.
  CHECK(dumped.find('\x7f') != std::string::npos);
  const std::string safe = terminal_safe_json(dumped);
  CHECK(inert(safe, false));
  CHECK(safe == R"({"reason":"a\u007fb\u009bc\u001bd )"
                "\xC3\xA9"
                R"("})");
  CHECK(nlohmann::json::parse(safe) == original);
}

TEST_CASE("text: invalid_utf8_at finds the first bad byte") {
  CHECK(agency::text::invalid_utf8_at("abc") == std::string_view::npos);
  CHECK(agency::text::invalid_utf8_at("ab\xFF") == 2);
  CHECK(agency::text::invalid_utf8_at("\xE2\x82") == 0);
  CHECK(agency::text::invalid_utf8_at("\xF4\x90\x80\x80") == 0);  // past U+10FFFF
}
