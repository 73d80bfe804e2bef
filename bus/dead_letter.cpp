#include "bus/dead_letter.hpp"

#include <google/protobuf/util/time_util.h>

#include <string>

#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/subjects.hpp"

namespace agency {

v1::DeadLetter make_dead_letter(const Incoming& message, std::string_view reason,
                                std::string_view role, std::string_view agent_id) {
  v1::DeadLetter letter;
  letter.set_original_subject(std::string(message.subject()));
  for (const auto& [k, v] : message.headers()) {
    auto* h = letter.add_headers();
    h->set_key(k);
    h->set_value(v);
  }
  letter.set_payload(std::string(message.data()));
  letter.set_reason(std::string(reason));
  letter.set_role(std::string(role));
  letter.set_agent_id(std::string(agent_id));
  if (auto d = message.delivery(); d) {
    letter.set_stream_sequence(d->stream_sequence);
    letter.set_deliveries(d->deliveries);
  }
  *letter.mutable_at() = agency::now_timestamp();
  return letter;
}

Result<PubAck> publish_dead_letter(Connection& connection, const v1::DeadLetter& letter) {
  std::string msg_id;
  if (letter.stream_sequence() != 0) {
    msg_id = "dead:" + letter.original_subject() + ":" + std::to_string(letter.stream_sequence());
  }
  std::string role = letter.role().empty() ? "unknown" : letter.role();
  return connection.js_publish(subjects::dead(role), codec::encode(letter), msg_id);
}

}  // namespace agency
