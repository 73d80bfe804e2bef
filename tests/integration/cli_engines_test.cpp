// The codex and gemini engines with the REAL Codex and Gemini CLIs
// (installed from the npm registry by scripts/install-deps.sh, pinned in
// tests/e2e/package.json) talking to the scripted model server on loopback
// (tests/support/model_server.js): codex through the OpenAI Responses API
// (a model provider of its own, given with -c), gemini through the Gemini
// API (GOOGLE_GEMINI_BASE_URL and an API key). Each case runs the engine
// directly, in a git worktree, with a home of its own for the CLI's files:
// answers and their verdicts, usage equal to what the server reported,
// sessions resumed, files written, limits read as refusals, and failing
// servers as clear errors.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/engine.hpp"
#include "runtime/git.hpp"
#include "tests/support/model_server.hpp"
#include "tests/support/temp_dir.hpp"

namespace agency {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

// The variable the codex provider reads its key from (env_key).
constexpr const char* kCodexKeyEnv = "AGENCY_TEST_CODEX_KEY";

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string cli(const char* name) {
  const fs::path path = fs::path(AGENCY_SOURCE_DIR) / "tests/e2e/node_modules/.bin" / name;
  REQUIRE_MESSAGE(fs::exists(path), name << " is not installed: run scripts/install-deps.sh");
  return path.string();
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string agency_block(const std::string& verdict, const std::string& summary) {
  return "```agency\nverdict: " + verdict + "\nsummary: " + summary + "\n```\n";
}

json usage_of(std::int64_t input, std::int64_t output, std::int64_t cache_write,
              std::int64_t cache_read) {
  return {{"input_tokens", input},
          {"output_tokens", output},
          {"cache_creation_input_tokens", cache_write},
          {"cache_read_input_tokens", cache_read}};
}

// A script's replies, in order.
using Replies = std::vector<json>;

json script_of(const Replies& replies, const json& otherwise) {
  json script = {{"replies", json(replies)}};
  if (!otherwise.is_null()) script["default"] = otherwise;
  return script;
}

// A tool call in a reply.
json tool_call(const std::string& name, const json& input) {
  return json::array({json{{"name", name}, {"input", input}}});
}

// The scripted server, a task worktree of a git repository, and a home and
// temp dir for the CLI, all under one temp dir.
struct Setup {
  explicit Setup(const Replies& replies, const json& otherwise = json())
      : server(dir.path() / "model", script_of(replies, otherwise)) {
    home = dir.path() / "home";
    tmp = dir.path() / "tmp";
    repo = dir.path() / "repo";
    fs::create_directories(home / ".codex");
    fs::create_directories(tmp);
    fs::create_directories(repo);
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {"git", "init", "-q", "-b", "main"},
             {"git", "config", "user.name", "agency test"},
             {"git", "config", "user.email", "test@agency.invalid"},
         }) {
      REQUIRE(git::run(argv, repo).exit_code == 0);
    }
    std::ofstream(repo / "README.md") << "A project for the CLI engine tests.\n";
    REQUIRE(git::run({"git", "add", "README.md"}, repo).exit_code == 0);
    REQUIRE(git::run({"git", "commit", "-q", "-m", "start"}, repo).exit_code == 0);
    auto tree = git::prepare_worktree(repo, "main", dir.path() / "worktrees", "t-1");
    INFO((tree ? std::string() : tree.error().message));
    REQUIRE(tree.ok());
    work = *tree;
  }

  // The model requests of one API ("responses", "gemini"), in order.
  [[nodiscard]] std::vector<json> requests(const std::string& kind) const {
    std::vector<json> out;
    for (auto& q : server.requests()) {
      if (q.value("kind", "") == kind) out.push_back(q);
    }
    return out;
  }

  test::TempDir dir;
  test::ModelServer server;
  fs::path home, tmp, repo, work;
};

// What the server reported for requests [from, to) of a list, as a Usage.
Usage served(const std::vector<json>& requests, std::size_t from, std::size_t to) {
  Usage u;
  for (std::size_t i = from; i < to && i < requests.size(); ++i) {
    const json& r = requests[i].at("usage");
    u.input_tokens += r.at("input_tokens").get<std::int64_t>();
    u.output_tokens += r.at("output_tokens").get<std::int64_t>();
    u.cache_creation_tokens += r.at("cache_creation_input_tokens").get<std::int64_t>();
    u.cache_read_tokens += r.at("cache_read_input_tokens").get<std::int64_t>();
  }
  return u;
}

void check_usage(const Usage& got, const Usage& want) {
  CHECK(got.input_tokens == want.input_tokens);
  CHECK(got.output_tokens == want.output_tokens);
  CHECK(got.cache_creation_tokens == want.cache_creation_tokens);
  CHECK(got.cache_read_tokens == want.cache_read_tokens);
}

std::unique_ptr<Engine> engine_for(const EngineConfig& c) {
  auto e = make_engine(c);
  INFO((e ? std::string() : e.error().message));
  REQUIRE(e.ok());
  return std::move(*e);
}

// codex with a model provider of its own: the scripted server's Responses
// API. `provider_extra` adds provider settings (", request_max_retries=0").
EngineConfig codex_config(const Setup& s, const std::string& provider_extra = "") {
  EngineConfig c;
  c.kind = "codex";
  c.cli = cli("codex");
  c.model = "gpt-test";
  c.timeout = 60s;
  c.rate_limit_wait = 120s;
  c.cli_args = {"-c",
                "model_providers.scripted={name=\"scripted\",base_url=\"" + s.server.url() +
                    "/v1\",wire_api=\"responses\",env_key=\"" + kCodexKeyEnv + "\"" +
                    provider_extra + "}",
                "-c", "model_provider=scripted"};
  return c;
}

// gemini on the scripted server's Gemini API, with an API key: the home's
// settings select that kind of login (with only a base URL gemini picks a
// gateway login and refuses it). `settings` adds to them.
EngineConfig gemini_config(const Setup& s, json settings = json::object()) {
  settings["security"]["auth"]["selectedType"] = "gemini-api-key";
  fs::create_directories(s.home / ".gemini");
  std::ofstream(s.home / ".gemini" / "settings.json") << settings.dump(2);
  EngineConfig c;
  c.kind = "gemini";
  c.cli = cli("gemini");
  c.model = "gemini-test";
  c.timeout = 60s;
  c.rate_limit_wait = 120s;
  return c;
}

Turn turn_for(const Setup& s, const std::string& prompt, const std::string& session = "") {
  Turn t;
  t.agent_id = "builder-1";
  t.role = "builder";
  t.prompt = prompt;
  t.workdir = s.work;
  t.session_id = session;
  // The CLIs' logins, settings and sessions, and gemini's error reports,
  // stay in the test's directory, whatever CODEX_HOME or GEMINI_CLI_HOME
  // the person running the tests has.
  t.env = {{"HOME", s.home.string()},
           {"CODEX_HOME", (s.home / ".codex").string()},
           {"GEMINI_CLI_HOME", s.home.string()},
           {"TMPDIR", s.tmp.string()},
           {kCodexKeyEnv, "test-key-not-secret"},
           {"GEMINI_API_KEY", "test-key-not-secret"},
           {"GOOGLE_GEMINI_BASE_URL", s.server.url()}};
  return t;
}

struct Ran {
  Result<Outcome> result;
  std::vector<std::string> notes;
  std::chrono::milliseconds took{0};
};

Ran run(Engine& engine, const Turn& turn) {
  std::atomic<bool> never{false};
  std::vector<std::string> notes;
  const auto start = SteadyClock::now();
  auto result = engine.run(
      turn, [&notes](std::string_view n) { notes.emplace_back(n); }, never);
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
  return Ran{std::move(result), std::move(notes), took};
}

std::string notes_of(const Ran& r) {
  std::string all;
  for (const auto& n : r.notes) all += n + "\n";
  return all;
}

std::string why(const Ran& r) {
  return (r.result ? std::string() : r.result.error().message) + "\nprogress:\n" + notes_of(r);
}

// Seconds between a time and now + `ahead`.
double off_by(SystemClock::time_point at, std::chrono::seconds ahead) {
  return std::chrono::duration<double>(at - (SystemClock::now() + ahead)).count();
}

// Every text the request carried, for finding earlier turns in it.
std::string body_text(const json& request) { return request.at("body").dump(); }

// ---------------------------------------------------------------- codex

TEST_CASE("cli engine: codex answers with a verdict and the served usage, and resumes its thread") {
  const std::string first = "Done.\n\n" + agency_block("pass", "first look");
  const std::string second = "Still fine.\n\n" + agency_block("fail", "second look");
  Setup s(Replies{
      {{"text", first}, {"usage", usage_of(1000, 20, 50, 200)}},
      {{"text", second}, {"usage", usage_of(300, 7, 0, 1250)}},
      {{"text", "Third.\n" + agency_block("pass", "third look")},
       {"usage", usage_of(150, 9, 0, 1600)}},
  });
  auto config = codex_config(s);
  auto engine = engine_for(config);
  CHECK(engine->kind() == "codex");
  CHECK(engine->label() == "codex gpt-test (read-only)");

  auto r1 = run(*engine, turn_for(s, "Review task t-1: read README.md"));
  INFO(why(r1));
  REQUIRE(r1.result.ok());
  const Outcome& o1 = *r1.result;
  CHECK_FALSE(o1.rate_limit.has_value());
  CHECK(o1.verdict == "pass");
  REQUIRE(o1.has_block);
  CHECK(o1.block.summary == "first look");
  CHECK(contains(o1.text, "Done."));
  CHECK(o1.model == "gpt-test");
  CHECK_FALSE(o1.session_id.empty());
  CHECK(o1.duration.count() > 0);
  CHECK(r1.took < 30s);
  auto seen = s.requests("responses");
  REQUIRE(seen.size() == 1);
  CHECK(seen[0]["path"] == "/v1/responses");
  CHECK(seen[0]["model"] == "gpt-test");
  CHECK(seen[0]["stream"] == true);
  CHECK(seen[0]["auth"]["authorization"] == true);  // the key from env_key
  CHECK(contains(body_text(seen[0]), "Review task t-1: read README.md"));
  CHECK(contains(body_text(seen[0]), "<cwd>" + s.work.string() + "</cwd>"));
  // The server logged what it was scripted to report (Anthropic names).
  CHECK(seen[0]["usage"] == usage_of(1000, 20, 50, 200));
  check_usage(o1.usage, served(seen, 0, 1));

  // The same thread again: codex sends the earlier turn along, and reports
  // the thread's running total, of which this call is the growth.
  auto r2 = run(*engine, turn_for(s, "Review task t-1 once more", o1.session_id));
  INFO(why(r2));
  REQUIRE(r2.result.ok());
  const Outcome& o2 = *r2.result;
  CHECK(o2.session_id == o1.session_id);
  CHECK(o2.verdict == "fail");
  CHECK(o2.block.summary == "second look");
  seen = s.requests("responses");
  REQUIRE(seen.size() == 2);
  const std::string resumed = body_text(seen[1]);
  CHECK(contains(resumed, "Review task t-1: read README.md"));
  CHECK(contains(resumed, "first look"));
  CHECK(contains(resumed, "Review task t-1 once more"));
  check_usage(o2.usage, served(seen, 1, 2));

  // A new engine (the agent restarted) resuming the thread: what the thread
  // had spent comes from codex's session file.
  auto restarted = engine_for(config);
  auto r3 = run(*restarted, turn_for(s, "And a third time", o1.session_id));
  INFO(why(r3));
  REQUIRE(r3.result.ok());
  CHECK(r3.result->session_id == o1.session_id);
  CHECK(r3.result->block.summary == "third look");
  seen = s.requests("responses");
  REQUIRE(seen.size() == 3);
  CHECK(contains(body_text(seen[2]), "second look"));
  check_usage(r3.result->usage, served(seen, 2, 3));
}

TEST_CASE("cli engine: codex writes a file in workspace-write through its shell tool") {
  Setup s(Replies{
      {{"tool_use",
        tool_call("exec_command", {{"cmd", "printf 'hello from codex\\n' > GREETING.md"}})},
       {"usage", usage_of(900, 30, 0, 0)}},
      {{"text", "Wrote GREETING.md.\n" + agency_block("pass", "wrote it")},
       {"usage", usage_of(120, 15, 0, 930)}},
  });
  auto config = codex_config(s);
  config.permission_mode = "workspace-write";
  auto engine = engine_for(config);
  auto r = run(*engine, turn_for(s, "Say hello in GREETING.md"));
  INFO(why(r));
  REQUIRE(r.result.ok());
  CHECK(r.result->verdict == "pass");
  CHECK(r.result->block.summary == "wrote it");
  CHECK(read_file(s.work / "GREETING.md") == "hello from codex\n");
  CHECK(contains(notes_of(r), "GREETING.md"));  // the command, as progress
  auto seen = s.requests("responses");
  REQUIRE(seen.size() == 2);
  // The command's result went back to the model.
  CHECK(contains(body_text(seen[1]), "function_call_output"));
  check_usage(r.result->usage, served(seen, 0, 2));
}

TEST_CASE("cli engine: codex usage limits and 429s are refusals, not errors") {
  const auto reset = SystemClock::now() + 2h;
  const auto reset_epoch =
      std::chrono::duration_cast<std::chrono::seconds>(reset.time_since_epoch()).count();
  Setup s(Replies{
      {{"status", 429},
       {"error",
        {{"type", "usage_limit_reached"},
         {"message", "You have hit your usage limit (test)."},
         {"plan_type", "plus"},
         {"resets_at", reset_epoch}}}},
      {{"status", 429},
       {"error",
        {{"type", "rate_limit_exceeded"},
         {"code", "rate_limit_exceeded"},
         {"message", "Rate limit reached for gpt-test (test)."}}}},
  });
  auto engine = engine_for(codex_config(s));

  // A plan's usage limit: codex says when to try again, in UTC.
  auto r1 = run(*engine, turn_for(s, "Review task t-1"));
  INFO(why(r1));
  REQUIRE(r1.result.ok());
  REQUIRE(r1.result->rate_limit.has_value());
  CHECK(contains(r1.result->rate_limit->detail, "usage limit"));
  // codex names the minute: the reset is that minute, not rate_limit_wait.
  CHECK(std::chrono::abs(r1.result->rate_limit->resets_at - reset) < 2min);
  REQUIRE(r1.result->limits.size() == 1);
  CHECK(r1.result->limits[0].status == "rejected");
  CHECK(r1.result->limits[0].resets_at == r1.result->rate_limit->resets_at);
  CHECK(r1.took < 20s);

  // A plain 429: codex gives up on it; the agent waits rate_limit_wait.
  auto r2 = run(*engine, turn_for(s, "Review task t-1"));
  INFO(why(r2));
  REQUIRE(r2.result.ok());
  REQUIRE(r2.result->rate_limit.has_value());
  CHECK(contains(r2.result->rate_limit->detail, "429"));
  CHECK(std::abs(off_by(r2.result->rate_limit->resets_at, 120s)) < 10);
  CHECK(r2.took < 20s);
  CHECK(s.requests("responses").size() == 2);
}

TEST_CASE("cli engine: codex on a failing server ends with a clear error") {
  Setup s(Replies{
      {{"status", 500}, {"error", {{"type", "server_error"}, {"message", "boom (test)"}}}},
      {{"body", "{this is not json"}},
      {{"drop", true}},
  });
  // No retries by codex itself (it would retry 500s for half a minute).
  auto engine = engine_for(codex_config(s, ",request_max_retries=0,stream_max_retries=0"));

  auto r1 = run(*engine, turn_for(s, "Review task t-1"));
  INFO(why(r1));
  REQUIRE_FALSE(r1.result.ok());
  CHECK(contains(r1.result.error().message, "codex failed: "));
  CHECK(r1.took < 20s);

  auto r2 = run(*engine, turn_for(s, "Review task t-1"));
  INFO(why(r2));
  REQUIRE_FALSE(r2.result.ok());
  CHECK(contains(r2.result.error().message, "codex failed: stream disconnected"));

  auto r3 = run(*engine, turn_for(s, "Review task t-1"));
  INFO(why(r3));
  REQUIRE_FALSE(r3.result.ok());
  CHECK(contains(r3.result.error().message, "codex failed: "));
  CHECK(s.requests("responses").size() == 3);
}

// --------------------------------------------------------------- gemini

TEST_CASE("cli engine: gemini answers with a verdict and the served usage, and resumes") {
  const std::string first = "Done.\n\n" + agency_block("pass", "first look");
  const std::string second = "Still fine.\n\n" + agency_block("fail", "second look");
  Setup s(Replies{
      {{"text", first}, {"usage", usage_of(1000, 20, 0, 200)}},
      {{"text", second}, {"usage", usage_of(300, 7, 0, 1250)}},
  });
  auto engine = engine_for(gemini_config(s));
  CHECK(engine->kind() == "gemini");
  CHECK(engine->label() == "gemini gemini-test (default)");

  auto r1 = run(*engine, turn_for(s, "Review task t-1: read README.md"));
  INFO(why(r1));
  REQUIRE(r1.result.ok());
  const Outcome& o1 = *r1.result;
  CHECK_FALSE(o1.rate_limit.has_value());
  CHECK(o1.verdict == "pass");
  REQUIRE(o1.has_block);
  CHECK(o1.block.summary == "first look");
  CHECK(contains(o1.text, "Done."));
  CHECK(o1.model == "gemini-test");
  CHECK_FALSE(o1.session_id.empty());
  CHECK(r1.took < 30s);
  auto seen = s.requests("gemini");
  REQUIRE(seen.size() == 1);
  CHECK(seen[0]["path"] == "/v1beta/models/gemini-test:streamGenerateContent");
  CHECK(seen[0]["stream"] == true);
  CHECK(contains(body_text(seen[0]), "Review task t-1: read README.md"));
  CHECK(seen[0]["usage"] == usage_of(1000, 20, 0, 200));
  check_usage(o1.usage, served(seen, 0, 1));

  // The same session again: gemini sends the earlier turn along; its usage
  // is this process's only.
  auto r2 = run(*engine, turn_for(s, "Review task t-1 once more", o1.session_id));
  INFO(why(r2));
  REQUIRE(r2.result.ok());
  const Outcome& o2 = *r2.result;
  CHECK(o2.session_id == o1.session_id);
  CHECK(o2.verdict == "fail");
  CHECK(o2.block.summary == "second look");
  seen = s.requests("gemini");
  REQUIRE(seen.size() == 2);
  const std::string resumed = body_text(seen[1]);
  CHECK(contains(resumed, "Review task t-1: read README.md"));
  CHECK(contains(resumed, "first look"));
  CHECK(contains(resumed, "Review task t-1 once more"));
  check_usage(o2.usage, served(seen, 1, 2));
}

TEST_CASE("cli engine: gemini resumed in another folder starts a new session") {
  Setup s(Replies{}, json{{"text", "Fine.\n" + agency_block("pass", "looked")}});
  auto engine = engine_for(gemini_config(s));
  auto r1 = run(*engine, turn_for(s, "Review task t-1"));
  INFO(why(r1));
  REQUIRE(r1.result.ok());
  REQUIRE_FALSE(r1.result->session_id.empty());

  // gemini keeps sessions per folder: elsewhere it cannot find this one.
  Turn elsewhere = turn_for(s, "Review task t-2", r1.result->session_id);
  elsewhere.workdir = s.dir.path() / "other";
  fs::create_directories(elsewhere.workdir);
  auto r2 = run(*engine, elsewhere);
  INFO(why(r2));
  REQUIRE(r2.result.ok());
  CHECK(r2.result->verdict == "pass");
  CHECK_FALSE(r2.result->session_id.empty());
  CHECK(r2.result->session_id != r1.result->session_id);
  CHECK(contains(notes_of(r2), "not found in this folder, starting a new one"));
  auto seen = s.requests("gemini");
  REQUIRE(seen.size() == 2);
  CHECK_FALSE(contains(body_text(seen[1]), "Review task t-1"));
}

TEST_CASE("cli engine: gemini writes a file in auto_edit through its write_file tool") {
  Setup s(Replies{
      {{"tool_use", tool_call("write_file", {{"file_path", "{cwd}/GREETING.md"},
                                             {"content", "hello from gemini\n"}})},
       {"usage", usage_of(900, 30, 0, 0)}},
      {{"text", "Wrote GREETING.md.\n" + agency_block("pass", "wrote it")},
       {"usage", usage_of(120, 15, 0, 930)}},
  });
  auto config = gemini_config(s);
  config.permission_mode = "auto_edit";
  auto engine = engine_for(config);
  auto r = run(*engine, turn_for(s, "Say hello in GREETING.md"));
  INFO(why(r));
  REQUIRE(r.result.ok());
  CHECK(r.result->verdict == "pass");
  CHECK(r.result->block.summary == "wrote it");
  CHECK(r.result->denials.empty());
  CHECK(read_file(s.work / "GREETING.md") == "hello from gemini\n");
  CHECK(contains(notes_of(r), "write_file"));
  auto seen = s.requests("gemini");
  REQUIRE(seen.size() == 2);
  CHECK(contains(body_text(seen[1]), "functionResponse"));
  check_usage(r.result->usage, served(seen, 0, 2));
}

TEST_CASE("cli engine: gemini daily quota is a refusal, not an error") {
  // gemini gives up at once on a quota that does not reset soon.
  const json quota_failure = {
      {"@type", "type.googleapis.com/google.rpc.QuotaFailure"},
      {"violations",
       json::array(
           {json{{"quotaMetric", "generativelanguage.googleapis.com/generate_content_requests"},
                 {"quotaId", "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}}})}};
  const json retry_info = {{"@type", "type.googleapis.com/google.rpc.RetryInfo"},
                           {"retryDelay", "5h20m"}};
  Setup s(
      Replies{json{{"status", 429},
                   {"error",
                    {{"message", "You exceeded your current quota, please check your plan (test)."},
                     {"details", json::array({quota_failure, retry_info})}}}}});
  auto engine = engine_for(gemini_config(s));

  auto r = run(*engine, turn_for(s, "Review task t-1"));
  INFO(why(r));
  REQUIRE(r.result.ok());
  REQUIRE(r.result->rate_limit.has_value());
  CHECK(contains(r.result->rate_limit->detail, "quota"));
  // gemini's message does not say when: rate_limit_wait.
  CHECK(std::abs(off_by(r.result->rate_limit->resets_at, 120s)) < 10);
  REQUIRE(r.result->limits.size() == 1);
  CHECK(r.result->limits[0].status == "rejected");
  CHECK(r.result->limits[0].resets_at == r.result->rate_limit->resets_at);
  CHECK(r.took < 20s);
  CHECK(s.requests("gemini").size() == 1);
}

TEST_CASE("cli engine: gemini waiting out a limit at its timeout is a refusal") {
  // A short limit gemini waits out itself (the API's delay, at least 5 s):
  // it is still waiting when the call's time is up.
  Setup s(Replies{
      json{{"status", 429},
           {"error",
            {{"message", "Resource has been exhausted (e.g. check quota). (test)"},
             {"details", json::array({json{{"@type", "type.googleapis.com/google.rpc.RetryInfo"},
                                           {"retryDelay", "50s"}}})}}}}});
  auto config = gemini_config(s);
  config.timeout = 15s;  // gemini starts in 3 s; more on a busy machine
  auto engine = engine_for(config);

  auto r = run(*engine, turn_for(s, "Review task t-1"));
  INFO(why(r));
  REQUIRE(r.result.ok());
  REQUIRE(r.result->rate_limit.has_value());
  CHECK(contains(r.result->rate_limit->detail, "Resource has been exhausted"));
  // Until the delay gemini was told (counted from the end of the call).
  const double off = off_by(r.result->rate_limit->resets_at, 50s);
  CHECK(off > -15);
  CHECK(off < 5);
  CHECK(contains(notes_of(r), "gemini retries: Resource has been exhausted"));
  CHECK(r.took < 20s);
  CHECK(s.requests("gemini").size() == 1);
}

TEST_CASE("cli engine: gemini on a failing server ends with a clear error") {
  Setup s(Replies{
      {{"status", 500}, {"error", {{"message", "boom (test)"}}}},
      {{"body", "{this is not json"}},
      {{"body", "data: {this is not json\r\n\r\n"},
       {"headers", {{"content-type", "text/event-stream"}}}},
  });
  // One attempt per request (gemini backs off 5xx for minutes).
  auto engine = engine_for(gemini_config(s, {{"general", {{"maxAttempts", 1}}}}));

  auto r1 = run(*engine, turn_for(s, "Review task t-1"));
  INFO(why(r1));
  REQUIRE_FALSE(r1.result.ok());
  CHECK(contains(r1.result.error().message, "gemini reported an error"));
  CHECK(contains(r1.result.error().message, "500"));
  CHECK(contains(r1.result.error().message, "boom (test)"));
  CHECK(r1.took < 20s);

  for (int i = 0; i < 2; ++i) {
    CAPTURE(i);
    auto r = run(*engine, turn_for(s, "Review task t-1"));
    INFO(why(r));
    REQUIRE_FALSE(r.result.ok());
    CHECK(contains(r.result.error().message, "gemini reported an error"));
    CHECK(contains(r.result.error().message, "JSON"));
  }
  CHECK(s.requests("gemini").size() == 3);
}

TEST_CASE("cli engine: gemini still retrying 500s at its timeout says what failed") {
  Setup s(Replies{}, json{{"status", 500}, {"error", {{"message", "boom (test)"}}}});
  auto config = gemini_config(s);
  config.timeout = 15s;
  auto engine = engine_for(config);
  auto r = run(*engine, turn_for(s, "Review task t-1"));
  INFO(why(r));
  REQUIRE_FALSE(r.result.ok());
  CHECK(r.result.error().code == errc::timeout);
  CHECK(contains(r.result.error().message, "while retrying a failed request"));
  CHECK(contains(r.result.error().message, "500"));
  CHECK(r.took < 20s);
  CHECK_FALSE(s.requests("gemini").empty());
}

}  // namespace
}  // namespace agency
