// Reading what the codex and gemini CLIs print in their headless modes
// (docs/ENGINES.md, "codex" and "gemini"). Pure parsers: no processes, no
// clock of their own (the caller passes `now`), so the tests can feed them
// lines written per the formats and check every field.
//
// codex (`codex exec --json`, checked against codex-cli 0.169.0): one JSON
// event a line: thread.started {thread_id}, turn.started, item.started /
// item.updated / item.completed {item: {id, type, ...}} with item types
// agent_message {text}, reasoning {text}, command_execution {command,
// aggregated_output, exit_code, status}, file_change {changes: [{path,
// kind}], status}, mcp_tool_call, web_search, todo_list, error {message};
// turn.completed {usage: {input_tokens, cached_input_tokens,
// cache_write_input_tokens, output_tokens, reasoning_output_tokens}},
// turn.failed {error: {message}}, and error {message} (also sent for
// retries codex makes by itself, so not fatal on its own).
// codex's usage is the running total of the whole thread: a resumed thread
// reports what its earlier turns spent as well (see usage_since).
//
// gemini (`gemini -p --output-format stream-json`, checked against
// @google/gemini-cli 0.61.0): init {session_id, model}, message {role,
// content, delta}, tool_use {tool_name, tool_id, parameters}, tool_result
// {tool_id, status, output, error: {type, message}}, error {severity,
// message}, result {status: success|error, error: {type, message}, stats:
// {total_tokens, input_tokens, output_tokens, cached, input, models: {...}}}.
// `--output-format json` prints one object instead: {session_id, response,
// stats: {models: {<name>: {tokens: {input, prompt, candidates, total,
// cached, thoughts, tool}}}}, error: {type, message, code}}.
//
// Thread: none of these touch shared state; a parser object belongs to the
// thread that feeds it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bus/result.hpp"
#include "runtime/engine.hpp"

namespace agency::cli_formats {

using TimePoint = std::chrono::system_clock::time_point;

// A refusal for limits whose answer did not say when it resets has
// rate_limit->resets_at == TimePoint{} (the epoch): the engine sets it from
// its rate_limit_wait. Its LimitReading then has no resets_at.

// `codex exec --json` output, fed a line at a time as it arrives.
class CodexEvents {
 public:
  // One line of stdout. Returns a line for people to see as progress, or ""
  // when the line is not worth showing (or not readable: it is skipped).
  std::string feed(std::string_view line);

  // The outcome once codex has ended:
  //  - turn.completed with an agent message: text (the last agent message),
  //    verdict and block from it, usage (the thread's running total, as
  //    codex reports it), session_id (the thread id), denials (declined
  //    commands);
  //  - a failure that is a usage limit or a 429: an Outcome with
  //    rate_limit (resets_at from "try again at ..." when codex says);
  //  - any other failure, a turn without an answer, or no turn end at all:
  //    an error saying what codex said or what was missing.
  // `now` places "try again at 7:32 AM" (UTC: the engine runs codex with
  // TZ=UTC) on the right day.
  [[nodiscard]] Result<Outcome> finish(TimePoint now) const;

  [[nodiscard]] const std::string& thread_id() const { return thread_id_; }
  // Lines that were JSON events (not counting unreadable ones).
  [[nodiscard]] int events() const { return events_; }

 private:
  std::string thread_id_;
  std::vector<std::string> messages_;  // agent_message texts, in order
  std::optional<Usage> usage_;         // from the last turn.completed
  bool completed_ = false;
  std::optional<std::string> failed_;  // turn.failed's message
  std::string last_error_;             // the last error event's message
  std::vector<std::string> denials_;
  std::vector<std::string> unreadable_;  // the first few lines that were not JSON
  int events_ = 0;
};

// The whole output at once (tests, a finished process).
Result<Outcome> parse_codex_events(std::string_view jsonl, TimePoint now);

// What a call spent when codex reports running totals: `total` minus what
// the thread had spent `before` this call. A total smaller than `before` in
// any field (a thread codex started over) is taken as it is.
Usage usage_since(const Usage& total, const Usage& before);

// The thread's running total at the end of a codex session file
// ($CODEX_HOME/sessions/YYYY/MM/DD/rollout-...-<thread_id>.jsonl): the last
// event_msg token_count's info.total_token_usage. nullopt when there is
// none. For resuming a thread this process has not seen before.
std::optional<Usage> codex_rollout_total(std::string_view jsonl);

// `gemini -p --output-format stream-json` output, fed a line at a time.
class GeminiEvents {
 public:
  // One line of stdout; returns progress text or "" (as CodexEvents::feed).
  std::string feed(std::string_view line);

  // The outcome once gemini has ended:
  //  - result with status success: text (the answer after the last tool
  //    call, else the last text before one), verdict and block, usage
  //    summed over the models, model (the one that used most tokens),
  //    session_id (from init), denials (tools refused by policy or not
  //    available in the approval mode);
  //  - result with status error that is a quota or rate limit: an Outcome
  //    with rate_limit ("Please retry in 37s" and the like give resets_at);
  //  - any other error, or no result line: an error.
  [[nodiscard]] Result<Outcome> finish(TimePoint now) const;

  [[nodiscard]] const std::string& session_id() const { return session_id_; }
  [[nodiscard]] int events() const { return events_; }

 private:
  struct Tool {
    std::string id;
    std::string name;
    std::string what;  // the tool with its main argument, for progress
  };
  std::string session_id_;
  std::string init_model_;
  std::vector<std::string> segments_;  // assistant text, split at tool calls
  bool after_tool_ = false;
  std::vector<Tool> tools_;
  std::vector<std::string> denials_;
  std::optional<std::string> result_;  // the result line, raw
  std::vector<std::string> unreadable_;
  int events_ = 0;
};

Result<Outcome> parse_gemini_stream(std::string_view jsonl, TimePoint now);

// `gemini -p --output-format json`: the one object it prints (on stdout
// when it succeeds, on stderr when it fails).
Result<Outcome> parse_gemini_json(std::string_view json, TimePoint now);

// Whether a codex failure message is a usage or rate limit: "You've hit your
// usage limit...", "exceeded retry limit, last status: 429 Too Many
// Requests", "Rate limit reached ...".
bool is_codex_limit(std::string_view message);

// When codex says to try again: "try again at Jan 1st, 2026 9:00 AM", "try
// again at 7:32 AM" (the next such time after `now`), "try again in 4 days 3
// hours", "try again in 1.5s". Times are read as UTC. nullopt when it does
// not say ("try again later").
std::optional<TimePoint> codex_retry_at(std::string_view message, TimePoint now);

// Whether a gemini error message is a quota or rate limit: "exhausted your
// daily quota", "Resource has been exhausted", RESOURCE_EXHAUSTED, 429, "rate
// limit", "exhausted your capacity".
bool is_gemini_limit(std::string_view message);

// When gemini says to retry: "Please retry in 37.5s", "Suggested retry after
// 37s", "retryDelay": "5h20m" (any Go-style duration). nullopt otherwise.
std::optional<TimePoint> gemini_retry_at(std::string_view message, TimePoint now);

}  // namespace agency::cli_formats
