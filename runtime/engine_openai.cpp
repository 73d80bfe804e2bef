// The openai engine (docs/ENGINES.md): chat completions on any
// OpenAI-compatible server (OpenAI, vLLM, llama.cpp server, Ollama), one
// non-streamed request per turn (engine_http.hpp). For roles that write text
// rather than edit files: nothing runs in the worktree.
//
// Thread: run() is called from the agent's work thread; the request runs on
// it too (http.hpp).
#include <algorithm>
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

const HttpApi kOpenAi = {"openai", "https://api.openai.com", "/v1/chat/completions",
                         "OPENAI_API_KEY"};

class OpenAiEngine final : public HttpEngine {
 public:
  OpenAiEngine(EngineConfig config, ApiKey key)
      : HttpEngine(kOpenAi, std::move(config), std::move(key)) {}

  [[nodiscard]] std::string label() const override {
    const std::string model = config_.model.empty() ? "(server's default model)" : config_.model;
    return "openai: " + model + " at " + http::host_of(base_);
  }

 private:
  void add_headers(std::vector<std::pair<std::string, std::string>>& headers) const override {
    if (!key_.empty()) headers.emplace_back("authorization", "Bearer " + key_);
  }

  [[nodiscard]] std::string request_body(const Turn& turn) const override {
    json body = {{"messages", json::array({{{"role", "user"}, {"content", turn.prompt}}})},
                 {"stream", false}};
    // Servers that host one model (llama.cpp) need none.
    if (!config_.model.empty()) body["model"] = config_.model;
    // api.openai.com refuses max_tokens for its newer models; the
    // compatible servers know max_tokens best.
    if (config_.max_tokens > 0) {
      body[config_.base_url.empty() ? "max_completion_tokens" : "max_tokens"] = config_.max_tokens;
    }
    return body.dump();
  }

  [[nodiscard]] Result<Outcome> read_answer(const http::ApiCall& call,
                                            const std::string& body) const override {
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
};

}  // namespace

Result<std::unique_ptr<Engine>> make_openai(const EngineConfig& config) {
  if (auto checked = check_http_config(config, kOpenAi); !checked) return checked.error();
  ApiKey key = api_key(config, kOpenAi);
  // A local server needs no key; but a variable named in agency.yaml that is
  // not set is a mistake to report now rather than as a 401 later.
  if (!config.api_key_env.empty() && key.value.empty()) {
    return make_error(errc::config, "the openai engine's api_key_env names $" + key.env +
                                        ", which is not set: export it, or remove api_key_env "
                                        "for a server that needs no key");
  }
  if (config.base_url.empty() && key.value.empty()) {
    return make_error(errc::config,
                      "the openai engine needs a key for api.openai.com: export "
                      "OPENAI_API_KEY, or set base_url to your OpenAI-compatible server");
  }
  return std::unique_ptr<Engine>(std::make_unique<OpenAiEngine>(config, std::move(key)));
}

}  // namespace agency::engine_detail
