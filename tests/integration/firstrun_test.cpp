// The first run, as a new user has it: `agency up` with no agency.yaml
// inside a git repository, with a (fake) Claude Code on PATH that says it is
// logged in; the same outside a repository; `agency init --write`; and
// `agency doctor` with each of its checks failing in turn. The real binary,
// real git, a real nats-server; only the coding CLIs are small scripts.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bus/embedded_server.hpp"
#include "bus/program.hpp"
#include "roles/accountant/settings.hpp"
#include "runtime/config.hpp"
#include "runtime/process.hpp"
#include "tests/support/run.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/roles/git_repo.hpp"

namespace agency {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const fs::path& p) {
  std::vector<std::string> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// Polls pred every 20 ms until it holds or the deadline passes.
template <class Pred>
bool eventually(std::chrono::milliseconds limit, Pred pred) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);  // polling, not synchronisation
  }
  return pred();
}

void write_script(const fs::path& path, const std::string& body) {
  std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
  fs::permissions(path, fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);
}

std::string dir_of_program(const std::string& name) {
  auto p = find_program(name);
  REQUIRE_MESSAGE(p.has_value(), name << " is not on PATH");
  return fs::path(*p).parent_path().string();
}

// A fake Claude Code: `--version`, `auth status` answering `auth_json`
// (exit 0 when it says loggedIn), and a turn that records the agent's role
// and working directory in `record`, then passes with a spec.
void write_fake_claude(const fs::path& path, const std::string& auth_json, bool logged_in,
                       const fs::path& record) {
  write_script(
      path,
      "case \"$1\" in\n"
      "  --version) echo '2.1.0 (Claude Code)'; exit 0;;\n"
      "  auth) echo '" +
          auth_json + "'; exit " + (logged_in ? "0" : "1") +
          ";;\n"
          "esac\n"
          "cat >/dev/null\n"
          "echo \"$AGENCY_ROLE $PWD\" >> '" +
          record.string() +
          "'\n"
          "printf '%s\\n' '{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s-1\"}'\n"
          "printf '%s\\n' "
          "'{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"num_turns\":1,"
          "\"session_id\":\"s-1\",\"result\":\"```agency\\nverdict: pass\\nsummary: done\\n"
          "spec: Limit each API key to 100 requests a minute\\n```\","
          "\"usage\":{\"input_tokens\":10,\"output_tokens\":5}}'\n");
}

void write_not_logged_in(const fs::path& bin) {
  write_script(bin / "codex",
               "case \"$1\" in --version) echo 'codex-cli 0.1';; *) echo 'Not logged in'; exit "
               "1;; esac");
  write_script(bin / "gemini", "echo 0.1");
}

// A user's directory: a home, a bin with the fake CLIs first on PATH, and
// the place `agency` runs in.
struct Place {
  test::TempDir dir;
  fs::path home = dir.path() / "home";
  fs::path bin = dir.path() / "bin";
  fs::path logs = dir.path() / "logs";  // the children's stdout and stderr
  fs::path record = dir.path() / "claude-turns";

  Place() {
    fs::create_directories(home);
    fs::create_directories(bin);
    fs::create_directories(logs);
  }

  // A git repository with one commit on main and a Makefile test target.
  fs::path make_repo(const std::string& name) const {
    auto repo = dir.path() / name;
    fs::create_directories(repo);
    test::git_in(repo, {"init", "-q", "-b", "main"});
    std::ofstream(repo / "Makefile") << "test:\n\ttrue\n";
    test::git_in(repo, {"add", "."});
    test::git_in(repo, {"commit", "-q", "-m", "first"});
    return repo;
  }

  std::map<std::string, std::string> env() const {
    const char* path = std::getenv("PATH");
    return {{"PATH", bin.string() + ":" + (path != nullptr ? path : "/usr/bin:/bin")},
            {"HOME", home.string()},
            {"NATS_URL", ""},
            {"NATS_CONTEXT", ""},
            {"AGENCY_CONFIG", ""},
            {"CLAUDE_CONFIG_DIR", ""},
            {"ANTHROPIC_API_KEY", ""},
            {"OPENAI_API_KEY", ""},
            {"CODEX_API_KEY", ""},
            {"GEMINI_API_KEY", ""},
            {"GOOGLE_API_KEY", ""},
            {"GOOGLE_GENAI_USE_VERTEXAI", ""},
            {"XDG_CONFIG_HOME", home.string()}};
  }

  // `agency args...` run in `cwd`.
  std::unique_ptr<test::Child> agency(const fs::path& cwd, std::vector<std::string> args,
                                      std::map<std::string, std::string> extra = {}) const {
    std::vector<std::string> argv = {"/bin/sh", "-c",         "cd \"$1\" && shift && exec \"$@\"",
                                     "sh",      cwd.string(), test::agency_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto e = env();
    for (auto& [k, v] : extra) e[k] = v;
    return std::make_unique<test::Child>(argv, logs, e);
  }

  test::RunResult run(const fs::path& cwd, std::vector<std::string> args,
                      std::map<std::string, std::string> extra = {}) const {
    auto child = agency(cwd, std::move(args), std::move(extra));
    test::RunResult r;
    r.exit_code = child->wait(60s);
    r.out = child->out();
    r.err = child->err();
    return r;
  }
};

std::string git_out(const fs::path& dir, std::vector<std::string> args) {
  return test::trimmed(test::git_in(dir, std::move(args)));
}

TEST_CASE(
    "firstrun: up in a git repository picks it and a logged-in claude, and a brief reaches the "
    "builder there") {
  Place place;
  const auto repo = place.make_repo("shop");
  write_fake_claude(place.bin / "claude", R"({"loggedIn":true,"authMethod":"api_key"})", true,
                    place.record);

  auto up = place.agency(repo, {"up"});
  REQUIRE_MESSAGE(up->wait_for_output("running;", 60s), "stdout:\n"
                                                            << up->out() << "\nstderr:\n"
                                                            << up->err());
  const auto out = up->out();
  CHECK(out.find("no agency.yaml here") != std::string::npos);
  CHECK(out.find("project  shop: " + repo.string() +
                 " (branch main; tests: make test; reviewed work lands on main)") !=
        std::string::npos);
  CHECK(out.find("engine   claude: 2.1.0 (Claude Code) at " + (place.bin / "claude").string()) !=
        std::string::npos);
  CHECK(out.find("agency init --write") != std::string::npos);
  // The agents read the same choices, and the state dir stays out of git.
  auto cfg = config::load_file(repo / ".agency" / "agency.place.yaml");
  REQUIRE(cfg.ok());
  REQUIRE(cfg->projects.size() == 1);
  CHECK(cfg->role("builder")->engine == "claude");
  CHECK(git_out(repo, {"status", "--porcelain"}).empty());

  auto brief = place.run(repo, {"brief", "planner", "Add rate limiting to the API"});
  REQUIRE_MESSAGE(brief.exit_code == 0, brief.err);
  const std::string task = test::trimmed(brief.out);
  REQUIRE(task.rfind("t-", 0) == 0);

  // The builder's Claude Code ran in a worktree of this repository.
  std::string builder_dir;
  REQUIRE_MESSAGE(eventually(60s,
                             [&] {
                               for (const auto& l : lines_of(place.record)) {
                                 if (l.rfind("builder ", 0) == 0) builder_dir = l.substr(8);
                               }
                               return !builder_dir.empty();
                             }),
                  "claude turns:\n"
                      << slurp(place.record) << "\nup stderr:\n"
                      << up->err() << "\nplanner log:\n"
                      << slurp(repo / ".agency" / "logs" / "planner-1.log"));
  CHECK(builder_dir.find(task) != std::string::npos);
  CHECK(fs::equivalent(git_out(builder_dir, {"rev-parse", "--git-common-dir"}), repo / ".git"));
  CHECK(git_out(builder_dir, {"rev-parse", "--abbrev-ref", "HEAD"}) == "agency/" + task);

  up->signal(SIGTERM);
  CHECK(up->wait(60s) == 0);
}

TEST_CASE("firstrun: up outside a repository says briefs need a project before any is sent") {
  Place place;
  write_fake_claude(place.bin / "claude", R"({"loggedIn":false,"authMethod":"none"})", false,
                    place.record);
  write_not_logged_in(place.bin);
  const auto plain = place.dir.path() / "notes";
  fs::create_directories(plain);

  auto up = place.agency(plain, {"up", "--json"});
  REQUIRE_MESSAGE(up->wait_for_output("running;", 60s), "stderr:\n" << up->err());
  const auto err = up->err();
  CHECK(err.find("project  none: " + plain.string() + " is not in a git repository") !=
        std::string::npos);
  CHECK(err.find("briefs need a project") != std::string::npos);
  CHECK(err.find("engine   scripted: no coding CLI is installed and logged in") !=
        std::string::npos);
  auto summary = json::parse(test::trimmed(up->out()));
  CHECK(summary["place"]["project"].is_null());
  CHECK(summary["place"]["engine"] == "scripted");
  CHECK(summary["agents"].size() == 4);

  // Nothing was sent, so nothing is blocked.
  auto tasks = place.run(plain, {"task", "list", "--json"});
  REQUIRE_MESSAGE(tasks.exit_code == 0, tasks.err);
  CHECK(json::parse(tasks.out).empty());

  up->signal(SIGTERM);
  CHECK(up->wait(60s) == 0);
}

TEST_CASE(
    "firstrun: init --write writes the choices up makes, refuses to overwrite, and up runs "
    "it") {
  Place place;
  const auto repo = place.make_repo("web");
  std::ofstream(repo / "package.json") << R"({"scripts":{"test":"node test.js"}})";
  fs::remove(repo / "Makefile");
  write_fake_claude(
      place.bin / "claude",
      R"({"loggedIn":true,"authMethod":"claude.ai","subscriptionType":"max","planTier":"max_20x"})",
      true, place.record);

  auto wrong = place.run(repo, {"init", "--force"});
  CHECK(wrong.exit_code == 2);
  CHECK(wrong.err.find("--write") != std::string::npos);

  auto wrote = place.run(repo, {"init", "--write"});
  REQUIRE_MESSAGE(wrote.exit_code == 0, wrote.err);
  const auto file = repo / "agency.yaml";
  CHECK(wrote.out.find("wrote " + file.string()) != std::string::npos);
  const auto text = slurp(file);
  CHECK(text.find("# ") == 0);  // commented

  auto cfg = config::load_file(file);
  REQUIRE_MESSAGE(cfg.ok(), cfg.error().message);
  REQUIRE(cfg->projects.size() == 1);
  CHECK(cfg->projects[0].name == "web");
  CHECK(fs::equivalent(cfg->projects[0].repo, repo));
  CHECK(cfg->projects[0].default_branch == "main");
  CHECK(cfg->projects[0].test_command == "npm test");
  for (const char* role : {"planner", "builder", "adversary", "reviewer"}) {
    REQUIRE(cfg->role(role) != nullptr);
    CHECK(cfg->role(role)->engine == "claude");
  }
  CHECK(cfg->role("accountant") != nullptr);
  CHECK(agency::config::accountant(*cfg).enabled);
  REQUIRE(agency::config::accountant(*cfg).accounts.size() == 1);
  CHECK(agency::config::accountant(*cfg).accounts[0].plan == "max20");
  CHECK(agency::config::accountant(*cfg).night_from_minute == 22 * 60);

  // A second write needs --force; the file is left as it was.
  std::ofstream(file, std::ios::app) << "# my edit\n";
  auto again = place.run(repo, {"init", "--write"});
  CHECK(again.exit_code == 1);
  CHECK(again.err.find("--force") != std::string::npos);
  CHECK(slurp(file) == text + "# my edit\n");
  auto forced = place.run(repo, {"init", "--write", "--force"});
  CHECK(forced.exit_code == 0);
  CHECK(slurp(file) == text);

  // `agency up` runs the file as written: the same fleet, from the file.
  auto up = place.agency(repo, {"up", "--json"});
  REQUIRE_MESSAGE(up->wait_for_output("running;", 60s), "stderr:\n" << up->err());
  auto summary = json::parse(test::trimmed(up->out()));
  CHECK_FALSE(summary.contains("place"));
  std::vector<std::string> roles;
  for (const auto& a : summary["agents"]) roles.push_back(a["role"]);
  CHECK(roles == std::vector<std::string>{"planner", "builder", "adversary", "reviewer",
                                          "integrator", "accountant"});
  CHECK(up->err().find("no agency.yaml here") == std::string::npos);
  up->signal(SIGTERM);
  CHECK(up->wait(60s) == 0);
}

// ---- doctor ---------------------------------------------------------------

// A fleet that can run: one project, claude (a fake, logged in) for every
// role, the accountant reading a config dir that exists.
struct DoctorSetup {
  Place place;
  fs::path repo = place.make_repo("api");
  fs::path config = place.dir.path() / "agency.yaml";
  fs::path claude = place.bin / "claude";
  fs::path claude_dir = place.dir.path() / "claude-config";
  std::string nats_binary = dir_of_program("nats-server") + "/nats-server";

  DoctorSetup() {
    write_fake_claude(claude,
                      R"({"loggedIn":true,"authMethod":"claude.ai","subscriptionType":"pro"})",
                      true, place.record);
    fs::create_directories(claude_dir / "projects" / "-home-u-api");
  }

  // agency.yaml with `extra` added under the top level (sections replaced
  // by name).
  void write(const std::map<std::string, std::string>& sections = {}) const {
    std::map<std::string, std::string> s = {
        {"nats", "nats:\n  binary: " + nats_binary + "\n"},
        {"projects", "projects:\n  - name: api\n    repo: " + repo.string() +
                         "\n    test_command: make test\n"},
        {"roles", "roles:\n  planner: {engine: claude, cli: " + claude.string() +
                      "}\n  builder: {engine: claude, cli: " + claude.string() +
                      "}\n  accountant:\n"},
        {"accountant",
         "accountant:\n  plan: pro\n  accounts:\n    - name: default\n"
         "      config_dir: " +
             claude_dir.string() + "\n"},
        {"state_dir", "state_dir: state\n"}};
    for (const auto& [k, v] : sections) s[k] = v;
    std::ofstream out(config);
    for (const auto& [k, v] : s) out << v;
  }

  json doctor(int expected_exit, std::map<std::string, std::string> env = {}) const {
    auto r = place.run(place.dir.path(), {"--config", config.string(), "doctor", "--json"}, env);
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    REQUIRE(r.exit_code == expected_exit);
    auto j = json::parse(r.out, nullptr, false);
    REQUIRE(j.is_object());
    return j;
  }
};

json check_named(const json& report, const std::string& name) {
  for (const auto& c : report["checks"]) {
    if (c["name"] == name) return c;
  }
  FAIL("no check " << name << " in " << report.dump());
  return {};
}

std::vector<std::string> failing(const json& report) {
  std::vector<std::string> out;
  for (const auto& c : report["checks"]) {
    if (c["status"] == "fail") out.push_back(c["name"]);
  }
  return out;
}

TEST_CASE("firstrun: doctor passes a fleet that can run and names each failing check with a fix") {
  DoctorSetup s;
  s.write();
  auto good = s.doctor(0);
  CHECK(good["ok"] == true);
  CHECK(failing(good).empty());
  CHECK(check_named(good, "nats-server")["detail"].get<std::string>().find("nats-server: v") == 0);
  CHECK(check_named(good, "engine claude")["detail"].get<std::string>().find("logged in") !=
        std::string::npos);
  CHECK(check_named(good, "project api")["status"] == "ok");
  CHECK(check_named(good, "ledger")["detail"].get<std::string>().find("reads ") == 0);
  CHECK(check_named(good, "jetstream")["status"] == "ok");
  CHECK(check_named(good, "usage endpoint")["status"] == "skip");

  auto fails_only = [&](const json& report, const std::string& name) {
    CHECK(report["ok"] == false);
    CHECK(failing(report) == std::vector<std::string>{name});
    CHECK_FALSE(check_named(report, name)["fix"].get<std::string>().empty());
  };

  SUBCASE("no nats-server") {
    s.write({{"nats", "nats:\n  binary: " + (s.place.dir.path() / "no-nats").string() + "\n"}});
    auto r = s.doctor(1);
    CHECK(failing(r) == std::vector<std::string>{"nats-server"});
    CHECK(check_named(r, "jetstream")["status"] == "skip");
  }
  SUBCASE("no git") {
    // PATH holds only the fake CLIs: the tools agency needs are given by path.
    auto r = s.doctor(1, {{"PATH", s.place.bin.string()}});
    fails_only(r, "git");
    CHECK(check_named(r, "project api")["status"] == "skip");
  }
  SUBCASE("a repository with no commit on its default branch") {
    const auto empty = s.place.dir.path() / "empty";
    fs::create_directories(empty);
    test::git_in(empty, {"init", "-q", "-b", "main"});
    s.write({{"projects", "projects:\n  - name: api\n    repo: " + empty.string() + "\n"}});
    fails_only(s.doctor(1), "project api");
  }
  SUBCASE("no project at all") {
    s.write({{"projects", "projects: []\n"}});
    fails_only(s.doctor(1), "projects");
  }
  SUBCASE("claude not logged in") {
    write_fake_claude(s.claude, R"({"loggedIn":false,"authMethod":"none"})", false, s.place.record);
    auto r = s.doctor(1);
    fails_only(r, "engine claude");
    CHECK(check_named(r, "engine claude")["fix"].get<std::string>().find("/login") !=
          std::string::npos);
  }
  SUBCASE("claude not installed") {
    fs::remove(s.claude);
    fails_only(s.doctor(1), "engine claude");
  }
  SUBCASE("the usage endpoint cannot be reached") {
    std::ofstream(s.place.dir.path() / "token") << "tok\n";
    s.write({{"accountant",
              "accountant:\n  plan: pro\n  accounts:\n    - name: default\n      config_dir: " +
                  s.claude_dir.string() + "\n      usage_url: http://127.0.0.1:" +
                  std::to_string(*find_free_port()) + "/api/oauth/usage\n      token_file: " +
                  (s.place.dir.path() / "token").string() + "\n"}});
    auto r = s.doctor(1);
    fails_only(r, "usage endpoint");
    CHECK(check_named(r, "usage endpoint")["detail"].get<std::string>().find("cannot be reached") !=
          std::string::npos);
  }
  SUBCASE("the ledger's projects folder is not a directory") {
    fs::remove_all(s.claude_dir / "projects");
    std::ofstream(s.claude_dir / "projects") << "not a folder\n";
    fails_only(s.doctor(1), "ledger");
  }
  SUBCASE("the state dir cannot be written") {
    std::ofstream(s.place.dir.path() / "a-file") << "x\n";
    s.write({{"state_dir", "state_dir: a-file/state\n"}});
    fails_only(s.doctor(1), "state dir");
  }
  SUBCASE("the server's max_payload is below the largest message limit") {
    // nats-server whose config (-c FILE, all agency gives it) also shrinks
    // max_payload to 64 KiB.
    write_script(s.place.dir.path() / "small-nats",
                 "[ \"$1\" = -c ] && echo 'max_payload: 65536' >> \"$2\"\nexec " + s.nats_binary +
                     " \"$@\"");
    s.write({{"nats", "nats:\n  binary: " + (s.place.dir.path() / "small-nats").string() + "\n"}});
    auto r = s.doctor(1);
    fails_only(r, "jetstream");
    CHECK(check_named(r, "jetstream")["detail"].get<std::string>().find("max_payload 64 KiB") !=
          std::string::npos);
  }
  SUBCASE("landing by pull request without a remote or without gh") {
    CHECK(check_named(good, "landing api")["status"] == "ok");
    s.write({{"projects", "projects:\n  - name: api\n    repo: " + s.repo.string() +
                              "\n    test_command: make test\n    landing: pr\n"}});
    auto no_remote = s.doctor(1);
    fails_only(no_remote, "landing api");
    CHECK(check_named(no_remote, "landing api")["detail"].get<std::string>().find(
              "no remote 'origin'") != std::string::npos);
    test::git_in(s.repo, {"remote", "add", "origin", "https://example.invalid/api.git"});
    // PATH holds the fake CLIs and git, and no gh whatever this machine has.
    const auto git_only = s.place.dir.path() / "git-only";
    fs::create_directories(git_only);
    const auto git = program::find("git");
    REQUIRE(git.has_value());
    fs::create_symlink(*git, git_only / "git");
    auto no_gh = s.doctor(1, {{"PATH", s.place.bin.string() + ":" + git_only.string()}});
    fails_only(no_gh, "landing api");
    CHECK(check_named(no_gh, "landing api")["detail"].get<std::string>().find("`gh`") !=
          std::string::npos);
  }
  SUBCASE("agency.yaml does not load") {
    s.write({{"state_dir", "state_dir: state\nbogus: 1\n"}});
    auto r = s.doctor(2);
    CHECK(failing(r) == std::vector<std::string>{"config"});
  }
}

TEST_CASE("firstrun: doctor without agency.yaml checks what up would choose, in words") {
  Place place;
  const auto repo = place.make_repo("tool");
  write_fake_claude(place.bin / "claude", R"({"loggedIn":false,"authMethod":"none"})", false,
                    place.record);
  write_not_logged_in(place.bin);
  auto r = place.run(repo, {"doctor"});
  INFO(r.out << r.err);
  // Scripted is a warning, not a failure: the fleet runs, on canned answers.
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("no agency.yaml here") != std::string::npos);
  CHECK(r.out.find("project  tool: " + repo.string()) != std::string::npos);
  CHECK(r.out.find("warn  engine scripted") != std::string::npos);
  CHECK(r.out.find("fix: install and log in to claude") != std::string::npos);
  CHECK(r.out.find("the fleet can run") != std::string::npos);
}

}  // namespace
}  // namespace agency
