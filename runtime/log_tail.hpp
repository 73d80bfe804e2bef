// The last lines this process logged (every logger of make_logger writes
// them here too, up to kKeptLines), numbered, so `agency agent logs` can
// read an agent that runs on another machine over the bus
// (agency.tail.<agent-id>, the agent answers) and follow it.
//
// Thread: safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace agency {

inline constexpr std::size_t kKeptLines = 2000;

struct LogTail {
  std::vector<std::string> lines;  // oldest first, without their line ends
  std::uint64_t last = 0;          // the number of the last line (0: none yet)
};

// The lines after number `after` (0: from the oldest kept), at most `most`,
// the newest ones when there are more.
LogTail log_tail(std::uint64_t after, std::size_t most);

}  // namespace agency
