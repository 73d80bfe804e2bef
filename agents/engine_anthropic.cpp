// The anthropic engine (docs/ENGINES.md): the Messages API, one
// non-streamed request per turn. For roles that write text rather than edit
// files: nothing runs in the worktree.
//
// Thread: run() is called from the agent's work thread; the request runs on
// it too (http.hpp).
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

constexpr const char* kDefaultBase = "https://api.anthropic.com";
constexpr const char* kDefaultKeyEnv = "ANTHROPIC_API_KEY";
constexpr const char* kApiVersion = "2023-06-01";

class AnthropicEngine final : public Engine {
 public:
  AnthropicEngine(EngineConfig config, std::string key, std::string key_env)
      : config_(std::move(config)), key_(std::move(key)), key_env_(std::move(key_env)) {
    base_ = config_.base_url.empty() ? kDefaultBase : config_.base_url;
    url_ = http::join_url(base_, "/v1/messages");
  }

  [[nodiscard]] std::string kind() const override { return "anthropic"; }

  [[nodiscard]] std::string label() const override {
    std::string l = "anthropic: " + config_.model;
    if (!config_.base_url.empty()) l += " at " + http::host_of(base_);
    return l;
  }

  Result<Outcome> run(const Turn& turn, const ProgressFn& progress,
                      const std::atomic<bool>& cancel) override {
    http::ApiCall call;
    call.engine = "anthropic";
    call.request.url = url_;
    call.request.timeout = config_.timeout;
    call.request.headers.emplace_back("content-type", "application/json");
    call.request.headers.emplace_back("anthropic-version", kApiVersion);
    if (!key_.empty()) call.request.headers.emplace_back("x-api-key", key_);
    json body = {{"model", config_.model},
                 {"max_tokens", config_.max_tokens},
                 {"messages", json::array({{{"role", "user"}, {"content", turn.prompt}}})}};
    call.request.body = body.dump();
    call.retry.retries = config_.retries;
    call.rate_limit_wait = config_.rate_limit_wait;
    call.secret = key_;
    call.key_env = key_env_;

    return http::run_turn(
        call, config_.model,
        [this](const http::ApiCall& c, const std::string& answer) {
          return read_answer(c, answer);
        },
        "anthropic answer from " + url_, cancel, progress);
  }

 private:
  [[nodiscard]] Result<Outcome> read_answer(const http::ApiCall& call,
                                            const std::string& body) const {
    const json j = json::parse(body, nullptr, false);
    if (!j.is_object()) return http::malformed_answer(call, "it is not a JSON object", body);
    auto content = j.find("content");
    if (content == j.end() || !content->is_array()) {
      return http::malformed_answer(call, "no \"content\" list", body);
    }
    Outcome outcome;
    // Text blocks only: other blocks (thinking, tool_use) are not the answer.
    for (const auto& block : *content) {
      if (!block.is_object() || block.value("type", "") != "text") continue;
      auto text = block.find("text");
      if (text == block.end() || !text->is_string()) {
        return http::malformed_answer(call, "a text block without \"text\"", body);
      }
      outcome.text += text->get<std::string>();
    }
    auto usage = j.find("usage");
    if (usage == j.end() || !usage->is_object()) {
      return http::malformed_answer(call, "no \"usage\"", body);
    }
    outcome.usage.input_tokens = json_count(*usage, "input_tokens");
    outcome.usage.output_tokens = json_count(*usage, "output_tokens");
    outcome.usage.cache_creation_tokens = json_count(*usage, "cache_creation_input_tokens");
    outcome.usage.cache_read_tokens = json_count(*usage, "cache_read_input_tokens");
    outcome.context_tokens = outcome.usage.input_tokens + outcome.usage.cache_read_tokens +
                             outcome.usage.cache_creation_tokens;
    auto model = j.find("model");
    outcome.model =
        model != j.end() && model->is_string() ? model->get<std::string>() : config_.model;
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

Result<std::unique_ptr<Engine>> make_anthropic(const EngineConfig& config) {
  if (config.model.empty()) {
    return make_error(errc::config,
                      "the anthropic engine needs a model: set the role's model in agency.yaml "
                      "(claude-sonnet-4-5, for one)");
  }
  if (config.max_tokens < 1) {
    return make_error(errc::config, "the anthropic engine needs max_tokens of at least 1");
  }
  if (config.timeout.count() < 1) {
    return make_error(errc::config, "the anthropic engine needs a timeout of at least 1 s");
  }
  if (config.retries < 0) {
    return make_error(errc::config, "the anthropic engine's retries must be 0 or more");
  }
  const std::string key_env = config.api_key_env.empty() ? kDefaultKeyEnv : config.api_key_env;
  const char* key = std::getenv(key_env.c_str());
  const bool have_key = key != nullptr && *key != '\0';
  // A server of our own may take no key; api.anthropic.com always wants one,
  // and a variable named in agency.yaml but not set is a mistake.
  if (!have_key && (!config.api_key_env.empty() || config.base_url.empty())) {
    return make_error(errc::config, "the anthropic engine reads its key from $" + key_env +
                                        ", which is not set: export it (or set api_key_env "
                                        "to the variable that holds the key)");
  }
  return std::unique_ptr<Engine>(
      std::make_unique<AnthropicEngine>(config, have_key ? key : "", key_env));
}

}  // namespace engine_detail

}  // namespace agency
