// What the place says when there is no agency.yaml: the git repository the
// command runs in (the one project), how its tests run, and which coding
// CLI is installed and logged in (the engine). `agency up` runs on these
// choices, `agency init --write` writes them down, `agency doctor` checks
// them (docs/CONFIG.md, "Without agency.yaml").
//
// The deciding is done by pure functions (names, test commands, the engine,
// the YAML text), unit-tested; detect() and the probes gather their input
// by running git and the CLIs' own status commands, which spend no tokens.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace agency::place {

// Every status command answers at once; a CLI that hangs (waiting for a
// terminal, a network) is taken as not answering rather than waited for.
// `agency doctor` gives its probes the same time.
constexpr std::chrono::seconds kProbeTimeout{15};

// A program's run: exit code (-1: did not start, timed out or was killed),
// stdout, and stderr's last lines.
struct ToolRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// Runs argv (argv[0] on PATH unless it holds a '/') with our environment,
// at most `timeout`, in `dir` (empty: ours).
ToolRun run_tool(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                 const std::filesystem::path& dir = {});

// ---- the repository -------------------------------------------------------

struct Repository {
  std::filesystem::path root;  // top of the work tree
  std::string name;            // the project's name, from root's directory name
  std::string default_branch;
  std::string branch_reason;  // how default_branch was found ("origin/HEAD")
};

// A project name (a subject token) from a directory name: characters other
// than letters, digits, '-' and '_' become '-', runs of them one; "project"
// when nothing is left.
std::string project_name_from(std::string_view dir_name);

// The branch work starts from: origin/HEAD's when the clone has one (given
// as "origin/main"), else main or master when such a local branch exists,
// else the current branch, else "main". Returns {branch, reason}.
std::pair<std::string, std::string> pick_default_branch(std::string_view origin_head,
                                                        const std::set<std::string>& local_branches,
                                                        std::string_view current);

// The work tree `dir` is in (git rev-parse), nullopt outside one or without
// git. A repository whose default branch has no commit yet is still found.
std::optional<Repository> find_repository(const std::filesystem::path& dir);

// ---- the test command -----------------------------------------------------

// A repository's top-level entries and the two files whose text matters.
struct RepoFiles {
  std::set<std::string> names;  // files and directories at the top
  std::string makefile;         // Makefile (or makefile, GNUmakefile) text
  std::string package_json;     // package.json text
  std::string python_config;    // pyproject.toml, setup.cfg, tox.ini together
};
RepoFiles read_repo_files(const std::filesystem::path& root);

struct TestCommand {
  std::string command;  // empty: none found
  std::string reason;   // what it was found from, or why none was
};

// The first that applies: make test (a Makefile with a test target), ctest
// (CMakeLists.txt: configure, build, then ctest), npm test (package.json
// with a test script that is not npm's placeholder), cargo test
// (Cargo.toml), pytest (pytest.ini, conftest.py, or pytest named in
// pyproject.toml, setup.cfg or tox.ini), go test ./... (go.mod).
TestCommand detect_test_command(const RepoFiles& files);

// ---- the engine -----------------------------------------------------------

// One coding CLI as found on this machine.
struct EngineProbe {
  std::string engine;  // claude, codex or gemini
  std::string cli;     // what was looked for: the name, or a configured path
  std::string path;    // where it is; empty: not found
  std::string version;
  bool logged_in = false;
  std::string login;  // how that is known, or what was missing
  std::string plan;   // claude: pro, max5 or max20 when the login says; else empty
};

// What `claude auth status` printed (JSON; exit 0 when logged in).
struct ClaudeAuth {
  bool logged_in = false;
  std::string method;  // claude.ai, api_key, ...
  std::string plan;    // pro, max5, max20, or empty
};
ClaudeAuth parse_claude_auth(std::string_view json_text);

// The accountant's plan preset from a login's subscriptionType ("pro",
// "max") and planTier ("max_5x", "max_20x", also "default_claude_max_20x"):
// "" when it says nothing this knows.
std::string plan_from(std::string_view subscription_type, std::string_view plan_tier);

// Looks for `cli` (empty: the engine's name) and asks whether it is logged
// in without spending tokens: `claude auth status`, `codex login status`,
// gemini's ~/.gemini/oauth_creds.json; an API key in the environment
// (ANTHROPIC_API_KEY; OPENAI_API_KEY or CODEX_API_KEY; GEMINI_API_KEY or
// GOOGLE_API_KEY) counts as logged in.
EngineProbe probe_engine(std::string_view engine, const std::string& cli = {});

struct EngineChoice {
  std::string engine;  // claude, codex, gemini or scripted
  std::string reason;
  std::string plan;  // the accountant's plan preset, from a claude login
};
// The first of claude, codex, gemini that is installed and logged in, in
// that order; else scripted (canned answers, for trying the pipeline).
EngineChoice choose_engine(const std::vector<EngineProbe>& probes);

// ---- the place ------------------------------------------------------------

struct Place {
  std::filesystem::path dir;  // where the command ran
  std::optional<Repository> repo;
  TestCommand tests;
  std::vector<EngineProbe> probes;
  EngineChoice engine;
};

// Looks at `dir`: its repository and tests, the three CLIs.
Place detect(const std::filesystem::path& dir);

// The roles a place's fleet runs: the pipeline's four, and the accountant
// when a subscription plan was found.
std::vector<std::string> fleet_roles(const Place& place);

struct YamlOptions {
  // The directory the file will be in: the repository's path is written
  // relative to it when the file is inside the repository.
  std::filesystem::path file_dir;
  // Written as state_dir when set (an absolute path).
  std::filesystem::path state_dir;
  std::string header;  // first comment line(s), without '#'
};
// agency.yaml holding exactly the place's choices, each with a comment
// saying where it came from. config::parse() reads it back to them.
std::string config_yaml(const Place& place, const YamlOptions& options);

// Two or three lines (without a prefix) saying what was chosen, why, and
// how to change it; outside a repository, that briefs need a project.
std::vector<std::string> summary_lines(const Place& place);

}  // namespace agency::place
