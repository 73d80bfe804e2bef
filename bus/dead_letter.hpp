// Dead letters: what a receiver could not process is kept on
// agency.dead.<role> (stream AGENCY_DEAD) with the reason, so nothing is
// lost silently and a person can see why (`agency dead`). A dead letter is
// bounded whatever came in: the payload is kept byte for byte up to
// `keep_bytes` (beyond that its first keep_bytes, its size and its SHA-256),
// at most 64 headers of at most 1 KiB each, and a reason of at most 4 KiB,
// so it always fits the server's max payload and can always be stored.
#pragma once

#include <cstddef>
#include <string_view>

#include "agency/v1/dead.pb.h"
#include "bus/connection.hpp"
#include "bus/message.hpp"
#include "bus/result.hpp"

namespace agency {

// What a dead letter keeps of a payload by default (limits.dead_letter_keep_bytes).
inline constexpr std::size_t kDeadLetterKeepBytes = 4096;

// Builds the DeadLetter for a received message (subject, headers, payload,
// delivery info when it came from a stream).
v1::DeadLetter make_dead_letter(const Incoming& message, std::string_view reason,
                                std::string_view role, std::string_view agent_id,
                                std::size_t keep_bytes = kDeadLetterKeepBytes);

// The same from the parts, for a message that is not an Incoming.
v1::DeadLetter make_dead_letter(std::string_view subject, const Headers& headers,
                                std::string_view payload, std::string_view reason,
                                std::string_view role, std::string_view agent_id,
                                std::size_t keep_bytes = kDeadLetterKeepBytes);

// Publishes it on agency.dead.<role>. A message from a stream gets the
// Nats-Msg-Id dead:<original subject>:<stream sequence>, so a crash between this and the
// original's ack does not file it twice.
Result<PubAck> publish_dead_letter(Connection& connection, const v1::DeadLetter& letter);

}  // namespace agency
