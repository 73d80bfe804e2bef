#include "bus/dead_letter.hpp"

#include <google/protobuf/util/time_util.h>

#include <string>

#include "bus/bounds.hpp"
#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/subjects.hpp"

namespace agency {
namespace {

constexpr std::size_t kMostHeaders = 64;
constexpr std::size_t kMostHeaderBytes = 1024;
constexpr std::size_t kMostReasonBytes = 4096;
constexpr std::size_t kMostSubjectBytes = 1024;
constexpr std::size_t kMostNameBytes = 256;

// Text from outside in a proto3 string field: valid UTF-8, at most `max`
// bytes (the cut marker included).
std::string field_text(std::string_view s, std::size_t max) {
  std::string out = bounds::valid_utf8(bounds::utf8_prefix(s, max + 3));
  bounds::cut(out, max);
  return out;
}

}  // namespace

v1::DeadLetter make_dead_letter(std::string_view subject, const Headers& headers,
                                std::string_view payload, std::string_view reason,
                                std::string_view role, std::string_view agent_id,
                                std::size_t keep_bytes) {
  v1::DeadLetter letter;
  letter.set_original_subject(field_text(subject, kMostSubjectBytes));
  for (const auto& [k, v] : headers) {
    if (static_cast<std::size_t>(letter.headers_size()) == kMostHeaders) {
      letter.set_headers_cut(true);
      break;
    }
    if (k.size() > kMostHeaderBytes || v.size() > kMostHeaderBytes) letter.set_headers_cut(true);
    auto* h = letter.add_headers();
    h->set_key(field_text(k, kMostHeaderBytes));
    h->set_value(field_text(v, kMostHeaderBytes));
  }
  letter.set_payload_size(payload.size());
  letter.set_payload_sha256(bounds::sha256_hex(payload));
  if (payload.size() > keep_bytes) {
    letter.set_payload(std::string(payload.substr(0, keep_bytes)));
    letter.set_payload_cut(true);
  } else {
    letter.set_payload(std::string(payload));
  }
  letter.set_reason(field_text(reason, kMostReasonBytes));
  letter.set_role(field_text(role, kMostNameBytes));
  letter.set_agent_id(field_text(agent_id, kMostNameBytes));
  *letter.mutable_at() = agency::now_timestamp();
  return letter;
}

v1::DeadLetter make_dead_letter(const Incoming& message, std::string_view reason,
                                std::string_view role, std::string_view agent_id,
                                std::size_t keep_bytes) {
  v1::DeadLetter letter = make_dead_letter(message.subject(), message.headers(), message.data(),
                                           reason, role, agent_id, keep_bytes);
  if (auto d = message.delivery(); d) {
    letter.set_stream_sequence(d->stream_sequence);
    letter.set_deliveries(d->deliveries);
  }
  return letter;
}

Result<PubAck> publish_dead_letter(Connection& connection, const v1::DeadLetter& letter) {
  std::string msg_id;
  if (letter.stream_sequence() != 0) {
    msg_id = "dead:" + letter.original_subject() + ":" + std::to_string(letter.stream_sequence());
  }
  // The role names the subject: one that is not a subject token (a hostile
  // publisher's) is filed under "unknown" rather than failing the publish.
  std::string role = subjects::is_valid_token(letter.role()) ? letter.role() : "unknown";
  return connection.js_publish(subjects::dead(role), codec::encode(letter), msg_id);
}

}  // namespace agency
