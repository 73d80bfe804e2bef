// The knowledge proxy's corpus: directories of markdown, text and code kept
// in a SQLite FTS5 full-text index, so a question finds the passages that
// answer it, each with the file and line range a person can open.
//
// The index is derived data: it lives in one SQLite file (WAL mode), is
// brought up to date by sync() (only files whose size or mtime changed are
// read again) and can be deleted at any time to rebuild from the corpus.
//
// Threads: a CorpusIndex owns one sqlite3 connection and is not thread-safe;
// one thread (the proxy's io_context) uses it. Several processes may open the
// same file; SQLite's locking and a busy timeout serialise writers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bus/result.hpp"

struct sqlite3;

namespace agency {

// One directory of the corpus. `name` is a short label that prefixes sources
// ("docs:install.md:10-24"); it must be unique among the roots given to sync().
struct CorpusRoot {
  std::string name;
  std::filesystem::path dir;
};

// A piece of one file that matched a question.
struct Passage {
  std::string root;     // CorpusRoot::name
  std::string path;     // relative to the root's dir, '/'-separated
  int line_start = 0;   // 1-based, inclusive
  int line_end = 0;     // 1-based, inclusive
  std::string heading;  // markdown/asciidoc heading path, "Install > From source"; "" for code
  std::string text;     // the lines line_start..line_end as they are in the file
  // Relevance in [0, 1], higher is better, comparable across questions:
  //   coverage = sum of idf(term) over the question's terms found in this
  //              passage / sum of idf(term) over all the question's terms
  //              (terms absent from the corpus count with the highest idf);
  //   relative = bm25(this) / bm25(best candidate of this question), in (0, 1].
  //   score    = coverage * (0.75 + 0.25 * relative).
  // So 1.0 means the passage holds every (non stop) word of the question and
  // is the best bm25 match; a passage holding only the common half of the
  // question's words scores well below 0.5. Results come sorted by score.
  double score = 0.0;
};

struct SyncReport {
  int files_added = 0;
  int files_updated = 0;             // size or mtime changed: read and chunked again
  int files_removed = 0;             // vanished from disk, or their root is no longer listed
  int files_unchanged = 0;           // size and mtime as before: not read
  int passages = 0;                  // passages written by this sync (see passage_count() for all)
  std::vector<std::string> skipped;  // "<root>:<path>: <reason>" (too large, binary, unreadable)
};

class CorpusIndex {
 public:
  // Opens or creates the index at db_file (and its parent directories). An
  // index written with another schema version is dropped and recreated: it
  // is derived data, the next sync() fills it again.
  static Result<CorpusIndex> open(const std::filesystem::path& db_file);

  CorpusIndex(CorpusIndex&&) noexcept;
  CorpusIndex& operator=(CorpusIndex&&) noexcept;
  CorpusIndex(const CorpusIndex&) = delete;
  CorpusIndex& operator=(const CorpusIndex&) = delete;
  ~CorpusIndex();

  // Brings the index in line with the files under `roots`, in one
  // transaction (a failure leaves the previous index intact). Indexed:
  // md markdown txt rst adoc and code (c cc cpp h hpp py js ts go rs java rb
  // sh yaml yml toml json proto cmake, CMakeLists.txt, Makefile, Dockerfile).
  // Not descended: hidden directories, build*, node_modules. Hidden files are
  // ignored (they hold secrets such as .env). Files over 1 MiB and files with
  // NUL bytes are listed in `skipped`.
  Result<SyncReport> sync(const std::vector<CorpusRoot>& roots);

  // The passages that best answer `question`, best first, at most `limit`.
  // Free text of any shape is accepted: it is reduced to its words (2+
  // characters, lower-cased, stop words dropped), each quoted, OR-joined.
  // Matching stems words (porter), so "installing" finds "install". A
  // question with no usable word, or none found in the corpus, returns none.
  Result<std::vector<Passage>> search(std::string_view question, int limit = 8) const;

  Result<std::uint64_t> passage_count() const;

  [[nodiscard]] const std::filesystem::path& db_file() const { return db_file_; }

 private:
  struct Closer {
    void operator()(sqlite3* db) const;
  };
  CorpusIndex(std::unique_ptr<sqlite3, Closer> db, std::filesystem::path db_file);

  std::unique_ptr<sqlite3, Closer> db_;
  std::filesystem::path db_file_;
};

// The words of `text` as the index's queries split them, in order: runs of
// ASCII letters and digits (lower-cased) or of non-ASCII bytes; everything
// else separates.
std::vector<std::string> corpus_words(std::string_view text);

// The FTS5 query search() runs for `question`: '"word" OR "word" ...', or ""
// when the question has no usable word. Exposed for tests and diagnostics.
std::string corpus_fts_query(std::string_view question);

}  // namespace agency
