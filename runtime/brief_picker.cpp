#include "runtime/brief_picker.hpp"

#include <algorithm>

namespace agency {

void BriefPicker::took(std::size_t level, bool more) {
  bool higher = false;  // below human: a fair turn passes over these
  for (std::size_t l = 1; l < level; ++l) higher = higher || maybe_.at(l);
  maybe_.at(level) = more;
  if (level == 0) return;  // human work is outside the count
  if (higher) {
    in_a_row_ = 0;
    fair_next_ = level + 1;
    return;
  }
  bool lower = false;
  for (std::size_t l = level + 1; l < kLevels; ++l) lower = lower || maybe_.at(l);
  in_a_row_ = lower ? in_a_row_ + 1 : 0;
}

bool BriefPicker::any() const {
  return std::any_of(maybe_.begin(), maybe_.end(), [](bool b) { return b; });
}

std::vector<std::size_t> BriefPicker::order() const {
  std::vector<std::size_t> out;
  if (maybe_[0]) out.push_back(0);
  if (in_a_row_ >= kFairAfter) {
    std::size_t top = 1;
    while (top < kLevels && !maybe_.at(top)) ++top;
    std::size_t fair = kLevels;
    for (std::size_t l = top + 1; l < kLevels; ++l) {
      if (!maybe_.at(l)) continue;
      if (fair == kLevels) fair = l;  // the first, should none be at fair_next_ or after
      if (l >= fair_next_) {
        fair = l;
        break;
      }
    }
    if (fair < kLevels) out.push_back(fair);
  }
  for (std::size_t l = 1; l < kLevels; ++l) {
    if (maybe_.at(l) && std::find(out.begin(), out.end(), l) == out.end()) out.push_back(l);
  }
  return out;
}

}  // namespace agency
