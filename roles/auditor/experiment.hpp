// `agency experiment` (docs/EXPERIMENTS.md): one brief set run in several
// modes on fresh copies of a project, each mode on a private mesh of its
// own, and seeds/002's three questions answered from what the runs measured.
// This header is the pure part: the brief set file, what each mode runs,
// the results and their table. experiment_command.cpp runs the meshes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "bus/result.hpp"

namespace agency::experiment {

// The modes, in the order they run and are compared.
inline constexpr std::string_view kSingle = "single";      // one builder turn, the whole objective
inline constexpr std::string_view kPipeline = "pipeline";  // planner, builder, adversary, reviewer
inline constexpr std::string_view kTeam = "team";          // an epic split into sub-tasks
inline constexpr std::string_view kModes[] = {kSingle, kPipeline, kTeam};

struct Brief {
  std::string title;
  std::string objective;
  std::vector<std::string> done_when;  // shell commands run in the result; each must exit 0
};

// A brief set (a YAML file; docs/EXPERIMENTS.md has its keys).
struct BriefSet {
  std::filesystem::path file;
  std::string name;                             // default: the file's stem
  std::filesystem::path project;                // a directory: a git repository or plain files
  std::string test_command;                     // the project's, for builder and adversary
  std::optional<std::filesystem::path> config;  // engines and role settings
  std::map<std::string, std::filesystem::path> mode_configs;  // per mode, instead of config
  int timeout_minutes = 30;                                   // per mode
  std::vector<Brief> briefs;
};

// Reads and checks a brief set: errc::config with file:line and what to
// change. Paths in it are relative to the file.
Result<BriefSet> read_brief_set(const std::filesystem::path& file);

// The modes `--modes` names ("single,team"), checked; empty: all three.
Result<std::vector<std::string>> parse_modes(std::string_view list);

// The roles a mode's fleet runs, with their counts. Every other role of the
// base config is left out (count 0 for the integrator, which a landing
// project would otherwise get).
std::map<std::string, int> mode_roles(std::string_view mode);

// The role a mode's briefs go to, and what the mode adds to each brief's
// constraints ("" for none): team asks the planner to split the work.
std::string brief_role(std::string_view mode);
std::string mode_constraint(std::string_view mode);
// The done_when text of the brief: the commands that must pass.
std::string done_when_text(const Brief& brief);

// When a task of the mode has finished: single once the builder handed it
// on (any stage after ready-for-dev), the others at done, blocked or
// cancelled.
bool finished(std::string_view mode, std::string_view stage);

struct Check {
  std::string command;
  bool passed = false;
  int exit_code = 0;
  std::string output;  // the last lines it printed
};

struct BriefResult {
  std::string title;
  std::string task_id;
  std::string stage;      // where the task ended
  bool finished = false;  // it reached the end before the timeout
  std::uint32_t bounces = 0;
  std::vector<Check> checks;
  [[nodiscard]] bool passed() const;
};

struct ModeResult {
  std::string mode;
  std::string error;  // the mode could not run (its mesh did not start, ...)
  double wall_seconds = 0;
  std::int64_t tokens = 0;  // counted: input + output + cache creation
  std::int64_t cache_read_tokens = 0;
  std::size_t engine_calls = 0;
  std::uint32_t bounces = 0;
  std::vector<BriefResult> briefs;
  std::filesystem::path dir;  // the mode's project copy, config and state

  [[nodiscard]] std::size_t checks_passed() const;
  [[nodiscard]] std::size_t checks() const;
  [[nodiscard]] std::size_t briefs_passed() const;
  [[nodiscard]] bool all_finished() const;
  // "passed", "failed" (a check failed), "unfinished" (a task did not end
  // in time), "error" (the mode did not run).
  [[nodiscard]] std::string status() const;
};

struct Report {
  std::string set;
  std::filesystem::path dir;
  std::vector<ModeResult> modes;
  [[nodiscard]] bool passed() const;  // every mode ran and passed every check
};

// The table of the modes and the three questions, for a person.
std::string table(const Report& report);
nlohmann::json to_json(const Report& report);

}  // namespace agency::experiment
