// agency.yaml: defaults, a full file, paths, and an error for every way a
// file can be wrong, each naming the place to fix.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "bus/provision.hpp"
#include "roles/accountant/settings.hpp"
#include "roles/dispatcher/settings.hpp"
#include "roles/proxy/settings.hpp"
#include "roles/scout/settings.hpp"
#include "roles/sweeper/settings.hpp"
#include "roles/synthesizer/settings.hpp"
#include "runtime/catalog.hpp"
#include "runtime/config.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/roles/git_repo.hpp"

namespace fs = std::filesystem;
namespace config = agency::config;

namespace {

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

config::Config parsed(const std::string& yaml, const fs::path& source = "/srv/proj/agency.yaml") {
  auto c = config::parse(yaml, source);
  INFO((c ? std::string() : c.error().message));
  REQUIRE(c.ok());
  return *c;
}

std::string error_of(const std::string& yaml) {
  auto c = config::parse(yaml, "agency.yaml");
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code == agency::errc::config);
  return c.error().message;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::vector<std::string> role_names(const config::Config& c) {
  std::vector<std::string> names;
  for (const auto& r : c.roles) names.push_back(r.name);
  return names;
}

const std::vector<std::string> kPipeline = {"planner", "builder", "adversary", "reviewer"};

// Sets or unsets AGENCY_CONFIG for one test and puts the old value back.
class ScopedAgencyConfig {
 public:
  explicit ScopedAgencyConfig(const std::optional<std::string>& value) {
    if (const char* old = std::getenv("AGENCY_CONFIG")) old_ = old;
    if (value) {
      ::setenv("AGENCY_CONFIG", value->c_str(), 1);
    } else {
      ::unsetenv("AGENCY_CONFIG");
    }
  }
  ~ScopedAgencyConfig() {
    if (old_) {
      ::setenv("AGENCY_CONFIG", old_->c_str(), 1);
    } else {
      ::unsetenv("AGENCY_CONFIG");
    }
  }
  ScopedAgencyConfig(const ScopedAgencyConfig&) = delete;
  ScopedAgencyConfig& operator=(const ScopedAgencyConfig&) = delete;

 private:
  std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("config: the embedded default runs the four pipeline roles on an embedded server") {
  auto c = config::embedded_default("/work/here");
  CHECK(c.source.empty());
  CHECK(c.state_dir == fs::path("/work/here/.agency"));
  CHECK(role_names(c) == kPipeline);
  for (const auto& r : c.roles) {
    CAPTURE(r.name);
    CHECK(r.count == 1);
    CHECK(r.engine.empty());
    CHECK(r.binary.empty());
    CHECK(r.skill.empty());
  }
  CHECK(c.projects.empty());
  CHECK(c.nats.url.empty());
  CHECK(c.nats.host == "127.0.0.1");
  CHECK(c.nats.port == 0);
  CHECK(c.nats.monitor_port == 0);
  CHECK(c.nats.replicas == 1);
  CHECK(c.pipeline.bounce_limit == 3);
  CHECK(c.pipeline.max_deliver == 5);
  for (const auto& r : c.roles) {
    CAPTURE(r.name);
    CHECK(r.command.empty());
    CHECK(r.timeout_seconds == 600);
    CHECK(r.env_allow.empty());
    CHECK(r.scenario.empty());
  }

  // default_yaml() is what `agency init --config` writes: written to a file,
  // it must mean the same.
  auto from_text = parsed(std::string(config::default_yaml()), "/work/here/agency.yaml");
  CHECK(role_names(from_text) == kPipeline);
  CHECK(from_text.state_dir == c.state_dir);
  CHECK(config::default_yaml().find("# ") != std::string_view::npos);  // commented for people
}

TEST_CASE("config: an empty file means all defaults") {
  for (const char* text : {"", "\n", "# only a comment\n", "---\n"}) {
    CAPTURE(text);
    auto c = parsed(text, "/srv/proj/agency.yaml");
    CHECK(c.source == fs::path("/srv/proj/agency.yaml"));
    CHECK(c.state_dir == fs::path("/srv/proj/.agency"));
    CHECK(role_names(c) == kPipeline);
    CHECK(c.projects.empty());
    CHECK(c.nats.replicas == 1);
  }
}

TEST_CASE("config: two documents, or a stray comma, are an error, not a hang") {
  // Found by tests/fuzz: yaml-cpp 0.7's LoadAll never returned on ",".
  CHECK(contains(error_of("roles: {}\n---\nroles: {}\n"), "several YAML documents"));
  CHECK(contains(error_of(","), "several YAML documents"));
  CHECK(contains(error_of(",\x01"), "agency.yaml"));
}

TEST_CASE("config: a full file") {
  auto c = parsed(R"(
state_dir: /var/lib/agency
nats:
  url: nats://hub-a:4222,nats://hub-b:4222
  host: 0.0.0.0
  port: 4333
  monitor_port: -1
  binary: nats-server
  replicas: 3
projects:
  - name: demo
    repo: /src/demo
    default_branch: trunk
    test_command: make test
    landing: push
    land_with: rebase
    remote: upstream
  - name: api_2
    repo: /src/api
roles:
  reviewer:
    count: 2
    engine: claude
    model: opus
    binary: /opt/agency/bin/agency-reviewer
    skill: /opt/skills/review.md
    args: [--verbose, 3]
    env: {LOG_LEVEL: debug, EMPTY: }
  planner:
  builder: {count: 0}
)");
  CHECK(c.state_dir == fs::path("/var/lib/agency"));
  CHECK(c.nats.url == "nats://hub-a:4222,nats://hub-b:4222");
  CHECK(c.nats.host == "0.0.0.0");
  CHECK(c.nats.port == 4333);
  CHECK(c.nats.monitor_port == -1);
  CHECK(c.nats.binary == "nats-server");
  CHECK(c.nats.replicas == 3);

  REQUIRE(c.projects.size() == 2);
  const auto* demo = c.project("demo");
  REQUIRE(demo != nullptr);
  CHECK(demo->repo == fs::path("/src/demo"));
  CHECK(demo->default_branch == "trunk");
  CHECK(demo->test_command == "make test");
  const auto* api = c.project("api_2");
  REQUIRE(api != nullptr);
  CHECK(api->default_branch == "main");
  CHECK(api->test_command.empty());
  CHECK(demo->landing == "push");
  CHECK(demo->land_with == "rebase");
  CHECK(demo->remote == "upstream");
  CHECK(api->landing == "merge");
  CHECK(api->land_with == "merge");
  CHECK(api->remote == "origin");
  CHECK(c.project("nope") == nullptr);

  // File order, not alphabetical; a role without settings takes the
  // defaults. The projects land, so the fleet gets its integrator.
  CHECK(role_names(c) == std::vector<std::string>{"reviewer", "planner", "builder", "integrator"});
  const auto* reviewer = c.role("reviewer");
  REQUIRE(reviewer != nullptr);
  CHECK(reviewer->count == 2);
  CHECK(reviewer->engine == "claude");
  CHECK(reviewer->model == "opus");
  CHECK(reviewer->binary == "/opt/agency/bin/agency-reviewer");
  CHECK(reviewer->skill == fs::path("/opt/skills/review.md"));
  CHECK(reviewer->args == std::vector<std::string>{"--verbose", "3"});
  CHECK(reviewer->env == std::map<std::string, std::string>{{"EMPTY", ""}, {"LOG_LEVEL", "debug"}});
  REQUIRE(c.role("planner") != nullptr);
  CHECK(c.role("planner")->count == 1);
  CHECK(c.role("planner")->engine.empty());
  CHECK(c.role("builder")->count == 0);
  CHECK(c.role("adversary") == nullptr);
}

TEST_CASE("config: sections given empty are taken as written") {
  SUBCASE("a roles section runs exactly the roles it lists") {
    CHECK(role_names(parsed("roles: {planner: , builder: {count: 2}}\n")) ==
          std::vector<std::string>{"planner", "builder"});
    CHECK(parsed("roles: {}\n").roles.empty());
    CHECK(parsed("roles:\n").roles.empty());
  }
  SUBCASE("empty nats and projects sections keep the defaults") {
    auto c = parsed("nats:\nprojects:\n");
    CHECK(c.nats.host == "127.0.0.1");
    CHECK(c.projects.empty());
    CHECK(role_names(c) == kPipeline);
  }
  SUBCASE("an empty value keeps a key's default") {
    auto c = parsed("state_dir:\nnats: {port: , host: }\n");
    CHECK(c.state_dir == fs::path("/srv/proj/.agency"));
    CHECK(c.nats.port == 0);
    CHECK(c.nats.host == "127.0.0.1");
  }
}

TEST_CASE("config: relative paths are relative to the config file") {
  auto c = parsed(R"(
state_dir: ./var/state
nats: {binary: ../bin/nats-server}
projects: [{name: demo, repo: ./demo}, {name: up, repo: ../upstream}]
roles:
  builder: {binary: tools/agency-builder, skill: skills/builder.md}
  planner: {binary: agency-planner}
)",
                  "/srv/proj/agency.yaml");
  CHECK(c.state_dir == fs::path("/srv/proj/var/state"));
  CHECK(c.nats.binary == "/srv/bin/nats-server");
  CHECK(c.project("demo")->repo == fs::path("/srv/proj/demo"));
  CHECK(c.project("up")->repo == fs::path("/srv/upstream"));
  CHECK(c.role("builder")->binary == "/srv/proj/tools/agency-builder");
  CHECK(c.role("builder")->skill == fs::path("/srv/proj/skills/builder.md"));
  // A bare name is found on PATH when it runs.
  CHECK(c.role("planner")->binary == "agency-planner");
}

TEST_CASE("config: unknown keys name the key, its place and the known keys") {
  SUBCASE("top level") {
    auto msg = error_of("nats: {}\nrole:\n  builder:\n");
    CHECK(contains(msg, "agency.yaml:2:"));
    CHECK(contains(msg, "'role'"));
    CHECK(contains(msg, "did you mean 'roles'"));
    CHECK(contains(msg, "state_dir, nats, projects, roles"));
  }
  SUBCASE("in a role") {
    auto msg = error_of("roles:\n  builder:\n    cont: 2\n");
    CHECK(contains(msg, "agency.yaml:3:"));
    CHECK(contains(msg, "roles.builder"));
    CHECK(contains(msg, "'cont'"));
    CHECK(contains(msg, "count"));
  }
  SUBCASE("in nats") {
    auto msg = error_of("nats:\n  portt: 1\n");
    CHECK(contains(msg, "agency.yaml:2:"));
    CHECK(contains(msg, "nats"));
    CHECK(contains(msg, "'portt'"));
    CHECK(contains(msg, "monitor_port"));
  }
  SUBCASE("in a project") {
    auto msg = error_of("projects:\n  - name: a\n    repo: .\n    tests: make\n");
    CHECK(contains(msg, "agency.yaml:4:"));
    CHECK(contains(msg, "projects[0]"));
    CHECK(contains(msg, "'tests'"));
    CHECK(contains(msg, "test_command"));
  }
}

TEST_CASE("config: type errors name the path, the expected type and the value") {
  SUBCASE("a count that is not a number") {
    auto msg = error_of("roles:\n  planner:\n  builder:\n    count: two\n");
    CHECK(msg ==
          "agency.yaml:4: roles.builder.count: must be a whole number from 0 to 64, "
          "got 'two'");
  }
  struct Case {
    const char* yaml;
    const char* path;
    const char* expected;
  };
  const Case cases[] = {
      {"roles: {builder: {count: 65}}", "roles.builder.count", "from 0 to 64"},
      {"roles: {builder: {count: 1.5}}", "roles.builder.count", "from 0 to 64"},
      {"roles: {builder: {count: -1}}", "roles.builder.count", "from 0 to 64"},
      {"nats: {port: 65536}", "nats.port", "from 0 to 65535"},
      {"nats: {port: [1]}", "nats.port", "got a list"},
      {"nats: {monitor_port: -2}", "nats.monitor_port", "from -1 to 65535"},
      {"nats: {replicas: 0}", "nats.replicas", "from 1 to 5"},
      {"nats: {replicas: 7}", "nats.replicas", "from 1 to 5"},
      {"nats: {url: 'http://x:80'}", "nats.url", "http"},
      {"nats: {host: ''}", "nats.host", "empty"},
      {"nats: [url]", "nats", "must be a map"},
      {"state_dir: [a, b]", "state_dir", "got a list"},
      {"projects: {name: a}", "projects", "must be a list"},
      {"projects: [demo]", "projects[0]", "got 'demo'"},
      {"roles: [planner]", "roles", "must be a map"},
      {"roles: {builder: 2}", "roles.builder", "got '2'"},
      {"roles: {builder: {args: --x}}", "roles.builder.args", "must be a list"},
      {"roles: {builder: {args: [{a: 1}]}}", "roles.builder.args[0]", "got a map"},
      {"roles: {builder: {env: [A]}}", "roles.builder.env", "must be a map"},
      {"roles: {builder: {env: {A: [1]}}}", "roles.builder.env.A", "got a list"},
      {"roles: {builder: {env: {1A: x}}}", "roles.builder.env", "'1A'"},
      {"roles: {builder: {engine: 'two words'}}", "roles.builder.engine", "'two words'"},
      {"roles: {builder: {model: {a: b}}}", "roles.builder.model", "got a map"},
      {"roles: {builder: {command: ./x.sh}}", "roles.builder.command", "must be a list"},
      {"roles: {builder: {command: []}}", "roles.builder.command", "at least the program"},
      {"roles: {builder: {command: ['']}}", "roles.builder.command[0]", "must not be empty"},
      {"roles: {builder: {command: [a, [b]]}}", "roles.builder.command[1]", "got a list"},
      {"roles: {builder: {timeout_seconds: 0}}", "roles.builder.timeout_seconds",
       "from 1 to 86400"},
      {"roles: {builder: {timeout_seconds: 86401}}", "roles.builder.timeout_seconds",
       "from 1 to 86400"},
      {"roles: {builder: {env_allow: TOKEN}}", "roles.builder.env_allow", "must be a list"},
      {"roles: {builder: {env_allow: [A, 'B C']}}", "roles.builder.env_allow[1]", "'B C'"},
      {"roles: {builder: {env_allow: ['*']}}", "roles.builder.env_allow[0]", "'*'"},
      {"roles: {builder: {scenario: [a]}}", "roles.builder.scenario", "got a list"},
      {"pipeline: [1]", "pipeline", "must be a map"},
      {"pipeline: {bounce_limit: -1}", "pipeline.bounce_limit", "from 0 to 100"},
      {"pipeline: {max_deliver: 0}", "pipeline.max_deliver", "from 1 to 100"},
      {"limits: {brief_bytes: 2000000}", "limits.brief_bytes", "from 1024 to 983040"},
      {"limits: {usage_bytes: -1}", "limits.usage_bytes", "from 1024 to 983040"},
      {"limits: {brief: 10}", "limits", "brief_bytes"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.yaml);
    auto msg = error_of(c.yaml);
    CHECK(contains(msg, std::string(c.path) + ":"));
    CHECK(contains(msg, c.expected));
    CHECK(contains(msg, "agency.yaml:1:"));
  }
}

TEST_CASE("config: limits default to what a person would send and can be set") {
  auto d = parsed("{}");
  CHECK(d.limits.brief_bytes == 256 * 1024);
  CHECK(d.limits.task_bytes == 512 * 1024);
  CHECK(d.limits.dead_letter_keep_bytes == 4096);
  auto c = parsed("limits: {brief_bytes: 4096, mail_bytes: 2048, dead_letter_keep_bytes: 0}");
  CHECK(c.limits.brief_bytes == 4096);
  CHECK(c.limits.mail_bytes == 2048);
  CHECK(c.limits.question_bytes == 64 * 1024);
  CHECK(c.limits.dead_letter_keep_bytes == 0);
  auto plan = config::provision_plan(c, {"builder"});
  CHECK(plan.brief_bytes == 4096);
  CHECK(plan.mail_bytes == 2048);
}

TEST_CASE("config: engine settings and the pipeline") {
  auto c = parsed(R"(
pipeline:
  bounce_limit: 0
  max_deliver: 9
roles:
  reviewer:
    engine: command
    command: [./bin/review.sh, --task, '{task_id}']
    timeout_seconds: 30
    env_allow: [GITHUB_TOKEN, 'AWS_*']
  planner:
    engine: scripted
    scenario: demo/scenario.yaml
  builder:
    command: [claude-wrapper, '{workdir}']
)",
                  "/srv/proj/agency.yaml");
  CHECK(c.pipeline.bounce_limit == 0);
  CHECK(c.pipeline.max_deliver == 9);
  const auto* reviewer = c.role("reviewer");
  REQUIRE(reviewer != nullptr);
  CHECK(reviewer->engine == "command");
  // The program with a '/' is relative to the file; arguments are kept as written.
  CHECK(reviewer->command ==
        std::vector<std::string>{"/srv/proj/bin/review.sh", "--task", "{task_id}"});
  CHECK(reviewer->timeout_seconds == 30);
  CHECK(reviewer->env_allow == std::vector<std::string>{"GITHUB_TOKEN", "AWS_*"});
  CHECK(c.role("planner")->scenario == fs::path("/srv/proj/demo/scenario.yaml"));
  CHECK(c.role("planner")->timeout_seconds == 600);
  // A bare program name is looked up on PATH when it runs.
  CHECK(c.role("builder")->command.front() == "claude-wrapper");

  auto only_one = parsed("pipeline: {max_deliver: 2}\n");
  CHECK(only_one.pipeline.bounce_limit == 3);
  CHECK(only_one.pipeline.max_deliver == 2);
  CHECK(parsed("pipeline:\n").pipeline.max_deliver == 5);
}

TEST_CASE("config: settings of the CLI and HTTP engines") {
  auto c = parsed(R"(
roles:
  builder:
    engine: claude
    cli: tools/claude
    cli_args: [--effort, high]
    permission_mode: acceptEdits
    allowed_tools: [Read, 'Bash(make test)']
    max_turns: 40
    rate_limit_wait_seconds: 120
    session_max_tokens: 0
  reviewer:
    engine: openai
    base_url: http://127.0.0.1:8000/v1
    api_key_env: LOCAL_KEY
    max_tokens: 2048
    retries: 1
)",
                  "/srv/proj/agency.yaml");
  const auto* builder = c.role("builder");
  REQUIRE(builder != nullptr);
  CHECK(builder->cli == "/srv/proj/tools/claude");
  CHECK(builder->cli_args == std::vector<std::string>{"--effort", "high"});
  CHECK(builder->permission_mode == "acceptEdits");
  CHECK(builder->allowed_tools == std::vector<std::string>{"Read", "Bash(make test)"});
  CHECK(builder->max_turns == 40);
  CHECK(builder->rate_limit_wait_seconds == 120);
  CHECK(builder->session_max_tokens == 0);
  const auto* reviewer = c.role("reviewer");
  REQUIRE(reviewer != nullptr);
  CHECK(reviewer->base_url == "http://127.0.0.1:8000/v1");
  CHECK(reviewer->api_key_env == "LOCAL_KEY");
  CHECK(reviewer->max_tokens == 2048);
  CHECK(reviewer->retries == 1);
  // Defaults.
  const auto defaults = parsed("roles: {planner: }\n");
  CHECK(defaults.role("planner")->retries == 3);
  CHECK(defaults.role("planner")->rate_limit_wait_seconds == 300);
  CHECK(defaults.role("planner")->session_max_tokens == 150000);
  // A key pasted where its variable's name belongs is refused, and never echoed.
  auto msg = error_of("roles:\n  reviewer:\n    api_key_env: sk-abc123-secret\n");
  CHECK(msg.find("must name the environment variable") != std::string::npos);
  CHECK(msg.find("sk-abc123") == std::string::npos);
}

TEST_CASE("config: the command engine needs a command") {
  auto msg = error_of("roles:\n  planner:\n  reviewer:\n    engine: command\n");
  CHECK(contains(msg, "agency.yaml:3: roles.reviewer:"));
  CHECK(contains(msg, "engine 'command' needs a command"));
  CHECK(contains(error_of("roles: {reviewer: {engine: command, command: }}"), "needs a command"));
  msg = error_of("pipeline:\n  bounce_limt: 2\n");
  CHECK(contains(msg, "agency.yaml:2: pipeline: unknown key 'bounce_limt'"));
  CHECK(contains(msg, "did you mean 'bounce_limit'"));
}

TEST_CASE("config: names must be subject tokens") {
  auto msg = error_of("roles:\n  'build er':\n");
  CHECK(contains(msg, "agency.yaml:2:"));
  CHECK(contains(msg, "'build er'"));
  CHECK(contains(error_of("roles: {builder.x: }"), "'builder.x'"));
  msg = error_of("projects:\n  - name: my.project\n    repo: .\n");
  CHECK(contains(msg, "agency.yaml:2:"));
  CHECK(contains(msg, "projects[0].name"));
  CHECK(contains(msg, "'my.project'"));
  CHECK(contains(error_of("projects: [{name: '', repo: .}]"), "projects[0].name"));
}

TEST_CASE("config: a project's landing settings are checked, and integrator count 0 is kept") {
  auto msg = error_of("projects:\n  - name: demo\n    repo: .\n    landing: squash\n");
  CHECK(contains(msg, "agency.yaml:4:"));
  CHECK(contains(msg, "projects[0].landing"));
  CHECK(contains(msg, "merge, push, pr, none"));
  CHECK(contains(msg, "'squash'"));
  msg = error_of("projects: [{name: demo, repo: ., land_with: cherry-pick}]");
  CHECK(contains(msg, "projects[0].land_with"));
  CHECK(contains(msg, "merge, rebase"));
  CHECK(contains(error_of("projects: [{name: demo, repo: ., remote: ''}]"), "projects[0].remote"));
  // A fleet that lands gets one integrator, unless roles says otherwise.
  auto none = parsed("projects: [{name: demo, repo: ., landing: none}]\nroles: {builder: }\n");
  CHECK(role_names(none) == std::vector<std::string>{"builder"});
  auto off = parsed("projects: [{name: demo, repo: .}]\nroles: {integrator: {count: 0}}\n");
  REQUIRE(off.role("integrator") != nullptr);
  CHECK(off.role("integrator")->count == 0);
  CHECK(off.roles.size() == 1);
}

TEST_CASE("config: projects need a name and a repo, and distinct names") {
  auto msg = error_of("projects:\n  - name: demo\n    test_command: make\n");
  CHECK(contains(msg, "projects[0]"));
  CHECK(contains(msg, "'repo'"));
  CHECK(contains(error_of("projects: [{repo: .}]"), "'name'"));
  CHECK(contains(error_of("projects: [{name: a, repo: }]"), "projects[0].repo"));
  msg = error_of(
      "projects:\n  - {name: demo, repo: a}\n  - {name: x, repo: b}\n"
      "  - {name: demo, repo: c}\n");
  CHECK(contains(msg, "agency.yaml:4:"));
  CHECK(contains(msg, "projects[2]"));
  CHECK(contains(msg, "'demo'"));
}

TEST_CASE("config: a key given twice is an error") {
  auto msg = error_of("nats:\n  port: 1\n  port: 2\n");
  CHECK(contains(msg, "nats.port"));
  CHECK(contains(msg, "twice"));
  CHECK(contains(error_of("roles:\n  builder:\n  builder:\n"), "'builder'"));
}

TEST_CASE("config: YAML syntax errors carry the parser's line and column") {
  auto msg = error_of("roles:\n  builder: {count: 1\n");
  CHECK(contains(msg, "agency.yaml:"));
  CHECK(contains(msg, "not valid YAML"));
  msg = error_of("nats:\n  port: 1\n bad indent: [\n");
  CHECK(contains(msg, "agency.yaml:3:"));
  CHECK(contains(error_of("a: 1\n---\nb: 2\n"), "documents"));
  CHECK(contains(error_of("just text"), "must be a map"));
}

TEST_CASE("config: load_file reads the file and names it in errors") {
  agency::test::TempDir dir;
  auto file = dir.path() / "conf" / "agency.yaml";
  agency::test::make_repo(dir.path() / "conf" / "demo");
  write(file, "projects:\n  - name: demo\n    repo: ./demo\nroles:\n  builder:\n    count: x\n");
  auto c = config::load_file(file);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().message.rfind(file.string() + ":6: roles.builder.count:", 0) == 0);

  write(file, "projects:\n  - name: demo\n    repo: ./demo\n");
  c = config::load_file(file);
  INFO((c ? std::string() : c.error().message));
  REQUIRE(c.ok());
  CHECK(c->source == file);
  CHECK(c->project("demo")->repo == dir.path() / "conf" / "demo");
  CHECK(c->state_dir == dir.path() / "conf" / ".agency");

  auto missing = config::load_file(dir.path() / "missing.yaml");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == agency::errc::config);
  CHECK(contains(missing.error().message, (dir.path() / "missing.yaml").string()));
  CHECK_FALSE(config::load_file(dir.path()).ok());
}

// What load_file() checks on the disk, each error pointing at its line.
struct DiskConfig {
  agency::test::TempDir dir;
  fs::path file = dir.path() / "agency.yaml";

  agency::Result<config::Config> load(const std::string& yaml) const {
    write(file, yaml);
    return config::load_file(file);
  }
  std::string error(const std::string& yaml) const {
    auto c = load(yaml);
    REQUIRE_FALSE(c.ok());
    CHECK(c.error().code == agency::errc::config);
    return c.error().message;
  }
  std::string at(int line) const { return file.string() + ":" + std::to_string(line) + ": "; }
};

TEST_CASE("config: load_file refuses a misspelt role, naming its line and the role meant") {
  DiskConfig d;
  auto msg = d.error("state_dir: state\nroles:\n  builder:\n    count: 1\n  planer:\n");
  CHECK(msg == d.at(5) +
                   "roles.planer: no such role; did you mean planner? (a role of your own needs "
                   "skill: PATH/SKILL.md, or binary: PROGRAM)");
  // Written with settings, the role's key is still the place.
  msg = d.error("roles:\n  reveiwer:\n    count: 2\n");
  CHECK(msg.rfind(d.at(2) + "roles.reveiwer: no such role; did you mean reviewer?", 0) == 0);
  // Nothing near: the built-in roles are listed.
  msg = d.error("roles:\n  scribe:\n");
  CHECK(msg.rfind(d.at(2) + "roles.scribe: no such role; the built-in roles are planner, ", 0) ==
        0);
  CHECK(contains(msg, "skill: PATH/SKILL.md"));
  // parse() looks at the text alone.
  CHECK(config::parse("roles:\n  planer:\n", d.file).ok());
}

TEST_CASE("config: a role of one's own runs from its skill, its binary or roles/<name>/SKILL.md") {
  DiskConfig d;
  write(d.dir.path() / "skills" / "scribe.md", "---\nname: scribe\n---\n");
  auto c = d.load("roles:\n  scribe:\n    skill: skills/scribe.md\n");
  INFO((c ? std::string() : c.error().message));
  CHECK(c.ok());
  CHECK(d.load("roles:\n  scribe:\n    binary: ./scribe.sh\n").ok());
  write(d.dir.path() / "roles" / "linter" / "SKILL.md", "---\nname: linter\n---\n");
  CHECK(d.load("roles:\n  linter:\n").ok());
  for (const auto& name : agency::catalog::names()) {
    auto builtin = d.load("roles:\n  " + name + ":\n");
    INFO((builtin ? std::string() : builtin.error().message));
    CHECK(builtin.ok());
  }

  // A skill that is not there, for a role of one's own or a built-in one.
  auto msg = d.error("roles:\n  scribe:\n    count: 1\n    skill: skills/scrbe.md\n");
  CHECK(msg == d.at(4) + "roles.scribe.skill: " + (d.dir.path() / "skills" / "scrbe.md").string() +
                   " does not exist");
  msg = d.error("roles:\n  planner:\n    skill: skills\n");
  CHECK(msg.rfind(d.at(3) + "roles.planner.skill: ", 0) == 0);
  CHECK(contains(msg, "is a directory"));

  // agency-role needs --skill, which `agency up` gives only to roles
  // without a binary of their own: a role named `role` would restart forever.
  msg = d.error("roles:\n  role:\n    skill: skills/scribe.md\n");
  CHECK(msg.rfind(d.at(2) + "roles.role: 'role' is the generic role binary", 0) == 0);
}

TEST_CASE("config: every built-in role has its SKILL.md in the repository") {
  const fs::path root = AGENCY_SOURCE_DIR;
  for (const auto& name : agency::catalog::names()) {
    CHECK_MESSAGE(fs::is_regular_file(root / "roles" / name / "SKILL.md"), name);
  }
}

TEST_CASE("config: load_file refuses a project repo that is missing or not a git work tree") {
  DiskConfig d;
  const std::string head = "state_dir: state\nprojects:\n  - name: api\n    repo: ";
  auto msg = d.error(head + "../api\n");
  CHECK(msg == d.at(4) + "projects[0].repo: " + (d.dir.path().parent_path() / "api").string() +
                   " does not exist");

  fs::create_directories(d.dir.path() / "plain");
  msg = d.error(head + "plain\n    default_branch: main\n");
  CHECK(msg.rfind(d.at(4) + "projects[0].repo: " + (d.dir.path() / "plain").string() +
                      " is not a git repository",
                  0) == 0);

  write(d.dir.path() / "a-file", "x\n");
  CHECK(contains(d.error(head + "a-file\n"), "is not a directory"));

  // The second project is the wrong one: its own line.
  agency::test::make_repo(d.dir.path() / "repo");
  msg = d.error("projects:\n  - {name: a, repo: repo}\n  - name: b\n    repo: repo/sub\n");
  CHECK(msg.rfind(d.at(4) + "projects[1].repo: ", 0) == 0);

  fs::create_directories(d.dir.path() / "repo" / "sub");
  msg = d.error(head + "repo/sub\n");
  CHECK(msg.rfind(d.at(4) + "projects[0].repo: ", 0) == 0);
  CHECK(contains(msg, "inside the git work tree " + (d.dir.path() / "repo").string()));

  agency::test::git_in(d.dir.path(), {"clone", "--quiet", "--bare", "repo", "bare.git"});
  CHECK(contains(d.error(head + "bare.git\n"), "bare git repository"));

  // A repository, and a linked worktree of it (.git is a file there).
  auto c = d.load(head + "repo\n");
  INFO((c ? std::string() : c.error().message));
  CHECK(c.ok());
  agency::test::git_in(d.dir.path() / "repo", {"worktree", "add", "--quiet", "../linked"});
  REQUIRE(fs::is_regular_file(d.dir.path() / "linked" / ".git"));
  c = d.load(head + "linked\n");
  INFO((c ? std::string() : c.error().message));
  CHECK(c.ok());

  // parse() looks at the text alone.
  CHECK(config::parse(head + "../api\n", d.file).ok());
}

TEST_CASE(
    "config: load() takes --config, then AGENCY_CONFIG, then ./agency.yaml, then the "
    "default") {
  agency::test::TempDir dir;
  auto cwd = dir.path() / "work";
  auto explicit_file = dir.path() / "explicit.yaml";
  auto env_file = dir.path() / "env.yaml";
  write(explicit_file, "roles: {from-explicit: {binary: agency-x}}\n");
  write(env_file, "roles: {from-env: {binary: agency-x}}\n");
  write(cwd / "agency.yaml", "roles: {from-cwd: {binary: agency-x}}\n");

  SUBCASE("--config wins") {
    ScopedAgencyConfig env(env_file.string());
    auto c = config::load(explicit_file, cwd);
    REQUIRE(c.ok());
    CHECK(role_names(*c) == std::vector<std::string>{"from-explicit"});
    CHECK(c->source == explicit_file);
  }
  SUBCASE("a relative --config is relative to the working directory") {
    ScopedAgencyConfig env(std::nullopt);
    auto c = config::load(fs::path("../explicit.yaml"), cwd);
    REQUIRE(c.ok());
    CHECK(role_names(*c) == std::vector<std::string>{"from-explicit"});
  }
  SUBCASE("AGENCY_CONFIG next") {
    ScopedAgencyConfig env(env_file.string());
    auto c = config::load(std::nullopt, cwd);
    REQUIRE(c.ok());
    CHECK(role_names(*c) == std::vector<std::string>{"from-env"});
  }
  SUBCASE("an AGENCY_CONFIG that does not exist is an error naming it") {
    ScopedAgencyConfig env((dir.path() / "nope.yaml").string());
    auto c = config::load(std::nullopt, cwd);
    REQUIRE_FALSE(c.ok());
    CHECK(contains(c.error().message, "AGENCY_CONFIG"));
    CHECK(contains(c.error().message, "nope.yaml"));
  }
  SUBCASE("an empty AGENCY_CONFIG counts as unset") {
    ScopedAgencyConfig env(std::string{});
    auto c = config::load(std::nullopt, cwd);
    REQUIRE(c.ok());
    CHECK(role_names(*c) == std::vector<std::string>{"from-cwd"});
  }
  SUBCASE("./agency.yaml next") {
    ScopedAgencyConfig env(std::nullopt);
    auto c = config::load(std::nullopt, cwd);
    REQUIRE(c.ok());
    CHECK(role_names(*c) == std::vector<std::string>{"from-cwd"});
    CHECK(c->source == cwd / "agency.yaml");
  }
  SUBCASE("the embedded default last") {
    ScopedAgencyConfig env(std::nullopt);
    fs::remove(cwd / "agency.yaml");
    auto c = config::load(std::nullopt, cwd);
    REQUIRE(c.ok());
    CHECK(c->source.empty());
    CHECK(role_names(*c) == kPipeline);
    CHECK(c->state_dir == cwd / ".agency");
  }
  SUBCASE("a missing --config is an error, not the default") {
    ScopedAgencyConfig env(std::nullopt);
    CHECK_FALSE(config::load(dir.path() / "absent.yaml", cwd).ok());
  }
}

TEST_CASE("config: agency.example.yaml in the repository parses") {
  const fs::path root = AGENCY_SOURCE_DIR;
  auto file = root / "agency.example.yaml";
  REQUIRE(fs::exists(file));
  // Parsed, not loaded: the demo repository it names is the reader's own.
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  auto c = config::parse(text.str(), file);
  INFO((c ? std::string() : c.error().message));
  REQUIRE(c.ok());
  const auto* demo = c->project("demo");
  REQUIRE(demo != nullptr);
  CHECK(demo->repo == (root / "demo").lexically_normal());
  CHECK(demo->test_command == "make test");
  for (const auto& name : kPipeline) CHECK(c->role(name) != nullptr);
  for (const char* name : {"proxy", "sweeper", "scout", "synthesizer", "accountant", "auditor"}) {
    CHECK(c->role(name) != nullptr);
  }
  CHECK(agency::config::accountant(*c).enabled);
  REQUIRE(agency::config::accountant(*c).accounts.size() == 1);
  CHECK(agency::config::accountant(*c).accounts[0].plan == "max5");
  REQUIRE(agency::config::proxy(*c).corpus.size() == 1);
  CHECK(agency::config::proxy(*c).corpus[0].path == (root / "docs").lexically_normal());
}

TEST_CASE("config: the lateral roles' sections") {
  auto c = parsed(R"yaml(
proxy:
  corpus:
    - name: handbook
      path: docs/handbook
    - path: /srv/notes
  reindex_seconds: 30
  passages: 4
  min_confidence: 0.4
sweeper:
  every_seconds: 60
  stuck_after_seconds: 120
  nudge_grace_seconds: 30
  answer_after_seconds: 10
  answer_confidence: 0.8
  loop_limit: 3
  burn_factor: 2.5
synthesizer:
  digest_at: "05:30"
  time_zone: Europe/Berlin
  dir: digests
scout:
  max_tasks: 3
)yaml");
  REQUIRE(agency::config::proxy(c).corpus.size() == 2);
  CHECK(agency::config::proxy(c).corpus[0].name == "handbook");
  CHECK(agency::config::proxy(c).corpus[0].path == fs::path("/srv/proj/docs/handbook"));
  CHECK(agency::config::proxy(c).corpus[1].name == "notes");  // named after its directory
  CHECK(agency::config::proxy(c).reindex_seconds == 30);
  CHECK(agency::config::proxy(c).passages == 4);
  CHECK(agency::config::proxy(c).min_confidence == doctest::Approx(0.4));
  CHECK(agency::config::sweeper(c).every_seconds == 60);
  CHECK(agency::config::sweeper(c).stuck_after_seconds == 120);
  CHECK(agency::config::sweeper(c).nudge_grace_seconds == 30);
  CHECK(agency::config::sweeper(c).answer_after_seconds == 10);
  CHECK(agency::config::sweeper(c).answer_confidence == doctest::Approx(0.8));
  CHECK(agency::config::sweeper(c).loop_limit == 3);
  CHECK(agency::config::sweeper(c).burn_factor == doctest::Approx(2.5));
  CHECK(agency::config::synthesizer(c).digest_at == "05:30");
  CHECK(agency::config::synthesizer(c).time_zone == "Europe/Berlin");
  CHECK(agency::config::synthesizer(c).dir == fs::path("/srv/proj/digests"));
  CHECK(agency::config::scout(c).max_tasks == 3);

  auto d = parsed("");
  CHECK(agency::config::proxy(d).corpus.empty());
  CHECK(agency::config::sweeper(d).every_seconds == 300);
  CHECK(agency::config::synthesizer(d).digest_at == "04:00");
  CHECK(agency::config::scout(d).max_tasks == 5);
}

TEST_CASE("config: wrong values in the lateral sections name the key") {
  CHECK(contains(error_of("proxy:\n  corpus: docs\n"), "proxy.corpus: must be a list"));
  CHECK(contains(error_of("proxy:\n  corpus:\n    - name: a\n"), "needs a path"));
  CHECK(
      contains(error_of("proxy:\n  corpus:\n    - {name: a, path: x}\n    - {name: a, path: y}\n"),
               "given twice"));
  CHECK(contains(error_of("proxy:\n  min_confidence: 2\n"), "must be a number from 0 to 1"));
  CHECK(contains(error_of("sweeper:\n  every_minutes: 5\n"), "unknown key 'every_minutes'"));
  CHECK(contains(error_of("sweeper:\n  loop_limit: 1\n"), "sweeper.loop_limit"));
  CHECK(contains(error_of("synthesizer:\n  digest_at: 4am\n"), "must be a time of day HH:MM"));
  CHECK(contains(error_of("synthesizer:\n  digest_at: \"25:00\"\n"), "HH:MM"));
  CHECK(contains(error_of("scout:\n  max_tasks: 0\n"), "scout.max_tasks"));
}

TEST_CASE("config: the accountant section") {
  auto c = agency::config::parse(R"yaml(
accountant:
  plan: pro
  reserve: 0.3
  night: "23:30-06:15"
  night_weight: 4
  time_zone: America/New_York
  fallback_tokens_per_hour: 0
  accounts:
    - name: work
      config_dir: claude-work
      plan: max20
      seven_day: 123456789
      weekly_reset: "Thursday 18:30"
    - name: personal
      usage_url: https://api.anthropic.com/api/oauth/usage
      token_file: token
)yaml",
                                 "/srv/proj/agency.yaml");
  REQUIRE(c.ok());
  const auto& a = agency::config::accountant(*c);
  CHECK(a.enabled);
  CHECK(a.reserve == doctest::Approx(0.3));
  CHECK(a.night_from_minute == 23 * 60 + 30);
  CHECK(a.night_to_minute == 6 * 60 + 15);
  CHECK(a.night_weight == doctest::Approx(4));
  CHECK(a.time_zone == "America/New_York");
  CHECK(a.fallback_tokens_per_hour == 0);
  REQUIRE(a.accounts.size() == 2);
  CHECK(a.accounts[0].name == "work");
  CHECK(a.accounts[0].config_dir == std::filesystem::path("/srv/proj/claude-work"));
  CHECK(a.accounts[0].plan == "max20");
  CHECK(a.accounts[0].seven_day == 123456789);
  CHECK(a.accounts[0].reset_weekday == 4);
  CHECK(a.accounts[0].reset_hour == 18);
  CHECK(a.accounts[0].reset_minute == 30);
  CHECK(a.accounts[1].plan == "pro");  // the section's plan
  CHECK(a.accounts[1].token_file == std::filesystem::path("/srv/proj/token"));

  auto none = agency::config::parse("", "/srv/proj/agency.yaml");
  REQUIRE(none.ok());
  CHECK_FALSE(agency::config::accountant(*none).enabled);
  auto empty = agency::config::parse("accountant:\n", "/srv/proj/agency.yaml");
  REQUIRE(empty.ok());
  CHECK(agency::config::accountant(*empty).enabled);
  REQUIRE(agency::config::accountant(*empty).accounts.size() == 1);
  CHECK(agency::config::accountant(*empty).accounts[0].name == "default");
}

TEST_CASE("config: wrong values in the accountant section name the key") {
  auto error = [](const std::string& yaml) {
    auto c = agency::config::parse(yaml, "/srv/proj/agency.yaml");
    return c ? std::string() : c.error().message;
  };
  CHECK(error("accountant:\n  night: late\n").find("accountant.night: must be hours") !=
        std::string::npos);
  CHECK(error("accountant:\n  accounts:\n    - weekly_reset: someday\n")
            .find("weekly_reset: must be a weekday and a time") != std::string::npos);
  CHECK(error("accountant:\n  accounts:\n    - plan: gold\n").find("pro, max5 or max20") !=
        std::string::npos);
  CHECK(error("accountant:\n  accounts:\n    - usage_url: https://x\n").find("token_file") !=
        std::string::npos);
  CHECK(error("accountant:\n  reserve: 1.5\n").find("accountant.reserve") != std::string::npos);
  CHECK(error("accountant:\n  accounts:\n    - {name: a}\n    - {name: a}\n").find("given twice") !=
        std::string::npos);
  CHECK(error("accountant:\n  accounts:\n    - {seven_day: -5}\n").find("whole number of tokens") !=
        std::string::npos);
}

TEST_CASE("config: the dispatcher section") {
  auto c = agency::config::parse(R"yaml(
dispatcher:
  every_seconds: 2
  standing_orders:
    - role: scout
      objective: "Explore {project} and propose tasks"
      projects: [api, web]
      token_budget: 200000
  schedules:
    - name: digest
      cron: "0 4 * * *"
      time_zone: Europe/Berlin
      role: synthesizer
      objective: Digest the day
      missed: run_once
  triggers:
    - name: pushes
      subject: git.push.>
      role: scout
      objective: "Look at {json.ref}"
      project: "{json.repo}"
    - name: finished
      subject: agency.event.task.>
      kinds: [done]
      role: reviewer
      objective: "Second look at {task.title}"
  instances:
    builder: {min: 1, max: 3, backlog: 4, after_seconds: 10}
)yaml",
                                 "/srv/proj/agency.yaml");
  REQUIRE_MESSAGE(c.ok(), (c ? std::string() : c.error().message));
  const auto& d = agency::config::dispatcher(*c);
  CHECK(d.every_seconds == 2);
  REQUIRE(d.standing_orders.size() == 1);
  CHECK(d.standing_orders[0].projects == std::vector<std::string>{"api", "web"});
  CHECK(d.standing_orders[0].priority == "batch");
  CHECK(d.standing_orders[0].token_budget == 200000);
  REQUIRE(d.schedules.size() == 1);
  CHECK(d.schedules[0].cron == "0 4 * * *");
  CHECK(d.schedules[0].missed == "run_once");
  CHECK(d.schedules[0].priority == "scheduled");
  REQUIRE(d.triggers.size() == 2);
  CHECK(d.triggers[0].subject == "git.push.>");
  CHECK(d.triggers[1].kinds == std::vector<std::string>{"done"});
  REQUIRE(c->instances.count("builder") == 1);
  CHECK(c->instances.at("builder").max == 3);
  CHECK(c->instances.at("builder").backlog == 4);
  CHECK(c->instances.at("builder").idle_seconds == 120);

  auto error = [](const std::string& yaml) {
    auto r = agency::config::parse(yaml, "/srv/proj/agency.yaml");
    return r ? std::string() : r.error().message;
  };
  CHECK(error("dispatcher:\n  schedules:\n    - {name: a, cron: x, role: r, objective: o, "
              "missed: twice}\n")
            .find("skip or run_once") != std::string::npos);
  CHECK(error("dispatcher:\n  instances:\n    builder: {min: 3, max: 1}\n")
            .find("max must be at least min") != std::string::npos);
  CHECK(error("dispatcher:\n  triggers:\n    - {name: t, role: r, objective: o}\n")
            .find("needs a name, a subject") != std::string::npos);
  CHECK(error("dispatcher:\n  standing_orders:\n    - {role: scout}\n").find("an objective") !=
        std::string::npos);
}

TEST_CASE("config: a project with a remote address needs no repo, a remote's name does") {
  auto c = parsed("projects: [{name: demo, remote: 'git@example.com:team/demo.git'}]\n");
  REQUIRE(c.projects.size() == 1);
  CHECK(c.projects[0].from_remote);
  CHECK(c.projects[0].remote == "git@example.com:team/demo.git");
  auto named = parsed("projects: [{name: demo, repo: ., remote: upstream}]\n");
  CHECK_FALSE(named.projects[0].from_remote);
  auto msg = error_of("projects: [{name: demo, remote: upstream}]");
  CHECK(contains(msg, "has no 'repo'"));
  CHECK(contains(msg, "address every host can clone"));
  CHECK(contains(error_of("projects: [{name: demo, remote: --upload-pack=x}]"),
                 "projects[0].remote"));
}
