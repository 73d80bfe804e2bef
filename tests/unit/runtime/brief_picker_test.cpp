// Which queue an agent looks in next: human first, then from the highest
// priority down, with fair turns for lower work (runtime/brief_picker.hpp).
#include "runtime/brief_picker.hpp"

#include <doctest/doctest.h>

#include <cstddef>
#include <map>
#include <vector>

using agency::BriefPicker;

namespace {

constexpr std::size_t kHuman = 0;
constexpr std::size_t kInteractive = 1;
constexpr std::size_t kScheduled = 2;
constexpr std::size_t kBatch = 3;

using Order = std::vector<std::size_t>;

// Takes `n` briefs the way the inbox does: the first queue of the order
// that holds one (`holds`), counting what each queue gave.
std::map<std::size_t, int> take(BriefPicker& picker, const std::vector<bool>& holds, int n) {
  std::map<std::size_t, int> taken;
  for (int i = 0; i < n; ++i) {
    for (std::size_t level : picker.order()) {
      if (!holds.at(level)) {
        picker.empty(level);
        continue;
      }
      picker.took(level, true);
      ++taken[level];
      break;
    }
    for (std::size_t level = 0; level < holds.size(); ++level) {
      if (holds.at(level)) picker.may_hold(level);  // more keeps arriving
    }
  }
  return taken;
}

}  // namespace

TEST_CASE("brief picker: from the highest priority down, only queues that may hold a brief") {
  BriefPicker p;
  CHECK(p.order() == Order{kHuman, kInteractive, kScheduled, kBatch});
  p.empty(kHuman);
  p.empty(kInteractive);
  p.empty(kBatch);
  CHECK(p.order() == Order{kScheduled});
  p.took(kScheduled, false);
  CHECK(p.order().empty());
  CHECK_FALSE(p.any());
  p.may_hold(kBatch);
  p.may_hold(kHuman);
  CHECK(p.order() == Order{kHuman, kBatch});
  p.may_hold_all();
  CHECK(p.order().size() == BriefPicker::kLevels);
}

TEST_CASE("brief picker: with 200 batch briefs waiting, a human brief is taken next") {
  BriefPicker p;
  std::vector<bool> holds = {false, false, false, true};
  auto before = take(p, holds, 200);
  CHECK(before[kBatch] == 200);
  p.may_hold(kHuman);
  CHECK(p.order().front() == kHuman);
  // Also when a fair turn is due.
  p.empty(kHuman);
  p.may_hold_all();
  holds = {false, true, false, true};
  take(p, holds, BriefPicker::kFairAfter);
  CHECK(p.in_a_row() >= BriefPicker::kFairAfter);
  p.may_hold(kHuman);
  CHECK(p.order().front() == kHuman);
}

TEST_CASE("brief picker: lower work still moves while higher work keeps arriving") {
  BriefPicker p;
  // Interactive briefs never stop; scheduled and batch ones wait.
  auto taken = take(p, {false, true, true, true}, 100);
  CHECK(taken[kInteractive] == 80);  // kFairAfter of every kFairAfter + 1
  CHECK(taken[kScheduled] == 10);    // the fair turns go round the lower queues
  CHECK(taken[kBatch] == 10);

  // Only batch waits below: it gets every fair turn.
  BriefPicker q;
  auto two = take(q, {false, false, true, true}, 50);
  CHECK(two[kScheduled] == 40);
  CHECK(two[kBatch] == 10);
}

TEST_CASE("brief picker: human briefs are outside the count and always first") {
  BriefPicker p;
  auto taken = take(p, {true, true, false, true}, 30);
  CHECK(taken[kHuman] == 30);
  CHECK(p.in_a_row() == 0);
}

TEST_CASE("brief picker: nothing lower waiting means no fair turn") {
  BriefPicker p;
  auto taken = take(p, {false, true, false, false}, 20);
  CHECK(taken[kInteractive] == 20);
  CHECK(p.in_a_row() == 0);
  // A fair turn that finds the lower queue empty falls back to the order.
  BriefPicker q;
  take(q, {false, true, false, true}, BriefPicker::kFairAfter);
  REQUIRE(q.in_a_row() == BriefPicker::kFairAfter);
  q.may_hold(kHuman);
  q.empty(kScheduled);
  CHECK(q.order() == Order{kHuman, kBatch, kInteractive});
  q.empty(kHuman);
  q.empty(kBatch);
  CHECK(q.order() == Order{kInteractive});
}
