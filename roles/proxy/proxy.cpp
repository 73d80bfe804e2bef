#include "roles/proxy/proxy.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <system_error>
#include <tuple>
#include <utility>

#include "bus/vocabulary.hpp"
#include "roles/proxy/settings.hpp"
#include "runtime/catalog.hpp"

namespace agency::roles {

namespace {

namespace fs = std::filesystem;
namespace voc = vocabulary;

// Retrieval confidence constants (see retrieval_confidence()).
constexpr double kCorroborationFloor = 0.5;   // another file's passage counts from this score
constexpr double kCorroborationWeight = 0.2;  // share of the remaining gap it may close
constexpr double kUncoveredFloor = 0.75;      // factor when no question word is in any passage
constexpr std::size_t kExcerptBytes = 300;

const config::Proxy& settings(const RoleContext& ctx) {
  static const config::Proxy kDefaults;
  return ctx.config == nullptr ? kDefaults : config::proxy(*ctx.config);
}

std::vector<CorpusRoot> roots_of(const RoleContext& ctx) {
  std::vector<CorpusRoot> roots;
  for (const auto& d : settings(ctx).corpus) roots.push_back({d.name, d.path});
  return roots;
}

// "handbook (/srv/docs), code (/srv/src)" for answers that name the corpus.
std::string corpus_names(const RoleContext& ctx) {
  std::string out;
  for (const auto& d : settings(ctx).corpus) {
    if (!out.empty()) out += ", ";
    out += d.name + " (" + d.path.string() + ")";
  }
  return out.empty() ? std::string("(no directories)") : out;
}

// The question's words as the index searches them (stop words dropped,
// lower-cased), read back from the FTS query it would run.
std::vector<std::string> question_terms(std::string_view question) {
  std::vector<std::string> terms;
  std::string q = corpus_fts_query(question);
  std::size_t i = 0;
  while (i < q.size()) {
    if (q[i] != '"') {
      ++i;
      continue;
    }
    std::string term;
    ++i;
    while (i < q.size()) {
      if (q[i] == '"') {
        if (i + 1 < q.size() && q[i + 1] == '"') {
          term += '"';
          i += 2;
          continue;
        }
        ++i;
        break;
      }
      term += q[i++];
    }
    if (!term.empty()) terms.push_back(std::move(term));
  }
  return terms;
}

// Words as the index splits them: ASCII letters and digits (lower-cased)
// and any non-ASCII byte; everything else separates.
std::set<std::string> words_of(std::string_view text) {
  auto words = corpus_words(text);
  return {std::make_move_iterator(words.begin()), std::make_move_iterator(words.end())};
}

// Whether `word` (from a passage) is a form of `term` (from the question).
// The index stems with porter; this is a cheap stand-in that accepts
// common suffix changes: "build"/"building", "policy"/"policies",
// "configuration"/"configure", "run"/"running".
bool same_word(const std::string& term, const std::string& word) {
  std::size_t common = 0;
  while (common < term.size() && common < word.size() && term[common] == word[common]) ++common;
  if (common == term.size()) return true;  // word extends term
  auto needed = std::max<std::size_t>(
      4, static_cast<std::size_t>(std::ceil(0.6 * static_cast<double>(term.size()))));
  if (common >= std::min(needed, term.size())) return true;
  return common == word.size() && word.size() >= 3 && term.size() - word.size() <= 4;
}

// The share (0..1) of the question's words found in at least one passage.
double word_coverage(std::string_view question, const std::vector<Passage>& passages) {
  auto terms = question_terms(question);
  if (terms.empty()) return 1.0;
  std::set<std::string> words;
  for (const auto& p : passages) {
    words.merge(words_of(p.text));
    words.merge(words_of(p.heading));
    words.merge(words_of(p.path));
  }
  std::size_t found = 0;
  for (const auto& t : terms) {
    // Candidates share the term's first letters; the set is sorted, so the
    // scan starts at the first word not below the term's first two bytes.
    auto from = words.lower_bound(t.substr(0, std::min<std::size_t>(2, t.size())));
    for (auto it = from; it != words.end() && it->compare(0, 1, t, 0, 1) == 0; ++it) {
      if (same_word(t, *it)) {
        ++found;
        break;
      }
    }
  }
  return static_cast<double>(found) / static_cast<double>(terms.size());
}

std::string excerpt_of(const std::string& text) {
  if (text.size() <= kExcerptBytes) return text;
  std::size_t cut = kExcerptBytes;
  // Do not end inside a UTF-8 sequence.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U) --cut;
  return text.substr(0, cut) + "...";
}

void add_source(v1::Answer& answer, const Passage& p) {
  auto* s = answer.add_sources();
  s->set_ref(passage_ref(p));
  s->set_excerpt(excerpt_of(p.text));
}

void stamp(v1::Answer& answer, const RoleContext& ctx, const v1::Question& question) {
  answer.set_question_id(question.id());
  answer.set_answered_by(ctx.agent_id);
  auto now = std::chrono::system_clock::now().time_since_epoch();
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(now);
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(now - secs);
  answer.mutable_answered_at()->set_seconds(secs.count());
  answer.mutable_answered_at()->set_nanos(static_cast<std::int32_t>(nanos.count()));
}

std::string format_confidence(double c) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.2f", c);
  return buf;
}

// The answer for a question the corpus does not cover: no engine runs.
v1::Answer not_covered(const RoleContext& ctx, const v1::Question& question, const Retrieval& r) {
  v1::Answer answer;
  stamp(answer, ctx, question);
  std::string text = "The corpus (" + corpus_names(ctx) + ") does not cover this question: ";
  if (r.passages.empty()) {
    text += "no passage in it matches the question's words.";
  } else {
    text += "the closest passages match it only weakly (retrieval confidence " +
            format_confidence(r.confidence) + ", below the " +
            format_confidence(settings(ctx).min_confidence) +
            " the proxy needs to answer). They are listed as sources in case they help.";
  }
  text +=
      " Ask a person or the role that owns the subject, or add a document that answers it to the "
      "corpus.\n";
  answer.set_text(text);
  answer.set_confidence(r.passages.empty() ? 0.0 : r.confidence);
  for (const auto& p : r.passages) add_source(answer, p);
  return answer;
}

std::string safe_file_name(std::string name) {
  if (name.empty()) name = "proxy";
  for (char& c : name) {
    if (c == '/' || c == '\\') c = '-';
  }
  if (name == "." || name == "..") name = "proxy";
  return name;
}

}  // namespace

// The retrieval confidence: how likely the corpus answers the question,
// judged from the passages alone (no model).
//   1. Start from the best passage's score (roles/proxy/corpus.hpp: the share of
//      the question's words it holds, weighted by rarity, times 0.75..1 for
//      its bm25 rank).
//   2. Corroboration: when a passage from another file scores s2 >= 0.5,
//      close a part of the remaining gap: c += (1 - c) * 0.2 * s2. Two
//      documents agreeing are better evidence than one.
//   3. Coverage: the share w of the question's words found in at least one
//      retrieved passage (matched by a cheap stemming stand-in); the
//      confidence is multiplied by 0.75 + 0.25 * w. The score of step 1
//      already counts missing words for one passage; this milder factor adds
//      that words no passage holds at all are most likely what the corpus
//      lacks.
// No passage: 0.
double retrieval_confidence(std::string_view question, const std::vector<Passage>& passages) {
  if (passages.empty()) return 0.0;
  auto best =
      std::max_element(passages.begin(), passages.end(),
                       [](const Passage& a, const Passage& b) { return a.score < b.score; });
  double c = std::clamp(best->score, 0.0, 1.0);
  double other = 0.0;
  for (const auto& p : passages) {
    if (p.root != best->root || p.path != best->path) other = std::max(other, p.score);
  }
  if (other >= kCorroborationFloor) c += (1.0 - c) * kCorroborationWeight * std::min(other, 1.0);
  c *= kUncoveredFloor + (1.0 - kUncoveredFloor) * word_coverage(question, passages);
  return std::clamp(c, 0.0, 1.0);
}

std::vector<int> cited_passages(std::string_view answer, int count) {
  std::set<int> cited;
  std::size_t i = 0;
  while ((i = answer.find('[', i)) != std::string_view::npos) {
    auto close = answer.find(']', i + 1);
    if (close == std::string_view::npos) break;
    std::string_view inside = answer.substr(i + 1, close - i - 1);
    i += 1;
    // Only "[1]", "[1, 3]", "[2-4]": a bracket holding anything else (a
    // markdown link, a checkbox) is no citation.
    if (inside.empty() || inside.size() > 40 ||
        inside.find_first_not_of("0123456789, -") != std::string_view::npos ||
        inside.find_first_of("0123456789") == std::string_view::npos) {
      continue;
    }
    std::size_t k = 0;
    while (k < inside.size()) {
      while (k < inside.size() && (inside[k] == ' ' || inside[k] == ',')) ++k;
      if (k >= inside.size()) break;
      if (inside[k] == '-') {
        ++k;
        continue;
      }
      int from = 0;
      std::size_t digits = 0;
      while (k < inside.size() && inside[k] >= '0' && inside[k] <= '9' && digits < 4) {
        from = from * 10 + (inside[k] - '0');
        ++k;
        ++digits;
      }
      while (k < inside.size() && inside[k] >= '0' && inside[k] <= '9') ++k;  // absurdly long
      int to = from;
      std::size_t after = k;
      while (after < inside.size() && inside[after] == ' ') ++after;
      if (after < inside.size() && inside[after] == '-') {
        ++after;
        while (after < inside.size() && inside[after] == ' ') ++after;
        int n = 0;
        std::size_t nd = 0;
        while (after < inside.size() && inside[after] >= '0' && inside[after] <= '9' && nd < 4) {
          n = n * 10 + (inside[after] - '0');
          ++after;
          ++nd;
        }
        if (nd > 0 && n >= from && n - from <= 50) to = n;
        k = after;
      }
      for (int n = from; n <= to; ++n) {
        if (n >= 1 && n <= count) cited.insert(n);
      }
    }
  }
  return {cited.begin(), cited.end()};
}

std::string passage_ref(const Passage& p) {
  return p.root + "/" + p.path + ":" + std::to_string(p.line_start) + "-" +
         std::to_string(p.line_end);
}

std::string render_passages(const std::vector<Passage>& passages) {
  std::string out;
  for (std::size_t i = 0; i < passages.size(); ++i) {
    const auto& p = passages[i];
    out += "[" + std::to_string(i + 1) + "] " + passage_ref(p);
    if (!p.heading.empty()) out += " (" + p.heading + ")";
    out += "\n" + p.text;
    if (out.back() != '\n') out += '\n';
    out += '\n';
  }
  return out;
}

// Both connections to the index: one syncs, one searches.
struct Proxy::Index {
  CorpusIndex writer;
  CorpusIndex reader;
};

Proxy::Proxy() = default;
Proxy::~Proxy() = default;

Result<void> Proxy::open(const RoleContext& ctx) {
  if (ctx.config == nullptr) return make_error(errc::config, "the proxy has no configuration");
  const auto& proxy = config::proxy(*ctx.config);
  if (proxy.corpus.empty()) {
    return make_error(errc::config,
                      "the proxy has no corpus to answer from: add `proxy: corpus: [{name: "
                      "handbook, path: docs}]` to agency.yaml (one entry per directory of "
                      "documents)");
  }
  for (const auto& d : proxy.corpus) {
    std::error_code ec;
    if (!fs::is_directory(d.path, ec)) {
      bool exists = fs::exists(d.path, ec);
      return make_error(errc::config,
                        "proxy.corpus '" + d.name + "': " + d.path.string() +
                            (exists ? " is not a directory" : " does not exist") +
                            ": fix its path under proxy: corpus: in agency.yaml, or create it");
    }
  }
  fs::path db = ctx.config->state_dir / "proxy" / (safe_file_name(ctx.agent_id) + ".sqlite");
  std::error_code ec;
  fs::create_directories(db.parent_path(), ec);
  if (ec) {
    return make_error(errc::io, "cannot create " + db.parent_path().string() +
                                    " for the proxy's index: " + ec.message());
  }
  auto writer = CorpusIndex::open(db);
  if (!writer) return writer.error();
  auto reader = CorpusIndex::open(db);
  if (!reader) return reader.error();
  auto index = std::make_shared<Index>(Index{std::move(*writer), std::move(*reader)});
  std::lock_guard lock(open_mu_);
  index_ = std::move(index);
  return {};
}

Result<SyncReport> Proxy::sync(const RoleContext& ctx) {
  std::shared_ptr<Index> index;
  {
    std::lock_guard lock(open_mu_);
    index = index_;
  }
  if (!index) {
    if (auto r = open(ctx); !r) return r.error();
    std::lock_guard lock(open_mu_);
    index = index_;
  }
  std::lock_guard lock(sync_mu_);
  return index->writer.sync(roots_of(ctx));
}

Result<void> Proxy::start(const RoleContext& ctx) {
  if (auto r = open(ctx); !r) return r;
  auto report = sync(ctx);
  if (!report) return report.error();
  return {};
}

std::optional<std::chrono::milliseconds> Proxy::tick_every(const RoleContext& ctx) const {
  if (ctx.config == nullptr) return std::nullopt;
  return std::chrono::seconds(std::max(1, config::proxy(*ctx.config).reindex_seconds));
}

Result<void> Proxy::tick(const RoleContext& ctx) {
  auto report = sync(ctx);
  if (!report) return report.error();
  return {};
}

Result<Retrieval> Proxy::retrieve(const RoleContext& ctx, const v1::Question& question) {
  std::shared_ptr<Index> index;
  {
    std::lock_guard lock(open_mu_);
    index = index_;
  }
  if (!index) {
    // Not started (a test, or a question racing the start): open and fill
    // the index now.
    if (auto r = sync(ctx); !r) return r.error();
    std::lock_guard lock(open_mu_);
    index = index_;
  }
  const int limit = std::clamp(settings(ctx).passages, 1, 50);
  std::lock_guard lock(search_mu_);
  auto hits = index->reader.search(question.text(), limit);
  if (!hits) return hits.error();
  std::vector<Passage> passages = std::move(*hits);
  std::string words = question.text();
  if (!question.context().empty()) {
    // The asker's context may name what the question only points at ("how
    // do I fix this?"); its passages join the question's, each keeping its
    // better score.
    words += "\n" + question.context();
    auto more = index->reader.search(words, limit);
    if (!more) return more.error();
    for (auto& p : *more) {
      auto same = std::find_if(passages.begin(), passages.end(), [&](const Passage& q) {
        return std::tie(q.root, q.path, q.line_start) == std::tie(p.root, p.path, p.line_start);
      });
      if (same == passages.end()) {
        passages.push_back(std::move(p));
      } else {
        same->score = std::max(same->score, p.score);
      }
    }
    std::stable_sort(passages.begin(), passages.end(),
                     [](const Passage& a, const Passage& b) { return a.score > b.score; });
    if (passages.size() > static_cast<std::size_t>(limit)) passages.resize(limit);
  }
  Retrieval r;
  // A question made only of stop words ("what about this?") is judged on
  // the words of its context.
  std::string judged = question_terms(question.text()).empty() ? words : question.text();
  r.confidence = retrieval_confidence(judged, passages);
  r.passages = std::move(passages);
  return r;
}

Result<AnswerPlan> Proxy::prepare_answer(const RoleContext& ctx, const v1::Question& question) {
  auto r = retrieve(ctx, question);
  if (!r) return r.error();
  if (r->passages.empty() || r->confidence < settings(ctx).min_confidence) {
    return AnswerPlan(not_covered(ctx, question, *r));
  }
  {
    std::lock_guard lock(search_mu_);
    last_question_ = question.id();
    last_ = *r;
  }

  Turn turn;
  turn.kind = "question";
  turn.agent_id = ctx.agent_id;
  turn.role = name();
  turn.brief.set_objective(question.text());
  turn.brief.set_task_id(question.task_id());
  std::string passages = render_passages(r->passages);
  turn.brief.set_context(passages);
  auto dir = scratch_dir(ctx, "ask-" + ctx.agent_id);
  if (!dir) return dir.error();
  turn.workdir = *dir;

  std::string asker = question.from_agent().empty()
                          ? std::string("A person")
                          : question.from_agent() + " (role " + question.from_role() + ")";
  std::string prompt = ctx.skill.body;
  if (!prompt.empty() && prompt.back() != '\n') prompt += '\n';
  if (!prompt.empty()) prompt += '\n';
  prompt += "# The question\n\n" + asker + " asks";
  if (!question.task_id().empty()) prompt += ", about task " + question.task_id();
  prompt += ":\n\n" + question.text() + "\n\n";
  if (!question.context().empty()) prompt += "## Their context\n\n" + question.context() + "\n\n";
  prompt += "# Passages from the corpus\n\n";
  prompt += "The best matches in the corpus (" + corpus_names(ctx) +
            "), best first, each with its file and lines:\n\n";
  prompt += passages;
  prompt +=
      "# Your answer\n\n"
      "- Answer only from the passages above; do not add what they do not say.\n"
      "- Cite the passages each statement rests on as [n], e.g. [1] or [2][3].\n"
      "- When the passages do not answer the question, or only part of it, say so plainly "
      "(\"The corpus does not cover ...\") instead of guessing.\n"
      "- Change no files.\n"
      "- End with exactly one block stating how well the passages answer the question "
      "(0: not at all, 1: fully and directly):\n\n"
      "```agency\nverdict: pass\nconfidence: 0.8\n```\n";
  turn.prompt = std::move(prompt);
  return AnswerPlan(std::move(turn));
}

Result<v1::Answer> Proxy::finish_answer(const RoleContext& ctx, const v1::Question& question,
                                        const Turn& /*turn*/, const Outcome& outcome) {
  Retrieval r;
  bool have = false;
  {
    std::lock_guard lock(search_mu_);
    if (last_question_ && *last_question_ == question.id()) {
      r = std::move(last_);
      last_ = {};
      last_question_.reset();
      have = true;
    }
  }
  if (!have) {
    auto again = retrieve(ctx, question);
    if (!again) return again.error();
    r = std::move(*again);
  }

  v1::Answer answer;
  stamp(answer, ctx, question);
  std::string text = answer_without_block(outcome.text);
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    // Nothing to pass on but where to look.
    answer.set_text(
        "The proxy's engine gave no answer; the passages listed as sources are the "
        "corpus's closest matches.\n");
    answer.set_confidence(0.0);
    for (const auto& p : r.passages) add_source(answer, p);
    return answer;
  }
  answer.set_text(text);
  // The engine may only lower the retrieval's confidence: it cannot know
  // better than the passages it was shown.
  double confidence = r.confidence;
  if (auto stated = stated_confidence(outcome.block)) confidence = std::min(confidence, *stated);
  answer.set_confidence(std::clamp(confidence, 0.0, 1.0));
  auto cited = cited_passages(text, static_cast<int>(r.passages.size()));
  if (cited.empty()) {
    for (const auto& p : r.passages) add_source(answer, p);
  } else {
    for (int n : cited) add_source(answer, r.passages[static_cast<std::size_t>(n - 1)]);
  }
  return answer;
}

std::optional<Decision> Proxy::precheck(const RoleContext& ctx, const v1::Brief& /*brief*/,
                                        const v1::Task& /*task*/) {
  auto report = sync(ctx);
  if (!report) return blocked("could not re-index the corpus: " + report.error().message);
  std::shared_ptr<Index> index;
  {
    std::lock_guard lock(open_mu_);
    index = index_;
  }
  std::uint64_t total = 0;
  {
    std::lock_guard lock(sync_mu_);
    auto count = index->writer.passage_count();
    if (!count) return blocked("could not count the corpus's passages: " + count.error().message);
    total = *count;
  }
  int changed = report->files_added + report->files_updated + report->files_removed;
  Decision d;
  d.next_stage = std::string(voc::kDone);
  d.reason = "re-indexed the corpus: " + std::to_string(changed) + " files changed, " +
             std::to_string(total) + " passages";
  if (!report->skipped.empty()) {
    d.context = "Skipped files:\n";
    std::size_t shown = 0;
    for (const auto& s : report->skipped) {
      if (++shown > 20) {
        d.context += "- ... and " + std::to_string(report->skipped.size() - 20) + " more\n";
        break;
      }
      d.context += "- " + s + "\n";
    }
  }
  return d;
}

Result<Turn> Proxy::prepare(const RoleContext& /*ctx*/, const v1::Brief& /*brief*/,
                            const v1::Task& /*task*/) {
  return make_error(errc::internal,
                    "the proxy runs no engine for briefs: precheck() re-indexes the corpus and "
                    "decides every brief (a runtime that calls prepare() skipped precheck())");
}

Result<Decision> Proxy::finish(const RoleContext& /*ctx*/, const Turn& /*turn*/,
                               const Outcome& /*outcome*/) {
  return make_error(errc::internal,
                    "the proxy runs no engine for briefs: precheck() re-indexes the corpus and "
                    "decides every brief (a runtime that calls finish() skipped precheck())");
}

}  // namespace agency::roles

// The role's entry in the catalog (runtime/catalog.hpp).
namespace agency::catalog::entries {
RoleInfo proxy() {
  RoleInfo info("proxy");
  info.lateral = true;
  info.answers_questions = true;
  info.settings = config::read_proxy;
  return info;
}
}  // namespace agency::catalog::entries
