// The openai and anthropic engines against the scripted model server on
// loopback (tests/support/model_server.js): answers, usage, retries on 5xx
// and dropped connections, timeouts, malformed answers, rate limits, keys
// kept out of messages, cancellation.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/engine.hpp"
#include "tests/support/model_server.hpp"
#include "tests/support/temp_dir.hpp"

namespace agency {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

constexpr const char* kKeyEnv = "AGENCY_TEST_HTTP_KEY";
constexpr const char* kSecret = "sk-test-secret-4711";

const char* const kBlock =
    "Read it all.\n```agency\nverdict: fail\nsummary: two bugs\n"
    "findings:\n  - off by one\n  - leak\n```\n";

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

EngineConfig config_for(const std::string& kind, const std::string& url) {
  setenv(kKeyEnv, kSecret, 1);
  EngineConfig c;
  c.kind = kind;
  c.model = kind == "openai" ? "gpt-test" : "claude-test";
  c.base_url = url;
  c.api_key_env = kKeyEnv;
  c.max_tokens = 321;
  c.timeout = 10s;
  c.retries = 0;
  return c;
}

std::unique_ptr<Engine> engine_for(const EngineConfig& c) {
  auto e = make_engine(c);
  INFO((e ? std::string() : e.error().message));
  REQUIRE(e.ok());
  return std::move(*e);
}

Turn turn_with(const std::string& prompt) {
  Turn t;
  t.agent_id = "reviewer-1";
  t.role = "reviewer";
  t.prompt = prompt;
  return t;
}

struct Ran {
  Result<Outcome> result;
  std::vector<std::string> notes;
  std::chrono::milliseconds took{0};
};

Ran run(Engine& engine, const std::string& prompt = "Review task t-1.",
        const std::atomic<bool>* cancel = nullptr) {
  std::atomic<bool> never{false};
  std::vector<std::string> notes;
  const auto start = SteadyClock::now();
  auto result = engine.run(
      turn_with(prompt), [&notes](std::string_view n) { notes.emplace_back(n); },
      cancel != nullptr ? *cancel : never);
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
  return Ran{std::move(result), std::move(notes), took};
}

std::string error_of(const Ran& r) {
  REQUIRE_FALSE(r.result.ok());
  return r.result.error().message;
}

// Seconds between a time and now + `ahead`, for resets within a second or two.
double off_by(SystemClock::time_point at, std::chrono::seconds ahead) {
  return std::chrono::duration<double>(at - (SystemClock::now() + ahead)).count();
}

const LimitReading* reading(const Outcome& o, const std::string& window) {
  for (const auto& r : o.limits) {
    if (r.window == window) return &r;
  }
  return nullptr;
}

// A script for the model server, from JSON text.
json script(const char* text) { return json::parse(text); }

}  // namespace

TEST_CASE("http engine: openai answers with a verdict and the usage the server reported") {
  test::TempDir dir;
  json s = script(R"({"replies": [{"model": "gpt-served",
      "usage": {"input_tokens": 120, "output_tokens": 33, "cache_read_input_tokens": 40}}]})");
  s["replies"][0]["text"] = kBlock;
  test::ModelServer server(dir.path(), s);
  auto config = config_for("openai", server.url());
  auto engine = engine_for(config);
  CHECK(engine->kind() == "openai");
  CHECK(engine->label() == "openai: gpt-test at 127.0.0.1:" + std::to_string(server.port()));

  auto r = run(*engine, "Review task t-1, please.");
  INFO((r.result ? std::string() : r.result.error().message));
  REQUIRE(r.result.ok());
  const Outcome& o = *r.result;
  CHECK(o.verdict == "fail");
  REQUIRE(o.has_block);
  CHECK(o.block.summary == "two bugs");
  CHECK(o.block.findings == std::vector<std::string>{"off by one", "leak"});
  CHECK(contains(o.text, "Read it all."));
  CHECK(o.model == "gpt-served");
  CHECK(o.duration.count() > 0);
  CHECK_FALSE(o.rate_limit.has_value());

  auto seen = server.requests();
  REQUIRE(seen.size() == 1);
  const json& req = seen[0];
  CHECK(req["path"] == "/v1/chat/completions");
  CHECK(req["auth"]["authorization"] == true);
  CHECK(req["body"]["model"] == "gpt-test");
  CHECK(req["body"]["max_tokens"] == 321);
  REQUIRE(req["body"]["messages"].size() == 1);
  CHECK(req["body"]["messages"][0]["role"] == "user");
  CHECK(req["body"]["messages"][0]["content"] == "Review task t-1, please.");
  // What the server reported, in our terms: cached tokens apart from input.
  const json& usage = req["usage"];
  CHECK(o.usage.input_tokens == usage["input_tokens"].get<std::int64_t>());
  CHECK(o.usage.output_tokens == usage["output_tokens"].get<std::int64_t>());
  CHECK(o.usage.cache_read_tokens == usage["cache_read_input_tokens"].get<std::int64_t>());
  CHECK(o.usage.input_tokens == 120);
  CHECK(o.usage.cache_read_tokens == 40);
  CHECK(o.context_tokens == 160);
}

TEST_CASE("http engine: openai takes a base_url that ends in /v1 and works without a key") {
  test::TempDir dir;
  test::ModelServer server(dir.path(), script(R"({"default": {"text": "no block here"}})"));
  auto config = config_for("openai", server.url() + "/v1/");
  config.api_key_env = "";  // OPENAI_API_KEY, unset here: a local server needs none
  unsetenv("OPENAI_API_KEY");
  config.model = "";
  auto engine = engine_for(config);
  CHECK(contains(engine->label(), "127.0.0.1:" + std::to_string(server.port())));

  auto r = run(*engine);
  INFO((r.result ? std::string() : r.result.error().message));
  REQUIRE(r.result.ok());
  CHECK(r.result->verdict.empty());
  CHECK_FALSE(r.result->has_block);
  CHECK(r.result->text == "no block here");
  CHECK(r.result->usage.output_tokens > 0);
  auto seen = server.requests();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0]["path"] == "/v1/chat/completions");
  CHECK(seen[0]["auth"]["authorization"] == false);
  CHECK_FALSE(seen[0]["body"].contains("model"));
}

TEST_CASE("http engine: anthropic answers with a verdict and the usage the server reported") {
  test::TempDir dir;
  json s = script(R"({"replies": [{
      "usage": {"input_tokens": 210, "output_tokens": 44,
                "cache_creation_input_tokens": 1000, "cache_read_input_tokens": 3000},
      "headers": {"anthropic-ratelimit-tokens-limit": "100000",
                  "anthropic-ratelimit-tokens-remaining": "75000",
                  "anthropic-ratelimit-tokens-reset": "2030-01-01T00:00:00Z"}}]})");
  s["replies"][0]["text"] = kBlock;
  test::ModelServer server(dir.path(), s);
  auto config = config_for("anthropic", server.url());
  auto engine = engine_for(config);
  CHECK(engine->kind() == "anthropic");
  CHECK(contains(engine->label(), "anthropic: claude-test"));
  CHECK_FALSE(contains(engine->label(), kSecret));

  auto r = run(*engine, "Review task t-2.");
  INFO((r.result ? std::string() : r.result.error().message));
  REQUIRE(r.result.ok());
  const Outcome& o = *r.result;
  CHECK(o.verdict == "fail");
  CHECK(o.block.findings.size() == 2);
  CHECK(o.model == "claude-test");

  auto seen = server.requests();
  REQUIRE(seen.size() == 1);
  const json& req = seen[0];
  CHECK(req["path"] == "/v1/messages");
  CHECK(req["auth"]["x-api-key"] == true);
  CHECK(req["stream"] == false);
  CHECK(req["body"]["model"] == "claude-test");
  CHECK(req["body"]["max_tokens"] == 321);
  CHECK(req["body"]["messages"][0]["content"] == "Review task t-2.");
  const json& usage = req["usage"];
  CHECK(o.usage.input_tokens == usage["input_tokens"].get<std::int64_t>());
  CHECK(o.usage.output_tokens == usage["output_tokens"].get<std::int64_t>());
  CHECK(o.usage.cache_creation_tokens == usage["cache_creation_input_tokens"].get<std::int64_t>());
  CHECK(o.usage.cache_read_tokens == usage["cache_read_input_tokens"].get<std::int64_t>());
  CHECK(o.usage.input_tokens == 210);
  CHECK(o.context_tokens == 210 + 1000 + 3000);

  // Limits are read on every answer, not only on refusals.
  const LimitReading* tokens = reading(o, "tokens");
  REQUIRE(tokens != nullptr);
  CHECK(tokens->remaining == 75000);
  CHECK(tokens->limit == 100000);
}

TEST_CASE("http engine: a 500 then an answer succeeds after one retry") {
  for (const std::string kind : {"openai", "anthropic"}) {
    CAPTURE(kind);
    test::TempDir dir;
    test::ModelServer server(dir.path(), script(R"({"replies": [
        {"status": 500},
        {"text": "```agency\nverdict: pass\nsummary: fine\n```\n"}]})"));
    auto config = config_for(kind, server.url());
    config.retries = 2;
    auto engine = engine_for(config);
    auto r = run(*engine);
    INFO((r.result ? std::string() : r.result.error().message));
    REQUIRE(r.result.ok());
    CHECK(r.result->verdict == "pass");
    CHECK(server.requests().size() == 2);
    // The first retry waits the first backoff step (1 s), and says so.
    CHECK(r.took >= 900ms);
    REQUIRE(r.notes.size() == 1);
    CHECK(contains(r.notes[0], "500"));
    CHECK(contains(r.notes[0], "attempt 2 of 3"));
  }
}

TEST_CASE("http engine: a dropped connection and an overloaded answer are retried") {
  test::TempDir dir;
  // retry-after 0 on the 529 keeps the test short; the drop waits 1 s.
  test::ModelServer server(dir.path(), script(R"({"replies": [
      {"drop": true},
      {"status": 529, "headers": {"retry-after": "0"},
       "error": {"type": "overloaded_error", "message": "Overloaded"}},
      {"text": "```agency\nverdict: pass\n```"}]})"));
  auto config = config_for("anthropic", server.url());
  config.retries = 3;
  auto engine = engine_for(config);
  auto r = run(*engine);
  INFO((r.result ? std::string() : r.result.error().message));
  REQUIRE(r.result.ok());
  CHECK(r.result->verdict == "pass");
  auto seen = server.requests();
  REQUIRE(seen.size() == 3);
  CHECK(seen[0]["status"] == 0);
  CHECK(seen[1]["status"] == 529);
  CHECK(seen[2]["status"] == 200);
}

TEST_CASE("http engine: a persistent 5xx is an error after retries plus one requests") {
  for (const std::string kind : {"openai", "anthropic"}) {
    CAPTURE(kind);
    test::TempDir dir;
    test::ModelServer server(dir.path(), script(R"({"default": {
        "status": 503, "headers": {"retry-after": "0"},
        "error": {"type": "api_error", "message": "upstream is down"}}})"));
    auto config = config_for(kind, server.url());
    config.retries = 2;
    auto engine = engine_for(config);
    auto r = run(*engine);
    const std::string msg = error_of(r);
    CHECK(r.result.error().code == errc::io);
    CHECK(contains(msg, kind + ": "));
    CHECK(contains(msg, "503"));
    CHECK(contains(msg, "upstream is down"));
    CHECK(contains(msg, "after 3 attempts"));
    CHECK(server.requests().size() == 3);
    CHECK(r.notes.size() == 2);
  }
}

TEST_CASE("http engine: no answer within the timeout is a timeout error naming URL and timeout") {
  for (const std::string kind : {"openai", "anthropic"}) {
    CAPTURE(kind);
    test::TempDir dir;
    test::ModelServer server(dir.path(),
                             script(R"({"default": {"delay_ms": 4000, "text": "late"}})"));
    auto config = config_for(kind, server.url());
    config.timeout = 1s;
    auto engine = engine_for(config);
    auto r = run(*engine);
    const std::string msg = error_of(r);
    CHECK(r.result.error().code == errc::timeout);
    const std::string path = kind == "openai" ? "/v1/chat/completions" : "/v1/messages";
    CHECK(contains(msg, server.url() + path));
    CHECK(contains(msg, "1 s"));
    CHECK(r.took >= 900ms);
    CHECK(r.took < 3500ms);
  }
}

TEST_CASE("http engine: a server that is not there is a connection error") {
  for (const std::string kind : {"openai", "anthropic"}) {
    CAPTURE(kind);
    // Port 1 on loopback: nothing listens there, the connection is refused.
    auto engine = engine_for(config_for(kind, "http://127.0.0.1:1"));
    auto r = run(*engine);
    const std::string msg = error_of(r);
    CHECK(r.result.error().code == errc::connect);
    CHECK(contains(msg, "127.0.0.1:1"));
  }
}

TEST_CASE("http engine: a malformed answer is a clear error naming URL and what is missing") {
  struct Case {
    std::string kind;
    std::string body;
    std::string missing;
  };
  const std::vector<Case> cases = {
      {"openai", "<html>gateway says hi</html>", "not a JSON object"},
      {"openai", R"({"id":"x","choices":[]})", "choices"},
      {"openai", R"({"choices":[{"index":0}]})", "choices[0].message"},
      {"anthropic", "<html>gateway says hi</html>", "not a JSON object"},
      {"anthropic", R"({"id":"msg_1","type":"message"})", "content"},
      {"anthropic", R"({"content":[{"type":"text","text":"hi"}]})", "usage"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.kind);
    CAPTURE(c.body);
    test::TempDir dir;
    test::ModelServer server(dir.path(), {{"default", {{"body", c.body}}}});
    auto engine = engine_for(config_for(c.kind, server.url()));
    auto r = run(*engine);
    const std::string msg = error_of(r);
    CHECK(r.result.error().code == errc::bad_payload);
    CHECK(contains(msg, server.url()));
    CHECK(contains(msg, c.missing));
    CHECK(contains(msg, c.body.substr(0, 20)));
    // Not worth retrying: the same server would say the same.
    CHECK(server.requests().size() == 1);
  }
}

TEST_CASE("http engine: a malformed agency block is an error") {
  test::TempDir dir;
  test::ModelServer server(dir.path(),
                           script(R"({"default": {"text": "```agency\nverdict: maybe\n```\n"}})"));
  auto engine = engine_for(config_for("anthropic", server.url()));
  auto r = run(*engine);
  const std::string msg = error_of(r);
  CHECK(r.result.error().code == errc::bad_payload);
  CHECK(contains(msg, "anthropic"));
  CHECK(contains(msg, "maybe"));
}

TEST_CASE("http engine: openai 429 with retry-after is a rate limit, not an error") {
  test::TempDir dir;
  test::ModelServer server(dir.path(), script(R"({"replies": [{"status": 429,
      "error": {"type": "requests", "message": "Rate limit reached for requests"},
      "headers": {"retry-after": "7", "x-ratelimit-limit-requests": "60",
                  "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "7s"}}]})"));
  auto config = config_for("openai", server.url());
  config.retries = 3;
  auto engine = engine_for(config);
  auto r = run(*engine);
  INFO((r.result ? std::string() : r.result.error().message));
  REQUIRE(r.result.ok());
  const Outcome& o = *r.result;
  REQUIRE(o.rate_limit.has_value());
  CHECK(std::abs(off_by(o.rate_limit->resets_at, 7s)) < 2.0);
  CHECK(o.rate_limit->detail == "Rate limit reached for requests");
  CHECK(o.verdict.empty());
  const LimitReading* requests = reading(o, "requests");
  REQUIRE(requests != nullptr);
  CHECK(requests->remaining == 0);
  CHECK(requests->limit == 60);
  // A refusal is handed back, not retried here.
  CHECK(server.requests().size() == 1);
  CHECK(r.took < 2s);
}

TEST_CASE("http engine: anthropic 429 resets when the exhausted window does") {
  const auto reset_in = 90s;
  const std::time_t reset_epoch = SystemClock::to_time_t(SystemClock::now() + reset_in);
  std::tm tm{};
  gmtime_r(&reset_epoch, &tm);
  char reset[32];
  std::strftime(reset, sizeof reset, "%Y-%m-%dT%H:%M:%SZ", &tm);

  test::TempDir dir;
  json s = script(R"({"replies": [{"status": 429,
      "error": {"type": "rate_limit_error", "message": "Number of requests has exceeded"},
      "headers": {"anthropic-ratelimit-requests-limit": "50",
                  "anthropic-ratelimit-requests-remaining": "0",
                  "anthropic-ratelimit-unified-5h-utilization": "0.97"}}]})");
  s["replies"][0]["headers"]["anthropic-ratelimit-requests-reset"] = reset;
  test::ModelServer server(dir.path(), s);
  auto engine = engine_for(config_for("anthropic", server.url()));
  auto r = run(*engine);
  INFO((r.result ? std::string() : r.result.error().message));
  REQUIRE(r.result.ok());
  const Outcome& o = *r.result;
  REQUIRE(o.rate_limit.has_value());
  CHECK(std::abs(off_by(o.rate_limit->resets_at, reset_in)) < 2.0);
  CHECK(o.rate_limit->detail == "Number of requests has exceeded");
  const LimitReading* requests = reading(o, "requests");
  REQUIRE(requests != nullptr);
  CHECK(requests->remaining == 0);
  const LimitReading* five_hour = reading(o, "five_hour");
  REQUIRE(five_hour != nullptr);
  CHECK(five_hour->utilization == doctest::Approx(97.0));
}

TEST_CASE("http engine: a 429 that does not say when waits rate_limit_wait") {
  for (const std::string kind : {"openai", "anthropic"}) {
    CAPTURE(kind);
    test::TempDir dir;
    test::ModelServer server(dir.path(), script(R"({"default": {"status": 429}})"));
    auto config = config_for(kind, server.url());
    config.rate_limit_wait = 42s;
    auto engine = engine_for(config);
    auto r = run(*engine);
    INFO((r.result ? std::string() : r.result.error().message));
    REQUIRE(r.result.ok());
    REQUIRE(r.result->rate_limit.has_value());
    CHECK(std::abs(off_by(r.result->rate_limit->resets_at, 42s)) < 2.0);
    CHECK(contains(r.result->rate_limit->detail, "429"));
  }
}

TEST_CASE("http engine: a refused key is an error that names the variable, never the key") {
  for (const std::string kind : {"openai", "anthropic"}) {
    CAPTURE(kind);
    test::TempDir dir;
    // Servers may quote the key they refuse.
    json s = script(R"({"default": {"status": 401,
        "error": {"type": "authentication_error"}}})");
    s["default"]["error"]["message"] = std::string("invalid x-api-key ") + kSecret;
    test::ModelServer server(dir.path(), s);
    auto config = config_for(kind, server.url());
    config.retries = 2;
    auto engine = engine_for(config);
    auto r = run(*engine);
    const std::string msg = error_of(r);
    CHECK(r.result.error().code == errc::bad_payload);
    CHECK(contains(msg, "401"));
    CHECK(contains(msg, "invalid x-api-key [redacted]"));
    CHECK(contains(msg, kKeyEnv));
    CHECK_FALSE(contains(msg, kSecret));
    CHECK(server.requests().size() == 1);  // a 4xx is not retried
    CHECK_FALSE(contains(engine->label(), kSecret));
  }
}

TEST_CASE("http engine: cancel ends a call soon, also while waiting to retry") {
  // The server answers slowly, or asks for a long wait before the next try.
  json s;
  SUBCASE("waiting for an answer") {
    s = script(R"({"default": {"delay_ms": 20000, "text": "x"}})");
  }
  SUBCASE("waiting between attempts") {
    s = script(R"({"default": {"status": 500, "headers": {"retry-after": "20"}}})");
  }
  for (const std::string kind : {"openai", "anthropic"}) {
    CAPTURE(kind);
    test::TempDir dir;
    test::ModelServer server(dir.path(), s);
    auto config = config_for(kind, server.url());
    config.timeout = 60s;
    config.retries = 2;
    auto engine = engine_for(config);
    std::atomic<bool> cancel{false};
    std::thread stopper([&cancel] {
      std::this_thread::sleep_for(500ms);
      cancel = true;
    });
    auto r = run(*engine, "p", &cancel);
    stopper.join();
    CHECK(contains(error_of(r), "cancelled"));
    CHECK(r.took < 3s);
  }
}

TEST_CASE("http engine: settings that cannot work are config errors at construction") {
  EngineConfig c = config_for("anthropic", "http://127.0.0.1:1");
  c.model = "";
  auto e = make_engine(c);
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().code == errc::config);
  CHECK(contains(e.error().message, "model"));

  for (const std::string kind : {"openai", "anthropic"}) {
    CAPTURE(kind);
    c = config_for(kind, "http://127.0.0.1:1");
    c.api_key_env = "AGENCY_TEST_HTTP_KEY_NOT_SET";
    unsetenv("AGENCY_TEST_HTTP_KEY_NOT_SET");
    e = make_engine(c);
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().code == errc::config);
    CHECK(contains(e.error().message, "AGENCY_TEST_HTTP_KEY_NOT_SET"));
  }
}

}  // namespace agency
