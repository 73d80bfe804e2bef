// Which of a role's brief queues an agent looks in next: one queue per
// priority (vocabulary::kPriorities, highest first: human, interactive,
// scheduled, batch; docs/STREAMS.md, "Priorities").
//
// The rule: human first, always. Then, from the highest priority down, every
// queue that may hold a brief. So that lower work still moves while higher
// work keeps arriving, an agent that has taken kFairAfter briefs in a row
// while a lower queue (below human) may hold one looks there first next
// time; such fair turns go round the lower queues in turn. Under a flood of
// interactive briefs, scheduled and batch work therefore still get one of
// every kFairAfter + 1 briefs an agent takes.
//
// "May hold" is what the picker knows without asking the server: a queue
// may hold a brief after a publish or a hand-back was announced on it,
// after a brief was taken from it with more behind it, and after a
// periodic recheck; it holds none once a look found it empty.
//
// Plain values, no bus: tested without a server.
// Thread: one thread at a time (the inbox's).
#pragma once

#include <array>
#include <cstddef>
#include <vector>

#include "bus/vocabulary.hpp"

namespace agency {

class BriefPicker {
 public:
  static constexpr std::size_t kLevels = vocabulary::kPriorities.size();
  static constexpr int kFairAfter = 4;

  // A brief was announced on, or handed back to, the queue of `level`.
  void may_hold(std::size_t level) { maybe_.at(level) = true; }
  void may_hold_all() { maybe_.fill(true); }
  // A look at the queue of `level` found nothing.
  void empty(std::size_t level) { maybe_.at(level) = false; }
  // A brief was taken from the queue of `level`; `more`: others wait behind it.
  void took(std::size_t level, bool more);

  // The queues to look in, in this order (those that may hold a brief).
  [[nodiscard]] std::vector<std::size_t> order() const;
  [[nodiscard]] bool any() const;
  // Briefs taken in a row while a lower queue may have held one.
  [[nodiscard]] int in_a_row() const { return in_a_row_; }

 private:
  std::array<bool, kLevels> maybe_ = {true, true, true, true};
  int in_a_row_ = 0;
  std::size_t fair_next_ = 2;  // the lower queue whose fair turn is next
};

}  // namespace agency
