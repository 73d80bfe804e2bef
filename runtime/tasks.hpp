// The task record (KV agency-tasks, compare-and-set on revision) and its
// audit trail (agency.event.task.<id> on AGENCY_EVENTS). Every write here is
// idempotent so that a crash at any point converges on redelivery
// (docs/ARCHITECTURE.md).
//
// Thread: one thread at a time per TaskStore. Must not outlive its Connection.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agency/v1/brief.pb.h"
#include "agency/v1/task.pb.h"
#include "bus/connection.hpp"
#include "bus/kv.hpp"
#include "bus/result.hpp"

namespace agency {

// First line of an objective, cut to 80 characters.
std::string title_from(std::string_view objective);

// Cuts the longest texts of a task record (spec, the brief's fields,
// reasons, attachments) until it encodes in at most `max_bytes`, so a record
// always fits its bucket whatever a brief or an engine brought in. The
// history's entries are kept (they count the attempts); only their reasons
// are cut. errc::too_large when even that does not fit.
Result<void> fit_task(v1::Task& task, std::size_t max_bytes);

struct StoredTask {
  v1::Task task;
  std::uint64_t revision = 0;
};

class TaskStore {
 public:
  // Records are written within `max_bytes` (limits.task_bytes, fit_task).
  static Result<TaskStore> open(Connection& connection, std::size_t max_bytes = 512 * 1024);

  // errc::not_found when there is no such task.
  Result<StoredTask> load(std::string_view task_id) const;

  // Creates the record for a new brief (brief.task_id must be set) at
  // `stage`, then appends the "created" event. When the record exists
  // already (a replay) it is returned unchanged.
  // `shape`, when given, sets more of the new record (an epic's sub-task:
  // its title, spec, parent and dependencies) before it is written.
  Result<StoredTask> create(const v1::Brief& brief, std::string_view stage, std::string_view actor,
                            const std::function<void(v1::Task&)>& shape = nullptr);

  // Read-modify-write by compare-and-set, retried while someone else wrote
  // first. `change` returns false to leave the record as it is.
  // `known`, a record the caller read, is tried first instead of reading it
  // again.
  Result<StoredTask> update(std::string_view task_id, const std::function<bool(v1::Task&)>& change,
                            const StoredTask* known = nullptr);

  // A task whose creator crashed between writing the record and its
  // "created" event would lack that event: for a task still at its creation
  // (one history entry), append it again; the msg id drops a duplicate.
  Result<void> ensure_created_event(const v1::Task& task);

  // Moves a task to blocked with the reason (record by compare-and-set,
  // then the event with `event_msg_id`); false when it was done or blocked
  // already.
  Result<bool> block(std::string_view task_id, std::string_view actor, const std::string& reason,
                     std::string_view event_msg_id);

  // Appends an event; msg_id (when given) makes a replay a no-op.
  Result<void> append_event(const v1::TaskEvent& event, std::string_view msg_id = {});

  // The audit trail, oldest first.
  Result<std::vector<v1::TaskEvent>> history(std::string_view task_id) const;

  // Every task, in key order.
  Result<std::vector<v1::Task>> list() const;

 private:
  TaskStore(Connection& connection, KeyValue kv, std::size_t max_bytes)
      : connection_(&connection), kv_(std::move(kv)), max_bytes_(max_bytes) {}
  Result<std::string> encode_record(v1::Task& task) const;
  Connection* connection_;
  KeyValue kv_;
  std::size_t max_bytes_;
};

}  // namespace agency
