#include "runtime/config_pipeline.hpp"

#include <algorithm>
#include <array>

#include "bus/vocabulary.hpp"
#include "runtime/catalog.hpp"

namespace agency::config {

namespace {

constexpr std::array<std::string_view, 5> kStageKeys = {"stage", "role", "bounce", "optional",
                                                        "landing"};
constexpr std::array<std::string_view, 1> kPipelineKeys = {"stages"};

const pipeline::BuiltinStage* builtin_by_role(std::string_view role) {
  for (const auto& s : pipeline::kStages) {
    if (s.role == role) return &s;
  }
  return nullptr;
}

const pipeline::BuiltinStage* builtin_by_stage(std::string_view stage) {
  for (const auto& s : pipeline::kStages) {
    if (s.name == stage) return &s;
  }
  return nullptr;
}

bool has(const std::vector<pipeline::Step>& steps, std::string_view stage) {
  return std::any_of(steps.begin(), steps.end(),
                     [&](const pipeline::Step& s) { return s.name == stage; });
}

// Where a fail verdict sends a stage's task when the file does not say:
// the built-in target if this pipeline has it before the stage, else the
// builder's stage if it comes before, else the stage before; the entry
// stage has none.
std::string default_bounce(const std::vector<pipeline::Step>& earlier, std::string_view stage) {
  if (earlier.empty()) return "";
  if (const auto* b = builtin_by_stage(stage); b != nullptr && !b->bounce.empty()) {
    if (has(earlier, b->bounce)) return std::string(b->bounce);
  }
  if (has(earlier, pipeline::kReadyForDev)) return std::string(pipeline::kReadyForDev);
  return earlier.back().name;
}

std::string earlier_names(const std::vector<pipeline::Step>& earlier) {
  std::string out;
  for (const auto& s : earlier) out += (out.empty() ? "" : ", ") + s.name;
  return out;
}

}  // namespace

pipeline::Pipeline PipelineReader::stages(const Reader::Item& list, const std::string& name) {
  const std::string example = "[planner, builder, {stage: lint, role: linter}, adversary]";
  if (!list.value.IsSequence() || list.value.size() == 0) {
    reader_.fail(
        list, "must be a list of stages, in order (" + example + "), got " + describe(list.value));
  }
  std::vector<pipeline::Step> steps;
  for (std::size_t i = 0; i < list.value.size(); ++i) {
    Reader::Item entry{YAML::Node(), list.value[i], list.path + "[" + std::to_string(i) + "]"};
    pipeline::Step step;
    Reader::Item role_at = entry;
    std::optional<Reader::Item> bounce_at;
    std::optional<bool> landing;
    if (entry.value.IsScalar()) {
      step.role = entry.value.Scalar();
    } else if (entry.value.IsMap()) {
      for (const auto& item : reader_.entries(entry, kStageKeys)) {
        const auto key = item.key.Scalar();
        if (key == "stage") {
          if (auto v = reader_.string_value(item, "a stage name")) step.name = *v;
        } else if (key == "role") {
          if (auto v = reader_.string_value(item, "a role name")) step.role = *v;
          role_at = item;
        } else if (key == "bounce") {
          if (auto v = reader_.string_value(item, "an earlier stage")) step.bounce = *v;
          bounce_at = item;
        } else if (key == "optional") {
          if (auto v = reader_.bool_value(item)) step.optional = *v;
        } else if (key == "landing") {
          landing = reader_.bool_value(item);
        }
      }
    } else {
      reader_.fail(entry, "must be a role name (builder) or a map with the keys " +
                              join(kStageKeys) + ", got " + describe(entry.value));
    }
    // The role: named, or the built-in one of a built-in stage.
    if (step.role.empty()) {
      if (const auto* b = builtin_by_stage(step.name); b != nullptr) step.role = b->role;
    }
    if (step.role.empty()) {
      reader_.fail(entry, "names no role: give role: NAME, the role whose agents work the stage");
    }
    if (!is_token(step.role)) {
      reader_.fail(role_at,
                   "must be a role name (letters, digits, '-' and '_'), got '" + step.role + "'");
    }
    const auto* own = builtin_by_role(step.role);
    if (step.name.empty()) step.name = own != nullptr ? std::string(own->name) : step.role;
    if (!vocabulary::is_stage_name(step.name) || pipeline::is_reserved(step.name)) {
      reader_.fail(entry, "stage '" + step.name +
                              "' cannot be a stage name: use letters, digits and '-', and none "
                              "of done, blocked, cancelled, split, pending");
    }
    if (own != nullptr && own->name != step.name) {
      reader_.fail(entry, "the " + step.role + " works the stage " + std::string(own->name) +
                              " in every pipeline, not '" + step.name + "'");
    }
    if (const auto* b = builtin_by_stage(step.name); b != nullptr && b->role != step.role) {
      reader_.fail(entry, "the stage " + step.name + " is worked by the " + std::string(b->role) +
                              ", not '" + step.role + "'; give your stage a name of its own");
    }
    if (const auto* info = catalog::find(step.role); info != nullptr && info->lateral) {
      reader_.fail(role_at, "the " + step.role +
                                " is a lateral role and works no stage (its briefs are "
                                "requests it settles itself)");
    }
    if (has(steps, step.name)) {
      reader_.fail(entry, "stage '" + step.name + "' is given twice in pipeline " + name);
    }
    for (const auto& s : steps) {
      if (s.role == step.role) {
        reader_.fail(entry, "the role " + step.role + " works two stages of pipeline " + name +
                                " (" + s.name + " and " + step.name +
                                "); a role works one stage of a pipeline");
      }
    }
    // Bounce: an earlier stage; by default the built-in's, else dev, else
    // the stage before.
    if (bounce_at) {
      if (steps.empty()) {
        reader_.fail(*bounce_at, "the first stage has no earlier stage to send a task back to");
      }
      if (!has(steps, step.bounce)) {
        reader_.fail(*bounce_at, "'" + step.bounce +
                                     "' is not an earlier stage of this pipeline (earlier: " +
                                     earlier_names(steps) + ")");
      }
    } else {
      step.bounce = default_bounce(steps, step.name);
    }
    // Landing: the integrator's stage, or one marked; only the last.
    step.landing = landing.value_or(own != nullptr && own->landing);
    if (own != nullptr && own->landing && !step.landing) {
      reader_.fail(entry, "the " + step.name + " stage always lands; leave landing out");
    }
    if (!steps.empty() && steps.back().landing) {
      reader_.fail(entry, "stage '" + step.name + "' comes after the landing stage " +
                              steps.back().name +
                              "; the landing stage is the last (a task is done once it lands)");
    }
    roles_.push_back({role_at, step.role});
    steps.push_back(std::move(step));
  }
  return {name, std::move(steps)};
}

Pipelines PipelineReader::pipelines(const Reader::Item& section) {
  Pipelines out;
  if (section.value.IsNull()) return out;
  if (!section.value.IsMap()) {
    reader_.fail(section,
                 "must be a map from pipeline name to its stages (checked: {stages: "
                 "[planner, builder, ...]}), got " +
                     describe(section.value));
  }
  for (auto it = section.value.begin(); it != section.value.end(); ++it) {
    Reader::Item name_at{it->first, YAML::Node(), section.path};
    if (!it->first.IsScalar() || !is_token(it->first.Scalar())) {
      reader_.fail(name_at,
                   "pipeline names are letters, digits, '-' and '_', got " + describe(it->first));
    }
    const std::string name = it->first.Scalar();
    Reader::Item entry{it->first, it->second, "pipelines." + name};
    if (name == pipeline::kDefaultName) {
      reader_.fail(name_at,
                   "the fleet's default pipeline is pipeline.stages; give this one another name");
    }
    if (out.count(name) != 0) reader_.fail(name_at, "pipeline '" + name + "' is given twice");
    if (!entry.value.IsMap()) {
      reader_.fail(entry, "must be a map with the key stages, got " + describe(entry.value));
    }
    std::optional<pipeline::Pipeline> read;
    for (const auto& item : reader_.entries(entry, kPipelineKeys)) read = stages(item, name);
    if (!read) reader_.fail(entry, "has no stages (stages: [planner, builder, ...])");
    out.emplace(name, std::move(*read));
  }
  return out;
}

std::string PipelineReader::project_pipeline(const Reader::Item& item) {
  auto v = reader_.string_value(item, "a pipeline's name");
  std::string name = v.value_or(std::string(pipeline::kDefaultName));
  if (name.empty()) name = pipeline::kDefaultName;
  projects_.push_back({item, name});
  return name;
}

void PipelineReader::check(const Config& config) const {
  for (const auto& use : projects_) {
    if (config.pipelines.count(use.name) != 0) continue;
    std::string known;
    for (const auto& [name, p] : config.pipelines) known += (known.empty() ? "" : ", ") + name;
    reader_.fail(use.at, "no pipeline '" + use.name + "' (pipelines: " + known + ")");
  }
  for (const auto& use : roles_) {
    if (catalog::find(use.name) != nullptr || config.role(use.name) != nullptr) continue;
    reader_.fail(use.at, "'" + use.name +
                             "' is not a role of this file: add it under roles: (with skill: "
                             "PATH/SKILL.md, binary: PROGRAM, or external: true when you run its "
                             "agents yourself)");
  }
}

}  // namespace agency::config
