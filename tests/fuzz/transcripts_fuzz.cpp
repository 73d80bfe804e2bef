// Fuzz target: Claude Code's transcript lines (JSONL), roles/accountant/transcripts.hpp
// parse_transcript_line, then daily_totals over what was read. The input is
// a transcript: each line is parsed on its own, as TranscriptReader does.
#include "roles/accountant/transcripts.hpp"
#include "tests/fuzz/fuzz.hpp"

using namespace agency;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest = fuzz::text(data, size);
  std::vector<TranscriptEntry> entries;
  while (!rest.empty()) {
    const std::size_t eol = rest.find('\n');
    const std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 1);
    if (auto entry = parse_transcript_line(line)) {
      AGENCY_FUZZ_CHECK(entry->input_tokens >= 0 && entry->output_tokens >= 0 &&
                            entry->cache_creation_tokens >= 0 && entry->cache_read_tokens >= 0,
                        "a transcript line gave a negative token count");
      entries.push_back(std::move(*entry));
    }
  }
  (void)daily_totals(entries);
  return 0;
}
