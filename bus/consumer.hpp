// A durable JetStream pull consumer bound by name, and fetching from it.
//
// Thread: one thread at a time per PullConsumer. Must not outlive its
// Connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bus/connection.hpp"
#include "bus/message.hpp"
#include "bus/result.hpp"

namespace agency {

class PullConsumer {
 public:
  // Binds to an existing durable consumer (provision creates them).
  static Result<PullConsumer> bind(Connection& connection, std::string_view stream,
                                   std::string_view durable, std::string_view filter_subject);

  // Up to `batch` messages; an empty vector when none arrived within timeout.
  Result<std::vector<Incoming>> fetch(int batch, std::chrono::milliseconds timeout);
  // What is there now: up to `batch` messages as soon as the server has
  // them, or none (an empty list) after `wait` when nothing comes. A
  // message the server finds just after the wait is not lost: it waits in
  // the subscription for the next call (queued()).
  Result<std::vector<Incoming>> fetch_now(int batch, std::chrono::milliseconds wait);
  // Messages already in the subscription, read by the next fetch without
  // asking the server (one the server sent just after a look gave up).
  [[nodiscard]] int queued() const;
  // Whether a fetch could bring anything now: the consumer has messages not
  // yet delivered, or deliveries out that may come back (handed back with
  // a delay, or an ack wait running out). One request the server answers
  // at once, where an empty fetch_now costs its whole wait.
  [[nodiscard]] Result<bool> may_deliver() const;

  [[nodiscard]] const std::string& durable() const { return durable_; }

 private:
  std::string stream_;
  std::string durable_;
  jsCtx* js_ = nullptr;  // the Connection's, which outlives this
  nats::SubscriptionPtr sub_;
};

// Every message of `stream` on `filter_subject` from the first (or from
// stream sequence `start_sequence` when it is not 0), oldest first, at most
// `max` (an ephemeral consumer that acks nothing, so reading changes
// nothing). Only for streams with limits retention (events, dead letters,
// logs, usage).
Result<std::vector<Incoming>> replay(Connection& connection, std::string_view stream,
                                     std::string_view filter_subject, std::size_t max,
                                     std::uint64_t start_sequence = 0);

// What a durable consumer has queued and in flight.
struct ConsumerState {
  std::string name;
  std::string filter_subject;
  std::uint64_t pending = 0;     // not yet delivered
  std::int64_t ack_pending = 0;  // delivered, not yet acknowledged
  std::int64_t redelivered = 0;
  std::int64_t waiting = 0;  // pull requests waiting (agents ready for work)
};

Result<std::vector<ConsumerState>> list_consumers(Connection& connection, std::string_view stream);

// How many messages `stream` holds on each subject `filter` matches (a
// pattern), by subject.
struct SubjectCount {
  std::string subject;
  std::uint64_t messages = 0;
};
Result<std::vector<SubjectCount>> stream_subjects(Connection& connection, std::string_view stream,
                                                  std::string_view filter);

// Hands the delivery of `ack_subject` back to its consumer for redelivery
// at once, returning once the server has it (-NAK as a request), then tells
// the consumer's idle readers to look again (announce_hand_back). Works for
// a delivery another process holds: the ack subject is all it takes.
Result<void> hand_back(Connection& connection, std::string_view ack_subject,
                       std::chrono::milliseconds timeout = std::chrono::seconds(2));
// After a delivery was handed back to its consumer, tells the consumer's
// idle readers to look again (subjects::wake): best effort, as they look
// again on their own at their next recheck.
void announce_hand_back(Connection& connection, std::string_view ack_subject);

}  // namespace agency
