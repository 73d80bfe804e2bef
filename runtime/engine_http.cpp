// See engine_http.hpp.
#include "runtime/engine_http.hpp"

#include <cstdlib>

namespace agency::engine_detail {

ApiKey api_key(const EngineConfig& config, const HttpApi& api) {
  ApiKey key;
  key.env = config.api_key_env.empty() ? api.default_key_env : config.api_key_env;
  if (const char* v = std::getenv(key.env.c_str()); v != nullptr) key.value = v;
  return key;
}

Result<void> check_http_config(const EngineConfig& config, const HttpApi& api) {
  if (config.timeout.count() < 1) {
    return make_error(errc::config, "the " + api.kind + " engine needs a timeout of at least 1 s");
  }
  if (config.retries < 0) {
    return make_error(errc::config, "the " + api.kind + " engine's retries must be 0 or more");
  }
  return {};
}

HttpEngine::HttpEngine(HttpApi api, EngineConfig config, ApiKey key)
    : config_(std::move(config)),
      key_(std::move(key.value)),
      api_(std::move(api)),
      key_env_(std::move(key.env)) {
  base_ = config_.base_url.empty() ? api_.default_base : config_.base_url;
  url_ = http::join_url(base_, api_.path);
}

Result<Outcome> HttpEngine::run(const Turn& turn, const ProgressFn& progress,
                                const std::atomic<bool>& cancel) {
  http::ApiCall call;
  call.engine = api_.kind;
  call.request.url = url_;
  call.request.timeout = config_.timeout;
  call.request.headers.emplace_back("content-type", "application/json");
  add_headers(call.request.headers);
  call.request.body = request_body(turn);
  call.retry.retries = config_.retries;
  call.rate_limit_wait = config_.rate_limit_wait;
  call.secret = key_;
  call.key_env = key_env_;

  return http::run_turn(
      call, config_.model,
      [this](const http::ApiCall& c, const std::string& answer) { return read_answer(c, answer); },
      api_.kind + " answer from " + url_, cancel, progress);
}

}  // namespace agency::engine_detail
