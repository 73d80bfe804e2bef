// See engine_cli.hpp.
#include "runtime/engine_cli.hpp"

#include <cctype>
#include <utility>

namespace agency::engine_detail {

ProcessSpec cli_process(const EngineConfig& config, const Turn& turn, std::vector<std::string> argv,
                        std::vector<std::string> allow,
                        const std::map<std::string, std::string>& extra) {
  ProcessSpec spec;
  spec.argv = std::move(argv);
  allow.insert(allow.end(), config.env_allow.begin(), config.env_allow.end());
  auto env = turn.env;
  for (const auto& [k, v] : extra) env[k] = v;
  spec.env = child_environment(allow, env);
  spec.workdir = turn.workdir;
  spec.stdin_text = turn.prompt;
  spec.deadline = std::chrono::steady_clock::now() + config.timeout;
  return spec;
}

Result<void> require_cli(const EngineConfig& config, std::string_view kind,
                         std::string_view install) {
  const std::string program = config.cli.empty() ? std::string(kind) : config.cli;
  if (find_program(program)) return {};
  return make_error(errc::config, "the " + std::string(kind) + " engine cannot find '" + program +
                                      "'" +
                                      (program.find('/') == std::string::npos ? " on PATH" : "") +
                                      ": install it (" + std::string(install) +
                                      ") or set the role's cli to its path");
}

Result<void> check_cli_config(const EngineConfig& config, const CliInfo& info) {
  if (config.timeout.count() < 1) {
    return make_error(errc::config, "the " + info.kind + " engine needs a timeout of at least 1 s");
  }
  return require_cli(config, info.kind, info.install);
}

Result<void> check_mode_word(const std::string& mode, std::string_view also, std::string_view what,
                             std::string_view choices) {
  for (char c : mode) {
    if (std::isalpha(static_cast<unsigned char>(c)) == 0 &&
        also.find(c) == std::string_view::npos) {
      return make_error(errc::config, "permission_mode '" + mode + "' is not a " +
                                          std::string(what) + ": use " + std::string(choices));
    }
  }
  return {};
}

CliEngine::CliEngine(CliInfo info, EngineConfig config)
    : config_(std::move(config)), info_(std::move(info)) {
  if (config_.cli.empty()) config_.cli = info_.kind;
}

Result<Outcome> CliEngine::run(const Turn& turn, const ProgressFn& progress,
                               const std::atomic<bool>& cancel) {
  session_missing_ = false;
  auto outcome = call(turn, turn.session_id, progress, cancel);
  if (!outcome && !turn.session_id.empty() && session_missing_) {
    if (progress) progress(session_lost(turn.session_id));
    session_missing_ = false;
    outcome = call(turn, "", progress, cancel);
  }
  return outcome;
}

std::string CliEngine::session_lost(const std::string& session) const {
  return "session " + session + " not found, starting a new one";
}

ProcessSpec CliEngine::process(const Turn& turn, std::vector<std::string> argv,
                               std::vector<std::string> allow,
                               const std::map<std::string, std::string>& extra) const {
  return cli_process(config_, turn, std::move(argv), std::move(allow), extra);
}

Result<ProcessResult> CliEngine::run_cli(const ProcessSpec& spec, const ProcessIo& io,
                                         const std::atomic<bool>& cancel) const {
  auto ran = run_process(spec, io, cancel);
  if (!ran) {
    return make_error(ran.error().code, ran.error().message + " (is " + info_.product +
                                            " installed? " + info_.install +
                                            ", or set the role's cli to its path)");
  }
  if (ran->end == ProcessEnd::cancelled) return make_error(errc::io, "cancelled");
  return ran;
}

Error CliEngine::timed_out() const {
  return make_error(errc::timeout, info_.kind + " timed out after " +
                                       std::to_string(config_.timeout.count()) +
                                       " s and was stopped (raise the role's timeout_seconds "
                                       "if its work needs longer)");
}

void CliEngine::complete_rate_limit(Outcome& out, std::chrono::system_clock::time_point now) const {
  if (!out.rate_limit) return;
  if (out.rate_limit->resets_at == std::chrono::system_clock::time_point{}) {
    out.rate_limit->resets_at =
        now +
        std::chrono::duration_cast<std::chrono::system_clock::duration>(config_.rate_limit_wait);
  }
  for (auto& r : out.limits) {
    if (!r.resets_at) r.resets_at = out.rate_limit->resets_at;
  }
}

}  // namespace agency::engine_detail
