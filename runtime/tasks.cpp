#include "runtime/tasks.hpp"

#include <google/protobuf/util/time_util.h>

#include <string>

#include "bus/bounds.hpp"
#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/consumer.hpp"
#include "bus/subjects.hpp"
#include "bus/vocabulary.hpp"

namespace agency {
namespace {

using google::protobuf::util::TimeUtil;

constexpr int kMaxCasAttempts = 32;

Result<StoredTask> decode_entry(const KvEntry& entry) {
  StoredTask out;
  auto decoded = codec::decode<v1::Task>(entry.value);
  if (!decoded) {
    return make_error(errc::bad_payload,
                      "task record " + entry.key + " is unreadable: " + decoded.error().message);
  }
  out.task = std::move(*decoded);
  out.revision = entry.revision;
  return out;
}

}  // namespace

std::string title_from(std::string_view objective) {
  auto end = objective.find('\n');
  std::string_view line = objective.substr(0, end);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
  if (line.size() <= 80) return std::string(line);
  // Cut on a UTF-8 character boundary.
  std::size_t cut = 79;
  while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0U) == 0x80U) --cut;
  return std::string(line.substr(0, cut)) + "…";
}

Result<void> fit_task(v1::Task& task, std::size_t max_bytes) {
  // Below this a text is left alone: cutting it would save too little.
  constexpr std::size_t kShortText = 256;
  for (int round = 0; round < 256; ++round) {
    std::size_t size = task.ByteSizeLong();
    if (size <= max_bytes) return {};
    std::vector<std::string*> texts = {
        task.mutable_spec(),
        task.mutable_blocked_reason(),
        task.mutable_title(),
        task.mutable_brief()->mutable_objective(),
        task.mutable_brief()->mutable_context(),
        task.mutable_brief()->mutable_done_when(),
        task.mutable_brief()->mutable_audience(),
    };
    for (auto& c : *task.mutable_brief()->mutable_constraints()) texts.push_back(&c);
    for (auto& h : *task.mutable_history()) texts.push_back(h.mutable_reason());
    for (auto& [k, v] : *task.mutable_attachments()) texts.push_back(&v);
    std::string* longest = nullptr;
    for (auto* t : texts) {
      if (longest == nullptr || t->size() > longest->size()) longest = t;
    }
    if (longest == nullptr || longest->size() <= kShortText) break;
    std::size_t over = size - max_bytes;
    std::size_t target =
        longest->size() > over + 2 * kShortText ? longest->size() - over - 64 : kShortText;
    bounds::cut(*longest, std::max(target, kShortText));
  }
  std::size_t size = task.ByteSizeLong();
  if (size <= max_bytes) return {};
  return make_error(errc::bad_payload,
                    "task " + task.id() + " would take " + std::to_string(size) +
                        " bytes even with its texts cut, over limits.task_bytes (" +
                        std::to_string(max_bytes) + ")");
}

Result<TaskStore> TaskStore::open(Connection& connection, std::size_t max_bytes) {
  auto kv = KeyValue::open(connection, subjects::kTasksBucket);
  if (!kv) return kv.error();
  return TaskStore(connection, std::move(*kv), max_bytes);
}

Result<std::string> TaskStore::encode_record(v1::Task& task) const {
  if (auto r = fit_task(task, max_bytes_); !r) return r.error();
  return codec::encode(task).data;
}

Result<StoredTask> TaskStore::load(std::string_view task_id) const {
  auto entry = kv_.get(task_id);
  if (!entry) {
    if (entry.error().code == errc::not_found) {
      return make_error(errc::not_found, "no task " + std::string(task_id));
    }
    return entry.error();
  }
  return decode_entry(*entry);
}

Result<StoredTask> TaskStore::create(const v1::Brief& brief, std::string_view stage,
                                     std::string_view actor,
                                     const std::function<void(v1::Task&)>& shape) {
  if (brief.task_id().empty()) return make_error(errc::internal, "create: brief has no task id");
  // Most briefs belong to a task that exists (every stage after the first):
  // one read settles it.
  if (auto existing = load(brief.task_id()); existing) {
    return existing;
  } else if (existing.error().code != errc::not_found) {
    return existing.error();
  }
  auto now = now_timestamp();
  v1::Task task;
  task.set_id(brief.task_id());
  task.set_title(title_from(brief.objective()));
  task.set_project(brief.project());
  task.set_stage(std::string(stage));
  *task.mutable_brief() = brief;
  *task.mutable_created_at() = now;
  *task.mutable_updated_at() = now;
  auto* change = task.add_history();
  change->set_to(std::string(stage));
  change->set_actor(std::string(actor));
  change->set_reason("created from brief " + brief.id());
  *change->mutable_at() = now;
  if (shape) shape(task);

  auto record = encode_record(task);
  if (!record) return record.error();
  auto rev = kv_.create(task.id(), *record);
  StoredTask stored;
  if (!rev) {
    if (rev.error().code != errc::already_exists) return rev.error();
    auto existing = load(task.id());
    if (!existing) return existing.error();
    stored = std::move(*existing);
  } else {
    stored.task = task;
    stored.revision = *rev;
  }
  // Appended even when the record existed: a crash may have come between
  // the two; the msg id drops the duplicate.
  v1::TaskEvent event;
  event.set_task_id(task.id());
  event.set_kind("created");
  event.set_to_stage(stored.task.history_size() > 0 ? stored.task.history(0).to()
                                                    : std::string(stage));
  event.set_actor(std::string(actor));
  event.set_reason(task.title());
  event.set_project(task.project());
  *event.mutable_at() = now;
  if (auto r = append_event(event, "event:" + task.id() + ":created"); !r) return r.error();
  return stored;
}

Result<StoredTask> TaskStore::update(std::string_view task_id,
                                     const std::function<bool(v1::Task&)>& change,
                                     const StoredTask* known) {
  for (int attempt = 0; attempt < kMaxCasAttempts; ++attempt) {
    // The record the caller already read saves a round trip; after a lost
    // compare-and-set, read it again.
    auto current = attempt == 0 && known != nullptr ? Result<StoredTask>(*known) : load(task_id);
    if (!current) return current.error();
    v1::Task task = current->task;
    if (!change(task)) return current;
    *task.mutable_updated_at() = now_timestamp();
    auto record = encode_record(task);
    if (!record) return record.error();
    auto rev = kv_.update(task_id, *record, current->revision);
    if (rev) return StoredTask{std::move(task), *rev};
    if (rev.error().code != errc::wrong_revision) return rev.error();
  }
  return make_error(errc::wrong_revision, "task " + std::string(task_id) + " kept changing under " +
                                              std::to_string(kMaxCasAttempts) + " updates");
}

Result<void> TaskStore::append_event(const v1::TaskEvent& event, std::string_view msg_id) {
  auto ack =
      connection_->js_publish(subjects::task_event(event.task_id()), codec::encode(event), msg_id);
  if (!ack) return ack.error();
  return {};
}

Result<std::vector<v1::TaskEvent>> TaskStore::history(std::string_view task_id) const {
  auto messages =
      replay(*connection_, subjects::kEventsStream, subjects::task_event(task_id), 10000);
  if (!messages) return messages.error();
  std::vector<v1::TaskEvent> out;
  for (const auto& m : *messages) {
    auto e = codec::decode<v1::TaskEvent>(m.data(), m.headers());
    if (e) out.push_back(std::move(*e));
  }
  return out;
}

Result<std::vector<v1::Task>> TaskStore::list() const {
  auto keys = kv_.keys();
  if (!keys) return keys.error();
  std::vector<v1::Task> out;
  for (const auto& key : *keys) {
    auto t = load(key);
    if (t) out.push_back(std::move(t->task));
  }
  return out;
}

Result<bool> TaskStore::block(std::string_view task_id, std::string_view actor,
                              const std::string& reason, std::string_view event_msg_id) {
  std::string from;
  bool changed = false;
  auto updated = update(task_id, [&](v1::Task& t) {
    if (vocabulary::is_end(t.stage())) return false;
    from = t.stage();
    auto* change = t.add_history();
    change->set_from(t.stage());
    change->set_to("blocked");
    change->set_actor(std::string(actor));
    change->set_reason(reason);
    *change->mutable_at() = now_timestamp();
    t.set_stage("blocked");
    t.set_blocked_reason(reason);
    changed = true;
    return true;
  });
  if (!updated) return updated.error();
  if (!changed) return false;
  v1::TaskEvent event;
  event.set_task_id(std::string(task_id));
  event.set_kind("blocked");
  event.set_from_stage(from);
  event.set_to_stage("blocked");
  event.set_actor(std::string(actor));
  event.set_reason(reason);
  event.set_project(updated->task.project());
  *event.mutable_at() = now_timestamp();
  if (auto r = append_event(event, event_msg_id); !r) return r.error();
  return true;
}

Result<void> TaskStore::ensure_created_event(const v1::Task& task) {
  if (task.history_size() != 1) return {};
  v1::TaskEvent event;
  event.set_task_id(task.id());
  event.set_kind("created");
  event.set_to_stage(task.history(0).to());
  event.set_actor(task.history(0).actor());
  event.set_reason(task.title());
  event.set_project(task.project());
  *event.mutable_at() = task.history(0).at();
  return append_event(event, "event:" + task.id() + ":created");
}

}  // namespace agency
