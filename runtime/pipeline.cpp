#include "runtime/pipeline.hpp"

#include "bus/vocabulary.hpp"

namespace agency::pipeline {

std::string_view role_for_stage(std::string_view stage) {
  for (const auto& s : kStages) {
    if (s.name == stage) return s.role;
  }
  return "";
}

std::string_view stage_of(std::string_view role) {
  for (const auto& s : kStages) {
    if (s.role == role) return s.name;
  }
  return "";
}

std::string_view after(std::string_view stage, bool lands) {
  for (std::size_t i = 0; i < kStages.size(); ++i) {
    if (kStages[i].name != stage) continue;
    for (std::size_t j = i + 1; j < kStages.size(); ++j) {
      if (lands || !kStages[j].landing) return kStages[j].name;
    }
    return vocabulary::kDone;
  }
  return "";
}

bool is_landing(std::string_view name) {
  for (const auto& s : kStages) {
    if (s.name == name) return s.landing;
  }
  return false;
}

bool is_work_stage(std::string_view name) { return !role_for_stage(name).empty(); }

bool is_stage(std::string_view name) {
  return is_work_stage(name) || name == kSplit || name == kPending || vocabulary::is_end(name);
}

std::vector<std::string_view> work_stages() {
  std::vector<std::string_view> out;
  out.reserve(kStages.size() + 2);
  for (const auto& s : kStages) out.push_back(s.name);
  return out;
}

std::string draw(std::string_view at, bool lands) {
  std::string out;
  auto add = [&](std::string_view stage) {
    if (!out.empty()) out += " > ";
    const bool here = stage == at;
    out += here ? "[" : "";
    out += stage;
    out += here ? "]" : "";
  };
  for (const auto& s : kStages) {
    if (s.landing && !lands) continue;
    add(s.name);
  }
  add(vocabulary::kDone);
  return out;
}

std::vector<std::string_view> all_stages() {
  auto out = work_stages();
  out.push_back(kSplit);
  out.push_back(kPending);
  out.push_back(vocabulary::kDone);
  out.push_back(vocabulary::kBlocked);
  out.push_back(vocabulary::kCancelled);
  return out;
}

std::vector<std::string_view> roles() {
  std::vector<std::string_view> out;
  out.reserve(kStages.size());
  for (const auto& s : kStages) out.push_back(s.role);
  return out;
}

}  // namespace agency::pipeline
