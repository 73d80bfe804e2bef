#include "runtime/catalog.hpp"

#include <algorithm>

namespace agency::catalog {
namespace {

std::vector<RoleInfo>& registry() {
  static std::vector<RoleInfo> roles;
  return roles;
}

}  // namespace

void add(RoleInfo info) {
  auto& roles = registry();
  auto it = std::find_if(roles.begin(), roles.end(),
                         [&](const RoleInfo& r) { return r.name == info.name; });
  if (it != roles.end()) {
    *it = std::move(info);
  } else {
    roles.push_back(std::move(info));
  }
}

const std::vector<RoleInfo>& roles() { return registry(); }

const RoleInfo* find(std::string_view name) {
  for (const auto& r : registry()) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

std::vector<std::string> names() {
  std::vector<std::string> out;
  for (const auto& r : registry()) out.push_back(r.name);
  return out;
}

std::string question_role() {
  for (const auto& r : registry()) {
    if (r.answers_questions) return r.name;
  }
  return "";
}

}  // namespace agency::catalog
