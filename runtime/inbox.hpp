// The way briefs come in: take the next brief from the role's queues, one
// per priority, highest first (brief_picker.hpp: human always first, fair
// turns for lower work), decode it, and dead-letter what cannot be decoded
// (stored with its reason before the original is acknowledged), so a bad
// payload never stops an agent and the next good brief is still handled.
//
// An idle agent asks no queue: it waits for a publish on the role's brief
// subjects or an announced hand-back (subjects::wake), which core NATS
// brings it, and at each recheck looks in every queue whose consumer may
// deliver something (briefs handed back with a delay, or by an ack wait
// running out, announce nothing).
//
// Thread: next() from one thread at a time; the subscriptions' callbacks
// run on the library's threads and only ring the bell. Must not outlive its
// Connection.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agency/v1/brief.pb.h"
#include "bus/connection.hpp"
#include "bus/consumer.hpp"
#include "bus/dead_letter.hpp"
#include "bus/message.hpp"
#include "bus/result.hpp"
#include "runtime/brief_picker.hpp"

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
  // How often an idle agent looks in every queue although nothing was
  // announced: the longest a brief handed back with a delay may wait.
  std::chrono::milliseconds recheck{3000};
  // How often it looks when the last look found every queue quiet: nothing
  // queued and nothing out with an agent (so nothing can come back with a
  // delay). Only a brief published unheard (while disconnected) waits this
  // long; any publish heard brings the recheck above back.
  std::chrono::milliseconds quiet_recheck{60000};
};

class BriefInbox {
 public:
  static Result<BriefInbox> open(Connection& connection, std::string role, std::string agent_id,
                                 InboxLimits limits = {});

  // The next good brief, or nullopt when none arrived within timeout. A
  // brief from a priority's own subject carries that priority; one from the
  // plain subject keeps the priority its sender wrote (empty: scheduled).
  // `before_waiting` runs once, right before the inbox first waits to be
  // told of a brief: not when one was there to take at once (an agent with
  // work queued goes from one brief to the next without saying idle).
  Result<std::optional<ReceivedBrief>> next(std::chrono::milliseconds timeout,
                                            const std::function<void()>& before_waiting = {});

  [[nodiscard]] std::uint64_t dead_lettered() const { return dead_lettered_; }
  [[nodiscard]] const std::string& role() const { return role_; }

 private:
  struct Queue {
    std::string priority;
    PullConsumer consumer;
  };
  // Rung from the subscriptions' callbacks to end an idle wait; shared with
  // them, so a late callback after the inbox is gone rings nobody.
  struct Bell {
    std::mutex mu;
    std::condition_variable cv;
    bool rung = false;
    void ring();
  };
  // A subject that announces briefs for the queue of `level`. What it
  // announced is read from its count (Subscription::received), not from the
  // callbacks, which may run a little later: a brief published before the
  // agent chooses is always seen.
  struct Announcer {
    std::size_t level = 0;
    Subscription subscription;
    std::int64_t seen = 0;
  };

  BriefInbox(Connection& c, std::string role, std::string agent_id, InboxLimits limits)
      : connection_(&c),
        role_(std::move(role)),
        agent_id_(std::move(agent_id)),
        limits_(limits),
        bell_(std::make_shared<Bell>()) {}
  // The brief in `message` from the queue of `level`; nullopt when it was
  // dead-lettered (look again).
  Result<std::optional<ReceivedBrief>> accept(Incoming message, std::size_t level);

  Connection* connection_;
  std::string role_;
  std::string agent_id_;
  InboxLimits limits_;
  std::vector<Queue> queues_;  // vocabulary::kPriorities' order
  std::shared_ptr<Bell> bell_;
  std::uint64_t reconnects_ = 0;  // the connection's count at the last look
  std::vector<Announcer> announcers_;
  BriefPicker picker_;
  std::chrono::steady_clock::time_point recheck_at_{};
  std::uint64_t dead_lettered_ = 0;
};

}  // namespace agency
