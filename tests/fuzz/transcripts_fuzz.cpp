// Fuzz target: Claude Code's transcript lines (JSONL), roles/accountant/transcripts.hpp
// parse_transcript_line, then daily_totals over what was read. The input is
// a transcript: each line is parsed on its own, as TranscriptReader does,
// and the reader's quick scan of it must come to what the full parse does.
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
    TranscriptEntry full;
    TranscriptEntry quick;
    const TranscriptLine full_kind = read_transcript_line(line, full);
    const TranscriptLine quick_kind = scan_transcript_line(line, quick);
    AGENCY_FUZZ_CHECK(quick_kind == full_kind,
                      "the quick scan read a line otherwise than the full parse");
    if (full_kind == TranscriptLine::usage) {
      AGENCY_FUZZ_CHECK(quick.message_id == full.message_id && quick.at == full.at &&
                            quick.input_tokens == full.input_tokens &&
                            quick.output_tokens == full.output_tokens &&
                            quick.cache_creation_tokens == full.cache_creation_tokens &&
                            quick.cache_read_tokens == full.cache_read_tokens,
                        "the quick scan read other counts than the full parse");
    }
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
