#include "runtime/pipeline.hpp"

#include <algorithm>

#include "bus/vocabulary.hpp"

namespace agency::pipeline {

const Pipeline& Pipeline::builtin() {
  static const Pipeline kBuiltin = [] {
    std::vector<Step> steps;
    steps.reserve(kStages.size());
    for (const auto& s : kStages) {
      steps.push_back(
          {std::string(s.name), std::string(s.role), std::string(s.bounce), false, s.landing});
    }
    return Pipeline(std::string(kDefaultName), std::move(steps));
  }();
  return kBuiltin;
}

Pipeline Pipeline::of(const v1::Task& task) {
  if (task.pipeline_stages().empty()) return builtin();
  std::vector<Step> steps;
  steps.reserve(static_cast<std::size_t>(task.pipeline_stages_size()));
  for (const auto& s : task.pipeline_stages()) {
    steps.push_back({s.name(), s.role(), s.bounce(), s.optional(), s.landing()});
  }
  return {task.pipeline().empty() ? std::string(kDefaultName) : task.pipeline(), std::move(steps)};
}

void Pipeline::stamp(v1::Task& task, bool lands) const {
  task.set_pipeline(name_);
  task.clear_pipeline_stages();
  for (const auto& s : steps_) {
    if (s.landing && !lands) continue;
    auto* out = task.add_pipeline_stages();
    out->set_name(s.name);
    out->set_role(s.role);
    out->set_bounce(s.bounce);
    out->set_optional(s.optional);
    out->set_landing(s.landing);
  }
}

const Step* Pipeline::step(std::string_view stage) const {
  auto it =
      std::find_if(steps_.begin(), steps_.end(), [&](const Step& s) { return s.name == stage; });
  return it == steps_.end() ? nullptr : &*it;
}

std::string_view Pipeline::entry() const {
  return steps_.empty() ? std::string_view() : std::string_view(steps_.front().name);
}

std::string_view Pipeline::role_for_stage(std::string_view stage) const {
  const Step* s = step(stage);
  return s == nullptr ? std::string_view() : std::string_view(s->role);
}

std::string_view Pipeline::stage_of(std::string_view role) const {
  for (const auto& s : steps_) {
    if (s.role == role) return s.name;
  }
  return "";
}

std::string_view Pipeline::after(std::string_view stage, bool lands) const {
  for (std::size_t i = 0; i < steps_.size(); ++i) {
    if (steps_[i].name != stage) continue;
    for (std::size_t j = i + 1; j < steps_.size(); ++j) {
      if (lands || !steps_[j].landing) return steps_[j].name;
    }
    return vocabulary::kDone;
  }
  return "";
}

std::string_view Pipeline::bounce(std::string_view stage) const {
  const Step* s = step(stage);
  return s == nullptr ? std::string_view() : std::string_view(s->bounce);
}

bool Pipeline::is_landing(std::string_view stage) const {
  const Step* s = step(stage);
  return s != nullptr && s->landing;
}

bool Pipeline::is_work_stage(std::string_view stage) const { return step(stage) != nullptr; }

bool Pipeline::is_stage(std::string_view stage) const {
  return is_work_stage(stage) || stage == kSplit || stage == kPending || vocabulary::is_end(stage);
}

std::vector<std::string_view> Pipeline::work_stages() const {
  std::vector<std::string_view> out;
  out.reserve(steps_.size());
  for (const auto& s : steps_) out.emplace_back(s.name);
  return out;
}

std::vector<std::string_view> Pipeline::roles() const {
  std::vector<std::string_view> out;
  for (const auto& s : steps_) {
    if (std::find(out.begin(), out.end(), s.role) == out.end()) out.emplace_back(s.role);
  }
  return out;
}

bool Pipeline::forward(std::string_view from, std::string_view to) const {
  return to == after(from, true) || to == after(from, false) || vocabulary::is_end(to);
}

std::string Pipeline::draw(std::string_view at, bool lands) const {
  std::string out;
  auto add = [&](std::string_view stage) {
    if (!out.empty()) out += " > ";
    const bool here = stage == at;
    out += here ? "[" : "";
    out += stage;
    out += here ? "]" : "";
  };
  for (const auto& s : steps_) {
    if (s.landing && !lands) continue;
    add(s.name);
  }
  add(vocabulary::kDone);
  return out;
}

std::string_view role_for_stage(std::string_view stage) {
  return Pipeline::builtin().role_for_stage(stage);
}
std::string_view stage_of(std::string_view role) { return Pipeline::builtin().stage_of(role); }
std::string_view after(std::string_view stage, bool lands) {
  return Pipeline::builtin().after(stage, lands);
}
bool is_landing(std::string_view name) { return Pipeline::builtin().is_landing(name); }
bool is_work_stage(std::string_view name) { return Pipeline::builtin().is_work_stage(name); }
bool is_stage(std::string_view name) { return Pipeline::builtin().is_stage(name); }
std::vector<std::string_view> work_stages() { return Pipeline::builtin().work_stages(); }
std::vector<std::string_view> roles() { return Pipeline::builtin().roles(); }
std::string draw(std::string_view at, bool lands) { return Pipeline::builtin().draw(at, lands); }

std::vector<std::string_view> all_stages() {
  auto out = work_stages();
  out.push_back(kSplit);
  out.push_back(kPending);
  out.push_back(vocabulary::kDone);
  out.push_back(vocabulary::kBlocked);
  out.push_back(vocabulary::kCancelled);
  return out;
}

bool is_reserved(std::string_view name) {
  return vocabulary::is_end(name) || name == kSplit || name == kPending;
}

}  // namespace agency::pipeline
