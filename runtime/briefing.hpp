// A new brief from outside the fleet (`agency brief`, the console's form):
// checked against the configuration, its task record created, then
// published on the role's queue with Nats-Msg-Id task:stage:attempt
// (docs/ARCHITECTURE.md, "Tasks and stages").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "agency/v1/brief.pb.h"
#include "bus/connection.hpp"
#include "bus/result.hpp"
#include "runtime/config.hpp"

namespace agency {

struct SentBrief {
  std::string task_id;
  std::string brief_id;
  std::string subject;
  std::string stage;  // where the task starts
  std::uint64_t stream_sequence = 0;
  bool duplicate = false;     // the server had it already (same msg id)
  bool unknown_role = false;  // not configured: the brief waits for its first agent
};

// Fills what the sender left out (the only project, the role's stage, a
// task id, attempt 1, the origin) and checks the brief (errc::config, saying
// what to change: a bad role name, an unknown project, a stage of another
// role, over limits.brief_bytes). No bus: a command can refuse before it
// connects.
Result<v1::Brief> prepare_brief(const config::Config& config, std::string_view role,
                                v1::Brief brief, std::string_view origin);

// prepare_brief, then creates the task record and publishes the brief. For
// a role that is not configured, its brief consumer is made so the brief
// waits.
Result<SentBrief> send_brief(Connection& connection, const config::Config& config,
                             std::string_view role, v1::Brief brief, std::string_view origin);

}  // namespace agency
