// The codex and gemini output parsers (runtime/cli_formats.hpp), fed lines
// as the CLIs print them: the transcripts below are from codex-cli 0.169.0
// and @google/gemini-cli 0.61.0 run against a scripted model server on
// loopback, trimmed, plus the failure shapes their sources produce.
#include "runtime/cli_formats.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

namespace agency {
namespace {

using namespace std::chrono;
using cli_formats::TimePoint;

// Sunday 2026-11-22 06:32:52 UTC.
const TimePoint kNow = sys_days{year{2026} / 11 / 22} + hours{6} + minutes{32} + seconds{52};

TimePoint utc(int y, unsigned mo, unsigned d, int h, int mi) {
  return sys_days{year{y} / mo / d} + hours{h} + minutes{mi};
}

std::string lines(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& l : v) out += l + "\n";
  return out;
}

const std::string kThread =
    R"({"type":"thread.started","thread_id":"01a201f4-b0f0-78b1-a314-98fcc3a8f7a8"})";
const std::string kAnswer =
    R"({"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"Done.\n```agency\nverdict: pass\nsummary: fine\n```\n"}})";

// --- codex ---

TEST_CASE("cli formats: codex success gives the answer, thread, usage and verdict") {
  const std::string out = lines({
      kThread,
      R"({"type":"item.completed","item":{"id":"item_0","type":"error","message":"Model metadata for `gpt-fake` not found. Defaulting to fallback metadata."}})",
      R"({"type":"turn.started"})",
      kAnswer,
      R"({"type":"turn.completed","usage":{"input_tokens":500,"cached_input_tokens":100,"cache_write_input_tokens":20,"output_tokens":40,"reasoning_output_tokens":5}})",
  });
  auto r = cli_formats::parse_codex_events(out, kNow);
  REQUIRE(r);
  CHECK(r->session_id == "01a201f4-b0f0-78b1-a314-98fcc3a8f7a8");
  CHECK(r->text == "Done.\n```agency\nverdict: pass\nsummary: fine\n```\n");
  CHECK(r->has_block);
  CHECK(r->verdict == "pass");
  CHECK(r->block.summary == "fine");
  // OpenAI counts cached and cache-written input inside input_tokens.
  CHECK(r->usage.input_tokens == 380);
  CHECK(r->usage.cache_read_tokens == 100);
  CHECK(r->usage.cache_creation_tokens == 20);
  CHECK(r->usage.output_tokens == 40);
  CHECK_FALSE(r->rate_limit);
  CHECK(r->denials.empty());
}

TEST_CASE("cli formats: codex items become progress and the last agent message is the answer") {
  cli_formats::CodexEvents ev;
  CHECK(ev.feed(kThread) == "codex thread 01a201f4-b0f0-78b1-a314-98fcc3a8f7a8 started");
  CHECK(ev.feed(R"({"type":"turn.started"})").empty());
  CHECK(
      ev.feed(
          R"({"type":"item.completed","item":{"id":"r","type":"reasoning","text":"**Looking**\nat files"}})") ==
      "**Looking** at files");
  CHECK(
      ev.feed(
          R"({"type":"item.completed","item":{"id":"m1","type":"agent_message","text":"I will write the file."}})") ==
      "I will write the file.");
  CHECK(
      ev.feed(
          R"({"type":"item.started","item":{"id":"c","type":"command_execution","command":"/bin/bash -lc 'echo hi > hello.txt'","aggregated_output":"","exit_code":null,"status":"in_progress"}})") ==
      "run /bin/bash -lc 'echo hi > hello.txt'");
  CHECK(
      ev.feed(
          R"({"type":"item.completed","item":{"id":"c","type":"command_execution","command":"/bin/bash -lc 'echo hi > hello.txt'","aggregated_output":"Read-only file system\n","exit_code":1,"status":"failed"}})") ==
      "failed (exit 1): /bin/bash -lc 'echo hi > hello.txt'");
  CHECK(
      ev.feed(
          R"({"type":"item.completed","item":{"id":"f","type":"file_change","changes":[{"path":"hello.txt","kind":"add"},{"path":"a.cpp","kind":"update"}],"status":"completed"}})") ==
      "edit: add hello.txt, update a.cpp");
  CHECK(
      ev.feed(
            R"({"type":"item.started","item":{"id":"t","type":"todo_list","items":[{"text":"x","completed":false}]}})")
          .empty());
  CHECK(ev.feed(kAnswer) == "Done. ```agency verdict: pass summary: fine ```");
  CHECK(
      ev.feed(
            R"({"type":"turn.completed","usage":{"input_tokens":250,"cached_input_tokens":20,"output_tokens":9}})")
          .empty());
  auto r = ev.finish(kNow);
  REQUIRE(r);
  CHECK(r->text.rfind("Done.", 0) == 0);
  CHECK(r->verdict == "pass");
  CHECK(r->usage.input_tokens == 230);
  CHECK(ev.events() == 10);
}

TEST_CASE("cli formats: codex usage is a running total, so the last turn.completed counts") {
  const std::string out = lines({
      kThread,
      R"({"type":"turn.started"})",
      R"({"type":"turn.completed","usage":{"input_tokens":100,"cached_input_tokens":10,"output_tokens":1}})",
      R"({"type":"turn.started"})",
      kAnswer,
      R"({"type":"turn.completed","usage":{"input_tokens":300,"cached_input_tokens":30,"output_tokens":3}})",
  });
  auto r = cli_formats::parse_codex_events(out, kNow);
  REQUIRE(r);
  CHECK(r->usage.input_tokens == 270);
  CHECK(r->usage.cache_read_tokens == 30);
  CHECK(r->usage.output_tokens == 3);
}

TEST_CASE("cli formats: usage_since subtracts what a resumed thread had spent") {
  Usage before;
  before.input_tokens = 90;
  before.cache_read_tokens = 10;
  before.output_tokens = 1;
  Usage total;
  total.input_tokens = 270;
  total.cache_read_tokens = 30;
  total.output_tokens = 3;
  Usage call = cli_formats::usage_since(total, before);
  CHECK(call.input_tokens == 180);
  CHECK(call.cache_read_tokens == 20);
  CHECK(call.output_tokens == 2);
  // A total below what came before is a thread counted afresh: kept whole.
  Usage fresh;
  fresh.input_tokens = 50;
  fresh.output_tokens = 5;
  Usage kept = cli_formats::usage_since(fresh, before);
  CHECK(kept.input_tokens == 50);
  CHECK(kept.output_tokens == 5);
}

TEST_CASE("cli formats: codex session files give the thread's total so far") {
  const std::string rollout = lines({
      R"({"timestamp":"2026-11-22T06:33:44Z","type":"session_meta","payload":{"id":"t"}})",
      R"({"type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"token_count is a word here"}]}})",
      R"({"type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":100,"cached_input_tokens":10,"cache_write_input_tokens":0,"output_tokens":1,"reasoning_output_tokens":5,"total_tokens":540},"last_token_usage":{"input_tokens":100}},"rate_limits":{"primary":null}}})",
      R"({"type":"event_msg","payload":{"type":"token_count","info":null}})",
      R"({"type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":300,"cached_input_tokens":30,"output_tokens":3},"last_token_usage":{"input_tokens":200}}}})",
      R"({"type":"event_msg","payload":{"type":"task_complete"}})",
  });
  auto total = cli_formats::codex_rollout_total(rollout);
  REQUIRE(total);
  CHECK(total->input_tokens == 270);
  CHECK(total->cache_read_tokens == 30);
  CHECK(total->output_tokens == 3);
  CHECK_FALSE(cli_formats::codex_rollout_total(lines({R"({"type":"session_meta"})"})));
}

TEST_CASE("cli formats: codex declined commands are denials") {
  const std::string out = lines({
      kThread,
      R"({"type":"item.completed","item":{"id":"c","type":"command_execution","command":"rm -rf build","aggregated_output":"","exit_code":null,"status":"declined"}})",
      kAnswer,
      R"({"type":"turn.completed","usage":{"input_tokens":10,"cached_input_tokens":0,"output_tokens":1}})",
  });
  auto r = cli_formats::parse_codex_events(out, kNow);
  REQUIRE(r);
  REQUIRE(r->denials.size() == 1);
  CHECK(r->denials[0] == "command rm -rf build");
}

TEST_CASE("cli formats: codex retries it reports on the way do not fail a completed turn") {
  const std::string out = lines({
      kThread,
      R"({"type":"turn.started"})",
      R"j({"type":"error","message":"Reconnecting... 1/5 (stream disconnected before completion)"})j",
      kAnswer,
      R"({"type":"turn.completed","usage":{"input_tokens":10,"cached_input_tokens":0,"output_tokens":1}})",
  });
  auto r = cli_formats::parse_codex_events(out, kNow);
  REQUIRE(r);
  CHECK(r->verdict == "pass");
}

TEST_CASE("cli formats: a failed codex turn is an error with codex's message") {
  const std::string out = lines({
      kThread,
      R"({"type":"turn.started"})",
      R"j({"type":"error","message":"Reconnecting... 5/5 (We're currently experiencing high demand.)"})j",
      R"({"type":"error","message":"We're currently experiencing high demand, which may cause temporary errors."})",
      R"({"type":"turn.failed","error":{"message":"We're currently experiencing high demand, which may cause temporary errors."}})",
  });
  auto r = cli_formats::parse_codex_events(out, kNow);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::io);
  CHECK(r.error().message.find("high demand") != std::string::npos);

  SUBCASE("an error event with no turn end fails the same way") {
    auto e = cli_formats::parse_codex_events(
        lines({kThread, R"({"type":"error","message":"stream disconnected"})"}), kNow);
    REQUIRE_FALSE(e);
    CHECK(e.error().message.find("stream disconnected") != std::string::npos);
  }
}

TEST_CASE("cli formats: a codex usage limit is a rate limit with the time codex gives") {
  const std::string msg =
      "You\xE2\x80\x99ve hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), "
      "visit https://chatgpt.com/settings/usage to purchase more credits or try again at Jan "
      "1st, 2027 9:00 AM.";
  const std::string out = lines({
      kThread,
      R"({"type":"turn.started"})",
      R"({"type":"error","message":")" + msg + R"("})",
      R"({"type":"turn.failed","error":{"message":")" + msg + R"("}})",
  });
  auto r = cli_formats::parse_codex_events(out, kNow);
  REQUIRE(r);
  REQUIRE(r->rate_limit);
  CHECK(r->rate_limit->resets_at == utc(2027, 1, 1, 9, 0));
  CHECK(r->rate_limit->detail.find("usage limit") != std::string::npos);
  CHECK(r->session_id == "01a201f4-b0f0-78b1-a314-98fcc3a8f7a8");
  REQUIRE(r->limits.size() == 1);
  CHECK(r->limits[0].status == "rejected");
  CHECK(r->limits[0].source == "error");
  REQUIRE(r->limits[0].resets_at);
  CHECK(*r->limits[0].resets_at == utc(2027, 1, 1, 9, 0));
}

TEST_CASE("cli formats: codex reset times of today, tomorrow and in a while") {
  // Later today.
  CHECK(cli_formats::codex_retry_at("... or try again at 7:32 AM.", kNow) ==
        utc(2026, 11, 22, 7, 32));
  // Earlier than now: tomorrow.
  CHECK(cli_formats::codex_retry_at("try again at 12:05 AM", kNow) == utc(2026, 11, 23, 0, 5));
  CHECK(cli_formats::codex_retry_at("Try again at 3:51 PM.", kNow) == utc(2026, 11, 22, 15, 51));
  CHECK(cli_formats::codex_retry_at("try again at Sep 29th, 2027 12:55 AM.", kNow) ==
        utc(2027, 9, 29, 0, 55));
  CHECK(cli_formats::codex_retry_at("try again in 4 days 3 hours.", kNow) ==
        kNow + hours{24 * 4 + 3});
  CHECK(cli_formats::codex_retry_at("Please try again in 1.5s.", kNow) ==
        kNow + milliseconds{1500});
  CHECK_FALSE(cli_formats::codex_retry_at("try again later.", kNow));
  CHECK_FALSE(cli_formats::codex_retry_at("try again at Foo 31st, 2026 9:00 AM", kNow));
}

TEST_CASE("cli formats: a codex 429 without a reset time leaves the wait to the engine") {
  const std::string out = lines({
      kThread,
      R"({"type":"turn.started"})",
      R"({"type":"error","message":"exceeded retry limit, last status: 429 Too Many Requests"})",
      R"({"type":"turn.failed","error":{"message":"exceeded retry limit, last status: 429 Too Many Requests"}})",
  });
  auto r = cli_formats::parse_codex_events(out, kNow);
  REQUIRE(r);
  REQUIRE(r->rate_limit);
  CHECK(r->rate_limit->resets_at == TimePoint{});
  REQUIRE(r->limits.size() == 1);
  CHECK_FALSE(r->limits[0].resets_at);
}

TEST_CASE("cli formats: codex limits are told apart from other failures") {
  CHECK(cli_formats::is_codex_limit("You've hit your usage limit. Try again at 3:51 PM."));
  CHECK(cli_formats::is_codex_limit("exceeded retry limit, last status: 429 Too Many Requests"));
  CHECK(cli_formats::is_codex_limit("Rate limit reached for gpt-5 on tokens per min (TPM)"));
  // Billing does not reset by waiting: an error, for a person to fix.
  CHECK_FALSE(cli_formats::is_codex_limit("Quota exceeded. Check your plan and billing details."));
  CHECK_FALSE(cli_formats::is_codex_limit("input of 4291 tokens is too long"));
  CHECK_FALSE(cli_formats::is_codex_limit("unexpected status 401 Unauthorized"));
}

TEST_CASE(
    "cli formats: malformed or cut short codex output is an error that says what is missing") {
  SUBCASE("no JSON at all") {
    auto r = cli_formats::parse_codex_events("Reading prompt from stdin...\nno json here\n", kNow);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("no JSON events") != std::string::npos);
    CHECK(r.error().message.find("Reading prompt from stdin") != std::string::npos);
  }
  SUBCASE("cut off before the turn ended") {
    auto r = cli_formats::parse_codex_events(
        lines({kThread, R"({"type":"turn.started"})", kAnswer, R"({"type":"turn.compl)"}), kNow);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("turn.completed") != std::string::npos);
  }
  SUBCASE("a turn without an answer") {
    auto r = cli_formats::parse_codex_events(
        lines(
            {kThread,
             R"({"type":"turn.completed","usage":{"input_tokens":1,"cached_input_tokens":0,"output_tokens":1}})"}),
        kNow);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("agent_message") != std::string::npos);
  }
  SUBCASE("a malformed agency block") {
    auto r = cli_formats::parse_codex_events(
        lines(
            {kThread,
             R"({"type":"item.completed","item":{"id":"m","type":"agent_message","text":"```agency\nverdict: [unclosed\n```\n"}})",
             R"({"type":"turn.completed","usage":{"input_tokens":1,"cached_input_tokens":0,"output_tokens":1}})"}),
        kNow);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::bad_payload);
    CHECK(r.error().message.find("codex's answer") != std::string::npos);
  }
}

TEST_CASE("cli formats: codex lines that are not events and unknown events are skipped") {
  const std::string out = lines({
      "WARNING: proceeding, even though we could not create PATH aliases",
      kThread,
      "",
      R"({"type":"item.plan.delta","item_id":"p","delta":"step"})",
      R"({"type":"some.future.event","x":{"y":1}})",
      R"([1,2,3])",
      R"({"type":"item.completed","item":{"id":"w","type":"brand_new_item","stuff":true}})",
      kAnswer,
      R"({"type":"turn.completed","usage":{"input_tokens":"many","output_tokens":2,"extra":1}})",
  });
  auto r = cli_formats::parse_codex_events(out, kNow);
  REQUIRE(r);
  CHECK(r->verdict == "pass");
  CHECK(r->usage.input_tokens == 0);
  CHECK(r->usage.output_tokens == 2);
}

// --- gemini ---

const std::string kInit =
    R"({"type":"init","timestamp":"2026-11-22T06:35:46.100Z","session_id":"d241b1b4-1f18-4573-8b69-86e0ca0f6679","model":"gemini-2.5-pro"})";
const std::string kUser =
    R"({"type":"message","timestamp":"2026-11-22T06:35:46.102Z","role":"user","content":"Write\n"})";

TEST_CASE(
    "cli formats: gemini stream success gives the answer after the tools, usage and session") {
  const std::string out = lines({
      kInit,
      kUser,
      R"({"type":"message","timestamp":"t","role":"assistant","content":"Writing the file.","delta":true})",
      R"({"type":"tool_use","timestamp":"t","tool_name":"write_file","tool_id":"write_file_1","parameters":{"file_path":"hello.txt","content":"hi\n"}})",
      R"({"type":"tool_result","timestamp":"t","tool_id":"write_file_1","status":"success"})",
      R"({"type":"message","timestamp":"t","role":"assistant","content":"Done.\n```agency\nverdict: ","delta":true})",
      R"({"type":"message","timestamp":"t","role":"assistant","content":"pass\nsummary: fine\n```\n","delta":true})",
      R"({"type":"result","timestamp":"t","status":"success","stats":{"total_tokens":260,"input_tokens":220,"output_tokens":40,"cached":20,"input":200,"duration_ms":242,"tool_calls":1,"models":{"gemini-fake":{"total_tokens":260,"input_tokens":220,"output_tokens":40,"cached":20,"input":200}}}})",
  });
  auto r = cli_formats::parse_gemini_stream(out, kNow);
  REQUIRE(r);
  CHECK(r->text == "Done.\n```agency\nverdict: pass\nsummary: fine\n```\n");
  CHECK(r->verdict == "pass");
  CHECK(r->session_id == "d241b1b4-1f18-4573-8b69-86e0ca0f6679");
  CHECK(r->model == "gemini-fake");
  CHECK(r->usage.input_tokens == 200);
  CHECK(r->usage.cache_read_tokens == 20);
  CHECK(r->usage.output_tokens == 40);
  CHECK(r->denials.empty());
}

TEST_CASE("cli formats: gemini tools become progress and refused ones denials") {
  cli_formats::GeminiEvents ev;
  CHECK(ev.feed(kInit) == "gemini session d241b1b4-1f18-4573-8b69-86e0ca0f6679 started");
  CHECK(ev.feed(kUser).empty());
  CHECK(ev.feed(R"({"type":"message","role":"assistant","content":"Writing.","delta":true})")
            .empty());
  CHECK(
      ev.feed(
          R"({"type":"tool_use","tool_name":"write_file","tool_id":"w1","parameters":{"file_path":"hello.txt","content":"hi"}})") ==
      "write_file hello.txt");
  CHECK(
      ev.feed(
          R"({"type":"tool_result","tool_id":"w1","status":"error","output":"denied","error":{"type":"policy_violation","message":"Tool execution denied by policy."}})") ==
      "failed: write_file hello.txt: Tool execution denied by policy.");
  CHECK(
      ev.feed(
          R"({"type":"tool_use","tool_name":"run_shell_command","tool_id":"s1","parameters":{"command":"make test"}})") ==
      "run_shell_command make test");
  CHECK(
      ev.feed(
          R"({"type":"tool_result","tool_id":"s1","status":"error","error":{"type":"tool_not_registered","message":"Tool not found."}})") ==
      "failed: run_shell_command make test: Tool not found.");
  CHECK(
      ev.feed(
          R"({"type":"tool_use","tool_name":"read_file","tool_id":"r1","parameters":{"absolute_path":"/w/missing.txt"}})") ==
      "read_file /w/missing.txt");
  // A tool that ran and failed is not a refusal.
  CHECK(
      ev.feed(
          R"({"type":"tool_result","tool_id":"r1","status":"error","error":{"type":"file_not_found","message":"no such file"}})") ==
      "failed: read_file /w/missing.txt: no such file");
  CHECK(ev.feed(R"({"type":"error","severity":"warning","message":"Loop detected"})") ==
        "gemini warning: Loop detected");
  CHECK(
      ev.feed(
            R"({"type":"result","status":"success","stats":{"total_tokens":10,"input_tokens":8,"output_tokens":2,"cached":0,"input":8,"models":{}}})")
          .empty());
  auto r = ev.finish(kNow);
  REQUIRE(r);
  REQUIRE(r->denials.size() == 2);
  CHECK(r->denials[0] == "write_file hello.txt");
  CHECK(r->denials[1] == "run_shell_command make test");
  // Nothing came after the tools: the last text is the answer.
  CHECK(r->text == "Writing.");
  CHECK(r->verdict.empty());
  CHECK_FALSE(r->has_block);
  // No per-model stats: the model init named.
  CHECK(r->model == "gemini-2.5-pro");
}

TEST_CASE("cli formats: gemini thinking tokens count as output and the busiest model is named") {
  const std::string out = lines({
      R"({"type":"init","session_id":"s","model":"auto"})",
      R"({"type":"message","role":"assistant","content":"ok","delta":true})",
      R"({"type":"result","status":"success","stats":{"total_tokens":1000,"input_tokens":700,"output_tokens":100,"cached":300,"input":400,"models":{"gemini-flash-lite":{"total_tokens":150,"input_tokens":120,"output_tokens":30},"gemini-pro":{"total_tokens":850,"input_tokens":580,"output_tokens":70}}}})",
  });
  auto r = cli_formats::parse_gemini_stream(out, kNow);
  REQUIRE(r);
  CHECK(r->usage.input_tokens == 400);
  CHECK(r->usage.cache_read_tokens == 300);
  CHECK(r->usage.output_tokens == 300);  // 1000 - 700: answer and thinking
  CHECK(r->model == "gemini-pro");
}

TEST_CASE("cli formats: a gemini quota error is a rate limit") {
  SUBCASE("a daily quota, no time given") {
    const std::string out = lines({
        kInit,
        kUser,
        R"({"type":"result","timestamp":"t","status":"error","error":{"type":"unknown","message":"[API Error: You have exhausted your daily quota on this model.]\nPlease wait and try again later. To increase your limits, request a quota increase through AI Studio, or switch to another /auth method"},"stats":{"total_tokens":0,"input_tokens":0,"output_tokens":0,"cached":0,"input":0,"duration_ms":0,"tool_calls":0,"models":{"gemini-2.5-pro":{"total_tokens":0,"input_tokens":0,"output_tokens":0,"cached":0,"input":0}}}})",
    });
    auto r = cli_formats::parse_gemini_stream(out, kNow);
    REQUIRE(r);
    REQUIRE(r->rate_limit);
    CHECK(r->rate_limit->resets_at == TimePoint{});
    CHECK(r->rate_limit->detail.find("daily quota") != std::string::npos);
    CHECK(r->session_id == "d241b1b4-1f18-4573-8b69-86e0ca0f6679");
    REQUIRE(r->limits.size() == 1);
    CHECK(r->limits[0].status == "rejected");
  }
  SUBCASE("a per-minute limit that says when") {
    const std::string out = lines({
        kInit,
        R"({"type":"result","status":"error","error":{"type":"RetryableQuotaError","message":"Resource has been exhausted (e.g. check quota).\nSuggested retry after 37s."},"stats":{}})",
    });
    auto r = cli_formats::parse_gemini_stream(out, kNow);
    REQUIRE(r);
    REQUIRE(r->rate_limit);
    CHECK(r->rate_limit->resets_at == kNow + seconds{37});
  }
}

TEST_CASE("cli formats: gemini retry hints are read") {
  CHECK(cli_formats::gemini_retry_at("Please retry in 37.5s.", kNow) == kNow + milliseconds{37500});
  CHECK(cli_formats::gemini_retry_at("Suggested retry after 37s.. Retrying after 41406ms...",
                                     kNow) == kNow + seconds{37});
  CHECK(cli_formats::gemini_retry_at(R"({"retryDelay": "5h20m"})", kNow) ==
        kNow + hours{5} + minutes{20});
  CHECK(cli_formats::gemini_retry_at("retry in 2 minutes", kNow) == kNow + minutes{2});
  CHECK_FALSE(cli_formats::gemini_retry_at("Please wait and try again later.", kNow));
  CHECK(cli_formats::is_gemini_limit(
      "[API Error: You have exhausted your daily quota on this model.]"));
  CHECK(cli_formats::is_gemini_limit("got status: 429 Too Many Requests"));
  CHECK(cli_formats::is_gemini_limit("RESOURCE_EXHAUSTED"));
  CHECK_FALSE(cli_formats::is_gemini_limit("Invalid auth method selected."));
  CHECK_FALSE(cli_formats::is_gemini_limit("file of 14290 bytes"));
}

TEST_CASE("cli formats: other gemini errors are errors with gemini's message") {
  const std::string out = lines({
      kInit,
      R"({"type":"result","status":"error","error":{"type":"FatalTurnLimitedError","message":"Reached max session turns for this session."},"stats":{}})",
  });
  auto r = cli_formats::parse_gemini_stream(out, kNow);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::io);
  CHECK(r.error().message.find("FatalTurnLimitedError") != std::string::npos);
  CHECK(r.error().message.find("max session turns") != std::string::npos);
}

TEST_CASE(
    "cli formats: malformed or cut short gemini output is an error that says what is missing") {
  SUBCASE("no JSON at all") {
    auto r = cli_formats::parse_gemini_stream("Gemini CLI is not running in a trusted directory.\n",
                                              kNow);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("no JSON events") != std::string::npos);
    CHECK(r.error().message.find("trusted directory") != std::string::npos);
  }
  SUBCASE("cut off before the result") {
    auto r = cli_formats::parse_gemini_stream(
        lines({kInit, kUser, R"({"type":"message","role":"assistant","content":"Do)"}), kNow);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("without a result line") != std::string::npos);
  }
  SUBCASE("a result without an answer") {
    auto r = cli_formats::parse_gemini_stream(
        lines({kInit, R"({"type":"result","status":"success","stats":{}})"}), kNow);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("without an answer") != std::string::npos);
  }
  SUBCASE("unknown events and stray lines are skipped") {
    auto r = cli_formats::parse_gemini_stream(
        lines({"Ripgrep is not available.", kInit, R"({"type":"new_kind","x":1})",
               R"({"type":"message","role":"assistant","content":"fine","delta":true})",
               R"({"type":"result","status":"success","future":[1]})"}),
        kNow);
    REQUIRE(r);
    CHECK(r->text == "fine");
    CHECK(r->usage.input_tokens == 0);
  }
}

TEST_CASE("cli formats: gemini json output gives the response, usage and session") {
  const std::string out = R"({
  "session_id": "0cef721b-eefc-4fcf-b761-0d0fe398d726",
  "response": "Done.\n```agency\nverdict: fail\nsummary: broken\nfindings:\n  - a bug\n```\n",
  "stats": {
    "models": {
      "gemini-fake": {
        "api": {"totalRequests": 6, "totalErrors": 0, "totalLatencyMs": 79},
        "tokens": {"input": 600, "prompt": 720, "candidates": 180, "total": 900,
                   "cached": 120, "thoughts": 15, "tool": 5},
        "roles": {"main": {"totalRequests": 1}}
      },
      "gemini-lite": {
        "tokens": {"prompt": 50, "candidates": 5, "total": 55, "cached": 10}
      }
    },
    "tools": {"totalCalls": 0},
    "files": {"totalLinesAdded": 0}
  }
})";
  auto r = cli_formats::parse_gemini_json(out, kNow);
  REQUIRE(r);
  CHECK(r->session_id == "0cef721b-eefc-4fcf-b761-0d0fe398d726");
  CHECK(r->verdict == "fail");
  REQUIRE(r->block.findings.size() == 1);
  CHECK(r->block.findings[0] == "a bug");
  CHECK(r->usage.input_tokens == 600 + 5 + 40);
  CHECK(r->usage.cache_read_tokens == 130);
  CHECK(r->usage.output_tokens == 180 + 15 + 5);
  CHECK(r->model == "gemini-fake");
}

TEST_CASE("cli formats: gemini json errors, on stderr after its warnings") {
  SUBCASE("a 429 is a rate limit") {
    const std::string err =
        "Warning: 256-color support not detected.\n"
        "Error when talking to Gemini API TerminalQuotaError: You have exhausted your daily quota\n"
        "{\n  \"session_id\": \"31719d1e\",\n  \"error\": {\n    \"type\": \"Error\",\n"
        "    \"message\": \"You have exhausted your daily quota on this model.\",\n"
        "    \"code\": 429\n  }\n}";
    auto r = cli_formats::parse_gemini_json(err, kNow);
    REQUIRE(r);
    REQUIRE(r->rate_limit);
    CHECK(r->session_id == "31719d1e");
  }
  SUBCASE("other errors fail") {
    auto r = cli_formats::parse_gemini_json(
        R"({"session_id":"s","error":{"type":"Error","message":"Invalid auth method selected.","code":41}})",
        kNow);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("Invalid auth method") != std::string::npos);
  }
  SUBCASE("not JSON, or no response") {
    auto r = cli_formats::parse_gemini_json("Loaded cached credentials.", kNow);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("not a JSON object") != std::string::npos);
    auto n = cli_formats::parse_gemini_json(R"({"session_id":"s","stats":{}})", kNow);
    REQUIRE_FALSE(n);
    CHECK(n.error().message.find("no response") != std::string::npos);
  }
}

}  // namespace
}  // namespace agency
