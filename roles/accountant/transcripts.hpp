// Claude Code's own transcripts (~/.claude/projects/<dir>/<session>.jsonl),
// read the way ccusage reads them: the usage of the sessions a person runs
// by hand, which the accountant (issue 6) counts beside the fleet's own.
//
// A line counts when it passes ccusage 17's schema (its usageDataSchema,
// whatever the line's `type`): a `timestamp` of the form
// 2026-01-02T03:04:05[.678]Z that JavaScript takes as a date,
// `message.usage` with numeric `input_tokens` and `output_tokens`, and
// every other field it knows either absent or of its type (a null is not
// absent). A line that fails is skipped whole, never counted as zeros.
// Lines are read as Node and JSON.parse read them: ill-formed UTF-8 and
// lone surrogate escapes become U+FFFD, a lone \r ends a line too.
//
// A line is counted once per message id + request id (Claude Code writes
// the same message again as it streams). Lines without either id are
// counted every time, as ccusage does. Unreadable lines are skipped and
// counted, never an error: a transcript being written ends in a half line.
//
// Counts are kept whole and within int64 where ccusage adds doubles: a
// fraction is cut, a negative count reads 0, a huge one saturates; the day
// totals equal ccusage's for every count a real transcript holds.
//
// Thread: one thread at a time per TranscriptReader (a large read splits
// its lines over a few threads of its own, joined before it returns).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bus/result.hpp"

namespace agency {

struct TranscriptEntry {
  std::string message_id;
  std::string request_id;
  std::string session_id;
  std::string model;  // "<synthetic>" for Claude Code's own placeholder messages
  std::chrono::system_clock::time_point at;
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t cache_creation_tokens = 0;
  std::int64_t cache_read_tokens = 0;
  std::optional<double> cost_usd;  // costUSD when the line has one
  std::string cwd;
  std::filesystem::path file;
  std::uintmax_t offset = 0;  // of the line in the file: tells apart lines without ids
  // isApiErrorMessage: Claude Code's own message in place of an answer the
  // API refused (a usage limit, an overload).
  bool api_error = false;
};

// What a line is to the reader: a usage entry; a line that does not count
// (user lines, summaries, lines that fail ccusage's schema); or no JSON to
// JSON.parse.
enum class TranscriptLine { usage, other, unreadable };

// One line, parsed whole: the reference reading. `out` is filled for a
// usage line.
TranscriptLine read_transcript_line(std::string_view line, TranscriptEntry& out);
// The same verdict and entry, quicker, as TranscriptReader reads: a line
// that cannot hold a member named usage (neither "usage" nor a \u escape
// in its text) is only checked for being JSON, by a scan that builds
// nothing. tests/unit/roles/transcripts_test.cpp holds the two equal.
TranscriptLine scan_transcript_line(std::string_view line, TranscriptEntry& out);

// One transcript line; nullopt for lines ccusage does not count (user
// lines, summaries, lines that fail its schema) and for lines that are not
// JSON.
std::optional<TranscriptEntry> parse_transcript_line(std::string_view line);

// The projects folders to read: each directory of CLAUDE_CONFIG_DIR
// (comma-separated) with "/projects", else ~/.claude/projects (and
// ~/.config/claude/projects, where newer versions write), those that exist.
std::vector<std::filesystem::path> transcript_roots(
    const std::optional<std::string>& claude_config_dir, const std::filesystem::path& home);

class TranscriptReader {
 public:
  struct Batch {
    std::vector<TranscriptEntry> entries;  // new, not seen before
    std::size_t files = 0;                 // files that had new bytes
    std::size_t duplicates = 0;            // lines dropped as seen
    std::size_t unreadable = 0;            // lines that were not JSON to JSON.parse
  };

  // Reads what was appended to every *.jsonl below `roots` since the last
  // call (a file that shrank or was replaced is read again from its start;
  // its lines already counted stay deduplicated). A half line at the end of
  // a file waits for the next call.
  Result<Batch> read_new(const std::vector<std::filesystem::path>& roots);

  // What has been read, to persist across restarts, and back.
  [[nodiscard]] std::string state() const;
  Result<void> restore(std::string_view state);

 private:
  struct FileMark {
    std::uintmax_t offset = 0;
    std::uintmax_t inode = 0;
  };
  std::map<std::string, FileMark> files_;
  std::set<std::string> seen_;  // message id + ":" + request id
};

// Day totals as `ccusage daily` computes them: by the entry's calendar date
// in the zone of TZ (local time), all entries' tokens (saturating at the
// int64 maximum); models list all but "<synthetic>".
struct DayTotals {
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t cache_creation_tokens = 0;
  std::int64_t cache_read_tokens = 0;
  std::set<std::string> models;
};
std::map<std::string, DayTotals> daily_totals(const std::vector<TranscriptEntry>& entries);

}  // namespace agency
