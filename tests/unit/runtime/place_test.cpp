// What a place says without agency.yaml: the project's name and branch, its
// test command, the engine, and the agency.yaml written from them, which
// config::parse reads back to the same choices.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "roles/accountant/settings.hpp"
#include "runtime/config.hpp"
#include "runtime/place.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/roles/git_repo.hpp"

namespace {

namespace fs = std::filesystem;
namespace place = agency::place;
namespace config = agency::config;
using agency::test::TempDir;

// Sets an environment variable for one scope, then puts it back.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value == nullptr) {
      ::unsetenv(name);
    } else {
      ::setenv(name, value, 1);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

void write_script(const fs::path& path, const std::string& body) {
  std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
  fs::permissions(path, fs::perms::owner_all);
}

place::RepoFiles files(std::initializer_list<const char*> names) {
  place::RepoFiles f;
  for (const auto* n : names) f.names.insert(n);
  return f;
}

place::EngineProbe probe(const std::string& engine, bool found, bool logged_in,
                         const std::string& plan = "") {
  place::EngineProbe p;
  p.engine = engine;
  p.cli = engine;
  if (found) p.path = "/usr/bin/" + engine;
  p.version = found ? engine + " 1.0" : "";
  p.logged_in = logged_in;
  p.login = logged_in ? "logged in" : (found ? "not logged in" : engine + " is not on PATH");
  p.plan = plan;
  return p;
}

}  // namespace

TEST_CASE("place: a project name is a subject token made from the directory's name") {
  CHECK(place::project_name_from("api") == "api");
  CHECK(place::project_name_from("api_v2-x") == "api_v2-x");
  CHECK(place::project_name_from("my repo.git") == "my-repo-git");
  CHECK(place::project_name_from("a  . b") == "a-b");
  CHECK(place::project_name_from("...") == "project");
  CHECK(place::project_name_from("") == "project");
}

TEST_CASE("place: the default branch is origin's, else main or master, else the current one") {
  using B = std::set<std::string>;
  CHECK(place::pick_default_branch("origin/develop", B{"main"}, "main").first == "develop");
  CHECK(place::pick_default_branch("origin/develop", B{}, "").second == "origin/HEAD");
  CHECK(place::pick_default_branch("", B{"main", "feature"}, "feature").first == "main");
  CHECK(place::pick_default_branch("", B{"master", "feature"}, "feature").first == "master");
  CHECK(place::pick_default_branch("", B{"main", "master"}, "master").first == "master");
  CHECK(place::pick_default_branch("", B{"trunk"}, "trunk").first == "trunk");
  CHECK(place::pick_default_branch("", B{}, "").first == "main");
}

TEST_CASE("place: the test command comes from the files at the top of the repository") {
  auto make = files({"Makefile", "CMakeLists.txt"});
  make.makefile = "all:\n\tcc -o x x.c\n\ncheck test: all\n\t./x --selftest\n";
  CHECK(place::detect_test_command(make).command == "make test");

  // A Makefile without a test target (a variable, a .PHONY line, a recipe
  // mentioning it) does not count; CMake comes next.
  auto no_target = files({"Makefile", "CMakeLists.txt"});
  no_target.makefile = "test := 1\n.PHONY: test\nall:\n\techo test: no\n";
  auto cmake = place::detect_test_command(no_target);
  CHECK(cmake.command.find("ctest --test-dir build") != std::string::npos);
  CHECK(cmake.command.rfind("cmake -S . -B build", 0) == 0);

  auto npm = files({"package.json"});
  npm.package_json = R"({"name":"x","scripts":{"test":"jest"}})";
  CHECK(place::detect_test_command(npm).command == "npm test");
  // npm init's placeholder only fails: no test command.
  npm.package_json = R"({"scripts":{"test":"echo \"Error: no test specified\" && exit 1"}})";
  CHECK(place::detect_test_command(npm).command.empty());
  npm.package_json = "{not json";
  CHECK(place::detect_test_command(npm).command.empty());

  CHECK(place::detect_test_command(files({"Cargo.toml", "go.mod"})).command == "cargo test");
  CHECK(place::detect_test_command(files({"pytest.ini"})).command == "pytest");
  CHECK(place::detect_test_command(files({"conftest.py"})).command == "pytest");
  auto py = files({"pyproject.toml"});
  py.python_config = "[tool.pytest.ini_options]\naddopts = \"-q\"\n";
  CHECK(place::detect_test_command(py).command == "pytest");
  py.python_config = "[project]\nname = \"x\"\n";
  CHECK(place::detect_test_command(py).command.empty());
  CHECK(place::detect_test_command(files({"go.mod", "main.go"})).command == "go test ./...");

  auto none = place::detect_test_command(files({"README.md", "src"}));
  CHECK(none.command.empty());
  CHECK(none.reason.find("none found") == 0);
}

TEST_CASE("place: read_repo_files reads what detect_test_command needs") {
  TempDir dir;
  std::ofstream(dir.path() / "Makefile") << "test:\n\ttrue\n";
  std::ofstream(dir.path() / "setup.cfg") << "[tool:pytest]\n";
  fs::create_directory(dir.path() / "src");
  auto f = place::read_repo_files(dir.path());
  CHECK(f.names == std::set<std::string>{"Makefile", "setup.cfg", "src"});
  CHECK(f.makefile == "test:\n\ttrue\n");
  CHECK(f.python_config.find("[tool:pytest]") != std::string::npos);
  CHECK(place::detect_test_command(f).command == "make test");
}

TEST_CASE("place: claude auth status's JSON says whether it is logged in and on which plan") {
  // As claude 2.1.x prints it (observed), with a warning line before it.
  auto max = place::parse_claude_auth(
      "warning: something\n"
      R"({"loggedIn": true, "authMethod": "claude.ai", "apiProvider": "firstParty",
          "subscriptionType": "max", "planTier": "max_20x", "email": null})");
  CHECK(max.logged_in);
  CHECK(max.method == "claude.ai");
  CHECK(max.plan == "max20");

  auto key = place::parse_claude_auth(
      R"({"loggedIn": true, "authMethod": "api_key", "apiKeySource": "ANTHROPIC_API_KEY"})");
  CHECK(key.logged_in);
  CHECK(key.plan.empty());

  CHECK_FALSE(place::parse_claude_auth(R"({"loggedIn": false, "authMethod": "none"})").logged_in);
  CHECK_FALSE(place::parse_claude_auth(R"({"loggedIn": "yes"})").logged_in);
  CHECK_FALSE(place::parse_claude_auth("error: unknown command 'auth'").logged_in);
  CHECK_FALSE(place::parse_claude_auth("").logged_in);
}

TEST_CASE("place: the plan preset from a login's subscription and tier") {
  CHECK(place::plan_from("pro", "") == "pro");
  CHECK(place::plan_from("max", "max_5x") == "max5");
  CHECK(place::plan_from("max", "max_20x") == "max20");
  CHECK(place::plan_from("", "default_claude_max_20x") == "max20");
  CHECK(place::plan_from("Max", "") == "max5");  // the smaller Max preset when unsure
  CHECK(place::plan_from("team", "") == "");
  CHECK(place::plan_from("", "") == "");
}

TEST_CASE("place: the engine is the first CLI installed and logged in, else scripted") {
  auto claude = place::choose_engine({probe("claude", true, true, "pro"),
                                      probe("codex", true, true), probe("gemini", true, true)});
  CHECK(claude.engine == "claude");
  CHECK(claude.plan == "pro");
  CHECK(claude.reason.find("claude 1.0") != std::string::npos);

  auto codex = place::choose_engine(
      {probe("claude", true, false), probe("codex", true, true), probe("gemini", false, false)});
  CHECK(codex.engine == "codex");
  CHECK(codex.plan.empty());

  auto gemini = place::choose_engine(
      {probe("claude", false, false), probe("codex", false, false), probe("gemini", true, true)});
  CHECK(gemini.engine == "gemini");

  auto none = place::choose_engine(
      {probe("claude", true, false), probe("codex", false, false), probe("gemini", false, false)});
  CHECK(none.engine == "scripted");
  CHECK(none.reason.find("claude: installed but not logged in") != std::string::npos);
  CHECK(none.reason.find("codex: codex is not on PATH") != std::string::npos);
}

TEST_CASE("place: probe_engine asks claude auth status, and an API key also counts") {
  TempDir dir;
  const auto cli = dir.path() / "claude";
  ScopedEnv no_key("ANTHROPIC_API_KEY", nullptr);
  ScopedEnv config_dir("CLAUDE_CONFIG_DIR", (dir.path() / "claude-config").c_str());

  write_script(cli,
               "case \"$1\" in\n"
               "  --version) echo '9.9.9 (Claude Code)';;\n"
               "  auth) echo '{\"loggedIn\":true,\"authMethod\":\"claude.ai\","
               "\"subscriptionType\":\"pro\"}';;\n"
               "  *) exit 9;;\n"
               "esac");
  auto in = place::probe_engine("claude", cli.string());
  CHECK(in.path == cli.string());
  CHECK(in.version == "9.9.9 (Claude Code)");
  CHECK(in.logged_in);
  CHECK(in.plan == "pro");

  write_script(cli,
               "case \"$1\" in\n"
               "  --version) echo '9.9.9 (Claude Code)';;\n"
               "  auth) echo '{\"loggedIn\":false,\"authMethod\":\"none\"}'; exit 1;;\n"
               "esac");
  auto out = place::probe_engine("claude", cli.string());
  CHECK_FALSE(out.logged_in);
  CHECK(out.login.find("not logged in") == 0);

  {
    ScopedEnv key("ANTHROPIC_API_KEY", "sk-test");
    auto with_key = place::probe_engine("claude", cli.string());
    CHECK(with_key.logged_in);
    CHECK(with_key.login == "ANTHROPIC_API_KEY is set");
  }

  auto missing = place::probe_engine("claude", (dir.path() / "nope").string());
  CHECK(missing.path.empty());
  CHECK_FALSE(missing.logged_in);
  CHECK(missing.login.find("does not exist") != std::string::npos);
}

TEST_CASE("place: find_repository finds the work tree from a subdirectory, and none outside") {
  TempDir dir;
  const auto repo = dir.path() / "My Service";
  fs::create_directories(repo / "src" / "deep");
  agency::test::git_in(repo, {"init", "-q", "-b", "trunk"});
  std::ofstream(repo / "README") << "x\n";
  agency::test::git_in(repo, {"add", "."});
  agency::test::git_in(repo, {"commit", "-q", "-m", "first"});

  auto found = place::find_repository(repo / "src" / "deep");
  REQUIRE(found);
  CHECK(fs::equivalent(found->root, repo));
  CHECK(found->name == "My-Service");
  CHECK(found->default_branch == "trunk");

  const auto outside = dir.path() / "plain";
  fs::create_directories(outside);
  CHECK_FALSE(place::find_repository(outside));
}

TEST_CASE("place: config_yaml parses back to exactly the detected choices") {
  TempDir dir;
  place::Place p;
  p.dir = dir.path();
  p.repo = place::Repository{dir.path(), "web", "develop", "origin/HEAD"};
  p.tests = {"npm test", "package.json has a test script"};
  p.engine = {"claude", "claude 2.1 at /usr/bin/claude, logged in", "max20"};

  SUBCASE("a file in the repository names it relatively") {
    auto text = place::config_yaml(p, {dir.path(), {}, "written by a test"});
    CHECK(text.rfind("# written by a test\n", 0) == 0);
    CHECK(text.find("repo: \".\"") != std::string::npos);
    auto c = config::parse(text, dir.path() / "agency.yaml");
    INFO(text);
    REQUIRE(c.ok());
    REQUIRE(c->projects.size() == 1);
    CHECK(c->projects[0].name == "web");
    CHECK(fs::equivalent(c->projects[0].repo, dir.path()));
    CHECK(c->projects[0].default_branch == "develop");
    CHECK(c->projects[0].test_command == "npm test");
    REQUIRE(c->roles.size() == 6);
    for (const char* role : {"planner", "builder", "adversary", "reviewer"}) {
      REQUIRE(c->role(role) != nullptr);
      CHECK(c->role(role)->engine == "claude");
      CHECK(c->role(role)->count == 1);
    }
    // The merge queue, written out: it runs no engine.
    REQUIRE(c->role("integrator") != nullptr);
    CHECK(c->role("integrator")->engine.empty());
    CHECK(c->projects[0].landing == "merge");
    REQUIRE(c->role("accountant") != nullptr);
    CHECK(agency::config::accountant(*c).enabled);
    REQUIRE(agency::config::accountant(*c).accounts.size() == 1);
    CHECK(agency::config::accountant(*c).accounts[0].plan == "max20");
    CHECK(agency::config::accountant(*c).night_from_minute == 22 * 60);
    CHECK(agency::config::accountant(*c).night_to_minute == 7 * 60);
    CHECK(c->state_dir == dir.path() / ".agency");
  }

  SUBCASE("a file elsewhere names it absolutely and may set the state dir") {
    const auto state = dir.path() / ".agency";
    auto text = place::config_yaml(p, {state, state, ""});
    auto c = config::parse(text, state / "agency.place.yaml");
    INFO(text);
    REQUIRE(c.ok());
    REQUIRE(c->projects.size() == 1);
    CHECK(c->projects[0].repo == dir.path());
    CHECK(c->state_dir == state);
  }

  SUBCASE("no repository, no test command, no plan: nothing invented") {
    place::Place bare;
    bare.dir = dir.path();
    bare.engine = {"scripted", "no coding CLI is installed and logged in", ""};
    auto text = place::config_yaml(bare, {dir.path(), {}, ""});
    auto c = config::parse(text, dir.path() / "agency.yaml");
    INFO(text);
    REQUIRE(c.ok());
    CHECK(c->projects.empty());
    CHECK(c->roles.size() == 4);
    CHECK(c->role("planner")->engine == "scripted");
    CHECK_FALSE(agency::config::accountant(*c).enabled);
    CHECK(c->role("accountant") == nullptr);

    p.tests = {"", "none found"};
    auto untested =
        config::parse(place::config_yaml(p, {dir.path(), {}, ""}), dir.path() / "a.yaml");
    REQUIRE(untested.ok());
    CHECK(untested->projects[0].test_command.empty());
  }
}

TEST_CASE("place: the summary says what was chosen and how to change it") {
  place::Place p;
  p.dir = "/home/u/notes";
  p.engine = {"scripted", "no coding CLI is installed and logged in", ""};
  auto lines = place::summary_lines(p);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].find("project  none: /home/u/notes is not in a git repository") == 0);
  CHECK(lines[0].find("briefs need a project") != std::string::npos);
  CHECK(lines[1].find("engine   scripted") == 0);
  CHECK(lines[2].find("agency init --write") != std::string::npos);

  p.repo = place::Repository{"/home/u/api", "api", "main", "the branch checked out"};
  p.tests = {"make test", "the Makefile has a test target"};
  p.engine = {"claude", "claude 2.1 at /usr/bin/claude, logged in", "pro"};
  lines = place::summary_lines(p);
  CHECK(lines[0] ==
        "project  api: /home/u/api (branch main; tests: make test; reviewed work lands on main)");
  CHECK(lines[1].find("engine   claude: claude 2.1") == 0);
  CHECK(lines[1].find("plan pro") != std::string::npos);
}
