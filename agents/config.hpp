// agency.yaml: projects, roles, NATS, state dir (DESIGN section 10).
//
// Found at --config, else $AGENCY_CONFIG, else ./agency.yaml; without any,
// the embedded default (one agent per pipeline role, an embedded
// nats-server, no projects). Unknown keys are errors that name the key and
// its place, so a typo never silently changes behaviour.
//
// Later issues add sections (limits, schedules, triggers); each
// adds its own struct here and its keys to the parser.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bus/provision.hpp"
#include "bus/result.hpp"

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
};

struct Project {
  std::string name;            // a subject token: letters, digits, '-', '_'
  std::filesystem::path repo;  // git repository (relative paths: to the config file)
  std::string default_branch = "main";
  std::string test_command;  // run in the worktree by builder and adversary
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

// The knowledge proxy (roles/proxy): the corpus it indexes and answers from.
struct CorpusDir {
  std::string name;            // how sources are named: <name>/<path>:<lines>
  std::filesystem::path path;  // a directory (relative paths: to the config file)
};
struct Proxy {
  std::vector<CorpusDir> corpus;
  // How often the index looks for changed, new and removed files.
  int reindex_seconds = 60;
  // Passages handed to the engine per question.
  int passages = 6;
  // Below this retrieval confidence the proxy says the corpus does not
  // cover the question, without asking its engine to make something up.
  double min_confidence = 0.35;
};

// The sweeper (roles/sweeper): how often it walks the fleet and when it acts.
struct Sweeper {
  int every_seconds = 300;
  // A busy agent without progress this long is nudged; still none after
  // the grace, it is drained and its brief redelivered.
  int stuck_after_seconds = 900;
  int nudge_grace_seconds = 300;
  // A question an agent has waited on this long is taken to the proxy; its
  // answer is passed on when at least this confident.
  int answer_after_seconds = 60;
  double answer_confidence = 0.7;
  // A task that entered one stage this many times is in a loop: blocked.
  int loop_limit = 4;
  // A task whose tokens pass this many times its role's median is flagged.
  double burn_factor = 5.0;
};

// The synthesizer (roles/synthesizer): the daily digest of the work logs.
struct Synthesizer {
  std::string digest_at = "04:00";  // HH:MM, in time_zone
  std::string time_zone;            // IANA name (Europe/Berlin); empty: the machine's
  std::filesystem::path dir;        // where digests go; empty: <state_dir>/digests
};

// The scout (roles/scout).
struct Scout {
  // New tasks one exploration may file.
  int max_tasks = 5;
};

// One subscription the fleet and the human share (accountant.accounts):
// whose limits count, and where its Claude Code transcripts are.
struct Account {
  std::string name = "default";
  // Its CLAUDE_CONFIG_DIR; empty: $CLAUDE_CONFIG_DIR, else ~/.claude.
  std::filesystem::path config_dir;
  // pro, max5 or max20 (rough limits until calibrated); empty: limits only.
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
};

// The accountant (roles/accountant) and the leases every agent asks it for.
// The section being present turns leases on.
struct Accountant {
  bool enabled = false;
  std::vector<Account> accounts;  // empty in the file: one named default
  // Share of every window agents never lease while the human may need it.
  double reserve = 0.2;
  // Before a reset, the reserve shrinks to nothing over this long, for
  // batch work: capacity that would expire unused.
  int release_five_hour_minutes = 30;
  int release_seven_day_minutes = 720;
  // ... but only while the person has used nothing for this long: someone
  // at work may need the reserve right up to the reset.
  int human_idle_minutes = 30;
  // How far ahead of the even pace scheduled and batch work may run, as a
  // share of the window's limit.
  double burst = 0.01;
  // Night hours (local, in time_zone), when batch work runs night_weight
  // times the daytime pace. Every hour run off the even pace is capacity
  // some other hour leaves unused; 1.25 keeps that cost below what a fixed
  // pace loses (docs/BENCHMARKS.md).
  int night_from_minute = 22 * 60;
  int night_to_minute = 7 * 60;
  double night_weight = 1.25;
  std::string time_zone;
  // How often the human's transcripts and the usage endpoint are read.
  int transcripts_every_seconds = 60;
  int usage_every_seconds = 300;
  // An agent waits this long for a lease answer; no answer means the
  // accountant is down and the fallback applies: at most
  // fallback_tokens_per_hour per agent, then briefs wait for the next hour.
  int lease_timeout_ms = 2000;
  int lease_ttl_seconds = 1800;
  std::int64_t fallback_tokens_per_hour = 200000;
  // An agent's estimate before it has spent anything.
  std::int64_t first_estimate = 20000;
};

// The dispatcher (roles/dispatcher): nobody idles.
// A standing order: work a role gets when one of its agents is idle, its
// queue is empty and the accountant's pacing leaves capacity.
struct StandingOrder {
  std::string role;
  std::string objective;              // "{project}" is the project's name
  std::vector<std::string> projects;  // rotated through; empty: every project, or none
  std::string priority = "batch";
  std::int64_t token_budget = 0;  // per task; 0: none
};
// A brief on a cron schedule.
struct Schedule {
  std::string name;  // its identity: fires are "schedule:<name>:<minute>"
  std::string cron;  // five fields, or @daily...
  std::string time_zone;
  std::string role;
  std::string objective;
  std::string project;
  std::string priority = "scheduled";
  std::int64_t token_budget = 0;
  std::string missed = "skip";  // skip | run_once: runs missed while the dispatcher was down
};
// A brief for each message on a subject.
struct Trigger {
  std::string name;
  std::string subject;  // a NATS subject pattern: git.push.>, agency.event.task.>
  // Only events of these kinds (TaskEvent.kind, for agency.event.task.*
  // subjects); empty: every message.
  std::vector<std::string> kinds;
  std::string role;
  std::string objective;  // a template: {subject}, {subject.N}, {json.a.b}, {data}, {task.field}
  std::string project;    // a template too
  std::string priority = "scheduled";
  std::int64_t token_budget = 0;
};
// How many agents of a role, and when to ask `agency up` for another.
struct Instances {
  int min = 1;
  int max = 1;
  int backlog = 3;         // queued briefs per agent above which the role grows
  int after_seconds = 30;  // ... for this long
  int idle_seconds = 120;  // an extra agent idle this long is stopped
};
struct Dispatcher {
  int every_seconds = 5;  // a full look besides the fleet watch
  std::vector<StandingOrder> standing_orders;
  std::vector<Schedule> schedules;
  std::vector<Trigger> triggers;
  std::map<std::string, Instances> instances;  // by role
  // The estimate a standing order's lease probe asks capacity for.
  std::int64_t order_estimate = 50000;
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
  Limits limits;
  std::vector<Project> projects;
  std::vector<Role> roles;
  Proxy proxy;
  Sweeper sweeper;
  Synthesizer synthesizer;
  Scout scout;
  Accountant accountant;
  Dispatcher dispatcher;

  [[nodiscard]] const Project* project(std::string_view name) const;
  [[nodiscard]] const Role* role(std::string_view name) const;
};

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
// file runs on agents/place.hpp's choices instead).
std::string_view default_yaml();
Config embedded_default(const std::filesystem::path& cwd);

}  // namespace agency::config
