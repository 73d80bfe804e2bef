// Several accounts, as a person with two Claude subscriptions and a Codex
// plan runs them (docs/ACCOUNTS.md): the REAL Claude Code CLI with one
// config dir per account (each dir's settings.json names its own API key,
// so the scripted model server, tests/support/model_server.js, answers each
// account from a queue of its own) and the REAL Codex CLI with a CODEX_HOME
// of its own. The accountant routes each call; a 429 on one account sends
// the same brief to the next at once, with a hand-over and a "switched"
// event; the first account is used again after its reset; a cap of one call
// on an account holds across two builders.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agency/v1/usage.pb.h"
#include "bus/clock.hpp"
#include "bus/consumer.hpp"
#include "tests/support/model_server.hpp"
#include "tests/support/pipeline.hpp"
#include "tests/support/temp_dir.hpp"

namespace agency {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

std::string node_cli(const char* name) {
  const fs::path cli = fs::path(AGENCY_SOURCE_DIR) / "tests/e2e/node_modules/.bin" / name;
  REQUIRE_MESSAGE(fs::exists(cli), name << " is not installed: run scripts/install-deps.sh");
  return cli.string();
}

std::string agency_block(const std::string& summary) {
  return "Done.\n\n```agency\nverdict: pass\nsummary: " + summary + "\n```\n";
}

// One builder assignment through Claude Code: write the file, then say so.
std::vector<json> claude_writes(const std::string& content, int delay_ms = 0) {
  json write = {
      {"tool_use",
       json::array({{{"name", "Write"},
                     {"input", {{"file_path", "{cwd}/GREETING.md"}, {"content", content}}}}})}};
  json pass = {{"text", agency_block("wrote GREETING.md")}};
  if (delay_ms > 0) {
    write["delay_ms"] = delay_ms;
    pass["delay_ms"] = delay_ms;
  }
  return {write, pass};
}

// The same through Codex's shell tool.
std::vector<json> codex_writes(const std::string& content) {
  return {{{"tool_use",
            json::array({{{"name", "exec_command"},
                          {"input", {{"cmd", "printf '" + content + "\\n' > GREETING.md"}}}}})}},
          {{"text", agency_block("wrote GREETING.md")}}};
}

// A refusal as the API sends it, with the pause it asks for.
json refused(int retry_after_seconds) {
  return {{"status", 429},
          {"headers", {{"retry-after", std::to_string(retry_after_seconds)}}},
          {"error", {{"type", "rate_limit_error"}, {"message", "slow down (test)"}}}};
}

// A Claude Code config dir whose logins is the API key `key`.
fs::path claude_account(const fs::path& dir, const std::string& key) {
  fs::create_directories(dir);
  std::ofstream(dir / "settings.json") << json{{"apiKeyHelper", "echo " + key}}.dump();
  return dir;
}

// A CODEX_HOME whose provider is the scripted server, its key in
// OPENAI_API_KEY.
fs::path codex_account(const fs::path& dir, const std::string& url) {
  fs::create_directories(dir);
  std::ofstream(dir / "config.toml") << "model_provider = \"scripted\"\n"
                                        "[model_providers.scripted]\n"
                                        "name = \"scripted\"\n"
                                        "base_url = \""
                                     << url
                                     << "/v1\"\n"
                                        "wire_api = \"responses\"\n"
                                        "env_key = \"OPENAI_API_KEY\"\n";
  return dir;
}

const char* kScenario = R"(planner:
  - spec: "Write GREETING.md"
adversary:
  - verdict: pass
reviewer:
  - verdict: pass
)";

std::string scripted_roles() {
  std::string scripted = "    engine: scripted\n    scenario: scenario.yaml\n";
  return "  planner:\n" + scripted + "  adversary:\n" + scripted + "  reviewer:\n" + scripted;
}

// The builder's usage samples, in the order they were stored (any engine).
std::vector<v1::UsageSample> builder_samples(Connection& c, std::size_t want) {
  std::vector<v1::UsageSample> out;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    out.clear();
    auto got = replay(c, std::string(subjects::kUsageStream), "agency.usage.*.builder", 100);
    REQUIRE(got.ok());
    for (const auto& m : *got) {
      auto s = codec::decode<v1::UsageSample>(m.data(), m.headers());
      REQUIRE(s.ok());
      out.push_back(*s);
    }
    if (out.size() >= want) break;
    std::this_thread::sleep_for(50ms);  // polling a stream, with a deadline
  }
  return out;
}

std::vector<json> requests_with(const test::ModelServer& server, const std::string& key) {
  std::vector<json> out;
  for (const auto& q : server.requests()) {
    if (q.value("key", "") == key && q.value("kind", "") != "other") out.push_back(q);
  }
  return out;
}

std::vector<v1::TaskEvent> switches(test::Pipeline& p, const std::string& task_id) {
  std::vector<v1::TaskEvent> out;
  for (const auto& e : p.events(task_id)) {
    if (e.kind() == "switched") out.push_back(e);
  }
  return out;
}

TEST_CASE("accounts: a 429 on the first Claude account sends the builder to the second at once") {
  const std::string cli = node_cli("claude");
  test::TempDir scratch;
  std::vector<json> first = {refused(4)};
  for (auto& r : claude_writes("hello again on max-1\n")) first.push_back(r);
  json script = {{"keys",
                  {{"key-max", {{"replies", first}}},
                   {"key-pro", {{"replies", claude_writes("hello from pro-2\n")}}}}}};
  test::ModelServer server(scratch.path() / "model", script);
  const auto max_dir = claude_account(scratch.path() / "claude-max", "key-max");
  const auto pro_dir = claude_account(scratch.path() / "claude-pro", "key-pro");
  test::Pipeline p(kScenario,
                   scripted_roles() +
                       "  builder:\n"
                       "    cli: " +
                       cli +
                       "\n    timeout_seconds: 120\n"
                       "    engines: [claude/max-1, claude/pro-2]\n",
                   "accountant:\n  time_zone: UTC\n  accounts:\n"
                   "    - {name: max-1, plan: max20, config_dir: " +
                       max_dir.string() +
                       "}\n"
                       "    - {name: pro-2, plan: pro, config_dir: " +
                       pro_dir.string() + "}\n");
  p.set_agent_env(
      {{"ANTHROPIC_BASE_URL", server.url()}, {"HOME", (scratch.path() / "home").string()}});
  p.start("accountant", "accountant-1");
  p.wait_for_accountant();
  p.start_fleet();

  p.plain_publish("agency.brief.planner", "Say hello on whichever account has room");
  auto task_id = p.task_with_objective("Say hello on whichever account has room");
  REQUIRE_FALSE(task_id.empty());
  INFO("builder log: " << p.agent("builder-1").err());
  auto done = p.wait_for_stage(task_id, "done", 120s);
  REQUIRE(done.has_value());
  auto shown = git::run({"git", "show", git::branch_for(task_id) + ":GREETING.md"}, p.repo());
  CHECK(shown.output == "hello from pro-2\n");
  CHECK(done->account() == "claude/pro-2");

  // max-1 refused once; pro-2 did the work, in a new session told what
  // the record says.
  auto on_max = requests_with(server, "key-max");
  auto on_pro = requests_with(server, "key-pro");
  REQUIRE(on_max.size() == 1);
  CHECK(on_max[0]["status"] == 429);
  REQUIRE(on_pro.size() == 2);
  CHECK(on_pro[0]["body"].dump().find("## Hand-over") != std::string::npos);

  // No deferral: the brief went on in the same delivery, the agent never
  // waited out the limit.
  const std::string log = p.agent("builder-1").err();
  CHECK(log.find("trying the next account") != std::string::npos);
  CHECK(log.find("resume_in_ms") == std::string::npos);
  CHECK(log.find("lease deferred") == std::string::npos);
  auto moved = switches(p, task_id);
  REQUIRE(moved.size() == 1);
  CHECK(
      moved[0].reason().starts_with("from claude/max-1 to claude/pro-2: claude/max-1 "
                                    "rate-limited until "));

  // Each call's sample names its account; the refusal is a reading of max-1.
  auto samples = builder_samples(p.connection(), 2);
  REQUIRE(samples.size() == 2);
  CHECK(samples[0].account() == "claude/max-1");
  CHECK(samples[0].error().starts_with("rate limited: "));
  CHECK(samples[1].account() == "claude/pro-2");
  CHECK(samples[1].error().empty());
  auto readings = replay(p.connection(), std::string(subjects::kUsageStream),
                         "agency.usage.limits.claude", 100);
  REQUIRE(readings.ok());
  REQUIRE_FALSE(readings->empty());
  auto reading = codec::decode<v1::LimitReading>((*readings)[0].data(), (*readings)[0].headers());
  REQUIRE(reading.ok());
  CHECK(reading->account() == "claude/max-1");
  CHECK(reading->status() == "rejected");
  REQUIRE(reading->has_resets_at());

  // After max-1's reset, the next task goes to max-1 again.
  const auto reset = to_time_point(reading->resets_at());
  while (std::chrono::system_clock::now() <= reset + 200ms) {
    std::this_thread::sleep_for(100ms);  // the clock reaching the reset the server named
  }
  p.plain_publish("agency.brief.planner", "Say hello once more");
  auto second = p.task_with_objective("Say hello once more");
  REQUIRE_FALSE(second.empty());
  auto second_done = p.wait_for_stage(second, "done", 120s);
  REQUIRE(second_done.has_value());
  CHECK(second_done->account() == "claude/max-1");
  on_max = requests_with(server, "key-max");
  REQUIRE(on_max.size() == 3);
  CHECK(on_max[1]["status"] == 200);
  CHECK(switches(p, second).empty());  // a new task: nothing to hand over
  samples = builder_samples(p.connection(), 3);
  REQUIRE(samples.size() == 3);
  CHECK(samples[2].account() == "claude/max-1");
  CHECK(samples[2].task_id() == second);
}

TEST_CASE("accounts: Codex is the fallback once both Claude accounts are limited") {
  const std::string claude = node_cli("claude");
  const std::string codex = node_cli("codex");
  test::TempDir scratch;
  json script = {{"keys",
                  {{"key-max", {{"replies", json::array({refused(60)})}}},
                   {"key-pro", {{"replies", json::array({refused(60)})}}},
                   {"key-codex", {{"replies", codex_writes("hello from codex")}}}}}};
  test::ModelServer server(scratch.path() / "model", script);
  const auto max_dir = claude_account(scratch.path() / "claude-max", "key-max");
  const auto pro_dir = claude_account(scratch.path() / "claude-pro", "key-pro");
  const auto codex_dir = codex_account(scratch.path() / "codex-plus", server.url());
  test::Pipeline p(kScenario,
                   scripted_roles() +
                       "  builder:\n"
                       "    cli: " +
                       claude +
                       "\n    timeout_seconds: 120\n"
                       "    engines:\n"
                       "      - claude/max-1\n"
                       "      - claude/pro-2\n"
                       "      - {account: codex/plus, model: gpt-test, cli: " +
                       codex + ", permission_mode: workspace-write}\n",
                   "accountant:\n  time_zone: UTC\n  accounts:\n"
                   "    - {name: max-1, plan: max20, config_dir: " +
                       max_dir.string() +
                       "}\n"
                       "    - {name: pro-2, plan: pro, config_dir: " +
                       pro_dir.string() +
                       "}\n"
                       "    - {name: plus, provider: codex, plan: plus, config_dir: " +
                       codex_dir.string() + "}\n");
  p.set_agent_env({{"ANTHROPIC_BASE_URL", server.url()},
                   {"OPENAI_API_KEY", "key-codex"},
                   {"HOME", (scratch.path() / "home").string()}});
  p.start("accountant", "accountant-1");
  p.wait_for_accountant();
  p.start_fleet();

  p.plain_publish("agency.brief.planner", "Say hello wherever there is room");
  auto task_id = p.task_with_objective("Say hello wherever there is room");
  REQUIRE_FALSE(task_id.empty());
  INFO("builder log: " << p.agent("builder-1").err());
  auto done = p.wait_for_stage(task_id, "done", 120s);
  REQUIRE(done.has_value());
  auto shown = git::run({"git", "show", git::branch_for(task_id) + ":GREETING.md"}, p.repo());
  CHECK(shown.output == "hello from codex\n");
  CHECK(done->account() == "codex/plus");
  CHECK(requests_with(server, "key-max").size() == 1);
  CHECK(requests_with(server, "key-pro").size() == 1);
  CHECK(requests_with(server, "key-codex").size() == 2);

  auto moved = switches(p, task_id);
  REQUIRE(moved.size() == 2);
  CHECK(moved[0].reason().starts_with("from claude/max-1 to claude/pro-2"));
  CHECK(moved[1].reason().starts_with("from claude/pro-2 to codex/plus"));
  auto samples = builder_samples(p.connection(), 3);
  REQUIRE(samples.size() == 3);
  CHECK(samples[0].account() == "claude/max-1");
  CHECK(samples[1].account() == "claude/pro-2");
  CHECK(samples[2].account() == "codex/plus");
  CHECK(samples[2].engine() == "codex");
  CHECK(samples[2].error().empty());
}

TEST_CASE("accounts: with a cap of one call, two builders never run on the account at once") {
  const std::string cli = node_cli("claude");
  test::TempDir scratch;
  // Two assignments, each two slow answers: side by side they would overlap
  // by seconds.
  std::vector<json> replies = claude_writes("hello, one at a time\n", 1500);
  for (auto& r : claude_writes("hello, one at a time\n", 1500)) replies.push_back(r);
  json script = {{"keys", {{"key-solo", {{"replies", replies}}}}}};
  test::ModelServer server(scratch.path() / "model", script);
  const auto solo_dir = claude_account(scratch.path() / "claude-solo", "key-solo");
  test::Pipeline p(kScenario,
                   scripted_roles() +
                       "  builder:\n"
                       "    cli: " +
                       cli +
                       "\n    timeout_seconds: 120\n"
                       "    engines: [claude/solo]\n",
                   "accountant:\n  time_zone: UTC\n  accounts:\n"
                   "    - {name: solo, plan: pro, concurrency: 1, config_dir: " +
                       solo_dir.string() + "}\n");
  p.set_agent_env(
      {{"ANTHROPIC_BASE_URL", server.url()}, {"HOME", (scratch.path() / "home").string()}});
  p.start("accountant", "accountant-1");
  p.wait_for_accountant();
  for (const char* id : {"builder-1", "builder-2"}) p.start("builder", id);
  p.start("adversary", "adversary-1");
  p.start("reviewer", "reviewer-1");

  // Both builders ready, then two briefs straight to them, so both arrive
  // at once.
  REQUIRE(p.wait_for_agent_state("builder-1", "idle"));
  REQUIRE(p.wait_for_agent_state("builder-2", "idle"));
  const std::vector<std::string> ids = {"t-capped-one", "t-capped-two"};
  for (const auto& id : ids) {
    v1::Brief brief;
    brief.set_id("b-" + id);
    brief.set_task_id(id);
    brief.set_project("demo");
    brief.set_objective("Say hello, one call at a time");
    brief.set_stage("ready-for-dev");
    REQUIRE(
        p.connection().js_publish("agency.brief.builder", codec::encode(brief), brief.id()).ok());
  }
  for (const auto& id : ids) {
    INFO("builder-1: " << p.agent("builder-1").err()
                       << "\nbuilder-2: " << p.agent("builder-2").err());
    REQUIRE(p.wait_for_stage(id, "done", 120s).has_value());
  }
  auto samples = builder_samples(p.connection(), 2);
  REQUIRE(samples.size() == 2);
  std::sort(samples.begin(), samples.end(), [](const auto& a, const auto& b) {
    return to_time_point(a.at()) < to_time_point(b.at());
  });
  const auto start0 = to_time_point(samples[0].at());
  const auto start1 = to_time_point(samples[1].at());
  // Either builder may have done both (the one held back finds its brief
  // taken by the other once it is handed back): the calls never overlap,
  // and the log says the cap held one back.
  CHECK(start0 + std::chrono::milliseconds(samples[0].duration_ms()) <= start1);
  // The second builder was held back by the cap, not by anything else.
  const std::string logs = p.agent("builder-1").err() + p.agent("builder-2").err();
  CHECK(logs.find("1 calls running, its cap is 1") != std::string::npos);
}

}  // namespace
}  // namespace agency
