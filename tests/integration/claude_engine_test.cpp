// The claude engine with the REAL Claude Code CLI (installed from the npm
// registry by scripts/install-deps.sh) talking to a scripted Messages-API
// server on loopback (tests/support/model_server.js): the builder writes a
// file through Claude Code's Write tool, its commit lands on the task's
// branch, the agent's next task resumes the same session, usage samples
// equal what the server reported, and a 429 makes the agent wait instead
// of failing the brief.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agency/v1/dead.pb.h"
#include "agency/v1/fleet.pb.h"
#include "agency/v1/usage.pb.h"
#include "bus/consumer.hpp"
#include "runtime/engine.hpp"
#include "tests/support/model_server.hpp"
#include "tests/support/pipeline.hpp"
#include "tests/support/temp_dir.hpp"

namespace agency {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

std::string claude_cli() {
  std::filesystem::path cli =
      std::filesystem::path(AGENCY_SOURCE_DIR) / "tests/e2e/node_modules/.bin/claude";
  REQUIRE_MESSAGE(std::filesystem::exists(cli),
                  "Claude Code is not installed: run scripts/install-deps.sh");
  return cli.string();
}

std::string agency_block(const std::string& summary) {
  return "Done.\n\n```agency\nverdict: pass\nsummary: " + summary + "\n```\n";
}

// One builder assignment as the model plays it: write the file, then say so.
std::vector<json> write_then_pass(const std::string& file, const std::string& content) {
  return {
      {{"tool_use",
        json::array({{{"name", "Write"},
                      {"input", {{"file_path", "{cwd}/" + file}, {"content", content}}}}})},
       {"usage",
        {{"input_tokens", 1200},
         {"output_tokens", 40},
         {"cache_creation_input_tokens", 300},
         {"cache_read_input_tokens", 0}}}},
      {{"text", agency_block("wrote " + file)},
       {"usage",
        {{"input_tokens", 150},
         {"output_tokens", 25},
         {"cache_creation_input_tokens", 0},
         {"cache_read_input_tokens", 1300}}}},
  };
}

// Roles block of agency.yaml: the builder on Claude Code, the other roles
// scripted.
std::string roles_yaml(const std::string& cli) {
  std::string scripted = "    engine: scripted\n    scenario: scenario.yaml\n";
  return "  planner:\n" + scripted +
         "  builder:\n"
         "    engine: claude\n"
         "    cli: " +
         cli +
         "\n"
         "    timeout_seconds: 120\n"
         "    rate_limit_wait_seconds: 2\n"
         "  adversary:\n" +
         scripted + "  reviewer:\n" + scripted;
}

const char* kScenario = R"(planner:
  - spec: "Write GREETING.md"
adversary:
  - verdict: pass
reviewer:
  - verdict: pass
)";

// The usage samples of the claude engine, in the order they were stored.
std::vector<v1::UsageSample> claude_samples(Connection& c, std::size_t want) {
  std::vector<v1::UsageSample> out;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    out.clear();
    auto got = replay(c, std::string(subjects::kUsageStream), "agency.usage.claude.builder", 100);
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

// Sums what the server reported over the Messages requests n in [from, to].
struct Reported {
  std::int64_t input = 0, output = 0, cache_write = 0, cache_read = 0;
};
Reported reported(const std::vector<json>& requests, int from, int to) {
  Reported r;
  for (const auto& q : requests) {
    if (q.value("kind", "") != "anthropic" || !q.contains("usage")) continue;
    int n = q.at("n").get<int>();
    if (n < from || n > to) continue;
    r.input += q["usage"]["input_tokens"].get<std::int64_t>();
    r.output += q["usage"]["output_tokens"].get<std::int64_t>();
    r.cache_write += q["usage"]["cache_creation_input_tokens"].get<std::int64_t>();
    r.cache_read += q["usage"]["cache_read_input_tokens"].get<std::int64_t>();
  }
  return r;
}

std::vector<json> messages_requests(const std::vector<json>& requests) {
  std::vector<json> out;
  for (const auto& q : requests) {
    if (q.value("kind", "") == "anthropic") out.push_back(q);
  }
  return out;
}

TEST_CASE("claude engine: the builder writes through Claude Code, commits, resumes its session") {
  const std::string cli = claude_cli();
  test::TempDir scratch;
  std::vector<json> replies = write_then_pass("GREETING.md", "hello from claude\n");
  for (auto& r : write_then_pass("GREETING.md", "hello again\n")) replies.push_back(r);
  test::ModelServer server(scratch.path() / "model", {{"replies", replies}});
  test::Pipeline p(kScenario, roles_yaml(cli));
  // As a user with an API key would run it; Claude Code's own files go to a
  // home of the test's.
  p.set_agent_env({{"ANTHROPIC_BASE_URL", server.url()},
                   {"ANTHROPIC_API_KEY", "test-key-not-secret"},
                   {"HOME", (scratch.path() / "home").string()}});
  // Every heartbeat of the builder, to see Claude Code's progress in them.
  std::mutex seen_mu;
  std::vector<std::string> progress_seen;
  auto heartbeats = p.connection().subscribe("$KV.agency-fleet.builder-1", "", [&](Incoming m) {
    auto status = codec::decode<v1::AgentStatus>(m.data(), m.headers());
    if (!status) return;
    std::lock_guard lock(seen_mu);
    progress_seen.push_back(status->last_progress());
  });
  REQUIRE(heartbeats.ok());
  p.start_fleet();

  // First task: Claude Code writes GREETING.md; the builder commits it.
  p.plain_publish("agency.brief.planner", "Say hello in GREETING.md");
  auto first = p.task_with_objective("Say hello in GREETING.md");
  REQUIRE_FALSE(first.empty());
  auto done = p.wait_for_stage(first, "done", 90s);
  INFO("builder log: " << p.agent("builder-1").err());
  REQUIRE(done.has_value());
  auto commits = p.branch_commits(first);
  REQUIRE(commits.size() == 1);
  auto shown = git::run({"git", "show", git::branch_for(first) + ":GREETING.md"}, p.repo());
  CHECK(shown.exit_code == 0);
  CHECK(shown.output == "hello from claude\n");

  // Second task: the same agent resumes the same Claude session.
  p.plain_publish("agency.brief.planner", "Say hello once more");
  auto second = p.task_with_objective("Say hello once more");
  REQUIRE_FALSE(second.empty());
  REQUIRE(p.wait_for_stage(second, "done", 90s).has_value());

  auto requests = messages_requests(server.requests());
  REQUIRE(requests.size() == 4);
  // The third request (the second task's first) carries the first task's
  // conversation: its prompt, the Write call and the answer.
  const std::string third = requests[2]["body"]["messages"].dump();
  CHECK(requests[2]["body"]["messages"].size() > requests[0]["body"]["messages"].size());
  CHECK(third.find("Say hello in GREETING.md") != std::string::npos);
  CHECK(third.find("hello from claude") != std::string::npos);

  auto samples = claude_samples(p.connection(), 2);
  REQUIRE(samples.size() == 2);
  // The second call worked on a fork of the first one's session (carrying
  // its conversation, above), and the agent keeps the fork.
  CHECK(samples[0].session_id() != samples[1].session_id());
  CHECK_FALSE(samples[0].session_id().empty());
  auto memory = KeyValue::open(p.connection(), subjects::kMemoryBucket);
  REQUIRE(memory.ok());
  auto stored = memory->get("session.builder-1");
  REQUIRE(stored.ok());
  CHECK(stored->value == samples[1].session_id());

  // Usage samples equal what the server reported, call by call (requests
  // 1-2 were the first task's, 3-4 the second's).
  const std::vector<std::pair<int, int>> calls = {
      {requests[0]["n"].get<int>(), requests[1]["n"].get<int>()},
      {requests[2]["n"].get<int>(), requests[3]["n"].get<int>()}};
  for (std::size_t i = 0; i < 2; ++i) {
    CAPTURE(i);
    auto want = reported(requests, calls[i].first, calls[i].second);
    CHECK(samples[i].input_tokens() == want.input);
    CHECK(samples[i].output_tokens() == want.output);
    CHECK(samples[i].cache_creation_tokens() == want.cache_write);
    CHECK(samples[i].cache_read_tokens() == want.cache_read);
    CHECK(samples[i].engine() == "claude");
    CHECK(samples[i].agent_id() == "builder-1");
    CHECK(samples[i].started_by_agency());
    CHECK(samples[i].cost_usd() > 0);
    // What the auditor reads of the session (usage.proto): the last
    // request's context, nothing refused, retried or failed.
    const auto& last = requests[static_cast<std::size_t>(2 * i + 1)];
    CAPTURE(last.dump());
    CHECK(samples[i].context_tokens() > 0);
    CHECK(samples[i].context_tokens() <= want.input + want.cache_write + want.cache_read);
    CHECK(samples[i].denials() == 0);
    CHECK(samples[i].retries() == 0);
    CHECK(samples[i].error().empty());
  }
  CHECK(samples[0].task_id() == first);
  CHECK(samples[1].task_id() == second);

  // Claude Code's stream became the agent's progress, carried by heartbeats.
  std::lock_guard lock(seen_mu);
  const bool saw_stream =
      std::any_of(progress_seen.begin(), progress_seen.end(), [](const std::string& line) {
        return line.rfind("Write ", 0) == 0 || line.rfind("claude session ", 0) == 0 ||
               line.rfind("Done.", 0) == 0;
      });
  CAPTURE(progress_seen.size());
  CHECK(saw_stream);
}

TEST_CASE("claude engine: 429s put the builder in rate-limited and the task still completes") {
  const std::string cli = claude_cli();
  test::TempDir scratch;
  // With a retry-after, as the API sends it: Claude Code announces that
  // pause and the agent waits it. (Claude Code's own half-second backoff is
  // about as long as it takes to stop after SIGTERM, so without one it may
  // send a second request before it ends.)
  const json refused = {{"status", 429},
                        {"headers", {{"retry-after", "2"}}},
                        {"error", {{"type", "rate_limit_error"}, {"message", "slow down (test)"}}}};
  // Three refusals in a row: more than pipeline.max_deliver (2), so the
  // brief would be dead-lettered if a rate limit counted as a failure.
  std::vector<json> replies = {refused, refused, refused};
  for (auto& r : write_then_pass("GREETING.md", "hello after the limit\n")) replies.push_back(r);
  test::ModelServer server(scratch.path() / "model", {{"replies", replies}});
  test::Pipeline p(kScenario, roles_yaml(cli));
  // As a user with an API key would run it; Claude Code's own files go to a
  // home of the test's.
  p.set_agent_env({{"ANTHROPIC_BASE_URL", server.url()},
                   {"ANTHROPIC_API_KEY", "test-key-not-secret"},
                   {"HOME", (scratch.path() / "home").string()}});
  p.start_fleet();

  p.plain_publish("agency.brief.planner", "Say hello despite limits");
  auto task_id = p.task_with_objective("Say hello despite limits");
  REQUIRE_FALSE(task_id.empty());
  INFO("builder log: " << p.agent("builder-1").err());
  CHECK(p.wait_for_agent_state("builder-1", "rate-limited", 60s));
  auto done = p.wait_for_stage(task_id, "done", 90s);
  REQUIRE(done.has_value());
  auto shown = git::run({"git", "show", git::branch_for(task_id) + ":GREETING.md"}, p.repo());
  CHECK(shown.output == "hello after the limit\n");

  auto requests = messages_requests(server.requests());
  REQUIRE(requests.size() == 5);
  for (int i = 0; i < 3; ++i) CHECK(requests[static_cast<std::size_t>(i)]["status"] == 429);
  // The refusals left nothing behind: the call that went through asked
  // with the brief once, as the first refused one did, not four times.
  CHECK(requests[3]["body"]["messages"].size() == requests[0]["body"]["messages"].size());

  // Nothing was dead-lettered, and the refusals were published as limit
  // readings for the accountant.
  auto dead = replay(p.connection(), std::string(subjects::kDeadStream), "agency.dead.>", 100);
  REQUIRE(dead.ok());
  CHECK(dead->empty());
  auto readings = replay(p.connection(), std::string(subjects::kUsageStream),
                         "agency.usage.limits.claude", 100);
  REQUIRE(readings.ok());
  REQUIRE(readings->size() == 3);
  auto reading = codec::decode<v1::LimitReading>((*readings)[0].data(), (*readings)[0].headers());
  REQUIRE(reading.ok());
  CHECK(reading->status() == "rejected");
  CHECK(reading->agent_id() == "builder-1");
  CHECK(reading->has_resets_at());

  // Each refused call is a usage sample whose error says so (the auditor
  // counts them per session); the call that answered has none.
  auto samples = claude_samples(p.connection(), 4);
  REQUIRE(samples.size() == 4);
  for (int i = 0; i < 3; ++i) {
    CHECK(samples[static_cast<std::size_t>(i)].error().starts_with("rate limited: "));
  }
  CHECK(samples[3].error().empty());
}

// The engine alone, without the fleet: one turn in a scratch directory.
struct Direct {
  test::TempDir dir;
  std::unique_ptr<Engine> engine;
  Turn turn;

  Direct(const std::string& url, const std::string& permission_mode = {}) {
    EngineConfig config;
    config.kind = "claude";
    config.cli = claude_cli();
    config.permission_mode = permission_mode;
    config.timeout = 60s;
    config.rate_limit_wait = 42s;
    auto made = make_engine(config);
    REQUIRE(made.ok());
    engine = std::move(*made);
    std::filesystem::create_directories(dir.path() / "work");
    turn.agent_id = "reviewer-1";
    turn.role = "reviewer";
    turn.prompt = "Review the work.";
    turn.workdir = dir.path() / "work";
    // No retries of Claude Code's own, so its answer to an error comes at once.
    turn.env = {{"ANTHROPIC_BASE_URL", url},
                {"ANTHROPIC_API_KEY", "test-key-not-secret"},
                {"CLAUDE_CODE_MAX_RETRIES", "0"},
                {"HOME", (dir.path() / "home").string()}};
  }

  Result<Outcome> run() {
    std::atomic<bool> cancel{false};
    return engine->run(turn, {}, cancel);
  }
};

TEST_CASE("claude engine: usage limit reached with an epoch is a refusal until that time") {
  test::TempDir scratch;
  const std::int64_t reset = 1'900'000'000;
  test::ModelServer server(
      scratch.path(),
      {{"replies",
        {{{"status", 429},
          {"error",
           {{"type", "rate_limit_error"},
            {"message", "Claude AI usage limit reached|" + std::to_string(reset)}}}}}}});
  Direct d(server.url());
  auto out = d.run();
  REQUIRE_MESSAGE(out.ok(), (out ? "" : out.error().message));
  REQUIRE(out->rate_limit.has_value());
  CHECK(std::chrono::duration_cast<std::chrono::seconds>(
            out->rate_limit->resets_at.time_since_epoch())
            .count() == reset);
  REQUIRE_FALSE(out->limits.empty());
  CHECK(out->limits.back().status == "rejected");
}

TEST_CASE("claude engine: a plain 429 waits the configured time and a 500 is an error") {
  test::TempDir scratch;
  test::ModelServer server(
      scratch.path(),
      {{"replies",
        {{{"status", 429}},
         {{"status", 500}, {"error", {{"type", "api_error"}, {"message", "boom"}}}}}}});
  Direct d(server.url());
  const auto before = std::chrono::system_clock::now();
  auto limited = d.run();
  REQUIRE(limited.ok());
  REQUIRE(limited->rate_limit.has_value());
  CHECK(limited->rate_limit->resets_at >= before + 42s);
  CHECK(limited->rate_limit->resets_at < before + 60s);

  auto failed = d.run();
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().message.find("500") != std::string::npos);
}

TEST_CASE("claude engine: a 500 Claude Code retries is counted as a retry of the call") {
  test::TempDir scratch;
  test::ModelServer server(
      scratch.path(),
      {{"replies", {{{"status", 500}, {"error", {{"type", "api_error"}, {"message", "boom"}}}}}},
       {"default", {{"text", agency_block("looked")}}}});
  Direct d(server.url());
  d.turn.env["CLAUDE_CODE_MAX_RETRIES"] = "1";
  auto out = d.run();
  REQUIRE_MESSAGE(out.ok(), (out ? "" : out.error().message));
  CHECK(out->verdict == "pass");
  CHECK(out->retries == 1);
  CHECK(out->context_tokens > 0);
  CHECK(out->denials.empty());
}

TEST_CASE("claude engine: a lost session is replaced by a new one in the same turn") {
  test::TempDir scratch;
  test::ModelServer server(scratch.path(), {{"default", {{"text", agency_block("looked")}}}});
  Direct d(server.url());
  d.turn.session_id = "6e1d7a8e-0000-4000-8000-000000000000";
  auto out = d.run();
  REQUIRE_MESSAGE(out.ok(), (out ? "" : out.error().message));
  CHECK(out->verdict == "pass");
  CHECK_FALSE(out->session_id.empty());
  CHECK(out->session_id != d.turn.session_id);
}

TEST_CASE("claude engine: a read-only role is refused a write, and the refusal is reported") {
  test::TempDir scratch;
  std::vector<json> replies = write_then_pass("NOTES.md", "should not exist\n");
  test::ModelServer server(scratch.path(), {{"replies", replies}});
  Direct d(server.url());  // no permission mode: Claude Code's headless default
  auto out = d.run();
  REQUIRE_MESSAGE(out.ok(), (out ? "" : out.error().message));
  CHECK_FALSE(std::filesystem::exists(d.turn.workdir / "NOTES.md"));
  REQUIRE(out->denials.size() == 1);
  CHECK(out->denials[0].find("Write") == 0);
  CHECK(out->denials[0].find("NOTES.md") != std::string::npos);
}

// How many times `text` occurs in what a request sent as its messages.
std::size_t occurrences(const json& request, const std::string& text) {
  const std::string sent = request["body"]["messages"].dump();
  std::size_t n = 0;
  for (auto at = sent.find(text); at != std::string::npos; at = sent.find(text, at + 1)) ++n;
  return n;
}

TEST_CASE("claude engine: a refused call leaves the session it resumed as it was") {
  test::TempDir scratch;
  const json refused = {{"status", 429},
                        {"error", {{"type", "rate_limit_error"}, {"message", "slow down (test)"}}}};
  test::ModelServer server(
      scratch.path(),
      {{"replies",
        {{{"text", agency_block("first")}}, refused, {{"text", agency_block("third")}}}}});
  Direct d(server.url());
  d.turn.prompt = "FIRST-PROMPT: look at the work.";
  auto first = d.run();
  REQUIRE_MESSAGE(first.ok(), (first ? "" : first.error().message));
  REQUIRE_FALSE(first->session_id.empty());

  d.turn.session_id = first->session_id;
  d.turn.prompt = "REFUSED-PROMPT: look again.";
  auto limited = d.run();
  REQUIRE_MESSAGE(limited.ok(), (limited ? "" : limited.error().message));
  REQUIRE(limited->rate_limit.has_value());
  // The session to go on with is the one the refused call started from.
  CHECK(limited->session_id == first->session_id);

  // As the agent does: the next call resumes the session the outcome named.
  d.turn.session_id = limited->session_id;
  d.turn.prompt = "RETRIED-PROMPT: look once more.";
  auto retried = d.run();
  REQUIRE_MESSAGE(retried.ok(), (retried ? "" : retried.error().message));
  CHECK(retried->verdict == "pass");

  auto requests = messages_requests(server.requests());
  REQUIRE(requests.size() == 3);
  const json& last = requests[2];
  CHECK(last["status"] == 200);
  CHECK(occurrences(last, "FIRST-PROMPT") == 1);
  CHECK(occurrences(last, "RETRIED-PROMPT") == 1);
  CHECK(occurrences(last, "REFUSED-PROMPT") == 0);
  // The same conversation as the refused request had: the first exchange
  // and one new prompt.
  CHECK(last["body"]["messages"].size() == requests[1]["body"]["messages"].size());
  CHECK(retried->usage.input_tokens == last["usage"]["input_tokens"].get<std::int64_t>());
}

TEST_CASE("claude engine: a 429 waits the pause Claude Code announced, not the setting") {
  test::TempDir scratch;
  test::ModelServer server(
      scratch.path(),
      {{"replies",
        {{{"status", 429},
          {"headers", {{"retry-after", "7"}}},
          {"error", {{"type", "rate_limit_error"}, {"message", "slow down (test)"}}}}}}});
  Direct d(server.url());
  // Claude Code's own retries on: its first retry of the 429 announces the
  // server's retry-after.
  d.turn.env.erase("CLAUDE_CODE_MAX_RETRIES");
  const auto before = std::chrono::system_clock::now();
  auto limited = d.run();
  REQUIRE_MESSAGE(limited.ok(), (limited ? "" : limited.error().message));
  REQUIRE(limited->rate_limit.has_value());
  CAPTURE(limited->rate_limit->detail);
  CHECK(limited->rate_limit->resets_at >= before + 7s);
  CHECK(limited->rate_limit->resets_at < before + 20s);  // the setting is 42 s
}

TEST_CASE("claude engine: without a retry-after, refusals in a row wait 1 s, then 2 s") {
  test::TempDir scratch;
  test::ModelServer server(
      scratch.path(),
      {{"default",
        {{"status", 429},
         {"error", {{"type", "rate_limit_error"}, {"message", "slow down (test)"}}}}}});
  Direct d(server.url());
  // Claude Code's own retries on: its first pause is its own half second.
  d.turn.env.erase("CLAUDE_CODE_MAX_RETRIES");
  for (const auto floor : {1s, 2s}) {
    CAPTURE(floor.count());
    const auto before = std::chrono::system_clock::now();
    auto limited = d.run();
    const auto after = std::chrono::system_clock::now();
    REQUIRE_MESSAGE(limited.ok(), (limited ? "" : limited.error().message));
    REQUIRE(limited->rate_limit.has_value());
    CAPTURE(limited->rate_limit->detail);
    CHECK(limited->rate_limit->resets_at >= before + floor);
    CHECK(limited->rate_limit->resets_at <= after + floor);
  }
}

TEST_CASE("claude engine: the planner answers with sub-tasks, and the brief becomes their epic") {
  const std::string cli = claude_cli();
  test::TempDir scratch;
  const std::string answer =
      "The brief has two parts; the second needs the first.\n\n"
      "```agency\n"
      "verdict: pass\n"
      "summary: two parts\n"
      "tasks:\n"
      "  - title: Write the greeting\n"
      "    spec: |\n"
      "      Add GREETING.md saying hello.\n"
      "  - title: Link the greeting\n"
      "    spec: |\n"
      "      Link GREETING.md from README.md.\n"
      "    depends_on: [Write the greeting]\n"
      "```\n";
  test::ModelServer server(scratch.path() / "model",
                           {{"replies", json::array({{{"text", answer},
                                                      {"usage",
                                                       {{"input_tokens", 900},
                                                        {"output_tokens", 120},
                                                        {"cache_creation_input_tokens", 0},
                                                        {"cache_read_input_tokens", 0}}}}})}});
  const std::string scripted = "    engine: scripted\n    scenario: scenario.yaml\n";
  test::Pipeline p(R"(builder:
  - write: {path: GREETING.md, content: "hello from {task_id}\n"}
adversary:
  - verdict: pass
reviewer:
  - verdict: pass
)",
                   "  planner:\n    engine: claude\n    cli: " + cli +
                       "\n    timeout_seconds: 120\n  builder:\n" + scripted + "  adversary:\n" +
                       scripted + "  reviewer:\n" + scripted);
  p.set_agent_env({{"ANTHROPIC_BASE_URL", server.url()},
                   {"ANTHROPIC_API_KEY", "test-key-not-secret"},
                   {"HOME", (scratch.path() / "home").string()}});
  p.start_fleet();
  p.plain_publish("agency.brief.planner", "Greet, then link the greeting");
  const auto epic_id = p.task_with_objective("Greet, then link the greeting");
  REQUIRE_FALSE(epic_id.empty());
  auto epic = p.wait_for_stage(epic_id, "done", 90s);
  INFO("planner log: " << p.agent("planner-1").err());
  REQUIRE(epic.has_value());
  REQUIRE(epic->children_size() == 2);
  auto store = TaskStore::open(p.connection());
  REQUIRE(store.ok());
  auto first = store->load(epic_id + "-1");
  auto second = store->load(epic_id + "-2");
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(first->task.title() == "Write the greeting");
  CHECK(first->task.spec() == "Add GREETING.md saying hello.\n");
  CHECK(second->task.spec() == "Link GREETING.md from README.md.\n");
  REQUIRE(second->task.depends_on_size() == 1);
  CHECK(second->task.depends_on(0) == epic_id + "-1");
  CHECK(second->task.stage() == "done");
  // The model's answer was asked once, by the planner.
  CHECK(messages_requests(server.requests()).size() == 1);
}

}  // namespace
}  // namespace agency
