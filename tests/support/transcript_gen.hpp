// Generated Claude Code transcripts, and what the real ccusage 17 (npm)
// says of them: for the transcript reader's and the accountant's parity
// tests.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "tests/support/run.hpp"

namespace agency::test {

namespace transcript_gen_detail {
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;
}  // namespace transcript_gen_detail

using namespace transcript_gen_detail;

inline std::string ccusage() {
  const fs::path path = fs::path(AGENCY_SOURCE_DIR) / "tests/e2e/node_modules/.bin/ccusage";
  REQUIRE_MESSAGE(fs::exists(path), "ccusage is not installed: run scripts/install-deps.sh");
  return path.string();
}

inline std::string iso(std::int64_t epoch_ms) {
  std::time_t t = epoch_ms / 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03lldZ", buf, static_cast<long long>(epoch_ms % 1000));
  return out;
}

// A transcript set of several projects and sessions over four days, with
// what real ones hold: the same message written twice while streaming,
// Claude Code's <synthetic> messages, user lines, a summary line, a line cut
// in half, lines without a request id.
struct Generator {
  std::mt19937 rng{20261122};
  int next_id = 0;

  std::string assistant(std::int64_t at_ms, const std::string& model, const std::string& msg,
                        const std::string& req, const std::string& session) {
    std::uniform_int_distribution<int> tokens(0, 5000);
    json line = {{"type", "assistant"},
                 {"timestamp", iso(at_ms)},
                 {"sessionId", session},
                 {"cwd", "/work/project"},
                 {"message",
                  {{"id", msg},
                   {"type", "message"},
                   {"role", "assistant"},
                   {"model", model},
                   {"usage",
                    {{"input_tokens", tokens(rng)},
                     {"output_tokens", tokens(rng)},
                     {"cache_creation_input_tokens", tokens(rng)},
                     {"cache_read_input_tokens", tokens(rng) * 10},
                     {"service_tier", "standard"}}}}}};
    if (!req.empty()) line["requestId"] = req;
    return line.dump();
  }

  // Lines of one session starting at `start_ms`.
  std::vector<std::string> session(std::int64_t start_ms, const std::string& id, int messages) {
    static const char* models[] = {"claude-sonnet-4-20250514", "claude-opus-4-20250514",
                                   "claude-3-5-haiku-20241022"};
    std::vector<std::string> out;
    std::int64_t at = start_ms;
    for (int i = 0; i < messages; ++i) {
      at += std::uniform_int_distribution<std::int64_t>(1000, 40LL * 60 * 1000)(rng);
      out.push_back(json{{"type", "user"},
                         {"timestamp", iso(at)},
                         {"sessionId", id},
                         {"message", {{"role", "user"}, {"content", "go on"}}}}
                        .dump());
      const std::string msg = "msg_" + std::to_string(++next_id);
      const std::string req = "req_" + std::to_string(next_id);
      const std::string model = models[rng() % 3];
      const std::string line = assistant(at + 500, model, msg, req, id);
      out.push_back(line);
      if (i % 3 == 0) out.push_back(line);  // written again while streaming
      if (i % 7 == 0) {
        out.push_back(assistant(at + 600, "<synthetic>", "msg_s" + std::to_string(next_id),
                                "req_s" + std::to_string(next_id), id));
      }
      if (i % 11 == 0) {
        // Without a request id (older versions): counted every time.
        const std::string once = assistant(at + 700, model, msg + "x", "", id);
        out.push_back(once);
        out.push_back(once);
        // Ids given but empty: ccusage drops the line.
        auto empty = json::parse(assistant(at + 800, model, "", "req_e", id));
        out.push_back(empty.dump());
      }
    }
    out.push_back(json{{"type", "summary"}, {"summary", "a session"}}.dump());
    return out;
  }

  // Lines with odd fields, one case each: those ccusage 17's schema refuses
  // (skipped whole) and odd ones it counts. `at_ms` is the first line's
  // time; each case is an hour after the one before.
  struct OddCase {
    std::string name;
    std::vector<std::string> lines;
  };
  std::vector<OddCase> odd_lines(std::int64_t at_ms, const std::string& session) {
    std::vector<OddCase> out;
    auto base = [&] {
      const std::string n = std::to_string(++next_id);
      at_ms += 3600LL * 1000;
      return json::parse(
          assistant(at_ms, "claude-sonnet-4-20250514", "msg_o" + n, "req_o" + n, session));
    };
    auto edited = [&](const std::string& name, auto edit) {
      json line = base();
      edit(line);
      out.push_back({name, {line.dump()}});
    };
    // The line's text with "@@" in its content swapped for `raw` (what
    // nlohmann::json cannot write: lone surrogates, ill-formed UTF-8).
    auto raw_text = [&](const std::string& name, const std::string& raw) {
      json line = base();
      line["message"]["content"] = json::array({{{"type", "text"}, {"text", "x @@ y"}}});
      std::string text = line.dump();
      text.replace(text.find("@@"), 2, raw);
      out.push_back({name, {text}});
    };
    auto with_time = [&](const std::string& name, const std::string& at) {
      edited(name, [&](json& l) { l["timestamp"] = at; });
    };

    // Refused by the schema.
    edited("string input_tokens", [](json& l) { l["message"]["usage"]["input_tokens"] = "120"; });
    edited("null output_tokens", [](json& l) { l["message"]["usage"]["output_tokens"] = nullptr; });
    edited("missing output_tokens", [](json& l) { l["message"]["usage"].erase("output_tokens"); });
    edited("string cache read",
           [](json& l) { l["message"]["usage"]["cache_read_input_tokens"] = "9"; });
    edited("null cache creation",
           [](json& l) { l["message"]["usage"]["cache_creation_input_tokens"] = nullptr; });
    edited("numeric model", [](json& l) { l["message"]["model"] = 7; });
    edited("empty model", [](json& l) { l["message"]["model"] = ""; });
    edited("null costUSD", [](json& l) { l["costUSD"] = nullptr; });
    edited("string costUSD", [](json& l) { l["costUSD"] = "0.5"; });
    edited("null message id", [](json& l) { l["message"]["id"] = nullptr; });
    edited("numeric requestId", [](json& l) { l["requestId"] = 12; });
    edited("empty sessionId", [](json& l) { l["sessionId"] = ""; });
    edited("null cwd", [](json& l) { l["cwd"] = nullptr; });
    edited("version not x.y.z", [](json& l) { l["version"] = "v1"; });
    edited("isApiErrorMessage a string", [](json& l) { l["isApiErrorMessage"] = "true"; });
    edited("content a string", [](json& l) { l["message"]["content"] = "hello"; });
    edited("content text a number", [](json& l) {
      l["message"]["content"] = json::array({{{"text", 5}}});
    });
    edited("usage an array", [](json& l) { l["message"]["usage"] = json::array({1, 2}); });
    with_time("timestamp with an offset", "2026-11-19T10:00:00+00:00");
    with_time("timestamp with microseconds", "2026-11-19T10:00:00.123456Z");
    with_time("timestamp without seconds", "2026-11-19T10:00Z");
    with_time("month 13", "2026-13-01T10:00:00Z");
    with_time("minute 60", "2026-11-19T10:60:00Z");
    with_time("24:00:01", "2026-11-19T24:00:01Z");
    {
      json line = base();
      out.push_back({"byte order mark", {"\xEF\xBB\xBF" + line.dump()}});
    }

    // Counted.
    raw_text("lone high surrogate (a cut emoji)", "\\ud83d");
    raw_text("lone low surrogate", "\\ude00");
    raw_text("high surrogate before a non-surrogate escape", "\\ud83d\\u0041");
    raw_text("escaped backslash, then u", "\\\\ud83d");
    raw_text("escaped backslash, then a lone surrogate", "\\\\\\ud83d");
    raw_text("a whole surrogate pair", "\\ud83d\\ude00");
    raw_text("ill-formed UTF-8", "\xF0\x9F\x98");
    raw_text("a number past a double's range elsewhere", "\", \"n\": 1e400, \"t\": \"");
    edited("type user", [](json& l) { l["type"] = "user"; });
    edited("no type", [](json& l) { l.erase("type"); });
    edited("counts as 1.0", [](json& l) {
      l["message"]["usage"]["input_tokens"] = 1234.0;
      l["message"]["usage"]["output_tokens"] = 5e2;
    });
    edited("a count of 2^40",
           [](json& l) { l["message"]["usage"]["cache_read_input_tokens"] = 1LL << 40; });
    edited("extra fields", [](json& l) {
      l["message"]["usage"]["server_tool_use"] = {{"web_search_requests", 1}};
      l["message"]["stop_reason"] = nullptr;
      l["parentUuid"] = nullptr;
      l["isSidechain"] = false;
    });
    edited("costUSD, version, isApiErrorMessage", [](json& l) {
      l["costUSD"] = 0.25;
      l["version"] = "2.0.14-beta";
      l["isApiErrorMessage"] = false;
    });
    edited("content items without text", [](json& l) {
      l["message"]["content"] =
          json::array({{{"type", "tool_use"}, {"id", "t1"}}, json::array(), {{"text", "ok"}}});
    });
    edited("no cache fields", [](json& l) {
      l["message"]["usage"].erase("cache_creation_input_tokens");
      l["message"]["usage"].erase("cache_read_input_tokens");
    });
    with_time("February 30th", "2026-02-30T10:00:00Z");
    with_time("24:00:00", "2026-11-19T24:00:00Z");
    with_time("no milliseconds", "2026-11-19T23:59:59Z");
    {
      json a = base();
      json b = base();
      out.push_back({"two lines parted by a lone CR", {a.dump() + "\r" + b.dump()}});
    }
    {
      json a = base();
      out.push_back({"a CRLF line ending", {a.dump() + "\r"}});
    }
    {
      json a = base();
      a["message"].erase("id");
      out.push_back({"no message id, written twice", {a.dump(), a.dump()}});
    }
    return out;
  }
};

inline void write_lines(const fs::path& file, const std::vector<std::string>& lines,
                        bool append = false) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, append ? std::ios::app : std::ios::trunc);
  for (const auto& l : lines) out << l << '\n';
}

// ccusage's day totals for the transcripts under `config_dir`, in `tz`.
inline std::map<std::string, json> ccusage_daily(const fs::path& config_dir,
                                                 const std::string& tz) {
  auto r = run({ccusage(), "daily", "--json", "--offline"},
               {{"CLAUDE_CONFIG_DIR", config_dir.string()}, {"TZ", tz}}, 120s);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  json j = json::parse(r.out);
  std::map<std::string, json> out;
  for (const auto& d : j.at("daily")) out[d.at("date").get<std::string>()] = d;
  return out;
}

}  // namespace agency::test
