// What the coding-agent CLI engines (claude, codex, gemini) share
// (docs/ENGINES.md): one process per call, run in the turn's work
// directory with the prompt on stdin, its lines read as they come; a call
// that resumes a session the CLI no longer has is made again with a new
// session; the same words for a CLI that is not installed, a timeout and a
// rate limit that does not say when it resets. Each engine_<kind>.cpp holds
// only what is its own: the argv, how its output is read, its usage.
//
// Internal to the engines: only make_engine constructs them (engine.cpp).
//
// Thread: run() on the agent's work thread; the line callbacks run there too.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/engine.hpp"
#include "runtime/process.hpp"

namespace agency::engine_detail {

// What the messages say about one CLI.
struct CliInfo {
  std::string kind;     // "claude": the engine's kind and the program's default name
  std::string product;  // "Claude Code", "the Codex CLI": "is <product> installed?"
  std::string install;  // "npm install -g @anthropic-ai/claude-code"
};

// A coding-agent CLI run for one turn: in the turn's work directory, the
// prompt on stdin, our variables that `allow` or the role's env_allow name,
// the turn's environment and `extra` on top, within the role's timeout.
ProcessSpec cli_process(const EngineConfig& config, const Turn& turn, std::vector<std::string> argv,
                        std::vector<std::string> allow,
                        const std::map<std::string, std::string>& extra = {});

// A CLI engine's program must exist when the agent starts: a missing one
// is a configuration error then, not a failure of every brief later.
Result<void> require_cli(const EngineConfig& config, std::string_view kind,
                         std::string_view install);

// The checks every CLI engine's factory makes: a timeout of at least 1 s,
// the program there.
Result<void> check_cli_config(const EngineConfig& config, const CliInfo& info);

// A permission_mode the CLI checks by name (the names change between
// versions): this only keeps the argument a single word of letters and the
// characters in `also`. The error says it is not a `what`; use `choices`.
Result<void> check_mode_word(const std::string& mode, std::string_view also, std::string_view what,
                             std::string_view choices);

class CliEngine : public Engine {
 public:
  [[nodiscard]] std::string kind() const override { return info_.kind; }

  // call() with the turn's session; when that session is gone (another
  // machine, a cleared ~/.<cli>) once more with a new one rather than fail
  // the brief.
  Result<Outcome> run(const Turn& turn, const ProgressFn& progress,
                      const std::atomic<bool>& cancel) override;

 protected:
  CliEngine(CliInfo info, EngineConfig config);

  // One run of the CLI, resuming `session` ("" = a new one). Sets
  // session_missing_ when the CLI said it does not know the session.
  virtual Result<Outcome> call(const Turn& turn, const std::string& session,
                               const ProgressFn& progress, const std::atomic<bool>& cancel) = 0;

  // The progress line before a new session replaces a lost one.
  [[nodiscard]] virtual std::string session_lost(const std::string& session) const;

  // cli_process() with this engine's configuration.
  [[nodiscard]] ProcessSpec process(const Turn& turn, std::vector<std::string> argv,
                                    std::vector<std::string> allow,
                                    const std::map<std::string, std::string>& extra = {}) const;

  // run_process(); a program that does not start says how to install it,
  // a cancelled run is an error. A timeout is left to the caller (timed_out()).
  Result<ProcessResult> run_cli(const ProcessSpec& spec, const ProcessIo& io,
                                const std::atomic<bool>& cancel) const;

  // The error for a run the timeout stopped.
  [[nodiscard]] Error timed_out() const;

  // A rate limit the CLI gave no reset time waits the role's
  // rate_limit_wait from `now`; readings without a reset take the limit's.
  void complete_rate_limit(Outcome& out, std::chrono::system_clock::time_point now) const;

  EngineConfig config_;
  bool session_missing_ = false;

 private:
  CliInfo info_;
};

// A stdout reader for a CLI's event stream (cli_formats.hpp): each line fed
// to `events`, what it shows passed to `progress`.
template <class Events>
LineFn progress_lines(Events& events, const ProgressFn& progress) {
  return [&events, &progress](std::string_view line) {
    std::string shown = events.feed(line);
    if (progress && !shown.empty()) progress(shown);
    return true;
  };
}

}  // namespace agency::engine_detail
