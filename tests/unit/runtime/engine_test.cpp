// Engines: the ```agency outcome block, the scripted engine (steps by
// attempt, files, cancel, errors, rate limits) and the command engine (a real
// child process: stdout, exit codes, stdin, environment, timeout, stderr).
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bus/codec.hpp"
#include "runtime/engine.hpp"
#include "tests/support/temp_dir.hpp"

namespace fs = std::filesystem;
using agency::Engine;
using agency::EngineConfig;
using agency::Outcome;
using agency::Turn;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

agency::OutcomeBlock parsed_block(const std::string& text) {
  auto r = agency::parse_outcome_block(text);
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.ok());
  REQUIRE(r->has_value());
  return **r;
}

std::string block_error(const std::string& text) {
  auto r = agency::parse_outcome_block(text);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == agency::errc::bad_payload);
  return r.error().message;
}

// A turn for `role` acting on `stage`, with the task's history entering the
// given stages in order.
Turn make_turn(const std::string& role, const std::string& stage,
               const std::vector<std::string>& entered, const fs::path& workdir = {}) {
  Turn t;
  t.agent_id = role + "-a1";
  t.role = role;
  t.brief.set_task_id("t-42");
  t.brief.set_stage(stage);
  t.brief.set_project("demo");
  t.brief.set_objective("Say hello to the world");
  t.task.set_id("t-42");
  t.task.set_project("demo");
  t.task.set_stage(stage);
  std::string from;
  for (const auto& to : entered) {
    auto* h = t.task.add_history();
    h->set_from(from);
    h->set_to(to);
    from = to;
  }
  t.prompt = "You are the " + role + ". Do the work.";
  t.workdir = workdir;
  return t;
}

std::unique_ptr<Engine> engine_of(const EngineConfig& config) {
  auto e = agency::make_engine(config);
  INFO((e ? std::string() : e.error().message));
  REQUIRE(e.ok());
  return std::move(*e);
}

std::unique_ptr<Engine> scripted(const fs::path& scenario = {}) {
  EngineConfig c;
  c.kind = "scripted";
  c.scenario = scenario;
  return engine_of(c);
}

// Runs without cancel, collecting progress messages.
struct Ran {
  agency::Result<Outcome> outcome;
  std::vector<std::string> progress;
};

Ran run(Engine& engine, const Turn& turn) {
  std::vector<std::string> progress;
  std::mutex mu;
  std::atomic<bool> cancel{false};
  auto r = engine.run(
      turn,
      [&](std::string_view p) {
        std::lock_guard lock(mu);
        progress.emplace_back(p);
      },
      cancel);
  return Ran{std::move(r), std::move(progress)};
}

Outcome ok(Ran ran) {
  INFO((ran.outcome ? std::string() : ran.outcome.error().message));
  REQUIRE(ran.outcome.ok());
  return std::move(*ran.outcome);
}

// The scenario of docs/ENGINES.md.
constexpr const char* kScenario = R"(# steps per role
planner:
  - spec: "Add a file GREETING.md that says hello"
    verdict: pass
builder:
  - write: {path: GREETING.md, content: "hello from {task_id}"}
    summary: "added GREETING.md"
    verdict: pass
  - write: {path: GREETING.md, content: "hello from {task_id}\n"}
    summary: "GREETING.md ends with a newline now"
adversary:
  - verdict: fail
    findings: ["GREETING.md lacks a newline at the end"]
  - verdict: pass
reviewer:
  - verdict: pass
)";

}  // namespace

// ---------------------------------------------------------------------------
// The outcome block

TEST_CASE("engine: an answer's agency block is parsed with all its keys") {
  auto b = parsed_block(R"(I looked at the code and wrote the spec.

```agency
verdict: pass
summary: spec written
findings:
  - first thing
  - "second: with a colon"
spec: |
  # Spec
  Add `hello`.
branch: agency/t-1
tests: 12 passed
```
)");
  CHECK(b.verdict == "pass");
  CHECK(b.summary == "spec written");
  CHECK(b.findings == std::vector<std::string>{"first thing", "second: with a colon"});
  CHECK(b.spec == "# Spec\nAdd `hello`.\n");
  CHECK(b.fields.at("branch") == "agency/t-1");
  CHECK(b.fields.at("tests") == "12 passed");
  CHECK(b.fields.size() == 2);
}

TEST_CASE("engine: an answer without an agency block has none") {
  for (const char* text : {"", "just prose", "```yaml\nverdict: pass\n```\n",
                           "```agency-like\nverdict: pass\n```\n", "text ```agency inline\n"}) {
    CAPTURE(text);
    auto r = agency::parse_outcome_block(text);
    REQUIRE(r.ok());
    CHECK_FALSE(r->has_value());
  }
}

TEST_CASE("engine: the last agency block of several wins") {
  auto b = parsed_block(
      "Earlier I thought:\n```agency\nverdict: fail\nsummary: first\n```\n"
      "Some code:\n```sh\nmake test\n```\n"
      "On reflection:\n```agency\nverdict: blocked\nsummary: second\n```\ntrailing words\n");
  CHECK(b.verdict == "blocked");
  CHECK(b.summary == "second");
}

TEST_CASE("engine: outcome blocks tolerate the ways models write them") {
  SUBCASE("findings as one string") {
    auto b = parsed_block("```agency\nverdict: fail\nfindings: the test is flaky\n```\n");
    CHECK(b.findings == std::vector<std::string>{"the test is flaky"});
  }
  SUBCASE("verdict in capitals") {
    CHECK(parsed_block("```agency\nverdict: PASS\n```").verdict == "pass");
  }
  SUBCASE("CRLF line ends") {
    auto b = parsed_block("text\r\n```agency\r\nverdict: fail\r\nsummary: x\r\n```\r\n");
    CHECK(b.verdict == "fail");
    CHECK(b.summary == "x");
  }
  SUBCASE("an indented block, with a fence inside an indented spec") {
    auto b = parsed_block(
        "  ```agency\n  verdict: pass\n  spec: |\n    run:\n    ```\n    make\n"
        "    ```\n  ```\n");
    CHECK(b.verdict == "pass");
    CHECK(b.spec == "run:\n```\nmake\n```\n");
  }
  SUBCASE("empty findings and summary") {
    auto b = parsed_block("```agency\nverdict: pass\nfindings:\nsummary:\n```\n");
    CHECK(b.findings.empty());
    CHECK(b.summary.empty());
  }
}

TEST_CASE("engine: a malformed agency block is an error that says what is wrong") {
  CHECK(contains(block_error("x\n```agency\nverdict: [pass\n```\n"), "not valid YAML"));
  CHECK(contains(block_error("```agency\nsummary: done\n```\n"), "no verdict"));
  auto msg = block_error("```agency\nverdict: maybe\n```\n");
  CHECK(contains(msg, "'maybe'"));
  CHECK(contains(msg, "pass, fail or blocked"));
  CHECK(contains(block_error("```agency\nverdict:\n```\n"), "empty verdict"));
  CHECK(contains(block_error("```agency\nverdict: fail\nfindings: {a: b}\n```\n"), "findings"));
  CHECK(contains(block_error("```agency\nverdict: fail\nfindings:\n  - {a: b}\n```\n"),
                 "findings[0]"));
  CHECK(contains(block_error("```agency\nverdict: pass\nsummary: [a]\n```\n"), "summary"));
  CHECK(contains(block_error("```agency\n```\n"), "empty"));
  CHECK(contains(block_error("```agency\n- verdict: pass\n```\n"), "must be a map"));
  msg = block_error("one\ntwo\n```agency\nverdict: pass\n");
  CHECK(contains(msg, "never closed"));
  CHECK(contains(msg, "line 3"));
  // A well-formed earlier block does not excuse a broken last one.
  CHECK(contains(block_error("```agency\nverdict: pass\n```\n```agency\nverdict: nope\n```\n"),
                 "'nope'"));
}

// ---------------------------------------------------------------------------
// The factory

TEST_CASE("engine: make_engine lists the known engines for an unknown one") {
  EngineConfig c;
  c.kind = "x";
  auto e = agency::make_engine(c);
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().code == agency::errc::config);
  CHECK(e.error().message ==
        "unknown engine 'x': known engines are claude, codex, gemini, openai, anthropic, command, "
        "scripted");

  c.kind = "command";
  e = agency::make_engine(c);
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().code == agency::errc::config);
  CHECK(contains(e.error().message, "command"));

  c.command = {"true"};
  auto cmd = engine_of(c);
  CHECK(cmd->kind() == "command");
  CHECK(cmd->label() == "command: true");
}

// ---------------------------------------------------------------------------
// The scripted engine

TEST_CASE("engine: the scripted engine says it is scripted and no model") {
  auto e = scripted();
  CHECK(e->kind() == "scripted");
  CHECK(contains(e->label(), "scripted"));
  CHECK(contains(e->label(), "no model"));
}

TEST_CASE("engine: scripted steps follow the attempt at the role's stage") {
  agency::test::TempDir dir;
  write(dir.path() / "scenario.yaml", kScenario);
  auto e = scripted(dir.path() / "scenario.yaml");

  auto first = ok(run(*e, make_turn("adversary", "qa", {"ready-for-prep", "ready-for-dev", "qa"})));
  CHECK(first.verdict == "fail");
  CHECK(first.has_block);
  CHECK(first.block.findings == std::vector<std::string>{"GREETING.md lacks a newline at the end"});

  auto second =
      ok(run(*e, make_turn("adversary", "qa",
                           {"ready-for-prep", "ready-for-dev", "qa", "ready-for-dev", "qa"})));
  CHECK(second.verdict == "pass");
  CHECK(second.block.findings.empty());

  // Past the last step the last one repeats.
  auto third = ok(run(*e, make_turn("adversary", "qa", {"qa", "ready-for-dev", "qa", "qa"})));
  CHECK(third.verdict == "pass");

  // No history at all counts as the first attempt.
  CHECK(ok(run(*e, make_turn("adversary", "qa", {}))).verdict == "fail");

  auto plan = ok(run(*e, make_turn("planner", "ready-for-prep", {"ready-for-prep"})));
  CHECK(plan.block.spec == "Add a file GREETING.md that says hello");
  CHECK(plan.verdict == "pass");
}

TEST_CASE("engine: a scripted answer carries a block the parser reads back") {
  agency::test::TempDir dir;
  write(dir.path() / "s.yaml", R"(
reviewer:
  - text: "I reviewed {task_id} as {role} ({agent_id}), attempt {attempt}."
    verdict: fail
    summary: "needs: work"
    findings: ["quote \" and colon: here", "line one\nline two"]
    spec: "  indented first line\n```\nfenced\n```\n"
)");
  auto e = scripted(dir.path() / "s.yaml");
  auto turn = make_turn("reviewer", "review", {"review", "review"});
  auto out = ok(run(*e, turn));
  CHECK(out.text.rfind("I reviewed t-42 as reviewer (reviewer-a1), attempt 2.\n", 0) == 0);
  auto b = parsed_block(out.text);
  CHECK(b.verdict == "fail");
  CHECK(b.summary == "needs: work");
  CHECK(b.findings == out.block.findings);
  CHECK(b.findings == std::vector<std::string>{"quote \" and colon: here", "line one\nline two"});
  CHECK(b.spec == "  indented first line\n```\nfenced\n```\n");

  // Deterministic usage from the sizes; nothing paid.
  CHECK(out.model == "scripted");
  CHECK(out.usage.input_tokens == static_cast<std::int64_t>(turn.prompt.size() / 4));
  CHECK(out.usage.output_tokens == static_cast<std::int64_t>(out.text.size() / 4));
  CHECK(out.usage.cost_usd == 0);
  CHECK(ok(run(*e, turn)).text == out.text);
}

TEST_CASE("engine: scripted blocks survive awkward text") {
  // Each value is written into a scenario as a YAML double-quoted string,
  // rendered into the answer's block, and must read back unchanged.
  const std::vector<std::string> values = {"",
                                           "a: b",
                                           "- dash",
                                           "#hash",
                                           "```",
                                           "line\n\n\nafter",
                                           "trailing spaces  \n",
                                           "tab\tin",
                                           "unicode \u2713",
                                           "'single'",
                                           "[list]",
                                           "yes",
                                           "null",
                                           "~",
                                           "123",
                                           "ends with two\n\n",
                                           "  lead\nsecond\n",
                                           "multi\nline\n",
                                           "```agency\nverdict: fail\n```\n"};
  auto quoted = [](const std::string& v) {
    std::string q = "\"";
    for (char c : v) {
      if (c == '\n') {
        q += "\\n";
      } else if (c == '\t') {
        q += "\\t";
      } else {
        if (c == '"' || c == '\\') q += '\\';
        q += c;
      }
    }
    return q + "\"";
  };
  agency::test::TempDir dir;
  for (const auto& v : values) {
    CAPTURE(v);
    std::string yaml = "reviewer:\n  - summary: " + quoted(v) + "\n    spec: " + quoted(v) +
                       "\n    findings: [" + quoted(v) + "]\n";
    write(dir.path() / "s.yaml", yaml);
    auto e = scripted(dir.path() / "s.yaml");
    auto out = ok(run(*e, make_turn("reviewer", "review", {})));
    REQUIRE(out.block.summary == v);
    auto b = parsed_block(out.text);
    CHECK(b.summary == v);
    CHECK(b.spec == v);
    CHECK(b.findings == std::vector<std::string>{v});
  }
}

TEST_CASE("engine: scripted writes land in the work directory") {
  agency::test::TempDir dir;
  write(dir.path() / "scenario.yaml", kScenario);
  auto work = dir.path() / "work";
  fs::create_directories(work);
  auto e = scripted(dir.path() / "scenario.yaml");
  auto ran = run(*e, make_turn("builder", "ready-for-dev", {"ready-for-dev"}, work));
  bool said = false;
  for (const auto& p : ran.progress) said = said || p == "scripted: writing GREETING.md";
  CHECK(said);
  auto out = ok(std::move(ran));
  CHECK(out.verdict == "pass");
  CHECK(out.block.summary == "added GREETING.md");
  CHECK(read(work / "GREETING.md") == "hello from t-42");

  SUBCASE("several files, in subdirectories") {
    write(dir.path() / "multi.yaml",
          "builder:\n  - write:\n      - {path: a/b/c.txt, content: '{role}'}\n"
          "      - {path: d.txt}\n");
    auto m = scripted(dir.path() / "multi.yaml");
    CHECK(ok(run(*m, make_turn("builder", "ready-for-dev", {}, work))).verdict == "pass");
    CHECK(read(work / "a" / "b" / "c.txt") == "builder");
    CHECK(fs::exists(work / "d.txt"));
    CHECK(read(work / "d.txt").empty());
  }
}

TEST_CASE("engine: scripted writes cannot leave the work directory") {
  agency::test::TempDir dir;
  for (const char* path : {"../escape.txt", "a/../../escape.txt", "/tmp/escape.txt"}) {
    CAPTURE(path);
    write(dir.path() / "s.yaml",
          std::string("builder:\n  - write: {path: '") + path + "', content: x}\n");
    EngineConfig c;
    c.kind = "scripted";
    c.scenario = dir.path() / "s.yaml";
    auto e = agency::make_engine(c);
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().code == agency::errc::config);
    CHECK(contains(e.error().message, (dir.path() / "s.yaml").string() + ":2:"));
    CHECK(contains(e.error().message, "work directory"));
  }

  // A placeholder cannot smuggle ".." in either.
  write(dir.path() / "s.yaml", "builder:\n  - write: {path: '{task_id}/x.txt', content: x}\n");
  auto e = scripted(dir.path() / "s.yaml");
  auto work = dir.path() / "work";
  fs::create_directories(work);
  auto turn = make_turn("builder", "ready-for-dev", {}, work);
  turn.brief.set_task_id("..");
  auto r = run(*e, turn);
  REQUIRE_FALSE(r.outcome.ok());
  CHECK(contains(r.outcome.error().message, "work directory"));
  CHECK_FALSE(fs::exists(dir.path() / "x.txt"));

  // Nor a symbolic link inside it.
  fs::create_directory_symlink(dir.path(), work / "out");
  write(dir.path() / "s.yaml", "builder:\n  - write: {path: out/x.txt, content: x}\n");
  auto linked = scripted(dir.path() / "s.yaml");
  r = run(*linked, make_turn("builder", "ready-for-dev", {}, work));
  REQUIRE_FALSE(r.outcome.ok());
  CHECK(contains(r.outcome.error().message, "outside the work directory"));
  CHECK_FALSE(fs::exists(dir.path() / "x.txt"));
}

TEST_CASE("engine: a hanging scripted step returns once cancel is set") {
  agency::test::TempDir dir;
  write(dir.path() / "s.yaml", "builder:\n  - hang: true\n");
  auto e = scripted(dir.path() / "s.yaml");
  std::atomic<bool> cancel{false};
  std::atomic<bool> returned{false};
  auto started = Clock::now();
  std::thread canceller([&] {
    // Cancel only once the engine is really inside the step, then give it a
    // deadline to come back.
    std::this_thread::sleep_for(100ms);
    CHECK_FALSE(returned.load());
    cancel.store(true);
  });
  auto r = e->run(make_turn("builder", "ready-for-dev", {}), nullptr, cancel);
  returned.store(true);
  canceller.join();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "cancelled");
  CHECK(Clock::now() - started < 5s);
}

TEST_CASE("engine: a scripted sleep waits, and stops early on cancel") {
  agency::test::TempDir dir;
  write(dir.path() / "s.yaml", "builder:\n  - sleep_ms: 150\nreviewer:\n  - sleep_ms: 60000\n");
  auto e = scripted(dir.path() / "s.yaml");
  auto started = Clock::now();
  CHECK(ok(run(*e, make_turn("builder", "ready-for-dev", {}))).verdict == "pass");
  CHECK(Clock::now() - started >= 150ms);

  std::atomic<bool> cancel{true};
  started = Clock::now();
  auto r = e->run(make_turn("reviewer", "review", {}), nullptr, cancel);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "cancelled");
  CHECK(Clock::now() - started < 5s);
}

TEST_CASE("engine: a scripted error step is a transient failure") {
  agency::test::TempDir dir;
  write(dir.path() / "s.yaml",
        "builder:\n  - error: 'disk full on {task_id}'\n  - verdict: pass\n");
  auto e = scripted(dir.path() / "s.yaml");
  auto r = run(*e, make_turn("builder", "ready-for-dev", {"ready-for-dev"}));
  REQUIRE_FALSE(r.outcome.ok());
  CHECK(r.outcome.error().code == agency::errc::io);
  CHECK(r.outcome.error().message == "disk full on t-42");
  CHECK(ok(run(*e, make_turn("builder", "ready-for-dev", {"ready-for-dev", "ready-for-dev"})))
            .verdict == "pass");
}

TEST_CASE("engine: a scripted rate-limit step refuses until the reset") {
  agency::test::TempDir dir;
  write(dir.path() / "s.yaml", "planner:\n  - rate_limit_seconds: 90\n");
  auto e = scripted(dir.path() / "s.yaml");
  auto before = std::chrono::system_clock::now();
  auto out = ok(run(*e, make_turn("planner", "ready-for-prep", {})));
  REQUIRE(out.rate_limit.has_value());
  CHECK(out.rate_limit->resets_at >= before + 90s);
  CHECK(out.rate_limit->resets_at <= std::chrono::system_clock::now() + 90s);
  CHECK_FALSE(out.rate_limit->detail.empty());
  CHECK_FALSE(out.has_block);
}

TEST_CASE("engine: the default scenario passes every role and leaves a visible change") {
  agency::test::TempDir dir;
  auto e = scripted();
  auto plan = ok(run(*e, make_turn("planner", "ready-for-prep", {"ready-for-prep"})));
  CHECK(plan.verdict == "pass");
  CHECK(contains(plan.block.spec, "Say hello to the world"));
  CHECK(contains(plan.block.spec, "t-42"));
  CHECK(parsed_block(plan.text).spec == plan.block.spec);

  auto build = ok(run(*e, make_turn("builder", "ready-for-dev", {}, dir.path())));
  CHECK(build.verdict == "pass");
  CHECK(contains(read(dir.path() / "AGENCY_DEMO.md"), "Say hello to the world"));

  // Not a structured binding: clang 14 (the asan preset) cannot capture one
  // in CAPTURE's lambda.
  for (const auto& role_stage : std::vector<std::pair<std::string, std::string>>{
           {"adversary", "qa"}, {"reviewer", "review"}, {"scout", ""}}) {
    const std::string& role = role_stage.first;
    const std::string& stage = role_stage.second;
    CAPTURE(role);
    auto out = ok(run(*e, make_turn(role, stage, {})));
    CHECK(out.verdict == "pass");
    CHECK(parsed_block(out.text).verdict == "pass");
  }

  // A scenario naming only some roles keeps the defaults for the others.
  write(dir.path() / "s.yaml", "reviewer:\n  - verdict: blocked\n");
  auto partial = scripted(dir.path() / "s.yaml");
  CHECK(ok(run(*partial, make_turn("reviewer", "review", {}))).verdict == "blocked");
  CHECK_FALSE(ok(run(*partial, make_turn("planner", "ready-for-prep", {}))).block.spec.empty());
}

TEST_CASE("engine: a bad scenario file is a config error naming file and line") {
  agency::test::TempDir dir;
  auto file = dir.path() / "s.yaml";
  struct Case {
    const char* yaml;
    const char* line;
    const char* says;
  };
  const Case cases[] = {
      {"builder:\n  - verdict: maybe\n", ":2:", "pass, fail or blocked"},
      {"builder:\n  - verdict: pass\n    colour: red\n", ":3:", "unknown key 'colour'"},
      {"builder:\n  - sleep_ms: soon\n", ":2:", "whole number"},
      {"builder:\n  - hang: perhaps\n", ":2:", "true or false"},
      {"builder:\n  - write: {content: x}\n", ":2:", "needs a path"},
      {"builder:\n  - findings: {a: 1}\n", ":2:", "list of strings"},
      {"builder: [\n", ":", "not valid YAML"},
      {"- builder\n", ":1:", "must be a map"},
      {"builder:\n", ":1:", "list of steps"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.yaml);
    write(file, c.yaml);
    EngineConfig config;
    config.kind = "scripted";
    config.scenario = file;
    auto e = agency::make_engine(config);
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().code == agency::errc::config);
    CHECK(contains(e.error().message, file.string() + c.line));
    CHECK(contains(e.error().message, c.says));
  }
  EngineConfig missing;
  missing.kind = "scripted";
  missing.scenario = dir.path() / "absent.yaml";
  auto e = agency::make_engine(missing);
  REQUIRE_FALSE(e.ok());
  CHECK(contains(e.error().message, "absent.yaml"));
}

// ---------------------------------------------------------------------------
// The command engine

namespace {

fs::path script(const fs::path& dir, const std::string& name, const std::string& body) {
  auto path = dir / name;
  write(path, "#!/bin/sh\n" + body);
  fs::permissions(path, fs::perms::owner_all);
  return path;
}

std::unique_ptr<Engine> command(std::vector<std::string> argv, std::chrono::seconds timeout = 30s,
                                std::vector<std::string> env_allow = {}) {
  EngineConfig c;
  c.kind = "command";
  c.command = std::move(argv);
  c.timeout = timeout;
  c.env_allow = std::move(env_allow);
  return engine_of(c);
}

// Sets a variable of this process for one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedEnv() { ::unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  // A zombie waiting for its new parent to reap it is gone for our purposes.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_s, comm, state;
  stat >> pid_s >> comm >> state;
  return state == "Z";
}

}  // namespace

TEST_CASE("engine: a command's stdout agency block is its outcome") {
  agency::test::TempDir dir;
  auto s = script(dir.path(), "review.sh",
                  "echo 'I checked it.'\n"
                  "printf '```agency\\nverdict: fail\\nfindings: [too slow]\\n"
                  "input_tokens: 120\\nmodel: local-7b\\n```\\n'\n"
                  "exit 0\n");
  auto e = command({s.string()});
  auto out = ok(run(*e, make_turn("reviewer", "review", {}, dir.path())));
  CHECK(out.has_block);
  CHECK(out.verdict == "fail");  // the block, not the exit code
  CHECK(out.block.findings == std::vector<std::string>{"too slow"});
  CHECK(out.text.rfind("I checked it.\n```agency\n", 0) == 0);
  CHECK(out.usage.input_tokens == 120);
  CHECK(out.model == "local-7b");
}

TEST_CASE("engine: without a block a command's exit code is the verdict") {
  agency::test::TempDir dir;
  auto s =
      script(dir.path(), "exit.sh", "echo 'some words'\necho 'boom happened' >&2\nexit \"$1\"\n");
  struct Case {
    const char* code;
    const char* verdict;
  };
  for (auto c : {Case{"0", "pass"}, Case{"1", "fail"}, Case{"2", "blocked"}}) {
    CAPTURE(c.code);
    auto out = ok(run(*command({s.string(), c.code}), make_turn("builder", "qa", {}, dir.path())));
    CHECK(out.verdict == c.verdict);
    CHECK_FALSE(out.has_block);
    CHECK(out.text == "some words\n");
  }
  auto r = run(*command({s.string(), "3"}), make_turn("builder", "qa", {}, dir.path()));
  REQUIRE_FALSE(r.outcome.ok());
  CHECK(r.outcome.error().code == agency::errc::io);
  CHECK(contains(r.outcome.error().message, "code 3"));
  CHECK(contains(r.outcome.error().message, "boom happened"));

  auto killer = script(dir.path(), "killed.sh", "echo 'dying' >&2\nkill -KILL $$\n");
  r = run(*command({killer.string()}), make_turn("builder", "qa", {}, dir.path()));
  REQUIRE_FALSE(r.outcome.ok());
  CHECK(contains(r.outcome.error().message, "SIGKILL"));
  CHECK(contains(r.outcome.error().message, "dying"));
}

TEST_CASE("engine: a command gets the brief as JSON on stdin and the prompt in a file") {
  agency::test::TempDir dir;
  auto s = script(dir.path(), "read.sh",
                  "cat > stdin.json\ncat \"$AGENCY_PROMPT_FILE\" > prompt.txt\n"
                  "echo \"$AGENCY_PROMPT_FILE\" > prompt-path.txt\n");
  auto turn = make_turn("planner", "ready-for-prep", {}, dir.path());
  turn.brief.add_constraints("no new dependencies");
  auto out = ok(run(*command({s.string()}), turn));
  CHECK(out.verdict == "pass");
  CHECK(read(dir.path() / "stdin.json") == agency::codec::to_json(turn.brief) + "\n");
  auto back = agency::codec::decode<agency::v1::Brief>(read(dir.path() / "stdin.json"));
  REQUIRE(back.ok());
  CHECK(back->objective() == "Say hello to the world");
  CHECK(back->constraints(0) == "no new dependencies");
  CHECK(read(dir.path() / "prompt.txt") == turn.prompt);
  // The prompt file is gone after the call.
  auto prompt_path = read(dir.path() / "prompt-path.txt");
  while (!prompt_path.empty() && prompt_path.back() == '\n') prompt_path.pop_back();
  CHECK_FALSE(prompt_path.empty());
  CHECK_FALSE(fs::exists(prompt_path));
}

TEST_CASE("engine: a command that does not read a large stdin is not a crash") {
  agency::test::TempDir dir;
  auto turn = make_turn("planner", "ready-for-prep", {}, dir.path());
  turn.brief.set_context(std::string(2 * 1024 * 1024, 'x'));
  auto out = ok(run(*command({"true"}), turn));
  CHECK(out.verdict == "pass");
}

TEST_CASE("engine: a command sees only the allowed environment") {
  agency::test::TempDir dir;
  ScopedEnv secret("H5_TEST_SECRET", "s3cret");
  ScopedEnv allowed("H5_TEST_ALLOWED", "yes");
  ScopedEnv prefixed("H5_PRE_ONE", "1");
  auto s = script(dir.path(), "env.sh", "env > env.txt\n");
  auto turn = make_turn("builder", "ready-for-dev", {"ready-for-dev", "ready-for-dev"}, dir.path());
  turn.env["EXTRA_FROM_ROLE"] = "role-value";
  turn.session_id = "sess-9";
  auto out = ok(run(*command({s.string()}, 30s, {"H5_TEST_ALLOWED", "H5_PRE_*"}), turn));
  CHECK(out.verdict == "pass");
  auto env = "\n" + read(dir.path() / "env.txt");
  CHECK_FALSE(contains(env, "H5_TEST_SECRET"));
  CHECK(contains(env, "\nH5_TEST_ALLOWED=yes\n"));
  CHECK(contains(env, "\nH5_PRE_ONE=1\n"));
  CHECK(contains(env, "\nEXTRA_FROM_ROLE=role-value\n"));
  if (const char* path = std::getenv("PATH"))
    CHECK(contains(env, "\nPATH=" + std::string(path) + "\n"));
  CHECK(contains(env, "\nAGENCY_TASK_ID=t-42\n"));
  CHECK(contains(env, "\nAGENCY_STAGE=ready-for-dev\n"));
  CHECK(contains(env, "\nAGENCY_ROLE=builder\n"));
  CHECK(contains(env, "\nAGENCY_AGENT_ID=builder-a1\n"));
  CHECK(contains(env, "\nAGENCY_PROJECT=demo\n"));
  CHECK(contains(env, "\nAGENCY_OBJECTIVE=Say hello to the world\n"));
  CHECK(contains(env, "\nAGENCY_WORKDIR=" + dir.path().string() + "\n"));
  CHECK(contains(env, "\nAGENCY_PROMPT_FILE="));
  CHECK(contains(env, "\nAGENCY_ATTEMPT=2\n"));
  CHECK(contains(env, "\nAGENCY_SESSION_ID=sess-9\n"));
}

TEST_CASE("engine: a command's placeholders are filled and it runs in the work directory") {
  agency::test::TempDir dir;
  auto s = script(dir.path(), "args.sh",
                  "for a in \"$@\"; do echo \"$a\"; done > args.txt\npwd > pwd.txt\n");
  auto e = command({s.string(), "{task_id}", "{stage}", "{role}", "{agent_id}", "{workdir}",
                    "{project}", "{attempt}", "--id={task_id}", "${HOME}", "{unknown}"});
  auto turn = make_turn("adversary", "qa", {"qa", "ready-for-dev", "qa", "qa"}, dir.path());
  CHECK(ok(run(*e, turn)).verdict == "pass");
  CHECK(read(dir.path() / "args.txt") == "t-42\nqa\nadversary\nadversary-a1\n" +
                                             dir.path().string() +
                                             "\ndemo\n3\n--id=t-42\n${HOME}\n"
                                             "{unknown}\n");
  CHECK(fs::equivalent(
      fs::path(read(dir.path() / "pwd.txt").substr(0, read(dir.path() / "pwd.txt").size() - 1)),
      dir.path()));
}

TEST_CASE("engine: a command past its timeout is killed with its process group") {
  agency::test::TempDir dir;
  auto s = script(dir.path(), "slow.sh", "sleep 30 &\necho $! > child.pid\nwait\n");
  auto e = command({s.string()}, 1s);
  auto started = Clock::now();
  auto r = run(*e, make_turn("builder", "ready-for-dev", {}, dir.path()));
  auto took = Clock::now() - started;
  REQUIRE_FALSE(r.outcome.ok());
  CHECK(r.outcome.error().code == agency::errc::timeout);
  CHECK(contains(r.outcome.error().message, "timed out after 1 s"));
  CHECK(took >= 1s);
  CHECK(took < 4s);
  // The background sleep was in the group and went too.
  auto pid = std::stoi(read(dir.path() / "child.pid"));
  auto deadline = Clock::now() + 5s;
  while (!process_gone(pid) && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  CHECK(process_gone(pid));
}

TEST_CASE("engine: a command stops when cancel is set") {
  agency::test::TempDir dir;
  auto e = command({"sleep", "30"});
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(100ms);
    cancel.store(true);
  });
  auto started = Clock::now();
  auto r = e->run(make_turn("builder", "ready-for-dev", {}, dir.path()), nullptr, cancel);
  canceller.join();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "cancelled");
  CHECK(Clock::now() - started < 4s);
}

TEST_CASE("engine: a command's stderr lines reach progress while it runs") {
  agency::test::TempDir dir;
  // The script waits for the test to react to its first line: that only
  // happens if lines are streamed, not collected at the end.
  auto s = script(dir.path(), "talk.sh",
                  "echo 'step one' >&2\n"
                  "i=0; while [ ! -e go ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done\n"
                  "[ -e go ] || exit 9\n"
                  "echo 'step two' >&2\nprintf 'no newline at the end' >&2\n");
  auto e = command({s.string()});
  std::vector<std::string> lines;
  std::atomic<bool> cancel{false};
  auto r = e->run(
      make_turn("builder", "ready-for-dev", {}, dir.path()),
      [&](std::string_view line) {
        lines.emplace_back(line);
        if (line == "step one") write(dir.path() / "go", "");
      },
      cancel);
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.ok());
  CHECK(r->verdict == "pass");
  CHECK(lines == std::vector<std::string>{"step one", "step two", "no newline at the end"});
}

TEST_CASE("engine: command failures name the cause") {
  agency::test::TempDir dir;
  auto r =
      run(*command({"/nonexistent/agency-engine"}), make_turn("builder", "qa", {}, dir.path()));
  REQUIRE_FALSE(r.outcome.ok());
  CHECK(contains(r.outcome.error().message, "cannot run '/nonexistent/agency-engine'"));

  r = run(*command({"true"}), make_turn("builder", "qa", {}, dir.path() / "missing"));
  REQUIRE_FALSE(r.outcome.ok());
  CHECK(contains(r.outcome.error().message, "does not exist"));

  auto s = script(dir.path(), "bad.sh", "printf '```agency\\nverdict: sure\\n```\\n'\n");
  r = run(*command({s.string()}), make_turn("builder", "qa", {}, dir.path()));
  REQUIRE_FALSE(r.outcome.ok());
  CHECK(r.outcome.error().code == agency::errc::bad_payload);
  CHECK(contains(r.outcome.error().message, "'sure'"));
}

TEST_CASE("engine: the command engine leaves no file descriptors behind") {
  agency::test::TempDir dir;
  auto count_fds = [] {
    size_t n = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd")) ++n;
    return n;
  };
  auto s = script(dir.path(), "mixed.sh", "cat >/dev/null\necho out\necho err >&2\nexit \"$1\"\n");
  auto e = command({s.string(), "{attempt}"});
  const auto before = count_fds();
  for (int i = 0; i < 5; ++i) {
    (void)run(*e, make_turn("builder", "qa", {}, dir.path()));                  // exit 1: fail
    (void)run(*e, make_turn("builder", "qa", {"qa", "qa", "qa"}, dir.path()));  // exit 3: error
  }
  (void)run(*command({"/nonexistent/x"}), make_turn("builder", "qa", {}, dir.path()));
  CHECK(count_fds() == before);
}

namespace agency {
namespace {

TEST_CASE("engine: a CLI engine whose program is missing is a config error at start") {
  for (const char* kind : {"claude", "codex", "gemini"}) {
    CAPTURE(kind);
    EngineConfig c;
    c.kind = kind;
    c.cli = "/nonexistent/agency-test/" + std::string(kind);
    auto e = make_engine(c);
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().code == errc::config);
    CHECK(e.error().message.find("cannot find '" + c.cli + "'") != std::string::npos);
    CHECK(e.error().message.find("npm install -g") != std::string::npos);

    c.cli = "agency-no-such-cli-xyz";
    auto on_path = make_engine(c);
    REQUIRE_FALSE(on_path.ok());
    CHECK(on_path.error().message.find("'agency-no-such-cli-xyz' on PATH") != std::string::npos);
  }
  // A program that is there passes the check.
  EngineConfig sh;
  sh.kind = "claude";
  sh.cli = "sh";
  CHECK(make_engine(sh).ok());
}

}  // namespace
}  // namespace agency
