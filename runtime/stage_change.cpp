// The stage change as values (see stage_change.hpp).
#include "runtime/stage_change.hpp"

#include <algorithm>
#include <utility>

#include "bus/bounds.hpp"
#include "bus/vocabulary.hpp"
#include "runtime/epics.hpp"
#include "runtime/pipeline.hpp"

namespace agency {

namespace voc = vocabulary;

std::uint32_t entries_into(const v1::Task& task, std::string_view stage) {
  std::uint32_t n = 0;
  for (const auto& change : task.history()) {
    if (change.to() == stage) ++n;
  }
  return n;
}

bool moved_past(const v1::Task& task, std::string_view stage, std::uint32_t attempt) {
  const std::uint32_t entered = entries_into(task, stage);
  return entered > attempt || (entered == attempt && task.stage() != stage);
}

void fit_brief(v1::Brief& brief, std::size_t max_bytes) {
  for (std::string* text :
       {brief.mutable_context(), brief.mutable_objective(), brief.mutable_done_when()}) {
    std::size_t size = brief.ByteSizeLong();
    if (size <= max_bytes) return;
    // A field's length prefix shrinks with it: 16 bytes cover any change.
    std::size_t over = size - max_bytes + 16;
    bounds::cut(*text, text->size() > over + 64 ? text->size() - over : 64);
  }
}

const v1::StageChange* moved_by_person(const v1::Task& record, const v1::Task& seen) {
  const v1::StageChange* found = nullptr;
  for (int i = seen.history_size(); i < record.history_size(); ++i) {
    if (record.history(i).actor().starts_with(voc::kHumanActorPrefix)) found = &record.history(i);
  }
  return found;
}

bool overtaken(const v1::Task& record, const v1::Brief& brief) {
  const std::string& follows = brief.follows();
  const auto colon = follows.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  const std::string_view stage = std::string_view(follows).substr(0, colon);
  std::uint32_t attempt = 0;
  for (char c : std::string_view(follows).substr(colon + 1)) {
    if (c < '0' || c > '9' || attempt > 100000) return false;
    attempt = attempt * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return record.stage() != stage || entries_into(record, stage) != attempt;
}

bool StageChange::closes() const { return next == voc::kDone || next == voc::kBlocked; }

std::string event_msg_id(std::string_view task_id, std::string_view stage, std::uint32_t attempt) {
  return "event:" + std::string(task_id) + ":" + std::string(stage) + ":" + std::to_string(attempt);
}

std::string StageChange::event_msg_id() const {
  return agency::event_msg_id(task_id, stage, attempt);
}

std::string StageChange::work_log_msg_id() const {
  return "log:" + task_id + ":" + stage + ":" + std::to_string(attempt);
}

std::string StageChange::work_log_summary() const {
  std::string summary = reason;
  if (!decision.context.empty()) summary += "\n\n" + decision.context;
  return summary;
}

Decision route(const pipeline::Pipeline& p, std::string_view stage, bool lands, Decision d) {
  using Verdict = Decision::Verdict;
  const pipeline::Step* here = p.step(stage);
  if (here == nullptr && d.verdict != Verdict::none) {
    // A brief outside the pipeline (a lateral role's): a pass is done, a
    // fail blocked.
    d.next_stage = std::string(d.verdict == Verdict::pass ? voc::kDone : voc::kBlocked);
    d.verdict = Verdict::none;
    return d;
  }
  const bool goes_on = d.verdict == Verdict::pass ||
                       (d.verdict == Verdict::fail && here != nullptr && here->optional);
  if (goes_on) {
    if (d.verdict == Verdict::fail) {
      d.reason = "the optional stage " + std::string(stage) + " failed; going on: " + d.reason;
    }
    d.next_stage = std::string(p.after(stage, lands));
    d.bounce = false;
  } else if (d.verdict == Verdict::fail ||
             (d.bounce && !p.is_work_stage(d.next_stage) && !voc::is_end(d.next_stage))) {
    const auto back = p.bounce(stage);
    if (back.empty()) {
      d.next_stage = std::string(voc::kBlocked);
      d.reason = "failed at " + std::string(stage) + ", which sends no task back: " + d.reason;
      d.bounce = false;
    } else {
      d.next_stage = std::string(back);
      d.bounce = true;
    }
  } else if (!p.is_stage(d.next_stage) && pipeline::is_work_stage(d.next_stage)) {
    // A built-in stage this pipeline does not have: the way on.
    d.next_stage = std::string(p.after(stage, lands));
  }
  if (p.is_landing(d.next_stage) && !lands) {
    d.next_stage = std::string(p.after(d.next_stage, false));
  }
  d.verdict = Verdict::none;
  return d;
}

Result<StageChange> plan_stage_change(const v1::Task& task, const v1::Brief& brief,
                                      const std::string& stage, Decision decision,
                                      std::int64_t tokens, const std::string& actor,
                                      int bounce_limit, bool lands) {
  const auto walk = pipeline::Pipeline::of(task);
  decision = route(walk, stage, lands, std::move(decision));
  StageChange change;
  change.task_id = brief.task_id();
  change.stage = stage;
  change.attempt = std::max<std::uint32_t>(1, brief.attempt());
  change.next = decision.next_stage;
  change.reason = decision.reason;
  bounds::cut(change.reason, kMostReasonBytes);
  change.bounces = task.bounces() + (decision.bounce ? 1 : 0);
  if (decision.bounce && change.bounces > static_cast<std::uint32_t>(bounce_limit)) {
    change.reason = "sent back " + std::to_string(change.bounces) + " times (limit " +
                    std::to_string(bounce_limit) + "), needs a person: " + change.reason;
    change.next = std::string(voc::kBlocked);
  }
  if (!walk.is_stage(change.next)) {
    return make_error(errc::internal, "role decided a stage '" + change.next +
                                          "' that is not in the task's pipeline (" +
                                          voc::join(walk.work_stages()) + ")");
  }
  change.next_attempt = entries_into(task, change.next) + 1;
  change.tokens = tokens;
  change.actor = actor;
  change.decision = std::move(decision);
  return change;
}

std::optional<v1::Brief> next_brief(const StageChange& change, const v1::Task& task,
                                    const v1::Brief& brief, std::size_t max_bytes,
                                    const google::protobuf::Timestamp& now) {
  if (!pipeline::Pipeline::of(task).is_work_stage(change.next)) return std::nullopt;
  v1::Brief out;
  out.set_id(change.task_id + ":" + change.next + ":" + std::to_string(change.next_attempt));
  out.set_project(task.project());
  out.set_objective(brief.objective().empty() ? task.brief().objective() : brief.objective());
  out.set_audience(task.brief().audience());
  *out.mutable_constraints() = task.brief().constraints();
  out.set_done_when(task.brief().done_when());
  out.set_stage(change.next);
  out.set_task_id(change.task_id);
  // The record's: a person may have changed it (agency task priority).
  out.set_priority(task.brief().priority().empty() ? brief.priority() : task.brief().priority());
  out.set_token_budget(brief.token_budget());
  out.set_context(change.decision.context);
  out.set_origin(change.actor);
  out.set_attempt(change.next_attempt);
  out.set_follows(change.stage + ":" + std::to_string(change.attempt));
  *out.mutable_created_at() = now;
  fit_brief(out, max_bytes);
  return out;
}

bool record_stage_change(v1::Task& record, const StageChange& change,
                         const google::protobuf::Timestamp& now) {
  if (record.stage() != change.stage || entries_into(record, change.stage) != change.attempt) {
    return false;  // applied already
  }
  auto* entry = record.add_history();
  entry->set_from(change.stage);
  entry->set_to(change.next);
  entry->set_actor(change.actor);
  entry->set_reason(change.reason);
  *entry->mutable_at() = now;
  record.set_stage(change.next);
  record.set_bounces(change.bounces);
  record.set_tokens_used(record.tokens_used() + change.tokens);
  const Decision& d = change.decision;
  if (!d.spec.empty()) record.set_spec(d.spec);
  if (!d.branch.empty()) record.set_branch(d.branch);
  for (const auto& [k, v] : d.attachments) (*record.mutable_attachments())[k] = v;
  if (change.next == voc::kBlocked) record.set_blocked_reason(change.reason);
  if (!d.subtasks.empty()) {
    record.clear_children();
    for (std::size_t n = 1; n <= d.subtasks.size(); ++n) {
      record.add_children(epics::child_id(change.task_id, n));
    }
  }
  return true;
}

namespace {
v1::TaskEvent move_event(const v1::Task& task, const v1::StageChange& move, bool bounce) {
  v1::TaskEvent event;
  event.set_task_id(task.id());
  std::string_view kind = move.to() == voc::kDone      ? voc::kEventDone
                          : move.to() == voc::kBlocked ? voc::kEventBlocked
                          : bounce                     ? voc::kEventBounced
                                                       : voc::kEventStageChanged;
  event.set_kind(std::string(kind));
  event.set_from_stage(move.from());
  event.set_to_stage(move.to());
  event.set_actor(move.actor());
  event.set_reason(move.reason());
  event.set_project(task.project());
  *event.mutable_at() = move.at();
  return event;
}
}  // namespace

v1::TaskEvent stage_event(const StageChange& change, const v1::Task& task,
                          const google::protobuf::Timestamp& now) {
  v1::StageChange move;
  move.set_from(change.stage);
  move.set_to(change.next);
  move.set_actor(change.actor);
  move.set_reason(change.reason);
  *move.mutable_at() = now;
  auto event = move_event(task, move, change.decision.bounce);
  event.set_task_id(change.task_id);
  return event;
}

v1::TaskEvent stage_event(const v1::StageChange& entry, const v1::Task& task) {
  return move_event(task, entry, !pipeline::Pipeline::of(task).forward(entry.from(), entry.to()));
}

}  // namespace agency
