// Ids people read and type: a short prefix, then a time-sortable base32
// suffix (milliseconds in 10 characters, then 30 random bits in 6):
// t-01JD3Q8ZK4X7M2PA.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace agency::ids {

std::string make(std::string_view prefix);  // "<prefix>-<16 chars>"
inline std::string task() { return make("t"); }
inline std::string brief() { return make("b"); }
inline std::string question() { return make("q"); }

// The task id of a brief that came without one, derived from where the
// stream stored it, so a redelivery of the same message names the same task.
std::string task_for_message(std::int64_t stream_timestamp_ns, std::uint64_t stream_sequence);

// This machine's host name (for agent ids and AgentStatus.host).
std::string host_name();

}  // namespace agency::ids
