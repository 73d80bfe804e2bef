// The conformance kit's cases (conformance.hpp): each sends the candidate
// something, then judges by what the mesh shows.
#include <thread>

#include "bus/codec.hpp"
#include "bus/subjects.hpp"
#include "bus/vocabulary.hpp"
#include "cli/conformance.hpp"
#include "runtime/tasks.hpp"

namespace agency::conformance {

namespace voc = vocabulary;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

CaseResult passed(std::string detail) { return {"", true, std::move(detail), 0}; }
CaseResult failed(std::string detail) { return {"", false, std::move(detail), 0}; }

}  // namespace

CaseResult Kit::run_case(std::string_view name) {
  const auto start = Clock::now();
  CaseResult r;
  if (!candidate_->alive() && name != "identity") {
    // A case before ended it: start it again, so one failure does not
    // fail every case after it.
    if (auto s = candidate_->start(); !s) r = failed(s.error().message);
    (void)wait_alive_status(options_.timeout);
  }
  if (r.detail.empty()) {
    if (name == "identity") r = identity();
    if (name == "plain") r = plain();
    if (name == "json") r = json_brief();
    if (name == "duplicate") r = duplicate();
    if (name == "replay") r = replay();
    if (name == "bad-input") r = bad_input();
    if (name == "control") r = control_case();
    if (name == "kill") r = kill();
    if (name == "reconnect") r = reconnect();
  }
  r.name = std::string(name);
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return r;
}

CaseResult Kit::identity() {
  if (auto why = wait_alive_status(options_.timeout)) return failed(*why);
  auto s = status();
  if (!s) return failed("its heartbeat in agency-fleet cannot be read as an AgentStatus");
  if (s->agent_id() != agent_id_) {
    return failed("its heartbeat names agent_id '" + s->agent_id() + "', not " + agent_id_);
  }
  if (s->role() != options_.role) {
    return failed("its heartbeat names role '" + s->role() + "', not " + options_.role);
  }
  if (s->protocol() != codec::kProtocolVersion) {
    return failed("its heartbeat states protocol " +
                  (s->protocol() == 0 ? std::string("none (0)") : std::to_string(s->protocol())) +
                  "; this mesh speaks " + std::to_string(codec::kProtocolVersion) +
                  " (AgentStatus.protocol, docs/PROTOCOL.md section 13)");
  }
  if (!voc::is_agent_state(s->state())) {
    return failed("its heartbeat names state '" + s->state() + "', which is none of agency's");
  }
  return passed(agent_id_ + ", role " + s->role() + ", state " + s->state() + ", protocol " +
                std::to_string(s->protocol()));
}

CaseResult Kit::plain() {
  const Counts before = counts();
  const std::string objective = "Conformance plain brief " + std::to_string(++serial_);
  if (auto r = publish_raw(objective, {{"Content-Type", "text/plain"}},
                           "conformance-plain-" + std::to_string(serial_));
      !r) {
    return failed("cannot publish: " + r.error().message);
  }
  // The agent names the task: find it by its objective.
  std::string task_id;
  const auto deadline = Clock::now() + options_.timeout;
  while (task_id.empty() && Clock::now() < deadline) {
    if (auto store = TaskStore::open(*connection_); store) {
      if (auto all = store->list(); all) {
        for (const auto& t : *all) {
          if (t.brief().objective() == objective) task_id = t.id();
        }
      }
    }
    if (task_id.empty()) std::this_thread::sleep_for(100ms);  // polling the task bucket
  }
  if (task_id.empty()) {
    return failed("no task record holds the plain brief within " +
                  std::to_string(options_.timeout.count()) +
                  " s (a brief without a task id gets one from the agent, which creates its "
                  "record)");
  }
  if (auto why = wait_settled(task_id, before, options_.timeout)) return failed(*why);
  return passed(settled_detail(task_id));
}

CaseResult Kit::json_brief() {
  auto id = new_task("Conformance JSON brief " + std::to_string(++serial_));
  if (!id) return failed("cannot make the task: " + id.error().message);
  const Counts before = counts();
  const v1::Brief b = brief_for(*id, "Conformance JSON brief " + std::to_string(serial_));
  if (auto r = publish(b, true, b.id()); !r) return failed("cannot publish: " + r.error().message);
  if (auto why = wait_settled(*id, before, options_.timeout)) return failed(*why);
  replay_task_ = *id;
  return passed(settled_detail(*id));
}

CaseResult Kit::duplicate() {
  const std::string objective = "Conformance duplicate " + std::to_string(++serial_);
  auto id = new_task(objective);
  if (!id) return failed("cannot make the task: " + id.error().message);
  const Counts before = counts();
  const v1::Brief b = brief_for(*id, objective);
  // Two copies in the stream (different msg ids): two deliveries.
  if (auto r = publish(b, false, b.id()); !r) return failed("cannot publish: " + r.error().message);
  if (auto r = publish(b, false, b.id() + "-again"); !r) {
    return failed("cannot publish: " + r.error().message);
  }
  if (auto why = wait_settled(*id, before, options_.timeout)) return failed(*why);
  return passed("two deliveries, one move: " + settled_detail(*id));
}

CaseResult Kit::replay() {
  if (replay_task_.empty()) {
    auto made = json_brief();
    if (!made.passed) return failed("the brief to replay was not handed on: " + made.detail);
  }
  auto store = TaskStore::open(*connection_);
  if (!store) return failed(store.error().message);
  auto then = store->load(replay_task_);
  if (!then) return failed(then.error().message);
  const Counts before = counts();
  const v1::Brief b = brief_for(replay_task_, then->task.brief().objective());
  if (auto r = publish(b, false, b.id() + "-replay"); !r) {
    return failed("cannot publish: " + r.error().message);
  }
  // Settled when its queue is empty again: taken and acked (or termed).
  const auto deadline = Clock::now() + options_.timeout;
  Counts now = counts();
  while ((now.own.pending != 0 || now.own.in_flight != 0) && Clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);  // polling the queue
    now = counts();
  }
  if (now.own.pending != 0 || now.own.in_flight != 0) {
    return failed("the replayed brief is still queued or unacknowledged after " +
                  std::to_string(options_.timeout.count()) + " s");
  }
  auto after = store->load(replay_task_);
  if (!after) return failed(after.error().message);
  if (after->task.history_size() != then->task.history_size()) {
    return failed("the replay moved task " + replay_task_ + " again (history " +
                  std::to_string(then->task.history_size()) + " -> " +
                  std::to_string(after->task.history_size()) + " entries)");
  }
  if (now.after.pending != before.after.pending || now.before.pending != before.before.pending) {
    return failed("the replay sent another brief on");
  }
  if (now.dead != before.dead) {
    return failed("the replay went to the dead letters; a replay is acked and skipped");
  }
  return passed("acked and skipped: the record and the queues are unchanged");
}

CaseResult Kit::bad_input() {
  const Counts before = counts();
  // Bytes that are no brief, a JSON brief with a field agency does not
  // know, and a brief of another protocol version.
  const std::string garbage(
      "\x08\x96\x01\xff\xfe\x00"
      "conformance",
      17);
  if (auto r = publish_raw(garbage, {{"Content-Type", "application/protobuf"}},
                           "conformance-bad-" + std::to_string(++serial_));
      !r) {
    return failed("cannot publish: " + r.error().message);
  }
  if (auto r = publish_raw(R"({"objective":"x","noSuchField":1})",
                           {{"Content-Type", "application/json"}},
                           "conformance-bad-json-" + std::to_string(serial_));
      !r) {
    return failed("cannot publish: " + r.error().message);
  }
  if (auto r = publish_raw("Conformance brief of protocol 999",
                           {{"Content-Type", "text/plain"}, {"Agency-Protocol", "999"}},
                           "conformance-bad-version-" + std::to_string(serial_));
      !r) {
    return failed("cannot publish: " + r.error().message);
  }
  // Then a good one, which must still be worked.
  const std::string objective = "Conformance after bad input " + std::to_string(serial_);
  auto id = new_task(objective);
  if (!id) return failed("cannot make the task: " + id.error().message);
  const v1::Brief b = brief_for(*id, objective);
  if (auto r = publish(b, false, b.id()); !r) return failed("cannot publish: " + r.error().message);
  if (auto why = wait_settled(*id, before, options_.timeout)) {
    return failed(candidate_->alive()
                      ? "the brief after the bad ones: " + *why
                      : "the candidate ended (" + candidate_->ended() + ") after bad input");
  }
  if (!candidate_->alive()) return failed("the candidate ended (" + candidate_->ended() + ")");
  const auto deadline = Clock::now() + 10s;
  Counts now = counts();
  while (now.dead < before.dead + 3 && Clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);  // polling the dead letters
    now = counts();
  }
  if (now.dead < before.dead + 3) {
    return failed(std::to_string(now.dead - before.dead) + " of the 3 bad briefs reached " +
                  subjects::dead(options_.role) +
                  " (an undecodable brief goes there with the reason, docs/PROTOCOL.md "
                  "section 8)");
  }
  return passed("3 dead letters with their reasons; the next brief was worked");
}

CaseResult Kit::control_case() {
  if (auto r = control(voc::kPause); !r) return failed(r.error().message);
  const auto deadline = Clock::now() + options_.timeout;
  std::optional<v1::AgentStatus> s;
  while (Clock::now() < deadline) {
    s = status();
    if (s && s->state() == voc::kPaused) break;
    std::this_thread::sleep_for(100ms);  // polling the heartbeat
  }
  if (!s || s->state() != voc::kPaused) {
    return failed("after pause its heartbeat says " + (s ? s->state() : std::string("nothing")) +
                  ", not paused");
  }
  const std::string objective = "Conformance while paused " + std::to_string(++serial_);
  auto id = new_task(objective);
  if (!id) return failed("cannot make the task: " + id.error().message);
  const Counts before = counts();
  const v1::Brief b = brief_for(*id, objective);
  if (auto r = publish(b, false, b.id()); !r) return failed("cannot publish: " + r.error().message);
  // Paused, it takes nothing: the brief is still queued three seconds on
  // (an observation window, not a wait for something to happen).
  const auto window = Clock::now() + 3s;
  while (Clock::now() < window) {
    if (!not_settled(*id, before)) return failed("it worked a brief while paused");
    std::this_thread::sleep_for(200ms);
  }
  if (auto r = control(voc::kResume); !r) return failed(r.error().message);
  if (auto why = wait_settled(*id, before, options_.timeout)) {
    return failed("after resume: " + *why);
  }
  if (auto r = control(voc::kDrain); !r) return failed(r.error().message);
  if (!candidate_->wait_exit(options_.timeout)) {
    return failed("after drain it did not exit within " + std::to_string(options_.timeout.count()) +
                  " s");
  }
  if (candidate_->ended() != "exit 0") {
    return failed("after drain it ended with " + candidate_->ended() + ", not exit 0");
  }
  if (auto r = candidate_->start(); !r) return failed(r.error().message);
  if (auto why = wait_alive_status(options_.timeout)) return failed("restarted: " + *why);
  return passed("paused held the brief, resume worked it, drain exited 0");
}

CaseResult Kit::kill() {
  const std::string objective = "Conformance kill " + std::to_string(++serial_);
  auto id = new_task(objective);
  if (!id) return failed("cannot make the task: " + id.error().message);
  const Counts before = counts();
  const v1::Brief b = brief_for(*id, objective);
  if (auto r = publish(b, false, b.id()); !r) return failed("cannot publish: " + r.error().message);
  // Killed once it says it holds the brief (or its brief is in flight).
  const auto deadline = Clock::now() + options_.timeout;
  bool in_hand = false;
  bool done_before = false;
  while (!in_hand && !done_before && Clock::now() < deadline) {
    auto s = status();
    in_hand = (s && s->task_id() == *id) || counts().own.in_flight > 0;
    done_before = !in_hand && !not_settled(*id, before).has_value();
    if (!in_hand && !done_before) {
      std::this_thread::sleep_for(20ms);  // polling for the brief in hand
    }
  }
  const bool mid_turn = in_hand && not_settled(*id, before).has_value();
  candidate_->kill9();
  if (auto r = candidate_->start(); !r) return failed(r.error().message);
  if (auto why = wait_settled(*id, before, options_.timeout + std::chrono::seconds(10))) {
    return failed("after kill -9 and a restart: " + *why);
  }
  return passed(std::string(mid_turn      ? "killed with the brief in hand"
                            : done_before ? "killed after it had handed the brief on (too quick "
                                            "to catch in hand)"
                                          : "killed") +
                ", restarted: " + settled_detail(*id));
}

CaseResult Kit::reconnect() {
  up_->stop();
  auto started = up_->start();
  if (!started) return failed("the kit's server did not come back: " + started.error().message);
  if (auto r = connect(); !r) return failed("the kit cannot reconnect: " + r.error().message);
  if (!candidate_->alive()) {
    return failed("the candidate ended when the server went away (" + candidate_->ended() + ")");
  }
  const std::string objective = "Conformance after reconnect " + std::to_string(++serial_);
  auto id = new_task(objective);
  if (!id) return failed("cannot make the task: " + id.error().message);
  const Counts before = counts();
  const v1::Brief b = brief_for(*id, objective);
  if (auto r = publish(b, false, b.id()); !r) return failed("cannot publish: " + r.error().message);
  if (auto why = wait_settled(*id, before, options_.timeout)) {
    return failed("after the server restarted: " + *why);
  }
  return passed("the server restarted; " + settled_detail(*id));
}

}  // namespace agency::conformance
