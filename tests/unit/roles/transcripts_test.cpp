// One transcript line read as ccusage 17 reads it (issue 13): its schema
// decides whether a line counts, JSON.parse decides what is JSON.
#include "roles/accountant/transcripts.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

#include "tests/support/temp_dir.hpp"
#include "tests/support/transcript_gen.hpp"

namespace agency {
namespace {

using json = nlohmann::json;
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

json good_line() {
  return json::parse(R"({"type":"assistant","timestamp":"2026-11-19T10:00:00.000Z",
    "sessionId":"s-1","cwd":"/w","requestId":"req_1",
    "message":{"id":"msg_1","model":"claude-sonnet-4-20250514","content":[{"type":"text","text":"hi"}],
      "usage":{"input_tokens":10,"output_tokens":20,"cache_creation_input_tokens":30,
               "cache_read_input_tokens":40}}})");
}

// The good line with the usage field at `pointer` replaced by `value`.
std::string with(const std::string& pointer, const json& value) {
  json l = good_line();
  l[json::json_pointer(pointer)] = value;
  return l.dump();
}

std::string without(const std::string& pointer) {
  json l = good_line();
  json::json_pointer p(pointer);
  l[p.parent_pointer()].erase(p.back());
  return l.dump();
}

// The good line's text with "hi" in its content swapped for `raw`.
std::string with_text(const std::string& raw) {
  std::string text = good_line().dump();
  text.replace(text.find("\"hi\""), 4, "\"" + raw + "\"");
  return text;
}

}  // namespace

TEST_CASE("transcripts: a field of the wrong type skips the whole line, as ccusage's schema does") {
  REQUIRE(parse_transcript_line(good_line().dump()));
  const std::pair<const char*, std::string> refused[] = {
      {"string input_tokens", with("/message/usage/input_tokens", "120")},
      {"null output_tokens", with("/message/usage/output_tokens", nullptr)},
      {"missing input_tokens", without("/message/usage/input_tokens")},
      {"missing output_tokens", without("/message/usage/output_tokens")},
      {"boolean cache creation", with("/message/usage/cache_creation_input_tokens", true)},
      {"string cache read", with("/message/usage/cache_read_input_tokens", "4")},
      {"usage an array", with("/message/usage", json::array({1}))},
      {"message a string", with("/message", "m")},
      {"numeric model", with("/message/model", 7)},
      {"null model", with("/message/model", nullptr)},
      {"empty model", with("/message/model", "")},
      {"null message id", with("/message/id", nullptr)},
      {"empty message id", with("/message/id", "")},
      {"numeric requestId", with("/requestId", 12)},
      {"empty requestId", with("/requestId", "")},
      {"null costUSD", with("/costUSD", nullptr)},
      {"string costUSD", with("/costUSD", "0.5")},
      {"empty sessionId", with("/sessionId", "")},
      {"numeric cwd", with("/cwd", 1)},
      {"version not x.y.z", with("/version", "1.2")},
      {"isApiErrorMessage a string", with("/isApiErrorMessage", "false")},
      {"content a string", with("/message/content", "hi")},
      {"content item a string", with("/message/content", json::array({"hi"}))},
      {"content text a number", with("/message/content/0/text", 5)},
      {"no timestamp", without("/timestamp")},
      {"timestamp with an offset", with("/timestamp", "2026-11-19T10:00:00+00:00")},
      {"timestamp with two fraction digits", with("/timestamp", "2026-11-19T10:00:00.12Z")},
      {"timestamp lower-case z", with("/timestamp", "2026-11-19T10:00:00z")},
      {"timestamp with a space", with("/timestamp", "2026-11-19 10:00:00Z")},
      {"month 13", with("/timestamp", "2026-13-19T10:00:00Z")},
      {"day 0", with("/timestamp", "2026-11-00T10:00:00Z")},
      {"day 32", with("/timestamp", "2026-11-32T10:00:00Z")},
      {"minute 60", with("/timestamp", "2026-11-19T10:60:00Z")},
      {"second 60", with("/timestamp", "2026-11-19T10:00:60Z")},
      {"24:00:00.001", with("/timestamp", "2026-11-19T24:00:00.001Z")},
      {"a byte order mark", "\xEF\xBB\xBF" + good_line().dump()},
  };
  for (const auto& case_ : refused) {
    const auto& [name, line] = case_;
    CAPTURE(case_.first);
    CHECK_FALSE(parse_transcript_line(line));
  }
}

TEST_CASE("transcripts: odd lines ccusage counts are counted") {
  SUBCASE("a lone surrogate escape reads as U+FFFD, only where it is an escape") {
    const std::pair<std::string, std::string> texts[] = {
        {"\\ud83d", "\xEF\xBF\xBD"},
        {"\\ude00", "\xEF\xBF\xBD"},
        {"a\\ud83d\\u0041",
         "a\xEF\xBF\xBD"
         "A"},
        {"\\ud83d\\ud83d\\ude00", "\xEF\xBF\xBD\xF0\x9F\x98\x80"},
        {"\\ud83d\\ude00", "\xF0\x9F\x98\x80"},
        {"\\\\ud83d", "\\ud83d"},
        {"\\\\\\ud83d", "\\\xEF\xBF\xBD"},
        {"\\\"\\ud83d", "\"\xEF\xBF\xBD"},
        {"end\\ud83d", "end\xEF\xBF\xBD"},
    };
    for (const auto& text : texts) {
      const auto& [raw, read] = text;
      CAPTURE(text.first);
      auto e = parse_transcript_line(with_text(raw));
      REQUIRE(e);
      CHECK(e->input_tokens == 10);
      // The session id shows what the text became.
      std::string line = good_line().dump();
      line.replace(line.find("\"s-1\""), 5, "\"" + raw + "\"");
      auto s = parse_transcript_line(line);
      REQUIRE(s);
      CHECK(s->session_id == read);
    }
  }
  SUBCASE("ill-formed UTF-8 reads as U+FFFD, as Node decodes it") {
    std::string line = good_line().dump();
    line.replace(line.find("\"s-1\""), 5,
                 "\"a\xF0\x9F\x98"
                 "b\xFF\xED\xA0\x80"
                 "c\"");
    auto e = parse_transcript_line(line);
    REQUIRE(e);
    CHECK(e->session_id ==
          "a\xEF\xBF\xBD"
          "b\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
          "c");
  }
  SUBCASE("any type, or none") {
    CHECK(parse_transcript_line(with("/type", "user")));
    CHECK(parse_transcript_line(without("/type")));
    CHECK(parse_transcript_line(with("/type", 3)));
  }
  SUBCASE("optional fields absent, extra fields, and what the schema takes") {
    for (const char* p :
         {"/message/id", "/requestId", "/sessionId", "/cwd", "/message/model", "/message/content",
          "/message/usage/cache_creation_input_tokens", "/message/usage/cache_read_input_tokens"}) {
      CAPTURE(p);
      CHECK(parse_transcript_line(without(p)));
    }
    CHECK(parse_transcript_line(with("/parentUuid", nullptr)));
    CHECK(parse_transcript_line(with("/message/stop_reason", nullptr)));
    CHECK(parse_transcript_line(with("/version", "2.0.14-beta")));
    // An error Claude Code wrote in place of an answer counts (0 tokens) and
    // says it was one: the person's refused request.
    auto refused = parse_transcript_line(with("/isApiErrorMessage", true));
    REQUIRE(refused);
    CHECK(refused->api_error);
    CHECK_FALSE(parse_transcript_line(with("/isApiErrorMessage", false))->api_error);
    CHECK_FALSE(parse_transcript_line(good_line().dump())->api_error);
    CHECK(parse_transcript_line(
        with("/message/content", json::array({json::object(), json::array(), {{"id", 1}}}))));
    auto cost = parse_transcript_line(with("/costUSD", 0.25));
    REQUIRE(cost);
    CHECK(cost->cost_usd == 0.25);
    CHECK_FALSE(parse_transcript_line(good_line().dump())->cost_usd.has_value());
  }
  SUBCASE("timestamps JavaScript's Date rolls over") {
    auto at = [](const char* t) {
      auto e = parse_transcript_line(with("/timestamp", t));
      REQUIRE(e);
      return std::chrono::duration_cast<std::chrono::milliseconds>(e->at.time_since_epoch())
          .count();
    };
    CHECK(at("2026-02-30T10:00:00Z") == at("2026-03-02T10:00:00.000Z"));
    CHECK(at("2026-11-19T24:00:00.000Z") == at("2026-11-20T00:00:00Z"));
    CHECK(at("2026-11-19T10:00:00.250Z") == 1'795'082'400'250);
  }
  SUBCASE("a time the clock cannot hold drops the line instead of overflowing") {
    // Nanoseconds since 1970 in int64 reach from 1677 to 2262 (found by the
    // transcripts fuzz target under UBSan).
    CHECK(parse_transcript_line(with("/timestamp", "2261-12-31T00:00:00Z")));
    CHECK_FALSE(parse_transcript_line(with("/timestamp", "9999-12-31T23:59:59Z")));
    CHECK_FALSE(parse_transcript_line(with("/timestamp", "0001-01-01T00:00:00Z")));
  }
}

TEST_CASE("transcripts: counts are whole, never negative, and saturate") {
  auto tokens = [](const json& value) {
    std::string line = with("/message/usage/input_tokens", 0);
    line.replace(line.find("\"input_tokens\":0"), 16, "\"input_tokens\":" + value.dump());
    auto e = parse_transcript_line(line);
    REQUIRE(e);
    return e->input_tokens;
  };
  CHECK(tokens(1234.0) == 1234);
  CHECK(tokens(12.9) == 12);
  CHECK(tokens(-5) == 0);
  CHECK(tokens(-5.5) == 0);
  CHECK(tokens(std::numeric_limits<std::uint64_t>::max()) == kMax);
  CHECK(tokens(1e30) == kMax);
  CHECK(tokens(kMax) == kMax);
  // Past a double's range: Infinity to JSON.parse, the line still counts.
  std::string line = good_line().dump();
  line.replace(line.find("\"output_tokens\":20"), 18, "\"output_tokens\":1e400");
  line.replace(line.find("\"cache_read_input_tokens\":40"), 28,
               "\"cache_read_input_tokens\":-1E+999");
  auto e = parse_transcript_line(line);
  REQUIRE(e);
  CHECK(e->output_tokens == kMax);
  CHECK(e->cache_read_tokens == 0);
  CHECK(e->input_tokens == 10);
  // Not a number at all stays unreadable: no fix turns bad JSON good.
  for (const char* bad : {"01e400", "1e400.5", "1e", "--1e400"}) {
    CAPTURE(bad);
    std::string b = good_line().dump();
    b.replace(b.find("\"output_tokens\":20"), 18, std::string("\"output_tokens\":") + bad);
    CHECK_FALSE(parse_transcript_line(b));
  }

  ::setenv("TZ", "UTC", 1);
  ::tzset();
  std::vector<TranscriptEntry> many(3, *parse_transcript_line(good_line().dump()));
  many[0].output_tokens = kMax;
  many[1].output_tokens = kMax;
  auto days = daily_totals(many);
  ::unsetenv("TZ");
  ::tzset();
  REQUIRE(days.size() == 1);
  CHECK(days.begin()->second.output_tokens == kMax);
  CHECK(days.begin()->second.input_tokens == 30);
}

TEST_CASE("transcripts: lines end where Node's readline ends them") {
  test::TempDir dir;
  const auto file = dir.path() / "projects" / "p" / "s.jsonl";
  std::filesystem::create_directories(file.parent_path());
  json a = good_line();
  json b = good_line();
  b["message"]["id"] = "msg_2";
  json c = good_line();
  c["message"]["id"] = "msg_3";
  {
    std::ofstream out(file, std::ios::binary);
    out << a.dump() << '\r' << b.dump() << "\r\n" << c.dump() << "\r\n{not json\n";
  }
  TranscriptReader reader;
  auto batch = reader.read_new({dir.path() / "projects"});
  REQUIRE(batch.ok());
  REQUIRE(batch->entries.size() == 3);
  CHECK(batch->entries[1].message_id == "msg_2");
  CHECK(batch->entries[2].message_id == "msg_3");
  CHECK(batch->entries[1].offset == a.dump().size() + 1);
  CHECK(batch->unreadable == 1);
}

}  // namespace agency

namespace agency {
namespace {

// What a reading of one line comes to, for comparing two readings.
std::string reading(TranscriptLine kind, const TranscriptEntry& e) {
  if (kind == TranscriptLine::other) return "other";
  if (kind == TranscriptLine::unreadable) return "unreadable";
  return json{{"message_id", e.message_id},
              {"request_id", e.request_id},
              {"session_id", e.session_id},
              {"model", e.model},
              {"cwd", e.cwd},
              {"at", e.at.time_since_epoch().count()},
              {"input", e.input_tokens},
              {"output", e.output_tokens},
              {"cache_creation", e.cache_creation_tokens},
              {"cache_read", e.cache_read_tokens},
              {"cost", e.cost_usd ? json(*e.cost_usd) : json(nullptr)},
              {"api_error", e.api_error}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

// Every line through both readings; returns how many were usage lines.
std::size_t check_scan_equals_read(const std::vector<std::string>& lines) {
  std::size_t usage = 0;
  for (const auto& line : lines) {
    TranscriptEntry full;
    TranscriptEntry quick;
    const auto full_kind = read_transcript_line(line, full);
    const auto quick_kind = scan_transcript_line(line, quick);
    CAPTURE(line);
    REQUIRE(reading(quick_kind, quick) == reading(full_kind, full));
    if (full_kind == TranscriptLine::usage) ++usage;
  }
  return usage;
}

// Lines the quick scan decides alone (no "usage", no \u): JSON or not, as
// JSON.parse says.
const std::vector<std::string>& tricky_lines() {
  static const std::vector<std::string> lines = {
      R"({"type":"user","message":{"role":"user","content":"hi"}})",
      R"({"type":"summary","summary":"x","leafUuid":"y"})",
      "{not json",
      "{}",
      "[]",
      "[1, 2, 3]",
      "\"text\"",
      "-0",
      "0",
      "01",
      "1.",
      ".5",
      "1e",
      "1e+",
      "1e400",
      "-1E-400",
      "+1",
      "-",
      "true",
      "truex",
      "nul",
      "null ",
      " \t{\"a\":1}\t ",
      "\f{\"a\":1}",
      "{\"a\":1}\f",
      "{\"a\":1}x",
      "{\"a\":1,}",
      "[1,]",
      "[,1]",
      "{,}",
      "{\"a\"}",
      "{\"a\":}",
      "{\"a\" 1}",
      "{\"a\":1 \"b\":2}",
      "{\"a\":[1,{\"b\":[]}],\"c\":{}}",
      "{\"a\":[1,{\"b\":[]}],\"c\":{}}}",
      "{\"a\":[1,{\"b\":[}],\"c\":{}}",
      "[[[[[[[[[[]]]]]]]]]]",
      "[[[[[[[[[[]]]]]]]]]",
      "{\"a\":\"tab\there\"}",
      std::string("{\"a\":\"nul\0here\"}", 16),
      "{\"a\":\"\\\"quoted\\\" \\\\ \\/ \\b\\f\\n\\r\\t\"}",
      "{\"a\":\"\\x\"}",
      "{\"a\":\"\\",
      "{\"a\":\"open",
      "{\"a\":\"caf\xC3\xA9\"}",
      "{\"a\":\"cut \xC3\"}",
      "{\"a\":\"bad \xFF\xFE byte\"}",
      "{\"a\":\"surrogate \xED\xA0\x80 bytes\"}",
      "{\"a\":1}\xC3\xA9",
      "\xC3\xA9{\"a\":1}",
      "\xEF\xBB\xBF{\"a\":1}",
      "{\"a\":tru}",
      "{\"a\":NaN}",
      "{\"a\":Infinity}",
      "{'a':1}",
      "{\"a\":1}{\"b\":2}",
      "{\"usag\":{\"input_tokens\":1,\"output_tokens\":2}}",
      // With "usage" or \u: the full reading decides, the scan must agree.
      R"({"message":{"usage":{"input_tokens":1,"output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"message":{"us\u0061ge":{"input_tokens":1,"output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"message":{"\u0075sage":{"input_tokens":1,"output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"a":"\u001b[32m green \u001b[0m"})",
      R"({"a":"\ud83d"})",
      R"({"a":"text mentions \"usage\" in quotes"})",
      R"({"usage":1})",
      // \u escapes in a line without "usage": JSON.parse takes any four hex
      // digits; an escape of a letter of "usage" sends the line to the full
      // reading.
      R"({"type":"user","a":"\u001b[0m \ud83d \ude00 \uD83D\uDE00 \uFFFF"})",
      R"({"a":"\u001"})",
      R"({"a":"\u00zz"})",
      R"({"a":"\u"})",
      R"({"message":{"\u0075sage":{"input_tokens":1,"output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"message":{"usag\u0065":{"input_tokens":1,"output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"message":{"\u0055sage":{"input_tokens":1,"output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z"})",
      // Read straight from the text: members named twice (the last counts),
      // containers where a figure belongs, escapes in strings and names.
      R"({"message":{"usage":{"input_tokens":1,"output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z","message":5})",
      R"({"message":5,"message":{"usage":{"input_tokens":1,"output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"message":{"usage":{"input_tokens":1,"output_tokens":2},"usage":{"input_tokens":3}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"message":{"usage":{"input_tokens":1,"input_tokens":"x","output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"message":{"usage":{"input_tokens":"x","input_tokens":7,"output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"cwd":{},"message":{"usage":{"input_tokens":1,"output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"cwd":[],"cwd":"/w","message":{"usage":{"input_tokens":1,"output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"message":{"id":"","usage":{"input_tokens":1,"output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"message":{"model":null,"usage":{"input_tokens":1,"output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"message":{"usage":{"input_tokens":1,"output_tokens":2,"cache_read_input_tokens":[1]}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"message":{"content":[{"text":"a","text":1}],"usage":{"input_tokens":1,"output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"message":{"content":[{"text":1,"text":"a"},[],{}],"usage":{"input_tokens":1,"output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"message":{"content":[1],"usage":{"input_tokens":1,"output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"message":{"content":[],"content":"x","usage":{"input_tokens":1,"output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"message":{"usage":{"input_tokens":1.9,"output_tokens":-4,"cache_creation_input_tokens":1e400,"cache_read_input_tokens":18446744073709551616}},"timestamp":"2026-01-01T00:00:00Z","costUSD":-1e999})",
      R"({"message":{"usage":{"input_tokens":-0,"output_tokens":9223372036854775808,"cache_creation_input_tokens":-9223372036854775809}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"message":{"id":"m\"1\\\/\t","usage":{"input_tokens":1,"output_tokens":2}},"requestId":"r\/1","sessionId":"s\n","cwd":"c\\","timestamp":"2026-01-01T00:00:00Z"})",
      R"({"mess\/age":{"usage":{"input_tokens":1,"output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"version":"1.2.3x","message":{"usage":{"input_tokens":1,"output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"version":"1.2","message":{"usage":{"input_tokens":1,"output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"isApiErrorMessage":null,"message":{"usage":{"input_tokens":1,"output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"isApiErrorMessage":true,"message":{"model":"<synthetic>","usage":{"input_tokens":0,"output_tokens":0}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"isApiErrorMessage":false,"isApiErrorMessage":true,"message":{"usage":{"input_tokens":0,"output_tokens":0}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"isApiErrorMessage":true,"isApiErrorMessage":false,"message":{"usage":{"input_tokens":0,"output_tokens":0}},"timestamp":"2026-01-01T00:00:00Z"})",
      R"({"timestamp":5,"message":{"usage":{"input_tokens":1,"output_tokens":2}}})",
      R"({"timestamp":"2026-01-01T00:00:00Z","timestamp":"nope","message":{"usage":{"input_tokens":1,"output_tokens":2}}})",
      R"([{"message":{"usage":{"input_tokens":1,"output_tokens":2}},"timestamp":"2026-01-01T00:00:00Z"}])",
      R"({"a":{"message":{"usage":{"input_tokens":1,"output_tokens":2}}},"timestamp":"2026-01-01T00:00:00Z"})",
      "{\"message\":{\"model\":\"caf\xC3\xA9\",\"usage\":{\"input_tokens\":1,\"output_tokens\":2}},"
      "\"timestamp\":\"2026-01-01T00:00:00Z\"}",
      "{\"message\":{\"model\":\"bad "
      "\xC3\",\"usage\":{\"input_tokens\":1,\"output_tokens\":2}},\"timestamp\":\"2026-01-01T00:00:"
      "00Z\"}",
  };
  return lines;
}

TEST_CASE("transcripts: the quick scan reads every line as the full parse does") {
  std::vector<std::string> lines = tricky_lines();
  // The fuzz corpus: lines that once broke the reader.
  const std::filesystem::path corpus =
      std::filesystem::path(AGENCY_SOURCE_DIR) / "tests/fuzz/corpus/transcripts";
  for (const auto& file : std::filesystem::directory_iterator(corpus)) {
    std::ifstream in(file.path(), std::ios::binary);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
  }
  // Sessions as Claude Code writes them, and the odd lines of the parity
  // tests (each one a case ccusage decides one way or the other).
  test::Generator gen;
  for (int s = 0; s < 4; ++s) {
    const auto session =
        gen.session(1'794'949'200'000 + s * 3'600'000LL, "s-" + std::to_string(s), 30);
    lines.insert(lines.end(), session.begin(), session.end());
  }
  for (const auto& odd : gen.odd_lines(1'794'949'200'000, "s-odd")) {
    for (const auto& l : odd.lines) {
      // Lines as the reader splits them: at \r too.
      std::size_t from = 0;
      while (from <= l.size()) {
        const auto cut = std::min(l.find('\r', from), l.size());
        lines.push_back(l.substr(from, cut - from));
        from = cut + 1;
      }
    }
  }
  const std::size_t base = lines.size();
  CHECK(check_scan_equals_read(lines) > 100);

  // Each line broken in small ways: cut short, a byte dropped, one put in,
  // one changed, "usage" renamed; mostly not JSON any more, or no longer
  // counting, and both readings must still agree.
  std::mt19937 rng(20261203);
  const std::string bytes = "{}[]\",:\\u0123456789eE.-+ tfn\t\x01\x7f\x80\xC3\xA9\xEF\xBB\xBF";
  auto any = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  std::vector<std::string> broken;
  for (std::size_t k = 0; k < base; ++k) {
    const std::string& l = lines[k];
    if (l.empty()) continue;
    for (int m = 0; m < 12; ++m) {
      std::string b = l;
      switch (m % 6) {
        case 0:
          b.resize(any(b.size()));
          break;
        case 1:
          b.erase(any(b.size()), 1);
          break;
        case 2:
          b.insert(any(b.size() + 1), 1, bytes[any(bytes.size())]);
          break;
        case 3:
          b[any(b.size())] = bytes[any(bytes.size())];
          break;
        case 4:
          if (auto at = b.find("\"usage\""); at != std::string::npos) b.replace(at, 7, "\"usag\"");
          b[any(b.size())] = bytes[any(bytes.size())];
          break;
        default: {
          // Two changes at once.
          b[any(b.size())] = bytes[any(bytes.size())];
          b.insert(any(b.size() + 1), 1, bytes[any(bytes.size())]);
        }
      }
      broken.push_back(std::move(b));
    }
  }
  CHECK(broken.size() > 10 * base / 2);
  check_scan_equals_read(broken);
}

}  // namespace
}  // namespace agency
