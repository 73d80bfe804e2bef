// JetStream publishes that do not wait for each ack: many in flight at once
// on one connection, every ack checked before finish() says they are in.
//
// A synchronous js_publish costs a round trip per message (~0.2 ms on
// loopback); a batch of thousands (the accountant's transcript samples)
// pays it once. Each publish carries its own reply subject under one
// subscription of the batch's (<inbox>.<n>), so an ack is matched to its
// message; the stream's answer is read as js_publish reads it: an error in
// the ack, no stream for the subject (no responders) or no ack within
// ack_wait makes that publish a failure. Nothing is retried here: finish()
// reports every failure to the caller, who publishes again with the same
// msg ids (a publish whose ack was lost may be stored; the stream's
// duplicate window drops it the second time).
//
// Thread: one thread at a time calls publish() and finish(); acks are
// counted on the connection's thread. The handler keeps what it needs
// alive, so a batch may be destroyed with acks outstanding (they are then
// neither waited for nor counted). Must not outlive its Connection.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "bus/connection.hpp"
#include "bus/message.hpp"
#include "bus/result.hpp"

namespace agency {

struct JsBatchOptions {
  // Publishes whose ack has not come yet, at most: publish() waits for
  // room beyond it. The server's per-connection buffers take this many
  // small messages without holding the socket up.
  std::size_t window = 1024;
  // How long each ack may take, from its publish.
  std::chrono::milliseconds ack_wait{10000};
};

// What the stream said of the publishes since the last finish().
struct JsBatchTally {
  std::size_t stored = 0;      // acknowledged as new
  std::size_t duplicates = 0;  // acknowledged as a duplicate (same msg id in the window)
};

class JsBatch {
 public:
  // Subscribes to the batch's reply subjects on `connection`.
  static Result<JsBatch> open(Connection& connection, JsBatchOptions options = {});
  JsBatch(JsBatch&&) noexcept;
  JsBatch& operator=(JsBatch&&) noexcept;
  ~JsBatch();

  // Sends one message (Nats-Msg-Id set when msg_id is not empty) and
  // returns without its ack, once fewer than `window` are outstanding. An
  // error here is a message that was not sent; failed acks are finish()'s.
  Result<void> publish(std::string_view subject, Outgoing message, std::string_view msg_id = {});

  // Waits until every publish since the last finish() has its ack or has
  // run out of ack_wait. The tally when all were stored; else an error
  // (the first failure's code) saying how many failed, and the first few.
  // The batch starts afresh either way.
  Result<JsBatchTally> finish();

  // Publishes not yet acknowledged.
  [[nodiscard]] std::size_t outstanding() const;

  struct State;

 private:
  JsBatch() = default;
  Connection* connection_ = nullptr;
  std::string reply_prefix_;  // "<inbox>."
  std::shared_ptr<State> state_;
  Subscription acks_;  // last: gone first
};

}  // namespace agency
