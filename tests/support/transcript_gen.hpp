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
