#include "runtime/mesh.hpp"

#include <nats/nats.h>

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "agency/v1/control.pb.h"
#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/consumer.hpp"
#include "bus/subjects.hpp"
#include "bus/vocabulary.hpp"
#include "runtime/ids.hpp"

namespace agency {
namespace {

namespace voc = vocabulary;

constexpr std::string_view kWaitingPrefix = "question.";

// Reads every message of `stream` on `filter` after sequence `after` and
// decodes it as M; undecodable ones are skipped (they were dead-lettered or
// written by someone else: not ours to stop on).
template <class M>
Result<StreamBatch<M>> read_after(Connection& connection, std::string_view stream,
                                  std::string_view filter, std::uint64_t after,
                                  std::string_view skip_prefix = {}) {
  StreamBatch<M> batch;
  batch.last_sequence = after;
  auto got = replay(connection, stream, filter, 100000, after + 1);
  if (!got) {
    // A stream with nothing after `after` answers "not found" on some servers.
    if (got.error().code == errc::not_found) return batch;
    return got.error();
  }
  for (auto& m : *got) {
    auto d = m.delivery();
    if (!d) continue;
    batch.last_sequence = std::max(batch.last_sequence, d->stream_sequence);
    if (!skip_prefix.empty() && m.subject().starts_with(skip_prefix)) continue;
    auto decoded = codec::decode<M>(m.data(), m.headers());
    if (!decoded) continue;
    batch.messages.push_back(std::move(*decoded));
    batch.sequences.push_back(d->stream_sequence);
  }
  return batch;
}

}  // namespace

std::string waiting_question_key(std::string_view agent_id, std::string_view question_id) {
  std::string key(kWaitingPrefix);
  key.append(agent_id).append(".").append(question_id);
  return key;
}

Result<v1::Answer> ask_role(Connection& connection, std::string_view role, v1::Question question,
                            std::chrono::milliseconds timeout, KeyValue* waiting_memory) {
  if (!subjects::is_valid_token(role)) {
    return make_error(errc::config,
                      "'" + std::string(role) + "' is no role name (letters, digits, '-', '_')");
  }
  if (question.id().empty()) question.set_id(ids::question());
  if (!question.has_asked_at()) *question.mutable_asked_at() = now_timestamp();
  const std::string inbox = connection.new_inbox();
  question.set_role(std::string(role));
  question.set_reply_to(inbox);

  // One slot the subscription fills with the first answer.
  struct Slot {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Result<v1::Answer>> answer;
  };
  auto slot = std::make_shared<Slot>();
  auto sub = connection.subscribe(inbox, {}, [slot, role = std::string(role)](Incoming m) {
    Result<v1::Answer> got = make_error(errc::internal, "unset");
    if (m.raw() != nullptr && natsMsg_IsNoResponders(m.raw())) {
      got = make_error(
          errc::no_responders,
          "no agent of role " + role + " is running (nobody serves agency.ask." + role + ")");
    } else {
      auto decoded = codec::decode<v1::Answer>(m.data(), m.headers());
      if (decoded) {
        got = std::move(*decoded);
      } else {
        got = make_error(errc::bad_payload,
                         "the answer could not be read: " + decoded.error().message);
      }
    }
    std::lock_guard lock(slot->mu);
    if (!slot->answer) slot->answer = std::move(got);
    slot->cv.notify_all();
  });
  if (!sub) return sub.error();
  if (auto r = connection.flush(std::chrono::seconds(5)); !r) return r.error();

  std::string key;
  if (waiting_memory != nullptr && !question.from_agent().empty()) {
    key = waiting_question_key(question.from_agent(), question.id());
    // Only a help for the sweeper: asking works without it.
    (void)waiting_memory->put(key, codec::encode(question).data);
  }
  if (auto r = connection.publish(subjects::ask(role), codec::encode(question), inbox); !r) {
    if (!key.empty()) (void)waiting_memory->remove(key);
    return r.error();
  }
  std::unique_lock lock(slot->mu);
  const bool answered = slot->cv.wait_for(lock, timeout, [&] { return slot->answer.has_value(); });
  if (!key.empty()) (void)waiting_memory->remove(key);
  if (!answered) {
    return make_error(errc::timeout, "no answer from role " + std::string(role) + " within " +
                                         std::to_string(timeout.count() / 1000) + " s");
  }
  return std::move(*slot->answer);
}

Result<std::vector<v1::AgentStatus>> Mesh::fleet() const {
  auto keys = fleet_->keys();
  if (!keys) return keys.error();
  std::vector<v1::AgentStatus> out;
  for (const auto& key : *keys) {
    auto entry = fleet_->get(key);
    if (!entry) continue;
    auto status = codec::decode<v1::AgentStatus>(entry->value);
    if (status) out.push_back(std::move(*status));
  }
  return out;
}

Result<std::vector<v1::Task>> Mesh::tasks() const { return tasks_->list(); }

Result<std::vector<ConsumerState>> Mesh::brief_consumers() const {
  return list_consumers(*connection_, subjects::kBriefsStream);
}

Result<v1::Answer> Mesh::ask(std::string_view role, v1::Question question,
                             std::chrono::milliseconds timeout) const {
  if (question.from_agent().empty()) question.set_from_agent(agent_id_);
  if (question.from_role().empty()) question.set_from_role(role_);
  return ask_role(*connection_, role, std::move(question), timeout, nullptr);
}

Result<void> Mesh::reply(std::string_view reply_to, const v1::Answer& answer) const {
  if (reply_to.empty()) return make_error(errc::config, "the question says nowhere to answer");
  return connection_->publish(reply_to, codec::encode(answer));
}

Result<void> Mesh::send_mail(v1::Mail mail) const {
  if (!subjects::is_valid_token(mail.to())) {
    return make_error(errc::config, "'" + mail.to() + "' is no agent id");
  }
  if (mail.id().empty()) mail.set_id(ids::make("m"));
  if (mail.from().empty()) mail.set_from(agent_id_);
  if (!mail.has_sent_at()) *mail.mutable_sent_at() = now_timestamp();
  auto r = connection_->js_publish(subjects::mail(mail.to()), codec::encode(mail), mail.id());
  if (!r) return r.error();
  return {};
}

Result<void> Mesh::control(std::string_view target, std::string_view command,
                           std::string_view reason, std::string_view task_id) const {
  v1::Control c;
  c.set_command(std::string(command));
  c.set_reason(std::string(reason));
  c.set_task_id(std::string(task_id));
  c.set_from(agent_id_);
  *c.mutable_at() = now_timestamp();
  return connection_->publish(subjects::control(target), codec::encode(c));
}

Result<void> Mesh::hand_back(std::string_view ack_subject) const {
  if (!ack_subject.starts_with("$JS.ACK.")) {
    return make_error(errc::config, "'" + std::string(ack_subject) + "' is no ack subject");
  }
  return agency::hand_back(*connection_, ack_subject);
}

Result<bool> Mesh::file_brief(std::string_view role, const v1::Brief& brief) const {
  auto ack = connection_->js_publish(subjects::brief(role, brief.priority()), codec::encode(brief),
                                     brief.id());
  if (!ack) return ack.error();
  return !ack->duplicate;
}

Result<bool> Mesh::block_task(std::string_view task_id, const std::string& reason) const {
  return tasks_->block(task_id, agent_id_, reason,
                       "event:" + std::string(task_id) + ":blocked:" + agent_id_);
}

Result<void> Mesh::record(std::string_view family, v1::FleetEvent event,
                          std::string_view msg_id) const {
  if (event.actor().empty()) event.set_actor(agent_id_);
  if (!event.has_at()) *event.mutable_at() = now_timestamp();
  auto r = connection_->js_publish(subjects::fleet_event(family), codec::encode(event), msg_id);
  if (!r) return r.error();
  return {};
}

Result<v1::Task> Mesh::task(std::string_view task_id) const {
  auto stored = tasks_->load(task_id);
  if (!stored) return stored.error();
  return std::move(stored->task);
}

Result<StreamBatch<v1::WorkLog>> Mesh::work_logs_after(std::uint64_t after) const {
  return read_after<v1::WorkLog>(*connection_, subjects::kLogsStream, "agency.log.>", after);
}

Result<StreamBatch<v1::UsageSample>> Mesh::usage_after(std::uint64_t after) const {
  return read_after<v1::UsageSample>(*connection_, subjects::kUsageStream, "agency.usage.>", after,
                                     "agency.usage.limits.");
}

Result<std::vector<WaitingQuestion>> Mesh::waiting_questions() const {
  auto keys = memory_->keys();
  if (!keys) return keys.error();
  std::vector<WaitingQuestion> out;
  for (const auto& key : *keys) {
    if (!key.starts_with(kWaitingPrefix)) continue;
    auto entry = memory_->get(key);
    if (!entry) continue;
    auto q = codec::decode<v1::Question>(entry->value);
    if (q) out.push_back({key, std::move(*q)});
  }
  return out;
}

Result<std::optional<std::string>> Mesh::recall(std::string_view key) const {
  auto entry = memory_->get(key);
  if (!entry) {
    if (entry.error().code == errc::not_found) return std::optional<std::string>();
    return entry.error();
  }
  return std::optional<std::string>(entry->value);
}

Result<void> Mesh::remember(std::string_view key, std::string_view value) const {
  auto r = memory_->put(key, value);
  if (!r) return r.error();
  return {};
}

Result<void> Mesh::forget(std::string_view key) const { return memory_->remove(key); }

Result<epics::EpicStep> Mesh::advance_epic(std::string_view epic_id,
                                           std::size_t brief_bytes) const {
  epics::Writer w;
  w.store = tasks_;
  w.connection = connection_;
  w.actor = agent_id_;
  w.brief_bytes = brief_bytes;
  return epics::advance_epic(w, epic_id);
}

namespace {
bool held_by(std::string_view value, std::string_view agent_id) {
  return value.starts_with(agent_id) && value.size() > agent_id.size() &&
         value[agent_id.size()] == ' ';
}
}  // namespace

Result<bool> Mesh::take_lock(std::string_view key,
                             const std::function<bool(std::string_view value)>& gone) const {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const std::string mine = agent_id_ + " " + std::to_string(now);
  auto created = memory_->create(key, mine);
  if (created) return true;
  if (created.error().code != errc::already_exists) return created.error();
  auto entry = memory_->get(key);
  if (!entry) {
    // Released between the two reads: the next try takes it.
    if (entry.error().code == errc::not_found) return false;
    return entry.error();
  }
  if (held_by(entry->value, agent_id_)) return true;
  if (!gone(entry->value)) return false;
  auto taken = memory_->update(key, mine, entry->revision);
  if (taken) return true;
  if (taken.error().code == errc::wrong_revision) return false;
  return taken.error();
}

Result<void> Mesh::release_lock(std::string_view key) const {
  auto entry = memory_->get(key);
  if (!entry) return entry.error().code == errc::not_found ? Result<void>() : entry.error();
  if (!held_by(entry->value, agent_id_)) return {};
  return memory_->remove(key);
}

}  // namespace agency
