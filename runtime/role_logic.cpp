#include "runtime/role_logic.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <system_error>

#include "bus/vocabulary.hpp"

namespace agency {
namespace {

namespace voc = vocabulary;

// How every answer must end (docs/OUTCOME.md); the roles decide from it.
constexpr std::string_view kAnswerInstructions = R"(# Your answer

Work until the brief is met or you know it cannot be. Then end your answer
with exactly one fenced block like this one (docs/OUTCOME.md); the agency
reads it to decide where the task goes next:

```agency
verdict: pass
summary: one line saying what you did or found
findings:
  - one problem per item; leave the list empty when there is none
spec: |
  only when you wrote a spec: all of it, indented under "spec: |"
```

- `verdict` is `pass` (done as the brief asks), `fail` (it does not meet the
  brief: say why in the findings) or `blocked` (you cannot go on without a
  person: say what is needed in the summary).
- `summary` is one line. `findings` and `spec` may be left out when empty.
)";

void section(std::string& out, std::string_view title, std::string_view text) {
  if (text.empty()) return;
  out += "## ";
  out += title;
  out += "\n\n";
  out += text;
  if (out.back() != '\n') out += '\n';
  out += '\n';
}

std::string brief_document(const Skill& skill, const v1::Brief& brief, const v1::Task& task) {
  std::string out;
  if (!skill.body.empty()) {
    out += skill.body;
    if (out.back() != '\n') out += '\n';
    out += '\n';
  }
  out += "# Brief\n\n";
  section(out, "Objective",
          brief.objective().empty() ? task.brief().objective() : brief.objective());
  const std::string& audience =
      brief.audience().empty() ? task.brief().audience() : brief.audience();
  section(out, "Audience", audience);
  const auto& constraints =
      brief.constraints().empty() ? task.brief().constraints() : brief.constraints();
  std::string list;
  for (const auto& c : constraints) list += "- " + c + "\n";
  section(out, "Constraints", list);
  section(out, "Done when",
          brief.done_when().empty() ? task.brief().done_when() : brief.done_when());

  std::string about;
  std::string project = brief.project().empty() ? task.project() : brief.project();
  about += "- project: " + (project.empty() ? std::string("(none)") : project) + "\n";
  std::string stage = brief.stage().empty() ? task.stage() : brief.stage();
  about += "- stage: " + (stage.empty() ? std::string("(first)") : stage);
  if (brief.attempt() > 1) about += " (attempt " + std::to_string(brief.attempt()) + ")";
  about += "\n";
  std::string id = roles::task_id_of(brief, task);
  about += "- task: " + (id.empty() ? std::string("(new)") : id);
  if (!task.title().empty()) about += " \"" + task.title() + "\"";
  about += "\n";
  if (!task.branch().empty()) about += "- branch: " + task.branch() + "\n";
  if (task.bounces() > 0) {
    about += "- sent back so far: " + std::to_string(task.bounces()) + " times\n";
  }
  section(out, "Task", about);
  section(out, "Context from the previous stage", brief.context());

  if (!task.spec().empty()) {
    out += "# Spec\n\n";
    out += task.spec();
    if (out.back() != '\n') out += '\n';
    out += '\n';
  }
  return out;
}

}  // namespace

std::string compose_prompt(const Skill& skill, const v1::Brief& brief, const v1::Task& task) {
  return compose_prompt(skill, brief, task, {});
}

std::string compose_prompt(const Skill& skill, const v1::Brief& brief, const v1::Task& task,
                           std::string_view workspace) {
  std::string out = brief_document(skill, brief, task);
  if (!workspace.empty()) {
    out += workspace;
    if (out.back() != '\n') out += '\n';
    out += '\n';
  }
  out += kAnswerInstructions;
  return out;
}

namespace roles {

std::string task_id_of(const v1::Brief& brief, const v1::Task& task) {
  return brief.task_id().empty() ? task.id() : brief.task_id();
}

Turn start_turn(const RoleContext& ctx, const std::string& role, const v1::Brief& brief,
                const v1::Task& task) {
  Turn turn;
  turn.agent_id = ctx.agent_id;
  turn.role = role;
  turn.brief = brief;
  turn.task = task;
  return turn;
}

std::optional<std::string> missing_project(const RoleContext& ctx, const v1::Brief& brief,
                                           const v1::Task& task) {
  if (ctx.project != nullptr) return std::nullopt;
  std::string named = brief.project().empty() ? task.project() : brief.project();
  std::string known;
  if (ctx.config != nullptr) {
    for (const auto& p : ctx.config->projects) known += (known.empty() ? "" : ", ") + p.name;
  }
  std::string listed =
      known.empty() ? std::string("agency.yaml lists no projects") : "agency.yaml lists " + known;
  if (!named.empty()) {
    return "no project '" + named + "' (" + listed +
           "): add it under projects: in agency.yaml, or send the brief with a known project";
  }
  return "no project: the brief names none and " +
         (known.empty() ? listed + ", so there is no repository to work in"
                        : listed + "; send the brief with project set to one of them");
}

Result<std::filesystem::path> task_worktree(const RoleContext& ctx, std::string_view task_id) {
  if (ctx.project == nullptr) return make_error(errc::config, "no project to work in");
  const config::Project& p = *ctx.project;
  if (p.from_remote) {
    if (auto r = git::sync_clone(p.remote, p.repo, p.default_branch); !r) return r.error();
  }
  return git::prepare_worktree(p.repo, p.default_branch, ctx.work_dir / "worktrees", task_id,
                               p.from_remote);
}

std::string commits_note(const std::filesystem::path& worktree, const std::string& base_branch) {
  auto commits = git::commits_since(worktree, base_branch);
  if (!commits || commits->empty()) return {};
  std::string out = "## Commits on this branch since " + base_branch + " (newest first)\n\n";
  for (const auto& c : *commits) out += "- " + c + "\n";
  out += "\n";
  return out;
}

std::uint32_t attempt_in(const v1::Task& task, std::string_view stage) {
  std::uint32_t n = 0;
  for (const auto& change : task.history()) {
    if (change.to() == stage) ++n;
  }
  return n == 0 ? 1 : n;
}

Result<std::filesystem::path> scratch_dir(const RoleContext& ctx, std::string_view task_id) {
  std::string name = task_id.empty() ? std::string("untitled") : std::string(task_id);
  for (char& c : name) {
    if (c == '/' || c == '\\') c = '-';
  }
  if (name == "." || name == "..") name = "untitled";
  std::error_code ec;
  auto dir = std::filesystem::absolute(ctx.work_dir / "scratch" / name, ec);
  if (ec) return make_error(errc::io, "cannot place a scratch dir: " + ec.message());
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error(errc::io, "cannot create " + dir.string() + ": " + ec.message());
  return dir;
}

Result<std::filesystem::path> write_dated_file(const std::filesystem::path& dir,
                                               const std::string& date, const std::string& text) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(errc::io, "cannot create " + dir.string() + ": " + ec.message());
  fs::path path = dir / (date + ".md");
  for (int n = 2; fs::exists(path); ++n) path = dir / (date + "-" + std::to_string(n) + ".md");
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return make_error(errc::io, "cannot write " + tmp.string());
    out << text;
    out.flush();
    if (!out) return make_error(errc::io, "cannot write " + tmp.string());
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    return make_error(errc::io,
                      "cannot move " + tmp.string() + " to " + path.string() + ": " + ec.message());
  }
  return path;
}

std::string tail(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t cut = text.size() - max_bytes;
  // Do not start inside a UTF-8 sequence.
  while (cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U) ++cut;
  return "[... " + std::to_string(cut) + " bytes cut ...]\n" + std::string(text.substr(cut));
}

std::string reason_of(const Outcome& outcome) {
  if (!outcome.block.summary.empty()) return outcome.block.summary;
  if (!outcome.block.findings.empty()) return outcome.block.findings.front();
  std::string_view text = outcome.text;
  while (!text.empty() && (text.front() == '\n' || text.front() == ' ')) text.remove_prefix(1);
  std::string_view line = text.substr(0, text.find('\n'));
  if (line.size() > 200) line = line.substr(0, 200);
  if (!line.empty() && line.rfind("```", 0) != 0) return std::string(line);
  return outcome.verdict.empty() ? std::string("no verdict") : "verdict " + outcome.verdict;
}

std::string findings_list(const OutcomeBlock& block) {
  std::string out;
  for (const auto& f : block.findings) out += "- " + f + "\n";
  return out;
}

std::string answer_without_block(std::string_view text) {
  auto open = text.rfind("```agency");
  if (open == std::string_view::npos) return std::string(text);
  auto close = text.find("```", open + 9);
  std::string out(text.substr(0, open));
  if (close != std::string_view::npos) out += text.substr(close + 3);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  if (!out.empty()) out += '\n';
  return out;
}

Decision blocked(std::string reason) {
  Decision d;
  d.next_stage = std::string(voc::kBlocked);
  d.reason = std::move(reason);
  return d;
}

TestRun run_tests(const std::string& command, const std::filesystem::path& dir) {
  TestRun out;
  auto r = git::run_shell(command, dir);
  out.exit_code = r.exit_code;
  out.passed = r.exit_code == 0;
  out.report = "$ " + command + "\n" + tail(r.output, 4000);
  if (!out.report.empty() && out.report.back() != '\n') out.report += '\n';
  out.report += r.exit_code == -1 ? std::string("(did not finish)\n")
                                  : "exit code " + std::to_string(r.exit_code) + "\n";
  return out;
}

}  // namespace roles
}  // namespace agency

namespace agency {

namespace {

std::string skill_text(const Skill& skill) {
  std::string out = skill.body;
  if (!out.empty() && out.back() != '\n') out += '\n';
  if (!out.empty()) out += '\n';
  return out;
}

// A scratch dir per agent for turns that belong to no task.
Result<std::filesystem::path> agent_scratch(const RoleContext& ctx, std::string_view what) {
  return roles::scratch_dir(ctx, std::string(what) + "-" + ctx.agent_id);
}

}  // namespace

Result<AnswerPlan> RoleLogic::prepare_answer(const RoleContext& ctx, const v1::Question& question) {
  Turn turn;
  turn.kind = "question";
  turn.agent_id = ctx.agent_id;
  turn.role = name();
  turn.brief.set_objective(question.text());
  turn.brief.set_context(question.context());
  turn.brief.set_task_id(question.task_id());
  auto dir = agent_scratch(ctx, "ask");
  if (!dir) return dir.error();
  turn.workdir = *dir;
  std::string asker = question.from_agent().empty()
                          ? std::string("a person")
                          : question.from_agent() + " (role " + question.from_role() + ")";
  std::string prompt = skill_text(ctx.skill);
  prompt += "# A question from a colleague\n\n";
  prompt += "You are the " + name() + ". " + asker + " asks you";
  if (!question.task_id().empty()) prompt += ", about task " + question.task_id();
  prompt += ":\n\n" + question.text() + "\n\n";
  if (!question.context().empty()) prompt += "## Their context\n\n" + question.context() + "\n\n";
  prompt +=
      "Answer from what you know as the " + name() +
      ": briefly, concretely, and say so when you do not know rather than guess. Change no "
      "files. End your answer with a block saying how sure you are (0: a guess, 1: certain):\n\n"
      "```agency\nverdict: pass\nconfidence: 0.8\n```\n";
  turn.prompt = std::move(prompt);
  return AnswerPlan(std::move(turn));
}

Result<v1::Answer> RoleLogic::finish_answer(const RoleContext& ctx, const v1::Question& question,
                                            const Turn& /*turn*/, const Outcome& outcome) {
  v1::Answer answer;
  answer.set_question_id(question.id());
  answer.set_text(roles::answer_without_block(outcome.text));
  // Without a stated confidence an answer is worth half: the asker should
  // check it.
  answer.set_confidence(roles::stated_confidence(outcome.block).value_or(0.5));
  answer.set_answered_by(ctx.agent_id);
  return answer;
}

Result<Turn> RoleLogic::prepare_mail(const RoleContext& ctx, const std::vector<v1::Mail>& letters) {
  Turn turn;
  turn.kind = "mail";
  turn.agent_id = ctx.agent_id;
  turn.role = name();
  auto dir = agent_scratch(ctx, "mail");
  if (!dir) return dir.error();
  turn.workdir = *dir;
  std::string letters_text;
  for (const auto& m : letters) {
    letters_text += "## From " + (m.from().empty() ? std::string("someone") : m.from());
    if (!m.subject().empty()) letters_text += ": " + m.subject();
    letters_text += "\n\n";
    if (!m.task_id().empty()) letters_text += "(about task " + m.task_id() + ")\n\n";
    letters_text += m.body() + "\n\n";
  }
  turn.brief.set_objective(letters_text);
  if (letters.size() == 1) turn.brief.set_task_id(letters.front().task_id());
  std::string prompt = skill_text(ctx.skill);
  prompt += "# Mail for you (" + ctx.agent_id + ")\n\n";
  prompt +=
      "Colleagues wrote to you between two of your assignments. Read it, keep what "
      "matters for your next work, and answer where they ask something (`agency mail "
      "<agent-id> \"text\"` sends a letter; `agency ask <role> \"question\"` asks a "
      "role). Change no files.\n\n";
  prompt += letters_text;
  prompt += "End with a block:\n\n```agency\nverdict: pass\nsummary: what you took from it\n```\n";
  turn.prompt = std::move(prompt);
  return turn;
}

namespace roles {

std::optional<double> stated_confidence(const OutcomeBlock& block) {
  auto it = block.fields.find("confidence");
  if (it == block.fields.end()) return std::nullopt;
  std::string v = it->second;
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back())) != 0) v.pop_back();
  bool percent = !v.empty() && v.back() == '%';
  if (percent) v.pop_back();
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || end != v.c_str() + v.size() || !std::isfinite(d)) return std::nullopt;
  if (percent || d > 1.0) d /= 100.0;
  return std::clamp(d, 0.0, 1.0);
}

}  // namespace roles

Result<Turn> EnginelessRole::prepare(const RoleContext& /*ctx*/, const v1::Brief& /*brief*/,
                                     const v1::Task& /*task*/) {
  return make_error(errc::internal,
                    "the " + name() + " runs no engine: its precheck decides briefs");
}

Result<Decision> EnginelessRole::finish(const RoleContext& /*ctx*/, const Turn& /*turn*/,
                                        const Outcome& /*outcome*/) {
  return make_error(errc::internal,
                    "the " + name() + " runs no engine: its precheck decides briefs");
}

}  // namespace agency
