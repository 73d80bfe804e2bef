#include "roles/auditor/settings.hpp"

#include <array>
#include <string_view>

namespace agency::config {
namespace {

using Item = Reader::Item;

constexpr std::array<std::string_view, 5> kAuditorKeys = {"dir", "window_hours", "suggestions",
                                                          "time_zone", "rules"};
constexpr std::array<std::string_view, 10> kRuleKeys = {
    "token_outlier", "norm_tasks", "bounces", "cache_read_share", "session_calls",
    "context_share", "denials",    "errors",  "unused_vs_oracle", "unused_hours"};

void rules(Reader& r, const Item& section, audit::Rules& out) {
  if (!r.section_map(section, kRuleKeys)) return;
  for (const auto& item : r.entries(section, kRuleKeys)) {
    const auto key = item.key.Scalar();
    if (key == "token_outlier") {
      if (auto v = r.number_value(item, 1, 1000)) out.token_outlier = *v;
    } else if (key == "norm_tasks") {
      if (auto v = r.int_value(item, 1, 100000)) out.norm_tasks = static_cast<std::size_t>(*v);
    } else if (key == "bounces") {
      if (auto v = r.int_value(item, 1, 1000)) out.bounces = static_cast<std::uint32_t>(*v);
    } else if (key == "cache_read_share") {
      if (auto v = r.number_value(item, 0, 1)) out.cache_read_share = *v;
    } else if (key == "session_calls") {
      if (auto v = r.int_value(item, 1, 100000)) out.session_calls = static_cast<std::size_t>(*v);
    } else if (key == "context_share") {
      if (auto v = r.number_value(item, 0, 1)) out.context_share = *v;
    } else if (key == "denials") {
      if (auto v = r.int_value(item, 0, 100000)) out.denials = static_cast<int>(*v);
    } else if (key == "errors") {
      if (auto v = r.int_value(item, 0, 100000)) out.errors = static_cast<int>(*v);
    } else if (key == "unused_vs_oracle") {
      if (auto v = r.number_value(item, 1, 1000)) out.unused_vs_oracle = *v;
    } else if (key == "unused_hours") {
      if (auto v = r.number_value(item, 0, 24 * 400)) out.unused_hours = *v;
    }
  }
}

Auditor auditor(Reader& r, const Item& section) {
  Auditor a;
  if (!r.section_map(section, kAuditorKeys)) return a;
  for (const auto& item : r.entries(section, kAuditorKeys)) {
    const auto key = item.key.Scalar();
    if (key == "dir") {
      if (auto v = r.string_value(item, "a directory path")) {
        if (!v->empty()) a.dir = r.resolve(*v);
      }
    } else if (key == "window_hours") {
      if (auto v = r.int_value(item, 1, 24 * 400)) a.window_hours = *v;
    } else if (key == "suggestions") {
      if (auto v = r.bool_value(item)) a.suggestions = *v;
    } else if (key == "time_zone") {
      if (auto v = r.string_value(item, "a time zone name (Europe/Berlin)")) a.time_zone = *v;
    } else if (key == "rules") {
      rules(r, item, a.rules);
    }
  }
  return a;
}

}  // namespace

void read_auditor(Reader& reader, const Reader::Item& section, Config& config) {
  auditor(config) = auditor(reader, section);
}

}  // namespace agency::config
