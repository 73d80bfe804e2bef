#include "bus/message.hpp"

#include <strings.h>

#include <string>

#include "bus/connection.hpp"
#include "bus/consumer.hpp"

namespace agency {

std::optional<std::string> find_header(const Headers& headers, std::string_view key) {
  for (const auto& [k, v] : headers) {
    if (k.size() == key.size() && ::strncasecmp(k.data(), key.data(), key.size()) == 0) return v;
  }
  return std::nullopt;
}

Incoming::Incoming(nats::MsgPtr msg) : msg_(std::move(msg)) {}

std::string_view Incoming::subject() const {
  const char* s = natsMsg_GetSubject(msg_.get());
  return s != nullptr ? std::string_view(s) : std::string_view();
}

std::string_view Incoming::reply() const {
  const char* s = natsMsg_GetReply(msg_.get());
  return s != nullptr ? std::string_view(s) : std::string_view();
}

std::string_view Incoming::data() const {
  const char* d = natsMsg_GetData(msg_.get());
  int n = natsMsg_GetDataLength(msg_.get());
  return d != nullptr && n > 0 ? std::string_view(d, static_cast<std::size_t>(n))
                               : std::string_view();
}

Headers Incoming::headers() const {
  Headers out;
  const char** keys = nullptr;
  int key_count = 0;
  if (natsMsgHeader_Keys(msg_.get(), &keys, &key_count) != NATS_OK) return out;
  for (int i = 0; i < key_count; ++i) {
    const char** values = nullptr;
    int value_count = 0;
    if (natsMsgHeader_Values(msg_.get(), keys[i], &values, &value_count) == NATS_OK) {
      for (int j = 0; j < value_count; ++j) out.emplace_back(keys[i], values[j]);
      free(static_cast<void*>(values));  // NOLINT: nats.c hands out malloc'ed arrays
    }
  }
  free(static_cast<void*>(keys));  // NOLINT
  return out;
}

std::optional<std::string> Incoming::header(std::string_view key) const {
  const char* value = nullptr;
  std::string k(key);
  if (natsMsgHeader_Get(msg_.get(), k.c_str(), &value) != NATS_OK || value == nullptr) {
    return std::nullopt;
  }
  return std::string(value);
}

Result<Delivery> Incoming::delivery() const {
  jsMsgMetaData* raw = nullptr;
  natsStatus s = natsMsg_GetMetaData(&raw, msg_.get());
  if (s != NATS_OK) return nats_error(s, "reading the JetStream metadata of a message");
  nats::MsgMetaDataPtr meta(raw);
  Delivery d;
  d.stream = meta->Stream != nullptr ? meta->Stream : "";
  d.consumer = meta->Consumer != nullptr ? meta->Consumer : "";
  d.stream_sequence = meta->Sequence.Stream;
  d.deliveries = meta->NumDelivered;
  d.timestamp_ns = meta->Timestamp;
  d.pending = meta->NumPending;
  return d;
}

Result<void> Incoming::ack() {
  settling(Settlement::ack);
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = natsMsg_AckSync(msg_.get(), nullptr, &code);
  if (s != NATS_OK) return js_error(s, code, "acknowledging a message");
  return {};
}

Result<void> Incoming::nak(std::int64_t delay_ms) {
  settling(Settlement::nak);
  natsStatus s = delay_ms > 0 ? natsMsg_NakWithDelay(msg_.get(), delay_ms, nullptr)
                              : natsMsg_Nak(msg_.get(), nullptr);
  if (s != NATS_OK) return nats_error(s, "handing a message back (nak)");
  return {};
}

Result<void> Incoming::hand_back(Connection& via) {
  settling(Settlement::nak);
  return agency::hand_back(via, reply());
}

Result<void> Incoming::in_progress() {
  natsStatus s = natsMsg_InProgress(msg_.get(), nullptr);
  if (s != NATS_OK) return nats_error(s, "extending a message's ack deadline");
  return {};
}

Result<void> Incoming::term() {
  settling(Settlement::term);
  natsStatus s = natsMsg_Term(msg_.get(), nullptr);
  if (s != NATS_OK) return nats_error(s, "terminating a message");
  return {};
}

}  // namespace agency
