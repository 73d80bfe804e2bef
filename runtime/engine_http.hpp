// What the HTTP model API engines (openai, anthropic) share
// (docs/ENGINES.md): one non-streamed POST per turn to <base><path>, the
// key from an environment variable and never in a message, retries and
// rate limits as http::run_turn handles them. Each engine_<kind>.cpp holds
// only what is its own: its headers, the request body, how the answer reads.
//
// Internal to the engines: only make_engine constructs them (engine.cpp).
//
// Thread: run() is called from the agent's work thread; the request runs on
// it too (http.hpp).
#pragma once

#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "runtime/engine.hpp"
#include "runtime/http.hpp"

namespace agency::engine_detail {

// One API as the engine calls it.
struct HttpApi {
  std::string kind;             // "openai": the engine's kind, named in messages
  std::string default_base;     // "https://api.openai.com": base_url when none is set
  std::string path;             // "/v1/chat/completions"
  std::string default_key_env;  // "OPENAI_API_KEY": api_key_env when none is set
};

// The variable the key is read from (the role's api_key_env, else the API's)
// and its value ("" when not set).
struct ApiKey {
  std::string env;
  std::string value;
};
ApiKey api_key(const EngineConfig& config, const HttpApi& api);

// The checks every HTTP engine's factory makes: a timeout of at least 1 s,
// retries 0 or more.
Result<void> check_http_config(const EngineConfig& config, const HttpApi& api);

class HttpEngine : public Engine {
 public:
  [[nodiscard]] std::string kind() const override { return api_.kind; }

  // The request (content-type, then headers(), the body()) through
  // http::run_turn, its answer read by read_answer().
  Result<Outcome> run(const Turn& turn, const ProgressFn& progress,
                      const std::atomic<bool>& cancel) final;

 protected:
  HttpEngine(HttpApi api, EngineConfig config, ApiKey key);

  // Headers after content-type: the API version, the key.
  virtual void add_headers(std::vector<std::pair<std::string, std::string>>& headers) const = 0;
  [[nodiscard]] virtual std::string request_body(const Turn& turn) const = 0;
  // The Outcome of a 2xx answer's body; http::malformed_answer when it is
  // not what the API sends.
  [[nodiscard]] virtual Result<Outcome> read_answer(const http::ApiCall& call,
                                                    const std::string& body) const = 0;

  EngineConfig config_;
  std::string key_;  // never logged nor put in messages
  std::string base_;
  std::string url_;

 private:
  HttpApi api_;
  std::string key_env_;
};

}  // namespace agency::engine_detail
