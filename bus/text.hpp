// Text from the outside, made safe to show a person.
//
// Anyone who can publish on the bus chooses the bytes of a brief, a reason or
// an agent id, and those bytes end up on an operator's terminal. An ESC or a
// C1 control there is an instruction to the terminal (retitle the window,
// move the cursor, hide a line), so every human-facing output of agency passes
// outside text through terminal_safe(); JSON output through
// terminal_safe_json().
//
// Thread: all functions are reentrant.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace agency::text {

// Length of the valid UTF-8 sequence that starts at s[i] and its code point
// in `cp`, or 0 when the bytes there are not valid UTF-8 (overlong forms,
// surrogates and code points past U+10FFFF included).
std::size_t utf8_sequence(std::string_view s, std::size_t i, char32_t& cp);

// Offset of the first byte that does not start a valid UTF-8 sequence, or
// std::string_view::npos when all of `s` is valid.
std::size_t invalid_utf8_at(std::string_view s);

// C0 controls (U+0000..U+001F), DEL (U+007F) and C1 controls
// (U+0080..U+009F): the code points a terminal may act on.
bool is_control(char32_t cp);

// The escape for a control code point: \t \n \r, \xNN for the other C0
// controls and DEL, \u00NN for a C1 control (a code point, written as two
// UTF-8 bytes). Empty when `cp` is not a control.
std::string escape_control(char32_t cp);

// The escape for a byte that is not part of valid UTF-8: \xNN. Raw bytes
// 0x80..0x9F would be C1 controls to a terminal in an 8-bit mode.
std::string escape_byte(unsigned char byte);

enum class Layout {
  keep,      // '\n' and '\t' stay: multi-line text (a spec, an answer) keeps its shape
  one_line,  // they are escaped too: a table cell or a log line stays one line
};

// `text` with every control character and every byte of invalid UTF-8
// escaped as above; everything else, including a backslash, is kept as it
// is, so ordinary text reads unchanged.
std::string terminal_safe(std::string_view text, Layout layout = Layout::keep);

// JSON text (as nlohmann or protobuf write it) with the controls that JSON
// allows raw, DEL and C1, written as \u escapes. Outside strings valid JSON
// has only ASCII, so the result is the same JSON value. Invalid UTF-8 bytes
// are written as U+FFFD, which keeps the result valid JSON.
std::string terminal_safe_json(std::string_view json);

// `s` without the white space (isspace) at its start and end.
std::string trim(std::string_view s);

}  // namespace agency::text
