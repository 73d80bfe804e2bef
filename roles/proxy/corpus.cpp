#include "roles/proxy/corpus.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <exception>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace agency {
namespace {

namespace fs = std::filesystem;

// v1: roots, files, passages (+ passages_fts). Bump when the tables or the
// chunking change: open() then rebuilds the index from scratch.
constexpr int kSchemaVersion = 1;
constexpr std::uintmax_t kMaxFileBytes = 1024 * 1024;
constexpr std::size_t kProseChunkChars = 1200;  // a passage a reader takes in at a glance
constexpr int kCodeChunkLines = 60;
constexpr int kCodeBreakSearchLines = 20;      // look this far back for a blank line to cut at
constexpr std::size_t kCodeChunkChars = 4000;  // minified code has few, long lines
constexpr std::size_t kMaxQueryTerms = 32;
constexpr double kTitleWeight = 4.0;  // bm25 weight of path + heading; the body weighs 1.0
constexpr int kMinCandidates = 32;
constexpr int kMaxCandidates = 200;

// ---------------------------------------------------------------- sqlite glue

struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// A connection plus the file name every error message carries.
class Conn {
 public:
  Conn(sqlite3* db, const fs::path& file) : db_(db), file_(file) {}

  [[nodiscard]] Error error(std::string_view what) const {
    return make_error(errc::io, "corpus index " + file_.string() + ": " + std::string(what) + ": " +
                                    sqlite3_errmsg(db_));
  }

  [[nodiscard]] Result<void> exec(const char* sql) const {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
      std::string text = msg != nullptr ? msg : sqlite3_errmsg(db_);
      sqlite3_free(msg);
      return make_error(errc::io, "corpus index " + file_.string() + ": " + text);
    }
    return {};
  }

  [[nodiscard]] Result<Stmt> prepare(std::string_view sql) const {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &raw, nullptr) !=
        SQLITE_OK) {
      return error("cannot prepare statement");
    }
    return Stmt(raw);
  }

  // SQLITE_ROW -> true, SQLITE_DONE -> false.
  [[nodiscard]] Result<bool> step(const Stmt& s) const {
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return error("query failed");
  }

  [[nodiscard]] Result<void> run(const Stmt& s) const {
    auto r = step(s);
    if (!r) return r.error();
    sqlite3_reset(s.get());
    return {};
  }

  [[nodiscard]] sqlite3* raw() const { return db_; }

 private:
  sqlite3* db_;
  const fs::path& file_;
};

// The caller keeps `v` alive until the statement is stepped (SQLITE_STATIC,
// spelled nullptr because the macro is an old-style cast).
void bind(const Stmt& s, int i, std::string_view v) {
  sqlite3_bind_text(s.get(), i, v.empty() ? "" : v.data(), static_cast<int>(v.size()), nullptr);
}
void bind(const Stmt& s, int i, std::int64_t v) { sqlite3_bind_int64(s.get(), i, v); }

std::string column_text(const Stmt& s, int i) {
  const auto* p = sqlite3_column_text(s.get(), i);
  if (p == nullptr) return {};
  return {reinterpret_cast<const char*>(p),
          static_cast<std::size_t>(sqlite3_column_bytes(s.get(), i))};
}

// Rolls back unless committed, so an early return leaves the index as it was.
class Transaction {
 public:
  explicit Transaction(const Conn& c) : c_(c) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction() {
    if (open_) sqlite3_exec(c_.raw(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Result<void> begin() {
    auto r = c_.exec("BEGIN IMMEDIATE");
    if (r) open_ = true;
    return r;
  }
  Result<void> commit() {
    auto r = c_.exec("COMMIT");
    if (r) open_ = false;
    return r;
  }

 private:
  const Conn& c_;
  bool open_ = false;
};

constexpr const char* kDropSchema = R"sql(
DROP TABLE IF EXISTS passages_fts;
DROP TABLE IF EXISTS passages;
DROP TABLE IF EXISTS files;
DROP TABLE IF EXISTS roots;
DROP TABLE IF EXISTS schema_version;
)sql";

// passages_fts holds the searchable text (title = path + heading path, body =
// the passage); its rowid is passages.id, which holds where the text came from.
constexpr const char* kCreateSchema = R"sql(
CREATE TABLE roots(name TEXT PRIMARY KEY, dir TEXT NOT NULL);
CREATE TABLE files(
  id INTEGER PRIMARY KEY,
  root TEXT NOT NULL,
  path TEXT NOT NULL,
  size INTEGER NOT NULL,
  mtime INTEGER NOT NULL,
  UNIQUE(root, path));
CREATE TABLE passages(
  id INTEGER PRIMARY KEY,
  file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
  line_start INTEGER NOT NULL,
  line_end INTEGER NOT NULL,
  heading TEXT NOT NULL);
CREATE INDEX passages_by_file ON passages(file_id);
CREATE VIRTUAL TABLE passages_fts USING fts5(
  title, body, tokenize = 'porter unicode61 remove_diacritics 2');
CREATE TABLE schema_version(version INTEGER NOT NULL);
)sql";

// ---------------------------------------------------------------- chunking

enum class Kind { markdown, asciidoc, text, code };

std::string lower_ascii(std::string s) {
  for (auto& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::optional<Kind> classify(const std::string& filename) {
  static const std::set<std::string> code_names = {"CMakeLists.txt", "Makefile", "makefile",
                                                   "GNUmakefile", "Dockerfile"};
  static const std::set<std::string> code_exts = {
      "c",    "cc", "cpp", "h",    "hpp", "py",   "js",   "ts",    "go",   "rs",
      "java", "rb", "sh",  "yaml", "yml", "toml", "json", "proto", "cmake"};
  if (code_names.count(filename) != 0) return Kind::code;
  auto dot = filename.rfind('.');
  if (dot == std::string::npos || dot == 0) return std::nullopt;
  auto ext = lower_ascii(filename.substr(dot + 1));
  if (ext == "md" || ext == "markdown") return Kind::markdown;
  if (ext == "adoc") return Kind::asciidoc;
  if (ext == "txt" || ext == "rst") return Kind::text;
  if (code_exts.count(ext) != 0) return Kind::code;
  return std::nullopt;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    auto line =
        text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return lines;
}

bool is_blank(std::string_view line) {
  return std::all_of(line.begin(), line.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\f' || c == '\v'; });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A passage before it has text: lines [first, last], 0-based, inclusive.
struct Chunk {
  int first = 0;
  int last = 0;
  std::string heading;
};

// A heading line of `marker` ('#' markdown, '=' asciidoc): its level and title.
std::optional<std::pair<int, std::string>> heading_of(std::string_view line, char marker) {
  std::size_t indent = 0;
  while (indent < line.size() && indent < 3 && line[indent] == ' ') ++indent;
  line.remove_prefix(indent);
  std::size_t level = 0;
  while (level < line.size() && line[level] == marker) ++level;
  if (level == 0 || level > 6) return std::nullopt;
  if (level < line.size() && line[level] != ' ' && line[level] != '\t') return std::nullopt;
  auto title = trim(line.substr(level));
  while (!title.empty() && title.back() == marker) title.remove_suffix(1);  // "## Title ##"
  title = trim(title);
  if (title.empty()) return std::nullopt;
  return std::make_pair(static_cast<int>(level), std::string(title));
}

bool is_fence(std::string_view line, Kind kind) {
  auto t = trim(line);
  if (t.substr(0, 3) == "```" || t.substr(0, 3) == "~~~") return true;
  return kind == Kind::asciidoc && t.size() >= 4 && t.find_first_not_of('-') == std::string::npos;
}

std::size_t chars_of(const std::vector<std::string_view>& lines, int first, int last) {
  std::size_t n = 0;
  for (int i = first; i <= last; ++i) n += lines[static_cast<std::size_t>(i)].size() + 1;
  return n;
}

// Narrows [first, last] to its non-blank lines; false when nothing is left.
bool trim_range(const std::vector<std::string_view>& lines, int& first, int& last) {
  while (first <= last && is_blank(lines[static_cast<std::size_t>(first)])) ++first;
  while (last >= first && is_blank(lines[static_cast<std::size_t>(last)])) --last;
  return first <= last;
}

// Packs lines [first, last] of one section into chunks of about
// kProseChunkChars, cutting at blank lines between paragraphs (a fenced block
// counts as one paragraph), and inside an oversized paragraph at line ends.
void chunk_prose(const std::vector<std::string_view>& lines, int first, int last,
                 const std::string& heading, Kind kind, std::vector<Chunk>& out) {
  // Paragraphs: runs of non-blank lines; blank lines inside fences do not end one.
  std::vector<std::pair<int, int>> blocks;
  bool in_fence = false;
  int start = -1;
  for (int i = first; i <= last; ++i) {
    auto line = lines[static_cast<std::size_t>(i)];
    bool fence = is_fence(line, kind);
    if (!in_fence && is_blank(line)) {
      if (start >= 0) blocks.emplace_back(start, i - 1);
      start = -1;
    } else if (start < 0) {
      start = i;
    }
    if (fence) in_fence = !in_fence;
  }
  if (start >= 0) blocks.emplace_back(start, last);

  int cur_first = -1;
  int cur_last = -1;
  auto flush = [&] {
    if (cur_first >= 0 && trim_range(lines, cur_first, cur_last)) {
      out.push_back({cur_first, cur_last, heading});
    }
    cur_first = cur_last = -1;
  };
  for (auto [bf, bl] : blocks) {
    std::size_t block_chars = chars_of(lines, bf, bl);
    if (block_chars > kProseChunkChars) {
      flush();
      int piece = bf;
      for (int i = bf; i <= bl; ++i) {
        if (i > piece && chars_of(lines, piece, i) > kProseChunkChars) {
          cur_first = piece;
          cur_last = i - 1;
          flush();
          piece = i;
        }
      }
      cur_first = piece;
      cur_last = bl;
      flush();
      continue;
    }
    if (cur_first >= 0 && chars_of(lines, cur_first, bl) > kProseChunkChars) flush();
    if (cur_first < 0) cur_first = bf;
    cur_last = bl;
  }
  flush();
}

// Markdown and asciidoc: one section per heading, carrying the path of
// headings above it ("Install > From source"); text files: one section.
std::vector<Chunk> chunk_document(const std::vector<std::string_view>& lines, Kind kind) {
  std::vector<Chunk> out;
  const int n = static_cast<int>(lines.size());
  if (kind == Kind::text) {
    chunk_prose(lines, 0, n - 1, "", kind, out);
    return out;
  }
  const char marker = kind == Kind::markdown ? '#' : '=';
  std::vector<std::pair<int, std::string>> stack;  // (level, title) of the open headings
  std::string heading;
  int section_start = 0;
  bool section_has_heading = false;
  auto close_section = [&](int end) {
    int body_first = section_has_heading ? section_start + 1 : section_start;
    int bf = body_first;
    int bl = end;
    // A heading with nothing under it before the next heading is not a
    // passage of its own: its title lives on in the children's heading path.
    if (!trim_range(lines, bf, bl)) return;
    chunk_prose(lines, section_start, end, heading, kind, out);
  };
  bool in_fence = false;
  for (int i = 0; i < n; ++i) {
    auto line = lines[static_cast<std::size_t>(i)];
    if (!in_fence) {
      if (auto h = heading_of(line, marker)) {
        close_section(i - 1);
        while (!stack.empty() && stack.back().first >= h->first) stack.pop_back();
        stack.push_back(std::move(*h));
        heading.clear();
        for (const auto& [level, title] : stack) {
          if (!heading.empty()) heading += " > ";
          heading += title;
        }
        section_start = i;
        section_has_heading = true;
        continue;
      }
    }
    if (is_fence(line, kind)) in_fence = !in_fence;
  }
  close_section(n - 1);
  return out;
}

// Code: about kCodeChunkLines lines, cut at a blank line near the end when
// there is one so a function tends to stay whole.
std::vector<Chunk> chunk_code(const std::vector<std::string_view>& lines) {
  std::vector<Chunk> out;
  const int n = static_cast<int>(lines.size());
  int start = 0;
  while (start < n) {
    int end = start;
    std::size_t chars = lines[static_cast<std::size_t>(start)].size() + 1;
    while (end + 1 < n && end + 1 - start < kCodeChunkLines &&
           chars + lines[static_cast<std::size_t>(end) + 1].size() + 1 <= kCodeChunkChars) {
      ++end;
      chars += lines[static_cast<std::size_t>(end)].size() + 1;
    }
    if (end + 1 < n) {
      for (int b = end; b > start && b > end - kCodeBreakSearchLines; --b) {
        if (is_blank(lines[static_cast<std::size_t>(b)])) {
          end = b;
          break;
        }
      }
    }
    int first = start;
    int last = end;
    if (trim_range(lines, first, last)) out.push_back({first, last, ""});
    start = end + 1;
  }
  return out;
}

std::string join_lines(const std::vector<std::string_view>& lines, int first, int last) {
  std::string text;
  for (int i = first; i <= last; ++i) {
    if (i > first) text += '\n';
    text += lines[static_cast<std::size_t>(i)];
  }
  return text;
}

// ---------------------------------------------------------------- query

const std::unordered_set<std::string>& stop_words() {
  static const std::unordered_set<std::string> words = {
      "about", "after", "all",   "also",  "am",    "an",    "and",    "any",    "are",   "as",
      "at",    "be",    "been",  "being", "but",   "by",    "can",    "could",  "did",   "do",
      "does",  "doing", "for",   "from",  "had",   "has",   "have",   "he",     "her",   "here",
      "his",   "how",   "if",    "in",    "into",  "is",    "it",     "its",    "just",  "me",
      "my",    "no",    "nor",   "not",   "of",    "off",   "on",     "once",   "only",  "or",
      "our",   "ours",  "out",   "over",  "own",   "same",  "she",    "should", "so",    "some",
      "such",  "than",  "that",  "the",   "their", "them",  "then",   "there",  "these", "they",
      "this",  "those", "to",    "too",   "under", "until", "up",     "us",     "very",  "was",
      "we",    "were",  "what",  "when",  "where", "which", "while",  "who",    "whom",  "why",
      "will",  "with",  "would", "you",   "your",  "yours", "please", "tell",   "know",  "i'm"};
  return words;
}

// The question's distinct words in order: runs of ASCII letters and digits
// or of non-ASCII bytes (FTS5's tokenizer decides what those are), lower-cased,
// 2+ bytes, stop words dropped. Everything else, FTS5 operators included, is
// a separator, so a term can never carry syntax.
std::vector<std::string> query_terms(std::string_view question) {
  std::vector<std::string> terms;
  std::unordered_set<std::string> seen;
  for (auto& word : corpus_words(question)) {
    if (terms.size() >= kMaxQueryTerms) break;
    if (word.size() >= 2 && stop_words().count(word) == 0 && seen.insert(word).second) {
      terms.push_back(std::move(word));
    }
  }
  return terms;
}

std::string fts_phrase(const std::string& term) {
  // Terms hold no '"' (it is a separator above); doubling keeps that true
  // should the word rule ever change.
  std::string q = "\"";
  for (char c : term) {
    if (c == '"') q += '"';
    q += c;
  }
  q += '"';
  return q;
}

std::int64_t mtime_ns(fs::file_time_type t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::string dir_key(const fs::path& dir) {
  std::error_code ec;
  auto canon = fs::weakly_canonical(dir, ec);
  if (ec) canon = dir.lexically_normal();
  return canon.string();
}

bool hidden(const std::string& name) { return !name.empty() && name.front() == '.'; }

bool skipped_dir(const std::string& name) {
  return hidden(name) || name == "node_modules" || name.rfind("build", 0) == 0;
}

struct KnownFile {
  std::int64_t id = 0;
  std::int64_t size = 0;
  std::int64_t mtime = 0;
};

// The statements one sync() uses again and again.
struct SyncStatements {
  Stmt delete_fts;       // ?1 file id
  Stmt delete_passages;  // ?1 file id
  Stmt delete_file;      // ?1 file id
  Stmt insert_file;      // ?1 root ?2 path ?3 size ?4 mtime
  Stmt update_file;      // ?1 id ?2 size ?3 mtime
  Stmt insert_passage;   // ?1 file id ?2 first ?3 last ?4 heading
  Stmt insert_fts;       // ?1 rowid ?2 title ?3 body
};

Result<SyncStatements> prepare_sync(const Conn& c) {
  SyncStatements s;
  std::array<std::pair<Stmt*, const char*>, 7> all = {{
      {&s.delete_fts,
       "DELETE FROM passages_fts WHERE rowid IN (SELECT id FROM passages WHERE file_id = ?1)"},
      {&s.delete_passages, "DELETE FROM passages WHERE file_id = ?1"},
      {&s.delete_file, "DELETE FROM files WHERE id = ?1"},
      {&s.insert_file, "INSERT INTO files(root, path, size, mtime) VALUES (?1, ?2, ?3, ?4)"},
      {&s.update_file, "UPDATE files SET size = ?2, mtime = ?3 WHERE id = ?1"},
      {&s.insert_passage,
       "INSERT INTO passages(file_id, line_start, line_end, heading) VALUES (?1, ?2, ?3, ?4)"},
      {&s.insert_fts, "INSERT INTO passages_fts(rowid, title, body) VALUES (?1, ?2, ?3)"},
  }};
  for (auto& [stmt, sql] : all) {
    auto p = c.prepare(sql);
    if (!p) return p.error();
    *stmt = std::move(*p);
  }
  return s;
}

Result<void> drop_passages(const Conn& c, SyncStatements& s, std::int64_t file_id) {
  for (const Stmt* st : {&s.delete_fts, &s.delete_passages}) {
    bind(*st, 1, file_id);
    if (auto r = c.run(*st); !r) return r;
  }
  return {};
}

Result<void> drop_file(const Conn& c, SyncStatements& s, std::int64_t file_id) {
  if (auto r = drop_passages(c, s, file_id); !r) return r;
  bind(s.delete_file, 1, file_id);
  return c.run(s.delete_file);
}

// Writes the passages of one file; returns how many.
Result<int> write_passages(const Conn& c, SyncStatements& s, std::int64_t file_id,
                           const std::string& rel, Kind kind, std::string_view content) {
  auto lines = split_lines(content);
  auto chunks = kind == Kind::code ? chunk_code(lines) : chunk_document(lines, kind);
  for (const auto& ch : chunks) {
    bind(s.insert_passage, 1, file_id);
    bind(s.insert_passage, 2, std::int64_t{ch.first + 1});
    bind(s.insert_passage, 3, std::int64_t{ch.last + 1});
    bind(s.insert_passage, 4, ch.heading);
    if (auto r = c.run(s.insert_passage); !r) return r.error();
    std::int64_t id = sqlite3_last_insert_rowid(c.raw());
    std::string title = ch.heading.empty() ? rel : rel + " " + ch.heading;
    std::string body = join_lines(lines, ch.first, ch.last);
    bind(s.insert_fts, 1, id);
    bind(s.insert_fts, 2, title);
    bind(s.insert_fts, 3, body);
    if (auto r = c.run(s.insert_fts); !r) return r.error();
  }
  return static_cast<int>(chunks.size());
}

enum class ReadStatus { ok, unreadable, binary };

ReadStatus read_text(const fs::path& file, std::string& content) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return ReadStatus::unreadable;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return ReadStatus::unreadable;
  content = std::move(ss).str();
  if (content.find('\0') != std::string::npos) return ReadStatus::binary;
  return ReadStatus::ok;
}

// Indexes one root inside the open transaction.
Result<void> sync_root(const Conn& c, SyncStatements& s, const CorpusRoot& root,
                       SyncReport& report) {
  std::unordered_map<std::string, KnownFile> known;
  {
    auto q = c.prepare("SELECT path, id, size, mtime FROM files WHERE root = ?1");
    if (!q) return q.error();
    bind(*q, 1, root.name);
    for (;;) {
      auto row = c.step(*q);
      if (!row) return row.error();
      if (!*row) break;
      known[column_text(*q, 0)] = {sqlite3_column_int64(q->get(), 1),
                                   sqlite3_column_int64(q->get(), 2),
                                   sqlite3_column_int64(q->get(), 3)};
    }
  }

  std::unordered_set<std::string> seen;
  bool complete = true;  // an aborted walk must not read as "every other file vanished"
  std::error_code ec;
  if (!fs::is_directory(root.dir, ec)) {
    report.skipped.push_back(root.name + ": " + root.dir.string() +
                             ": not a directory (check the corpus roots in agency.yaml)");
  } else {
    fs::recursive_directory_iterator it(root.dir, fs::directory_options::skip_permission_denied,
                                        ec);
    if (ec) {
      report.skipped.push_back(root.name + ": " + root.dir.string() + ": " + ec.message());
      complete = false;
    }
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const auto& entry = *it;
      auto name = entry.path().filename().string();
      std::error_code eec;
      if (entry.is_directory(eec)) {
        if (skipped_dir(name)) it.disable_recursion_pending();
        continue;
      }
      if (hidden(name) || !entry.is_regular_file(eec)) continue;
      auto kind = classify(name);
      if (!kind) continue;
      auto rel = entry.path().lexically_relative(root.dir).generic_string();
      auto where = root.name + ":" + rel + ": ";
      seen.insert(rel);
      auto found = known.find(rel);
      auto forget = [&]() -> Result<void> {
        if (found == known.end()) return {};
        ++report.files_removed;
        return drop_file(c, s, found->second.id);
      };

      auto size = entry.file_size(eec);
      auto mtime = eec ? fs::file_time_type{} : entry.last_write_time(eec);
      if (eec) {
        report.skipped.push_back(where + "cannot stat: " + eec.message());
        if (auto r = forget(); !r) return r;
        continue;
      }
      if (size > kMaxFileBytes) {
        report.skipped.push_back(where + "larger than 1 MiB (" + std::to_string(size) + " bytes)");
        if (auto r = forget(); !r) return r;
        continue;
      }
      auto isize = static_cast<std::int64_t>(size);
      auto imtime = mtime_ns(mtime);
      if (found != known.end() && found->second.size == isize && found->second.mtime == imtime) {
        ++report.files_unchanged;
        continue;
      }
      std::string content;
      auto status = read_text(entry.path(), content);
      if (status != ReadStatus::ok) {
        report.skipped.push_back(where + (status == ReadStatus::binary
                                              ? "binary (contains NUL bytes)"
                                              : "cannot read: check its permissions"));
        if (auto r = forget(); !r) return r;
        continue;
      }
      std::int64_t file_id = 0;
      if (found != known.end()) {
        file_id = found->second.id;
        if (auto r = drop_passages(c, s, file_id); !r) return r;
        bind(s.update_file, 1, file_id);
        bind(s.update_file, 2, isize);
        bind(s.update_file, 3, imtime);
        if (auto r = c.run(s.update_file); !r) return r;
        ++report.files_updated;
      } else {
        bind(s.insert_file, 1, root.name);
        bind(s.insert_file, 2, rel);
        bind(s.insert_file, 3, isize);
        bind(s.insert_file, 4, imtime);
        if (auto r = c.run(s.insert_file); !r) return r;
        file_id = sqlite3_last_insert_rowid(c.raw());
        ++report.files_added;
      }
      auto written = write_passages(c, s, file_id, rel, *kind, content);
      if (!written) return written.error();
      report.passages += *written;
    }
    if (ec) {
      report.skipped.push_back(root.name + ": " + root.dir.string() +
                               ": walk stopped early, kept what was indexed: " + ec.message());
      complete = false;
    }
  }
  if (!complete) return {};
  for (const auto& [rel, file] : known) {
    if (seen.count(rel) != 0) continue;
    if (auto r = drop_file(c, s, file.id); !r) return r;
    ++report.files_removed;
  }
  return {};
}

Result<SyncReport> sync_all(const Conn& c, const std::vector<CorpusRoot>& roots) {
  std::set<std::string> names;
  for (const auto& r : roots) {
    if (r.name.empty()) {
      return make_error(errc::config, "corpus root " + r.dir.string() + " has no name");
    }
    if (!names.insert(r.name).second) {
      return make_error(errc::config, "corpus root name '" + r.name +
                                          "' is used twice: give each directory its own name");
    }
  }

  Transaction tx(c);
  if (auto r = tx.begin(); !r) return r.error();
  auto stmts = prepare_sync(c);
  if (!stmts) return stmts.error();
  SyncReport report;

  // Roots no longer listed, or now pointing elsewhere, lose their files.
  std::map<std::string, std::string> old_roots;
  {
    auto q = c.prepare("SELECT name, dir FROM roots");
    if (!q) return q.error();
    for (;;) {
      auto row = c.step(*q);
      if (!row) return row.error();
      if (!*row) break;
      old_roots[column_text(*q, 0)] = column_text(*q, 1);
    }
  }
  std::map<std::string, std::string> new_dirs;
  for (const auto& r : roots) new_dirs[r.name] = dir_key(r.dir);
  for (const auto& [name, dir] : old_roots) {
    auto now = new_dirs.find(name);
    if (now != new_dirs.end() && now->second == dir) continue;
    auto q = c.prepare("SELECT id FROM files WHERE root = ?1");
    if (!q) return q.error();
    bind(*q, 1, name);
    std::vector<std::int64_t> ids;
    for (;;) {
      auto row = c.step(*q);
      if (!row) return row.error();
      if (!*row) break;
      ids.push_back(sqlite3_column_int64(q->get(), 0));
    }
    for (auto id : ids) {
      if (auto r = drop_file(c, *stmts, id); !r) return r.error();
      ++report.files_removed;
    }
  }
  if (auto r = c.exec("DELETE FROM roots"); !r) return r.error();
  {
    auto ins = c.prepare("INSERT INTO roots(name, dir) VALUES (?1, ?2)");
    if (!ins) return ins.error();
    for (const auto& [name, dir] : new_dirs) {
      bind(*ins, 1, name);
      bind(*ins, 2, dir);
      if (auto r = c.run(*ins); !r) return r.error();
    }
  }

  for (const auto& root : roots) {
    if (auto r = sync_root(c, *stmts, root, report); !r) return r.error();
  }

  stmts = make_error(errc::internal, "");  // finalize before COMMIT
  if (auto r = tx.commit(); !r) return r.error();
  return report;
}

}  // namespace

// ---------------------------------------------------------------- CorpusIndex

void CorpusIndex::Closer::operator()(sqlite3* db) const { sqlite3_close_v2(db); }

CorpusIndex::CorpusIndex(std::unique_ptr<sqlite3, Closer> db, std::filesystem::path db_file)
    : db_(std::move(db)), db_file_(std::move(db_file)) {}
CorpusIndex::CorpusIndex(CorpusIndex&&) noexcept = default;
CorpusIndex& CorpusIndex::operator=(CorpusIndex&&) noexcept = default;
CorpusIndex::~CorpusIndex() = default;

Result<CorpusIndex> CorpusIndex::open(const std::filesystem::path& db_file) {
  try {
    std::error_code ec;
    if (db_file.has_parent_path()) {
      fs::create_directories(db_file.parent_path(), ec);
      if (ec) {
        return make_error(errc::io, "corpus index " + db_file.string() +
                                        ": cannot create its directory: " + ec.message());
      }
    }
    sqlite3* raw = nullptr;
    int rc =
        sqlite3_open_v2(db_file.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    std::unique_ptr<sqlite3, Closer> db(raw);
    Conn c(raw, db_file);
    if (rc != SQLITE_OK) return c.error("cannot open");
    sqlite3_busy_timeout(raw, 5000);  // another process's sync holds the write lock briefly
    // WAL lets the proxy answer from the index while a sync writes.
    if (auto r = c.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                        "PRAGMA foreign_keys = ON;");
        !r) {
      return Error{r.error().code,
                   r.error().message + " (is it a SQLite file? delete it to rebuild the index)"};
    }

    int version = 0;
    {
      auto q = c.prepare(
          "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'");
      if (!q) return q.error();
      auto row = c.step(*q);
      if (!row) return row.error();
      if (*row && sqlite3_column_int(q->get(), 0) == 1) {
        auto v = c.prepare("SELECT max(version) FROM schema_version");
        if (!v) return v.error();
        auto vrow = c.step(*v);
        if (!vrow) return vrow.error();
        if (*vrow) version = sqlite3_column_int(v->get(), 0);
      }
    }
    if (version != kSchemaVersion) {
      Transaction tx(c);
      if (auto r = tx.begin(); !r) return r.error();
      if (auto r = c.exec(kDropSchema); !r) return r.error();
      if (auto r = c.exec(kCreateSchema); !r) return r.error();
      auto ins = c.prepare("INSERT INTO schema_version(version) VALUES (?1)");
      if (!ins) return ins.error();
      bind(*ins, 1, std::int64_t{kSchemaVersion});
      if (auto r = c.run(*ins); !r) return r.error();
      ins = make_error(errc::internal, "");
      if (auto r = tx.commit(); !r) return r.error();
    }
    return CorpusIndex(std::move(db), db_file);
  } catch (const std::exception& e) {
    return make_error(errc::internal, "corpus index " + db_file.string() + ": " + e.what());
  }
}

Result<SyncReport> CorpusIndex::sync(const std::vector<CorpusRoot>& roots) {
  try {
    return sync_all(Conn(db_.get(), db_file_), roots);
  } catch (const std::exception& e) {
    return make_error(errc::internal, "corpus index " + db_file_.string() + ": sync: " + e.what());
  }
}

Result<std::uint64_t> CorpusIndex::passage_count() const {
  Conn c(db_.get(), db_file_);
  auto q = c.prepare("SELECT count(*) FROM passages");
  if (!q) return q.error();
  auto row = c.step(*q);
  if (!row) return row.error();
  return static_cast<std::uint64_t>(sqlite3_column_int64(q->get(), 0));
}

std::vector<std::string> corpus_words(std::string_view text) {
  std::vector<std::string> out;
  std::string word;
  auto take = [&] {
    if (!word.empty()) out.push_back(std::move(word));
    word.clear();
  };
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if ((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || u >= 0x80) {
      word += c;
    } else if (u >= 'A' && u <= 'Z') {
      word += static_cast<char>(u - 'A' + 'a');
    } else {
      take();
    }
  }
  take();
  return out;
}

std::string corpus_fts_query(std::string_view question) {
  std::string q;
  for (const auto& term : query_terms(question)) {
    if (!q.empty()) q += " OR ";
    q += fts_phrase(term);
  }
  return q;
}

Result<std::vector<Passage>> CorpusIndex::search(std::string_view question, int limit) const {
  try {
    std::vector<Passage> out;
    auto terms = query_terms(question);
    if (terms.empty() || limit <= 0) return out;
    Conn c(db_.get(), db_file_);
    auto total = passage_count();
    if (!total) return total.error();
    if (*total == 0) return out;
    const double n = static_cast<double>(*total);

    // Which passages hold each term, and how rare the term is (BM25's idf,
    // kept positive). Per term, so the stemming is FTS5's own.
    std::vector<std::unordered_set<std::int64_t>> holders(terms.size());
    std::vector<double> idf(terms.size());
    double idf_sum = 0;
    auto term_q = c.prepare("SELECT rowid FROM passages_fts WHERE passages_fts MATCH ?1");
    if (!term_q) return term_q.error();
    for (std::size_t i = 0; i < terms.size(); ++i) {
      auto phrase = fts_phrase(terms[i]);
      sqlite3_reset(term_q->get());
      bind(*term_q, 1, phrase);
      for (;;) {
        auto row = c.step(*term_q);
        if (!row) return row.error();
        if (!*row) break;
        holders[i].insert(sqlite3_column_int64(term_q->get(), 0));
      }
      double df = static_cast<double>(holders[i].size());
      idf[i] = std::log(1.0 + (n - df + 0.5) / (df + 0.5));
      idf_sum += idf[i];
    }

    auto fts = corpus_fts_query(question);
    int candidates =
        std::clamp(std::min(limit, kMaxCandidates) * 4, kMinCandidates, kMaxCandidates);
    auto q = c.prepare(
        "SELECT passages_fts.rowid, bm25(passages_fts, ?3, 1.0), passages_fts.body, "
        "p.line_start, p.line_end, p.heading, f.root, f.path "
        "FROM passages_fts JOIN passages p ON p.id = passages_fts.rowid "
        "JOIN files f ON f.id = p.file_id "
        "WHERE passages_fts MATCH ?1 ORDER BY bm25(passages_fts, ?3, 1.0) LIMIT ?2");
    if (!q) return q.error();
    bind(*q, 1, fts);
    bind(*q, 2, std::int64_t{candidates});
    sqlite3_bind_double(q->get(), 3, kTitleWeight);
    struct Candidate {
      Passage p;
      double bm25 = 0;
    };
    std::vector<Candidate> found;
    for (;;) {
      auto row = c.step(*q);
      if (!row) return row.error();
      if (!*row) break;
      Candidate cand;
      auto id = sqlite3_column_int64(q->get(), 0);
      cand.bm25 = sqlite3_column_double(q->get(), 1);
      cand.p.text = column_text(*q, 2);
      cand.p.line_start = sqlite3_column_int(q->get(), 3);
      cand.p.line_end = sqlite3_column_int(q->get(), 4);
      cand.p.heading = column_text(*q, 5);
      cand.p.root = column_text(*q, 6);
      cand.p.path = column_text(*q, 7);
      double covered = 0;
      for (std::size_t i = 0; i < terms.size(); ++i) {
        if (holders[i].count(id) != 0) covered += idf[i];
      }
      cand.p.score = idf_sum > 0 ? covered / idf_sum : 0.0;  // coverage for now
      found.push_back(std::move(cand));
    }
    if (found.empty()) return out;

    // bm25() is negative, lower is better; the first row is the best.
    const double best = found.front().bm25;
    for (auto& cand : found) {
      double relative = best < 0 ? std::clamp(cand.bm25 / best, 0.0, 1.0) : 1.0;
      cand.p.score *= 0.75 + 0.25 * relative;
    }
    std::stable_sort(found.begin(), found.end(),
                     [](const Candidate& a, const Candidate& b) { return a.p.score > b.p.score; });
    if (found.size() > static_cast<std::size_t>(limit)) {
      found.resize(static_cast<std::size_t>(limit));
    }
    out.reserve(found.size());
    for (auto& cand : found) out.push_back(std::move(cand.p));
    return out;
  } catch (const std::exception& e) {
    return make_error(errc::internal,
                      "corpus index " + db_file_.string() + ": search: " + e.what());
  }
}

}  // namespace agency
