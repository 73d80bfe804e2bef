// Messages as the rest of agency sees them: Outgoing (what we publish) and
// Incoming (what we received, owning the nats.c message so a JetStream
// delivery can still be acknowledged).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bus/handles.hpp"
#include "bus/result.hpp"

namespace agency {

class Connection;

using Headers = std::vector<std::pair<std::string, std::string>>;

// First value of a header, case-insensitive as NATS headers are.
std::optional<std::string> find_header(const Headers& headers, std::string_view key);

struct Outgoing {
  std::string data;
  Headers headers;
};

// Where a JetStream delivery stands: its stream sequence and how often it has
// been delivered (1 on the first delivery).
struct Delivery {
  std::string stream;
  std::string consumer;
  std::uint64_t stream_sequence = 0;
  std::uint64_t deliveries = 0;
  std::int64_t timestamp_ns = 0;  // when the stream stored it (Unix epoch)
  std::uint64_t pending = 0;      // the consumer's messages not yet delivered after it
};

// A received message. Thread: whoever holds it; not shared.
class Incoming {
 public:
  explicit Incoming(nats::MsgPtr msg);
  Incoming(Incoming&&) noexcept = default;
  Incoming& operator=(Incoming&&) noexcept = default;

  [[nodiscard]] std::string_view subject() const;
  [[nodiscard]] std::string_view reply() const;
  [[nodiscard]] std::string_view data() const;
  [[nodiscard]] Headers headers() const;
  [[nodiscard]] std::optional<std::string> header(std::string_view key) const;

  // JetStream deliveries only.
  [[nodiscard]] Result<Delivery> delivery() const;
  Result<void> ack();                           // synchronous: returns once the server has it
  Result<void> nak(std::int64_t delay_ms = 0);  // redeliver after delay_ms
  // Redeliver at once, returning once the server has it, and tell the
  // consumer's idle readers (bus/consumer.hpp, hand_back).
  Result<void> hand_back(Connection& via);
  Result<void> in_progress();  // reset the ack timer
  Result<void> term();         // never redeliver
  // How a delivery is settled, for the hook below.
  enum class Settlement { ack, nak, term };
  // Called (on the settling thread) right before ack, nak or term, so that a
  // helper extending the ack deadline stops first. nullptr clears it.
  using SettleHook = std::function<void(Settlement)>;
  void on_settle(SettleHook hook) { on_settle_ = std::move(hook); }

  [[nodiscard]] natsMsg* raw() const { return msg_.get(); }

 private:
  void settling(Settlement how) {
    if (on_settle_) on_settle_(how);
  }
  nats::MsgPtr msg_;
  SettleHook on_settle_;
};

}  // namespace agency
