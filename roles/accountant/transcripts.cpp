#include "roles/accountant/transcripts.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <future>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "bus/bounds.hpp"
#include "roles/accountant/transcript_text.hpp"
#include "runtime/json_fields.hpp"

namespace agency {
namespace {

using namespace transcript_text;
namespace fs = std::filesystem;
using json = nlohmann::json;

std::string dedup_key(const TranscriptEntry& e) {
  if (e.message_id.empty() || e.request_id.empty()) return {};
  return e.message_id + ":" + e.request_id;
}

std::string local_date(std::chrono::system_clock::time_point at) {
  const std::time_t t = std::chrono::system_clock::to_time_t(at);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

// Node decodes the file as UTF-8 before JSON.parse sees it, each
// ill-formed sequence becoming U+FFFD (the WHATWG decoder: one per maximal
// subpart); nlohmann::json rejects the line instead.
std::string replace_ill_formed_utf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  std::size_t i = 0;
  while (i < in.size()) {
    const auto b = static_cast<unsigned char>(in[i]);
    if (b < 0x80) {
      out += static_cast<char>(b);
      ++i;
      continue;
    }
    std::size_t need = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
      need = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      need = 2;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;  // no UTF-16 surrogates
    } else if (b >= 0xF0 && b <= 0xF4) {
      need = 3;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    bool whole = true;
    for (std::size_t k = 0; k < need; ++k, ++j) {
      const unsigned char c = j < in.size() ? static_cast<unsigned char>(in[j]) : 0;
      if (j >= in.size() || c < lo || c > hi) {
        whole = false;
        break;
      }
      lo = 0x80;
      hi = 0xBF;
    }
    if (whole) {
      out.append(in.substr(i, j - i));
    } else {
      out += "\xEF\xBF\xBD";  // the byte that broke the sequence starts the next one
    }
    i = j;
  }
  return out;
}

}  // namespace

namespace transcript_text {

// Whether `in` is well-formed UTF-8 (the decoder would change nothing).
bool well_formed_utf8(std::string_view in) {
  std::size_t i = 0;
  while (i < in.size()) {
    const auto b = static_cast<unsigned char>(in[i]);
    if (b < 0x80) {
      ++i;
      continue;
    }
    std::size_t need = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
      need = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      need = 2;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      need = 3;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (i + need >= in.size()) return false;  // cut short
    for (std::size_t k = 1; k <= need; ++k) {
      const auto c = static_cast<unsigned char>(in[i + k]);
      if (c < lo || c > hi) return false;
      lo = 0x80;
      hi = 0xBF;
    }
    i += need + 1;
  }
  return true;
}

}  // namespace transcript_text

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

namespace transcript_text {

// The code unit of a \uXXXX escape at `at` in `text`, or -1.
long escaped_unit(std::string_view text, std::size_t at) {
  if (at + 6 > text.size() || text[at] != '\\' || text[at + 1] != 'u') return -1;
  long unit = 0;
  for (std::size_t k = at + 2; k < at + 6; ++k) {
    const int d = hex_digit(text[k]);
    if (d < 0) return -1;
    unit = unit * 16 + d;
  }
  return unit;
}

}  // namespace transcript_text

namespace {

bool is_json_number(std::string_view t) {
  std::size_t i = 0;
  auto digits = [&] {
    const std::size_t from = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
    return i > from;
  };
  if (i < t.size() && t[i] == '-') ++i;
  if (i < t.size() && t[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < t.size() && t[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == t.size();
}

// The text of `line` as JSON.parse reads it, made readable by
// nlohmann::json; nullopt when JSON.parse would refuse it for a reason
// nlohmann::json overlooks. JSON.parse takes a lone surrogate escape (what
// JSON.stringify writes for an emoji cut in half): it becomes \uFFFD, the
// same length, as a UTF-8 decoder would read it. A number too large for a
// double is Infinity to JSON.parse: it becomes the largest power of ten a
// double holds, so its count saturates. nlohmann::json skips a byte order
// mark at the start; JSON.parse does not (U+FEFF is not JSON whitespace).
// The line itself when none of that changes anything (most lines); else
// the changed text, kept in `storage`.
std::optional<std::string_view> as_json_parse_reads(std::string_view line, std::string& storage) {
  if (line.substr(0, 3) == "\xEF\xBB\xBF") return std::nullopt;
  std::string decoded;
  std::string_view text = line;
  if (!well_formed_utf8(line)) {
    decoded = replace_ill_formed_utf8(line);
    text = decoded;
  }
  // Replacements: text up to `copied` is in storage once one was made.
  bool changed = false;
  std::size_t copied = 0;
  auto replace = [&](std::size_t from, std::size_t to, std::string_view with) {
    if (!changed) {
      storage.clear();
      storage.reserve(text.size());
      changed = true;
    }
    storage.append(text.substr(copied, from - copied));
    storage.append(with);
    copied = to;
  };
  bool in_string = false;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (in_string) {
      if (c == '"') {
        in_string = false;
      } else if (c == '\\') {
        // Every backslash starts an escape, so "\\ud83d" (an escaped
        // backslash, then text) is left as it is.
        const long unit = escaped_unit(text, i);
        if (unit < 0xD800 || unit > 0xDFFF) {
          i += 2;
          continue;
        }
        const long next = escaped_unit(text, i + 6);
        if (unit <= 0xDBFF && next >= 0xDC00 && next <= 0xDFFF) {
          i += 12;
        } else {
          replace(i, i + 6, "\\uFFFD");
          i += 6;
        }
        continue;
      }
      ++i;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      std::size_t end = i;
      bool exponent = false;
      while (end < text.size() &&
             std::string_view("0123456789+-.eE").find(text[end]) != std::string_view::npos) {
        exponent = exponent || text[end] == 'e' || text[end] == 'E';
        ++end;
      }
      const std::string_view token = text.substr(i, end - i);
      // Without an exponent only 309 digits or more reach Infinity.
      if ((exponent || token.size() > 300) && is_json_number(token) &&
          std::isinf(std::strtod(std::string(token).c_str(), nullptr))) {
        replace(i, end, c == '-' ? "-1e308" : "1e308");
      }
      i = end;
      continue;
    }
    ++i;
  }
  if (changed) {
    storage.append(text.substr(copied));
    return std::string_view(storage);
  }
  if (!decoded.empty()) {
    storage = std::move(decoded);
    return std::string_view(storage);
  }
  return line;
}

}  // namespace

namespace transcript_text {

// ccusage's timestamp: the pattern its schema demands, then what
// JavaScript's Date takes of it (a day past the month's end rolls over, as
// does 24:00:00; month 13 or minute 60 make an invalid date, and ccusage
// drops the line when formatting it throws).
std::optional<std::chrono::system_clock::time_point> ccusage_timestamp(std::string_view t) {
  const bool millis = t.size() == 24;
  if (t.size() != 20 && !millis) return std::nullopt;
  const std::string_view shape = millis ? "dddd-dd-ddTdd:dd:dd.dddZ" : "dddd-dd-ddTdd:dd:ddZ";
  for (std::size_t k = 0; k < shape.size(); ++k) {
    if (shape[k] == 'd' ? (t[k] < '0' || t[k] > '9') : t[k] != shape[k]) return std::nullopt;
  }
  auto num = [&](std::size_t at, std::size_t len) {
    int v = 0;
    for (std::size_t k = at; k < at + len; ++k) v = v * 10 + (t[k] - '0');
    return v;
  };
  const int y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2),
            s = num(17, 2), ms = millis ? num(20, 3) : 0;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || s > 59) return std::nullopt;
  if (h == 24 && (mi != 0 || s != 0 || ms != 0)) return std::nullopt;
  using namespace std::chrono;
  const sys_days first = year{y} / month{static_cast<unsigned>(mo)} / day{1};
  // In milliseconds (years 0-9999 fit); a time the clock's nanoseconds
  // cannot hold (before 1678, after 2261) drops the line, where ccusage
  // would count it on that far date.
  const auto at = time_point_cast<milliseconds>(first) + days{d - 1} + hours{h} + minutes{mi} +
                  seconds{s} + milliseconds{ms};
  constexpr auto kLow = duration_cast<milliseconds>(system_clock::duration::min()) + days{1};
  constexpr auto kHigh = duration_cast<milliseconds>(system_clock::duration::max()) - days{1};
  if (at.time_since_epoch() < kLow || at.time_since_epoch() > kHigh) return std::nullopt;
  return time_point_cast<system_clock::duration>(at);
}

}  // namespace transcript_text

namespace {

// A count as ccusage's schema takes it (any number) made a token count:
// ccusage adds whatever is there in doubles; we keep counts whole and
// within int64 (a fraction is cut, a negative count is 0, a huge one
// saturates), which gives the same totals for every count a real
// transcript holds.
std::int64_t token_count(const json& usage, const char* key) {
  auto it = usage.find(key);
  if (it == usage.end()) return 0;
  if (it->is_number_unsigned()) {
    return static_cast<std::int64_t>(
        std::min<std::uint64_t>(it->get<std::uint64_t>(), static_cast<std::uint64_t>(kMaxCount)));
  }
  if (it->is_number_integer()) return std::max<std::int64_t>(0, it->get<std::int64_t>());
  const double v = it->get<double>();
  if (!(v > 0)) return 0;
  if (v >= 9.2233720368547758e18) return kMaxCount;
  return static_cast<std::int64_t>(v);
}

template <typename Check>
bool absent_or(const json& object, const char* key, Check check) {
  auto it = object.find(key);
  return it == object.end() || check(*it);
}

bool is_text(const json& v) { return v.is_string(); }
bool is_name(const json& v) { return v.is_string() && !v.get_ref<const std::string&>().empty(); }
bool is_number(const json& v) { return v.is_number(); }
bool is_flag(const json& v) { return v.is_boolean(); }

bool is_version(const json& v) {
  // /^\d+\.\d+\.\d+/: a prefix; anything may follow.
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
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

bool is_content(const json& v) {
  // An array of objects whose `text`, when there, is a string. valibot's
  // object() takes anything typeof "object", so an array item passes too.
  if (!v.is_array()) return false;
  return std::all_of(v.begin(), v.end(), [](const json& item) {
    return item.is_array() || (item.is_object() && absent_or(item, "text", is_text));
  });
}

// ccusage 17's usageDataSchema (valibot): a line that fails it is skipped
// whole. optional() means absent: a null is a wrong type, and so is an
// empty id, session id or model.
bool fits_ccusage_schema(const json& j) {
  if (!j.is_object()) return false;
  auto msg = j.find("message");
  if (msg == j.end() || !msg->is_object()) return false;
  auto usage = msg->find("usage");
  if (usage == msg->end() || !usage->is_object()) return false;
  return absent_or(j, "cwd", is_text) && absent_or(j, "sessionId", is_name) &&
         absent_or(j, "version", is_version) && absent_or(j, "costUSD", is_number) &&
         absent_or(j, "requestId", is_name) && absent_or(j, "isApiErrorMessage", is_flag) &&
         absent_or(*msg, "model", is_name) && absent_or(*msg, "id", is_name) &&
         absent_or(*msg, "content", is_content) && usage->contains("input_tokens") &&
         usage->contains("output_tokens") && absent_or(*usage, "input_tokens", is_number) &&
         absent_or(*usage, "output_tokens", is_number) &&
         absent_or(*usage, "cache_creation_input_tokens", is_number) &&
         absent_or(*usage, "cache_read_input_tokens", is_number);
}

}  // namespace

TranscriptLine read_transcript_line(std::string_view line, TranscriptEntry& e) {
  std::string storage;
  auto text = as_json_parse_reads(line, storage);
  if (!text) return TranscriptLine::unreadable;
  // A raw NUL is JSON nowhere (JSON.parse refuses it), but nlohmann takes
  // it for the end of the input and would read what comes before it.
  if (text->find('\0') != std::string_view::npos) return TranscriptLine::unreadable;
  json j = json::parse(text->begin(), text->end(), nullptr, false);
  if (j.is_discarded()) return TranscriptLine::unreadable;
  if (!fits_ccusage_schema(j)) return TranscriptLine::other;
  auto at = ccusage_timestamp(json_text(j, "timestamp"));
  if (!at) return TranscriptLine::other;
  const json& msg = j["message"];
  const json& usage = msg["usage"];
  e.message_id = json_text(msg, "id");
  e.request_id = json_text(j, "requestId");
  e.session_id = json_text(j, "sessionId");
  e.model = json_text(msg, "model");
  e.cwd = json_text(j, "cwd");
  e.at = *at;
  e.input_tokens = token_count(usage, "input_tokens");
  e.output_tokens = token_count(usage, "output_tokens");
  e.cache_creation_tokens = token_count(usage, "cache_creation_input_tokens");
  e.cache_read_tokens = token_count(usage, "cache_read_input_tokens");
  if (auto c = j.find("costUSD"); c != j.end()) e.cost_usd = c->get<double>();
  auto error = j.find("isApiErrorMessage");
  e.api_error = error != j.end() && error->is_boolean() && error->get<bool>();
  return TranscriptLine::usage;
}

std::optional<TranscriptEntry> parse_transcript_line(std::string_view line) {
  TranscriptEntry e;
  if (read_transcript_line(line, e) != TranscriptLine::usage) return std::nullopt;
  return e;
}

std::vector<fs::path> transcript_roots(const std::optional<std::string>& claude_config_dir,
                                       const fs::path& home) {
  std::vector<fs::path> candidates;
  if (claude_config_dir && !claude_config_dir->empty()) {
    std::stringstream list(*claude_config_dir);
    std::string dir;
    while (std::getline(list, dir, ',')) {
      dir.erase(0, dir.find_first_not_of(' '));
      while (!dir.empty() && dir.back() == ' ') dir.pop_back();
      if (!dir.empty()) candidates.push_back(fs::path(dir) / "projects");
    }
  } else {
    candidates = {home / ".config" / "claude" / "projects", home / ".claude" / "projects"};
  }
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto& c : candidates) {
    if (fs::is_directory(c, ec)) out.push_back(std::move(c));
  }
  return out;
}

namespace {

// One line of a transcript to read, and what it read as.
struct PendingLine {
  std::uintmax_t offset = 0;
  std::string_view text;
  TranscriptLine kind = TranscriptLine::other;
  TranscriptEntry entry;
};

// Lines end as Node's readline ends them: at \n, \r\n, or a lone \r. Every
// line but blank ones, from `whole` (which ends with \n) at file offset
// `base`.
void split_lines(std::string_view whole, std::uintmax_t base, std::vector<PendingLine>& out) {
  std::size_t start = 0;
  std::size_t newline = std::string_view::npos;  // the next \n at or after start, once found
  while (start < whole.size()) {
    if (newline == std::string_view::npos || newline < start) newline = whole.find('\n', start);
    std::size_t end = newline;
    std::size_t next = newline + 1;
    if (const auto cr = whole.substr(start, newline - start).find('\r');
        cr != std::string_view::npos) {
      end = start + cr;
      next = end + (end + 1 == newline ? 2 : 1);
    }
    const std::string_view line = whole.substr(start, end - start);
    if (line.find_first_not_of(" \t\f\v") != std::string_view::npos) {
      PendingLine l;
      l.offset = base + start;
      l.text = line;
      out.push_back(std::move(l));
    }
    start = next;
  }
}

// Reads every line: on this thread, or, for a large file, split by bytes
// over up to four threads (the lines' order is kept; each line is read on
// its own, so the threads share nothing).
void read_lines(std::vector<PendingLine>& lines, std::size_t bytes) {
  auto read = [&lines](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
      lines[i].kind = scan_transcript_line(lines[i].text, lines[i].entry);
    }
  };
  constexpr std::size_t kBytesPerThread = 256 * 1024;
  const std::size_t threads = std::min<std::size_t>(
      {4, std::max(1U, std::thread::hardware_concurrency()), 1 + bytes / kBytesPerThread});
  if (threads <= 1) {
    read(0, lines.size());
    return;
  }
  std::vector<std::future<void>> helpers;
  std::size_t from = 0;
  std::size_t seen = 0;
  for (std::size_t i = 0; i < lines.size() && helpers.size() + 1 < threads; ++i) {
    seen += lines[i].text.size();
    if (seen * threads >= bytes * (helpers.size() + 1)) {
      helpers.push_back(std::async(std::launch::async, read, from, i + 1));
      from = i + 1;
    }
  }
  read(from, lines.size());
  for (auto& h : helpers) h.get();  // rethrows what a helper threw
}

}  // namespace

Result<TranscriptReader::Batch> TranscriptReader::read_new(const std::vector<fs::path>& roots) {
  Batch batch;
  // One buffer for every file, and one list of lines: memory once touched
  // is used again (a fresh page costs a fault, tens of MB on a first read).
  std::unique_ptr<char[]> buffer;
  std::size_t capacity = 0;
  std::vector<PendingLine> lines;
  for (const auto& root : roots) {
    std::error_code ec;
    std::vector<fs::path> files;
    for (fs::recursive_directory_iterator
             it(root, fs::directory_options::skip_permission_denied, ec),
         end;
         !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file(ec) && it->path().extension() == ".jsonl") files.push_back(*it);
    }
    if (ec) return make_error(errc::io, "cannot read " + root.string() + ": " + ec.message());
    std::sort(files.begin(), files.end());
    for (const auto& path : files) {
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0) continue;  // gone meanwhile
      FileMark& mark = files_[path.string()];
      const auto size = static_cast<std::uintmax_t>(st.st_size);
      if (mark.inode != static_cast<std::uintmax_t>(st.st_ino) || size < mark.offset) {
        mark = FileMark{0, static_cast<std::uintmax_t>(st.st_ino)};
      }
      if (size == mark.offset) continue;
      std::ifstream in(path, std::ios::binary);
      if (!in) continue;
      in.seekg(static_cast<std::streamoff>(mark.offset));
      const auto want = static_cast<std::size_t>(size - mark.offset);
      if (want > capacity) {
        buffer = std::make_unique_for_overwrite<char[]>(want);
        capacity = want;
      }
      in.read(buffer.get(), static_cast<std::streamsize>(want));
      const std::string_view chunk(buffer.get(), static_cast<std::size_t>(in.gcount()));
      // Only whole lines: a half line at the end is read next time.
      const auto last_newline = chunk.rfind('\n');
      if (last_newline == std::string_view::npos) continue;
      ++batch.files;
      const std::string_view whole = chunk.substr(0, last_newline + 1);
      const std::uintmax_t base = mark.offset;
      mark.offset += whole.size();
      lines.clear();
      split_lines(whole, base, lines);
      read_lines(lines, whole.size());
      for (auto& line : lines) {
        if (line.kind == TranscriptLine::unreadable) ++batch.unreadable;
        if (line.kind != TranscriptLine::usage) continue;
        const std::string key = dedup_key(line.entry);
        if (!key.empty() && !seen_.insert(key).second) {
          ++batch.duplicates;
          continue;
        }
        line.entry.file = path;
        line.entry.offset = line.offset;
        batch.entries.push_back(std::move(line.entry));
      }
    }
  }
  return batch;
}

std::string TranscriptReader::state() const {
  json files = json::object();
  for (const auto& [path, mark] : files_) files[path] = {mark.offset, mark.inode};
  return json{{"files", files}, {"seen", seen_}}.dump();
}

Result<void> TranscriptReader::restore(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(errc::bad_payload, "the transcript reader's state is not JSON");
  }
  try {
    std::map<std::string, FileMark> files;
    const json file_section = j.value("files", json::object());
    for (const auto& [path, mark] : file_section.items()) {
      files[path] = FileMark{mark.at(0).get<std::uintmax_t>(), mark.at(1).get<std::uintmax_t>()};
    }
    seen_ = j.value("seen", std::set<std::string>{});
    files_ = std::move(files);
  } catch (const json::exception& e) {
    return make_error(errc::bad_payload,
                      std::string("the transcript reader's state is malformed: ") + e.what());
  }
  return {};
}

std::map<std::string, DayTotals> daily_totals(const std::vector<TranscriptEntry>& entries) {
  std::map<std::string, DayTotals> out;
  for (const auto& e : entries) {
    DayTotals& d = out[local_date(e.at)];
    d.input_tokens = bounds::sat_add(d.input_tokens, e.input_tokens);
    d.output_tokens = bounds::sat_add(d.output_tokens, e.output_tokens);
    d.cache_creation_tokens = bounds::sat_add(d.cache_creation_tokens, e.cache_creation_tokens);
    d.cache_read_tokens = bounds::sat_add(d.cache_read_tokens, e.cache_read_tokens);
    if (!e.model.empty() && e.model != "<synthetic>") d.models.insert(e.model);
  }
  return out;
}

}  // namespace agency
