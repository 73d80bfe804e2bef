// Handing back a dead agent's brief (see orphans.hpp for why each check).
#include "runtime/orphans.hpp"

#include <google/protobuf/util/time_util.h>

#include <algorithm>

#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/consumer.hpp"
#include "bus/kv.hpp"
#include "bus/subjects.hpp"
#include "bus/vocabulary.hpp"
#include "runtime/stage_change.hpp"
#include "runtime/tasks.hpp"

namespace agency::orphans {
namespace {

namespace voc = vocabulary;
using google::protobuf::util::TimeUtil;

bool is_set(const google::protobuf::Timestamp& t) { return t.seconds() != 0 || t.nanos() != 0; }

std::string seconds_text(Clock::duration d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return std::to_string(ms / 1000) + "." + std::to_string((ms % 1000) / 100) + " s";
}

}  // namespace

Verdict judge(const v1::AgentStatus& last, const std::vector<v1::AgentStatus>& fleet,
              Clock::time_point now, std::chrono::seconds ack_wait) {
  const std::string who = last.agent_id() + " (pid " + std::to_string(last.pid()) + ")";
  // Only busy: an agent that is rate limited or paused on a brief has
  // handed it back with a delay already.
  if (last.state() != voc::kBusy || last.task_id().empty()) {
    return {false, who + " was " + last.state() + ", holding no brief"};
  }
  if (!last.brief_ack_subject().starts_with("$JS.ACK.")) {
    return {false, who + " named no brief it held on " + last.task_id()};
  }
  if (!is_set(last.brief_progress_at())) {
    return {false, who +
                       " did not say when its brief was last delivered or extended (an "
                       "older agent): the brief returns when its ack wait ends"};
  }
  for (const auto& other : fleet) {
    if (other.agent_id() == last.agent_id()) continue;
    if (other.task_id() == last.task_id() && other.state() != voc::kIdle) {
      return {false, other.agent_id() + " is " + other.state() + " on " + last.task_id() +
                         " now: the brief has moved on"};
    }
  }
  const auto wait = std::min<std::chrono::seconds>(ack_wait, kClaimWindow);
  const auto redelivery_from = to_time_point(last.brief_progress_at()) + wait;
  if (now + kMargin >= redelivery_from) {
    return {false,
            "the server may have redelivered the brief already (last delivered or "
            "extended " +
                seconds_text(now - to_time_point(last.brief_progress_at())) + " ago, ack wait " +
                std::to_string(wait.count()) +
                " s): a NAK could reach the agent that holds it now, so none is sent"};
  }
  return {true, "its delivery is still the current one (last delivered or extended " +
                    seconds_text(now - to_time_point(last.brief_progress_at())) +
                    " ago, ack wait " + std::to_string(wait.count()) + " s)"};
}

std::optional<std::string> moved_on(const v1::AgentStatus& last, const v1::Task& task) {
  if (!last.brief_stage().empty()) {
    const std::uint32_t attempt = std::max<std::uint32_t>(1, last.brief_attempt());
    if (!moved_past(task, last.brief_stage(), attempt)) return std::nullopt;
    return "task " + task.id() + " moved on from " + last.brief_stage() + " attempt " +
           std::to_string(attempt) + ", the brief " + last.agent_id() + " held (it is at " +
           task.stage() + " now)";
  }
  if (!is_set(last.since())) return std::nullopt;
  const auto since = to_time_point(last.since());
  for (const auto& change : task.history()) {
    if (to_time_point(change.at()) > since) {
      return "task " + task.id() + " moved on after " + last.agent_id() + " took it up (to " +
             change.to() + ")";
    }
  }
  return std::nullopt;
}

std::string claim_id(std::string_view ack_subject) {
  return "interrupted:" + std::string(ack_subject);
}

v1::TaskEvent interrupted_event(const v1::AgentStatus& last, const v1::Task& task,
                                std::string_view actor, std::string_view cause,
                                Clock::time_point now) {
  v1::TaskEvent e;
  e.set_task_id(task.id());
  e.set_kind(std::string(voc::kEventInterrupted));
  e.set_from_stage(task.stage());
  e.set_to_stage(task.stage());
  e.set_actor(std::string(actor));
  e.set_project(task.project());
  *e.mutable_at() = to_timestamp(now);
  std::string reason = last.agent_id() + " (pid " + std::to_string(last.pid()) +
                       (last.host().empty() ? "" : " on " + last.host()) +
                       ") stopped while busy on " + task.stage() + " with engine " + last.engine();
  if (is_set(last.since())) reason += ", busy since " + TimeUtil::ToString(last.since());
  if (is_set(last.heartbeat_at())) {
    reason += ", last heartbeat " + TimeUtil::ToString(last.heartbeat_at());
  }
  if (!last.last_progress().empty()) {
    reason += ", last progress \"" + last.last_progress() + "\"";
    if (is_set(last.last_progress_at())) {
      reason += " at " + TimeUtil::ToString(last.last_progress_at());
    }
  }
  reason += "; " + std::string(cause) +
            ": its brief was handed back for redelivery. Its work may be partly done: the "
            "worktree may hold partial changes.";
  e.set_reason(std::move(reason));
  return e;
}

Result<HandBack> hand_back(Connection& connection, const v1::AgentStatus& last,
                           const std::vector<v1::AgentStatus>& fleet, const v1::Task& task,
                           std::chrono::seconds ack_wait, std::string_view actor,
                           std::string_view cause) {
  const auto now = Clock::now();
  auto verdict = judge(last, fleet, now, ack_wait);
  if (!verdict.hand_back) return HandBack{false, verdict.why};
  if (voc::is_end(task.stage())) {
    return HandBack{false, "task " + task.id() + " is " + task.stage() + " already"};
  }
  if (auto moved = moved_on(last, task)) return HandBack{false, std::move(*moved)};
  auto event = interrupted_event(last, task, actor, cause, now);
  auto claimed = connection.js_publish(subjects::task_event(task.id()), codec::encode(event),
                                       claim_id(last.brief_ack_subject()));
  if (!claimed) return claimed.error();
  if (claimed->duplicate) {
    return HandBack{false,
                    "the brief was handed back already (by whoever recorded its "
                    "interruption first)"};
  }
  if (auto r = agency::hand_back(connection, last.brief_ack_subject()); !r) return r.error();
  return HandBack{true, verdict.why};
}

Result<HandBack> hand_back_dead(Connection& connection, std::string_view agent_id, int pid,
                                std::chrono::seconds ack_wait, std::string_view actor,
                                std::string_view cause) {
  auto fleet_kv = KeyValue::open(connection, subjects::kFleetBucket);
  if (!fleet_kv) return fleet_kv.error();
  auto entry = fleet_kv->get(agent_id);
  if (!entry) {
    if (entry.error().code == errc::not_found) {
      return HandBack{false, std::string(agent_id) + " left no status"};
    }
    return entry.error();
  }
  auto last = codec::decode<v1::AgentStatus>(entry->value);
  if (!last) return last.error();
  if (last->brief_ack_subject().empty() || last->task_id().empty()) {
    return HandBack{false, std::string(agent_id) + " held no brief"};
  }
  if (last->pid() != pid) {
    return HandBack{false, "the status of " + std::string(agent_id) + " is of pid " +
                               std::to_string(last->pid()) + ", not of the process that exited"};
  }
  auto tasks = TaskStore::open(connection);
  if (!tasks) return tasks.error();
  auto task = tasks->load(last->task_id());
  if (!task) return task.error();
  std::vector<v1::AgentStatus> fleet;
  auto keys = fleet_kv->keys();
  if (!keys) return keys.error();
  for (const auto& key : *keys) {
    auto e = fleet_kv->get(key);
    if (!e) continue;
    if (auto s = codec::decode<v1::AgentStatus>(e->value); s) fleet.push_back(std::move(*s));
  }
  return hand_back(connection, *last, fleet, task->task, ack_wait, actor, cause);
}

const v1::TaskEvent* interruption_since_last_move(const std::vector<v1::TaskEvent>& events) {
  const v1::TaskEvent* found = nullptr;
  for (const auto& e : events) {
    if (e.kind() == voc::kEventInterrupted) {
      found = &e;
    } else if (e.kind() != voc::kEventCreated) {
      found = nullptr;  // the task moved after it
    }
  }
  return found;
}

}  // namespace agency::orphans
