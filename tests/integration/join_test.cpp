// `agency join`: part of a fleet on "another host" (its own state dir, no
// repository on its disk) against a mesh `agency up` runs, the project
// worked through a git remote both sides clone.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/git.hpp"
#include "tests/support/up_mesh.hpp"

namespace agency {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using json = nlohmann::json;
using test::eventually;

// A bare repository with one commit on main: the project's remote.
fs::path make_remote(const fs::path& dir) {
  const fs::path seed = dir / "seed";
  fs::create_directories(seed);
  REQUIRE(git::run({"git", "init", "-q", "-b", "main"}, seed).exit_code == 0);
  std::ofstream(seed / "README.md") << "remote sample\n";
  REQUIRE(git::run({"git", "add", "-A"}, seed).exit_code == 0);
  REQUIRE(git::run({"git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q",
                    "-m", "initial"},
                   seed)
              .exit_code == 0);
  const fs::path bare = dir / "remote.git";
  REQUIRE(git::run({"git", "clone", "-q", "--bare", seed.string(), bare.string()}, dir).exit_code ==
          0);
  return bare;
}

std::string first_task_id(const std::string& brief_out) {
  auto at = brief_out.find("t-");
  return at == std::string::npos ? std::string()
                                 : brief_out.substr(at, brief_out.find_first_of(" \n", at) - at);
}

// Every pipeline role but the builder runs with the mesh; no dispatcher,
// so nobody starts a builder there.
std::string roles_without_builder() {
  return test::roles_block({{"planner", 1},
                            {"builder", 0},
                            {"adversary", 1},
                            {"reviewer", 1},
                            {"integrator", 1},
                            {"accountant", 1}});
}

TEST_CASE("join: a builder on another host works a remote project's task, and the mesh lands it") {
  test::TempDir elsewhere;
  const fs::path bare = make_remote(elsewhere.path());
  test::UpMesh mesh({}, roles_without_builder(),
                    "    remote: " + bare.string() + "\n    test_command: \"true\"\n");

  // On the mesh's host: a key for one builder, and the supervisor's.
  const fs::path keys = elsewhere.path() / "keys";
  fs::create_directories(keys);
  auto b = mesh.cli({"creds", "builder", "--out", (keys / "builder.creds").string()});
  REQUIRE_MESSAGE(b.exit_code == 0, b.err);
  auto s = mesh.cli({"creds", "supervisor", "--out", (keys / "supervisor.creds").string()});
  REQUIRE_MESSAGE(s.exit_code == 0, s.err);

  // The other host: its own state dir, the keys as a directory.
  const fs::path host = elsewhere.path() / "host-b";
  test::Child join({test::agency_binary(), "--config", mesh.config.string(), "join", mesh.url,
                    "--creds", keys.string(), "--state-dir", host.string()},
                   elsewhere.path(), mesh.env());
  REQUIRE_MESSAGE(join.wait_for_output("running; Ctrl-C", 60s), "stdout:\n"
                                                                    << join.out() << "\nstderr:\n"
                                                                    << join.err());
  CHECK(join.out().find("builder-r1") != std::string::npos);
  CHECK(join.out().find("no supervisor key") == std::string::npos);

  auto brief = mesh.cli({"brief", "planner", "--project", "demo", "Add a greeting"});
  REQUIRE_MESSAGE(brief.exit_code == 0, brief.err);
  const std::string id = first_task_id(brief.out + brief.err);
  REQUIRE_MESSAGE(!id.empty(), brief.out);
  CHECK_MESSAGE(eventually(100s,
                           [&] {
                             auto r = mesh.cli({"task", "show", id, "--json"});
                             return r.exit_code == 0 &&
                                    r.out.find("\"stage\":\"done\"") != std::string::npos;
                           }),
                mesh.cli({"task", "show", id}).out << "\njoin stderr:\n"
                                                   << join.err());
  // The builder that worked it is the joined one, from its own clone.
  CHECK(mesh.cli({"task", "show", id}).out.find("builder-r1") != std::string::npos);
  CHECK(fs::exists(host / "work" / "clones" / "demo.git"));
  CHECK(fs::exists(host / "logs" / "builder-r1.log"));
  // The landing is on the remote's main, and the mesh's repository on disk
  // was never touched.
  CHECK(git::run({"git", "log", "--oneline", "main"}, bare).output.find(id) != std::string::npos);
  CHECK(git::run({"git", "log", "--oneline", "main"}, mesh.repo).output.find(id) ==
        std::string::npos);

  join.signal(SIGTERM);
  CHECK(join.wait(40s) == 0);
  CHECK(join.out().find("stopped cleanly") != std::string::npos);
}

TEST_CASE(
    "join: a key that is no agent's, a role without a key, a key the mesh refuses, and one it lets "
    "in under --no-fleet") {
  test::UpMesh mesh({"--no-fleet"}, roles_without_builder());
  const fs::path dir = mesh.dir.path();
  auto join = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--config", mesh.config.string(), "join", mesh.url});
    args.insert(args.end(), {"--state-dir", (dir / "host-b").string()});
    return mesh.cli(args);
  };

  // Not a key file at all.
  std::ofstream(dir / "notes.creds") << "hello\n";
  auto bad = join({"--creds", (dir / "notes.creds").string()});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("is not a key file") != std::string::npos);

  // Admin's key runs no agent.
  auto admin = join({"--creds", mesh.creds("admin").string()});
  CHECK(admin.exit_code == 2);
  CHECK(admin.err.find("admin's key") != std::string::npos);

  // --roles names a role nobody has a key for: how to make one.
  auto made = mesh.cli({"creds", "planner", "--out", (dir / "planner.creds").string()});
  REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  auto missing =
      join({"--creds", (dir / "planner.creds").string(), "--roles", "planner,adversary"});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("agency creds adversary --out") != std::string::npos);
  auto unknown_role = join({"--creds", (dir / "planner.creds").string(), "--roles", "chef"});
  CHECK(unknown_role.exit_code == 2);
  CHECK(unknown_role.err.find("no role of agency.yaml") != std::string::npos);

  // A key made in another state dir: the mesh does not know it.
  auto foreign = test::run(
      {test::agency_binary(), "--config", mesh.config.string(), "--nats", "nats://127.0.0.1:1",
       "creds", "builder-r7", "--out", (dir / "foreign.creds").string()},
      [&] {
        auto env = mesh.env();
        env["AGENCY_STATE_DIR"] = (dir / "other-state").string();
        return env;
      }());
  REQUIRE_MESSAGE(foreign.exit_code == 0, foreign.err);
  auto refused = join({"--creds", (dir / "foreign.creds").string()});
  CHECK(refused.exit_code != 0);
  CHECK_MESSAGE(refused.err.find("refuses the key of builder-r7") != std::string::npos,
                refused.err);
  // Nothing was started and the state dir is free for the next try.
  CHECK_FALSE(fs::exists(dir / "host-b" / "logs"));

  // A key `agency creds` makes now is let in although `agency up` runs no
  // fleet, and the agent it is for runs.
  auto fresh = mesh.cli({"creds", "adversary", "--out", (dir / "adversary.creds").string()});
  REQUIRE_MESSAGE(fresh.exit_code == 0, fresh.err);
  CHECK_MESSAGE(fresh.out.find("lets it in") != std::string::npos, fresh.out);
  test::Child joined(
      {test::agency_binary(), "--config", mesh.config.string(), "join", mesh.url, "--creds",
       (dir / "adversary.creds").string(), "--state-dir", (dir / "host-b").string()},
      dir, mesh.env());
  REQUIRE_MESSAGE(joined.wait_for_output("running; Ctrl-C", 60s), joined.err());
  CHECK(eventually(
      30s, [&] { return mesh.cli({"status"}).out.find("adversary-r1") != std::string::npos; }));
  joined.signal(SIGTERM);
  CHECK(joined.wait(40s) == 0);
}

}  // namespace
}  // namespace agency
