// A scripted model server on loopback for engine tests
// (tests/support/model_server.js): speaks the Anthropic Messages API
// (POST /v1/messages, streamed as server-sent events or as one JSON answer),
// OpenAI chat completions (POST /v1/chat/completions, plain or streamed),
// the OpenAI Responses API as the Codex CLI calls it (POST .../responses:
// response.created, output_item.added/done, output_text.delta,
// response.completed with usage {input_tokens, input_tokens_details
// {cached_tokens, cache_write_tokens}, output_tokens}) and the Gemini API as
// the Gemini CLI calls it (POST /v1beta/models/<model>:streamGenerateContent
// ?alt=sse or :generateContent, usageMetadata {promptTokenCount,
// candidatesTokenCount, cachedContentTokenCount, totalTokenCount}; :countTokens
// is answered too, as "other"), answering from a script, and logs every
// request with what it reported as usage.
//
// Script (JSON):
//   {"replies": [<reply>, ...],   consumed in order, one per model request
//    "default": <reply>,          once they are used up (default: text "ok")
//    "keys": {"<key>": {"replies": [...], "default": <reply>}},  a queue of
//                   its own for requests with that credential (x-api-key or
//                   a bearer token), e.g. one per account's config dir; the
//                   log names the key of such a request ("key")
//    "usage_endpoint": {"token": "...", "answer": {...}}}  GET /api/oauth/usage
//                   answers `answer` to "Authorization: Bearer <token>" with
//                   anthropic-beta oauth-2025-04-20, else 401
//   reply: {"text": "...",                       a text block
//           "tool_use": [{"name": "Write", "input": {...}}],   tool calls
//                   (responses: function_call items, e.g. codex's
//                   exec_command {"cmd": "..."}; gemini: functionCall parts,
//                   e.g. write_file {"file_path", "content"})
//           "usage": {"input_tokens": 10, "output_tokens": 5,
//                     "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
//           "model": "name"                      (default: the request's model)
//           "status": 429, "error": {"type": "rate_limit_error", "message": "..."},
//                   (anthropic: sent as {"type": "error", "error": <error>};
//                   openai: its message, type and code; responses: every
//                   field, e.g. codex's usage limit {"type":
//                   "usage_limit_reached", "resets_at": <epoch>, "plan_type"};
//                   gemini: {"error": {"code": <status>, "message", "status"
//                   (default from the HTTP status: RESOURCE_EXHAUSTED for
//                   429), "details" (as scripted: QuotaFailure, RetryInfo)}})
//           "headers": {"name": "value"},        extra response headers
//           "delay_ms": 2000,                    wait before answering
//           "body": "raw text",                  answer this body verbatim
//           "drop": true}                        close the connection unanswered
//   Without "usage", the server counts: input = 10 + request body bytes / 100,
//   output = 5 + text bytes / 4, so every answer reports non-zero usage.
//   The usage is reported in each API's terms: responses input_tokens =
//   input + cache read + cache write; gemini promptTokenCount = input +
//   cache read, and gemini has no cache writes, so they count as input (and
//   are logged so).
//   "text" may hold "{n}", replaced by the request's number; "{cwd}" in a
//   tool input becomes the working directory the client names: Claude
//   Code's system prompt ("Primary working directory: ..."), codex's
//   environment context ("<cwd>...</cwd>"), gemini's session context
//   ("Workspace Directories: - ...").
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/run.hpp"

namespace agency::test {

class ModelServer {
 public:
  // Starts node tests/support/model_server.js with the script, in `dir`
  // (its log goes to dir/model-server.log.jsonl). Fails the test (doctest
  // REQUIRE) if it does not come up.
  ModelServer(const std::filesystem::path& dir, const nlohmann::json& script);
  ~ModelServer();
  ModelServer(const ModelServer&) = delete;
  ModelServer& operator=(const ModelServer&) = delete;

  [[nodiscard]] int port() const { return port_; }
  // http://127.0.0.1:<port>
  [[nodiscard]] std::string url() const;

  // Replaces the script (the reply queue starts again from its first entry).
  void set_script(const nlohmann::json& script) const;

  // Every request so far, in order: {"n", "method", "path", "model",
  // "stream", "has_tools", "body" (the parsed request), "status" (what was
  // answered), "usage" (as reported, Anthropic names:
  // input_tokens, output_tokens, cache_creation_input_tokens,
  // cache_read_input_tokens), "kind" ("anthropic", "openai", "responses",
  // "gemini", "other"), "key" (for a key of script.keys)}. For gemini,
  // "model" and "stream" come from the path (<model>:streamGenerateContent).
  [[nodiscard]] std::vector<nlohmann::json> requests() const;

 private:
  std::filesystem::path dir_;
  std::filesystem::path log_;
  std::filesystem::path script_;
  std::unique_ptr<Child> child_;
  int port_ = 0;
};

}  // namespace agency::test
