// One transcript line read as ccusage 17 reads it (issue 13): its schema
// decides whether a line counts, JSON.parse decides what is JSON.
#include "roles/accountant/transcripts.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "tests/support/temp_dir.hpp"

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
    CHECK(parse_transcript_line(with("/isApiErrorMessage", true)));
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
