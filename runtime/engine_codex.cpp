// The codex engine: OpenAI's Codex CLI headless (docs/ENGINES.md, "codex").
//
//   codex exec --json --sandbox <mode> [-m M] --skip-git-repo-check
//              [cli_args...] -                          a new thread
//   codex exec --json --sandbox <mode> [-m M] --skip-git-repo-check
//              [cli_args...] resume <thread_id> -       the agent's thread
//
// run in the task's worktree with the prompt on stdin ("-"). The exec
// options go before `resume`: the resume subcommand takes no --sandbox of
// its own, and exec's apply to the resumed thread too. The JSONL events
// become progress and the Outcome (cli_formats.hpp).
//
// Usage: codex reports the thread's running total, so a resumed thread's
// call is what the total grew by. The engine remembers each thread's last
// total; for a thread it has not seen (the agent restarted) it reads the
// total from codex's session file before the call.
//
// Rate limits: codex retries 429s and stream errors itself, then fails the
// turn with "You've hit your usage limit ... try again at <time>" or
// "exceeded retry limit, last status: 429". It prints those times in its
// local time zone, so it runs with TZ=UTC.
//
// Thread: run() on the agent's work thread; the line callbacks run there
// too, and only run() touches the remembered totals.
#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "runtime/cli_formats.hpp"
#include "runtime/engine.hpp"
#include "runtime/engine_cli.hpp"
#include "runtime/process.hpp"

namespace agency::engine_detail {

namespace {

namespace fs = std::filesystem;
using SystemClock = std::chrono::system_clock;

const CliInfo kCodex = {"codex", "the Codex CLI", "npm install -g @openai/codex"};

// Variables of ours codex may see besides PATH, HOME, ...: its key, its
// home and settings, proxies.
const std::vector<std::string> kCodexEnv = {"OPENAI_*",       "CODEX_*",  "HTTP_PROXY",
                                            "HTTPS_PROXY",    "NO_PROXY", "SSL_CERT_FILE",
                                            "XDG_CONFIG_HOME"};

constexpr std::array<std::string_view, 3> kSandboxes = {"read-only", "workspace-write",
                                                        "danger-full-access"};

std::string env_of(const Turn& turn, const std::string& name) {
  if (auto it = turn.env.find(name); it != turn.env.end()) return it->second;
  const char* v = std::getenv(name.c_str());
  return v != nullptr ? std::string(v) : std::string();
}

// Where codex keeps its sessions: $CODEX_HOME, else ~/.codex.
fs::path codex_home(const Turn& turn) {
  std::string home = env_of(turn, "CODEX_HOME");
  if (!home.empty()) return home;
  home = env_of(turn, "HOME");
  return home.empty() ? fs::path() : fs::path(home) / ".codex";
}

// The thread's running total from its session file
// (sessions/YYYY/MM/DD/rollout-<time>-<thread_id>.jsonl).
std::optional<Usage> total_from_session_file(const Turn& turn, const std::string& thread) {
  const fs::path sessions = codex_home(turn) / "sessions";
  std::error_code ec;
  if (thread.empty() || !fs::is_directory(sessions, ec)) return std::nullopt;
  const std::string suffix = "-" + thread + ".jsonl";
  fs::recursive_directory_iterator it(sessions, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= suffix.size() ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    std::ifstream in(it->path(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return cli_formats::codex_rollout_total(text.str());
  }
  return std::nullopt;
}

class CodexEngine final : public CliEngine {
 public:
  explicit CodexEngine(EngineConfig config) : CliEngine(kCodex, std::move(config)) {
    if (config_.permission_mode.empty()) config_.permission_mode = "read-only";
  }

  [[nodiscard]] std::string label() const override {
    std::string l = "codex";
    if (!config_.model.empty()) l += " " + config_.model;
    return l + " (" + config_.permission_mode + ")";
  }

 private:
  // The thread's session file is gone (another machine, a cleared ~/.codex).
  [[nodiscard]] std::string session_lost(const std::string& thread) const override {
    return "codex thread " + thread + " not found, starting a new one";
  }

  [[nodiscard]] std::vector<std::string> argv(const std::string& thread) const {
    std::vector<std::string> a = {config_.cli, "exec", "--json", "--sandbox",
                                  config_.permission_mode};
    if (!config_.model.empty()) a.insert(a.end(), {"-m", config_.model});
    a.emplace_back("--skip-git-repo-check");
    a.insert(a.end(), config_.cli_args.begin(), config_.cli_args.end());
    if (!thread.empty()) a.insert(a.end(), {"resume", thread});
    a.emplace_back("-");
    return a;
  }

  Result<Outcome> call(const Turn& turn, const std::string& thread, const ProgressFn& progress,
                       const std::atomic<bool>& cancel) override {
    // What the thread had spent before this call, to subtract.
    Usage before;
    if (!thread.empty()) {
      if (auto it = totals_.find(thread); it != totals_.end()) {
        before = it->second;
      } else if (auto t = total_from_session_file(turn, thread)) {
        before = *t;
      }
    }

    // TZ: codex's "try again at 9:00 AM" is then UTC.
    ProcessSpec spec = process(turn, argv(thread), kCodexEnv, {{"TZ", "UTC"}});

    cli_formats::CodexEvents events;
    std::string stderr_error;  // codex's "Error: ..." line, before any backtrace
    ProcessIo io;
    io.on_stdout_line = progress_lines(events, progress);
    io.on_stderr_line = [&](std::string_view line) {
      if (stderr_error.empty() && (line.rfind("Error:", 0) == 0 || line.rfind("error:", 0) == 0)) {
        stderr_error = std::string(line.substr(0, 500));
      }
      if (line.find("no rollout found") != std::string_view::npos) session_missing_ = true;
      return true;
    };
    auto ran = run_cli(spec, io, cancel);
    if (!ran) return ran.error();
    if (ran->end == ProcessEnd::timeout) return timed_out();

    const auto now = SystemClock::now();
    auto parsed = events.finish(now);
    if (!parsed) {
      if (ran->exit_code() != 0 && (events.events() == 0 || session_missing_)) {
        // codex stopped before its first event: bad arguments, no login,
        // an unknown thread. Its own words are on stderr.
        std::string why = ran->describe(config_.cli);
        if (!stderr_error.empty() && why.find(stderr_error) == std::string::npos) {
          why += ": " + stderr_error;
        }
        return make_error(errc::io, why);
      }
      return parsed.error();
    }
    Outcome out = std::move(*parsed);
    out.duration = ran->duration;
    out.model = config_.model;  // codex's events do not name the model
    complete_rate_limit(out, now);
    // Running totals become this call's usage.
    const Usage total = out.usage;
    const bool reported = total.input_tokens + total.output_tokens + total.cache_read_tokens +
                              total.cache_creation_tokens >
                          0;
    if (!out.session_id.empty() && out.session_id == thread) {
      out.usage = cli_formats::usage_since(total, before);
    }
    if (reported && !out.session_id.empty()) totals_[out.session_id] = total;
    return out;
  }

  // Each thread's running total as codex last reported it.
  std::map<std::string, Usage> totals_;
};

}  // namespace

Result<std::unique_ptr<Engine>> make_codex(const EngineConfig& config) {
  if (auto checked = check_cli_config(config, kCodex); !checked) return checked.error();
  if (!config.permission_mode.empty() &&
      std::find(kSandboxes.begin(), kSandboxes.end(), config.permission_mode) == kSandboxes.end()) {
    return make_error(errc::config, "permission_mode '" + config.permission_mode +
                                        "' is not a codex sandbox: use read-only (the default), "
                                        "workspace-write (edits the worktree) or "
                                        "danger-full-access");
  }
  return std::unique_ptr<Engine>(std::make_unique<CodexEngine>(config));
}

}  // namespace agency::engine_detail
