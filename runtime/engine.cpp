// make_engine: the one place that lists every engine kind (CONVENTIONS,
// "Register explicitly"), and the helpers the engines share.
#include "runtime/engine.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace agency {

// Defined in the engine_<kind>.cpp files; declared here rather than in a
// header because nothing but this factory may construct an engine. The
// helpers below are declared the same way in the engine files that use them;
// what the CLI engines share is in engine_cli.hpp, the HTTP ones' in
// engine_http.hpp.
namespace engine_detail {
Result<std::unique_ptr<Engine>> make_scripted(const EngineConfig& config);
Result<std::unique_ptr<Engine>> make_command(const EngineConfig& config);
Result<std::unique_ptr<Engine>> make_claude(const EngineConfig& config);
Result<std::unique_ptr<Engine>> make_codex(const EngineConfig& config);
Result<std::unique_ptr<Engine>> make_gemini(const EngineConfig& config);
Result<std::unique_ptr<Engine>> make_openai(const EngineConfig& config);
Result<std::unique_ptr<Engine>> make_anthropic(const EngineConfig& config);

// One pass over the text, so a value that itself holds "{task_id}" (an
// objective quoting a placeholder) is not replaced again. Unknown names stay
// as written: shell snippets like ${HOME} pass through.
std::string expand(std::string_view text, const std::map<std::string, std::string>& values) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '{') {
      size_t close = text.find('}', i + 1);
      if (close != std::string_view::npos) {
        auto it = values.find(std::string(text.substr(i + 1, close - i - 1)));
        if (it != values.end()) {
          out += it->second;
          i = close + 1;
          continue;
        }
      }
    }
    out += text[i++];
  }
  return out;
}

namespace {

// The stage this turn acts on: the brief's, else the task's.
std::string stage_of(const Turn& turn) {
  return turn.brief.stage().empty() ? turn.task.stage() : turn.brief.stage();
}

}  // namespace

// How many times the task has entered the stage this turn acts on; a task
// record without history (a test, a first brief) counts as the first time.
std::uint32_t attempt_of(const Turn& turn) {
  const std::string stage = stage_of(turn);
  std::uint32_t entered = 0;
  for (const auto& change : turn.task.history()) {
    if (change.to() == stage) ++entered;
  }
  return std::max<std::uint32_t>(1, entered);
}

std::map<std::string, std::string> placeholders(const Turn& turn) {
  const auto& brief = turn.brief;
  const auto& task = turn.task;
  auto either = [](const std::string& a, const std::string& b) { return a.empty() ? b : a; };
  return {
      {"task_id", either(brief.task_id(), task.id())},
      {"stage", stage_of(turn)},
      {"role", turn.role},
      {"agent_id", turn.agent_id},
      {"workdir", turn.workdir.string()},
      {"project", either(brief.project(), task.project())},
      {"attempt", std::to_string(attempt_of(turn))},
      {"objective", either(brief.objective(), task.brief().objective())},
      {"context", brief.context()},
  };
}

}  // namespace engine_detail

Result<std::unique_ptr<Engine>> make_engine(const EngineConfig& config) {
  // Every kind, in the order people should read them; kKnown below too.
  if (config.kind == "claude") return engine_detail::make_claude(config);
  if (config.kind == "codex") return engine_detail::make_codex(config);
  if (config.kind == "gemini") return engine_detail::make_gemini(config);
  if (config.kind == "openai") return engine_detail::make_openai(config);
  if (config.kind == "anthropic") return engine_detail::make_anthropic(config);
  if (config.kind == "command") return engine_detail::make_command(config);
  if (config.kind == "scripted") return engine_detail::make_scripted(config);

  constexpr std::string_view kKnown = "claude, codex, gemini, openai, anthropic, command, scripted";
  if (config.kind.empty()) {
    return make_error(errc::config, "no engine given: known engines are " + std::string(kKnown));
  }
  return make_error(errc::config, "unknown engine '" + config.kind + "': known engines are " +
                                      std::string(kKnown));
}

}  // namespace agency
