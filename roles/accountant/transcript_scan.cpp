// The quick reading of a transcript line (transcripts.hpp,
// scan_transcript_line): what JSON.parse and ccusage's schema make of a line,
// read from its text without building a JSON tree. The full reading in
// transcripts.cpp is the reference; the unit tests and the transcripts fuzz
// target hold the two equal.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "roles/accountant/transcript_text.hpp"
#include "roles/accountant/transcripts.hpp"

namespace agency {
namespace {

using namespace transcript_text;
// Whether JSON.parse takes `line`: what as_json_parse_reads and
// nlohmann::json decide of it, without building anything. Inside a string
// any byte past ASCII is fine (ill-formed UTF-8 decodes to U+FFFD); outside
// one it is not JSON. The escapes are \" \\ \/ \b \f \n \r \t, and \u with
// four hex digits (a lone surrogate decodes to U+FFFD); whitespace is
// space, tab, CR and LF; a number too large for a double is a number.
bool plain_json(std::string_view t) {
  if (t.substr(0, 3) == "\xEF\xBB\xBF") return false;
  const std::size_t n = t.size();
  std::size_t i = 0;
  auto skip_space = [&] {
    while (i < n && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) ++i;
  };
  auto string_here = [&] {  // at its opening quote
    ++i;
    while (i < n) {
      const auto c = static_cast<unsigned char>(t[i]);
      if (c == '"') {
        ++i;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        // \uXXXX: JSON.parse takes any four hex digits (a lone surrogate
        // reads as U+FFFD).
        if (i + 1 < n && t[i + 1] == 'u') {
          if (escaped_unit(t, i) < 0) return false;
          i += 6;
          continue;
        }
        if (i + 1 >= n || std::string_view("\"\\/bfnrt").find(t[i + 1]) == std::string_view::npos) {
          return false;
        }
        i += 2;
        continue;
      }
      ++i;
    }
    return false;
  };
  auto digits = [&] {
    const std::size_t from = i;
    while (i < n && t[i] >= '0' && t[i] <= '9') ++i;
    return i > from;
  };
  auto number_here = [&] {
    if (t[i] == '-') ++i;
    if (i < n && t[i] == '0') {
      ++i;
    } else if (!digits()) {
      return false;
    }
    if (i < n && t[i] == '.') {
      ++i;
      if (!digits()) return false;
    }
    if (i < n && (t[i] == 'e' || t[i] == 'E')) {
      ++i;
      if (i < n && (t[i] == '+' || t[i] == '-')) ++i;
      if (!digits()) return false;
    }
    return true;
  };
  auto word_here = [&](std::string_view word) {
    if (t.substr(i, word.size()) != word) return false;
    i += word.size();
    return true;
  };
  auto key_here = [&] {  // a member's name and its colon
    skip_space();
    if (i >= n || t[i] != '"' || !string_here()) return false;
    skip_space();
    if (i >= n || t[i] != ':') return false;
    ++i;
    return true;
  };
  std::string open;  // the containers we are in: '{' or '['
  bool want_value = true;
  while (true) {
    if (want_value) {
      skip_space();
      if (i >= n) return false;
      const char c = t[i];
      bool ok = true;
      if (c == '{' || c == '[') {
        ++i;
        skip_space();
        const char close = c == '{' ? '}' : ']';
        if (i < n && t[i] == close) {
          ++i;  // empty: a whole value
        } else {
          open.push_back(c);
          if (c == '{' && !key_here()) return false;
          continue;  // its first value
        }
      } else if (c == '"') {
        ok = string_here();
      } else if (c == '-' || (c >= '0' && c <= '9')) {
        ok = number_here();
      } else if (c == 't') {
        ok = word_here("true");
      } else if (c == 'f') {
        ok = word_here("false");
      } else if (c == 'n') {
        ok = word_here("null");
      } else {
        ok = false;
      }
      if (!ok) return false;
      want_value = false;
    }
    skip_space();
    if (open.empty()) return i == n;
    if (i >= n) return false;
    const char c = t[i++];
    if (c == ',') {
      if (open.back() == '{' && !key_here()) return false;
      want_value = true;
    } else if ((c == '}' && open.back() == '{') || (c == ']' && open.back() == '[')) {
      open.pop_back();
    } else {
      return false;
    }
  }
}

// The usage line of a line without a \u escape, read straight from its
// text in one pass, as read_transcript_line reads it: JSON.parse's verdict
// (plain_json's rules), then ccusage's schema on the members the schema
// names. As in nlohmann::json, a member named twice counts by its last
// value. A member name with an escape in it names none of these (no escape
// makes a letter). Strings are unescaped as JSON does; a number is an
// unsigned or signed 64-bit integer when it is written as one and fits,
// else a double, and one too large for a double reads as 1e308.
namespace quick {

enum class Kind { none, string, number, boolean, null, object, array };

struct Field {
  Kind kind = Kind::none;
  std::string_view text;  // a string's text between its quotes, a number's token
};

// Where a container sits in the line.
enum class Role { root, message, usage, content, item, other };

std::string unescape(std::string_view raw) {
  if (raw.find('\\') == std::string_view::npos) return std::string(raw);
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\') {
      out += raw[i];
      continue;
    }
    switch (raw[++i]) {
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      default:
        out += raw[i];  // " \ /
    }
  }
  return out;
}

// A number token's value as nlohmann::json types it, made a token count.
std::int64_t count_of(std::string_view token) {
  const std::string t(token);
  const bool integral = token.find_first_of(".eE") == std::string_view::npos;
  if (integral && t[0] != '-') {
    errno = 0;
    const unsigned long long v = std::strtoull(t.c_str(), nullptr, 10);
    if (errno == 0) return static_cast<std::int64_t>(std::min<unsigned long long>(v, kMaxCount));
  } else if (integral) {
    errno = 0;
    const long long v = std::strtoll(t.c_str(), nullptr, 10);
    if (errno == 0) return std::max<long long>(0, v);
  }
  double v = std::strtod(t.c_str(), nullptr);
  if (std::isinf(v)) v = v > 0 ? 1e308 : -1e308;
  if (!(v > 0)) return 0;
  if (v >= 9.2233720368547758e18) return kMaxCount;
  return static_cast<std::int64_t>(v);
}

double double_of(std::string_view token) {
  double v = std::strtod(std::string(token).c_str(), nullptr);
  if (std::isinf(v)) v = v > 0 ? 1e308 : -1e308;
  return v;
}

bool version_like(std::string_view s) {
  std::size_t i = 0;
  for (int part = 0; part < 3; ++part) {
    if (part > 0) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
    const std::size_t from = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == from) return false;
  }
  return true;
}

struct Line {
  Kind root = Kind::none;
  Field cwd, session, version, cost, request, api_error, timestamp;
  Kind message = Kind::none;
  Field model, id;
  Kind content = Kind::none;
  bool content_ok = true;
  Kind usage = Kind::none;
  Field input, output, creation, read;
};

TranscriptLine read(std::string_view t, TranscriptEntry& e) {
  const std::size_t n = t.size();
  std::size_t i = 0;
  Line line;
  auto skip_space = [&] {
    while (i < n && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) ++i;
  };
  auto string_here = [&] {  // at its opening quote
    ++i;
    while (i < n) {
      const auto c = static_cast<unsigned char>(t[i]);
      if (c == '"') {
        ++i;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        if (i + 1 >= n || std::string_view("\"\\/bfnrt").find(t[i + 1]) == std::string_view::npos) {
          return false;
        }
        i += 2;
        continue;
      }
      ++i;
    }
    return false;
  };
  auto digits = [&] {
    const std::size_t from = i;
    while (i < n && t[i] >= '0' && t[i] <= '9') ++i;
    return i > from;
  };
  auto number_here = [&] {
    if (t[i] == '-') ++i;
    if (i < n && t[i] == '0') {
      ++i;
    } else if (!digits()) {
      return false;
    }
    if (i < n && t[i] == '.') {
      ++i;
      if (!digits()) return false;
    }
    if (i < n && (t[i] == 'e' || t[i] == 'E')) {
      ++i;
      if (i < n && (t[i] == '+' || t[i] == '-')) ++i;
      if (!digits()) return false;
    }
    return true;
  };
  auto word_here = [&](std::string_view word) {
    if (t.substr(i, word.size()) != word) return false;
    i += word.size();
    return true;
  };
  std::string_view key;  // the member name whose value comes next (raw)
  auto key_here = [&] {
    skip_space();
    if (i >= n || t[i] != '"') return false;
    const std::size_t from = i + 1;
    if (!string_here()) return false;
    key = t.substr(from, i - 1 - from);
    skip_space();
    if (i >= n || t[i] != ':') return false;
    ++i;
    return true;
  };
  struct Frame {
    char open;
    Role role;
    bool text_ok = true;  // an item: its last "text" is absent or a string
  };
  // The containers the scan is in; kept between lines (no allocation per line).
  thread_local std::vector<Frame> open;
  open.clear();
  // The field a value in the current place fills, and the role a container
  // there takes; reset what a member named again replaces.
  auto place = [&](Kind kind) -> std::pair<Field*, Role> {
    if (open.empty()) {
      line.root = kind;
      return {nullptr, Role::root};
    }
    Frame& f = open.back();
    if (f.open == '[') {
      if (f.role == Role::content) {
        if (kind == Kind::object) return {nullptr, Role::item};
        if (kind != Kind::array) line.content_ok = false;
      }
      return {nullptr, Role::other};
    }
    switch (f.role) {
      case Role::root:
        if (key == "message") {
          line.message = kind;
          line.model = line.id = {};
          line.content = Kind::none;
          line.content_ok = true;
          line.usage = Kind::none;
          line.input = line.output = line.creation = line.read = {};
          return {nullptr, Role::message};
        }
        if (key == "cwd") return {&line.cwd, Role::other};
        if (key == "sessionId") return {&line.session, Role::other};
        if (key == "version") return {&line.version, Role::other};
        if (key == "costUSD") return {&line.cost, Role::other};
        if (key == "requestId") return {&line.request, Role::other};
        if (key == "isApiErrorMessage") return {&line.api_error, Role::other};
        if (key == "timestamp") return {&line.timestamp, Role::other};
        return {nullptr, Role::other};
      case Role::message:
        if (key == "model") return {&line.model, Role::other};
        if (key == "id") return {&line.id, Role::other};
        if (key == "content") {
          line.content = kind;
          line.content_ok = true;
          return {nullptr, Role::content};
        }
        if (key == "usage") {
          line.usage = kind;
          line.input = line.output = line.creation = line.read = {};
          return {nullptr, Role::usage};
        }
        return {nullptr, Role::other};
      case Role::usage:
        if (key == "input_tokens") return {&line.input, Role::other};
        if (key == "output_tokens") return {&line.output, Role::other};
        if (key == "cache_creation_input_tokens") return {&line.creation, Role::other};
        if (key == "cache_read_input_tokens") return {&line.read, Role::other};
        return {nullptr, Role::other};
      case Role::item:
        if (key == "text") f.text_ok = kind == Kind::string;
        return {nullptr, Role::other};
      default:
        return {nullptr, Role::other};
    }
  };
  auto close = [&] {
    const Frame f = open.back();
    open.pop_back();
    if (f.role == Role::item && !f.text_ok) line.content_ok = false;
  };
  bool want_value = true;
  while (true) {
    if (want_value) {
      skip_space();
      if (i >= n) return TranscriptLine::unreadable;
      const char c = t[i];
      if (c == '{' || c == '[') {
        const Kind kind = c == '{' ? Kind::object : Kind::array;
        const auto [field, role] = place(kind);
        // A container where the schema wants a scalar: its kind fails the check.
        if (field != nullptr) *field = Field{kind, {}};
        ++i;
        open.push_back({c, role});
        skip_space();
        const char end = c == '{' ? '}' : ']';
        if (i < n && t[i] == end) {
          ++i;
          close();
        } else {
          if (c == '{' && !key_here()) return TranscriptLine::unreadable;
          continue;
        }
      } else {
        const std::size_t from = i;
        Kind kind = Kind::none;
        bool ok = true;
        if (c == '"') {
          kind = Kind::string;
          ok = string_here();
        } else if (c == '-' || (c >= '0' && c <= '9')) {
          kind = Kind::number;
          ok = number_here();
        } else if (c == 't') {
          kind = Kind::boolean;
          ok = word_here("true");
        } else if (c == 'f') {
          kind = Kind::boolean;
          ok = word_here("false");
        } else if (c == 'n') {
          kind = Kind::null;
          ok = word_here("null");
        } else {
          ok = false;
        }
        if (!ok) return TranscriptLine::unreadable;
        if (Field* field = place(kind).first) {
          field->kind = kind;
          field->text =
              kind == Kind::string ? t.substr(from + 1, i - from - 2) : t.substr(from, i - from);
        }
      }
      want_value = false;
    }
    skip_space();
    if (open.empty()) {
      if (i != n) return TranscriptLine::unreadable;
      break;
    }
    if (i >= n) return TranscriptLine::unreadable;
    const char c = t[i++];
    if (c == ',') {
      if (open.back().open == '{' && !key_here()) return TranscriptLine::unreadable;
      want_value = true;
    } else if ((c == '}' && open.back().open == '{') || (c == ']' && open.back().open == '[')) {
      close();
    } else {
      return TranscriptLine::unreadable;
    }
  }

  // ccusage's schema (fits_ccusage_schema), on what was read.
  auto absent_or = [](const Field& f, Kind kind) { return f.kind == Kind::none || f.kind == kind; };
  auto absent_or_name = [](const Field& f) {
    return f.kind == Kind::none || (f.kind == Kind::string && !f.text.empty());
  };
  if (line.root != Kind::object || line.message != Kind::object || line.usage != Kind::object) {
    return TranscriptLine::other;
  }
  const bool fits =
      absent_or(line.cwd, Kind::string) && absent_or_name(line.session) &&
      (line.version.kind == Kind::none ||
       (line.version.kind == Kind::string && version_like(unescape(line.version.text)))) &&
      absent_or(line.cost, Kind::number) && absent_or_name(line.request) &&
      absent_or(line.api_error, Kind::boolean) && absent_or_name(line.model) &&
      absent_or_name(line.id) &&
      (line.content == Kind::none || (line.content == Kind::array && line.content_ok)) &&
      line.input.kind == Kind::number && line.output.kind == Kind::number &&
      absent_or(line.creation, Kind::number) && absent_or(line.read, Kind::number);
  if (!fits) return TranscriptLine::other;
  auto at = ccusage_timestamp(line.timestamp.kind == Kind::string ? unescape(line.timestamp.text)
                                                                  : std::string());
  if (!at) return TranscriptLine::other;
  auto text = [](const Field& f) {
    return f.kind == Kind::string ? unescape(f.text) : std::string();
  };
  e.message_id = text(line.id);
  e.request_id = text(line.request);
  e.session_id = text(line.session);
  e.model = text(line.model);
  e.cwd = text(line.cwd);
  e.at = *at;
  e.input_tokens = count_of(line.input.text);
  e.output_tokens = count_of(line.output.text);
  e.cache_creation_tokens = line.creation.kind == Kind::number ? count_of(line.creation.text) : 0;
  e.cache_read_tokens = line.read.kind == Kind::number ? count_of(line.read.text) : 0;
  if (line.cost.kind == Kind::number) e.cost_usd = double_of(line.cost.text);
  e.api_error = line.api_error.kind == Kind::boolean && line.api_error.text.starts_with('t');
  return TranscriptLine::usage;
}

}  // namespace quick

}  // namespace

namespace {

// Whether a \\u escape in `line` may stand for a letter of "usage" (a
// member named so with escapes); any backslash-u counts, escaped or not.
bool escapes_a_usage_letter(std::string_view line) {
  const char* at = line.data();
  const char* end = line.data() + line.size();
  while (const void* found = ::memmem(at, static_cast<std::size_t>(end - at), "\\u", 2)) {
    const auto i = static_cast<std::size_t>(static_cast<const char*>(found) - line.data());
    const long unit = escaped_unit(line, i);
    if (unit < 0 ||
        std::string_view("usage").find(static_cast<char>(unit)) != std::string_view::npos) {
      return true;
    }
    at = line.data() + i + 2;
  }
  return false;
}

}  // namespace

TranscriptLine scan_transcript_line(std::string_view line, TranscriptEntry& e) {
  // A line counts only with a member named usage, and JSON spells that
  // name "usage" or with \u escapes of its letters (no other escape makes
  // a letter).
  if (::memmem(line.data(), line.size(), "\"usage\"", 7) == nullptr &&
      !escapes_a_usage_letter(line)) {
    return plain_json(line) ? TranscriptLine::other : TranscriptLine::unreadable;
  }
  // A line with no \\u escape, no byte order mark and well-formed UTF-8 is
  // the text JSON.parse reads: read straight from it.
  if (::memmem(line.data(), line.size(), "\\u", 2) == nullptr &&
      line.substr(0, 3) != "\xEF\xBB\xBF" && well_formed_utf8(line)) {
    return quick::read(line, e);
  }
  return read_transcript_line(line, e);
}

}  // namespace agency
