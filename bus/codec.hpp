// The codec: how agency messages look on the wire (docs/ARCHITECTURE.md).
//
// Agents publish protobuf binary with headers
//   Agency-Type: agency.v1.<Message>
//   Content-Type: application/protobuf
// Receivers also accept the protobuf JSON mapping and, for messages with an
// obvious text field (a Brief's objective, a Question's text...), plain
// UTF-8 text. Anything else is an Error{errc::bad_payload} whose message
// says why, in words a person understands. Decoding never throws.
//
// Thread: all functions are reentrant.
#pragma once

#include <google/protobuf/message.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "bus/message.hpp"
#include "bus/result.hpp"

namespace agency::codec {

inline constexpr std::string_view kTypeHeader = "Agency-Type";
// The protocol version a message is written in (docs/PROTOCOL.md,
// "Versioning"). Every message agency publishes carries it; a receiver
// refuses one of another version, and reads one without it (a person's
// `nats pub`) as its own.
inline constexpr std::string_view kProtocolHeader = "Agency-Protocol";
inline constexpr std::uint32_t kProtocolVersion = 1;
inline constexpr std::string_view kContentTypeHeader = "Content-Type";
inline constexpr std::string_view kProtobufContentType = "application/protobuf";
inline constexpr std::string_view kJsonContentType = "application/json";
inline constexpr std::string_view kTextContentType = "text/plain";
// Largest payload any receiver accepts (the server's default max_payload).
inline constexpr std::size_t kMaxPayload = 1024 * 1024;

// Protobuf binary plus the three headers.
Outgoing encode(const google::protobuf::Message& message);

// The protobuf JSON mapping (lowerCamelCase names), on one line.
std::string to_json(const google::protobuf::Message& message);
// Indented, for people.
std::string to_pretty_json(const google::protobuf::Message& message);

// Decodes payload into `out` (cleared first). The format is chosen by the
// Agency-Type / Content-Type headers when present, else sniffed: a JSON
// object, then protobuf binary, then plain text where `out` has a text field.
// Checks the size limit, UTF-8 validity and the message's own rules
// (see validate()).
Result<void> decode_into(google::protobuf::Message& out, std::string_view payload,
                         const Headers& headers = {});

template <class T>
Result<T> decode(std::string_view payload, const Headers& headers = {}) {
  T out;
  if (auto r = decode_into(out, payload, headers); !r) return r.error();
  return out;
}

// The field plain text lands in, or nullptr for messages without one.
const google::protobuf::FieldDescriptor* text_field(const google::protobuf::Descriptor& type);

// Message-specific rules beyond the schema: a Brief needs an objective or a
// task id; stage, state, priority and control command must be known names.
Result<void> validate(const google::protobuf::Message& message);

// A new empty message of a full type name ("agency.v1.Brief"), or nullptr
// when it is not one of ours.
std::unique_ptr<google::protobuf::Message> new_message(std::string_view full_name);

}  // namespace agency::codec
