// The pure part of `agency experiment`: the brief set file, the modes, and
// a failed or unfinished mode shown as such in the report.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "roles/auditor/experiment.hpp"
#include "tests/support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using namespace agency::experiment;

fs::path write_set(const agency::test::TempDir& dir, const std::string& text) {
  fs::create_directories(dir.path() / "proj");
  const fs::path p = dir.path() / "set.yaml";
  std::ofstream(p) << text;
  return p;
}

std::string error_of(const fs::path& p) {
  auto r = read_brief_set(p);
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

ModeResult mode(const std::string& name, double wall, std::int64_t tokens, std::vector<bool> checks,
                bool finished = true) {
  ModeResult m;
  m.mode = name;
  m.wall_seconds = wall;
  m.tokens = tokens;
  BriefResult b;
  b.title = "b";
  b.task_id = "t-" + name;
  b.stage = finished ? "done" : "qa";
  b.finished = finished;
  for (bool passed : checks) b.checks.push_back({"check", passed, passed ? 0 : 1, ""});
  m.briefs.push_back(b);
  return m;
}

TEST_CASE("experiment: a brief set is read with its paths relative to it") {
  agency::test::TempDir dir;
  std::ofstream(dir.path() / "fleet.yaml") << "roles: {}\n";
  auto p =
      write_set(dir,
                "name: greet\nproject: proj\nconfig: fleet.yaml\nmodes:\n  team: {config: "
                "fleet.yaml}\nbriefs:\n  - objective: Write hello.txt\n    done_when: test "
                "-f hello.txt\n  - title: Two\n    objective: Write b\n    done_when: [\"true\", "
                "\"test -f b\"]\n");
  auto set = read_brief_set(p);
  REQUIRE_MESSAGE(set.ok(), set.error().message);
  CHECK(set->name == "greet");
  CHECK(set->project == dir.path() / "proj");
  CHECK(set->config == dir.path() / "fleet.yaml");
  CHECK(set->mode_configs.at("team") == dir.path() / "fleet.yaml");
  REQUIRE(set->briefs.size() == 2);
  CHECK(set->briefs[0].title == "Write hello.txt");  // the objective's first line
  CHECK(set->briefs[0].done_when == std::vector<std::string>{"test -f hello.txt"});
  CHECK(set->briefs[1].done_when.size() == 2);
  CHECK(done_when_text(set->briefs[1]).find("- `test -f b`") != std::string::npos);
}

TEST_CASE("experiment: a brief set that cannot run says where and what to change") {
  agency::test::TempDir dir;
  CHECK(error_of(write_set(dir, "briefs: []\n")).find("project is missing") != std::string::npos);
  CHECK(
      error_of(write_set(dir, "project: proj\nbriefs: []\n")).find("briefs is missing or empty") !=
      std::string::npos);
  CHECK(error_of(write_set(dir, "project: proj\nbriefs:\n  - done_when: [x]\n"))
            .find("set.yaml:3: briefs[0]: objective is missing") != std::string::npos);
  CHECK(
      error_of(write_set(dir, "project: proj\nbriefs:\n  - objective: a\n    done_when: [\"\"]\n"))
          .find("a done_when command is empty") != std::string::npos);
  CHECK(error_of(write_set(dir,
                           "project: proj\nmodes: {swarm: {}}\nbriefs:\n  - objective: a\n    "
                           "done_when: [x]\n"))
            .find("is not a mode: single, pipeline or team") != std::string::npos);
  CHECK(error_of(write_set(dir,
                           "project: proj\ncolour: red\nbriefs:\n  - objective: a\n    "
                           "done_when: [x]\n"))
            .find("colour") != std::string::npos);
  CHECK(error_of(write_set(dir,
                           "project: proj\nconfig: none.yaml\nbriefs:\n  - objective: a\n    "
                           "done_when: [x]\n"))
            .find("none.yaml is not a file") != std::string::npos);
  CHECK(error_of(write_set(dir, "project: [\n")).find("not valid YAML") != std::string::npos);
}

TEST_CASE("experiment: modes are checked and always run in the order single, pipeline, team") {
  CHECK(parse_modes("").value() == std::vector<std::string>{"single", "pipeline", "team"});
  CHECK(parse_modes("team,single,team").value() == std::vector<std::string>{"single", "team"});
  CHECK_FALSE(parse_modes("single,swarm").ok());
  CHECK(mode_roles("single").at("builder") == 1);
  CHECK(mode_roles("single").at("integrator") == 0);
  CHECK(mode_roles("single").count("planner") == 0);
  CHECK(mode_roles("team").at("builder") == 2);
  CHECK(brief_role("single") == "builder");
  CHECK(brief_role("team") == "planner");
  CHECK(mode_constraint("team").find("sub-tasks") != std::string::npos);
  CHECK(mode_constraint("pipeline").empty());
  // single ends when its one builder turn hands the task on.
  CHECK(finished("single", "qa"));
  CHECK_FALSE(finished("single", "ready-for-dev"));
  CHECK_FALSE(finished("pipeline", "qa"));
  CHECK(finished("pipeline", "blocked"));
}

TEST_CASE("experiment: a mode that fails a check or does not finish is shown so, not averaged") {
  Report r;
  r.set = "s";
  r.dir = "/tmp/run";
  r.modes.push_back(mode("single", 10, 1000, {true, false}));
  r.modes.push_back(mode("pipeline", 30, 4000, {true, true}));
  r.modes.push_back(mode("team", 20, 6000, {true}, /*finished=*/false));
  CHECK(r.modes[0].status() == "failed");
  CHECK(r.modes[1].status() == "passed");
  CHECK(r.modes[2].status() == "unfinished");
  CHECK_FALSE(r.passed());
  const std::string t = table(r);
  CHECK(t.find("FAILED") != std::string::npos);
  CHECK(t.find("UNFINISHED") != std::string::npos);
  CHECK(t.find("single, \"b\" (t-single, ended at done)") != std::string::npos);
  CHECK(t.find("did not finish in time") != std::string::npos);
  CHECK(t.find("3.00x") != std::string::npos);  // pipeline's wall time against single's
  CHECK(t.find("4.00x") != std::string::npos);  // and its tokens
  CHECK(t.find("As effective as a single agent? yes: 2/2") != std::string::npos);
  auto j = to_json(r);
  CHECK(j["passed"] == false);
  CHECK(j["modes"][0]["status"] == "failed");
  CHECK(j["modes"][1]["vs_single"]["time"].get<double>() == doctest::Approx(3.0));
  CHECK(j["modes"][2]["briefs"][0]["passed"] == false);

  // Without a single run there is nothing to compare with.
  r.modes.erase(r.modes.begin());
  CHECK(to_json(r)["modes"][0].count("vs_single") == 0);
  CHECK(table(r).find("against single") == std::string::npos);
}

}  // namespace
