// A small HTTP client for the openai and anthropic engines (libcurl), and
// what those engines share: URL joining, the retry loop, sorting an API's
// answer into a result, a refusal or an error.
//
// Thread: every function may be called from any thread; each request uses
// its own curl handle. `cancel` is read from libcurl's progress callback and
// between retries, so a request returns within about a second once it is set.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bus/result.hpp"
#include "runtime/engine.hpp"

namespace agency::http {

struct Request {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;      // sent as given
  std::string body;                                              // POSTed as is
  std::chrono::milliseconds timeout{std::chrono::seconds(600)};  // the whole exchange
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
};

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

// POSTs the request. Any HTTP status is a Response; errors are the
// exchange failing: errc::timeout (no whole answer in time), errc::connect
// (could not connect, or the connection broke: worth another try),
// errc::config (a URL or TLS setup that will not work however often tried),
// errc::io ("cancelled", and anything else).
Result<Response> post(const Request& request, const std::atomic<bool>& cancel);
// GETs it (the body is not sent); errors as post().
Result<Response> get(const Request& request, const std::atomic<bool>& cancel);

// base "https://api.openai.com" + "/v1/chat/completions"; a base that
// already ends in the path's first segment ("http://host:8000/v1") does not
// get it twice. Trailing slashes of the base are ignored.
std::string join_url(std::string_view base, std::string_view path);

// "api.openai.com", "127.0.0.1:8080": the URL's host and port, for labels.
std::string host_of(std::string_view url);

// Another try after a 5xx (529 included), a broken connection or a
// timeout, waiting first_delay, doubling up to max_delay; a 5xx's
// retry-after, when given, replaces the doubling delay (capped the same).
struct RetryPolicy {
  int retries = 3;  // attempts after the first
  std::chrono::milliseconds first_delay{std::chrono::seconds(1)};
  std::chrono::milliseconds max_delay{std::chrono::seconds(30)};
};

// Notes for people (retries), passed to the engine's progress.
using NoteFn = std::function<void(std::string_view)>;

struct Exchange {
  Response response;  // the last answer (any status)
  int attempts = 0;
};

// post() with retries. The last transport error when no attempt got an
// answer; errc::io "cancelled" when cancel is set, also during a wait.
Result<Exchange> post_with_retries(const Request& request, const RetryPolicy& policy,
                                   const std::atomic<bool>& cancel, const NoteFn& note);

// One call of an HTTP model API, as the engines make it.
struct ApiCall {
  std::string engine;  // "openai", "anthropic": names the engine in messages
  Request request;
  RetryPolicy retry;
  std::chrono::seconds rate_limit_wait{300};  // a 429 that does not say when
  // Scrubbed from every message (servers may quote a key they refuse).
  std::string secret;
  // The setting to name when the server refuses the key ("ANTHROPIC_API_KEY").
  std::string key_env;
};

struct ApiAnswer {
  // 2xx: the JSON answer for the engine to read. Empty when refused.
  Response response;
  // A 429: the Outcome to return as is (rate_limit set, limits filled).
  std::optional<Outcome> refused;
  // Every answer's limit readings (anthropic-ratelimit-*, x-ratelimit-*).
  std::vector<LimitReading> limits;
  int attempts = 0;  // requests sent (post_with_retries)
};

// Sends the call with retries and sorts the answer. Errors: a 4xx other
// than 429 (errc::bad_payload, the server's error message), a 5xx after the
// last retry (errc::io), timeouts (errc::timeout, naming URL and timeout),
// connection failures (errc::connect), cancellation (errc::io "cancelled").
Result<ApiAnswer> call_api(const ApiCall& call, const std::atomic<bool>& cancel,
                           const ProgressFn& progress);

// The server's error message out of an error body ({"error": {"message"}}
// in both APIs, or {"error": "text"}), else the body's start.
std::string error_message(std::string_view body);

// The first 200 characters of a body, on one line, for error messages.
std::string excerpt(std::string_view body);

// The error for a 2xx answer the engine cannot read: names the engine, the
// URL, what is missing and the body's start.
Error malformed_answer(const ApiCall& call, std::string_view what, std::string_view body);

// `text` with every occurrence of `secret` replaced by "[redacted]".
std::string scrub(std::string text, std::string_view secret);

// Fills outcome.block, has_block and verdict from outcome.text (the
// ```agency block; none: verdict ""). A malformed block is an
// errc::bad_payload error naming `who`.
Result<Outcome> with_block(Outcome outcome, std::string_view who);

// One turn of an HTTP engine: call_api, a refusal returned as it is, else
// `read` makes the Outcome of the answer's body, which gets the limit
// readings, the duration and its ```agency block (named `who` in errors).
using ReadAnswer = std::function<Result<Outcome>(const ApiCall& call, const std::string& body)>;
Result<Outcome> run_turn(const ApiCall& call, const std::string& model, const ReadAnswer& read,
                         std::string_view who, const std::atomic<bool>& cancel,
                         const ProgressFn& progress);

}  // namespace agency::http
