// One NATS connection plus its JetStream context.
//
// Reconnects forever with jitter, SendAsap on (request/reply is latency
// bound, see reference figures in docs/OPERATIONS.md). Calls block the
// calling thread: never call them from a nats.c callback or an io_context
// thread that must stay responsive (post the work elsewhere).
//
// Thread: every method is safe from any thread (nats.c locks internally).
// Owner: the process's main component; Subscriptions must be destroyed
// before their Connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "bus/connect.hpp"
#include "bus/handles.hpp"
#include "bus/message.hpp"
#include "bus/result.hpp"

namespace agency {

enum class ConnectMode {
  fail_fast,   // CLI: no server at the URL is an error at once
  keep_trying  // agents: wait for the server, reconnect forever
};

struct ConnectOptions {
  std::string name;  // connection name shown by the server (/connz)
  ConnectMode mode = ConnectMode::fail_fast;
  // Deliver every subscription's messages on one thread, in the order they
  // arrive (`agency watch`), and with one thread where there would be one
  // per subscription (an agent has about twenty). Otherwise each
  // subscription has its own thread and messages on different subjects may
  // be handled out of order. Handlers then must not block: a slow one holds
  // up the others (replies to requests still come on their own thread).
  bool ordered_delivery = false;
  // Replies to this connection's requests and fetches come to
  // <inbox_prefix>.<unique>; empty: _INBOX. An agent uses _INBOX.<agent-id>,
  // so that a server with per-agent permissions can keep every other client
  // from reading its replies (docs/STREAMS.md, "Permissions").
  std::string inbox_prefix;
  // Every write goes to the socket at once: a request's round trip is
  // ~0.2 ms instead of ~1 ms. Off, nats.c's flusher thread sends what
  // gathered meanwhile in one write, which suits many publishes in a row
  // whose answers are not waited for one by one (bus/js_batch.hpp).
  bool send_asap = true;
  // Told about disconnects and reconnects ("disconnected from ...",
  // "reconnected to ..."). Called on a library thread.
  std::function<void(std::string_view event)> on_event;
};

// Called on a nats.c thread for each message. Must not throw (the dispatch
// edge catches and logs anything that does) and should return quickly.
using MessageHandler = std::function<void(Incoming)>;

class Subscription {
 public:
  Subscription() = default;
  Subscription(Subscription&&) noexcept = default;
  Subscription& operator=(Subscription&&) noexcept = default;
  ~Subscription();

  // Stops delivery; pending callbacks may still run until the library
  // releases the handler (it is kept alive until then).
  void unsubscribe();
  [[nodiscard]] bool active() const { return sub_ != nullptr; }
  // Messages the client has received for it so far: queued, handed to the
  // handler, or dropped over the pending limit. Counted as they arrive,
  // before the handler runs, so a message that came in before a reply on
  // the same connection is counted once that reply is read.
  [[nodiscard]] std::int64_t received() const;

 private:
  friend class Connection;
  nats::SubscriptionPtr sub_;
};

struct PubAck {
  std::string stream;
  std::uint64_t sequence = 0;
  bool duplicate = false;  // same Nats-Msg-Id inside the duplicate window
};

class Connection {
 public:
  // What the connection's callbacks use. nats.c may call them after Close()
  // returns; the destructor frees it only once the closed callback (always
  // the last one) has run.
  struct CallbackState;

  static Result<std::unique_ptr<Connection>> open(const ConnectSettings& settings,
                                                  const ConnectOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  [[nodiscard]] natsConnection* raw() const { return nc_.get(); }
  [[nodiscard]] jsCtx* js() const { return js_.get(); }
  [[nodiscard]] const ConnectSettings& settings() const { return settings_; }
  // A fresh reply subject under this connection's inbox prefix.
  [[nodiscard]] std::string new_inbox() const;
  [[nodiscard]] bool connected() const;
  // How many times the connection was made again after a loss: whatever
  // was published meanwhile went unheard by its core subscriptions.
  [[nodiscard]] std::uint64_t reconnects() const;
  // URL of the server we are connected to, without credentials.
  [[nodiscard]] std::string connected_url() const;

  // Core publish.
  Result<void> publish(std::string_view subject, const Outgoing& message,
                       std::string_view reply = {});
  // Core request/reply.
  Result<Incoming> request(std::string_view subject, const Outgoing& message,
                           std::chrono::milliseconds timeout);
  // Async subscription; queue may be empty.
  Result<Subscription> subscribe(std::string_view subject, std::string_view queue,
                                 MessageHandler handler);
  // JetStream publish, waiting for the stream's ack. A non-empty msg_id sets
  // Nats-Msg-Id so that a republish inside the duplicate window is dropped.
  Result<PubAck> js_publish(std::string_view subject, const Outgoing& message,
                            std::string_view msg_id = {});
  Result<void> flush(std::chrono::milliseconds timeout);

 private:
  Connection() = default;
  ConnectSettings settings_;
  std::string inbox_prefix_ = "_INBOX";
  nats::ConnectionPtr nc_;
  nats::JsCtxPtr js_;
  CallbackState* callbacks_ = nullptr;
};

// Error from a nats.c status, with the library's last error text.
Error nats_error(natsStatus status, std::string_view doing);
// Same, for JetStream calls that also report a jsErrCode.
Error js_error(natsStatus status, jsErrCode code, std::string_view doing);

}  // namespace agency
