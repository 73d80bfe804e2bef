// The gemini engine: Google's Gemini CLI headless (docs/ENGINES.md,
// "gemini").
//
//   gemini -p "" --output-format stream-json --skip-trust
//          --approval-mode <mode> [-m M] [--resume <session_id>]
//          [cli_args...]                                 prompt on stdin
//
// run in the task's worktree. gemini reads stdin when it is not a terminal
// and puts the -p text after it, so an empty -p leaves the prompt as it is,
// with no argv size limit (stdin is read up to 8 MiB). --skip-trust: a
// headless run in a folder the user has not trusted stops at once
// otherwise. stream-json rather than json: its lines give progress, and a
// failure comes as a result line on stdout (json writes it to stderr).
//
// Sessions: gemini keeps them per project folder, so --resume finds the
// agent's session only in the folder it was started in; elsewhere it
// fails and the engine starts a new session.
//
// Rate limits: gemini waits out short limits itself (up to ten attempts,
// "Attempt N failed: ..." on stderr) and fails at once on daily quotas
// ("You have exhausted your daily quota"); both end as a result with
// status error, read by cli_formats. A call stopped by the timeout while
// gemini was waiting out a limit counts as rate limited too.
//
// Thread: run() on the agent's work thread; the line callbacks run there too.
#include <cctype>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/cli_formats.hpp"
#include "runtime/engine.hpp"
#include "runtime/engine_cli.hpp"
#include "runtime/process.hpp"

namespace agency::engine_detail {

namespace {

using SystemClock = std::chrono::system_clock;

const CliInfo kGemini = {"gemini", "the Gemini CLI", "npm install -g @google/gemini-cli"};

// Variables of ours gemini may see besides PATH, HOME, ...: its key and
// settings, Google Cloud's, proxies.
const std::vector<std::string> kGeminiEnv = {"GEMINI_*",       "GOOGLE_*",    "CLOUDSDK_*",
                                             "HTTP_PROXY",     "HTTPS_PROXY", "NO_PROXY",
                                             "XDG_CONFIG_HOME"};

// gemini reads at most this much of stdin and drops the rest.
constexpr size_t kMaxPrompt = 8 * 1024 * 1024;

// gemini exits with the HTTP status of a fatal API error, which the exit
// status keeps the low 8 bits of: 429 & 0xff.
constexpr int kExit429 = 429 & 0xff;

class GeminiEngine final : public CliEngine {
 public:
  explicit GeminiEngine(EngineConfig config) : CliEngine(kGemini, std::move(config)) {
    // default: in a headless run, tools that would ask are refused, so
    // gemini reads and searches but does not edit or run commands.
    if (config_.permission_mode.empty()) config_.permission_mode = "default";
  }

  [[nodiscard]] std::string label() const override {
    std::string l = "gemini";
    if (!config_.model.empty()) l += " " + config_.model;
    return l + " (" + config_.permission_mode + ")";
  }

  Result<Outcome> run(const Turn& turn, const ProgressFn& progress,
                      const std::atomic<bool>& cancel) override {
    if (turn.prompt.size() > kMaxPrompt) {
      return make_error(errc::bad_payload,
                        "the prompt is " + std::to_string(turn.prompt.size()) +
                            " bytes; gemini reads at most 8 MiB of it: shorten the brief or the "
                            "role's SKILL.md");
    }
    return CliEngine::run(turn, progress, cancel);
  }

 private:
  // gemini keeps sessions per project folder.
  [[nodiscard]] std::string session_lost(const std::string& session) const override {
    return "gemini session " + session + " not found in this folder, starting a new one";
  }

  [[nodiscard]] std::vector<std::string> argv(const std::string& session) const {
    std::vector<std::string> a = {config_.cli,
                                  "-p",
                                  "",
                                  "--output-format",
                                  "stream-json",
                                  "--skip-trust",
                                  "--approval-mode",
                                  config_.permission_mode};
    if (!config_.model.empty()) a.insert(a.end(), {"-m", config_.model});
    if (!session.empty()) a.insert(a.end(), {"--resume", session});
    a.insert(a.end(), config_.cli_args.begin(), config_.cli_args.end());
    return a;
  }

  Result<Outcome> call(const Turn& turn, const std::string& session, const ProgressFn& progress,
                       const std::atomic<bool>& cancel) override {
    ProcessSpec spec = process(turn, argv(session), kGeminiEnv);

    cli_formats::GeminiEvents events;
    std::string waiting_limit;  // the limit gemini is waiting out, with its delay
    std::string retrying;       // the last failure gemini retries (a 5xx, a reset connection)
    bool expect_delay = false;
    ProcessIo io;
    io.on_stdout_line = progress_lines(events, progress);
    io.on_stderr_line = [&](std::string_view line) {
      if (line.find("Error resuming session") != std::string_view::npos ||
          line.find("Invalid session identifier") != std::string_view::npos) {
        session_missing_ = true;
      }
      if (expect_delay) {
        // "Suggested retry after 37s.. Retrying after 41406ms..."
        expect_delay = false;
        if (!waiting_limit.empty()) waiting_limit += " " + std::string(line.substr(0, 200));
      }
      // "Attempt 2 failed: <message>" (a limit, with the delay on the next
      // line) or "Attempt 2 failed with status 500. Retrying with backoff...
      // <error>" (5xx and network errors, backed off for minutes).
      if (line.rfind("Attempt ", 0) == 0) {
        std::string what;
        if (size_t at = line.find(" failed: "); at != std::string_view::npos) {
          what = std::string(line.substr(at + 9, 300));
        } else if (size_t with = line.find(" failed with "); with != std::string_view::npos) {
          what = std::string(line.substr(with + 13, 300));
        }
        if (!what.empty()) {
          if (cli_formats::is_gemini_limit(what)) {
            waiting_limit = what;
            expect_delay = true;
          }
          retrying = what;
          if (progress) progress("gemini retries: " + what);
        }
      }
      return true;
    };
    auto ran = run_cli(spec, io, cancel);
    if (!ran) return ran.error();
    const auto now = SystemClock::now();
    auto refused = [&](const std::string& detail) {
      Outcome out;
      out.session_id = events.session_id();
      out.model = config_.model;
      out.duration = ran->duration;
      RateLimit rl;
      rl.detail = detail.substr(0, 300);
      rl.resets_at = cli_formats::gemini_retry_at(detail, now)
                         .value_or(now + std::chrono::duration_cast<SystemClock::duration>(
                                             config_.rate_limit_wait));
      LimitReading r;
      r.status = "rejected";
      r.source = "error";
      r.resets_at = rl.resets_at;
      out.rate_limit = std::move(rl);
      out.limits.push_back(std::move(r));
      return out;
    };
    if (ran->end == ProcessEnd::timeout) {
      if (!waiting_limit.empty()) return refused(waiting_limit);
      if (!retrying.empty()) {
        // gemini was still retrying a failing server: say what failed.
        return make_error(errc::timeout, "gemini timed out after " +
                                             std::to_string(config_.timeout.count()) +
                                             " s while retrying a failed request (" + retrying +
                                             "); check the model server");
      }
      return timed_out();
    }

    auto parsed = events.finish(now);
    if (!parsed) {
      if (ran->exit_code() == kExit429) {
        return refused(waiting_limit.empty() ? "the API answered 429" : waiting_limit);
      }
      if (ran->exit_code() != 0 && events.events() == 0) {
        // gemini stopped before its first event: no key, an untrusted
        // folder, a session it could not find, bad arguments.
        return make_error(errc::io, ran->describe(config_.cli));
      }
      return parsed.error();
    }
    Outcome out = std::move(*parsed);
    out.duration = ran->duration;
    if (out.model.empty()) out.model = config_.model;
    complete_rate_limit(out, now);
    return out;
  }
};

}  // namespace

Result<std::unique_ptr<Engine>> make_gemini(const EngineConfig& config) {
  if (auto checked = check_cli_config(config, kGemini); !checked) return checked.error();
  // The modes change between versions (default, auto_edit, yolo, plan): the
  // CLI checks the name, this only keeps the argument a single word.
  if (auto word = check_mode_word(config.permission_mode, "_", "gemini approval mode",
                                  "default (read-only in headless runs), auto_edit (edits "
                                  "files), yolo (edits and runs commands) or plan");
      !word) {
    return word.error();
  }
  return std::unique_ptr<Engine>(std::make_unique<GeminiEngine>(config));
}

}  // namespace agency::engine_detail
