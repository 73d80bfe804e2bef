#include "roles/sweeper/settings.hpp"

#include <array>
#include <set>
#include <string_view>

namespace agency::config {
namespace {

using Item = Reader::Item;

constexpr std::array<std::string_view, 7> kSweeperKeys = {
    "every_seconds",     "stuck_after_seconds", "nudge_grace_seconds", "answer_after_seconds",
    "answer_confidence", "loop_limit",          "burn_factor"};

Sweeper sweeper(Reader& r, const Item& section) {
  Sweeper s;
  if (!r.section_map(section, kSweeperKeys)) return s;
  for (const auto& item : r.entries(section, kSweeperKeys)) {
    auto key = item.key.Scalar();
    if (key == "every_seconds") {
      if (auto v = r.int_value(item, 1, 86400)) s.every_seconds = *v;
    } else if (key == "stuck_after_seconds") {
      if (auto v = r.int_value(item, 1, 7 * 86400)) s.stuck_after_seconds = *v;
    } else if (key == "nudge_grace_seconds") {
      if (auto v = r.int_value(item, 0, 86400)) s.nudge_grace_seconds = *v;
    } else if (key == "answer_after_seconds") {
      if (auto v = r.int_value(item, 0, 86400)) s.answer_after_seconds = *v;
    } else if (key == "answer_confidence") {
      if (auto v = r.number_value(item, 0, 1)) s.answer_confidence = *v;
    } else if (key == "loop_limit") {
      if (auto v = r.int_value(item, 2, 1000)) s.loop_limit = *v;
    } else if (key == "burn_factor") {
      if (auto v = r.number_value(item, 1, 1000)) s.burn_factor = *v;
    }
  }
  return s;
}

}  // namespace

void read_sweeper(Reader& reader, const Reader::Item& section, Config& config) {
  sweeper(config) = sweeper(reader, section);
}

}  // namespace agency::config
