// Taking a brief in and claiming it (runtime_agent.hpp), main thread: the
// delivery count, the task and stage it is for, its task record (created for
// a first attempt, waited for when the brief is ahead of it), replays, and
// the status that names the brief before the agent says busy.
#include <algorithm>
#include <cstdlib>

#include "bus/bounds.hpp"
#include "bus/clock.hpp"
#include "bus/consumer.hpp"
#include "bus/vocabulary.hpp"
#include "runtime/ids.hpp"
#include "runtime/orphans.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/runtime_agent.hpp"

namespace agency::runtime {

using namespace std::chrono_literals;
namespace voc = vocabulary;

std::optional<Agent::Handled> Agent::take_in(ReceivedBrief& received, Intake& in) {
  v1::Brief& brief = received.brief;
  read_deferrals(received);
  // Delivered again and again without being settled: the agents handling
  // it died on it (the server would redeliver it forever).
  if (failed_deliveries(received) > static_cast<std::uint64_t>(options_.max_deliver)) {
    return fail(received, nullptr,
                "delivered " + std::to_string(failed_deliveries(received)) +
                    " times without being settled (the agents handling it may have crashed on it)",
                true);
  }
  if (brief.task_id().empty()) {
    brief.set_task_id(
        ids::task_for_message(received.delivery.timestamp_ns, received.delivery.stream_sequence));
  }
  // With one project configured, a brief that names none is for it.
  if (brief.project().empty() && config_.projects.size() == 1) {
    brief.set_project(config_.projects.front().name);
  }
  // A brief without a stage is for the role's stage in the pipeline its
  // project's tasks start on; whether the stage is the role's is checked
  // against the task's own pipeline (load_task).
  in.stage = brief.stage().empty()
                 ? std::string(config_.pipeline_for(brief.project()).stage_of(options_.role))
                 : brief.stage();
  brief.set_stage(in.stage);
  in.attempt = std::max<std::uint32_t>(1, brief.attempt());
  if (auto settled = load_task(received, in)) return settled;

  std::uint32_t entered = entries_into(in.task, in.stage);
  if (in.attempt > entered + 1) {
    // The stage before publishes attempt entered+1 only; nothing publishes
    // one further ahead.
    return fail(received, nullptr,
                "attempt " + std::to_string(in.attempt) + " at " + in.stage + " is ahead of task " +
                    brief.task_id() + ", which entered " + in.stage + " " +
                    std::to_string(entered) +
                    " time(s): the next brief for a stage is always the next attempt, so no "
                    "agent published this one",
                true);
  }
  if (entered < in.attempt && overtaken(in.task, brief)) {
    log_->info(
        "brief skipped task={} stage={} attempt={}: the change that sent it (from {}) can no "
        "longer be written, the task is at {} now",
        brief.task_id(), in.stage, in.attempt, brief.follows(), in.task.stage());
    (void)received.message.ack();
    return Handled::done;
  }
  if (entered < in.attempt) {
    if (auto settled = catch_up_with_record(received, in, entered)) return settled;
    entered = entries_into(in.task, in.stage);
  }
  if (in.task.stage() != in.stage || entered > in.attempt) {
    // A replay: the task has already moved on from this stage and attempt.
    // Delivered again, it may follow a run that wrote the record and then
    // failed to store the event: the event is stored now (its msg id
    // drops it if it was).
    if (received.delivery.deliveries > 1) restore_move_event(in);
    log_->info("replayed brief skipped task={} stage={} attempt={} task_stage={}", brief.task_id(),
               in.stage, in.attempt, in.task.stage());
    (void)received.message.ack();
    return Handled::done;
  }
  return std::nullopt;
}

std::optional<std::string> Agent::stage_problem(const pipeline::Pipeline& walk,
                                                const std::string& stage) const {
  if (stage.empty()) return std::nullopt;  // a lateral role's brief
  const auto owner = walk.role_for_stage(stage);
  if (owner == options_.role) return std::nullopt;
  if (owner.empty()) {
    return "stage " + stage + " is not in the pipeline the task walks (" + walk.name() +
           "; its stages: " + vocabulary::join(walk.work_stages()) + ")";
  }
  return "stage " + stage + " belongs to role " + std::string(owner) + ", not " + options_.role;
}

std::optional<Agent::Handled> Agent::load_task(ReceivedBrief& received, Intake& in) {
  const v1::Brief& brief = received.brief;
  // Look before creating: a task starts at attempt 1, so a brief with a
  // later attempt for a task that does not exist was not published by an
  // agent, and must not leave a task behind.
  if (auto existing = store_->load(brief.task_id()); existing) {
    in.task = std::move(existing->task);
    task_revision_ = existing->revision;
    if (auto problem = stage_problem(pipeline::Pipeline::of(in.task), in.stage)) {
      return fail(received, nullptr, *problem, true);
    }
  } else if (existing.error().code != errc::not_found) {
    return fail(received, nullptr, existing.error().message);
  } else if (in.attempt > 1) {
    return fail(received, nullptr,
                "attempt " + std::to_string(in.attempt) + " at " + in.stage + " for task " +
                    brief.task_id() +
                    ", which does not exist: a task starts at attempt 1, so no agent published "
                    "this brief",
                true);
  } else {
    // A new task walks the pipeline its project's tasks start on now.
    const auto& walk = config_.pipeline_for(brief.project());
    if (auto problem = stage_problem(walk, in.stage)) {
      return fail(received, nullptr, *problem, true);
    }
    auto created = store_->create(brief, in.stage, options_.agent_id, [&](v1::Task& t) {
      if (walk.is_work_stage(in.stage)) walk.stamp(t, config_.lands(brief.project()));
    });
    if (!created) return fail(received, nullptr, created.error().message);
    in.task = created->task;
    task_revision_ = created->revision;
  }
  return std::nullopt;
}

std::optional<Agent::Handled> Agent::catch_up_with_record(ReceivedBrief& received, Intake& in,
                                                          std::uint32_t entered) {
  if (wait_for_record(received, in.stage, in.attempt, in.task)) return std::nullopt;
  if (stop_.load()) {
    (void)received.message.hand_back(*connection_);
    return Handled::handed_back;
  }
  const v1::Brief& brief = received.brief;
  // The stage before may have died between publishing this brief and
  // updating the record; its own redelivery completes the update within
  // an ack wait or two. Wait aside (a deferral, not a failed delivery)
  // so the briefs behind this one go first, but not forever.
  auto age = std::chrono::system_clock::now() -
             std::chrono::system_clock::time_point(
                 std::chrono::duration_cast<std::chrono::system_clock::duration>(
                     std::chrono::nanoseconds(received.delivery.timestamp_ns)));
  auto patience = 3 * std::chrono::seconds(config_.pipeline.ack_wait_seconds) + 60s;
  if (received.delivery.timestamp_ns > 0 && age > patience) {
    return fail(received, nullptr,
                "attempt " + std::to_string(in.attempt) + " at " + in.stage + " for task " +
                    brief.task_id() + " is still ahead of the task record after " +
                    std::to_string(std::chrono::duration_cast<std::chrono::seconds>(age).count()) +
                    " s (the record entered " + in.stage + " " + std::to_string(entered) +
                    " time(s)); the stage before never recorded this change",
                true);
  }
  auto delay = std::min<std::chrono::milliseconds>(
      30s, std::chrono::milliseconds(2000LL << std::min<std::uint64_t>(deferrals_, 4)));
  log_->info(
      "brief ahead of its task record, waiting aside task={} stage={} attempt={} "
      "retry_in_ms={}",
      brief.task_id(), in.stage, in.attempt, delay.count());
  defer(received, delay);
  return Handled::handed_back;
}

bool Agent::wait_for_record(ReceivedBrief& received, const std::string& stage,
                            std::uint32_t attempt, v1::Task& task) {
  // The previous stage publishes this brief before it updates the record
  // (docs/ARCHITECTURE.md), so for a moment the brief can be ahead of the task.
  // Wait a moment for the record instead of dropping the brief; a record
  // that takes longer is waited for aside (catch_up_with_record).
  set_state(voc::kBusy, received.brief.task_id());
  set_progress("waiting for the task record to reach attempt " + std::to_string(attempt) + " at " +
               stage);
  auto deadline = std::chrono::steady_clock::now() + 2s;
  auto last_ack = std::chrono::steady_clock::now();
  // The record usually lands within a millisecond: look again soon, then
  // back off to 50 ms.
  std::chrono::milliseconds poll = 1ms;
  while (std::chrono::steady_clock::now() < deadline && !stop_.load()) {
    if (pause_for(poll)) return false;
    poll = std::min<std::chrono::milliseconds>(poll * 2, 50ms);
    auto loaded = store_->load(received.brief.task_id());
    if (loaded && entries_into(loaded->task, stage) >= attempt) {
      task = std::move(loaded->task);
      task_revision_ = loaded->revision;
      return true;
    }
    if (std::chrono::steady_clock::now() - last_ack > 5s) {
      note_brief_progress();
      (void)received.message.in_progress();
      last_ack = std::chrono::steady_clock::now();
    }
  }
  return false;
}

void Agent::note_interruption(ReceivedBrief& received, const std::string& stage) {
  // Taken up again after its agent stopped mid-turn: the engine is told, so
  // it looks at what the last run left before it starts over.
  if (received.delivery.deliveries <= 1) return;
  v1::Brief& brief = received.brief;
  if (auto trail = store_->history(brief.task_id()); trail) {
    if (const auto* stopped = orphans::interruption_since_last_move(*trail)) {
      std::string note =
          "Interrupted work: an earlier run on this brief stopped before it "
          "finished (" +
          stopped->reason() + ")";
      bounds::cut(note, kMostReasonBytes);
      brief.set_context(brief.context().empty() ? note : note + "\n\n" + brief.context());
      log_->info("brief taken up again after an interruption task={} stage={}", brief.task_id(),
                 stage);
    }
  }
}

void Agent::claim(ReceivedBrief& received, std::chrono::system_clock::time_point fetched_at) {
  {
    // Before busy is set: the status write that busy wakes names the brief
    // (the sweeper hands back only a brief the status names).
    std::lock_guard lock(status_mu_);
    status_.set_brief_ack_subject(std::string(received.message.reply()));
    status_.set_brief_stage(received.brief.stage());
    status_.set_brief_attempt(std::max<std::uint32_t>(1, received.brief.attempt()));
    if (!status_.has_brief_progress_at() ||
        to_time_point(status_.brief_progress_at()) < fetched_at) {
      *status_.mutable_brief_progress_at() = to_timestamp(fetched_at);
    }
  }
  set_state(voc::kBusy, received.brief.task_id());
  received.message.on_settle([this](Incoming::Settlement how) { releasing(how); });
}

void Agent::restore_move_event(const Intake& in) {
  // This brief's move is the attempt-th time the task left its stage.
  std::uint32_t exits = 0;
  for (const auto& h : in.task.history()) {
    if (h.from() != in.stage || ++exits != in.attempt) continue;
    // A person's move has its own event, written by whoever moved it.
    if (h.actor().starts_with(voc::kHumanActorPrefix)) return;
    const auto event = stage_event(h, in.task);
    const auto msg_id = event_msg_id(in.task.id(), in.stage, in.attempt);
    if (auto r = store_->append_event(event, msg_id); !r) {
      log_->warn("event of a replayed move not stored task={} stage={} error={}", in.task.id(),
                 in.stage, r.error().message);
    }
    return;
  }
}

}  // namespace agency::runtime
