// The command engine: any program as an engine (docs/ENGINES.md). The brief
// goes in on stdin as JSON and in AGENCY_* variables, the answer comes back
// on stdout (an ```agency block, else the exit code is the verdict), and
// stderr lines become progress.
//
// Thread: run() is called from the agent's work thread; the process runs
// through run_process (process.hpp), which reads on that thread.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "bus/codec.hpp"
#include "runtime/engine.hpp"
#include "runtime/process.hpp"

namespace agency {

namespace engine_detail {
std::string expand(std::string_view text, const std::map<std::string, std::string>& values);
std::map<std::string, std::string> placeholders(const Turn& turn);
}  // namespace engine_detail

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr size_t kMaxProgressLine = 300;

// The prompt, in a file of its own for the engine to read; removed at the
// end of the call.
class PromptFile {
 public:
  PromptFile() = default;
  ~PromptFile() {
    std::error_code ec;
    if (!path_.empty()) fs::remove(path_, ec);
  }
  PromptFile(const PromptFile&) = delete;
  PromptFile& operator=(const PromptFile&) = delete;

  Result<void> write(const std::string& text) {
    std::error_code ec;
    fs::path dir = fs::temp_directory_path(ec);
    if (ec) dir = "/tmp";
    std::string templ = (dir / "agency-prompt-XXXXXX").string();
    int fd = ::mkostemp(templ.data(), O_CLOEXEC);
    if (fd < 0) {
      return make_error(errc::io, "cannot create the prompt file in " + dir.string() + ": " +
                                      std::strerror(errno));
    }
    path_ = templ;
    size_t done = 0;
    Result<void> result;
    while (done < text.size()) {
      ssize_t n = ::write(fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        result = make_error(errc::io,
                            "cannot write the prompt file " + templ + ": " + std::strerror(errno));
        break;
      }
      done += static_cast<size_t>(n);
    }
    ::close(fd);
    return result;
  }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

std::int64_t to_int(const std::string& s) {
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  return (end != nullptr && *end == '\0' && v >= 0) ? v : 0;
}

class CommandEngine final : public Engine {
 public:
  explicit CommandEngine(EngineConfig config) : config_(std::move(config)) {}

  [[nodiscard]] std::string kind() const override { return "command"; }

  [[nodiscard]] std::string label() const override {
    std::string l = join(config_.command);
    if (l.size() > 80) l = l.substr(0, 77) + "...";
    return "command: " + l;
  }

  Result<Outcome> run(const Turn& turn, const ProgressFn& progress,
                      const std::atomic<bool>& cancel) override {
    const auto started = std::chrono::steady_clock::now();
    const auto values = engine_detail::placeholders(turn);
    ProcessSpec spec;
    for (const auto& a : config_.command) spec.argv.push_back(engine_detail::expand(a, values));
    const std::string program = spec.argv.front();

    if (cancel.load()) return make_error(errc::io, "cancelled");
    PromptFile prompt;
    if (auto r = prompt.write(turn.prompt); !r) return r.error();
    spec.env = child_environment(config_.env_allow, variables(turn, values, prompt.path()));
    spec.workdir = turn.workdir;
    spec.stdin_text = codec::to_json(turn.brief) + "\n";
    spec.deadline = started + config_.timeout;

    ProcessIo io;
    io.on_stderr_line = [&progress](std::string_view line) {
      if (progress) {
        progress(line.size() > kMaxProgressLine
                     ? std::string(line.substr(0, kMaxProgressLine)) + "..."
                     : std::string(line));
      }
      return true;
    };
    auto ran = run_process(spec, io, cancel);
    if (!ran) return ran.error();

    Outcome outcome;
    outcome.duration = ran->duration;
    if (ran->end == ProcessEnd::timeout) {
      std::string msg = program + " timed out after " + std::to_string(config_.timeout.count()) +
                        " s and was stopped (raise timeout_seconds if it needs longer)";
      if (!ran->stderr_tail.empty()) msg += "; its last stderr lines:\n" + ran->stderr_tail;
      return make_error(errc::timeout, msg);
    }
    if (ran->end == ProcessEnd::cancelled) return make_error(errc::io, "cancelled");
    const int code = ran->exit_code();
    if (code < 0 || code > 2) {
      std::string msg = ran->describe(program);
      if (code > 2) msg += " (0 pass, 1 fail, 2 blocked; other codes are failures to retry)";
      return make_error(errc::io, msg);
    }

    outcome.text = std::move(ran->stdout_text);
    auto block = parse_outcome_block(outcome.text);
    if (!block) {
      return make_error(errc::bad_payload, program + ": " + block.error().message);
    }
    outcome.model = config_.model;
    if (*block) {
      outcome.block = std::move(**block);
      outcome.has_block = true;
      outcome.verdict = outcome.block.verdict;
      // A wrapper around a model can report what it spent.
      const auto& f = outcome.block.fields;
      if (auto it = f.find("input_tokens"); it != f.end()) {
        outcome.usage.input_tokens = to_int(it->second);
      }
      if (auto it = f.find("output_tokens"); it != f.end()) {
        outcome.usage.output_tokens = to_int(it->second);
      }
      if (auto it = f.find("cost_usd"); it != f.end()) {
        outcome.usage.cost_usd = std::strtod(it->second.c_str(), nullptr);
      }
      if (auto it = f.find("model"); it != f.end()) outcome.model = it->second;
      if (auto it = f.find("session_id"); it != f.end()) outcome.session_id = it->second;
    } else {
      static constexpr const char* kByCode[] = {"pass", "fail", "blocked"};
      outcome.verdict = kByCode[code];
    }
    return outcome;
  }

 private:
  // The AGENCY_* variables of the turn; set last, so nothing can make them
  // lie about the turn.
  static std::map<std::string, std::string> variables(
      const Turn& turn, const std::map<std::string, std::string>& values,
      const std::string& prompt_file) {
    std::map<std::string, std::string> vars = turn.env;
    vars["AGENCY_TASK_ID"] = values.at("task_id");
    vars["AGENCY_STAGE"] = values.at("stage");
    vars["AGENCY_ROLE"] = values.at("role");
    vars["AGENCY_AGENT_ID"] = values.at("agent_id");
    vars["AGENCY_PROJECT"] = values.at("project");
    vars["AGENCY_OBJECTIVE"] = values.at("objective");
    vars["AGENCY_ATTEMPT"] = values.at("attempt");
    vars["AGENCY_PROMPT_FILE"] = prompt_file;
    vars["AGENCY_WORKDIR"] = turn.workdir.string();
    if (!turn.session_id.empty()) vars["AGENCY_SESSION_ID"] = turn.session_id;
    return vars;
  }

  EngineConfig config_;
};

}  // namespace

namespace engine_detail {

Result<std::unique_ptr<Engine>> make_command(const EngineConfig& config) {
  if (config.command.empty() || config.command.front().empty()) {
    return make_error(errc::config,
                      "the command engine needs a command: set the role's command in "
                      "agency.yaml to the program and its arguments ([./review.sh, '{task_id}'])");
  }
  if (config.timeout.count() < 1) {
    return make_error(errc::config, "the command engine needs a timeout of at least 1 s");
  }
  return std::unique_ptr<Engine>(std::make_unique<CommandEngine>(config));
}

}  // namespace engine_detail

}  // namespace agency
