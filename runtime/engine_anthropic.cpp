// The anthropic engine (docs/ENGINES.md): the Messages API, one
// non-streamed request per turn (engine_http.hpp). For roles that write text rather than edit
// files: nothing runs in the worktree.
//
// Thread: run() is called from the agent's work thread; the request runs on
// it too (http.hpp).
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/engine.hpp"
#include "runtime/engine_http.hpp"
#include "runtime/json_fields.hpp"

namespace agency::engine_detail {

namespace {

using json = nlohmann::json;

const HttpApi kAnthropic = {"anthropic", "https://api.anthropic.com", "/v1/messages",
                            "ANTHROPIC_API_KEY"};
constexpr const char* kApiVersion = "2023-06-01";

class AnthropicEngine final : public HttpEngine {
 public:
  AnthropicEngine(EngineConfig config, ApiKey key)
      : HttpEngine(kAnthropic, std::move(config), std::move(key)) {}

  [[nodiscard]] std::string label() const override {
    std::string l = "anthropic: " + config_.model;
    if (!config_.base_url.empty()) l += " at " + http::host_of(base_);
    return l;
  }

 private:
  void add_headers(std::vector<std::pair<std::string, std::string>>& headers) const override {
    headers.emplace_back("anthropic-version", kApiVersion);
    if (!key_.empty()) headers.emplace_back("x-api-key", key_);
  }

  [[nodiscard]] std::string request_body(const Turn& turn) const override {
    const json body = {{"model", config_.model},
                       {"max_tokens", config_.max_tokens},
                       {"messages", json::array({{{"role", "user"}, {"content", turn.prompt}}})}};
    return body.dump();
  }

  [[nodiscard]] Result<Outcome> read_answer(const http::ApiCall& call,
                                            const std::string& body) const override {
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
};

}  // namespace

Result<std::unique_ptr<Engine>> make_anthropic(const EngineConfig& config) {
  if (config.model.empty()) {
    return make_error(errc::config,
                      "the anthropic engine needs a model: set the role's model in agency.yaml "
                      "(claude-sonnet-4-5, for one)");
  }
  if (config.max_tokens < 1) {
    return make_error(errc::config, "the anthropic engine needs max_tokens of at least 1");
  }
  if (auto checked = check_http_config(config, kAnthropic); !checked) return checked.error();
  ApiKey key = api_key(config, kAnthropic);
  // A server of our own may take no key; api.anthropic.com always wants one,
  // and a variable named in agency.yaml but not set is a mistake.
  if (key.value.empty() && (!config.api_key_env.empty() || config.base_url.empty())) {
    return make_error(errc::config, "the anthropic engine reads its key from $" + key.env +
                                        ", which is not set: export it (or set api_key_env "
                                        "to the variable that holds the key)");
  }
  return std::unique_ptr<Engine>(std::make_unique<AnthropicEngine>(config, std::move(key)));
}

}  // namespace agency::engine_detail
