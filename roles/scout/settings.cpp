#include "roles/scout/settings.hpp"

#include <array>
#include <set>
#include <string_view>

namespace agency::config {
namespace {

using Item = Reader::Item;

constexpr std::array<std::string_view, 1> kScoutKeys = {"max_tasks"};

Scout scout(Reader& r, const Item& section) {
  Scout s;
  if (!r.section_map(section, kScoutKeys)) return s;
  for (const auto& item : r.entries(section, kScoutKeys)) {
    if (auto v = r.int_value(item, 1, 100)) s.max_tasks = *v;
  }
  return s;
}

}  // namespace

void read_scout(Reader& reader, const Reader::Item& section, Config& config) {
  scout(config) = scout(reader, section);
}

}  // namespace agency::config
