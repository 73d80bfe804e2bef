#include "bus/text.hpp"

#include <cctype>
#include <cstdint>

namespace agency::text {
namespace {

constexpr std::string_view kHex = "0123456789abcdef";

std::string hex_escape(std::string_view prefix, unsigned value, int digits) {
  std::string out(prefix);
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) {
    out += kHex[(value >> static_cast<unsigned>(shift)) & 0x0FU];
  }
  return out;
}

}  // namespace

std::size_t utf8_sequence(std::string_view s, std::size_t i, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  std::size_t len = 0;
  char32_t min = 0;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  if ((b0 & 0xE0U) == 0xC0U) {
    len = 2, cp = b0 & 0x1FU, min = 0x80;
  } else if ((b0 & 0xF0U) == 0xE0U) {
    len = 3, cp = b0 & 0x0FU, min = 0x800;
  } else if ((b0 & 0xF8U) == 0xF0U) {
    len = 4, cp = b0 & 0x07U, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() - i < len) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0U) != 0x80U) return 0;
    cp = (cp << 6U) | (b & 0x3FU);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

std::size_t invalid_utf8_at(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t len = utf8_sequence(s, i, cp);
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

bool is_control(char32_t cp) { return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0); }

std::string escape_control(char32_t cp) {
  switch (cp) {
    case '\t':
      return "\\t";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    default:
      break;
  }
  if (cp < 0x20 || cp == 0x7F) return hex_escape("\\x", static_cast<unsigned>(cp), 2);
  if (cp >= 0x80 && cp < 0xA0) return hex_escape("\\u", static_cast<unsigned>(cp), 4);
  return {};
}

std::string escape_byte(unsigned char byte) { return hex_escape("\\x", byte, 2); }

std::string terminal_safe(std::string_view text, Layout layout) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    const std::size_t len = utf8_sequence(text, i, cp);
    if (len == 0) {
      out += escape_byte(static_cast<unsigned char>(text[i]));
      ++i;
      continue;
    }
    const bool layout_kept = layout == Layout::keep && (cp == '\n' || cp == '\t');
    if (is_control(cp) && !layout_kept) {
      out += escape_control(cp);
    } else {
      out.append(text.substr(i, len));
    }
    i += len;
  }
  return out;
}

std::string terminal_safe_json(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  for (std::size_t i = 0; i < json.size();) {
    char32_t cp = 0;
    const std::size_t len = utf8_sequence(json, i, cp);
    if (len == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
      continue;
    }
    // Raw C0 controls cannot occur in valid JSON; DEL and C1 can, inside
    // strings only, where \u00NN means the same character.
    if (cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
      out += hex_escape("\\u", static_cast<unsigned>(cp), 4);
    } else {
      out.append(json.substr(i, len));
    }
    i += len;
  }
  return out;
}

std::string trim(std::string_view s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b])) != 0) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1])) != 0) --e;
  return std::string(s.substr(b, e - b));
}

}  // namespace agency::text
