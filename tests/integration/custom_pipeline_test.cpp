// Pipelines per project (docs/PIPELINES.md) with the real `agency up`: a
// project whose pipeline adds a lint stage between dev and QA, worked by a
// role of the file's own (a SKILL.md on the scripted engine), and a second
// project of the same fleet on the default pipeline. Under auth, so the
// builder's brief to the new stage's role must be granted.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bus/codec.hpp"
#include "bus/connection.hpp"
#include "bus/subjects.hpp"
#include "tests/support/up_mesh.hpp"

namespace agency {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using json = nlohmann::json;

std::string task_id_in(const std::string& out) {
  auto at = out.find("t-");
  return at == std::string::npos ? std::string()
                                 : out.substr(at, out.find_first_of(" \n", at) - at);
}

// The stages a task entered, in order, from its record.
std::vector<std::string> walk_of(const json& task) {
  std::vector<std::string> out;
  for (const auto& h : task.value("history", json::array())) out.push_back(h.value("to", ""));
  return out;
}

}  // namespace

TEST_CASE("custom pipeline: a project's lint stage is walked and bounces where the file says") {
  // The linter's skill and the scenario, written before `agency up` reads
  // the file that names them.
  test::TempDir files;
  fs::create_directories(files.path() / "linter");
  std::ofstream(files.path() / "linter" / "SKILL.md")
      << "---\nname: linter\ndescription: checks the style of the work (scripted test role)\n"
         "---\nYou lint the task's branch.\n";
  // The builder changes something each time; the linter fails its first
  // look at a task and passes the second.
  std::ofstream(files.path() / "scenario.yaml")
      << "planner:\n  - spec: \"{objective}\"\n"
         "builder:\n  - write: {path: a.txt, content: \"one {task_id}\"}\n"
         "  - write: {path: a.txt, content: \"two {task_id}\"}\n"
         "linter:\n  - verdict: fail\n    findings: [\"a.txt is not linted (scripted)\"]\n"
         "  - verdict: pass\n"
         "adversary:\n  - verdict: pass\nreviewer:\n  - verdict: pass\n";
  const std::string scripted =
      "    engine: scripted\n    scenario: " + (files.path() / "scenario.yaml").string() + "\n";
  std::string roles;
  for (const char* r : {"planner", "builder", "adversary", "reviewer"}) {
    roles += std::string("  ") + r + ":\n" + scripted;
  }
  roles +=
      "  linter:\n    skill: " + (files.path() / "linter" / "SKILL.md").string() + "\n" + scripted;
  // Two projects on one repository: demo walks `linted`, plain the default.
  const std::string projects =
      "    test_command: \"true\"\n    landing: none\n    pipeline: linted\n"
      "  - name: plain\n    repo: repo\n    test_command: \"true\"\n    landing: none\n";
  const std::string pipelines =
      "pipelines:\n  linted:\n    stages:\n      - planner\n      - builder\n"
      "      - {stage: lint, role: linter, bounce: ready-for-dev}\n      - adversary\n"
      "      - reviewer\n";
  test::UpMesh mesh({}, roles, projects, pipelines);

  auto linted = mesh.cli({"brief", "planner", "--project", "demo", "Add a.txt"});
  REQUIRE_MESSAGE(linted.exit_code == 0, linted.err);
  auto plain = mesh.cli({"brief", "planner", "--project", "plain", "Add a.txt too"});
  REQUIRE_MESSAGE(plain.exit_code == 0, plain.err);
  const std::string linted_id = task_id_in(linted.out);
  const std::string plain_id = task_id_in(plain.out);
  REQUIRE(!linted_id.empty());
  REQUIRE(!plain_id.empty());

  auto record = [&](const std::string& id) {
    auto r = mesh.cli({"task", "show", id, "--json"});
    auto j = json::parse(r.out, nullptr, false);
    return r.exit_code == 0 && !j.is_discarded() ? j.value("task", j) : json();
  };
  auto closed = [&](const std::string& id) {
    auto t = record(id);
    const auto stage = t.is_object() ? t.value("stage", "") : "";
    return stage == "done" || stage == "blocked";
  };
  REQUIRE_MESSAGE(test::eventually(120s, [&] { return closed(linted_id) && closed(plain_id); }),
                  mesh.cli({"task", "list"}).out << "\n"
                                                 << mesh.cli({"task", "show", linted_id}).out);

  const auto a = record(linted_id);
  CHECK(a.value("stage", "") == "done");
  CHECK(a.value("pipeline", "") == "linted");
  CHECK(walk_of(a) == std::vector<std::string>{"ready-for-prep", "ready-for-dev", "lint",
                                               "ready-for-dev", "lint", "qa", "review", "done"});
  CHECK(a.value("bounces", 0) == 1);
  // The lint stage's verdict reached the builder's second brief.
  CHECK(a.value("history", json::array()).at(3).value("reason", "").find("linter reports fail") !=
        std::string::npos);

  const auto b = record(plain_id);
  CHECK(b.value("stage", "") == "done");
  CHECK(b.value("pipeline", "") == "default");
  CHECK(walk_of(b) ==
        std::vector<std::string>{"ready-for-prep", "ready-for-dev", "qa", "review", "done"});

  // `agency task show` draws the carried pipeline.
  auto shown = mesh.cli({"task", "show", linted_id});
  CHECK_MESSAGE(shown.out.find("pipeline linted: ready-for-prep > ready-for-dev > lint > qa > "
                               "review > [done]") != std::string::npos,
                shown.out);
  // Every hand-off was granted: nobody was refused.
  // Versioning: every agent states the protocol it speaks; a brief written
  // in another version is refused with the reason, into the dead letters.
  auto status = json::parse(mesh.cli({"status", "--json"}).out, nullptr, false);
  REQUIRE_FALSE(status.is_discarded());
  int stated = 0;
  for (const auto& agent : status.value("agents", json::array())) {
    CHECK(agent.value("protocol", 0) == static_cast<int>(codec::kProtocolVersion));
    ++stated;
  }
  CHECK(stated >= 5);
  ConnectSettings settings;
  settings.servers = {mesh.url};
  settings.origin = "test";
  settings.nkey_seed_file = mesh.creds("admin").string();
  auto admin = Connection::open(settings, {});
  REQUIRE_MESSAGE(admin.ok(), (admin ? "" : admin.error().describe()));
  const std::string other = std::to_string(codec::kProtocolVersion + 1);
  Outgoing newer{"Add b.txt", {{"Content-Type", "text/plain"}, {"Agency-Protocol", other}}};
  REQUIRE((*admin)->js_publish(subjects::brief("planner"), newer, "newer-1").ok());
  json letter;
  REQUIRE(test::eventually(30s, [&] {
    auto dead = json::parse(mesh.cli({"dead", "--role", "planner", "--json"}).out, nullptr, false);
    if (dead.is_discarded()) return false;
    for (const auto& d : dead.is_array() ? dead : dead.value("dead", json::array())) {
      if (d.dump().find("Agency-Protocol") != std::string::npos) letter = d;
    }
    return !letter.is_null();
  }));
  CHECK(letter.dump().find("this agent speaks protocol " +
                           std::to_string(codec::kProtocolVersion)) != std::string::npos);

  const auto refused = test::violations(mesh.server_log());
  CHECK_MESSAGE(refused.empty(), (refused.empty() ? std::string() : refused.front()));
}

}  // namespace agency
