// The openai engine (docs/ENGINES.md): chat completions on any
// OpenAI-compatible server (OpenAI, vLLM, llama.cpp server, Ollama), one
// non-streamed request per turn. For roles that write text rather than edit
// files: nothing runs in the worktree.
//
// Thread: run() is called from the agent's work thread; the request runs on
// it too (http.hpp).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "agents/engine.hpp"
#include "agents/http.hpp"
#include "agents/json_fields.hpp"

namespace agency {

namespace {

using json = nlohmann::json;

constexpr const char* kDefaultBase = "https://api.openai.com";
constexpr const char* kDefaultKeyEnv = "OPENAI_API_KEY";

class OpenAiEngine final : public Engine {
 public:
  OpenAiEngine(EngineConfig config, std::string key, std::string key_env)
      : config_(std::move(config)), key_(std::move(key)), key_env_(std::move(key_env)) {
    base_ = config_.base_url.empty() ? kDefaultBase : config_.base_url;
    url_ = http::join_url(base_, "/v1/chat/completions");
  }

  [[nodiscard]] std::string kind() const override { return "openai"; }

  [[nodiscard]] std::string label() const override {
    const std::string model = config_.model.empty() ? "(server's default model)" : config_.model;
    return "openai: " + model + " at " + http::host_of(base_);
  }

  Result<Outcome> run(const Turn& turn, const ProgressFn& progress,
                      const std::atomic<bool>& cancel) override {
    http::ApiCall call;
    call.engine = "openai";
    call.request.url = url_;
    call.request.timeout = config_.timeout;
    call.request.headers.emplace_back("content-type", "application/json");
    if (!key_.empty()) call.request.headers.emplace_back("authorization", "Bearer " + key_);
    call.request.body = request_body(turn).dump();
    call.retry.retries = config_.retries;
    call.rate_limit_wait = config_.rate_limit_wait;
    call.secret = key_;
    call.key_env = key_env_;

    return http::run_turn(
        call, config_.model,
        [this](const http::ApiCall& c, const std::string& answer) {
          return read_answer(c, answer);
        },
        "openai answer from " + url_, cancel, progress);
  }

 private:
  [[nodiscard]] json request_body(const Turn& turn) const {
    json body = {{"messages", json::array({{{"role", "user"}, {"content", turn.prompt}}})},
                 {"stream", false}};
    // Servers that host one model (llama.cpp) need none.
    if (!config_.model.empty()) body["model"] = config_.model;
    // api.openai.com refuses max_tokens for its newer models; the
    // compatible servers know max_tokens best.
    if (config_.max_tokens > 0) {
      body[config_.base_url.empty() ? "max_completion_tokens" : "max_tokens"] = config_.max_tokens;
    }
    return body;
  }

  [[nodiscard]] Result<Outcome> read_answer(const http::ApiCall& call,
                                            const std::string& body) const {
    const json j = json::parse(body, nullptr, false);
    if (!j.is_object()) return http::malformed_answer(call, "it is not a JSON object", body);
    auto choices = j.find("choices");
    if (choices == j.end() || !choices->is_array() || choices->empty()) {
      return http::malformed_answer(call, "no \"choices\"", body);
    }
    const json& first = (*choices)[0];
    if (!first.is_object() || !first.contains("message") || !first["message"].is_object()) {
      return http::malformed_answer(call, "no \"choices[0].message\"", body);
    }
    const json& message = first["message"];
    Outcome outcome;
    auto content = message.find("content");
    if (content != message.end() && content->is_string()) {
      outcome.text = content->get<std::string>();
    } else if (content != message.end() && !content->is_null()) {
      return http::malformed_answer(call, "\"choices[0].message.content\" is not text", body);
    }
    // null content: the model said nothing (a refusal, or only tool calls
    // we did not offer); the answer then has no verdict.

    auto model = j.find("model");
    outcome.model =
        model != j.end() && model->is_string() ? model->get<std::string>() : config_.model;
    if (auto usage = j.find("usage"); usage != j.end() && usage->is_object()) {
      const std::int64_t prompt = json_count(*usage, "prompt_tokens");
      std::int64_t cached = 0;
      if (auto details = usage->find("prompt_tokens_details"); details != usage->end()) {
        cached = json_count(*details, "cached_tokens");
      }
      // OpenAI counts cached tokens inside prompt_tokens; ours are apart.
      outcome.usage.input_tokens = std::max<std::int64_t>(0, prompt - cached);
      outcome.usage.cache_read_tokens = cached;
      outcome.usage.output_tokens = json_count(*usage, "completion_tokens");
      outcome.context_tokens = prompt;
    }
    return outcome;
  }

  EngineConfig config_;
  std::string key_;  // never logged nor put in messages
  std::string key_env_;
  std::string base_;
  std::string url_;
};

}  // namespace

namespace engine_detail {

Result<std::unique_ptr<Engine>> make_openai(const EngineConfig& config) {
  if (config.timeout.count() < 1) {
    return make_error(errc::config, "the openai engine needs a timeout of at least 1 s");
  }
  if (config.retries < 0) {
    return make_error(errc::config, "the openai engine's retries must be 0 or more");
  }
  const std::string key_env = config.api_key_env.empty() ? kDefaultKeyEnv : config.api_key_env;
  const char* key = std::getenv(key_env.c_str());
  // A local server needs no key; but a variable named in agency.yaml that is
  // not set is a mistake to report now rather than as a 401 later.
  if (!config.api_key_env.empty() && (key == nullptr || *key == '\0')) {
    return make_error(errc::config, "the openai engine's api_key_env names $" + key_env +
                                        ", which is not set: export it, or remove api_key_env "
                                        "for a server that needs no key");
  }
  if (config.base_url.empty() && (key == nullptr || *key == '\0')) {
    return make_error(errc::config,
                      "the openai engine needs a key for api.openai.com: export "
                      "OPENAI_API_KEY, or set base_url to your OpenAI-compatible server");
  }
  return std::unique_ptr<Engine>(
      std::make_unique<OpenAiEngine>(config, key != nullptr ? key : "", key_env));
}

}  // namespace engine_detail

}  // namespace agency
