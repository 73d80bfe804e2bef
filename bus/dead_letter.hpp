// Dead letters: what a receiver could not process is kept on
// agency.dead.<role> (stream AGENCY_DEAD) byte for byte, with the reason,
// so nothing is lost silently and a person can see why (`agency dead`).
#pragma once

#include <string_view>

#include "agency/v1/dead.pb.h"
#include "bus/connection.hpp"
#include "bus/message.hpp"
#include "bus/result.hpp"

namespace agency {

// Builds the DeadLetter for a received message (subject, headers, payload,
// delivery info when it came from a stream).
v1::DeadLetter make_dead_letter(const Incoming& message, std::string_view reason,
                                std::string_view role, std::string_view agent_id);

// Publishes it on agency.dead.<role>. A message from a stream gets the
// Nats-Msg-Id dead:<stream>:<sequence>, so a crash between this and the
// original's ack does not file it twice.
Result<PubAck> publish_dead_letter(Connection& connection, const v1::DeadLetter& letter);

}  // namespace agency
