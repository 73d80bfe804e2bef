#include "roles/scout/scout.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <set>
#include <string_view>

#include "bus/clock.hpp"
#include "bus/vocabulary.hpp"
#include "roles/scout/settings.hpp"
#include "runtime/catalog.hpp"
#include "runtime/mesh.hpp"
#include "runtime/pipeline.hpp"

namespace agency::roles {

namespace voc = vocabulary;

namespace {

// Words that carry no meaning of their own in a task title. Verbs and
// negations stay: "add" vs "remove", "cache" vs "do not cache" differ.
constexpr std::array<std::string_view, 33> kStopWords = {
    "a",    "an", "the",  "and",  "or",   "of",    "to",    "in",  "on",  "for",  "with",
    "by",   "at", "from", "into", "onto", "as",    "is",    "are", "be",  "been", "was",
    "were", "it", "its",  "this", "that", "these", "those", "so",  "via", "per",  "our"};

bool is_stop_word(std::string_view word) {
  return std::find(kStopWords.begin(), kStopWords.end(), word) != kStopWords.end();
}

// Typographic punctuation engines like to write (and the task store's "…"
// on cut titles), read as a space like ASCII punctuation.
constexpr std::array<std::string_view, 7> kWidePunctuation = {
    "\xE2\x80\xA6", "\xE2\x80\x93", "\xE2\x80\x94", "\xE2\x80\x98",
    "\xE2\x80\x99", "\xE2\x80\x9C", "\xE2\x80\x9D"};

std::vector<std::string> title_words(std::string_view title) {
  std::string text;
  text.reserve(title.size());
  for (std::size_t i = 0; i < title.size();) {
    bool wide = false;
    for (auto p : kWidePunctuation) {
      if (title.substr(i, p.size()) == p) {
        text += ' ';
        i += p.size();
        wide = true;
        break;
      }
    }
    if (wide) continue;
    auto c = static_cast<unsigned char>(title[i]);
    if (c >= 0x80U) {
      text += title[i];  // part of a non-ASCII letter
    } else if (c >= 'A' && c <= 'Z') {
      text += static_cast<char>(c - 'A' + 'a');
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      text += static_cast<char>(c);
    } else {
      text += ' ';
    }
    ++i;
  }
  std::vector<std::string> all;
  std::vector<std::string> kept;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto start = text.find_first_not_of(' ', pos);
    if (start == std::string::npos) break;
    auto end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    std::string word = text.substr(start, end - start);
    if (!is_stop_word(word)) kept.push_back(word);
    all.push_back(std::move(word));
    pos = end;
  }
  // A title of stop-words only ("To do") still has to compare with something.
  return kept.empty() ? all : kept;
}

std::string first_line(std::string_view text) {
  auto start = text.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return {};
  text.remove_prefix(start);
  std::string_view line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r' || line.back() == '\t')) {
    line.remove_suffix(1);
  }
  return std::string(line);
}

std::string trimmed(std::string_view text) {
  auto start = text.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return {};
  auto end = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(start, end - start + 1));
}

bool is_open(const v1::Task& task) { return task.stage() != voc::kDone; }

std::string in_quotes(std::string_view title) { return "'" + std::string(title) + "'"; }

int max_tasks_of(const RoleContext& ctx) {
  return ctx.config != nullptr ? std::max(0, config::scout(*ctx.config).max_tasks)
                               : config::Scout{}.max_tasks;
}

std::string project_of(const v1::Brief& brief, const v1::Task& task) {
  return brief.project().empty() ? task.project() : brief.project();
}

std::string plural(std::size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

}  // namespace

std::string normalize_title(std::string_view title) {
  std::string out;
  for (const auto& word : title_words(title)) {
    if (!out.empty()) out += ' ';
    out += word;
  }
  return out;
}

double title_similarity(std::string_view a, std::string_view b) {
  auto wa = title_words(a);
  auto wb = title_words(b);
  std::set<std::string> sa(wa.begin(), wa.end());
  std::set<std::string> sb(wb.begin(), wb.end());
  if (sa.empty() && sb.empty()) return 0;
  std::size_t common = 0;
  for (const auto& w : sa) common += sb.count(w);
  std::size_t all = sa.size() + sb.size() - common;
  return static_cast<double>(common) / static_cast<double>(all);
}

bool is_duplicate_title(std::string_view a, std::string_view b) {
  std::string na = normalize_title(a);
  if (na.empty()) return false;
  if (na == normalize_title(b)) return true;
  return title_similarity(a, b) >= 0.6;
}

std::string scout_hash(std::string_view project, std::string_view title) {
  std::uint64_t h = 14695981039346656037ULL;
  auto mix = [&h](std::string_view text) {
    for (char c : text) {
      h ^= static_cast<unsigned char>(c);
      h *= 1099511628211ULL;
    }
  };
  mix(project);
  mix("\n");
  mix(normalize_title(title));
  static constexpr std::string_view kHex = "0123456789abcdef";
  std::string out(12, '0');
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[out.size() - 1 - i] = kHex[(h >> (4 * i)) & 0xFU];
  }
  return out;
}

std::string scout_brief_id(std::string_view project, std::string_view title) {
  return "scout:" + std::string(project) + ":" + scout_hash(project, title);
}

std::string scout_task_id(std::string_view project, std::string_view title) {
  return "t-scout-" + scout_hash(project, title);
}

ScoutFiling plan_filings(const std::vector<ProposedTask>& proposed,
                         const std::vector<v1::Task>& known, const ScoutSource& source,
                         int max_tasks) {
  ScoutFiling out;
  for (const auto& p : proposed) {
    std::string title = first_line(p.title);
    if (title.empty()) title = first_line(p.objective);
    if (title.empty()) continue;  // nothing to file

    const v1::Task* dup = nullptr;
    for (const auto& t : known) {
      if (t.id() == source.own_task || t.project() != source.project || !is_open(t)) continue;
      if (is_duplicate_title(title, t.title())) {
        dup = &t;
        break;
      }
    }
    if (dup != nullptr) {
      out.skipped.push_back({title, dup->id(), dup->title(), "duplicates open task"});
      continue;
    }
    const NewTask* earlier = nullptr;
    for (const auto& f : out.filed) {
      if (is_duplicate_title(title,
                             f.brief.objective().substr(0, f.brief.objective().find('\n')))) {
        earlier = &f;
        break;
      }
    }
    if (earlier != nullptr) {
      out.skipped.push_back({title, earlier->brief.task_id(),
                             first_line(earlier->brief.objective()),
                             "duplicates this run's proposal"});
      continue;
    }
    std::string task_id = scout_task_id(source.project, title);
    auto existing = std::find_if(known.begin(), known.end(),
                                 [&](const v1::Task& t) { return t.id() == task_id; });
    if (existing != known.end()) {
      out.skipped.push_back({title, existing->id(), existing->title(),
                             "was filed before (" + existing->stage() + ") as"});
      continue;
    }
    if (out.filed.size() >= static_cast<std::size_t>(std::max(0, max_tasks))) {
      out.over_limit.push_back(title);
      continue;
    }

    NewTask task;
    task.role = "planner";
    v1::Brief& b = task.brief;
    b.set_id(scout_brief_id(source.project, title));
    b.set_task_id(task_id);
    b.set_project(source.project);
    b.set_stage(std::string(pipeline::kReadyForPrep));
    // The task store takes the title from the objective's first line; an
    // objective that gave the title starts with it already.
    std::string objective = trimmed(p.objective);
    const bool titled_by_objective = first_line(p.title).empty();
    if (objective.empty()) {
      objective = title;
    } else if (!titled_by_objective && objective != title) {
      objective = title + "\n\n" + objective;
    }
    b.set_objective(objective);
    b.set_done_when(trimmed(p.done_when));
    b.set_origin(source.origin);
    b.set_priority(source.priority.empty() ? std::string(voc::kBatch) : source.priority);
    b.set_context("Filed by the scout " + source.origin + " while exploring project " +
                  source.project + ".");
    *b.mutable_created_at() = now_timestamp();
    out.filed.push_back(std::move(task));
  }
  return out;
}

std::optional<Decision> Scout::precheck(const RoleContext& ctx, const v1::Brief& brief,
                                        const v1::Task& task) {
  if (auto why = missing_project(ctx, brief, task)) {
    return blocked("the scout explores a project: " + *why);
  }
  return std::nullopt;
}

Result<Turn> Scout::prepare(const RoleContext& ctx, const v1::Brief& brief, const v1::Task& task) {
  if (auto why = missing_project(ctx, brief, task)) {
    return make_error(errc::config, "the scout explores a project: " + *why);
  }
  Turn turn = start_turn(ctx, name(), brief, task);
  auto dir = scratch_dir(ctx, task_id_of(brief, task));
  if (!dir) return dir.error();
  turn.workdir = *dir;

  known_.clear();
  if (ctx.mesh != nullptr) {
    auto tasks = ctx.mesh->tasks();
    if (!tasks) {
      return make_error(tasks.error().code, "reading the open tasks: " + tasks.error().message);
    }
    known_ = std::move(*tasks);
  }
  const config::Project& project = *ctx.project;
  const std::string own = task_id_of(brief, task);
  const int max_tasks = max_tasks_of(ctx);

  std::string w = "# Workspace\n\n";
  w += "Your working directory " + dir->string() +
       " is a scratch folder for notes; nothing in it is kept.\n";
  w += "The project " + project.name + " is the git repository " + project.repo.string() +
       " (default branch " + project.default_branch +
       "). Explore it read-only: read the code, tests, docs and history; change nothing in it.\n";
  if (!project.test_command.empty()) {
    w += "Its tests run with `" + project.test_command + "`.\n";
  }
  w += "\n## Open tasks of " + project.name + "\n\n";
  std::size_t listed = 0;
  std::size_t open = 0;
  for (const auto& t : known_) {
    if (t.id() == own || t.project() != project.name || !is_open(t)) continue;
    ++open;
    if (listed < 100) {
      w += "- " + t.id() + ": " + t.title() + " (" + t.stage() + ")\n";
      ++listed;
    }
  }
  if (open == 0) w += "None: the fleet has no open task in this project.\n";
  if (open > listed) w += "- ... and " + std::to_string(open - listed) + " more\n";
  if (open > 0) {
    w += "\nThese are filed already: propose none of them again, nor work they already cover.\n";
  }
  w += "\n## What to file\n\n";
  w += "Propose at most " + std::to_string(max_tasks) +
       " tasks, the most valuable first, in the `tasks:` list of your answer's block, each with "
       "`title`, `objective` and `done_when` (see the format above). With nothing worth "
       "filing, answer `verdict: pass` with no tasks.\n";
  turn.prompt = compose_prompt(ctx.skill, brief, task, w);
  return turn;
}

Result<Decision> Scout::finish(const RoleContext& ctx, const Turn& turn, const Outcome& outcome) {
  if (ctx.mesh != nullptr) {
    // Read again: other agents filed and closed tasks while the engine ran.
    // When that fails the list prepare() read still serves.
    if (auto tasks = ctx.mesh->tasks(); tasks) known_ = std::move(*tasks);
  }
  return decide(ctx, turn, outcome, known_);
}

Result<Decision> Scout::decide(const RoleContext& ctx, const Turn& turn, const Outcome& outcome,
                               const std::vector<v1::Task>& known) const {
  std::string reason = reason_of(outcome);
  if (outcome.verdict == "fail" || outcome.verdict == "blocked") {
    return blocked("the scout reports " + outcome.verdict + ": " + reason);
  }
  if (outcome.verdict != "pass") {
    return blocked("the scout gave no verdict (no ```agency block, docs/OUTCOME.md): " + reason);
  }
  Decision d;
  d.next_stage = std::string(voc::kDone);
  if (!outcome.block.summary.empty()) d.attachments["scout"] = outcome.block.summary;
  if (outcome.block.tasks.empty()) {
    d.reason = "found nothing new";
    return d;
  }

  ScoutSource source;
  source.project = project_of(turn.brief, turn.task);
  source.origin = ctx.agent_id;
  source.priority = turn.brief.priority();
  source.own_task = task_id_of(turn.brief, turn.task);
  ScoutFiling filing = plan_filings(outcome.block.tasks, known, source, max_tasks_of(ctx));
  if (filing.filed.empty() && filing.skipped.empty() && filing.over_limit.empty()) {
    d.reason = "found nothing new";  // every proposal was empty
    return d;
  }

  std::string filed_list;
  for (const auto& t : filing.filed) {
    filed_list += "- " + t.brief.task_id() + ": " + first_line(t.brief.objective()) + "\n";
  }
  std::string skipped_list;
  std::string skipped_short;
  for (const auto& s : filing.skipped) {
    skipped_list += "- " + in_quotes(s.title) + " " + s.why + " " + s.existing_id + " " +
                    in_quotes(s.existing_title) + "\n";
    skipped_short +=
        (skipped_short.empty() ? "" : ", ") + s.existing_id + " " + in_quotes(s.existing_title);
  }
  for (const auto& title : filing.over_limit) {
    skipped_list += "- " + in_quotes(title) + " left out: past scout.max_tasks\n";
  }

  d.reason = "filed " + plural(filing.filed.size(), "task", "tasks") + ", skipped " +
             plural(filing.skipped.size(), "duplicate", "duplicates");
  if (!skipped_short.empty()) d.reason += " (" + skipped_short + ")";
  if (!filing.over_limit.empty()) {
    d.reason += ", left out " + std::to_string(filing.over_limit.size()) + " past max_tasks " +
                std::to_string(max_tasks_of(ctx));
  }
  if (!filed_list.empty()) d.attachments["filed"] = filed_list;
  if (!skipped_list.empty()) d.attachments["skipped"] = skipped_list;

  if (ctx.mesh != nullptr) {
    for (const auto& s : filing.skipped) {
      v1::FleetEvent e;
      e.set_kind("skipped-duplicate");
      e.set_task_id(s.existing_id);
      e.set_reason("not filed " + in_quotes(s.title) + ": it " + s.why + " " + s.existing_id + " " +
                   in_quotes(s.existing_title));
      (*e.mutable_details())["proposed"] = s.title;
      (*e.mutable_details())["existing_task"] = s.existing_id;
      (*e.mutable_details())["existing_title"] = s.existing_title;
      (*e.mutable_details())["project"] = source.project;
      // A lost event is not worth exploring the project again: the
      // decision stands without it.
      (void)ctx.mesh->record("scout", std::move(e));
    }
  }
  d.new_tasks = std::move(filing.filed);
  return d;
}

}  // namespace agency::roles

// The role's entry in the catalog (runtime/catalog.hpp).
namespace agency::catalog::entries {
RoleInfo scout() {
  RoleInfo info("scout");
  info.lateral = true;
  info.settings = config::read_scout;
  return info;
}
}  // namespace agency::catalog::entries
