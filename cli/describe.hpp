// One readable line for any message agency sees: what `agency watch` prints
// and what an operator greps for. Decoding never throws; a payload that is not
// ours, or that is broken, still gets a line that says so.
//
// Thread: all functions are reentrant.
#pragma once

#include <google/protobuf/message.h>

#include <memory>
#include <string>
#include <string_view>

#include "bus/message.hpp"

namespace agency::cli {

// A message decoded as far as it goes.
struct Decoded {
  // Full type name ("agency.v1.Brief"), from the Agency-Type header or the
  // subject; empty when the message is not one of ours.
  std::string type;
  // The decoded message; null when it is not ours, could not be decoded, or
  // is a KV delete marker.
  std::unique_ptr<google::protobuf::Message> message;
  // Why it could not be decoded; empty otherwise.
  std::string error;
  // "DEL" or "PURGE" for a KV delete marker (header KV-Operation), else empty.
  std::string kv_operation;
};

// Chooses the type by the Agency-Type header, else by the subject (agency.*
// subjects and the agency KV buckets), and decodes the payload with the codec.
Decoded decode_any(std::string_view subject, const Headers& headers, std::string_view payload);

// The line for a decoded message, without the subject: "Brief task=t-1 ...".
std::string summarize(const google::protobuf::Message& message);

// One line, no newline, long texts elided with "…":
//   Brief task=t-123 stage=ready-for-prep project=demo prio=batch "Add rate limiting…"
//   undecodable (<reason>): <first bytes>
//   12 bytes: hello world!        (a subject that is not agency's)
std::string describe(std::string_view subject, const Headers& headers, std::string_view payload);

// Text made fit for one line: whitespace runs become one space, other control
// characters and bytes of invalid UTF-8 are escaped as text::terminal_safe
// does ("\x1b", "\u009b"), and it is cut after `max_chars` characters with
// "…".
std::string one_line(std::string_view text, std::size_t max_chars = 100);

// True when the bytes are valid UTF-8.
bool is_utf8(std::string_view bytes);

// A short preview of raw bytes: the text when they are printable UTF-8,
// else hex ("hex 0a ff 00 ...").
std::string preview(std::string_view bytes, std::size_t max_bytes = 60);

}  // namespace agency::cli
