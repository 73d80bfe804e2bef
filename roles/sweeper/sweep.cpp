#include "roles/sweeper/sweep.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "bus/codec.hpp"
#include "bus/vocabulary.hpp"
#include "roles/sweeper/settings.hpp"
#include "runtime/stage_change.hpp"

namespace agency::roles::sweep {
namespace {

namespace voc = vocabulary;
using std::chrono::seconds;

std::string str(std::string_view s) { return std::string(s); }

// The states in which an agent has a brief in hand: the brief is lost to
// the fleet until it is settled or handed back. A rate-limited agent has
// deferred its brief already; a paused one takes none.
bool holds_brief(const v1::AgentStatus& s) {
  return !s.task_id().empty() &&
         (s.state() == voc::kBusy || s.state() == voc::kWaiting || s.state() == voc::kDraining);
}

// A heartbeat never written is no sign of death: only an old one is.
bool is_stale(const v1::AgentStatus& s, Time now, seconds stale_after) {
  return is_set(s.heartbeat_at()) && now - to_time(s.heartbeat_at()) > stale_after;
}

seconds age(Time now, Time then) { return std::chrono::duration_cast<seconds>(now - then); }

// When the agent last showed it was moving: its last progress, or the
// change into its state, whichever is later.
std::optional<Time> last_sign(const v1::AgentStatus& s) {
  std::optional<Time> t;
  if (is_set(s.last_progress_at())) t = to_time(s.last_progress_at());
  if (is_set(s.since())) {
    Time since = to_time(s.since());
    if (!t || since > *t) t = since;
  }
  return t;
}

bool same_timestamp(const google::protobuf::Timestamp& a, const google::protobuf::Timestamp& b) {
  return a.seconds() == b.seconds() && a.nanos() == b.nanos();
}

bool is_end(const v1::Task& t) { return voc::is_end(t.stage()); }

// The task changed stage after `t`: whoever held its brief then has let go
// of it.
bool moved_after(const v1::Task& task, Time t) {
  return std::any_of(task.history().begin(), task.history().end(), [&](const v1::StageChange& c) {
    return is_set(c.at()) && to_time(c.at()) > t;
  });
}

std::string plural(std::size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + str(n == 1 ? one : many);
}

std::string fixed1(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string fixed_trim(double v) {
  if (std::floor(v) == v && std::abs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  return fixed1(v);
}

std::int64_t ns_of(Time t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

Time time_of_ns(std::int64_t ns) {
  return Time(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}

std::int64_t ns_of(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000000000LL + t.nanos();
}

google::protobuf::Timestamp timestamp_of_ns(std::int64_t ns) {
  google::protobuf::Timestamp t;
  t.set_seconds(ns / 1000000000LL);
  t.set_nanos(static_cast<int>(ns % 1000000000LL));
  return t;
}

const v1::AgentStatus* find_agent(const std::vector<v1::AgentStatus>& fleet,
                                  const std::string& id) {
  for (const auto& s : fleet) {
    if (s.agent_id() == id) return &s;
  }
  return nullptr;
}

Action make_action(std::string_view kind, const std::string& agent, const std::string& task,
                   std::string reason) {
  Action a;
  a.kind = str(kind);
  a.agent_id = agent;
  a.task_id = task;
  a.reason = std::move(reason);
  return a;
}

// Where a task went round: the stages from the second-last entry into
// `stage` to the last ("qa -> ready-for-dev -> qa ...").
std::string loop_path(const v1::Task& task, int first, const std::string& stage) {
  std::vector<int> entries;
  for (int i = first; i < task.history_size(); ++i) {
    if (task.history(i).to() == stage) entries.push_back(i);
  }
  if (entries.size() < 2) return stage;
  std::string path;
  for (int i = entries[entries.size() - 2]; i <= entries.back(); ++i) {
    if (!path.empty()) path += " -> ";
    path += task.history(i).to();
  }
  return path + " ...";
}

double median_of(std::vector<std::int64_t> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  if (n == 0) return 0;
  if (n % 2 == 1) return static_cast<double>(v[n / 2]);
  return (static_cast<double>(v[n / 2 - 1]) + static_cast<double>(v[n / 2])) / 2.0;
}

}  // namespace

bool is_set(const google::protobuf::Timestamp& t) { return t.seconds() != 0 || t.nanos() != 0; }

Time to_time(const google::protobuf::Timestamp& t) {
  return Time(std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(t.seconds()) +
                                                          std::chrono::nanoseconds(t.nanos())));
}

std::string human_duration(seconds d) {
  const auto s = d.count();
  if (s < 120) return std::to_string(s) + " s";
  if (s < 2 * 3600) return std::to_string(s / 60) + " min";
  std::string out = std::to_string(s / 3600) + " h";
  if ((s % 3600) / 60 != 0) out += " " + std::to_string((s % 3600) / 60) + " min";
  return out;
}

Settings settings_from(const config::Sweeper& config) {
  Settings s;
  s.stuck_after = seconds(config.stuck_after_seconds);
  s.nudge_grace = seconds(config.nudge_grace_seconds);
  s.answer_after = seconds(config.answer_after_seconds);
  s.loop_limit = config.loop_limit;
  s.burn_factor = config.burn_factor;
  return s;
}

std::string snapshot_reason(const std::vector<v1::AgentStatus>& fleet,
                            const std::vector<Queue>& queues, Time now, seconds stale_after,
                            std::string_view queues_error) {
  std::map<std::string, std::size_t> by_state;
  std::size_t stale = 0;
  for (const auto& s : fleet) {
    ++by_state[s.state().empty() ? "unknown" : s.state()];
    if (is_stale(s, now, stale_after)) ++stale;
  }
  std::string out = plural(fleet.size(), "agent", "agents");
  std::vector<std::string> parts;
  // Known states in the vocabulary's order, then any others by name.
  for (auto state : voc::kAgentStates) {
    auto it = by_state.find(str(state));
    if (it == by_state.end()) continue;
    parts.push_back(std::to_string(it->second) + " " + it->first);
    by_state.erase(it);
  }
  for (const auto& [state, n] : by_state) parts.push_back(std::to_string(n) + " " + state);
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i == 0 ? ": " : ", ") + parts[i];
  if (stale > 0) out += "; " + std::to_string(stale) + " with a stale heartbeat";
  out += "; briefs queued: ";
  if (!queues_error.empty()) return out + "unknown (" + str(queues_error) + ")";
  if (queues.empty()) return out + "none";
  std::vector<Queue> sorted = queues;
  std::sort(sorted.begin(), sorted.end(),
            [](const Queue& a, const Queue& b) { return a.role < b.role; });
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (i > 0) out += ", ";
    out += sorted[i].role + " " + std::to_string(sorted[i].queued);
    if (sorted[i].in_flight > 0) out += " (" + std::to_string(sorted[i].in_flight) + " in flight)";
  }
  return out;
}

Memory observe(Memory memory, const std::vector<v1::AgentStatus>& fleet, Time now) {
  for (const auto& s : fleet) {
    if (s.agent_id().empty()) continue;
    auto [it, added] = memory.seen.try_emplace(s.agent_id());
    Seen& seen = it->second;
    // The stage noted belongs to one holding of one task: a new brief (a new
    // `since`) or another task starts over.
    const bool same_holding = !added && seen.status.task_id() == s.task_id() &&
                              same_timestamp(seen.status.since(), s.since());
    if (!same_holding) {
      seen.stage.clear();
      seen.history_size = -1;
    }
    seen.status = s;
    seen.seen_at = now;
  }
  return memory;
}

Plan sweep(const Input& in, Memory memory) {
  const Settings& st = in.settings;
  const Time now = in.now;
  Plan plan;
  memory = observe(std::move(memory), in.fleet, now);

  std::map<std::string, const v1::Task*> tasks;
  for (const auto& t : in.tasks) tasks[t.id()] = &t;
  auto task_of = [&](const std::string& id) -> const v1::Task* {
    auto it = tasks.find(id);
    return it == tasks.end() ? nullptr : it->second;
  };

  // The snapshot, every walk.
  {
    Action snap =
        make_action(kSnapshot, "", "",
                    snapshot_reason(in.fleet, in.queues, now, st.stale_after, in.queues_error));
    std::map<std::string, int> by_state;
    for (const auto& s : in.fleet) ++by_state[s.state().empty() ? "unknown" : s.state()];
    snap.details["agents"] = std::to_string(in.fleet.size());
    for (const auto& [state, n] : by_state) snap.details["state." + state] = std::to_string(n);
    for (const auto& q : in.queues) {
      snap.details["queued." + q.role] = std::to_string(q.queued);
      snap.details["in_flight." + q.role] = std::to_string(q.in_flight);
    }
    plan.summary = snap.reason;
    plan.actions.push_back(std::move(snap));
  }

  std::set<std::string> acted;  // agents acted on in this walk

  // Drained agents: let go of the brief (resolved), or still holding it a
  // grace later, or gone silent (redelivered).
  for (auto it = memory.drained.begin(); it != memory.drained.end();) {
    const std::string& id = it->first;
    const Drain& d = it->second;
    const v1::AgentStatus* s = find_agent(in.fleet, id);
    // Gone or on to something else: the cancel handed its brief back.
    if (s == nullptr || s->task_id() != d.task_id || !holds_brief(*s)) {
      it = memory.drained.erase(it);
      continue;
    }
    const bool stale = is_stale(*s, now, st.stale_after);
    if (!stale && age(now, d.at) < st.nudge_grace) {
      ++it;
      continue;
    }
    std::string reason = stale ? "drained " + human_duration(age(now, d.at)) +
                                     " ago and its heartbeat is " +
                                     human_duration(age(now, to_time(s->heartbeat_at()))) +
                                     " old while on " + d.task_id
                               : "still busy on " + d.task_id + " " +
                                     human_duration(age(now, d.at)) + " after it was drained";
    reason += ": handing its brief back for redelivery and stopping the agent";
    Action a = make_action(kRedelivered, id, d.task_id, std::move(reason));
    a.ack_subject = s->brief_ack_subject().empty() ? d.ack_subject : s->brief_ack_subject();
    a.holder = *s;
    a.holder.set_brief_ack_subject(a.ack_subject);
    a.stop_agent = true;
    a.details["cause"] = "stuck";
    a.details["role"] = s->role();
    plan.actions.push_back(std::move(a));
    memory.redelivered.insert(id + "/" + d.task_id);
    acted.insert(id);
    it = memory.drained.erase(it);
  }

  // Stuck: busy without progress.
  for (const auto& s : in.fleet) {
    const std::string& id = s.agent_id();
    if (id.empty() || id == in.self_id || acted.count(id) != 0 || memory.drained.count(id) != 0) {
      continue;
    }
    if (is_stale(s, now, st.stale_after)) continue;  // the dead rule's
    // Its brief was handed back and it was told to stop: nudging it again
    // would start a second drain and hand back a brief someone else may
    // hold by now.
    if (memory.redelivered.count(id + "/" + s.task_id()) != 0) continue;
    auto nudge = memory.nudged.find(id);
    if (s.state() != voc::kBusy || s.task_id().empty()) {
      if (nudge != memory.nudged.end()) memory.nudged.erase(nudge);
      continue;
    }
    if (nudge != memory.nudged.end() && nudge->second.task_id != s.task_id()) {
      memory.nudged.erase(nudge);
      nudge = memory.nudged.end();
    }
    auto sign = last_sign(s);
    if (!sign) continue;
    if (nudge != memory.nudged.end()) {
      if (*sign > nudge->second.progress_at) {
        // It moved after the nudge: the nudge is settled.
        memory.nudged.erase(nudge);
      } else if (age(now, nudge->second.at) >= st.nudge_grace) {
        std::string reason = "no progress on " + s.task_id() + " in the " +
                             human_duration(age(now, nudge->second.at)) +
                             " since it was nudged (last progress " +
                             human_duration(age(now, *sign)) +
                             " ago): draining it and cancelling its turn so the brief is "
                             "redelivered";
        Action a = make_action(kDrained, id, s.task_id(), std::move(reason));
        a.details["role"] = s.role();
        a.details["last_progress"] = s.last_progress();
        plan.actions.push_back(std::move(a));
        memory.drained[id] = Drain{s.task_id(), now, s.brief_ack_subject()};
        memory.nudged.erase(nudge);
        acted.insert(id);
        continue;
      } else {
        continue;  // within the grace
      }
    }
    if (age(now, *sign) >= st.stuck_after) {
      std::string reason = "busy on " + s.task_id() + " without progress for " +
                           human_duration(age(now, *sign)) + " (stuck after " +
                           human_duration(st.stuck_after) + ")";
      if (!s.last_progress().empty()) reason += "; last: \"" + s.last_progress() + "\"";
      Action a = make_action(kNudged, id, s.task_id(), std::move(reason));
      a.details["role"] = s.role();
      a.details["idle_seconds"] = std::to_string(age(now, *sign).count());
      plan.actions.push_back(std::move(a));
      memory.nudged[id] = Nudge{s.task_id(), now, *sign};
      acted.insert(id);
    }
  }
  // Nudges of agents no longer in the fleet are moot.
  for (auto it = memory.nudged.begin(); it != memory.nudged.end();) {
    it = find_agent(in.fleet, it->first) == nullptr ? memory.nudged.erase(it) : std::next(it);
  }

  // Dead: silent or gone while holding a brief.
  for (auto& [id, seen] : memory.seen) {
    if (id == in.self_id || acted.count(id) != 0 || memory.drained.count(id) != 0) continue;
    const v1::AgentStatus& s = seen.status;
    const bool gone = find_agent(in.fleet, id) == nullptr;
    if (!gone && !is_stale(s, now, st.stale_after)) continue;
    if (!holds_brief(s) || s.brief_ack_subject().empty()) continue;
    const std::string key = id + "/" + s.task_id();
    if (memory.redelivered.count(key) != 0) continue;
    const v1::Task* task = task_of(s.task_id());
    if (task == nullptr || is_end(*task)) continue;
    if (!s.brief_stage().empty()) {
      // The brief's own stage and attempt: the record may still be behind
      // it when the agent went busy, so neither times nor the stage first
      // seen can tell.
      if (moved_past(*task, s.brief_stage(), std::max<std::uint32_t>(1, s.brief_attempt()))) {
        continue;
      }
    } else if (!seen.stage.empty()) {
      if (task->stage() != seen.stage || task->history_size() != seen.history_size) continue;
    } else if (is_set(s.since()) && moved_after(*task, to_time(s.since()))) {
      continue;
    }
    // id by init-capture: clang 14 (the asan preset) cannot capture a structured binding.
    const bool taken =
        std::any_of(in.fleet.begin(), in.fleet.end(), [&, &agent = id](const auto& other) {
          return other.agent_id() != agent && other.task_id() == s.task_id() &&
                 other.state() != voc::kIdle && !is_stale(other, now, st.stale_after);
        });
    if (taken) continue;
    std::string heartbeat = is_set(s.heartbeat_at())
                                ? human_duration(age(now, to_time(s.heartbeat_at()))) + " ago"
                                : "never";
    std::string reason = gone ? "gone from agency-fleet (last heartbeat " + heartbeat + ")"
                              : "no heartbeat since " + heartbeat;
    reason += " while " + s.state() + " on " + s.task_id() + " at " + task->stage() +
              ": handing its brief back for redelivery";
    Action a = make_action(kRedelivered, id, s.task_id(), std::move(reason));
    a.ack_subject = s.brief_ack_subject();
    a.holder = s;
    a.details["cause"] = "dead";
    a.details["role"] = s.role();
    a.details["stage"] = task->stage();
    plan.actions.push_back(std::move(a));
    memory.redelivered.insert(key);
    acted.insert(id);
  }

  // Loops: one stage entered loop_limit times since a person last unblocked
  // the task. The flag names the unblocking too ("<task>@<index>"): a task a
  // person unblocks before the next walk sees it blocked is judged afresh.
  for (const auto& task : in.tasks) {
    const std::string prefix = task.id() + "@";
    if (is_end(task)) {
      for (auto it = memory.loops.lower_bound(prefix);
           it != memory.loops.end() && it->starts_with(prefix);) {
        it = memory.loops.erase(it);
      }
      continue;
    }
    int first = 0;
    for (int i = 0; i < task.history_size(); ++i) {
      // A person took it up again (agency task retry, unblock).
      if (voc::is_end(task.history(i).from())) first = i;
    }
    const std::string flag = prefix + std::to_string(first);
    if (memory.loops.count(flag) != 0) continue;
    std::map<std::string, std::pair<int, int>> entries;  // stage -> (count, last index)
    for (int i = first; i < task.history_size(); ++i) {
      auto& e = entries[task.history(i).to()];
      ++e.first;
      e.second = i;
    }
    std::string stage;
    std::pair<int, int> best{0, -1};
    for (const auto& [name, e] : entries) {
      if (e.first < st.loop_limit) continue;
      if (e.first > best.first || (e.first == best.first && e.second > best.second)) {
        stage = name;
        best = e;
      }
    }
    if (stage.empty()) continue;
    std::string reason = "in a loop: entered " + stage + " " + std::to_string(best.first) +
                         " times, going " + loop_path(task, first, stage);
    Action a = make_action(kLoopBlocked, "", task.id(), std::move(reason));
    a.details["stage"] = stage;
    a.details["entries"] = std::to_string(best.first);
    a.details["loop_limit"] = std::to_string(st.loop_limit);
    a.details["bounces"] = std::to_string(task.bounces());
    plan.actions.push_back(std::move(a));
    memory.loops.insert(flag);
  }

  // Questions an agent has waited on too long: the proxy may know.
  std::set<std::string> waiting;
  for (const auto& w : in.questions) {
    waiting.insert(w.key);
    const v1::Question& q = w.question;
    if (memory.asked.count(w.key) != 0) continue;
    if (q.role() == st.proxy_role || q.from_role() == st.proxy_role) continue;
    if (q.from_agent() == in.self_id || q.reply_to().empty() || !is_set(q.asked_at())) continue;
    const seconds waited = age(now, to_time(q.asked_at()));
    if (waited < st.answer_after) continue;
    std::string asker = q.from_agent().empty() ? "someone" : q.from_agent();
    std::string reason = asker + " has waited " + human_duration(waited) + " on its question to " +
                         (q.role().empty() ? "another role" : q.role()) + ": taking it to the " +
                         st.proxy_role;
    Action a = make_action(kAskProxy, q.from_agent(), q.task_id(), std::move(reason));
    a.details["asked_role"] = q.role();
    a.details["waited_seconds"] = std::to_string(waited.count());
    a.details["question_id"] = q.id();
    a.question = w;
    plan.actions.push_back(std::move(a));
    memory.asked.insert(w.key);
  }
  // Forget questions no longer waited on; when the questions could not be
  // read, none is known to be settled, and forgetting would ask again.
  for (auto it = memory.asked.begin(); in.questions_error.empty() && it != memory.asked.end();) {
    it = waiting.count(*it) == 0 ? memory.asked.erase(it) : std::next(it);
  }

  // Protocol: an agent that speaks another version is told to stop, once.
  for (const auto& s : in.fleet) {
    if (s.agent_id() == in.self_id || s.protocol() == 0 ||
        s.protocol() == codec::kProtocolVersion || memory.refused.count(s.agent_id()) != 0) {
      continue;
    }
    Action a = make_action(kProtocolRefused, s.agent_id(), "",
                           s.agent_id() + " speaks protocol " + std::to_string(s.protocol()) +
                               "; this mesh speaks " + std::to_string(codec::kProtocolVersion) +
                               " (docs/PROTOCOL.md, \"Versioning\"): told to stop");
    a.details["protocol"] = std::to_string(s.protocol());
    a.details["mesh_protocol"] = std::to_string(codec::kProtocolVersion);
    a.stop_agent = true;
    plan.actions.push_back(std::move(a));
    memory.refused.insert(s.agent_id());
  }
  for (auto it = memory.refused.begin(); it != memory.refused.end();) {
    it = find_agent(in.fleet, *it) == nullptr ? memory.refused.erase(it) : std::next(it);
  }

  // Burn: far above the role's median per task.
  std::map<std::string, std::vector<std::int64_t>> per_role;
  for (const auto& [key, tokens] : in.usage) {
    if (key.first.empty() || key.second.empty() || tokens <= 0) continue;
    per_role[key.second].push_back(tokens);
  }
  for (const auto& [key, tokens] : in.usage) {
    const auto& [task_id, role] = key;
    if (task_id.empty() || role.empty() || tokens <= 0) continue;
    const std::string flag = task_id + "/" + role;
    if (memory.burns.count(flag) != 0) continue;
    const auto& all = per_role[role];
    if (static_cast<int>(all.size()) - 1 < st.burn_min_others) continue;
    const double median = median_of(all);
    if (median <= 0 || static_cast<double>(tokens) <= st.burn_factor * median) continue;
    const double ratio = static_cast<double>(tokens) / median;
    std::string reason = role + " spent " + std::to_string(tokens) + " tokens on " + task_id +
                         ", " + fixed1(ratio) + "x the role's median of " + fixed_trim(median) +
                         " per task over " + std::to_string(all.size()) + " tasks (flagged above " +
                         fixed_trim(st.burn_factor) + "x)";
    Action a = make_action(kBurnFlagged, "", task_id, std::move(reason));
    a.details["role"] = role;
    a.details["tokens"] = std::to_string(tokens);
    a.details["median"] = fixed_trim(median);
    a.details["factor"] = fixed_trim(st.burn_factor);
    a.details["tasks"] = std::to_string(all.size());
    plan.actions.push_back(std::move(a));
    memory.burns.insert(flag);
  }

  // Note the stage of each brief held now, for the dead rule of a later
  // walk; forget agents that are gone (judged above).
  for (auto it = memory.seen.begin(); it != memory.seen.end();) {
    Seen& seen = it->second;
    if (find_agent(in.fleet, it->first) == nullptr) {
      it = memory.seen.erase(it);
      continue;
    }
    if (seen.stage.empty() && holds_brief(seen.status) &&
        !is_stale(seen.status, now, st.stale_after)) {
      if (const v1::Task* t = task_of(seen.status.task_id()); t != nullptr) {
        seen.stage = t->stage();
        seen.history_size = t->history_size();
      }
    }
    ++it;
  }
  for (auto it = memory.redelivered.begin(); it != memory.redelivered.end();) {
    const std::string agent = it->substr(0, it->find('/'));
    it = memory.seen.count(agent) == 0 ? memory.redelivered.erase(it) : std::next(it);
  }

  // The summary: the snapshot and what was done.
  std::map<std::string, int> done;
  for (std::size_t i = 1; i < plan.actions.size(); ++i) ++done[plan.actions[i].kind];
  if (done.empty()) {
    plan.summary += "; no action";
  } else {
    std::string list;
    for (const auto& [kind, n] : done) {
      list += (list.empty() ? "" : ", ") + kind + " " + std::to_string(n);
    }
    plan.summary += "; actions: " + list;
  }
  plan.memory = std::move(memory);
  return plan;
}

std::string to_json(const Memory& m) {
  using nlohmann::json;
  json seen = json::object();
  for (const auto& [id, s] : m.seen) {
    seen[id] = {{"role", s.status.role()},
                {"state", s.status.state()},
                {"task_id", s.status.task_id()},
                {"since", ns_of(s.status.since())},
                {"last_progress_at", ns_of(s.status.last_progress_at())},
                {"heartbeat_at", ns_of(s.status.heartbeat_at())},
                {"brief_ack_subject", s.status.brief_ack_subject()},
                {"brief_stage", s.status.brief_stage()},
                {"brief_attempt", s.status.brief_attempt()},
                {"seen_at", ns_of(s.seen_at)},
                {"stage", s.stage},
                {"history_size", s.history_size}};
  }
  json nudged = json::object();
  for (const auto& [id, n] : m.nudged) {
    nudged[id] = {
        {"task_id", n.task_id}, {"at", ns_of(n.at)}, {"progress_at", ns_of(n.progress_at)}};
  }
  json drained = json::object();
  for (const auto& [id, d] : m.drained) {
    drained[id] = {{"task_id", d.task_id}, {"at", ns_of(d.at)}, {"ack_subject", d.ack_subject}};
  }
  json out = {
      {"seen", seen},     {"nudged", nudged}, {"drained", drained}, {"redelivered", m.redelivered},
      {"burns", m.burns}, {"loops", m.loops}, {"asked", m.asked},   {"refused", m.refused}};
  return out.dump();
}

std::optional<Memory> memory_from_json(const std::string& text) {
  using nlohmann::json;
  json in = json::parse(text, nullptr, false);
  if (in.is_discarded() || !in.is_object()) return std::nullopt;
  // Any field of the wrong type makes the whole text unreadable: the
  // sweeper then starts with an empty memory rather than half of one.
  try {
    Memory m;
    const json seen_section = in.value("seen", json::object());
    for (const auto& [id, s] : seen_section.items()) {
      Seen seen;
      seen.status.set_agent_id(id);
      seen.status.set_role(s.value("role", ""));
      seen.status.set_state(s.value("state", ""));
      seen.status.set_task_id(s.value("task_id", ""));
      seen.status.set_brief_ack_subject(s.value("brief_ack_subject", ""));
      seen.status.set_brief_stage(s.value("brief_stage", ""));
      seen.status.set_brief_attempt(s.value("brief_attempt", std::uint32_t{0}));
      if (auto v = s.value("since", std::int64_t{0}); v != 0) {
        *seen.status.mutable_since() = timestamp_of_ns(v);
      }
      if (auto v = s.value("last_progress_at", std::int64_t{0}); v != 0) {
        *seen.status.mutable_last_progress_at() = timestamp_of_ns(v);
      }
      if (auto v = s.value("heartbeat_at", std::int64_t{0}); v != 0) {
        *seen.status.mutable_heartbeat_at() = timestamp_of_ns(v);
      }
      seen.seen_at = time_of_ns(s.value("seen_at", std::int64_t{0}));
      seen.stage = s.value("stage", "");
      seen.history_size = s.value("history_size", -1);
      m.seen[id] = std::move(seen);
    }
    const json nudged_section = in.value("nudged", json::object());
    for (const auto& [id, n] : nudged_section.items()) {
      m.nudged[id] = Nudge{n.value("task_id", ""), time_of_ns(n.value("at", std::int64_t{0})),
                           time_of_ns(n.value("progress_at", std::int64_t{0}))};
    }
    const json drained_section = in.value("drained", json::object());
    for (const auto& [id, d] : drained_section.items()) {
      m.drained[id] = Drain{d.value("task_id", ""), time_of_ns(d.value("at", std::int64_t{0})),
                            d.value("ack_subject", "")};
    }
    m.redelivered = in.value("redelivered", std::set<std::string>{});
    m.burns = in.value("burns", std::set<std::string>{});
    m.loops = in.value("loops", std::set<std::string>{});
    m.refused = in.value("refused", std::set<std::string>{});
    m.asked = in.value("asked", std::set<std::string>{});
    return m;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

}  // namespace agency::roles::sweep
