// Idempotent provisioning of every stream, consumer and KV bucket of
// docs/STREAMS.md (its settings). Running it twice changes
// nothing; a setting that differs from ours is updated where NATS allows
// it, else reported as an error that says what to do.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bus/connection.hpp"
#include "bus/result.hpp"

namespace agency {

struct ProvisionReport {
  std::vector<std::string> created;  // "stream AGENCY_BRIEFS", "consumer
                                     // AGENCY_BRIEFS/briefs-planner", "bucket agency-tasks"
  std::vector<std::string> updated;
  std::vector<std::string> unchanged;
};

struct ProvisionPlan {
  // Roles that get a durable brief consumer (briefs-<role>): the bus knows
  // none by name; config::provision_plan() lists the configured ones and
  // every role of the catalog (runtime/catalog.hpp).
  std::vector<std::string> roles;
  // Number of replicas for streams and buckets (1 on one machine, 3 in a
  // cluster).
  int replicas = 1;
  // How long a delivered brief may go without an ack or in-progress signal
  // before it is redelivered to another agent of the role.
  std::chrono::seconds ack_wait{30};
  // Create what is missing and leave what exists as it is: an agent's own
  // check at start (two requests when nothing is missing). `agency up` and `agency init` set up the
  // mesh (replicas in a cluster, changed limits); an agent's key may not change streams, and one
  // with an older agency.yaml must not undo them.
  bool keep_existing = false;
  // No delivery limit is set on the consumer: the runtime counts failed
  // deliveries itself (pipeline.max_deliver), as a rate-limit hand-back
  // must not count as one, and files the dead letter.

  // The largest message each stream stores (max_msg_size), from agency.yaml
  // `limits:`; headers get kHeaderRoom on top. The server refuses a larger
  // publish itself.
  std::int64_t brief_bytes = 256 * 1024;
  std::int64_t mail_bytes = 64 * 1024;
  std::int64_t usage_bytes = 16 * 1024;
  std::int64_t task_bytes = 512 * 1024;
  static constexpr std::int64_t kHeaderRoom = 8 * 1024;
};

Result<ProvisionReport> provision(Connection& connection, const ProvisionPlan& plan);

// Only the durable brief consumers of one role (one per priority), created
// with the default settings where missing; existing ones are left as they
// are (what an agent of a user's own role, or `agency brief` to a new role,
// ensures).
Result<void> ensure_brief_consumer(Connection& connection, const std::string& role);

// The durable mail consumer of one agent (mail-<agent-id> on AGENCY_MAIL,
// agency.mail.<agent-id>): created when absent. Mail written before the
// agent ever ran waits in the stream and is delivered from the first. A
// consumer nobody has read for 30 days is removed by the server.
Result<void> ensure_mail_consumer(Connection& connection, const std::string& agent_id);

// The stream with limits retention whose subjects take in every subject
// `pattern` matches, if there is one: a consumer of it sees every such
// message, also those published while nobody listened. Work-queue and
// interest streams are never named (another consumer would change what
// they keep).
Result<std::optional<std::string>> limits_stream_covering(Connection& connection,
                                                          std::string_view pattern);

// A durable consumer that follows `filter` on `stream` from its creation
// on (new messages only), explicit acks: created when absent, left as it
// is when present, removed by the server after 30 days unread.
Result<void> ensure_follow_consumer(Connection& connection, const std::string& stream,
                                    const std::string& durable, const std::string& filter,
                                    const std::string& description);

}  // namespace agency
