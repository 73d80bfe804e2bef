// The pipeline: the stages a task walks through and the role that acts on
// each, in one table. Everything that needs to know which role works a
// stage, or which stage comes next, asks this table: the runtime (where a
// brief goes after a stage change), the CLI (the stage a brief starts at,
// the stage names it offers), the roles (where a pass leads), provisioning
// (each role here gets a brief consumer like every registered role).
//
// A role that owns a stage adds one row to kStages. The ends, done, blocked
// and cancelled, are not in the table: nobody is briefed for them
// (bus/vocabulary.hpp names them).
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace agency::pipeline {

// The built-in stages, for the roles and tests that name one.
inline constexpr std::string_view kReadyForPrep = "ready-for-prep";
inline constexpr std::string_view kReadyForDev = "ready-for-dev";
inline constexpr std::string_view kQa = "qa";
inline constexpr std::string_view kReview = "review";
inline constexpr std::string_view kReadyToLand = "ready-to-land";
// Stages outside the table, where nobody is briefed either: an epic waiting
// for its sub-tasks, a sub-task waiting for its dependencies
// (runtime/epics.hpp).
inline constexpr std::string_view kSplit = "split";
inline constexpr std::string_view kPending = "pending";

struct Stage {
  std::string_view name;  // a stage name (bus/vocabulary.hpp: is_stage_name)
  std::string_view role;  // the role briefed for it: agency.brief.<role>
  // A landing stage: skipped by tasks whose project does not land (no
  // project, or `landing: none` in agency.yaml).
  bool landing = false;
};

// The pipeline table: work moves through these stages in this order; a
// task whose last stage passes is done.
inline constexpr std::array<Stage, 5> kStages = {{
    {kReadyForPrep, "planner"},
    {kReadyForDev, "builder"},
    {kQa, "adversary"},
    {kReview, "reviewer"},
    {kReadyToLand, "integrator", true},
}};

// The role that acts on `stage`; "" for done, blocked and unknown names.
std::string_view role_for_stage(std::string_view stage);
// The stage `role` acts on; "" for a role that owns none.
std::string_view stage_of(std::string_view role);
// The stage after `stage` when it passes: the next row, done after the
// last; "" for a name that is not in the table. `lands` false skips the
// landing rows (a task whose project does not land is done after review).
std::string_view after(std::string_view stage, bool lands = true);
// A landing stage of the table (ready-to-land).
bool is_landing(std::string_view name);
// A stage in the table (one a brief can be for).
bool is_work_stage(std::string_view name);
// A stage a task record may be at: the table's, split, pending, done,
// blocked or cancelled.
bool is_stage(std::string_view name);
// The table's stage names, in order ("ready-for-prep, ready-for-dev, ...").
std::vector<std::string_view> work_stages();
// Every stage a task may be at: the table's, then split, pending, done,
// blocked and cancelled.
std::vector<std::string_view> all_stages();
// The roles of the table, in order.
std::vector<std::string_view> roles();

// The way a task walks, for a person: the table's stages (without the
// landing rows when `lands` is false), then done, with `at` in brackets:
// "ready-for-prep > [ready-for-dev] > qa > review > ready-to-land > done".
// A stage outside the walk (blocked, split, ...) marks nothing.
std::string draw(std::string_view at, bool lands = true);

}  // namespace agency::pipeline
