// Engines: what does an agent's work (docs/ARCHITECTURE.md). The mesh is the
// product; the engine is external: a coding agent CLI, an HTTP model API, a
// command, or the scripted engine (deterministic, for tests and the offline
// demo, always labelled as scripted).
//
// Thread: run() is called from the agent's work thread, one call at a time;
// `progress` may be called from any thread run() starts; `cancel` is set by
// another thread (stop, drain timeout) and run() must return soon after.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agency/v1/brief.pb.h"
#include "agency/v1/task.pb.h"
#include "bus/result.hpp"

namespace agency {

struct Usage {
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t cache_creation_tokens = 0;
  std::int64_t cache_read_tokens = 0;
  double cost_usd = 0;
};

struct RateLimit {
  std::chrono::system_clock::time_point resets_at;
  std::string detail;  // what the engine said
};

// A reading of a plan or API limit the engine saw (a rate_limit_event,
// anthropic-ratelimit-* or x-ratelimit-* headers, a 429): published on
// agency.limits.<engine> for the accountant.
struct LimitReading {
  // five_hour, seven_day, seven_day_opus, seven_day_sonnet (subscription
  // windows), requests, tokens, input_tokens, output_tokens (API limits).
  std::string window;
  double utilization = -1;      // percent used, 0-100; -1 unknown
  std::int64_t remaining = -1;  // requests or tokens left; -1 unknown
  std::int64_t limit = -1;      // the window's size; -1 unknown
  std::optional<std::chrono::system_clock::time_point> resets_at;
  std::string status;  // allowed | allowed_warning | rejected | ""
  std::string source;  // rate_limit_event | headers | error
};

// The structured block an engine ends its answer with (docs/OUTCOME.md):
//
//   ```agency
//   verdict: pass            # pass | fail | blocked
//   summary: one line
//   findings:
//     - what is wrong, one per item
//   spec: |
//     multi-line text (the planner's spec)
//   ```
// A task an engine proposes (the `tasks:` list): the scout's new tasks,
// the planner's sub-tasks (runtime/epics.hpp).
struct ProposedTask {
  std::string title;
  std::string objective;
  std::string done_when;
  std::string spec;                     // the planner's spec of a sub-task
  std::vector<std::string> depends_on;  // sub-tasks first: their numbers or titles
};

struct OutcomeBlock {
  std::string verdict;
  std::string summary;
  std::vector<std::string> findings;
  std::string spec;
  // tasks:
  //   - title: one line
  //     objective: what must be achieved
  //     done_when: how to tell
  //     spec: the planner's spec of a sub-task
  //     depends_on: [1, "other title"]
  std::vector<ProposedTask> tasks;
  std::map<std::string, std::string> fields;  // any other scalar keys
};

struct Outcome {
  std::string text;     // the engine's whole answer
  std::string verdict;  // pass | fail | blocked (block, else exit code; "" unknown)
  OutcomeBlock block;   // parsed from text when present
  bool has_block = false;
  Usage usage;
  std::string model;
  std::string session_id;               // to resume next time
  std::optional<RateLimit> rate_limit;  // set: the call was refused, retry after resets_at
  std::vector<LimitReading> limits;     // what the engine saw of its limits
  // Tokens in the session's context after this call (the last request's
  // input, cache reads and cache writes): the runtime starts a new session
  // when it passes the role's session_max_tokens. 0: unknown.
  std::int64_t context_tokens = 0;
  // Tools the engine was refused (claude's permission_denials), one line each.
  std::vector<std::string> denials;
  // Requests the engine sent again after an error (claude's api_retry, an
  // HTTP engine's retries after a 5xx or a broken connection).
  int retries = 0;
  std::chrono::milliseconds duration{0};
};

// One assignment handed to an engine.
struct Turn {
  std::string agent_id;
  std::string role;
  // What the turn is for: "brief" (a stage of a task), "question" (a
  // colleague's, agency.ask.<role>) or "mail". For a question the brief's
  // objective is the question and its context what the role gathered; for
  // mail the objective is the letters.
  std::string kind = "brief";
  v1::Brief brief;
  v1::Task task;
  std::string prompt;                      // composed by the role: SKILL.md body + brief
  std::filesystem::path workdir;           // the task's worktree or a scratch dir
  std::string session_id;                  // engine session to resume ("" = new)
  std::map<std::string, std::string> env;  // extra environment for engine processes
};

using ProgressFn = std::function<void(std::string_view)>;

class Engine {
 public:
  virtual ~Engine() = default;
  // Kind as configured: "scripted", "command", ...
  [[nodiscard]] virtual std::string kind() const = 0;
  // What people see in logs and status: "scripted (no model: demo/test)",
  // "command: ./review.sh".
  [[nodiscard]] virtual std::string label() const = 0;
  // Errors are transient failures (the brief is handed back with backoff);
  // a refusal for rate limits is an Outcome with rate_limit set.
  virtual Result<Outcome> run(const Turn& turn, const ProgressFn& progress,
                              const std::atomic<bool>& cancel) = 0;
};

struct EngineConfig {
  std::string kind;   // scripted | command | claude | codex | gemini | openai | anthropic
  std::string model;  // empty: the engine's or server's default
  // command: argv template; {task_id}, {stage}, {role}, {agent_id}, {workdir},
  // {project} are replaced.
  std::vector<std::string> command;
  std::chrono::seconds timeout{600};
  // command: environment variables passed through from ours (besides PATH,
  // HOME, LANG and the AGENCY_* ones it always gets).
  std::vector<std::string> env_allow;
  // scripted: the scenario file (docs/ENGINES.md).
  std::filesystem::path scenario;

  // claude, codex, gemini: the CLI (empty: the kind's name on PATH) and
  // extra arguments for it.
  std::string cli;
  std::vector<std::string> cli_args;
  // claude: --permission-mode (acceptEdits, plan, default,
  // bypassPermissions); codex: --sandbox (read-only, workspace-write,
  // danger-full-access); gemini: --approval-mode (default, auto_edit, yolo).
  // Empty: the engine's read-only choice.
  std::string permission_mode;
  std::vector<std::string> allowed_tools;  // claude: --allowedTools
  int max_turns = 0;                       // claude: --max-turns; 0 = the CLI's default

  // openai, anthropic: the server (empty: the public API) and the
  // environment variable holding the key (empty: OPENAI_API_KEY,
  // ANTHROPIC_API_KEY; a local server may need none).
  std::string base_url;
  std::string api_key_env;
  int max_tokens = 8192;  // longest answer asked for
  // Attempts after the first on 5xx, 529 and connection errors, with a
  // doubling delay from 1 s.
  int retries = 3;

  // Every engine: how long to wait when a rate limit does not say when it
  // resets.
  std::chrono::seconds rate_limit_wait{300};
};

// The one factory that lists every engine kind (CONVENTIONS: register
// explicitly). Unknown kinds are an errc::config error naming the known ones.
Result<std::unique_ptr<Engine>> make_engine(const EngineConfig& config);

// Finds and parses the last ```agency block of `text`. nullopt when there is
// none; an error when there is one but it is malformed (the message says
// what is wrong with it).
Result<std::optional<OutcomeBlock>> parse_outcome_block(std::string_view text);

}  // namespace agency
