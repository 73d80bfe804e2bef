#include "roles/proxy/corpus.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using agency::CorpusIndex;
using agency::CorpusRoot;
using agency::Passage;
using agency::test::TempDir;

void put(const fs::path& file, const std::string& content) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << content;
  REQUIRE(out.good());
}

// Moves the file's mtime forward so a change is seen whatever the
// filesystem's timestamp resolution.
void touch_later(const fs::path& file) {
  fs::last_write_time(file, fs::last_write_time(file) + std::chrono::seconds(5));
}

std::vector<Passage> find(const CorpusIndex& index, std::string_view question, int limit = 8) {
  auto r = index.search(question, limit);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
  return *r;
}

agency::SyncReport sync(CorpusIndex& index, const std::vector<CorpusRoot>& roots) {
  auto r = index.sync(roots);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
  return *r;
}

// A long section: paragraphs of filler, the last one holding `word`.
std::string long_section(const std::string& word) {
  std::string s;
  for (int i = 0; i < 12; ++i)
    s += "Paragraph " + std::to_string(i) +
         " says little of interest, it only fills the section so that it must be "
         "split into more than one passage when indexed.\n\n";
  s += "The final paragraph mentions " + word + " once.\n";
  return s;
}

const char* kInstall =
    "# Agency\n"                                                           // 1
    "\n"                                                                   // 2
    "Agency runs a fleet of role agents.\n"                                // 3
    "\n"                                                                   // 4
    "## Install\n"                                                         // 5
    "\n"                                                                   // 6
    "### From source\n"                                                    // 7
    "\n"                                                                   // 8
    "Run cmake with the Ninja generator, then build the agency target.\n"  // 9
    "\n"                                                                   // 10
    "### From packages\n"                                                  // 11
    "\n"                                                                   // 12
    "Use the Debian package repository.\n"                                 // 13
    "\n"                                                                   // 14
    "```sh\n"                                                              // 15
    "# not a heading inside a fence\n"                                     // 16
    "apt-get install agency\n"                                             // 17
    "```\n";                                                               // 18

std::string code_file() {
  std::string s;
  for (int i = 1; i <= 130; ++i) {
    if (i == 75)
      s += "int frobnicate_widgets(int n) { return n * 2; }\n";
    else if (i % 20 == 0)
      s += "\n";
    else
      s += "int filler_" + std::to_string(i) + " = " + std::to_string(i) + ";\n";
  }
  return s;
}

struct Corpus {
  TempDir tmp;
  fs::path docs = tmp.path() / "docs";
  fs::path src = tmp.path() / "src";
  fs::path db = tmp.path() / "state" / "corpus.db";
  std::vector<CorpusRoot> roots{{"docs", docs}, {"src", src}};

  Corpus() {
    put(docs / "install.md", kInstall);
    put(docs / "guide" / "long.md", "# Guide\n\n## Tuning\n\n" + long_section("xylophone"));
    put(src / "server.cpp", code_file());
  }
};

}  // namespace

TEST_CASE("corpus: indexing a small corpus finds the right passage with lines and heading") {
  Corpus c;
  auto index = CorpusIndex::open(c.db);
  REQUIRE_MESSAGE(index.ok(), (index.ok() ? "" : index.error().message));
  auto report = sync(*index, c.roots);
  CHECK(report.files_added == 3);
  CHECK(report.files_updated == 0);
  CHECK(report.files_removed == 0);
  CHECK(report.skipped.empty());
  CHECK(report.passages > 5);
  CHECK(*index->passage_count() == static_cast<std::uint64_t>(report.passages));

  SUBCASE("markdown: heading path and line range") {
    auto hits = find(*index, "How do I build it from source with Ninja?");
    REQUIRE(!hits.empty());
    const auto& top = hits.front();
    CHECK(top.root == "docs");
    CHECK(top.path == "install.md");
    CHECK(top.heading == "Agency > Install > From source");
    CHECK(top.line_start == 7);
    CHECK(top.line_end == 9);
    CHECK(top.text ==
          "### From source\n\nRun cmake with the Ninja generator, then build the agency target.");
    CHECK(top.score == doctest::Approx(1.0));  // every word of the question, best bm25
    for (std::size_t i = 1; i < hits.size(); ++i) CHECK(hits[i].score <= hits[i - 1].score);
  }
  SUBCASE("a '#' line inside a code fence is not a heading") {
    auto hits = find(*index, "apt-get debian");
    REQUIRE(!hits.empty());
    CHECK(hits.front().heading == "Agency > Install > From packages");
    CHECK(hits.front().line_start == 11);
    CHECK(hits.front().line_end == 18);
  }
  SUBCASE("a long section is split, every piece keeps its heading") {
    auto hits = find(*index, "xylophone");
    REQUIRE(hits.size() == 1);
    CHECK(hits.front().path == "guide/long.md");
    CHECK(hits.front().heading == "Guide > Tuning");
    CHECK(hits.front().line_end == 29);  // the file's last line
    CHECK(hits.front().line_start > 5);  // not the whole section
    CHECK(hits.front().text.size() <= 1300);
    auto filler = find(*index, "paragraph fills section", 20);
    CHECK(filler.size() >= 2);
    for (const auto& p : filler) CHECK(p.heading == "Guide > Tuning");
  }
  SUBCASE("code: a chunk of about 60 lines around the match") {
    auto hits = find(*index, "frobnicate_widgets");
    REQUIRE(!hits.empty());
    const auto& top = hits.front();
    CHECK(top.root == "src");
    CHECK(top.path == "server.cpp");
    CHECK(top.heading == "");
    CHECK(top.line_start <= 75);
    CHECK(top.line_end >= 75);
    CHECK(top.line_end - top.line_start < 60);
    auto lines = std::count(top.text.begin(), top.text.end(), '\n') + 1;
    CHECK(lines == top.line_end - top.line_start + 1);
    CHECK(top.text.find("int frobnicate_widgets(int n)") != std::string::npos);
  }
  SUBCASE("stemming: another form of the word matches") {
    auto hits = find(*index, "building");
    REQUIRE(!hits.empty());
    CHECK(hits.front().heading == "Agency > Install > From source");
  }
}

TEST_CASE("corpus: a question with no matching words returns nothing") {
  Corpus c;
  auto index = CorpusIndex::open(c.db);
  REQUIRE(index.ok());
  sync(*index, c.roots);
  CHECK(find(*index, "quantum chromodynamics lagrangian").empty());
  CHECK(find(*index, "what is the?").empty());  // only stop words
  CHECK(find(*index, "").empty());
  CHECK(find(*index, "a b c").empty());  // words under 2 characters
  CHECK(find(*index, "ninja", 0).empty());
}

TEST_CASE("corpus: re-sync with no change reports all unchanged and reads nothing") {
  Corpus c;
  auto index = CorpusIndex::open(c.db);
  REQUIRE(index.ok());
  auto first = sync(*index, c.roots);
  auto count = *index->passage_count();
  auto again = sync(*index, c.roots);
  CHECK(again.files_added == 0);
  CHECK(again.files_updated == 0);
  CHECK(again.files_removed == 0);
  CHECK(again.files_unchanged == 3);
  CHECK(again.passages == 0);
  CHECK(again.skipped.empty());
  CHECK(*index->passage_count() == count);

  // Same size, same mtime, other words: an unread file still answers with
  // its old text, which shows sync() did not open it.
  auto file = c.docs / "install.md";
  auto mtime = fs::last_write_time(file);
  std::string altered = kInstall;
  altered.replace(altered.find("Ninja"), 5, "Bazel");
  put(file, altered);
  fs::last_write_time(file, mtime);
  auto unread = sync(*index, c.roots);
  CHECK(unread.files_unchanged == 3);
  CHECK(unread.files_updated == 0);
  CHECK(find(*index, "bazel").empty());
  CHECK(!find(*index, "ninja").empty());
}

TEST_CASE("corpus: a changed file is re-indexed and its old text is no longer found") {
  Corpus c;
  auto index = CorpusIndex::open(c.db);
  REQUIRE(index.ok());
  sync(*index, c.roots);
  REQUIRE(!find(*index, "ninja generator").empty());

  auto file = c.docs / "install.md";
  put(file, "# Agency\n\n## Install\n\nRun meson and then build with samurai.\n");
  touch_later(file);
  auto report = sync(*index, c.roots);
  CHECK(report.files_updated == 1);
  CHECK(report.files_unchanged == 2);
  CHECK(report.passages == 1);
  CHECK(find(*index, "ninja generator").empty());
  auto hits = find(*index, "samurai");
  REQUIRE(hits.size() == 1);
  CHECK(hits.front().heading == "Agency > Install");
  CHECK(hits.front().line_start == 3);
  CHECK(hits.front().line_end == 5);
}

TEST_CASE("corpus: a removed file or root is gone from results") {
  Corpus c;
  auto index = CorpusIndex::open(c.db);
  REQUIRE(index.ok());
  sync(*index, c.roots);
  REQUIRE(!find(*index, "xylophone").empty());

  fs::remove(c.docs / "guide" / "long.md");
  auto report = sync(*index, c.roots);
  CHECK(report.files_removed == 1);
  CHECK(report.files_unchanged == 2);
  CHECK(find(*index, "xylophone").empty());

  // A root no longer listed takes its files with it.
  auto before = *index->passage_count();
  auto only_docs = sync(*index, {{"docs", c.docs}});
  CHECK(only_docs.files_removed == 1);
  CHECK(find(*index, "frobnicate_widgets").empty());
  CHECK(*index->passage_count() < before);
  CHECK(!find(*index, "ninja").empty());
}

TEST_CASE("corpus: skipped files are reported and ignored places stay out") {
  Corpus c;
  put(c.docs / "big.md", std::string(1024 * 1024 + 1, 'a'));
  put(c.docs / "blob.txt", std::string("zebra\0stripes", 13));
  put(c.docs / ".secret" / "notes.md", "hiddenword in a hidden dir\n");
  put(c.docs / ".env.md", "hiddenword in a hidden file\n");
  put(c.docs / "build-release" / "gen.md", "hiddenword in a build dir\n");
  put(c.docs / "node_modules" / "pkg" / "README.md", "hiddenword in node_modules\n");
  put(c.docs / "picture.png", "hiddenword in an unknown type\n");
  put(c.src / "CMakeLists.txt", "add_library(quokka STATIC quokka.cpp)\n");
  auto index = CorpusIndex::open(c.db);
  REQUIRE(index.ok());
  auto report = sync(*index, c.roots);
  CHECK(report.files_added == 4);
  REQUIRE(report.skipped.size() == 2);
  std::string all = report.skipped[0] + "\n" + report.skipped[1];
  CHECK(all.find("docs:big.md: larger than 1 MiB") != std::string::npos);
  CHECK(all.find("docs:blob.txt: binary") != std::string::npos);
  CHECK(find(*index, "zebra").empty());
  CHECK(find(*index, "hiddenword").empty());
  CHECK(!find(*index, "quokka").empty());

  // A missing root is reported, not an error.
  auto missing = sync(*index, {{"gone", c.tmp.path() / "nope"}});
  CHECK(missing.files_removed == 4);
  REQUIRE(missing.skipped.size() == 1);
  CHECK(missing.skipped[0].find("not a directory") != std::string::npos);
}

TEST_CASE("corpus: hostile query strings never fail") {
  Corpus c;
  auto index = CorpusIndex::open(c.db);
  REQUIRE(index.ok());
  sync(*index, c.roots);
  const std::vector<std::string> hostile = {"\"",
                                            "\"unbalanced ninja",
                                            "(((",
                                            ")",
                                            "NEAR(ninja cmake, 2)",
                                            "ninja AND OR NOT",
                                            "*",
                                            "ninja*",
                                            "title:ninja",
                                            "body : ninja",
                                            "^ninja",
                                            "{title body}: ninja",
                                            "'",
                                            "\\",
                                            "--",
                                            "\xff\xfe\xfd",
                                            "\xe2\x80\x94",
                                            "日本語のテキスト",
                                            "🔥 ninja 🔥",
                                            "naïve café",
                                            "NOT",
                                            "AND",
                                            "OR OR OR",
                                            "\"ninja\" AND",
                                            "a\"b\"c",
                                            std::string("nul\0byte", 8),
                                            "+-/%&|~<>=",
                                            std::string(5000, 'x')};
  for (const auto& q : hostile) {
    CAPTURE(q);
    auto r = index->search(q);
    CHECK_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
  }
  // The words survive the operators around them.
  CHECK(!find(*index, "NEAR(ninja cmake, 2)").empty());
  CHECK(!find(*index, "\"ninja\" AND").empty());
  CHECK(!find(*index, "🔥 ninja 🔥").empty());
  CHECK(agency::corpus_fts_query("How do I install NATS-server (JetStream)?") ==
        "\"install\" OR \"nats\" OR \"server\" OR \"jetstream\"");
  CHECK(agency::corpus_fts_query("() AND * OR").empty());
}

TEST_CASE("corpus: ranking prefers the passage that matches more and rarer words") {
  TempDir tmp;
  auto dir = tmp.path() / "kb";
  // "gizmo" is everywhere, "zyzzyva" and "frobnicator" are rare.
  for (int i = 0; i < 6; ++i)
    put(dir / ("note" + std::to_string(i) + ".md"), "# Note " + std::to_string(i) +
                                                        "\n\nThe gizmo panel shows status number " +
                                                        std::to_string(i) + ".\n");
  put(dir / "rare.md", "# Rare\n\nThe zyzzyva panel shows status.\n");
  put(dir / "both.md", "# Both\n\nThe gizmo panel shows a frobnicator status.\n");
  auto index = CorpusIndex::open(tmp.path() / "kb.db");
  REQUIRE(index.ok());
  sync(*index, {{"kb", dir}});

  auto more = find(*index, "gizmo frobnicator");
  REQUIRE(more.size() >= 2);
  CHECK(more.front().path == "both.md");
  CHECK(more.front().score == doctest::Approx(1.0));
  CHECK(more[1].score < 0.5);  // only the common word

  auto rarer = find(*index, "gizmo zyzzyva");
  REQUIRE(rarer.size() >= 2);
  CHECK(rarer.front().path == "rare.md");
  CHECK(rarer.front().score > 2 * rarer[1].score);

  // The heading column weighs more than the body.
  put(dir / "heading.md", "# Telemetry\n\nSee the panel.\n");
  put(dir / "body.md", "# Other\n\nSome telemetry in the panel.\n");
  sync(*index, {{"kb", dir}});
  auto titled = find(*index, "telemetry");
  REQUIRE(titled.size() == 2);
  CHECK(titled.front().path == "heading.md");
}

TEST_CASE("corpus: reopening the db keeps the index") {
  Corpus c;
  std::uint64_t count = 0;
  {
    auto index = CorpusIndex::open(c.db);
    REQUIRE(index.ok());
    sync(*index, c.roots);
    count = *index->passage_count();
    CHECK(count > 0);
  }
  auto reopened = CorpusIndex::open(c.db);
  REQUIRE(reopened.ok());
  CHECK(*reopened->passage_count() == count);
  CHECK(!find(*reopened, "ninja").empty());
  auto report = sync(*reopened, c.roots);
  CHECK(report.files_unchanged == 3);
  CHECK(report.files_added == 0);

  // Moving the index keeps it working.
  CorpusIndex moved = std::move(*reopened);
  CHECK(!find(moved, "ninja").empty());
}

TEST_CASE("corpus: a file that is not an index is refused with its path") {
  TempDir tmp;
  auto file = tmp.path() / "not-a-db.db";
  put(file, std::string(4096, 'z'));
  auto index = CorpusIndex::open(file);
  REQUIRE(!index.ok());
  CHECK(index.error().message.find(file.string()) != std::string::npos);

  auto dup = CorpusIndex::open(tmp.path() / "ok.db");
  REQUIRE(dup.ok());
  auto r = dup->sync({{"a", tmp.path()}, {"a", tmp.path()}});
  REQUIRE(!r.ok());
  CHECK(r.error().message.find("used twice") != std::string::npos);
}
