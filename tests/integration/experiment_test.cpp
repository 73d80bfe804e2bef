// `agency experiment` as a person runs it, on the brief set shipped in
// examples/experiment: three private meshes (real `agency up`, real
// nats-server, real git), scripted engines. Each mode's figures are then
// checked against its own ledger, read back by `agency usage` from the
// mode's kept state.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/run.hpp"
#include "tests/support/temp_dir.hpp"

namespace agency {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

const fs::path kExample = fs::path(AGENCY_SOURCE_DIR) / "examples" / "experiment";

// The environment of a person with no server of their own configured.
const std::map<std::string, std::string> kPlainEnv = {
    {"NATS_URL", ""}, {"NATS_CONTEXT", ""},  {"NATS_NKEY", ""},      {"NATS_CREDS", ""},
    {"NATS_CA", ""},  {"AGENCY_CONFIG", ""}, {"AGENCY_AGENT_ID", ""}};

const json& mode_of(const json& report, const std::string& mode) {
  for (const auto& m : report["modes"]) {
    if (m["mode"] == mode) return m;
  }
  FAIL("no mode " << mode << " in " << report.dump(2));
  static const json none;
  return none;
}

// What the mode's own ledger says its agents spent: its state restarted
// (`agency up --no-fleet` on the kept store), read by `agency usage --json`.
struct Spent {
  std::int64_t counted = 0;
  std::int64_t calls = 0;
  std::map<std::string, std::int64_t> calls_by_role;
};

Spent ledger_of(const fs::path& mode_dir) {
  const fs::path config = mode_dir / "agency.yaml";
  std::map<std::string, std::string> env = kPlainEnv;
  env["AGENCY_CONFIG"] = config.string();
  test::Child up(
      {test::agency_binary(), "up", "--no-fleet", "--no-console", "--config", config.string()},
      mode_dir, env);
  REQUIRE_MESSAGE(up.wait_for_output("running; Ctrl-C", 60s), up.err());
  auto usage =
      test::run({test::agency_binary(), "--config", config.string(), "usage", "--json"}, env, 60s);
  up.signal(SIGTERM);
  up.wait(30s);
  REQUIRE_MESSAGE(usage.exit_code == 0, usage.err);
  INFO("agency usage --json:\n" << usage.out);
  Spent s;
  const json report = json::parse(usage.out);
  for (const auto& row : report["roles"]) {
    if (row["role"] == "human") continue;
    s.counted += row["tokens"]["counted"].get<std::int64_t>();
    s.calls += row["calls"].get<std::int64_t>();
    s.calls_by_role[row["role"].get<std::string>()] = row["calls"].get<std::int64_t>();
  }
  CHECK(s.calls > 0);
  return s;
}

TEST_CASE(
    "experiment: three modes on the shipped set, a failed mode reported failed, the tokens "
    "equal to each mode's ledger") {
  test::TempDir dir;
  const fs::path run_dir = dir.path() / "run";
  auto r = test::run({test::agency_binary(), "experiment", (kExample / "greetings.yaml").string(),
                      "--dir", run_dir.string(), "--json"},
                     kPlainEnv, 300s);
  INFO("stderr:\n" << r.err);
  // single leaves the scripted typo in hello.txt: the run is not a pass.
  CHECK(r.exit_code == 1);
  const json report = json::parse(r.out);
  CHECK(report["passed"] == false);
  REQUIRE(report["modes"].size() == 3);

  const json& single = mode_of(report, "single");
  CHECK(single["status"] == "failed");
  CHECK(single["checks_passed"] == 1);
  CHECK(single["checks"] == 2);
  CHECK(single["briefs_passed"] == 0);
  const json& failed_brief = single["briefs"][0];
  CHECK(failed_brief["finished"] == true);
  CHECK(failed_brief["stage"] == "qa");  // handed on by its one builder turn
  CHECK(failed_brief["checks"][0]["command"] == "grep -qx hello hello.txt");
  CHECK(failed_brief["checks"][0]["passed"] == false);
  CHECK(failed_brief["checks"][1]["passed"] == true);

  const json& pipeline = mode_of(report, "pipeline");
  CHECK(pipeline["status"] == "passed");
  CHECK(pipeline["checks_passed"] == 2);
  CHECK(pipeline["bounces"] == 1);  // the adversary sent the typo back once
  CHECK(pipeline["briefs"][0]["stage"] == "done");

  const json& team = mode_of(report, "team");
  CHECK(team["status"] == "passed");
  CHECK(team["checks_passed"] == 2);
  CHECK(team["bounces"] == 2);  // each sub-task was sent back once
  CHECK(team["briefs"][0]["stage"] == "done");

  // The ratios are against single, which failed: shown, not hidden.
  CHECK(pipeline["vs_single"]["tokens"].get<double>() ==
        doctest::Approx(pipeline["tokens"].get<double>() / single["tokens"].get<double>()));
  CHECK(pipeline["answers"].dump().find("single failed") != std::string::npos);

  // Each mode's tokens and calls are its own ledger's, to the token.
  for (const char* mode : {"single", "pipeline", "team"}) {
    CAPTURE(mode);
    const json& m = mode_of(report, mode);
    const Spent spent = ledger_of(run_dir / mode);
    CHECK(spent.counted > 0);
    CHECK(m["tokens"].get<std::int64_t>() == spent.counted);
    CHECK(m["engine_calls"].get<std::int64_t>() == spent.calls);
    if (std::string(mode) == "single") {
      CHECK(spent.calls_by_role == std::map<std::string, std::int64_t>{{"builder", 1}});
    } else {
      CHECK(spent.calls_by_role.at("planner") == 1);
      CHECK(spent.calls_by_role.at("reviewer") == (std::string(mode) == "team" ? 2 : 1));
    }
  }

  // The same figures as a table for a person, with the failure spelled out.
  std::ifstream saved(run_dir / "report.json");
  CHECK(json::parse(saved)["modes"].size() == 3);
  auto table =
      test::run({test::agency_binary(), "experiment", (kExample / "greetings.yaml").string(),
                 "--dir", (dir.path() / "again").string(), "--modes", "single"},
                kPlainEnv, 120s);
  CHECK(table.exit_code == 1);
  CHECK(table.out.find("\nsingle  FAILED") != std::string::npos);
  CHECK(table.out.find("failed: grep -qx hello hello.txt (exit 1)") != std::string::npos);
}

TEST_CASE("experiment: a brief set or a mode it cannot run is refused with what to change") {
  test::TempDir dir;
  const fs::path set = dir.path() / "set.yaml";
  fs::create_directories(dir.path() / "proj");
  std::ofstream(set) << "project: proj\nbriefs:\n  - objective: Write a file\n";
  auto r = test::run({test::agency_binary(), "experiment", set.string()}, kPlainEnv, 30s);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("set.yaml:3: briefs[0]: done_when is missing") != std::string::npos);

  std::ofstream(set) << "project: nowhere\nbriefs:\n  - objective: x\n    done_when: [\"true\"]\n";
  r = test::run({test::agency_binary(), "experiment", set.string()}, kPlainEnv, 30s);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("nowhere is not a directory") != std::string::npos);

  std::ofstream(set) << "project: proj\nbriefs:\n  - objective: x\n    done_when: [\"true\"]\n";
  r = test::run({test::agency_binary(), "experiment", set.string(), "--modes", "single,swarm"},
                kPlainEnv, 30s);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("'swarm' is not a mode: single, pipeline or team") != std::string::npos);

  // A run folder inside the project would be copied into itself.
  r = test::run({test::agency_binary(), "experiment", set.string(), "--dir",
                 (dir.path() / "proj" / "run").string()},
                kPlainEnv, 30s);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("is inside the project") != std::string::npos);

  // A run folder that holds something is not reused.
  fs::create_directories(dir.path() / "used");
  std::ofstream(dir.path() / "used" / "x") << "x";
  r = test::run(
      {test::agency_binary(), "experiment", set.string(), "--dir", (dir.path() / "used").string()},
      kPlainEnv, 30s);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("is not empty") != std::string::npos);
}

}  // namespace
}  // namespace agency
