// Writing a stage change (runtime_agent.hpp), main thread: the change is
// worked out by stage_change.hpp; this writes it in order (next brief, new
// tasks, task record by compare-and-set, an epic's sub-tasks, event, work
// log, the epic of a sub-task that closed, ack), so a crash anywhere leaves a
// state the brief's redelivery completes.
#include "agency/v1/worklog.pb.h"
#include "bus/bounds.hpp"
#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/subjects.hpp"
#include "runtime/epics.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/runtime_agent.hpp"

namespace agency::runtime {

Result<void> Agent::apply(ReceivedBrief& received, const v1::Task& task, const std::string& stage,
                          Decision decision, std::int64_t tokens, const std::string& account) {
  const v1::Brief& brief = received.brief;
  // A task created before tasks carried their pipeline walks the built-in
  // one, landing as its project's configuration says now; a carried
  // pipeline holds a landing stage only when the project landed then.
  const bool lands = !task.pipeline_stages().empty() || config_.lands(task.project());
  auto change = plan_stage_change(task, brief, stage, std::move(decision), tokens,
                                  options_.agent_id, options_.bounce_limit, lands);
  if (!change) return change.error();

  // 1. The next brief (a replay of this step is dropped by its msg id).
  if (auto out =
          next_brief(*change, task, brief, static_cast<std::size_t>(config_.limits.brief_bytes),
                     now_timestamp())) {
    auto ack = connection_->js_publish(
        subjects::brief(pipeline::Pipeline::of(task).role_for_stage(change->next), out->priority()),
        codec::encode(*out), out->id());
    if (!ack) return ack.error();
  }

  // New tasks the role found (the scout's), each idempotent by its id.
  file_new_tasks(change->decision.new_tasks);

  // 2. The task record, by compare-and-set.
  auto now = now_timestamp();
  StoredTask known{task, task_revision_};
  auto updated = store_->update(
      change->task_id,
      [&](v1::Task& t) {
        // The account whose session worked it (a later turn on another
        // one starts with the hand-over).
        if (!account.empty()) t.set_account(account);
        return record_stage_change(t, *change, now);
      },
      &known);
  if (!updated) return updated.error();
  if (const auto* person = moved_by_person(updated->task, task)) {
    // A person moved the task while this stage worked on it (agency task
    // move, cancel): their move stands, this result is dropped. The brief
    // sent above is skipped by its stage's agent (overtaken()).
    log_->info("result dropped task={} stage={}: {} moved it to {} meanwhile", change->task_id,
               stage, person->actor(), person->to());
    if (auto r = received.message.ack(); !r) return r;
    forget_deferrals(received);
    return {};
  }

  // An epic's sub-tasks, once its record says split (so a sub-task that
  // closes finds its epic there); each created only if absent.
  if (!change->decision.subtasks.empty()) {
    if (auto r = epics::file_subtasks(epic_writer(), task, brief, change->decision.subtasks); !r) {
      return r;
    }
  }

  // 3. The event (after the "created" one, which a crashed creator may not
  // have written: only a brief delivered again can follow such a crash, and
  // only then is it sent again, so `agency watch` shows it once).
  if (received.delivery.deliveries > 1) {
    if (auto r = store_->ensure_created_event(task); !r) return r;
  }
  if (auto r = store_->append_event(stage_event(*change, task, now), change->event_msg_id()); !r) {
    return r;
  }

  // A task that closes leaves its work log for the synthesizer.
  if (change->closes()) {
    write_work_log(updated->task, change->next, change->work_log_summary(), 0,
                   change->work_log_msg_id());
  }
  // A sub-task that closes moves its epic on (starts what waited for it,
  // closes the epic); a replay of this brief does it again.
  if (change->closes() && !task.parent().empty()) {
    auto step = epics::advance_epic(epic_writer(), task.parent());
    if (!step) return step.error();
    for (const auto& id : step->start) {
      log_->info("sub-task started task={} epic={}", id, task.parent());
    }
    if (!step->close.empty()) {
      log_->info("epic closed task={} stage={} reason=\"{}\"", task.parent(), step->close,
                 step->reason.substr(0, 200));
    }
  }

  // 4. Only now is this brief done.
  if (auto r = received.message.ack(); !r) return r;
  forget_deferrals(received);
  log_->info("stage changed task={} from={} to={} attempt={} reason=\"{}\"", change->task_id, stage,
             change->next, change->attempt, change->reason.substr(0, 200));
  return {};
}

epics::Writer Agent::epic_writer() {
  epics::Writer w;
  w.store = &*store_;
  w.connection = connection_.get();
  w.actor = options_.agent_id;
  w.brief_bytes = static_cast<std::size_t>(config_.limits.brief_bytes);
  return w;
}

void Agent::write_work_log(const v1::Task& task, const std::string& outcome,
                           const std::string& summary, std::int64_t tokens,
                           const std::string& msg_id) {
  v1::WorkLog log;
  log.set_task_id(task.id());
  log.set_project(task.project());
  log.set_agent_id(options_.agent_id);
  log.set_role(options_.role);
  log.set_title(task.title());
  log.set_summary(summary);
  bounds::cut(*log.mutable_summary(), kMostSummaryBytes);
  log.set_outcome(outcome);
  log.set_branch(task.branch());
  log.set_tokens(task.tokens_used() + tokens);
  *log.mutable_started_at() = task.created_at();
  *log.mutable_closed_at() = now_timestamp();
  // Tasks of no project log under "_" (a subject needs a token).
  const std::string project = task.project().empty() ? std::string("_") : task.project();
  auto r = connection_->js_publish(subjects::work_log(project), codec::encode(log), msg_id);
  if (!r) log_->warn("work log not stored task={} error={}", task.id(), r.error().message);
}

void Agent::file_new_tasks(const std::vector<NewTask>& tasks) {
  for (const auto& t : tasks) {
    auto filed = mesh_->file_brief(t.role, t.brief);
    v1::FleetEvent event;
    event.set_task_id(t.brief.task_id());
    if (!filed) {
      log_->warn("could not file a new task title=\"{}\" error={}",
                 t.brief.objective().substr(0, 80), filed.error().message);
      continue;
    }
    if (!*filed) continue;  // filed before (a replay)
    event.set_kind("filed");
    event.set_reason("filed for " + t.role + ": " + title_from(t.brief.objective()));
    (*event.mutable_details())["role"] = t.role;
    (*event.mutable_details())["project"] = t.brief.project();
    if (auto r = mesh_->record(options_.role, event); !r) {
      log_->warn("event not stored error={}", r.error().message);
    }
    log_->info("filed task={} for={} title=\"{}\"", t.brief.task_id(), t.role,
               title_from(t.brief.objective()));
  }
}

}  // namespace agency::runtime
