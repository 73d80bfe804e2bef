#include "runtime/steering.hpp"

#include <pwd.h>
#include <unistd.h>

#include <google/protobuf/util/time_util.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>

#include "agency/v1/control.pb.h"
#include "agency/v1/fleet.pb.h"
#include "bus/bounds.hpp"
#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/kv.hpp"
#include "bus/subjects.hpp"
#include "bus/vocabulary.hpp"
#include "runtime/epics.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/stage_change.hpp"

namespace agency::steering {

namespace voc = vocabulary;

namespace {

// The comments a record keeps: the newest, within this many bytes.
constexpr std::size_t kMostCommentBytes = 16 * 1024;

Error refused(std::string message) { return make_error(errc::refused, std::move(message)); }

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Where a blocked or cancelled task stopped: the stage it left for its end
// the last time it left a stage that is not an end.
std::string stopped_at(const v1::Task& task) {
  for (int i = task.history_size() - 1; i >= 0; --i) {
    const auto& h = task.history(i);
    if (voc::is_end(h.to()) && !h.from().empty() && !voc::is_end(h.from())) return h.from();
  }
  return task.history_size() > 0 ? task.history(0).to() : std::string();
}

bool is_epic(const v1::Task& task) { return task.children_size() > 0; }

}  // namespace

std::vector<std::string> move_targets(const v1::Task& task, const config::Config& config) {
  std::vector<std::string> legal;
  if (is_epic(task)) return legal;
  // The task's own pipeline (a carried one holds a landing stage only when
  // its project landed when it was created).
  const auto walk = pipeline::Pipeline::of(task);
  const bool lands = !task.pipeline_stages().empty() || config.lands(task.project());
  for (auto s : walk.work_stages()) {
    if (walk.is_landing(s) && !lands) continue;
    legal.emplace_back(s);
  }
  if (task.stage() != voc::kDone) legal.emplace_back(voc::kDone);
  if (task.stage() != voc::kBlocked) legal.emplace_back(voc::kBlocked);
  return legal;
}

std::vector<std::string> allowed_actions(const v1::Task& task) {
  const std::string& s = task.stage();
  const bool over = s == voc::kDone || s == voc::kCancelled;
  std::vector<std::string> out;
  if (!over) out.emplace_back("cancel");
  if (s == voc::kBlocked || s == voc::kCancelled) out.emplace_back("retry");
  if (s == voc::kBlocked) out.emplace_back("unblock");
  if (!is_epic(task)) out.emplace_back("move");
  if (!over) out.emplace_back("priority");
  out.emplace_back("comment");
  return out;
}

std::string to_json(const Steered& s, const std::string& actor) {
  nlohmann::json out;
  out["task"] = s.task.id();
  out["event"] = s.kind;
  out["from"] = s.from;
  out["to"] = s.to;
  out["actor"] = actor;
  out["brief"] = s.brief_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.brief_id);
  out["also"] = s.also;
  out["cancelled_turns"] = s.cancelled;
  out["record"] = nlohmann::json::parse(codec::to_json(s.task));
  return out.dump();
}

std::string human_actor(std::string_view user) {
  std::string name;
  for (char c : user) {
    if (name.size() >= 64) break;
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '_' || c == '.' || c == '@') name += c;
  }
  return std::string(voc::kHumanActorPrefix) + (name.empty() ? "unknown" : name);
}

std::string current_user() {
  if (const char* user = std::getenv("USER"); user != nullptr && *user != '\0') return user;
  if (const passwd* pw = getpwuid(geteuid()); pw != nullptr && pw->pw_name != nullptr) {
    return pw->pw_name;
  }
  return "unknown";
}

Result<StoredTask> Steering::load(std::string_view task_id) const {
  auto task = store_->load(task_id);
  if (!task && task.error().code == errc::not_found) {
    return make_error(errc::not_found,
                      "no task " + std::string(task_id) + " (list them with `agency task list`)");
  }
  return task;
}

std::vector<std::string> Steering::holders(const std::string& task_id) const {
  std::vector<std::string> out;
  auto fleet = KeyValue::open(*connection_, subjects::kFleetBucket);
  if (!fleet) return out;
  auto keys = fleet->keys();
  if (!keys) return out;
  for (const auto& key : *keys) {
    auto entry = fleet->get(key);
    if (!entry) continue;
    auto status = codec::decode<v1::AgentStatus>(entry->value);
    if (status && status->task_id() == task_id) out.push_back(status->agent_id());
  }
  return out;
}

std::vector<std::string> Steering::cancel_turns(const std::string& task_id,
                                                const std::vector<std::string>& agents,
                                                const std::string& reason) {
  std::vector<std::string> told;
  for (const auto& agent : agents) {
    if (!subjects::is_valid_token(agent)) continue;
    v1::Control c;
    c.set_command(std::string(voc::kCancel));
    c.set_reason(reason);
    c.set_from(actor_);
    c.set_task_id(task_id);
    *c.mutable_at() = now_timestamp();
    if (connection_->publish(subjects::control(agent), codec::encode(c))) told.push_back(agent);
  }
  if (!told.empty()) (void)connection_->flush(std::chrono::seconds(2));
  return told;
}

Result<void> Steering::record_event(const v1::Task& task, std::string_view kind,
                                    std::string_view from, std::string_view to,
                                    const std::string& reason, std::uint64_t revision) {
  v1::TaskEvent event;
  event.set_task_id(task.id());
  event.set_kind(std::string(kind));
  event.set_from_stage(std::string(from));
  event.set_to_stage(std::string(to));
  event.set_actor(actor_);
  event.set_reason(reason);
  *event.mutable_at() = now_timestamp();
  event.set_project(task.project());
  return store_->append_event(
      event, "event:" + task.id() + ":" + std::string(kind) + ":" + std::to_string(revision));
}

Result<Steered> Steering::hand_to(const StoredTask& current, std::string_view stage,
                                  std::string_view kind, const std::string& reason,
                                  const std::string& context,
                                  const std::function<void(v1::Task&)>& shape) {
  const v1::Task& before = current.task;
  const std::string from = before.stage();
  const std::uint32_t attempt = entries_into(before, stage) + 1;
  const auto now = now_timestamp();
  bool changed = false;
  auto updated = store_->update(
      before.id(),
      [&](v1::Task& t) {
        // Only the record this command looked at: anything newer is someone
        // else's change, which the person must see first.
        if (t.history_size() != before.history_size() || t.stage() != from) return false;
        auto* h = t.add_history();
        h->set_from(from);
        h->set_to(std::string(stage));
        h->set_actor(actor_);
        h->set_reason(reason);
        *h->mutable_at() = now;
        t.set_stage(std::string(stage));
        if (!voc::is_end(stage)) t.clear_blocked_reason();
        if (shape) shape(t);
        changed = true;
        return true;
      },
      &current);
  if (!updated) return updated.error();
  if (!changed) {
    return make_error(errc::wrong_revision,
                      "task " + before.id() + " changed while this ran (it is at " +
                          updated->task.stage() +
                          " now); look at it again with `agency task show " + before.id() + "`");
  }
  Steered out;
  out.task = updated->task;
  out.kind = std::string(kind);
  out.from = from;
  out.to = std::string(stage);
  // The brief after the record: the record is what makes it current, and
  // a brief that failed to go out is sent by running the command again.
  const auto walk = pipeline::Pipeline::of(updated->task);
  if (walk.is_work_stage(stage)) {
    const v1::Task& t = updated->task;
    v1::Brief b;
    b.set_id(t.id() + ":" + std::string(stage) + ":" + std::to_string(attempt));
    b.set_project(t.project());
    b.set_objective(t.brief().objective());
    b.set_audience(t.brief().audience());
    *b.mutable_constraints() = t.brief().constraints();
    b.set_done_when(t.brief().done_when());
    b.set_stage(std::string(stage));
    b.set_task_id(t.id());
    b.set_priority(t.brief().priority());
    b.set_token_budget(t.brief().token_budget());
    b.set_context(context);
    b.set_origin(actor_);
    b.set_attempt(attempt);
    *b.mutable_created_at() = now;
    fit_brief(b, static_cast<std::size_t>(config_->limits.brief_bytes));
    auto ack = connection_->js_publish(subjects::brief(walk.role_for_stage(stage), b.priority()),
                                       codec::encode(b), b.id());
    if (!ack) {
      return make_error(ack.error().code, "task " + t.id() + " is at " + std::string(stage) +
                                              " but its brief was not sent (" +
                                              ack.error().message +
                                              "); send it with `agency task move " + t.id() + " " +
                                              std::string(stage) + "`");
    }
    out.brief_id = b.id();
  }
  if (auto r = record_event(updated->task, kind, from, stage, reason, updated->revision); !r) {
    return r.error();
  }
  return out;
}

void Steering::advance_epic(const v1::Task& child, Steered& out) {
  if (child.parent().empty()) return;
  epics::Writer w;
  w.store = store_;
  w.connection = connection_;
  w.actor = actor_;
  w.brief_bytes = static_cast<std::size_t>(config_->limits.brief_bytes);
  if (auto step = epics::advance_epic(w, child.parent()); step) {
    for (const auto& id : step->start) out.also.push_back(id);
    if (!step->close.empty()) out.also.push_back(child.parent());
  }
}

void Steering::reopen_epic(const v1::Task& child, const std::string& reason, Steered& out) {
  if (child.parent().empty()) return;
  auto epic = store_->load(child.parent());
  if (!epic || epic->task.stage() != voc::kBlocked) return;
  auto reopened = hand_to(*epic, pipeline::kSplit, voc::kEventRetried,
                          "sub-task " + child.id() + " taken up again: " + reason, {});
  if (reopened) out.also.push_back(child.parent());
}

Result<Steered> Steering::cancel(std::string_view task_id, std::string reason) {
  auto current = load(task_id);
  if (!current) return current.error();
  const v1::Task& t = current->task;
  if (t.stage() == voc::kDone || t.stage() == voc::kCancelled) {
    return refused("task " + t.id() + " is " + t.stage() + " already; nothing to cancel");
  }
  if (reason.empty()) reason = "cancelled by " + actor_;
  bounds::cut(reason, kMostReasonBytes);
  // The epic first: a sub-task that finishes meanwhile then starts nothing
  // more (an epic moves on only at split).
  const auto working = holders(t.id());
  auto out = hand_to(*current, voc::kCancelled, voc::kEventCancelled, reason, {},
                     [&](v1::Task& c) { c.set_blocked_reason(reason); });
  if (!out) return out;
  std::vector<std::string> told = cancel_turns(t.id(), working, reason);
  for (const auto& id : t.children()) {
    // A sub-task an agent moves at the same moment is read again.
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto child = store_->load(id);
      if (!child || voc::is_end(child->task.stage())) break;
      const auto busy = holders(id);
      auto done = hand_to(*child, voc::kCancelled, voc::kEventCancelled,
                          "its epic " + t.id() + " was cancelled: " + reason, {},
                          [&](v1::Task& c) { c.set_blocked_reason(reason); });
      if (!done && done.error().code == errc::wrong_revision) continue;
      if (!done) return done.error();
      out->also.push_back(id);
      for (auto& a : cancel_turns(id, busy, reason)) told.push_back(std::move(a));
      break;
    }
  }
  out->cancelled = std::move(told);
  // A sub-task cancelled alone: its epic cannot finish without it.
  if (!t.parent().empty()) advance_epic(t, *out);
  return out;
}

Result<Steered> Steering::take_up(const StoredTask& current, std::string_view kind,
                                  const std::string& reason, const std::string& note) {
  const v1::Task& t = current.task;
  const std::string stage = stopped_at(t);
  auto reset = [&](v1::Task& r) {
    r.set_bounces(0);
    if (!note.empty()) {
      std::string kept = "From " + actor_ + ": " + note;
      bounds::cut(kept, kMostReasonBytes);
      (*r.mutable_attachments())["note"] = kept;
    }
  };
  if (stage == pipeline::kSplit) {
    // An epic: its sub-tasks that stopped are taken up, then it waits for
    // them again.
    std::vector<std::string> also;
    for (const auto& id : t.children()) {
      auto child = store_->load(id);
      if (!child) continue;
      const auto& s = child->task.stage();
      if (s != voc::kBlocked && s != voc::kCancelled) continue;
      auto up = take_up(*child, kind, "its epic " + t.id() + " was taken up: " + reason, note);
      if (!up) return up.error();
      also.push_back(id);
    }
    auto out = hand_to(current, pipeline::kSplit, kind, reason, {}, reset);
    if (!out) return out;
    out->also = std::move(also);
    return out;
  }
  if (stage != pipeline::kPending && !pipeline::Pipeline::of(t).is_work_stage(stage)) {
    return refused("task " + t.id() + " has no stage to go back to (its history names none); " +
                   "move it with `agency task move " + t.id() + " STAGE`");
  }
  std::string context;
  if (!note.empty()) context = "Findings from " + actor_ + " (unblocked): " + note;
  auto out = hand_to(current, stage, kind, reason, context, reset);
  if (!out) return out;
  reopen_epic(t, reason, *out);
  // A sub-task back at pending starts when what it waits for is done.
  if (stage == pipeline::kPending) advance_epic(t, *out);
  return out;
}

Result<Steered> Steering::retry(std::string_view task_id) {
  auto current = load(task_id);
  if (!current) return current.error();
  const v1::Task& t = current->task;
  if (t.stage() != voc::kBlocked && t.stage() != voc::kCancelled) {
    return refused("task " + t.id() + " is at " + t.stage() +
                   "; retry takes up a blocked or cancelled task (move it with `agency task move " +
                   t.id() + " STAGE`)");
  }
  return take_up(*current, voc::kEventRetried, "retried by " + actor_ + " from " + t.stage(), {});
}

Result<Steered> Steering::unblock(std::string_view task_id, std::string note) {
  auto current = load(task_id);
  if (!current) return current.error();
  const v1::Task& t = current->task;
  if (t.stage() != voc::kBlocked) {
    return refused("task " + t.id() + " is at " + t.stage() + ", not blocked" +
                   (t.stage() == voc::kCancelled ? std::string("; take it up with `agency task "
                                                               "retry ") +
                                                       t.id() + "`"
                                                 : std::string()));
  }
  bounds::cut(note, kMostReasonBytes);
  std::string reason = note.empty() ? "unblocked by " + actor_ : note;
  return take_up(*current, voc::kEventUnblocked, reason, note);
}

Result<Steered> Steering::move(std::string_view task_id, std::string_view stage,
                               std::string reason) {
  auto current = load(task_id);
  if (!current) return current.error();
  const v1::Task& t = current->task;
  const std::vector<std::string> legal = move_targets(t, *config_);
  if (is_epic(t)) {
    return refused("task " + t.id() + " is an epic: it moves with its sub-tasks (" +
                   joined({t.children().begin(), t.children().end()}) +
                   "); cancel, retry, priority and comment apply to it");
  }
  if (std::find(legal.begin(), legal.end(), stage) == legal.end()) {
    std::string why =
        stage == voc::kCancelled ? "use `agency task cancel " + t.id() + "` to cancel it"
        // A landing stage the task walks without (its project did not land).
        : pipeline::Pipeline::of(t).is_landing(stage) ||
                (!pipeline::Pipeline::of(t).is_work_stage(stage) && pipeline::is_landing(stage))
            ? "its project " + (t.project().empty() ? "(none)" : t.project()) + " does not land"
        : pipeline::Pipeline::of(t).is_stage(stage)
            ? "a task is never moved to " + std::string(stage) + " by hand"
            : "there is no stage " + std::string(stage) + " in its pipeline " +
                  pipeline::Pipeline::of(t).name();
    return refused("task " + t.id() + " (at " + t.stage() + ") cannot move to " +
                   std::string(stage) + ": " + why + "; it can move to " + joined(legal));
  }
  if (reason.empty()) reason = "moved by " + actor_;
  bounds::cut(reason, kMostReasonBytes);
  // Who works on it now, read before the move: once its new brief is out,
  // an agent that takes it is at work on the task's next turn, not this one.
  const auto working = holders(t.id());
  auto out = hand_to(*current, stage, voc::kEventMoved, reason, {}, [&](v1::Task& r) {
    if (stage == voc::kBlocked) r.set_blocked_reason(reason);
  });
  if (!out) return out;
  // A turn on the stage it left (or on this one, sent again) ends; its
  // brief is skipped when it comes back.
  out->cancelled =
      cancel_turns(t.id(), working, "moved to " + std::string(stage) + " by " + actor_);
  if (voc::is_end(stage)) {
    advance_epic(t, *out);
  } else if (voc::is_end(t.stage())) {
    reopen_epic(t, reason, *out);
  }
  return out;
}

Result<Steered> Steering::priority(std::string_view task_id, std::string_view priority) {
  if (!voc::contains(voc::kPriorities, priority)) {
    return make_error(errc::config, "no priority '" + std::string(priority) +
                                        "'; the priorities are " + voc::join(voc::kPriorities));
  }
  auto current = load(task_id);
  if (!current) return current.error();
  const v1::Task& t = current->task;
  if (t.stage() == voc::kDone || t.stage() == voc::kCancelled) {
    return refused("task " + t.id() + " is " + t.stage() + ": no brief of it is left to send");
  }
  const std::string reason =
      "priority " + std::string(priority) + " (was " +
      (t.brief().priority().empty() ? std::string(voc::kDefaultPriority) : t.brief().priority()) +
      ") by " + actor_;
  std::vector<std::string> also;
  for (const auto& id : t.children()) {
    auto child = store_->load(id);
    if (!child || voc::is_end(child->task.stage())) continue;
    if (auto r = this->priority(id, priority); !r) return r.error();
    also.push_back(id);
  }
  auto set = [&](v1::Task& r) { r.mutable_brief()->set_priority(std::string(priority)); };
  Result<Steered> out = make_error(errc::internal, "");
  if (pipeline::Pipeline::of(t).is_work_stage(t.stage()) && holders(t.id()).empty()) {
    // Queued, nobody at work on it: sent again on the new queue; the copy
    // on the old one is skipped as a replay.
    out = hand_to(*current, t.stage(), voc::kEventPriority, reason, {}, set);
  } else {
    // Being worked (it hands on at the new priority after this stage), or
    // waiting where nobody is briefed: the record alone.
    bool changed = false;
    auto updated = store_->update(
        t.id(),
        [&](v1::Task& r) {
          if (r.history_size() != t.history_size()) return false;
          set(r);
          changed = true;
          return true;
        },
        &*current);
    if (!updated) return updated.error();
    if (!changed) {
      return make_error(errc::wrong_revision, "task " + t.id() +
                                                  " changed while this ran; look at it again with "
                                                  "`agency task show " +
                                                  t.id() + "`");
    }
    if (auto r = record_event(updated->task, voc::kEventPriority, t.stage(), t.stage(), reason,
                              updated->revision);
        !r) {
      return r.error();
    }
    Steered s;
    s.task = updated->task;
    s.kind = std::string(voc::kEventPriority);
    s.from = s.to = t.stage();
    out = std::move(s);
  }
  if (out) out->also = std::move(also);
  return out;
}

Result<Steered> Steering::comment(std::string_view task_id, std::string text) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    return make_error(errc::config, "a comment needs some text");
  }
  bounds::cut(text, kMostReasonBytes);
  auto current = load(task_id);
  if (!current) return current.error();
  auto updated = store_->update(current->task.id(), [&](v1::Task& r) {
    std::string& kept = (*r.mutable_attachments())["comments"];
    kept += google::protobuf::util::TimeUtil::ToString(now_timestamp()) + " " + actor_ + ": " +
            text + "\n";
    if (kept.size() > kMostCommentBytes) {
      auto cut = kept.find('\n', kept.size() - kMostCommentBytes);
      kept.erase(0, cut == std::string::npos ? kept.size() - kMostCommentBytes : cut + 1);
    }
    return true;
  });
  if (!updated) return updated.error();
  const auto& stage = updated->task.stage();
  if (auto r =
          record_event(updated->task, voc::kEventComment, stage, stage, text, updated->revision);
      !r) {
    return r.error();
  }
  Steered out;
  out.task = updated->task;
  out.kind = std::string(voc::kEventComment);
  out.from = out.to = stage;
  return out;
}

}  // namespace agency::steering
