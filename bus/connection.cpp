#include "bus/connection.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bus/nkeys.hpp"

namespace agency {
namespace {

std::string last_error_text(natsStatus status) {
  natsStatus last = NATS_OK;
  const char* text = nats_GetLastError(&last);
  if (text != nullptr && *text != '\0') return text;
  return natsStatus_GetText(status);
}

errc code_for(natsStatus status) {
  switch (status) {
    case NATS_TIMEOUT:
      return errc::timeout;
    case NATS_NO_RESPONDERS:
      return errc::no_responders;
    case NATS_NOT_FOUND:
      return errc::not_found;
    case NATS_NO_SERVER:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_STALE_CONNECTION:
      return errc::not_connected;
    case NATS_NOT_PERMITTED:
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
      return errc::bad_payload;
    default:
      return errc::internal;
  }
}

// Reconnect delay: doubling from 250 ms to 8 s per full pass over the server
// list, with up to 50% random jitter so a fleet does not reconnect in step.
int64_t reconnect_delay(natsConnection* /*nc*/, int attempts, void* /*closure*/) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  int64_t base = 250;
  for (int i = 1; i < attempts && base < 8000; ++i) base *= 2;
  if (base > 8000) base = 8000;
  std::uniform_int_distribution<int64_t> jitter(0, base / 2);
  return base + jitter(rng);
}

}  // namespace

struct Connection::CallbackState {
  ConnectOptions options;
  std::mutex mu;
  std::condition_variable cv;
  bool closed = false;
  std::atomic<std::uint64_t> reconnects{0};
};

namespace {

using CallbackState = Connection::CallbackState;

void emit(void* closure, const std::string& event) {
  auto* state = static_cast<CallbackState*>(closure);
  if (!state->options.on_event) return;
  try {
    state->options.on_event(event);
  } catch (...) {
    // Nothing may escape into nats.c.
  }
}

void on_disconnected(natsConnection* /*nc*/, void* closure) {
  emit(closure, "disconnected; reconnecting");
}

void on_reconnected(natsConnection* nc, void* closure) {
  ++static_cast<CallbackState*>(closure)->reconnects;
  std::array<char, 256> url{};
  natsConnection_GetConnectedUrl(nc, url.data(), url.size());
  emit(closure, "reconnected to " + redact_url(url.data()));
}

void on_async_error(natsConnection* /*nc*/, natsSubscription* /*sub*/, natsStatus err,
                    void* closure) {
  emit(closure, std::string("asynchronous error: ") + natsStatus_GetText(err));
}

// The last callback nats.c makes for a connection: after it, nothing uses
// the state, so it is freed here (or by the destructor if this never came).
void on_closed(natsConnection* /*nc*/, void* closure) {
  auto* state = static_cast<CallbackState*>(closure);
  std::lock_guard lock(state->mu);
  state->closed = true;
  state->cv.notify_all();
}

struct HandlerBox {
  MessageHandler handler;
  std::string subject;
};

void deliver(natsConnection* /*nc*/, natsSubscription* /*sub*/, natsMsg* msg, void* closure) {
  auto* box = static_cast<HandlerBox*>(closure);
  Incoming incoming{nats::MsgPtr(msg)};
  // The dispatch edge: nothing may escape into nats.c.
  try {
    box->handler(std::move(incoming));
  } catch (const std::exception& e) {
    spdlog::error("message handler failed subject={} error={}", box->subject, e.what());
  } catch (...) {
    spdlog::error("message handler failed subject={} error=unknown", box->subject);
  }
}

void release_handler(void* closure) { delete static_cast<HandlerBox*>(closure); }

Result<nats::MsgPtr> make_msg(std::string_view subject, std::string_view reply,
                              const Outgoing& message) {
  natsMsg* raw = nullptr;
  std::string subj(subject);
  std::string rep(reply);
  natsStatus s = natsMsg_Create(&raw, subj.c_str(), rep.empty() ? nullptr : rep.c_str(),
                                message.data.data(), static_cast<int>(message.data.size()));
  if (s != NATS_OK) return nats_error(s, "creating a message for " + subj);
  nats::MsgPtr msg(raw);
  for (const auto& [k, v] : message.headers) {
    s = natsMsgHeader_Add(msg.get(), k.c_str(), v.c_str());
    if (s != NATS_OK) return nats_error(s, "setting header " + k);
  }
  return msg;
}

}  // namespace

Error nats_error(natsStatus status, std::string_view doing) {
  return make_error(code_for(status), std::string(doing) + ": " + last_error_text(status));
}

Error js_error(natsStatus status, jsErrCode code, std::string_view doing) {
  if (code == 0) return nats_error(status, doing);
  errc ec = errc::jetstream;
  if (code == JSStreamNotFoundErr || code == JSConsumerNotFoundErr) ec = errc::not_found;
  if (code == JSStreamWrongLastSequenceErr) ec = errc::wrong_revision;
  return make_error(ec, std::string(doing) + ": " + last_error_text(status) + " (JetStream error " +
                            std::to_string(static_cast<int>(code)) + ")");
}

Subscription::~Subscription() { unsubscribe(); }

std::int64_t Subscription::received() const {
  if (sub_ == nullptr) return 0;
  int pending = 0;
  std::int64_t delivered = 0;
  std::int64_t dropped = 0;
  // One lock in the library: a message moving from the queue to the handler
  // is counted once.
  if (natsSubscription_GetStats(sub_.get(), &pending, nullptr, nullptr, nullptr, &delivered,
                                &dropped) != NATS_OK) {
    return 0;
  }
  return pending + delivered + dropped;
}

namespace {
// How long a JetStream publish waits out a stream without a leader.
constexpr std::chrono::milliseconds kJsPublishPatience{15000};
}  // namespace

std::string Connection::new_inbox() const {
  natsInbox* raw = nullptr;
  std::string unique;
  if (natsInbox_Create(&raw) == NATS_OK) {
    // "_INBOX.<nuid>": the nuid is what makes it unique.
    std::string_view inbox(raw);
    unique = std::string(inbox.substr(inbox.rfind('.') + 1));
    natsInbox_Destroy(raw);
  }
  return inbox_prefix_ + "." + unique;
}

void Subscription::unsubscribe() {
  if (sub_ != nullptr) {
    natsSubscription_Unsubscribe(sub_.get());
    sub_.reset();
  }
}

namespace {
// Connections tried again after an NKey connection was refused (see open).
constexpr int kNonceAttempts = 3;
}  // namespace

Result<std::unique_ptr<Connection>> Connection::open(const ConnectSettings& settings,
                                                     const ConnectOptions& options) {
  std::unique_ptr<Connection> c(new Connection());
  c->settings_ = settings;
  if (!options.inbox_prefix.empty()) c->inbox_prefix_ = options.inbox_prefix;
  c->callbacks_ = new CallbackState{options, {}, {}, false};

  natsOptions* raw_opts = nullptr;
  natsStatus s = natsOptions_Create(&raw_opts);
  if (s != NATS_OK) return nats_error(s, "creating connection options");
  nats::OptionsPtr opts(raw_opts);

  std::vector<const char*> servers;
  servers.reserve(settings.servers.size());
  for (const auto& url : settings.servers) servers.push_back(url.c_str());
  auto check = [&](natsStatus st, std::string_view what) -> Result<void> {
    if (st != NATS_OK) {
      return make_error(errc::config, std::string(what) + ": " + last_error_text(st));
    }
    return {};
  };
  if (auto r = check(
          natsOptions_SetServers(opts.get(), servers.data(), static_cast<int>(servers.size())),
          "server list " + settings.display_url());
      !r) {
    return r.error();
  }
  if (!options.name.empty()) natsOptions_SetName(opts.get(), options.name.c_str());
  natsOptions_SetSendAsap(opts.get(), options.send_asap);
  natsOptions_SetAllowReconnect(opts.get(), true);
  natsOptions_SetMaxReconnect(opts.get(), -1);  // forever
  natsOptions_SetReconnectWait(opts.get(), 250);
  natsOptions_SetReconnectJitter(opts.get(), 100, 1000);
  natsOptions_SetCustomReconnectDelay(opts.get(), reconnect_delay, nullptr);
  natsOptions_SetTimeout(opts.get(), 2000);
  natsOptions_SetDisconnectedCB(opts.get(), on_disconnected, c->callbacks_);
  natsOptions_SetReconnectedCB(opts.get(), on_reconnected, c->callbacks_);
  natsOptions_SetErrorHandler(opts.get(), on_async_error, c->callbacks_);
  natsOptions_SetClosedCB(opts.get(), on_closed, c->callbacks_);
  if (!options.inbox_prefix.empty()) {
    if (auto r = check(natsOptions_SetCustomInboxPrefix(opts.get(), options.inbox_prefix.c_str()),
                       "inbox prefix " + options.inbox_prefix);
        !r) {
      return r.error();
    }
  }
  if (options.ordered_delivery) {
    // nats.c's global delivery pool has one thread unless resized.
    natsOptions_UseGlobalMessageDelivery(opts.get(), true);
  }
  if (options.mode == ConnectMode::keep_trying) {
    natsOptions_SetRetryOnFailedConnect(opts.get(), true, nullptr, nullptr);
  }

  if (!settings.creds_file.empty()) {
    if (auto r = check(natsOptions_SetUserCredentialsFromFiles(
                           opts.get(), settings.creds_file.c_str(), nullptr),
                       "credentials file " + settings.creds_file + " (NATS_CREDS)");
        !r) {
      return r.error();
    }
  }
  if (!settings.nkey_seed_file.empty()) {
    // nats.c signs with the seed but sends the public key it is given, and
    // with none it quietly sends no NKey at all.
    auto seed = nkeys::read_seed(settings.nkey_seed_file);
    if (!seed) return make_error(errc::config, seed.error().message + " (NATS_NKEY)");
    auto public_key = nkeys::public_key_of(*seed);
    if (!public_key) {
      return make_error(errc::config, "NKey seed file " + settings.nkey_seed_file +
                                          " (NATS_NKEY): " + public_key.error().message);
    }
    if (auto r = check(natsOptions_SetNKeyFromSeed(opts.get(), public_key->c_str(),
                                                   settings.nkey_seed_file.c_str()),
                       "NKey seed file " + settings.nkey_seed_file + " (NATS_NKEY)");
        !r) {
      return r.error();
    }
  }
  if (!settings.user.empty()) {
    natsOptions_SetUserInfo(opts.get(), settings.user.c_str(), settings.password.c_str());
  }
  if (!settings.token.empty()) natsOptions_SetToken(opts.get(), settings.token.c_str());
  if (!settings.tls_ca.empty() || !settings.tls_cert.empty()) {
    natsOptions_SetSecure(opts.get(), true);
    if (!settings.tls_ca.empty()) {
      if (auto r = check(natsOptions_LoadCATrustedCertificates(opts.get(), settings.tls_ca.c_str()),
                         "CA certificate " + settings.tls_ca + " (NATS_CA)");
          !r) {
        return r.error();
      }
    }
    if (!settings.tls_cert.empty()) {
      if (auto r = check(natsOptions_LoadCertificatesChain(opts.get(), settings.tls_cert.c_str(),
                                                           settings.tls_key.c_str()),
                         "client certificate " + settings.tls_cert + " (NATS_CERT/NATS_KEY)");
          !r) {
        return r.error();
      }
    }
  }

  natsConnection* raw_nc = nullptr;
  s = natsConnection_Connect(&raw_nc, opts.get());
  // nats.c 3.4.1 sends no signature when the signature of the server's
  // nonce starts with a zero byte (its base64 encoder takes that for an
  // empty input), and the server refuses the connection: one in 256 NKey
  // connections (nats.c fixed it in 3.8.0, nats-io/nats.c#705). The next
  // connection has another nonce.
  for (int again = 0; s == NATS_CONNECTION_AUTH_FAILED && !settings.nkey_seed_file.empty() &&
                      again < kNonceAttempts;
       ++again) {
    if (raw_nc != nullptr) natsConnection_Destroy(raw_nc);
    raw_nc = nullptr;
    s = natsConnection_Connect(&raw_nc, opts.get());
  }
  if (s != NATS_OK) {
    if (raw_nc != nullptr) natsConnection_Destroy(raw_nc);
    std::string where = settings.display_url() + " (" + settings.origin + ")";
    if (s == NATS_NO_SERVER || s == NATS_TIMEOUT || s == NATS_IO_ERROR) {
      return make_error(
          errc::connect,
          "no NATS server answers at " + where +
              ". Start one with `agency up` (embedded server, JetStream on), or "
              "`nats-server -js`, or point NATS_URL (or --nats) at a running server.");
    }
    return make_error(errc::connect, "cannot connect to " + where + ": " + last_error_text(s));
  }
  c->nc_.reset(raw_nc);

  jsOptions js_opts;
  jsOptions_Init(&js_opts);
  js_opts.Wait = 5000;
  jsCtx* raw_js = nullptr;
  s = natsConnection_JetStream(&raw_js, c->nc_.get(), &js_opts);
  if (s != NATS_OK) return nats_error(s, "opening the JetStream context");
  c->js_.reset(raw_js);
  return c;
}

Connection::~Connection() {
  js_.reset();
  bool closed = nc_ == nullptr;  // never connected: no callback will come
  if (nc_ != nullptr) {
    natsConnection_Close(nc_.get());
    std::unique_lock lock(callbacks_->mu);
    closed =
        callbacks_->cv.wait_for(lock, std::chrono::seconds(5), [&] { return callbacks_->closed; });
  }
  nc_.reset();
  // If nats.c never said it closed, a late callback could still come:
  // keep the state (a few bytes) rather than risk it.
  if (closed) delete callbacks_;
}

bool Connection::connected() const {
  return nc_ != nullptr && natsConnection_Status(nc_.get()) == NATS_CONN_STATUS_CONNECTED;
}

std::uint64_t Connection::reconnects() const {
  return callbacks_ == nullptr ? 0 : callbacks_->reconnects.load();
}

std::string Connection::connected_url() const {
  std::array<char, 512> url{};
  if (natsConnection_GetConnectedUrl(nc_.get(), url.data(), url.size()) != NATS_OK) return {};
  return redact_url(url.data());
}

Result<void> Connection::publish(std::string_view subject, const Outgoing& message,
                                 std::string_view reply) {
  auto msg = make_msg(subject, reply, message);
  if (!msg) return msg.error();
  natsStatus s = natsConnection_PublishMsg(nc_.get(), msg->get());
  if (s != NATS_OK) return nats_error(s, "publishing on " + std::string(subject));
  return {};
}

Result<Incoming> Connection::request(std::string_view subject, const Outgoing& message,
                                     std::chrono::milliseconds timeout) {
  auto msg = make_msg(subject, {}, message);
  if (!msg) return msg.error();
  natsMsg* reply = nullptr;
  natsStatus s = natsConnection_RequestMsg(&reply, nc_.get(), msg->get(), timeout.count());
  if (s != NATS_OK) {
    if (s == NATS_NO_RESPONDERS) {
      return make_error(errc::no_responders, "nobody serves " + std::string(subject));
    }
    if (s == NATS_TIMEOUT) {
      return make_error(errc::timeout, "no answer on " + std::string(subject) + " within " +
                                           std::to_string(timeout.count()) + " ms");
    }
    return nats_error(s, "request on " + std::string(subject));
  }
  return Incoming(nats::MsgPtr(reply));
}

Result<Subscription> Connection::subscribe(std::string_view subject, std::string_view queue,
                                           MessageHandler handler) {
  auto* box = new HandlerBox{std::move(handler), std::string(subject)};
  std::string subj(subject);
  std::string q(queue);
  natsSubscription* raw = nullptr;
  natsStatus s = q.empty() ? natsConnection_Subscribe(&raw, nc_.get(), subj.c_str(), deliver, box)
                           : natsConnection_QueueSubscribe(&raw, nc_.get(), subj.c_str(), q.c_str(),
                                                           deliver, box);
  if (s != NATS_OK) {
    delete box;
    return nats_error(s, "subscribing to " + subj);
  }
  // The box lives until the library says no callback can run any more.
  natsSubscription_SetOnCompleteCB(raw, release_handler, box);
  // Slow consumers drop rather than grow without bound; 64k messages is far
  // beyond any agent's normal backlog.
  natsSubscription_SetPendingLimits(raw, 65536, 64 * 1024 * 1024);
  Subscription sub;
  sub.sub_.reset(raw);
  return sub;
}

Result<PubAck> Connection::js_publish(std::string_view subject, const Outgoing& message,
                                      std::string_view msg_id) {
  auto msg = make_msg(subject, {}, message);
  if (!msg) return msg.error();
  jsPubOptions opts;
  jsPubOptions_Init(&opts);
  std::string id(msg_id);
  if (!id.empty()) opts.MsgId = id.c_str();
  jsPubAck* raw_ack = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_PublishMsg(&raw_ack, js_.get(), msg->get(), &opts, &code);
  // In a cluster, a stream whose leader is being elected (a node went
  // away) answers nobody for a moment: nothing was stored, so it is tried
  // again. With a message id a publish whose ack was lost is stored once
  // (the duplicate window), so a time-out is tried again too.
  const auto give_up = std::chrono::steady_clock::now() + kJsPublishPatience;
  auto pause = std::chrono::milliseconds(100);
  // On a single server no responder means no stream: said at once.
  const bool cluster = settings_.servers.size() > 1;
  auto worth_again = [&] {
    if (cluster &&
        (s == NATS_NO_RESPONDERS || code == JSClusterNotAvailErr || code == JSStreamNotFoundErr)) {
      return true;
    }
    return !id.empty() && s == NATS_TIMEOUT;
  };
  while (worth_again() && std::chrono::steady_clock::now() + pause < give_up) {
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(1000));
    auto again = make_msg(subject, {}, message);
    if (!again) return again.error();
    code = static_cast<jsErrCode>(0);
    s = js_PublishMsg(&raw_ack, js_.get(), again->get(), &opts, &code);
  }
  if (s != NATS_OK) {
    if (s == NATS_NO_RESPONDERS) {
      return make_error(errc::not_found, "no stream captures " + std::string(subject) +
                                             ": run `agency init` to provision the streams");
    }
    return js_error(s, code, "publishing to JetStream on " + std::string(subject));
  }
  nats::PubAckPtr ack(raw_ack);
  PubAck out;
  out.stream = ack->Stream != nullptr ? ack->Stream : "";
  out.sequence = ack->Sequence;
  out.duplicate = ack->Duplicate;
  return out;
}

Result<void> Connection::flush(std::chrono::milliseconds timeout) {
  natsStatus s = natsConnection_FlushTimeout(nc_.get(), timeout.count());
  if (s != NATS_OK) return nats_error(s, "flushing the connection");
  return {};
}

}  // namespace agency
