// agency.yaml: projects, roles, NATS, state dir (docs/ARCHITECTURE.md).
//
// Found at --config, else $AGENCY_CONFIG, else ./agency.yaml; without any,
// the embedded default (one agent per pipeline role, an embedded
// nats-server, no projects). Unknown keys are errors that name the key and
// its place, so a typo never silently changes behaviour.
//
// The sections here are the runtime's. A role with settings of its own
// reads its section itself (roles/<name>/settings.hpp, registered in its
// catalog entry, runtime/catalog.hpp); they are kept in Config::sections.
#pragma once

#include <any>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bus/provision.hpp"
#include "bus/result.hpp"
#include "runtime/pipeline.hpp"

namespace agency::config {

struct Nats {
  // Empty: `agency up` starts an embedded nats-server. Else the URL of an
  // existing server (agents and the CLI also honour NATS_URL).
  std::string url;
  // Embedded server settings.
  std::string host = "127.0.0.1";
  int port = 0;          // 0: a free port, printed by `agency up`
  int monitor_port = 0;  // 0: a free port; -1: none
  std::string binary;    // empty: nats-server on PATH
  int replicas = 1;      // stream and bucket replicas (3 in a cluster)
  // Embedded nodes `agency up` runs as one JetStream cluster (1: a single
  // server); streams and buckets then get min(3, cluster) replicas.
  int cluster = 1;
  // The embedded server checks who connects: one NKey user per agent with
  // its role's permissions (runtime/permissions.hpp), keys in
  // <state_dir>/auth. false: whoever reaches the port may do anything.
  bool auth = true;
  // TLS for the embedded server: its certificate and key, and the CA that
  // signed them (given to agents and the CLI as NATS_CA). Empty: no TLS,
  // unless `agency up --tls` makes a CA and certificate in <state_dir>/tls.
  std::filesystem::path tls_cert;
  std::filesystem::path tls_key;
  std::filesystem::path tls_ca;
};

struct Project {
  std::string name;            // a subject token: letters, digits, '-', '_'
  std::filesystem::path repo;  // git repository (relative paths: to the config file)
  std::string default_branch = "main";
  std::string test_command;  // run in the worktree by builder, adversary and integrator
  // How reviewed work reaches the default branch (the integrator,
  // roles/integrator): merge (the local default branch), push (to
  // `remote`), pr (push the task branch, open a pull request with gh),
  // none (the task is done at its reviewed branch).
  std::string landing = "merge";
  // How the task branch is brought onto the default branch: merge or rebase.
  std::string land_with = "merge";
  // The remote landing push and pr use: a remote of `repo` by name, or an
  // address (git::is_clone_address: a URL, user@host:path or a path).
  std::string remote = "origin";
  // `remote` is an address: agents on every host work in their own clone of
  // it (<state_dir>/work/clones/<name>.git, which `repo` then names while
  // they run), push the task branches there, and the integrator lands by
  // pushing the default branch there (landing merge is push then). `repo`
  // may be left out.
  bool from_remote = false;
  // The pipeline its tasks walk: a key of `pipelines`, or "default" (the
  // fleet's: pipeline.stages, else the built-in one).
  std::string pipeline = std::string(pipeline::kDefaultName);
  // The project's reviewed work goes through ready-to-land.
  [[nodiscard]] bool lands() const { return landing != "none"; }
};

// One account of an AI provider (accountant.accounts, docs/ACCOUNTS.md): a
// subscription whose limits count (the person's and the fleet's use of it
// together), or an API key paid per token; the identity an engine runs with
// when it spends it; how many calls it carries at once.
struct Account {
  std::string name = "default";  // unique across providers
  // claude, codex, gemini (subscriptions through their CLIs), openai,
  // anthropic (API keys).
  std::string provider = "claude";
  // The engine's own folder for this account, set in its environment:
  // claude CLAUDE_CONFIG_DIR, codex CODEX_HOME, gemini GEMINI_CLI_HOME.
  // Empty: the agent's own (claude: $CLAUDE_CONFIG_DIR, else ~/.claude).
  std::filesystem::path config_dir;
  // The environment variable holding the key (openai, anthropic; codex and
  // gemini take one too). Empty: the engine's usual one.
  std::string key_env;
  // claude: pro, max5, max20 (rough limits until calibrated); codex: plus,
  // pro; gemini: any name. Empty: limits only as given.
  std::string plan;
  // Limits in counted tokens; 0: the plan's, else not enforced.
  std::int64_t five_hour = 0;
  std::int64_t seven_day = 0;
  std::int64_t seven_day_opus = 0;
  std::int64_t seven_day_sonnet = 0;
  // When the weekly windows reset ("mon 00:00" in accountant.time_zone),
  // until the plan itself says (statusline, usage endpoint, headers).
  int reset_weekday = 1;  // 0 = Sunday
  int reset_hour = 0;
  int reset_minute = 0;
  // The usage endpoint (GET, bearer token read from token_file), polled
  // every accountant.usage_every_seconds; empty: not polled.
  std::string usage_url;
  std::filesystem::path token_file;
  // Engine calls the fleet runs on it at once; 0: no cap; -1 (not given):
  // the plan's default, set once the section is read (config_accounts.hpp).
  int concurrency = -1;
  // API accounts: US dollars the fleet may spend per calendar day and month
  // (accountant.time_zone); 0: no budget.
  double budget_usd_per_day = 0;
  double budget_usd_per_month = 0;

  // "provider/name", as roles' engines and usage samples name it.
  [[nodiscard]] std::string id() const { return provider + "/" + name; }
};

// One entry of roles.<name>.engines: an account the role may spend, in its
// order of preference, and how its engine runs there.
struct EngineChoice {
  std::string account;   // "provider/name"
  std::string provider;  // the engine kind: claude, codex, gemini, openai, anthropic
  // Empty: the role's own setting when `provider` is the role's first
  // engine, else the engine's default.
  std::string model;
  std::string cli;
  std::string permission_mode;
};

struct Role {
  std::string name;    // planner, builder, ... or a user's own
  int count = 1;       // agents `agency up` runs
  std::string engine;  // engine kind; empty: the role's SKILL.md default
  std::string model;
  // Binary to run; empty: agency-<name> next to `agency`, else on PATH,
  // else agency-role --skill <skill>.
  std::string binary;
  std::filesystem::path skill;             // SKILL.md; empty: roles/<name>/SKILL.md
  std::vector<std::string> args;           // extra arguments for the binary
  std::map<std::string, std::string> env;  // extra environment for the binary
  // A role whose agents you run yourself (any language, docs/PROTOCOL.md):
  // `agency up` provisions its consumers and keys but starts none.
  bool external = false;
  // The accounts its engine calls may spend, in order of preference
  // (docs/ACCOUNTS.md); `engine` is then the first one's provider. Empty:
  // one engine, `engine`, on the agent's own identity.
  std::vector<EngineChoice> engines;

  // Engine settings (docs/ENGINES.md); the runtime turns them into an
  // EngineConfig, so this header stays independent of the engines.
  // engine "command": the argv template ({task_id}, {stage}, ... replaced);
  // a first word with a '/' is a path relative to the config file.
  std::vector<std::string> command;
  int timeout_seconds = 600;  // longest one engine turn may take
  // Variables of the agent's environment an engine process may see besides
  // PATH, HOME, LANG, ... ("NAME", or "PREFIX_*").
  std::vector<std::string> env_allow;
  std::filesystem::path scenario;  // engine "scripted": the scenario file

  // claude, codex, gemini: the CLI (empty: the engine's name on PATH; a
  // path with '/' is relative to the config file), extra arguments, the
  // permission mode (empty: the role's SKILL.md, else read-only), tools
  // allowed without asking (claude), turns per assignment (claude; 0: the
  // CLI's default).
  std::string cli;
  std::vector<std::string> cli_args;
  std::string permission_mode;
  std::vector<std::string> allowed_tools;
  int max_turns = 0;
  // openai, anthropic: server, the variable holding the key, answer size,
  // retries on 5xx and connection errors.
  std::string base_url;
  std::string api_key_env;
  int max_tokens = 8192;
  int retries = 3;
  // How long an agent waits when a rate limit does not say when it resets.
  int rate_limit_wait_seconds = 300;
  // A new engine session starts once the context passes this many tokens
  // (0: never; the session then grows until the CLI compacts it).
  std::int64_t session_max_tokens = 150000;
};

// How tasks move through the stages.
struct Pipeline {
  // Bounces back to an earlier stage before a task is blocked for a human.
  int bounce_limit = 3;
  // Deliveries of one brief before it goes to agency.dead.<role>.
  int max_deliver = 5;
  // Seconds a delivered brief may go without an ack or in-progress signal
  // before another agent of the role gets it (a dead agent's work returns).
  int ack_wait_seconds = 30;
};

// The pipelines tasks walk (docs/PIPELINES.md): the fleet's default
// (pipeline.stages in the file, else the built-in one) under "default",
// and each of `pipelines:` under its name.
using Pipelines = std::map<std::string, pipeline::Pipeline, std::less<>>;

// What the mesh accepts from anyone who can publish (docs/OPERATIONS.md,
// "Limits and dead letters"). Each stream refuses a publish over its limit
// itself (max_msg_size, with room for headers); a message that arrives over
// it anyway becomes a dead letter holding its size, its sha256 and the first
// dead_letter_keep_bytes of it. Every figure is in bytes.
struct Limits {
  std::int64_t brief_bytes = 256 * 1024;       // a brief on agency.brief.<role>
  std::int64_t question_bytes = 64 * 1024;     // a question on agency.ask.<role>
  std::int64_t mail_bytes = 64 * 1024;         // a letter on agency.mail.<agent-id>
  std::int64_t usage_bytes = 16 * 1024;        // a usage sample or limit reading
  std::int64_t task_bytes = 512 * 1024;        // a task record in agency-tasks
  std::int64_t dead_letter_keep_bytes = 4096;  // what a dead letter keeps of a payload
  // The largest figure any of the above may take: the server's default
  // max_payload (1 MiB) less room for headers and the record's own fields.
  static constexpr std::int64_t kMost = 1024 * 1024 - 64 * 1024;
};

// Budget leases: what every agent needs of the accountant's section
// (roles/accountant/settings.hpp), which turns them on.
struct Leases {
  bool enabled = false;
  // An agent waits this long for a lease answer; no answer means the
  // accountant is down and the fallback applies: at most
  // fallback_tokens_per_hour per agent, then briefs wait for the next hour.
  int timeout_ms = 2000;
  std::int64_t fallback_tokens_per_hour = 200000;
  // An agent's estimate before it has spent anything.
  std::int64_t first_estimate = 20000;
};

// How many agents of a role `agency up` runs, and when it asks for another
// (dispatcher.instances.<role>, read by roles/dispatcher/settings.cpp).
struct Instances {
  int min = 1;
  int max = 1;
  int backlog = 3;         // queued briefs per agent above which the role grows
  int after_seconds = 30;  // ... for this long
  int idle_seconds = 120;  // an extra agent idle this long is stopped
};

struct Config {
  // File it was read from; empty for the embedded default.
  std::filesystem::path source;
  // Where `agency up` keeps the JetStream store, logs and nats.url:
  // "state_dir" in the file (relative to it), default .agency next to the
  // file (or in the working directory for the embedded default).
  std::filesystem::path state_dir;
  Nats nats;
  Pipeline pipeline;
  Pipelines pipelines;  // always holds "default"
  Limits limits;
  std::vector<Project> projects;
  std::vector<Role> roles;
  Leases leases;
  // accountant.accounts; one claude account named default when not given.
  std::vector<Account> accounts = {Account{}};
  std::map<std::string, Instances> instances;  // by role
  // Each role's own section as its reader left it, by the role's name:
  // read them with section<T>() (or the role's accessor, config::proxy()).
  std::map<std::string, std::any, std::less<>> sections;

  [[nodiscard]] const Project* project(std::string_view name) const;
  [[nodiscard]] const Role* role(std::string_view name) const;
  // An account by "provider/name" or by its name alone; nullptr if none.
  [[nodiscard]] const Account* account(std::string_view id) const;
  // The pipeline a new task of `project` walks: the project's, else the
  // default one (also for "" and unknown projects).
  [[nodiscard]] const pipeline::Pipeline& pipeline_for(std::string_view project) const;
  // Whether tasks of `project` land (a project whose landing is not none).
  [[nodiscard]] bool lands(std::string_view project) const;
  // Every role that works a stage of some pipeline, each once, in the
  // order the pipelines give them.
  [[nodiscard]] std::vector<std::string> stage_roles() const;
  // Every stage name of every pipeline, each once.
  [[nodiscard]] std::vector<std::string> work_stages() const;
};

// A role's own section (`name`: the role's name) as its reader left it, or
// its defaults when the file has none.
template <class Settings>
const Settings& section(const Config& config, std::string_view name) {
  static const Settings kDefaults{};
  auto it = config.sections.find(name);
  return it == config.sections.end() ? kDefaults : std::any_cast<const Settings&>(it->second);
}
template <class Settings>
Settings& section(Config& config, std::string_view name) {
  auto it = config.sections.find(name);
  if (it == config.sections.end()) {
    it = config.sections.emplace(std::string(name), Settings{}).first;
  }
  return std::any_cast<Settings&>(it->second);
}

// Parses YAML text. `source` resolves relative paths and names the file in
// errors. Errors (errc::config) say what is wrong and where
// ("agency.yaml:7: roles.builder.count: must be a whole number from 0 to 64, got 'two'").
// Only the text is looked at: nothing on the disk.
Result<Config> parse(std::string_view yaml_text, const std::filesystem::path& source);

// Reads the file at `path` and also checks, in the same form of error, what
// it names on the disk: every project's repo is the top of a git work tree,
// every role's skill exists, and every role is a built-in one or runs from
// its own skill, binary or roles/<name>/SKILL.md next to the file. So every
// command and every agent refuses such a file before starting anything.
Result<Config> load_file(const std::filesystem::path& path);

// --config PATH if given, else $AGENCY_CONFIG, else ./agency.yaml, else the
// embedded default (working directory = `cwd`).
Result<Config> load(const std::optional<std::filesystem::path>& explicit_path,
                    const std::filesystem::path& cwd = std::filesystem::current_path());

// What provisioning sets from this config (replicas, ack wait, the stream
// size limits) for `roles` (the built-in ones always get their consumers).
ProvisionPlan provision_plan(const Config& config, const std::vector<std::string>& roles);

// The embedded default configuration, as YAML, and parsed (`agency up` without a
// file runs on runtime/place.hpp's choices instead).
std::string_view default_yaml();
Config embedded_default(const std::filesystem::path& cwd);

}  // namespace agency::config
