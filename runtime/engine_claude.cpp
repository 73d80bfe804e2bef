// The claude engine: Claude Code headless (docs/ENGINES.md, "claude").
//
//   claude -p --output-format stream-json --verbose [--model M]
//          [--permission-mode P] [--allowedTools T,...] [--max-turns N]
//          [--resume <session> --fork-session] [cli_args...]   prompt on stdin
//
// run in the task's worktree. The stream's lines become progress; the last
// one, the result object, becomes the Outcome. One session per agent: the
// runtime hands back the session id of the previous assignment and this
// engine resumes it, so the role's context persists.
//
// A resumed call forks: Claude Code writes the prompt into the session
// before it asks the API, so a refused call resumed in place would leave its
// prompt there, and every later call would pay for it again. A fork leaves
// the session as it was; a refused call reports the session it started from
// and its fork is never resumed.
//
// Rate limits: Claude Code retries a 429 up to ten times with growing
// pauses (minutes in all) before it gives up. The first retry of a 429
// (a system/api_retry line) stops it instead, and the agent defers the brief
// itself, by the pause Claude Code announced (the server's retry-after);
// a result with api_error_status 429 or "usage limit reached|<epoch>"
// and a rejected rate_limit_event say the same, with a reset time or none.
//
// Thread: run() on the agent's work thread; the line callbacks run there too.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/engine.hpp"
#include "runtime/engine_cli.hpp"
#include "runtime/json_fields.hpp"
#include "runtime/limits.hpp"
#include "runtime/process.hpp"

namespace agency::engine_detail {

namespace {

using json = nlohmann::json;
using SystemClock = std::chrono::system_clock;

constexpr size_t kMaxProgress = 200;
// The longest retry pause taken from Claude Code: the most it waits itself.
constexpr std::chrono::milliseconds kMaxRetryPause = std::chrono::hours(1);

const CliInfo kClaude = {"claude", "Claude Code", "npm install -g @anthropic-ai/claude-code"};

// Variables of ours Claude Code may see besides PATH, HOME, ...: its own
// settings, the API it talks to, proxies.
const std::vector<std::string> kClaudeEnv = {"ANTHROPIC_*",     "CLAUDE_*",    "DISABLE_*",
                                             "HTTP_PROXY",      "HTTPS_PROXY", "NO_PROXY",
                                             "XDG_CONFIG_HOME", "TMPDIR"};

std::string one_line(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (out.size() >= kMaxProgress) {
      out += "...";
      break;
    }
    out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  }
  return out;
}

// What a tool call is about, for progress: "Write src/a.cpp", "Bash make".
std::string tool_progress(const json& block) {
  std::string name = json_text(block, "name");
  const json input = block.value("input", json::object());
  for (const char* key : {"file_path", "command", "pattern", "path", "url", "description"}) {
    std::string v = json_text(input, key);
    if (!v.empty()) return one_line(name + " " + v);
  }
  return name;
}

// Everything read from the stream of one call.
struct Stream {
  std::string session_id;
  std::string model;
  std::optional<json> result;
  bool retried_429 = false;
  std::string retry_error;
  // The pause Claude Code announced before retrying the 429.
  std::optional<std::chrono::milliseconds> retry_pause;
  std::vector<LimitReading> limits;
  std::optional<SystemClock::time_point> rejected_until;
  std::int64_t context_tokens = 0;
  int retries = 0;  // api_retry lines other than the 429 that stops the call
  // Usage per assistant message, for a call cut short before its result.
  std::map<std::string, Usage> partial;
  std::vector<std::string> unreadable;  // lines that were not JSON (kept short)
};

class ClaudeEngine final : public CliEngine {
 public:
  explicit ClaudeEngine(EngineConfig config) : CliEngine(kClaude, std::move(config)) {}

  [[nodiscard]] std::string label() const override {
    std::string l = "claude";
    if (!config_.model.empty()) l += " " + config_.model;
    if (!config_.permission_mode.empty()) l += " (" + config_.permission_mode + ")";
    return l;
  }

  Result<Outcome> run(const Turn& turn, const ProgressFn& progress,
                      const std::atomic<bool>& cancel) override {
    auto outcome = CliEngine::run(turn, progress, cancel);
    if (outcome) refusals_in_row_ = outcome->rate_limit ? refusals_in_row_ + 1 : 0;
    return outcome;
  }

 private:
  std::vector<std::string> argv(const std::string& session) const {
    std::vector<std::string> a = {config_.cli, "-p", "--output-format", "stream-json", "--verbose"};
    if (!config_.model.empty()) a.insert(a.end(), {"--model", config_.model});
    if (!config_.permission_mode.empty()) {
      a.insert(a.end(), {"--permission-mode", config_.permission_mode});
    }
    if (!config_.allowed_tools.empty()) {
      std::string tools;
      for (const auto& t : config_.allowed_tools) tools += (tools.empty() ? "" : ",") + t;
      a.insert(a.end(), {"--allowedTools", tools});
    }
    if (config_.max_turns > 0) {
      a.insert(a.end(), {"--max-turns", std::to_string(config_.max_turns)});
    }
    if (!session.empty()) a.insert(a.end(), {"--resume", session, "--fork-session"});
    a.insert(a.end(), config_.cli_args.begin(), config_.cli_args.end());
    return a;
  }

  Result<Outcome> call(const Turn& turn, const std::string& session, const ProgressFn& progress,
                       const std::atomic<bool>& cancel) override {
    ProcessSpec spec = process(turn, argv(session), kClaudeEnv);

    Stream s;
    ProcessIo io;
    io.on_stdout_line = [&](std::string_view line) { return read_line(line, s, progress); };
    auto ran = run_cli(spec, io, cancel);
    if (!ran) return ran.error();
    if (ran->end == ProcessEnd::timeout) return timed_out();

    Outcome out;
    out.duration = ran->duration;
    out.session_id = s.session_id;
    out.model = s.model.empty() ? config_.model : s.model;
    out.limits = s.limits;
    out.context_tokens = s.context_tokens;
    out.retries = s.retries;

    auto refused = [&](std::string detail, std::optional<SystemClock::time_point> until) {
      RateLimit rl;
      rl.detail = std::move(detail);
      if (until) {
        rl.resets_at = *until;
      } else if (s.rejected_until) {
        rl.resets_at = *s.rejected_until;
      } else if (s.retry_pause) {
        rl.resets_at = SystemClock::now() + retry_wait(*s.retry_pause);
        rl.detail +=
            " (Claude Code would retry in " + std::to_string(s.retry_pause->count()) + " ms)";
      } else {
        rl.resets_at = SystemClock::now() +
                       std::chrono::duration_cast<SystemClock::duration>(config_.rate_limit_wait);
      }
      out.rate_limit = std::move(rl);
      // The refused call's fork is dropped: the next call resumes the
      // session this one started from (none for a first call).
      out.session_id = session;
      if (out.limits.empty() || out.limits.back().status != "rejected") {
        LimitReading r;
        r.status = "rejected";
        r.source = "error";
        r.resets_at = out.rate_limit->resets_at;
        out.limits.push_back(std::move(r));
      }
    };

    if (!s.result) {
      for (const auto& [id, u] : s.partial) {
        out.usage.input_tokens += u.input_tokens;
        out.usage.output_tokens += u.output_tokens;
        out.usage.cache_creation_tokens += u.cache_creation_tokens;
        out.usage.cache_read_tokens += u.cache_read_tokens;
      }
      if (s.retried_429) {
        refused("the API answered 429 (rate limited)" +
                    (s.retry_error.empty() ? std::string() : ": " + s.retry_error),
                std::nullopt);
        return out;
      }
      std::string why = ran->end == ProcessEnd::exited && ran->exit_code() == 0
                            ? "claude ended without a result line"
                            : ran->describe("claude");
      if (ran->stderr_tail.find("No conversation found") != std::string::npos ||
          ran->stdout_text.find("No conversation found") != std::string::npos) {
        session_missing_ = true;
      }
      if (!s.unreadable.empty()) why += "; it printed: " + s.unreadable.front();
      return make_error(errc::io, why);
    }

    const json& r = *s.result;
    if (out.session_id.empty()) out.session_id = json_text(r, "session_id");
    read_usage(r, session, out);
    for (const auto& d : r.value("permission_denials", json::array())) {
      if (!d.is_object()) continue;
      json input = d.value("tool_input", json::object());
      std::string what = json_text(d, "tool_name");
      for (const char* key : {"file_path", "command", "path"}) {
        if (!json_text(input, key).empty()) {
          what += " " + json_text(input, key);
          break;
        }
      }
      out.denials.push_back(one_line(what));
    }
    const std::string text = json_text(r, "result");
    const bool is_error = r.value("is_error", false);
    const std::int64_t api_status = json_count(r, "api_error_status");
    if (auto until = limits::usage_limit_reset(text)) {
      refused(one_line(text), until);
      return out;
    }
    if (is_error && api_status == 429) {
      refused(one_line(text), std::nullopt);
      return out;
    }
    if (is_error || json_text(r, "subtype") != "success") {
      if (text.find("No conversation found") != std::string::npos ||
          ran->stderr_tail.find("No conversation found") != std::string::npos) {
        session_missing_ = true;
      }
      std::string why = "claude reported an error (" + json_text(r, "subtype");
      if (api_status != 0) why += ", API status " + std::to_string(api_status);
      why += ")";
      if (!text.empty()) {
        why += ": " + one_line(text);
      } else if (!ran->stderr_tail.empty()) {
        why += ": " + one_line(ran->stderr_tail);
      }
      return make_error(errc::io, why);
    }

    out.text = text;
    auto block = parse_outcome_block(out.text);
    if (!block) return make_error(errc::bad_payload, "claude's answer: " + block.error().message);
    if (*block) {
      out.block = std::move(**block);
      out.has_block = true;
      out.verdict = out.block.verdict;
    }
    return out;
  }

  // How long to wait on a 429 for which Claude Code announced a pause. The
  // pause is the server's retry-after when it sent one, else Claude Code's
  // own first backoff (half a second); every call here is a first attempt,
  // so refusals in a row double a floor (1 s, 2 s, 4 s, ... up to the
  // role's rate_limit_wait), as Claude Code's own pauses would grow.
  [[nodiscard]] SystemClock::duration retry_wait(std::chrono::milliseconds announced) const {
    using std::chrono::milliseconds;
    const auto ceiling = std::max<milliseconds>(
        std::chrono::duration_cast<milliseconds>(config_.rate_limit_wait), std::chrono::seconds(1));
    const auto floor = std::min<milliseconds>(
        std::chrono::seconds(1) * (1LL << std::min(refusals_in_row_, 20)), ceiling);
    return std::min(std::max(announced, floor), kMaxRetryPause);
  }

  // Usage of this call. Claude Code's modelUsage and total_cost_usd cover
  // every model (side calls to a small model included) but add up over the
  // whole session, a fork carrying its parent's; usage covers this call,
  // main model only. So: the difference from the totals of the session it
  // resumed when this engine saw them, else usage, with the cost scaled to it.
  void read_usage(const json& r, const std::string& resumed, Outcome& out) {
    Usage total;
    std::string top_model;
    auto mu = r.find("modelUsage");
    if (mu != r.end() && mu->is_object()) {
      double top_cost = -1;
      for (const auto& [model, u] : mu->items()) {
        if (!u.is_object()) continue;
        total.input_tokens += json_count(u, "inputTokens");
        total.output_tokens += json_count(u, "outputTokens");
        total.cache_read_tokens += json_count(u, "cacheReadInputTokens");
        total.cache_creation_tokens += json_count(u, "cacheCreationInputTokens");
        double cost = u.value("costUSD", 0.0);
        if (cost > top_cost) {
          top_cost = cost;
          top_model = model;
        }
      }
    }
    if (auto c = r.find("total_cost_usd"); c != r.end() && c->is_number()) {
      total.cost_usd = c->get<double>();
    }
    if (!top_model.empty()) out.model = top_model;
    Usage call;
    if (auto u = r.find("usage"); u != r.end() && u->is_object()) {
      call.input_tokens = json_count(*u, "input_tokens");
      call.output_tokens = json_count(*u, "output_tokens");
      call.cache_read_tokens = json_count(*u, "cache_read_input_tokens");
      call.cache_creation_tokens = json_count(*u, "cache_creation_input_tokens");
    }
    const std::string session = json_text(r, "session_id");
    auto prev = totals_.find(resumed);
    if (resumed.empty() && total.input_tokens + total.output_tokens > 0) {
      out.usage = total;  // a new session: its totals are this call's
    } else if (!resumed.empty() && prev != totals_.end()) {
      out.usage.input_tokens = total.input_tokens - prev->second.input_tokens;
      out.usage.output_tokens = total.output_tokens - prev->second.output_tokens;
      out.usage.cache_read_tokens = total.cache_read_tokens - prev->second.cache_read_tokens;
      out.usage.cache_creation_tokens =
          total.cache_creation_tokens - prev->second.cache_creation_tokens;
      out.usage.cost_usd = std::max(0.0, total.cost_usd - prev->second.cost_usd);
    } else {
      // Resumed after a restart of this agent: the earlier totals are not
      // known here.
      out.usage = call;
      const auto all = static_cast<double>(total.input_tokens + total.output_tokens +
                                           total.cache_read_tokens + total.cache_creation_tokens);
      const auto mine = static_cast<double>(call.input_tokens + call.output_tokens +
                                            call.cache_read_tokens + call.cache_creation_tokens);
      out.usage.cost_usd = all > 0 ? total.cost_usd * std::min(1.0, mine / all) : 0;
    }
    if (!session.empty()) totals_[session] = total;
  }

  // One stream-json line. False stops the process (a 429 being retried).
  bool read_line(std::string_view line, Stream& s, const ProgressFn& progress) {
    // Stopped at a 429 retry: what Claude Code says while it ends (a retry
    // of its own that slipped out first) does not count.
    if (s.retried_429) return false;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      if (s.unreadable.size() < 3) s.unreadable.push_back(one_line(line));
      return true;
    }
    const std::string type = json_text(j, "type");
    const std::string subtype = json_text(j, "subtype");
    if (!json_text(j, "session_id").empty()) s.session_id = json_text(j, "session_id");
    if (type == "system" && subtype == "init") {
      if (!json_text(j, "model").empty()) s.model = json_text(j, "model");
      if (progress) progress("claude session " + s.session_id + " started");
    } else if (type == "system" && subtype == "api_retry") {
      if (json_count(j, "error_status") == 429) {
        s.retried_429 = true;
        s.retry_error = json_text(j, "error");
        if (const std::int64_t pause = json_count(j, "retry_delay_ms"); pause > 0) {
          s.retry_pause = std::chrono::milliseconds(pause);
        }
        return false;
      }
      ++s.retries;
      if (progress) {
        progress("API error " + std::to_string(json_count(j, "error_status")) +
                 ", claude retries (" + std::to_string(json_count(j, "attempt")) + "/" +
                 std::to_string(json_count(j, "max_retries")) + ")");
      }
    } else if (type == "assistant") {
      const json msg = j.value("message", json::object());
      if (auto u = msg.find("usage"); u != msg.end() && u->is_object()) {
        Usage& p = s.partial[json_text(msg, "id")];
        p.input_tokens = std::max(p.input_tokens, json_count(*u, "input_tokens"));
        p.output_tokens = std::max(p.output_tokens, json_count(*u, "output_tokens"));
        p.cache_read_tokens =
            std::max(p.cache_read_tokens, json_count(*u, "cache_read_input_tokens"));
        p.cache_creation_tokens =
            std::max(p.cache_creation_tokens, json_count(*u, "cache_creation_input_tokens"));
        s.context_tokens = json_count(*u, "input_tokens") +
                           json_count(*u, "cache_read_input_tokens") +
                           json_count(*u, "cache_creation_input_tokens");
      }
      if (!json_text(msg, "model").empty() && json_text(msg, "model") != "<synthetic>") {
        s.model = json_text(msg, "model");
      }
      if (progress) {
        for (const auto& block : msg.value("content", json::array())) {
          if (!block.is_object()) continue;
          if (json_text(block, "type") == "text" && !json_text(block, "text").empty()) {
            progress(one_line(json_text(block, "text")));
          } else if (json_text(block, "type") == "tool_use") {
            progress(tool_progress(block));
          }
        }
      }
    } else if (type == "rate_limit_event") {
      auto info = j.find("rate_limit_info");
      if (info != j.end() && info->is_object()) {
        if (auto reading = limits::from_rate_limit_info(info->dump())) {
          if (reading->status == "rejected" && reading->resets_at) {
            s.rejected_until = reading->resets_at;
          }
          s.limits.push_back(std::move(*reading));
        }
      }
    } else if (type == "result") {
      s.result = std::move(j);
    }
    return true;
  }

  // Calls refused in a row, for the floor of retry_wait().
  int refusals_in_row_ = 0;
  // Session id -> its totals at the end of the last call seen.
  std::map<std::string, Usage> totals_;
};

}  // namespace

Result<std::unique_ptr<Engine>> make_claude(const EngineConfig& config) {
  if (auto checked = check_cli_config(config, kClaude); !checked) return checked.error();
  // The modes differ between Claude Code versions (acceptEdits, default,
  // plan, bypassPermissions, dontAsk, ...): the CLI checks the name, this
  // only keeps the argument a single word.
  if (auto word = check_mode_word(config.permission_mode, "", "Claude Code permission mode",
                                  "acceptEdits (edits files), default (read-only in headless "
                                  "runs), plan or bypassPermissions");
      !word) {
    return word.error();
  }
  return std::unique_ptr<Engine>(std::make_unique<ClaudeEngine>(config));
}

}  // namespace agency::engine_detail
