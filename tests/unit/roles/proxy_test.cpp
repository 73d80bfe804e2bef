#include "roles/proxy/proxy.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <variant>

#include "roles/proxy/settings.hpp"
#include "tests/support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using agency::roles::Proxy;

void put(const fs::path& file, const std::string& content) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << content;
  REQUIRE(out.good());
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
    "Use the Debian package repository.\n";                                // 13

const char* kVoice =
    "# Voice\n"
    "\n"
    "## Tone\n"
    "\n"
    "Write plainly: short sentences, concrete nouns, no marketing superlatives.\n"
    "\n"
    "## Releases\n"
    "\n"
    "Release notes name every user-visible change and link the task.\n";

// A corpus (docs/), the state dir and a context for the proxy.
struct ProxyBench {
  agency::test::TempDir tmp;
  agency::config::Config config;
  agency::RoleContext ctx;
  fs::path docs = tmp.path() / "docs";

  ProxyBench() {
    put(docs / "install.md", kInstall);
    put(docs / "style" / "voice.md", kVoice);
    config.state_dir = tmp.path() / "state";
    agency::config::proxy(config).corpus = {{"handbook", docs}};
    ctx.config = &config;
    ctx.agent_id = "proxy-1";
    ctx.skill.name = "proxy";
    ctx.skill.body = "You are the knowledge proxy.\n";
    ctx.work_dir = tmp.path() / "state" / "work";
  }
};

agency::v1::Question question(const std::string& id, const std::string& text,
                              const std::string& context = {}) {
  agency::v1::Question q;
  q.set_id(id);
  q.set_text(text);
  q.set_context(context);
  q.set_from_agent("builder-1");
  q.set_from_role("builder");
  return q;
}

// An outcome as an engine returns it: the answer and its parsed block.
agency::Outcome engine_answer(const std::string& text) {
  agency::Outcome o;
  o.text = text;
  auto block = agency::parse_outcome_block(text);
  REQUIRE(block.ok());
  if (*block) {
    o.has_block = true;
    o.block = **block;
    o.verdict = o.block.verdict;
  }
  return o;
}

agency::Turn turn_of(const agency::Result<agency::AnswerPlan>& plan) {
  REQUIRE_MESSAGE(plan.ok(), (plan.ok() ? "" : plan.error().message));
  REQUIRE_MESSAGE(std::holds_alternative<agency::Turn>(*plan),
                  "expected an engine turn, got a ready answer: "
                      << (std::holds_alternative<agency::v1::Answer>(*plan)
                              ? std::get<agency::v1::Answer>(*plan).text()
                              : std::string()));
  return std::get<agency::Turn>(*plan);
}

agency::v1::Answer ready_answer(const agency::Result<agency::AnswerPlan>& plan) {
  REQUIRE_MESSAGE(plan.ok(), (plan.ok() ? "" : plan.error().message));
  REQUIRE_MESSAGE(std::holds_alternative<agency::v1::Answer>(*plan),
                  "expected a ready answer, got an engine turn");
  return std::get<agency::v1::Answer>(*plan);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("proxy: start needs a corpus and names what to add") {
  ProxyBench bench;
  Proxy proxy;

  SUBCASE("no corpus at all") {
    agency::config::proxy(bench.config).corpus.clear();
    auto r = proxy.start(bench.ctx);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == agency::errc::config);
    CHECK(contains(r.error().message, "proxy: corpus: [{name: handbook, path: docs}]"));
    CHECK(contains(r.error().message, "agency.yaml"));
  }
  SUBCASE("a corpus directory that does not exist") {
    agency::config::proxy(bench.config)
        .corpus.push_back({"notes", bench.tmp.path() / "no-such-dir"});
    auto r = proxy.start(bench.ctx);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == agency::errc::config);
    CHECK(contains(r.error().message, "notes"));
    CHECK(contains(r.error().message, "no-such-dir"));
    CHECK(contains(r.error().message, "does not exist"));
  }
  SUBCASE("a good corpus: the index is created in the state dir") {
    auto r = proxy.start(bench.ctx);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().message));
    CHECK(fs::exists(bench.config.state_dir / "proxy" / "proxy-1.sqlite"));
    auto every = proxy.tick_every(bench.ctx);
    REQUIRE(every.has_value());
    CHECK(*every == std::chrono::seconds(agency::config::proxy(bench.config).reindex_seconds));
  }
}

TEST_CASE("proxy: a question the corpus answers goes to the engine with the passages") {
  ProxyBench bench;
  Proxy proxy;
  REQUIRE(proxy.start(bench.ctx).ok());
  auto q = question("q-1", "How do I build agency from source with Ninja?");

  auto retrieval = proxy.retrieve(bench.ctx, q);
  REQUIRE(retrieval.ok());
  REQUIRE_FALSE(retrieval->passages.empty());
  CHECK(retrieval->passages.front().path == "install.md");
  CHECK(retrieval->confidence >= 0.8);

  auto turn = turn_of(proxy.prepare_answer(bench.ctx, q));
  CHECK(turn.kind == "question");
  CHECK(turn.role == "proxy");
  CHECK(turn.agent_id == "proxy-1");
  CHECK(fs::is_directory(turn.workdir));
  CHECK(turn.brief.objective() == q.text());
  CHECK(turn.prompt.rfind("You are the knowledge proxy.", 0) == 0);
  CHECK(contains(turn.prompt, q.text()));
  CHECK(contains(turn.prompt,
                 "[1] handbook/install.md:7-9 (Agency > Install > From source)\n"
                 "### From source\n\nRun cmake with the Ninja generator"));
  CHECK(contains(turn.prompt, "Answer only from the passages"));
  CHECK(contains(turn.prompt, "[n]"));
  CHECK(contains(turn.prompt, "confidence:"));
  // The passages are in the brief's context too (the scripted engine shows them).
  CHECK(contains(turn.brief.context(), "[1] handbook/install.md:7-9"));
  CHECK(contains(turn.brief.context(), "Run cmake with the Ninja generator"));

  SUBCASE("the answer cites [1]: that passage is the source, confidence is the lower one") {
    auto answer = proxy.finish_answer(
        bench.ctx, q, turn,
        engine_answer("Run cmake with the Ninja generator and build the agency target [1].\n\n"
                      "```agency\nverdict: pass\nconfidence: 0.6\n```\n"));
    REQUIRE_MESSAGE(answer.ok(), (answer.ok() ? "" : answer.error().message));
    CHECK(answer->question_id() == "q-1");
    CHECK(answer->answered_by() == "proxy-1");
    CHECK(answer->answered_at().seconds() > 0);
    CHECK(contains(answer->text(), "Ninja generator"));
    CHECK_FALSE(contains(answer->text(), "```agency"));
    CHECK(answer->confidence() == doctest::Approx(std::min(retrieval->confidence, 0.6)));
    REQUIRE(answer->sources_size() == 1);
    CHECK(answer->sources(0).ref() == "handbook/install.md:7-9");
    CHECK(contains(answer->sources(0).excerpt(), "Run cmake with the Ninja generator"));
  }
  SUBCASE("an engine more sure than the retrieval does not raise the confidence") {
    // A question the corpus covers in part: "bazel" is in no passage.
    auto partial = question("q-1b", "How do I build agency with cmake or bazel?");
    auto weaker = proxy.retrieve(bench.ctx, partial);
    REQUIRE(weaker.ok());
    REQUIRE(weaker->confidence >= agency::config::proxy(bench.config).min_confidence);
    REQUIRE(weaker->confidence < 0.9);
    auto partial_turn = turn_of(proxy.prepare_answer(bench.ctx, partial));
    auto answer = proxy.finish_answer(
        bench.ctx, partial, partial_turn,
        engine_answer("Use cmake [1].\n\n```agency\nverdict: pass\nconfidence: 1.0\n```\n"));
    REQUIRE(answer.ok());
    CHECK(answer->confidence() == doctest::Approx(weaker->confidence));
  }
  SUBCASE("no citation and no stated confidence: every passage, the retrieval's confidence") {
    auto answer = proxy.finish_answer(
        bench.ctx, q, turn, engine_answer("Run cmake.\n\n```agency\nverdict: pass\n```\n"));
    REQUIRE(answer.ok());
    CHECK(answer->confidence() == doctest::Approx(retrieval->confidence));
    CHECK(answer->sources_size() == static_cast<int>(retrieval->passages.size()));
  }
}

TEST_CASE("proxy: a question the corpus lacks is answered without an engine") {
  ProxyBench bench;
  Proxy proxy;
  REQUIRE(proxy.start(bench.ctx).ok());

  SUBCASE("nothing matches: confidence 0, no sources") {
    auto answer = ready_answer(proxy.prepare_answer(
        bench.ctx, question("q-2", "What is the refund policy for enterprise customers?")));
    CHECK(answer.question_id() == "q-2");
    CHECK(answer.answered_by() == "proxy-1");
    CHECK(answer.confidence() == 0.0);
    CHECK(answer.sources_size() == 0);
    CHECK(contains(answer.text(), "does not cover"));
    CHECK(contains(answer.text(), "handbook"));
  }
  SUBCASE("only a weak match: its low confidence and the weak passage as source") {
    auto answer = ready_answer(proxy.prepare_answer(
        bench.ctx, question("q-3", "refund policy for quantum enterprise ninja customers")));
    CHECK(answer.confidence() > 0.0);
    CHECK(answer.confidence() < agency::config::proxy(bench.config).min_confidence);
    CHECK(contains(answer.text(), "does not cover"));
    REQUIRE(answer.sources_size() >= 1);
    CHECK(answer.sources(0).ref() == "handbook/install.md:7-9");
  }
}

TEST_CASE("proxy: the asker's context helps a question made of stop words") {
  ProxyBench bench;
  Proxy proxy;
  REQUIRE(proxy.start(bench.ctx).ok());
  auto alone = proxy.prepare_answer(bench.ctx, question("q-4", "how do I do this?"));
  CHECK(ready_answer(alone).confidence() == 0.0);
  auto turn = turn_of(proxy.prepare_answer(
      bench.ctx, question("q-5", "how do I do this?", "write release notes for a change")));
  CHECK(contains(turn.prompt, "handbook/style/voice.md"));
  CHECK(contains(turn.prompt, "Release notes name every user-visible change"));
}

TEST_CASE("proxy: tick re-indexes, so new and changed files answer") {
  ProxyBench bench;
  Proxy proxy;
  REQUIRE(proxy.start(bench.ctx).ok());
  auto q = question("q-6", "How is a zeppelin moored?");
  CHECK(ready_answer(proxy.prepare_answer(bench.ctx, q)).confidence() == 0.0);

  put(bench.docs / "airships.md",
      "# Airships\n\n## Mooring\n\nA zeppelin is moored to a mast by its nose cone.\n");
  // Changed content of a known file is seen too (its mtime moves forward).
  put(bench.docs / "install.md", std::string(kInstall) + "\nBazel is not supported.\n");
  fs::last_write_time(bench.docs / "install.md",
                      fs::last_write_time(bench.docs / "install.md") + std::chrono::seconds(5));
  REQUIRE(proxy.tick(bench.ctx).ok());

  auto turn = turn_of(proxy.prepare_answer(bench.ctx, q));
  CHECK(contains(turn.prompt, "[1] handbook/airships.md:3-5 (Airships > Mooring)"));
  auto bazel = proxy.retrieve(bench.ctx, question("q-7", "Is bazel supported?"));
  REQUIRE(bazel.ok());
  REQUIRE_FALSE(bazel->passages.empty());
  CHECK(bazel->passages.front().path == "install.md");
  CHECK(contains(bazel->passages.front().text, "Bazel is not supported."));
}

TEST_CASE("proxy: a brief re-indexes the corpus and is done without an engine") {
  ProxyBench bench;
  Proxy proxy;
  REQUIRE(proxy.start(bench.ctx).ok());
  put(bench.docs / "airships.md", "# Airships\n\nA zeppelin is moored to a mast.\n");
  agency::v1::Brief brief;
  brief.set_objective("refresh the corpus");
  agency::v1::Task task;
  task.set_id("t-refresh");

  auto d = proxy.precheck(bench.ctx, brief, task);
  REQUIRE(d.has_value());
  CHECK(d->next_stage == "done");
  CHECK(d->reason.rfind("re-indexed the corpus: 1 files changed, ", 0) == 0);
  CHECK(contains(d->reason, " passages"));
  // Nothing changed since: 0 files, the same passage count.
  auto again = proxy.precheck(bench.ctx, brief, task);
  REQUIRE(again.has_value());
  CHECK(again->reason.rfind("re-indexed the corpus: 0 files changed, ", 0) == 0);
  CHECK(again->reason.substr(again->reason.find(", ")) == d->reason.substr(d->reason.find(", ")));

  // prepare/finish are never reached for briefs, and say so if they are.
  auto turn = proxy.prepare(bench.ctx, brief, task);
  REQUIRE_FALSE(turn.ok());
  CHECK(contains(turn.error().message, "precheck"));
  CHECK_FALSE(proxy.finish(bench.ctx, agency::Turn{}, agency::Outcome{}).ok());

  SUBCASE("a corpus that vanished blocks the brief with the reason") {
    fs::remove_all(bench.docs);
    auto blocked = proxy.precheck(bench.ctx, brief, task);
    REQUIRE(blocked.has_value());
    // Either the sync fails (blocked) or it sees every file gone; never a
    // silent success that keeps the old passages.
    if (blocked->next_stage == "done") {
      CHECK(blocked->reason.rfind("re-indexed the corpus: 3 files changed, 0 passages", 0) == 0);
    } else {
      CHECK(blocked->next_stage == "blocked");
      CHECK(contains(blocked->reason, "could not re-index the corpus"));
    }
  }
}

TEST_CASE("proxy: citations are read from [n], [n, m] and [n-m] only") {
  using agency::roles::cited_passages;
  CHECK(cited_passages("See [2].", 3) == std::vector<int>{2});
  CHECK(cited_passages("See [3, 1] and [1].", 3) == std::vector<int>{1, 3});
  CHECK(cited_passages("See [1-3].", 4) == std::vector<int>{1, 2, 3});
  CHECK(cited_passages("See [1][2].", 4) == std::vector<int>{1, 2});
  CHECK(cited_passages("[9] is out of range, [0] too", 3).empty());
  CHECK(cited_passages("a [link](http://x/1) and [ ] and [x] and [", 3).empty());
}

TEST_CASE("proxy: retrieval confidence follows the documented rule") {
  using agency::Passage;
  using agency::roles::retrieval_confidence;
  Passage a;
  a.root = "docs";
  a.path = "a.md";
  a.text = "alpha and beta";
  a.score = 0.6;
  CHECK(retrieval_confidence("alpha beta", {}) == 0.0);
  // Every word covered, one file: the top score.
  CHECK(retrieval_confidence("alpha beta", {a}) == doctest::Approx(0.6));

  Passage same_file = a;
  same_file.line_start = 40;
  same_file.score = 0.6;
  Passage other_file = a;
  other_file.path = "b.md";
  other_file.score = 0.6;
  // Another passage of the same file does not corroborate; another file does.
  CHECK(retrieval_confidence("alpha beta", {a, same_file}) == doctest::Approx(0.6));
  CHECK(retrieval_confidence("alpha beta", {a, other_file}) ==
        doctest::Approx(0.6 + 0.4 * 0.2 * 0.6));
  Passage weak_other = other_file;
  weak_other.score = 0.3;
  CHECK(retrieval_confidence("alpha beta", {a, weak_other}) == doctest::Approx(0.6));

  // Half of the question's words in no passage: lowered.
  CHECK(retrieval_confidence("alpha beta gamma delta", {a}) ==
        doctest::Approx(0.6 * (0.75 + 0.25 * 0.5)));
  // Other forms of a word count as covered.
  a.text = "building policies";
  CHECK(retrieval_confidence("build policy", {a}) == doctest::Approx(0.6));
}
