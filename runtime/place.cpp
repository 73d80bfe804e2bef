// See place.hpp.
#include "runtime/place.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bus/text.hpp"
#include "runtime/catalog.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/process.hpp"

extern char**
    environ;  // NOLINT(readability-redundant-declaration): <unistd.h> only with _GNU_SOURCE

namespace agency::place {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

// Files read to find the test command; bigger ones are read this far.
constexpr std::size_t kMaxFileRead = 1024 * 1024;

using text::trim;

std::string first_line(std::string_view s) {
  auto t = trim(s);
  return t.substr(0, t.find('\n'));
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

std::string read_head(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::string text(kMaxFileRead, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> out;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) {
    auto t = trim(line);
    if (!t.empty()) out.push_back(t);
  }
  return out;
}

// A Makefile rule line naming `test` among its targets ("test:", "check
// test: all"); not a variable ("test := x") nor a recipe line.
bool has_make_target(std::string_view makefile, std::string_view target) {
  std::istringstream in{std::string(makefile)};
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '\t' || line[0] == ' ' || line[0] == '#') continue;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (colon + 1 < line.size() && line[colon + 1] == '=') continue;
    std::istringstream targets(line.substr(0, colon));
    for (std::string t; targets >> t;) {
      if (t == target) return true;
    }
  }
  return false;
}

std::string yaml_string(std::string_view s) { return json(std::string(s)).dump(); }

// `text` as YAML comment lines of at most about 78 columns.
std::string comment(std::string_view text) {
  std::string out;
  std::string line = "#";
  std::istringstream words{std::string(text)};
  for (std::string w; words >> w;) {
    if (line.size() > 1 && line.size() + 1 + w.size() > 78) {
      out += line + '\n';
      line = "#";
    }
    line += ' ' + w;
  }
  return out + line + '\n';
}

std::string home_dir() { return env("HOME"); }

// ~/ for the home directory, to keep printed paths short.
std::string tilde(const fs::path& p) {
  const std::string home = home_dir();
  std::string s = p.string();
  if (!home.empty() && s.rfind(home + "/", 0) == 0) return "~" + s.substr(home.size());
  return s;
}

void probe_claude(EngineProbe& p) {
  auto status = run_tool({p.path, "auth", "status"}, kProbeTimeout);
  auto auth = parse_claude_auth(status.out);
  const bool answered = status.out.find('{') != std::string::npos;
  if (status.exit_code == 0 && auth.logged_in) {
    p.logged_in = true;
    p.plan = auth.plan;
    p.login = "logged in (claude auth status: " + (auth.method.empty() ? "yes" : auth.method) +
              (auth.plan.empty() ? std::string() : ", plan " + auth.plan) + ")";
    return;
  }
  if (!env("ANTHROPIC_API_KEY").empty()) {
    p.logged_in = true;
    p.login = "ANTHROPIC_API_KEY is set";
    return;
  }
  if (!answered) {
    // A version without `auth status`: its login is a credentials file.
    fs::path dir = !env("CLAUDE_CONFIG_DIR").empty() ? fs::path(env("CLAUDE_CONFIG_DIR"))
                                                     : fs::path(home_dir()) / ".claude";
    std::error_code ec;
    if (fs::exists(dir / ".credentials.json", ec)) {
      p.logged_in = true;
      p.login = "logged in (" + tilde(dir / ".credentials.json") + ")";
      return;
    }
  }
  p.login = "not logged in (claude auth status); run `claude` and /login, or set ANTHROPIC_API_KEY";
}

void probe_codex(EngineProbe& p) {
  for (const char* key : {"OPENAI_API_KEY", "CODEX_API_KEY"}) {
    if (!env(key).empty()) {
      p.logged_in = true;
      p.login = std::string(key) + " is set";
      return;
    }
  }
  auto status = run_tool({p.path, "login", "status"}, kProbeTimeout);
  if (status.exit_code == 0) {
    p.logged_in = true;
    p.login = "logged in (codex login status)";
    return;
  }
  p.login = "not logged in (codex login status); run `codex login`, or set OPENAI_API_KEY";
}

void probe_gemini(EngineProbe& p) {
  for (const char* key : {"GEMINI_API_KEY", "GOOGLE_API_KEY"}) {
    if (!env(key).empty()) {
      p.logged_in = true;
      p.login = std::string(key) + " is set";
      return;
    }
  }
  if (lower(env("GOOGLE_GENAI_USE_VERTEXAI")) == "true") {
    p.logged_in = true;
    p.login = "GOOGLE_GENAI_USE_VERTEXAI is set";
    return;
  }
  // gemini has no status command; its Google login is this file.
  fs::path creds = fs::path(home_dir()) / ".gemini" / "oauth_creds.json";
  std::error_code ec;
  if (fs::exists(creds, ec)) {
    p.logged_in = true;
    p.login = "logged in (" + tilde(creds) + ")";
    return;
  }
  p.login =
      "not logged in (no " + tilde(creds) + "); run `gemini` and /auth, or set GEMINI_API_KEY";
}

}  // namespace

ToolRun run_tool(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                 const fs::path& dir) {
  ToolRun out;
  ProcessSpec spec;
  spec.argv = argv;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) spec.env.emplace_back(*e);
  spec.workdir = dir;
  spec.deadline = std::chrono::steady_clock::now() + timeout;
  spec.max_output = kMaxFileRead;
  std::atomic<bool> never{false};
  auto ran = run_process(spec, {}, never);
  if (!ran) {
    out.err = ran.error().message;
    return out;
  }
  out.out = ran->stdout_text;
  out.err = ran->stderr_tail;
  out.exit_code = ran->end == ProcessEnd::exited ? ran->exit_code() : -1;
  return out;
}

// ---- the repository -------------------------------------------------------

std::string project_name_from(std::string_view dir_name) {
  std::string out;
  for (char c : dir_name) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
    if (ok) {
      out += c;
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "project" : out;
}

std::pair<std::string, std::string> pick_default_branch(std::string_view origin_head,
                                                        const std::set<std::string>& local_branches,
                                                        std::string_view current) {
  if (auto slash = origin_head.find('/');
      slash != std::string_view::npos && slash + 1 < origin_head.size()) {
    return {std::string(origin_head.substr(slash + 1)), "origin/HEAD"};
  }
  for (std::string_view usual : {"main", "master"}) {
    if (current == usual) return {std::string(usual), "the branch checked out"};
  }
  for (std::string_view usual : {"main", "master"}) {
    if (local_branches.count(std::string(usual)) != 0) {
      return {std::string(usual), "the local branch " + std::string(usual)};
    }
  }
  if (!current.empty()) return {std::string(current), "the branch checked out"};
  return {"main", "no branch checked out"};
}

std::optional<Repository> find_repository(const fs::path& dir) {
  auto top = run_tool({"git", "rev-parse", "--show-toplevel"}, kProbeTimeout, dir);
  if (top.exit_code != 0) return std::nullopt;
  auto root = first_line(top.out);
  if (root.empty()) return std::nullopt;
  Repository repo;
  repo.root = fs::path(root).lexically_normal();
  repo.name = project_name_from(repo.root.filename().string());
  auto origin = run_tool({"git", "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"},
                         kProbeTimeout, repo.root);
  auto heads = run_tool({"git", "for-each-ref", "--format=%(refname:short)", "refs/heads"},
                        kProbeTimeout, repo.root);
  auto current =
      run_tool({"git", "symbolic-ref", "--quiet", "--short", "HEAD"}, kProbeTimeout, repo.root);
  std::set<std::string> branches;
  if (heads.exit_code == 0) {
    for (auto& b : lines_of(heads.out)) branches.insert(b);
  }
  auto [branch, reason] =
      pick_default_branch(origin.exit_code == 0 ? first_line(origin.out) : std::string(), branches,
                          current.exit_code == 0 ? first_line(current.out) : "");
  repo.default_branch = branch;
  repo.branch_reason = reason;
  return repo;
}

// ---- the test command -----------------------------------------------------

RepoFiles read_repo_files(const fs::path& root) {
  RepoFiles files;
  std::error_code ec;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    files.names.insert(it->path().filename().string());
  }
  for (const char* name : {"GNUmakefile", "makefile", "Makefile"}) {
    if (files.names.count(name) != 0) files.makefile = read_head(root / name);
  }
  if (files.names.count("package.json") != 0) files.package_json = read_head(root / "package.json");
  for (const char* name : {"pyproject.toml", "setup.cfg", "tox.ini"}) {
    if (files.names.count(name) != 0) files.python_config += read_head(root / name) + "\n";
  }
  return files;
}

TestCommand detect_test_command(const RepoFiles& files) {
  auto has = [&](const char* name) { return files.names.count(name) != 0; };
  if (!files.makefile.empty() && has_make_target(files.makefile, "test")) {
    return {"make test", "the Makefile has a test target"};
  }
  if (has("CMakeLists.txt")) {
    return {
        "cmake -S . -B build && cmake --build build && ctest --test-dir build "
        "--output-on-failure",
        "CMakeLists.txt: configure, build, then ctest"};
  }
  if (!files.package_json.empty()) {
    auto pkg = json::parse(files.package_json, nullptr, false);
    if (pkg.is_object() && pkg.contains("scripts") && pkg["scripts"].is_object()) {
      const auto& scripts = pkg["scripts"];
      auto it = scripts.find("test");
      // `npm init` writes a test script that only fails.
      if (it != scripts.end() && it->is_string() && !it->get<std::string>().empty() &&
          it->get<std::string>().find("no test specified") == std::string::npos) {
        return {"npm test", "package.json has a test script"};
      }
    }
  }
  if (has("Cargo.toml")) return {"cargo test", "Cargo.toml"};
  if (has("pytest.ini")) return {"pytest", "pytest.ini"};
  if (has("conftest.py")) return {"pytest", "conftest.py"};
  if (files.python_config.find("pytest") != std::string::npos) {
    return {"pytest", "pytest in the Python project's configuration"};
  }
  if (has("go.mod")) return {"go test ./...", "go.mod"};
  return {"",
          "none found (no Makefile test target, CMakeLists.txt, package.json test script, "
          "Cargo.toml, pytest setup or go.mod at the top of the repository)"};
}

// ---- the engine -----------------------------------------------------------

std::string plan_from(std::string_view subscription_type, std::string_view plan_tier) {
  const std::string tier = lower(plan_tier);
  const std::string sub = lower(subscription_type);
  if (tier.find("20x") != std::string::npos) return "max20";
  if (tier.find("5x") != std::string::npos) return "max5";
  if (sub == "pro" || tier.find("pro") != std::string::npos) return "pro";
  // Max without its tier: the smaller preset keeps the fleet inside either.
  if (sub == "max") return "max5";
  return {};
}

ClaudeAuth parse_claude_auth(std::string_view json_text) {
  ClaudeAuth auth;
  auto begin = json_text.find('{');
  if (begin == std::string_view::npos) return auth;
  auto doc = json::parse(json_text.substr(begin), nullptr, false);
  if (!doc.is_object()) return auth;
  auto text = [&](const char* key) {
    auto it = doc.find(key);
    return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto it = doc.find("loggedIn");
  auth.logged_in = it != doc.end() && it->is_boolean() && it->get<bool>();
  auth.method = text("authMethod");
  std::string tier = text("planTier");
  if (tier.empty()) tier = text("rateLimitTier");
  auth.plan = plan_from(text("subscriptionType"), tier);
  return auth;
}

EngineProbe probe_engine(std::string_view engine, const std::string& cli) {
  EngineProbe p;
  p.engine = std::string(engine);
  p.cli = cli.empty() ? p.engine : cli;
  auto found = find_program(p.cli);
  if (!found) {
    p.login = p.cli.find('/') != std::string::npos ? p.cli + " does not exist or is not executable"
                                                   : p.cli + " is not on PATH";
    return p;
  }
  p.path = *found;
  auto version = run_tool({p.path, "--version"}, kProbeTimeout);
  if (version.exit_code == 0) p.version = first_line(version.out);
  if (p.engine == "claude") {
    probe_claude(p);
  } else if (p.engine == "codex") {
    probe_codex(p);
  } else if (p.engine == "gemini") {
    probe_gemini(p);
  }
  return p;
}

EngineChoice choose_engine(const std::vector<EngineProbe>& probes) {
  for (const auto& p : probes) {
    if (p.path.empty() || !p.logged_in) continue;
    EngineChoice c;
    c.engine = p.engine;
    c.reason = (p.version.empty() ? p.engine : p.version) + " at " + tilde(p.path) + ", " + p.login;
    if (p.engine == "claude") c.plan = p.plan;
    return c;
  }
  std::string missing;
  for (const auto& p : probes) {
    missing += (missing.empty() ? "" : "; ") + p.engine + ": " +
               (p.path.empty() ? p.login : "installed but " + p.login);
  }
  return {"scripted",
          "no coding CLI is installed and logged in (" +
              (missing.empty() ? std::string("none looked for") : missing) +
              "); the scripted engine gives canned answers, for trying the pipeline",
          ""};
}

// ---- the place ------------------------------------------------------------

Place detect(const fs::path& dir) {
  Place place;
  place.dir = dir;
  place.repo = find_repository(dir);
  if (place.repo) place.tests = detect_test_command(read_repo_files(place.repo->root));
  // In order of preference; the first logged in is the choice, so the
  // others need not be asked.
  for (const char* engine : {"claude", "codex", "gemini"}) {
    place.probes.push_back(probe_engine(engine));
    if (place.probes.back().logged_in) break;
  }
  place.engine = choose_engine(place.probes);
  return place;
}

std::vector<std::string> fleet_roles(const Place& place) {
  std::vector<std::string> roles;
  for (const auto& stage : pipeline::kStages) {
    // Landing needs a repository to land in.
    if (stage.landing && !place.repo) continue;
    roles.emplace_back(stage.role);
  }
  // With a Claude plan, the accountant paces the others against its limits.
  if (!place.engine.plan.empty()) roles.emplace_back("accountant");
  return roles;
}

std::string config_yaml(const Place& place, const YamlOptions& options) {
  std::ostringstream y;
  std::istringstream header(options.header);
  for (std::string line; std::getline(header, line);) {
    y << "#" << (line.empty() ? "" : " ") << line << '\n';
  }
  y << "# Every key is optional; docs/CONFIG.md describes them all. Relative paths\n"
       "# are relative to this file.\n\n";
  if (!options.state_dir.empty()) {
    y << "# Where `agency up` keeps the JetStream store, its logs and nats.url.\n"
      << "state_dir: " << yaml_string(options.state_dir.string()) << "\n\n";
  }

  y << "# The repositories the fleet works on.\n";
  if (place.repo) {
    const auto& r = *place.repo;
    std::string repo = r.root.string();
    if (!options.file_dir.empty()) {
      auto rel = r.root.lexically_relative(fs::path(options.file_dir).lexically_normal());
      if (!rel.empty() && *rel.begin() != "..") repo = rel.string();
    }
    y << "projects:\n"
      << "  - name: " << r.name << "    # from the directory's name\n"
      << "    repo: " << yaml_string(repo) << "    # the git work tree `agency` ran in\n"
      << "    default_branch: " << yaml_string(r.default_branch) << "    # from " << r.branch_reason
      << '\n';
    if (place.tests.command.empty()) {
      y << "    # test_command: make test    # " << place.tests.reason << '\n';
    } else {
      y << "    test_command: " << yaml_string(place.tests.command) << "    # from "
        << place.tests.reason << '\n';
    }
    y << "    landing: merge    # reviewed work lands on " << r.default_branch
      << " once its tests pass; none: it stays on agency/<task> branches (docs/LANDING.md)\n";
  } else {
    y << "# None found: " << place.dir.string()
      << " is not in a git repository, and a\n"
         "# brief needs a project to work in. Add one:\n"
         "#   - name: api                  # letters, digits, '-' and '_'\n"
         "#     repo: ../api               # a git repository\n"
         "#     default_branch: main\n"
         "#     test_command: make test    # run in the task's worktree\n"
         "projects: []\n";
  }
  y << '\n';

  const auto& e = place.engine;
  y << comment("The engine every role runs: " + e.engine + ", because " + e.reason + ".")
    << "# Others: claude, codex, gemini, openai, anthropic, command, scripted\n"
    << "# (docs/ENGINES.md); each role may also set model, permission_mode, ...\n"
    << "roles:\n";
  for (const auto& role : fleet_roles(place)) {
    y << "  " << role << ":\n";
    if (role == "accountant") {
      y << "    count: 1    # leases budget to the others (below)\n";
    } else if (const auto* info = catalog::find(role); info != nullptr && !info->runs_engine) {
      y << "    count: 1    # uses no engine\n";
    } else {
      y << "    engine: " << e.engine << '\n';
    }
  }
  y << '\n';

  if (!e.plan.empty()) {
    y << "# Budget leases: the fleet spends the Claude plan's limits evenly and leaves\n"
         "# the person a reserve (docs/ACCOUNTING.md). The plan is from the login.\n"
         "accountant:\n"
      << "  plan: " << e.plan << "    # pro, max5 or max20\n"
      << "  reserve: 0.2    # the share never leased while you may need it\n"
      << "  night: \"22:00-07:00\"    # batch work runs faster in these hours\n"
      << "  time_zone: \"\"    # of the night hours; empty: the machine's\n";
  } else {
    y << "# Budget leases within a Claude subscription's limits (docs/ACCOUNTING.md):\n"
         "# no plan was found in a login, so they are off. To turn them on, add the\n"
         "# accountant role above (count: 1) and:\n"
         "# accountant:\n"
         "#   plan: pro                  # pro, max5 or max20\n"
         "#   night: \"22:00-07:00\"\n";
  }
  return y.str();
}

std::vector<std::string> summary_lines(const Place& place) {
  std::vector<std::string> lines;
  if (place.repo) {
    const auto& r = *place.repo;
    lines.push_back(
        "project  " + r.name + ": " + r.root.string() + " (branch " + r.default_branch +
        "; tests: " +
        (place.tests.command.empty() ? "none found, set test_command" : place.tests.command) +
        "; reviewed work lands on " + r.default_branch + ")");
  } else {
    lines.push_back("project  none: " + place.dir.string() +
                    " is not in a git repository, and briefs need a project (they would be "
                    "blocked); run `agency up` inside your repository, or list one under "
                    "projects: in agency.yaml");
  }
  lines.push_back("engine   " + place.engine.engine + ": " + place.engine.reason +
                  (place.engine.plan.empty()
                       ? std::string()
                       : "; the accountant leases within plan " + place.engine.plan));
  lines.push_back(
      "change   `agency init --write` writes these choices to agency.yaml to edit; "
      "`agency doctor` checks them");
  return lines;
}

}  // namespace agency::place
