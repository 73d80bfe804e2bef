// The knowledge proxy answers lateral questions (agency.ask.proxy) from a
// corpus of directories (agency.yaml `proxy: corpus:`) kept in a full-text
// index (roles/proxy/corpus.hpp). For each question it retrieves the best
// passages and scores how well they cover it: below proxy.min_confidence it
// answers at once that the corpus does not cover the question (no engine,
// so nothing is made up); otherwise its engine composes the answer from the
// numbered passages only, and the answer cites them as sources.
//
// Threads: start() runs once before anything else. tick() and precheck()
// run on the agent's main/work thread, prepare_answer() and finish_answer()
// on its question thread (one question at a time); they may overlap. The
// proxy therefore holds two connections to the same index file: one that
// syncs and one that searches, each behind its own mutex (the index is
// SQLite in WAL mode, so a search reads while a sync writes).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "roles/proxy/corpus.hpp"
#include "runtime/role_logic.hpp"

namespace agency::roles {

// What a question retrieved: the passages (best first) and the retrieval
// confidence computed from them.
struct Retrieval {
  std::vector<Passage> passages;
  double confidence = 0.0;
};

// The retrieval confidence (0..1) of `passages` (sorted best first) for
// `question`; the rule is documented at its definition and in SKILL.md.
double retrieval_confidence(std::string_view question, const std::vector<Passage>& passages);

// The passage numbers (1-based, ascending, each once) an answer cites as
// [n], [n, m] or [n-m]; numbers outside 1..count are ignored.
std::vector<int> cited_passages(std::string_view answer, int count);

// "root/path:start-end", as sources name a passage.
std::string passage_ref(const Passage& p);

// The passages as the prompt and the brief's context show them:
// "[1] root/path:1-9 (Heading)\n<text>\n\n[2] ...".
std::string render_passages(const std::vector<Passage>& passages);

class Proxy final : public RoleLogic {
 public:
  Proxy();
  ~Proxy() override;
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  [[nodiscard]] std::string name() const override { return "proxy"; }

  // Checks the corpus settings (at least one directory, each existing),
  // opens the index at <state_dir>/proxy/<agent-id>.sqlite and syncs once.
  // errc::config errors say what to put in agency.yaml.
  Result<void> start(const RoleContext& ctx) override;

  // Every proxy.reindex_seconds: an incremental sync.
  [[nodiscard]] std::optional<std::chrono::milliseconds> tick_every(
      const RoleContext& ctx) const override;
  Result<void> tick(const RoleContext& ctx) override;

  // A ready Answer (confidence below min_confidence, or nothing found), or
  // a "question" Turn with the numbered passages.
  Result<AnswerPlan> prepare_answer(const RoleContext& ctx, const v1::Question& question) override;
  // The engine's answer, its confidence capped by the retrieval's, and the
  // passages it cites as sources.
  Result<v1::Answer> finish_answer(const RoleContext& ctx, const v1::Question& question,
                                   const Turn& turn, const Outcome& outcome) override;

  // Briefs (agency.brief.proxy, "refresh the corpus"): re-index and go to
  // done, or blocked with the sync's error. No engine runs.
  std::optional<Decision> precheck(const RoleContext& ctx, const v1::Brief& brief,
                                   const v1::Task& task) override;
  // Never reached (precheck decides every brief): errors saying so.
  Result<Turn> prepare(const RoleContext& ctx, const v1::Brief& brief,
                       const v1::Task& task) override;
  Result<Decision> finish(const RoleContext& ctx, const Turn& turn,
                          const Outcome& outcome) override;

  // The passages and confidence a question would get now (no engine).
  Result<Retrieval> retrieve(const RoleContext& ctx, const v1::Question& question);

 private:
  struct Index;
  Result<void> open(const RoleContext& ctx);
  Result<SyncReport> sync(const RoleContext& ctx);

  // Guards the syncing connection (start, tick, precheck).
  std::mutex sync_mu_;
  // Guards the searching connection and the last retrieval.
  std::mutex search_mu_;
  // Guards the pointer itself: open() may run from either side.
  std::mutex open_mu_;
  std::shared_ptr<Index> index_;
  // The retrieval of the question being answered, kept from prepare_answer
  // to finish_answer (one question at a time); another id re-runs it.
  std::optional<std::string> last_question_;
  Retrieval last_;
};

}  // namespace agency::roles
