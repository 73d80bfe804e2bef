// The way briefs come in: pull from the role's durable consumer, decode,
// and dead-letter what cannot be decoded (stored with its reason before the
// original is acknowledged), so a bad payload never stops an agent and the
// next good brief is still handled.
//
// Thread: one thread at a time. Must not outlive its Connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "agency/v1/brief.pb.h"
#include "bus/connection.hpp"
#include "bus/consumer.hpp"
#include "bus/dead_letter.hpp"
#include "bus/message.hpp"
#include "bus/result.hpp"

namespace agency {

struct ReceivedBrief {
  v1::Brief brief;
  Incoming message;  // ack / nak / in_progress through this
  Delivery delivery;
};

// Fills what a sender may leave out: id, created_at, origin ("nats" for a
// brief without the Agency-Type header: a plain publish).
void fill_brief_defaults(v1::Brief& brief, bool from_agency_client);

// What the inbox accepts (agency.yaml `limits:`, `pipeline.max_deliver`).
struct InboxLimits {
  std::size_t brief_bytes = 256 * 1024;
  std::size_t keep_bytes = kDeadLetterKeepBytes;  // of a dead-lettered payload
  // Deliveries of a brief that cannot be read and whose dead letter cannot
  // be stored either, before it is terminated (AckTerm) with a log line:
  // nothing is redelivered forever.
  std::uint64_t max_deliver = 5;
};

class BriefInbox {
 public:
  static Result<BriefInbox> open(Connection& connection, std::string role, std::string agent_id,
                                 InboxLimits limits = {});

  // The next good brief, or nullopt when none arrived within timeout.
  Result<std::optional<ReceivedBrief>> next(std::chrono::milliseconds timeout);

  [[nodiscard]] std::uint64_t dead_lettered() const { return dead_lettered_; }
  [[nodiscard]] const std::string& role() const { return role_; }

 private:
  BriefInbox(Connection& c, PullConsumer consumer, std::string role, std::string agent_id,
             InboxLimits limits)
      : connection_(&c),
        consumer_(std::move(consumer)),
        role_(std::move(role)),
        agent_id_(std::move(agent_id)),
        limits_(limits) {}
  Connection* connection_;
  PullConsumer consumer_;
  std::string role_;
  std::string agent_id_;
  InboxLimits limits_;
  std::uint64_t dead_lettered_ = 0;
};

}  // namespace agency
