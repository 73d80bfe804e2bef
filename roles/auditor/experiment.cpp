// The pure part of `agency experiment` (see experiment.hpp).
#include "roles/auditor/experiment.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "bus/vocabulary.hpp"
#include "roles/accountant/accounting.hpp"
#include "runtime/config_reader.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/yaml_error.hpp"

namespace agency::experiment {

namespace fs = std::filesystem;
namespace voc = vocabulary;
using accounting::thousands;
using config::Reader;

namespace {

constexpr std::array<std::string_view, 8> kSetKeys = {
    "name", "project", "test_command", "config", "modes", "timeout_minutes", "briefs", "note"};
constexpr std::array<std::string_view, 1> kModeKeys = {"config"};
constexpr std::array<std::string_view, 3> kBriefKeys = {"title", "objective", "done_when"};
// Most briefs in one set: each is a task in every mode.
constexpr std::size_t kMostBriefs = 100;

std::string fixed(double v, int digits) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string pad(std::string s, std::size_t width, bool right = false) {
  if (s.size() >= width) return s;
  const std::string fill(width - s.size(), ' ');
  return right ? fill + s : s + fill;
}

Brief read_brief(Reader& r, const Reader::Item& item) {
  Brief b;
  for (const auto& e : r.entries(item, kBriefKeys)) {
    const auto key = e.key.Scalar();
    if (key == "title") {
      b.title = r.string_value(e, "a one-line title").value_or("");
    } else if (key == "objective") {
      b.objective = r.string_value(e, "what the work must achieve").value_or("");
    } else if (key == "done_when") {
      if (e.value.IsScalar()) {
        b.done_when.push_back(e.value.Scalar());
      } else {
        b.done_when = r.strings(e, "[\"test -f hello.txt\", \"make test\"]");
      }
      for (const auto& c : b.done_when) {
        if (c.find_first_not_of(" \t\n") == std::string::npos) {
          r.fail(e, "a done_when command is empty");
        }
      }
    }
  }
  if (b.objective.empty()) r.fail(item, "objective is missing: what the work must achieve");
  if (b.done_when.empty()) {
    r.fail(item,
           "done_when is missing: shell commands run in the result, each must exit 0 "
           "(done_when: [\"test -f hello.txt\"])");
  }
  if (b.title.empty()) b.title = b.objective.substr(0, b.objective.find('\n'));
  return b;
}

}  // namespace

Result<BriefSet> read_brief_set(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return make_error(errc::config, file.string() + ": cannot read the brief set");
  std::stringstream text;
  text << in.rdbuf();
  YAML::Node doc;
  try {
    doc = YAML::Load(text.str());
  } catch (const YAML::Exception& e) {
    return yaml_syntax_error(file.string(), e);
  }
  BriefSet set;
  set.file = fs::absolute(file);
  set.name = file.stem().string();
  Reader r(file.string(), set.file.parent_path());
  try {
    Reader::Item root{YAML::Node(), doc, ""};
    if (!doc.IsMap()) {
      r.fail(root, "a brief set is a map with project and briefs (docs/EXPERIMENTS.md), got " +
                       config::describe(doc));
    }
    std::optional<Reader::Item> briefs_item;
    for (const auto& e : r.entries(root, kSetKeys)) {
      const auto key = e.key.Scalar();
      if (key == "name") {
        set.name = r.name_value(e);
      } else if (key == "project") {
        if (auto v = r.string_value(e, "a directory")) set.project = r.resolve(*v);
      } else if (key == "test_command") {
        set.test_command = r.string_value(e, "a shell command").value_or("");
      } else if (key == "config") {
        if (auto v = r.string_value(e, "an agency.yaml")) set.config = r.resolve(*v);
      } else if (key == "timeout_minutes") {
        if (auto v = r.int_value(e, 1, 24 * 60)) set.timeout_minutes = *v;
      } else if (key == "modes") {
        if (!e.value.IsMap()) {
          r.fail(e, "must be a map from a mode to its settings ({team: {config: team.yaml}})");
        }
        for (auto it = e.value.begin(); it != e.value.end(); ++it) {
          const std::string mode = it->first.Scalar();
          Reader::Item m{it->first, it->second, "modes." + mode};
          if (std::find(std::begin(kModes), std::end(kModes), mode) == std::end(kModes)) {
            r.fail(m, "is not a mode: single, pipeline or team");
          }
          for (const auto& s : r.entries(m, kModeKeys)) {
            if (auto v = r.string_value(s, "an agency.yaml")) {
              set.mode_configs[mode] = r.resolve(*v);
            }
          }
        }
      } else if (key == "briefs") {
        briefs_item = e;
      }
    }
    if (set.project.empty()) {
      r.fail(root, "project is missing: the directory each mode works on a fresh copy of");
    }
    if (!briefs_item || !briefs_item->value.IsSequence() || briefs_item->value.size() == 0) {
      r.fail(briefs_item.value_or(root),
             "briefs is missing or empty: a list of {title, objective, done_when}");
    }
    if (briefs_item->value.size() > kMostBriefs) {
      r.fail(*briefs_item, "holds " + std::to_string(briefs_item->value.size()) +
                               " briefs; at most " + std::to_string(kMostBriefs));
    }
    for (const auto& item : r.list_of_maps(*briefs_item, "{title, objective, done_when}")) {
      set.briefs.push_back(read_brief(r, item));
    }
    std::error_code ec;
    if (!fs::is_directory(set.project, ec)) {
      Reader::Item where{YAML::Node(), doc["project"], "project"};
      r.fail(where, set.project.string() + " is not a directory");
    }
    for (const auto& path : [&] {
           std::vector<fs::path> all;
           if (set.config) all.push_back(*set.config);
           for (const auto& [m, p] : set.mode_configs) all.push_back(p);
           return all;
         }()) {
      if (!fs::is_regular_file(path, ec)) {
        Reader::Item where{YAML::Node(), doc["config"], "config"};
        r.fail(where, path.string() + " is not a file");
      }
    }
  } catch (const Reader::Failure& f) {
    return make_error(errc::config, f.message);
  }
  return set;
}

Result<std::vector<std::string>> parse_modes(std::string_view list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    auto comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    std::string mode(list.substr(start, comma - start));
    start = comma + 1;
    if (mode.empty()) continue;
    if (std::find(std::begin(kModes), std::end(kModes), mode) == std::end(kModes)) {
      return make_error(errc::config,
                        "--modes: '" + mode + "' is not a mode: single, pipeline or team");
    }
    if (std::find(out.begin(), out.end(), mode) == out.end()) out.push_back(mode);
  }
  if (out.empty()) {
    for (auto m : kModes) out.emplace_back(m);
  }
  // Always in the order of kModes: the others are compared with single.
  std::vector<std::string> ordered;
  for (auto m : kModes) {
    if (std::find(out.begin(), out.end(), m) != out.end()) ordered.emplace_back(m);
  }
  return ordered;
}

std::map<std::string, int> mode_roles(std::string_view mode) {
  // The accountant leases and records; the sweeper hands a dead agent's
  // work back. Nothing else runs that could file work of its own (no
  // dispatcher, scout or auditor): the briefs are the whole experiment.
  std::map<std::string, int> roles = {{"accountant", 1}, {"sweeper", 1}};
  if (mode == kSingle) {
    roles["builder"] = 1;
    roles["integrator"] = 0;
    return roles;
  }
  roles["planner"] = 1;
  roles["builder"] = mode == kTeam ? 2 : 1;
  roles["adversary"] = 1;
  roles["reviewer"] = 1;
  roles["integrator"] = 1;
  return roles;
}

std::string brief_role(std::string_view mode) { return mode == kSingle ? "builder" : "planner"; }

std::string mode_constraint(std::string_view mode) {
  if (mode != kTeam) return {};
  return "Split this work into sub-tasks that builders can take in parallel (answer with "
         "tasks:, an epic), unless it cannot be split.";
}

std::string done_when_text(const Brief& brief) {
  std::string out = "These commands pass in the project (each exits 0):";
  for (const auto& c : brief.done_when) out += "\n- `" + c + "`";
  return out;
}

bool finished(std::string_view mode, std::string_view stage) {
  if (stage == voc::kDone || stage == voc::kBlocked || stage == voc::kCancelled) return true;
  if (mode == kSingle) {
    return !stage.empty() && stage != pipeline::kReadyForDev && stage != pipeline::kReadyForPrep;
  }
  return false;
}

bool BriefResult::passed() const {
  return finished && !checks.empty() &&
         std::all_of(checks.begin(), checks.end(), [](const Check& c) { return c.passed; });
}

std::size_t ModeResult::checks_passed() const {
  std::size_t n = 0;
  for (const auto& b : briefs) {
    for (const auto& c : b.checks) n += c.passed ? 1 : 0;
  }
  return n;
}

std::size_t ModeResult::checks() const {
  std::size_t n = 0;
  for (const auto& b : briefs) n += b.checks.size();
  return n;
}

std::size_t ModeResult::briefs_passed() const {
  return static_cast<std::size_t>(
      std::count_if(briefs.begin(), briefs.end(), [](const BriefResult& b) { return b.passed(); }));
}

bool ModeResult::all_finished() const {
  return std::all_of(briefs.begin(), briefs.end(), [](const BriefResult& b) { return b.finished; });
}

std::string ModeResult::status() const {
  if (!error.empty()) return "error";
  if (!all_finished()) return "unfinished";
  return checks_passed() == checks() && !briefs.empty() ? "passed" : "failed";
}

bool Report::passed() const {
  return !modes.empty() && std::all_of(modes.begin(), modes.end(),
                                       [](const ModeResult& m) { return m.status() == "passed"; });
}

namespace {

const ModeResult* single_of(const Report& r) {
  for (const auto& m : r.modes) {
    if (m.mode == kSingle && m.error.empty()) return &m;
  }
  return nullptr;
}

std::optional<double> ratio(double a, double b) {
  if (b <= 0) return std::nullopt;
  return a / b;
}

double pass_rate(const ModeResult& m) {
  return m.checks() == 0 ? 0
                         : static_cast<double>(m.checks_passed()) / static_cast<double>(m.checks());
}

std::string times(std::optional<double> v) { return v ? fixed(*v, 2) + "x" : "-"; }

// seeds/002's three questions for one mode against single, in words.
std::vector<std::string> answers(const ModeResult& m, const ModeResult& single) {
  std::vector<std::string> out;
  const std::string caveat =
      m.status() != "passed" || single.status() != "passed"
          ? " (single " + single.status() + ", " + m.mode + " " + m.status() + ")"
          : "";
  if (auto t = ratio(m.wall_seconds, single.wall_seconds)) {
    out.push_back("More time-efficient than a single agent? " + std::string(*t < 1 ? "yes" : "no") +
                  ": " + fixed(*t, 2) + "x single's wall time" + caveat + ".");
  }
  const double mine = pass_rate(m);
  const double theirs = pass_rate(single);
  out.push_back("As effective as a single agent? " + std::string(mine >= theirs ? "yes" : "no") +
                ": " + std::to_string(m.checks_passed()) + "/" + std::to_string(m.checks()) +
                " done_when checks passed against single's " +
                std::to_string(single.checks_passed()) + "/" + std::to_string(single.checks()) +
                ".");
  if (auto k = ratio(static_cast<double>(m.tokens), static_cast<double>(single.tokens))) {
    out.push_back("As token-efficient as a single agent? " + std::string(*k <= 1 ? "yes" : "no") +
                  ": " + fixed(*k, 2) + "x single's tokens" + caveat + ".");
  }
  return out;
}

}  // namespace

std::string table(const Report& r) {
  const ModeResult* single = single_of(r);
  const std::vector<std::string> head = {"mode",           "status",          "wall",   "tokens",
                                         "calls",          "checks",          "briefs", "bounces",
                                         "time vs single", "tokens vs single"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : r.modes) {
    if (!m.error.empty()) {
      rows.push_back({m.mode, "ERROR", "-", "-", "-", "-", "-", "-", "-", "-"});
      continue;
    }
    std::string status = m.status();
    if (status != "passed") {
      std::transform(status.begin(), status.end(), status.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    }
    std::string time_vs = "-";
    std::string tokens_vs = "-";
    if (single != nullptr) {
      time_vs = times(ratio(m.wall_seconds, single->wall_seconds));
      tokens_vs = times(ratio(static_cast<double>(m.tokens), static_cast<double>(single->tokens)));
    }
    rows.push_back({m.mode, status, fixed(m.wall_seconds, 1) + " s", thousands(m.tokens),
                    std::to_string(m.engine_calls),
                    std::to_string(m.checks_passed()) + "/" + std::to_string(m.checks()),
                    std::to_string(m.briefs_passed()) + "/" + std::to_string(m.briefs.size()),
                    std::to_string(m.bounces), time_vs, tokens_vs});
  }
  std::vector<std::size_t> width(head.size());
  for (std::size_t i = 0; i < head.size(); ++i) {
    width[i] = head[i].size();
    for (const auto& row : rows) width[i] = std::max(width[i], row[i].size());
  }
  std::string out = "Experiment " + r.set + " (" + r.dir.string() + ")\n\n";
  for (std::size_t i = 0; i < head.size(); ++i) {
    out += pad(head[i], width[i], i >= 2) + (i + 1 < head.size() ? "  " : "\n");
  }
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      out += pad(row[i], width[i], i >= 2) + (i + 1 < row.size() ? "  " : "\n");
    }
  }
  out +=
      "\ntokens: input + output + cache creation of every engine call of the mode's fleet "
      "(its usage samples); checks: done_when commands that passed in the result\n";
  // What failed, not averaged away: each brief and check that did not pass.
  for (const auto& m : r.modes) {
    if (!m.error.empty()) {
      out += "\n" + m.mode + ": " + m.error + "\n";
      continue;
    }
    for (const auto& b : m.briefs) {
      if (b.passed()) continue;
      out += "\n" + m.mode + ", \"" + b.title + "\" (" + b.task_id + ", ended at " +
             (b.stage.empty() ? std::string("no stage") : b.stage) + ")" +
             (b.finished ? "" : ": did not finish in time") + "\n";
      for (const auto& c : b.checks) {
        if (c.passed) continue;
        out += "  failed: " + c.command + " (exit " + std::to_string(c.exit_code) + ")" +
               (c.output.empty() ? "" : ": " + c.output) + "\n";
      }
    }
  }
  if (single != nullptr) {
    for (const auto& m : r.modes) {
      if (&m == single || !m.error.empty()) continue;
      out += "\n" + m.mode + " against single (seeds/002):\n";
      for (const auto& a : answers(m, *single)) out += "  " + a + "\n";
    }
  }
  return out;
}

nlohmann::json to_json(const Report& r) {
  using json = nlohmann::json;
  const ModeResult* single = single_of(r);
  json modes = json::array();
  for (const auto& m : r.modes) {
    json briefs = json::array();
    for (const auto& b : m.briefs) {
      json checks = json::array();
      for (const auto& c : b.checks) {
        checks.push_back({{"command", c.command},
                          {"passed", c.passed},
                          {"exit_code", c.exit_code},
                          {"output", c.output}});
      }
      briefs.push_back({{"title", b.title},
                        {"task_id", b.task_id},
                        {"stage", b.stage},
                        {"finished", b.finished},
                        {"passed", b.passed()},
                        {"bounces", b.bounces},
                        {"checks", checks}});
    }
    json row = {{"mode", m.mode},
                {"status", m.status()},
                {"error", m.error},
                {"dir", m.dir.string()},
                {"wall_seconds", m.wall_seconds},
                {"tokens", m.tokens},
                {"cache_read_tokens", m.cache_read_tokens},
                {"engine_calls", m.engine_calls},
                {"bounces", m.bounces},
                {"checks_passed", m.checks_passed()},
                {"checks", m.checks()},
                {"briefs_passed", m.briefs_passed()},
                {"briefs", briefs}};
    if (single != nullptr && m.error.empty()) {
      auto t = ratio(m.wall_seconds, single->wall_seconds);
      auto k = ratio(static_cast<double>(m.tokens), static_cast<double>(single->tokens));
      row["vs_single"] = {{"time", t ? json(*t) : json(nullptr)},
                          {"tokens", k ? json(*k) : json(nullptr)},
                          {"checks_passed", m.checks_passed()},
                          {"single_checks_passed", single->checks_passed()}};
      if (&m != single) row["answers"] = answers(m, *single);
    }
    modes.push_back(std::move(row));
  }
  return {{"set", r.set}, {"dir", r.dir.string()}, {"passed", r.passed()}, {"modes", modes}};
}

}  // namespace agency::experiment
