// The pipeline: the stages a task walks through and the role that acts on
// each. Everything that needs to know which role works a stage, or which
// stage comes next, asks a Pipeline: the runtime (where a brief goes after
// a stage change), the CLI (the stage a brief starts at, the stage names it
// offers), provisioning (each role of a pipeline gets a brief consumer).
//
// The built-in pipeline (Pipeline::builtin(), kStages) is today's: prep,
// dev, QA, review, landing. agency.yaml may give the fleet another default
// (pipeline.stages) and projects pipelines of their own (pipelines.<name>,
// projects[].pipeline), read by runtime/config_pipeline.cpp. A task carries
// the pipeline it was created with in its record (Task.pipeline_stages), so
// it walks that one whatever the configuration says later (docs/PIPELINES.md).
//
// The ends, done, blocked and cancelled, are in no pipeline: nobody is
// briefed for them (bus/vocabulary.hpp names them).
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "agency/v1/task.pb.h"

namespace agency::pipeline {

// The built-in stages, for the roles and tests that name one. A built-in
// role keeps its stage's name in every pipeline.
inline constexpr std::string_view kReadyForPrep = "ready-for-prep";
inline constexpr std::string_view kReadyForDev = "ready-for-dev";
inline constexpr std::string_view kQa = "qa";
inline constexpr std::string_view kReview = "review";
inline constexpr std::string_view kReadyToLand = "ready-to-land";
// Stages outside every pipeline, where nobody is briefed either: an epic
// waiting for its sub-tasks, a sub-task waiting for its dependencies
// (runtime/epics.hpp).
inline constexpr std::string_view kSplit = "split";
inline constexpr std::string_view kPending = "pending";
// The name of the fleet's default pipeline (pipeline.stages in agency.yaml,
// else the built-in one).
inline constexpr std::string_view kDefaultName = "default";

// A row of the built-in table.
struct BuiltinStage {
  std::string_view name;    // a stage name (bus/vocabulary.hpp: is_stage_name)
  std::string_view role;    // the role briefed for it: agency.brief.<role>
  std::string_view bounce;  // where a fail verdict sends the task ("": nowhere)
  // A landing stage: skipped by tasks whose project does not land (no
  // project, or `landing: none` in agency.yaml).
  bool landing = false;
};

// The built-in pipeline: work moves through these stages in this order; a
// task whose last stage passes is done.
inline constexpr std::array<BuiltinStage, 5> kStages = {{
    {kReadyForPrep, "planner", ""},
    {kReadyForDev, "builder", ""},
    {kQa, "adversary", kReadyForDev},
    {kReview, "reviewer", kReadyForDev},
    {kReadyToLand, "integrator", kReadyForDev, true},
}};

// One stage of a pipeline.
struct Step {
  std::string name;
  std::string role;
  // Where a fail verdict sends the task: an earlier stage; "" for none (a
  // fail there blocks the task).
  std::string bounce;
  // A fail verdict does not send the task back; it goes on.
  bool optional = false;
  bool landing = false;
  bool operator==(const Step&) const = default;
};

class Pipeline {
 public:
  Pipeline() = default;
  Pipeline(std::string name, std::vector<Step> steps)
      : name_(std::move(name)), steps_(std::move(steps)) {}

  // Today's pipeline, named "default".
  static const Pipeline& builtin();
  // The pipeline `task` walks: the one its record carries, else (a record
  // from before pipelines were carried) the built-in one.
  static Pipeline of(const v1::Task& task);
  // Writes the pipeline into a new record; `lands` false leaves the landing
  // stages out (the task's project does not land).
  void stamp(v1::Task& task, bool lands) const;

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const std::vector<Step>& steps() const { return steps_; }
  [[nodiscard]] bool empty() const { return steps_.empty(); }
  // The stage named `stage`; null when the pipeline has none.
  [[nodiscard]] const Step* step(std::string_view stage) const;
  // The first stage: where a brief that names no stage or role starts.
  [[nodiscard]] std::string_view entry() const;
  // The role that acts on `stage`; "" for done, blocked and unknown names.
  [[nodiscard]] std::string_view role_for_stage(std::string_view stage) const;
  // The stage `role` acts on; "" for a role that owns none here.
  [[nodiscard]] std::string_view stage_of(std::string_view role) const;
  // The stage after `stage` when it passes: the next one, done after the
  // last; "" for a name that is not here. `lands` false skips landing
  // stages.
  [[nodiscard]] std::string_view after(std::string_view stage, bool lands = true) const;
  // Where a fail verdict at `stage` sends the task; "" for none.
  [[nodiscard]] std::string_view bounce(std::string_view stage) const;
  [[nodiscard]] bool is_landing(std::string_view stage) const;
  // A stage of this pipeline (one a brief can be for).
  [[nodiscard]] bool is_work_stage(std::string_view stage) const;
  // A stage a task of this pipeline may be at: its own, split, pending,
  // done, blocked or cancelled.
  [[nodiscard]] bool is_stage(std::string_view stage) const;
  // The stage names in order, and the roles in order (each once).
  [[nodiscard]] std::vector<std::string_view> work_stages() const;
  [[nodiscard]] std::vector<std::string_view> roles() const;
  // Whether moving from `from` to `to` goes forward: to the stage after it
  // (landing stages skipped or not), or to an end.
  [[nodiscard]] bool forward(std::string_view from, std::string_view to) const;
  // The way a task walks, for a person: the stages (without the landing
  // ones when `lands` is false), then done, with `at` in brackets:
  // "ready-for-prep > [ready-for-dev] > qa > review > ready-to-land > done".
  // A stage outside the walk (blocked, split, ...) marks nothing.
  [[nodiscard]] std::string draw(std::string_view at, bool lands = true) const;

  bool operator==(const Pipeline&) const = default;

 private:
  std::string name_;
  std::vector<Step> steps_;
};

// The built-in table's answers, for code that has no task or configuration
// at hand (a built-in role naming its own stage, the list of built-in
// roles in a help text).
std::string_view role_for_stage(std::string_view stage);
std::string_view stage_of(std::string_view role);
std::string_view after(std::string_view stage, bool lands = true);
bool is_landing(std::string_view name);
bool is_work_stage(std::string_view name);
bool is_stage(std::string_view name);
std::vector<std::string_view> work_stages();
std::vector<std::string_view> roles();
std::string draw(std::string_view at, bool lands = true);
// Every stage a task may be at in the built-in pipeline, then split,
// pending, done, blocked and cancelled.
std::vector<std::string_view> all_stages();
// Whether a stage name is one no pipeline may use: the ends, split and
// pending.
bool is_reserved(std::string_view name);

}  // namespace agency::pipeline
