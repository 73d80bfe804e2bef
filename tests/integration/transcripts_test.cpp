// The transcript reader against the real ccusage 17 (npm): day totals of a
// generated transcript set must equal `ccusage daily --json`, in UTC and in
// a zone where days start at another hour, read all at once and read in two
// steps while a session is still being written, and with odd lines.
#include <doctest/doctest.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "roles/accountant/transcripts.hpp"
#include "tests/support/run.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/transcript_gen.hpp"

namespace agency::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

void check_parity(const std::vector<TranscriptEntry>& entries, const fs::path& config_dir,
                  const std::string& tz) {
  auto theirs = ccusage_daily(config_dir, tz);
  ::setenv("TZ", tz.c_str(), 1);
  ::tzset();
  auto ours = daily_totals(entries);
  ::unsetenv("TZ");
  ::tzset();
  CAPTURE(tz);
  // Not REQUIRE: a case that fails leaves the other cases run.
  CHECK(ours.size() == theirs.size());
  for (const auto& [date, d] : ours) {
    CAPTURE(date);
    const bool theirs_too = theirs.count(date) == 1;
    CHECK(theirs_too);
    if (!theirs_too) continue;
    const json& t = theirs.at(date);
    CHECK(d.input_tokens == t.at("inputTokens").get<std::int64_t>());
    CHECK(d.output_tokens == t.at("outputTokens").get<std::int64_t>());
    CHECK(d.cache_creation_tokens == t.at("cacheCreationTokens").get<std::int64_t>());
    CHECK(d.cache_read_tokens == t.at("cacheReadTokens").get<std::int64_t>());
    std::set<std::string> models;
    for (const auto& m : t.at("modelsUsed")) models.insert(m.get<std::string>());
    CHECK(d.models == models);
  }
}

}  // namespace

TEST_CASE("transcripts: day totals equal ccusage daily, whole and read in two steps") {
  TempDir dir;
  const fs::path config = dir.path() / "claude";
  Generator gen;
  // 2026-11-17 21:00 UTC: sessions run across midnight in UTC and in New York.
  const std::int64_t t0 = 1'794'949'200'000;
  write_lines(config / "projects" / "-work-api" / "s-1.jsonl", gen.session(t0, "s-1", 40));
  write_lines(config / "projects" / "-work-api" / "s-2.jsonl",
              gen.session(t0 + 26LL * 3600 * 1000, "s-2", 30));
  write_lines(config / "projects" / "-work-web" / "s-3.jsonl",
              gen.session(t0 + 50LL * 3600 * 1000, "s-3", 35));
  // A session being written: the first half now, a half line at the end.
  auto live = gen.session(t0 + 70LL * 3600 * 1000, "s-4", 30);
  const fs::path live_file = config / "projects" / "-work-web" / "s-4.jsonl";
  const std::size_t half = live.size() / 2;
  write_lines(live_file, {live.begin(), live.begin() + static_cast<long>(half)});
  const std::string cut = live[half];
  {
    std::ofstream out(live_file, std::ios::app);
    out << cut.substr(0, cut.size() / 2);  // no newline yet
  }
  // Lines ccusage and we both skip.
  write_lines(config / "projects" / "-work-api" / "s-1.jsonl", {"{not json", ""}, true);

  auto roots = transcript_roots(config.string(), dir.path());
  REQUIRE(roots.size() == 1);
  TranscriptReader reader;
  auto first = reader.read_new(roots);
  REQUIRE(first.ok());
  CHECK(first->files == 4);
  CHECK(first->duplicates > 0);
  CHECK(first->unreadable == 1);
  std::vector<TranscriptEntry> entries = first->entries;

  // The state survives a restart: a new reader picks up where it was.
  TranscriptReader restarted;
  REQUIRE(restarted.restore(reader.state()).ok());
  {
    std::ofstream out(live_file, std::ios::app);
    out << cut.substr(cut.size() / 2) << '\n';
  }
  write_lines(live_file, {live.begin() + static_cast<long>(half) + 1, live.end()}, true);
  auto second = restarted.read_new(roots);
  REQUIRE(second.ok());
  CHECK(second->files == 1);
  entries.insert(entries.end(), second->entries.begin(), second->entries.end());

  // Nothing new: nothing read.
  auto third = restarted.read_new(roots);
  REQUIRE(third.ok());
  CHECK(third->entries.empty());

  check_parity(entries, config, "UTC");
  check_parity(entries, config, "America/New_York");

  // Read all at once by a fresh reader: the same entries.
  TranscriptReader fresh;
  auto all = fresh.read_new(roots);
  REQUIRE(all.ok());
  CHECK(all->entries.size() == entries.size());
}

// Issue 13: lines whose fields have the wrong type were counted as zeros
// where ccusage skips them, and a lone surrogate escape dropped a line
// ccusage counts. Each odd line beside an ordinary session, then all at once.
TEST_CASE("transcripts: odd lines are skipped or counted as ccusage does") {
  Generator gen;
  const std::int64_t t0 = 1'794'949'200'000;  // 2026-11-17 21:00 UTC
  const auto ordinary = gen.session(t0, "s-o", 4);
  const auto cases = gen.odd_lines(t0 + 3LL * 3600 * 1000, "s-odd");
  std::vector<std::string> all = ordinary;
  for (const auto& c : cases) {
    all.insert(all.end(), c.lines.begin(), c.lines.end());
    SUBCASE(c.name.c_str()) {
      TempDir dir;
      const fs::path config = dir.path() / "claude";
      write_lines(config / "projects" / "-work-api" / "s-o.jsonl", ordinary);
      write_lines(config / "projects" / "-work-api" / "s-odd.jsonl", c.lines);
      TranscriptReader reader;
      auto batch = reader.read_new(transcript_roots(config.string(), dir.path()));
      REQUIRE(batch.ok());
      check_parity(batch->entries, config, "UTC");
    }
  }
  SUBCASE("all in one file") {
    TempDir dir;
    const fs::path config = dir.path() / "claude";
    write_lines(config / "projects" / "-work-api" / "s-all.jsonl", all);
    TranscriptReader reader;
    auto batch = reader.read_new(transcript_roots(config.string(), dir.path()));
    REQUIRE(batch.ok());
    CHECK(batch->unreadable == 1);  // the line after a byte order mark: not JSON to JSON.parse
    check_parity(batch->entries, config, "UTC");
    check_parity(batch->entries, config, "America/New_York");
  }
}

TEST_CASE("transcripts: the roots follow CLAUDE_CONFIG_DIR, else the home directory") {
  TempDir dir;
  fs::create_directories(dir.path() / "a" / "projects");
  fs::create_directories(dir.path() / "b" / "projects");
  fs::create_directories(dir.path() / "home" / ".claude" / "projects");
  auto two = transcript_roots((dir.path() / "a").string() + ", " + (dir.path() / "b").string() +
                                  "," + (dir.path() / "missing").string(),
                              dir.path() / "home");
  REQUIRE(two.size() == 2);
  CHECK(two[0] == dir.path() / "a" / "projects");
  CHECK(two[1] == dir.path() / "b" / "projects");
  auto home = transcript_roots(std::nullopt, dir.path() / "home");
  REQUIRE(home.size() == 1);
  CHECK(home[0] == dir.path() / "home" / ".claude" / "projects");
  TranscriptReader r;
  CHECK_FALSE(r.restore("not json").ok());
  CHECK_FALSE(r.restore(R"({"files": {"x": "y"}})").ok());
}

}  // namespace agency::test
