// The `agency` command as a user runs it, against a real nats-server.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agency/v1/dead.pb.h"
#include "bus/codec.hpp"
#include "bus/provision.hpp"
#include "bus/subjects.hpp"
#include "runtime/config.hpp"
#include "runtime/inbox.hpp"
#include "tests/support/nats_server.hpp"
#include "tests/support/run.hpp"

namespace agency {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

// The CLI with a clean NATS environment, so the developer's own settings
// never leak into a test.
test::RunResult agency_cli(std::vector<std::string> args, const std::string& url,
                           const test::TempDir& dir) {
  std::vector<std::string> argv{test::agency_binary()};
  if (!url.empty()) {
    argv.push_back("--nats");
    argv.push_back(url);
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return test::run(argv, {{"NATS_URL", ""},
                          {"NATS_CONTEXT", ""},
                          {"AGENCY_CONFIG", ""},
                          {"XDG_CONFIG_HOME", dir.path().string()}});
}

// Bytes a terminal would act on: C0 controls but a newline, DEL, and C1
// controls as UTF-8. Written without the escaping code under test.
bool terminal_control_in(const std::string& s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if ((b < 0x20 && b != '\n') || b == 0x7f) return true;
    if (b == 0xC2 && i + 1 < s.size()) {
      const auto next = static_cast<unsigned char>(s[i + 1]);
      if (next >= 0x80 && next <= 0x9f) return true;
    }
  }
  return false;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

TEST_CASE("cli: init provisions, and running it twice changes nothing") {
  test::NatsServer server;
  test::TempDir dir;
  auto first = agency_cli({"init", "--json"}, server.url(), dir);
  REQUIRE_MESSAGE(first.exit_code == 0, first.err);
  auto r1 = json::parse(first.out);
  CHECK(r1["created"].size() > 0);
  auto second = agency_cli({"init", "--json"}, server.url(), dir);
  REQUIRE_MESSAGE(second.exit_code == 0, second.err);
  auto r2 = json::parse(second.out);
  CHECK(r2["created"].empty());
  CHECK(r2["updated"].empty());
  CHECK(r2["unchanged"].size() == r1["created"].size());
  auto human = agency_cli({"init"}, server.url(), dir);
  CHECK(human.out.find("0 created, 0 updated") != std::string::npos);
}

TEST_CASE("cli: brief puts a Brief in the stream and prints the task id") {
  test::NatsServer server;
  test::TempDir dir;
  REQUIRE(agency_cli({"init"}, server.url(), dir).exit_code == 0);
  auto sent = agency_cli({"brief", "planner", "Add rate limiting to the API"}, server.url(), dir);
  REQUIRE_MESSAGE(sent.exit_code == 0, sent.err);
  std::string task_id = trim(sent.out);
  CHECK(task_id.rfind("t-", 0) == 0);

  auto c = server.connect();
  auto inbox = BriefInbox::open(*c, "planner", "planner-test");
  REQUIRE(inbox.ok());
  auto got = inbox->next(5000ms);
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK((*got)->brief.objective() == "Add rate limiting to the API");
  CHECK((*got)->brief.task_id() == task_id);
  CHECK((*got)->brief.stage() == "ready-for-prep");
  CHECK((*got)->brief.origin() == "agency-cli");
  CHECK((*got)->message.header("Agency-Type") == std::optional<std::string>("agency.v1.Brief"));
  CHECK((*got)->message.header("Nats-Msg-Id") ==
        std::optional<std::string>(task_id + ":ready-for-prep:1"));

  auto shown = agency_cli({"task", "show", task_id, "--json"}, server.url(), dir);
  REQUIRE_MESSAGE(shown.exit_code == 0, shown.err);
  auto task = json::parse(shown.out);
  CHECK(task["id"] == task_id);
  CHECK(task["stage"] == "ready-for-prep");
  CHECK(task["title"] == "Add rate limiting to the API");
  REQUIRE(task["events"].size() == 1);
  CHECK(task["events"][0]["kind"] == "created");

  auto listed =
      agency_cli({"task", "list", "--stage", "ready-for-prep", "--json"}, server.url(), dir);
  REQUIRE(listed.exit_code == 0);
  auto tasks = json::parse(listed.out);
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0]["id"] == task_id);
  auto none = agency_cli({"task", "list", "--stage", "done", "--json"}, server.url(), dir);
  CHECK(json::parse(none.out).empty());
}

TEST_CASE("cli: brief from --json and --file, and bad input is refused with a reason") {
  test::NatsServer server;
  test::TempDir dir;
  REQUIRE(agency_cli({"init"}, server.url(), dir).exit_code == 0);
  auto from_json = agency_cli({"brief", "builder", "--json",
                               R"({"objective":"Fix it","doneWhen":"tests pass"})", "--print-json"},
                              server.url(), dir);
  REQUIRE_MESSAGE(from_json.exit_code == 0, from_json.err);
  auto out = json::parse(from_json.out);
  CHECK(out["stage"] == "ready-for-dev");
  CHECK(out["duplicate"] == false);

  auto bad_json =
      agency_cli({"brief", "builder", "--json", R"({"objective": 5})"}, server.url(), dir);
  CHECK(bad_json.exit_code != 0);
  CHECK(bad_json.err.find("objective") != std::string::npos);

  auto missing_file =
      agency_cli({"brief", "builder", "--file", "/nonexistent/brief.md"}, server.url(), dir);
  CHECK(missing_file.exit_code != 0);
  CHECK(missing_file.err.find("/nonexistent/brief.md") != std::string::npos);

  auto two = agency_cli({"brief", "builder", "text", "--json", "{}"}, server.url(), dir);
  CHECK(two.exit_code == 2);
  CHECK(two.err.find("exactly one") != std::string::npos);

  auto bad_role = agency_cli({"brief", "plan.ner", "x"}, server.url(), dir);
  CHECK(bad_role.exit_code == 2);
  CHECK(bad_role.err.find("not a role name") != std::string::npos);
}

TEST_CASE("cli: with no server it says which URL it tried and how to start one") {
  test::TempDir dir;
  auto port = find_free_port();
  REQUIRE(port.ok());
  std::string url = "nats://127.0.0.1:" + std::to_string(*port);
  auto r = agency_cli({"brief", "planner", "hello"}, url, dir);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find(url) != std::string::npos);
  CHECK(r.err.find("agency up") != std::string::npos);
  CHECK(r.out.empty());
}

TEST_CASE("cli: a command that connects refuses an agency.yaml that `agency up` would refuse") {
  test::TempDir dir;
  std::filesystem::create_directories(dir.path() / "api");
  const auto config = dir.path() / "agency.yaml";
  std::ofstream(config) << "projects:\n  - name: api\n    repo: api\n";
  // No --nats: the CLI reads agency.yaml to find the server of `agency up`.
  auto r = agency_cli({"--config", config.string(), "status"}, "", dir);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(config.string() + ":3: projects[0].repo: ") != std::string::npos);
  CHECK(r.err.find("is not a git repository") != std::string::npos);
  CHECK(r.out.empty());
}

TEST_CASE("cli: dead shows what could not be processed, with the reason") {
  test::NatsServer server;
  test::TempDir dir;
  auto c = server.connect();
  REQUIRE(provision(*c, agency::config::provision_plan(agency::config::Config{}, {})).ok());
  const char* bad = "\xc3\x28 not utf-8";
  REQUIRE(natsConnection_PublishString(c->raw(), "agency.brief.planner", bad) == NATS_OK);
  REQUIRE(natsConnection_Flush(c->raw()) == NATS_OK);
  auto inbox = BriefInbox::open(*c, "planner", "planner-1");
  REQUIRE(inbox.ok());
  auto none = inbox->next(1000ms);
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
  REQUIRE(inbox->dead_lettered() == 1);

  auto dead = agency_cli({"dead", "--json"}, server.url(), dir);
  REQUIRE_MESSAGE(dead.exit_code == 0, dead.err);
  auto letters = json::parse(dead.out);
  REQUIRE(letters.size() == 1);
  CHECK(letters[0]["originalSubject"] == "agency.brief.planner");
  CHECK(letters[0]["reason"].get<std::string>().find("UTF-8") != std::string::npos);
  auto human = agency_cli({"dead"}, server.url(), dir);
  CHECK(human.out.find("agency.brief.planner") != std::string::npos);
}

TEST_CASE("cli: control bytes a publisher chose are shown escaped, never sent to the terminal") {
  test::NatsServer server;
  test::TempDir dir;
  REQUIRE(agency_cli({"init"}, server.url(), dir).exit_code == 0);
  auto c = server.connect();

  SUBCASE("dead: a dead letter written by hand, and one the codec wrote") {
    // Anyone may publish on agency.dead.>: the reason retitles the window,
    // rings the bell and sends a C1 CSI.
    v1::DeadLetter letter;
    letter.set_role("planner");
    letter.set_original_subject("agency.brief.\x1b[2Jplanner");
    letter.set_reason(
        "boom \x1b]0;pwned\x07 \xC2\x9B"
        "31mred\x7f");
    letter.set_payload("{\"objective\":\"x\"}\x1b]0;title\x07");
    REQUIRE(c->publish(subjects::dead("planner"), codec::encode(letter)).ok());
    // The issue's own payload, dead-lettered by an inbox.
    const std::string hostile = "{\"objective\":\"x\"}\x1b]0;title\x07...";
    REQUIRE(natsConnection_Publish(c->raw(), "agency.brief.planner", hostile.data(),
                                   static_cast<int>(hostile.size())) == NATS_OK);
    REQUIRE(c->flush(5000ms).ok());
    auto inbox = BriefInbox::open(*c, "planner", "planner-1");
    REQUIRE(inbox.ok());
    auto none = inbox->next(1000ms);
    REQUIRE(none.ok());
    CHECK_FALSE(none->has_value());
    REQUIRE(inbox->dead_lettered() == 1);

    auto human = agency_cli({"dead"}, server.url(), dir);
    REQUIRE_MESSAGE(human.exit_code == 0, human.err);
    CHECK_FALSE(terminal_control_in(human.out));
    CHECK(human.out.find("boom \\x1b]0;pwned\\x07 \\u009b31mred\\x7f") != std::string::npos);
    CHECK(human.out.find("agency.brief.\\x1b[2Jplanner") != std::string::npos);
    CHECK(human.out.find("invalid JSON at byte 17") != std::string::npos);

    auto as_json = agency_cli({"dead", "--json"}, server.url(), dir);
    REQUIRE_MESSAGE(as_json.exit_code == 0, as_json.err);
    CHECK_FALSE(terminal_control_in(as_json.out));
    // Still exact JSON: the values are the bytes that were sent.
    auto letters = json::parse(as_json.out);
    REQUIRE(letters.size() == 2);
    CHECK(letters[0]["reason"] == letter.reason());
    CHECK(letters[0]["originalSubject"] == letter.original_subject());
  }

  SUBCASE("task show and brief errors") {
    // Valid JSON may carry any character as an escape.
    auto sent = agency_cli(
        {"brief", "planner", "--json",
         R"({"objective":"title\u001b]0;pwned\u0007 \u009b31m\u007f\rhidden\nsecond line"})"},
        server.url(), dir);
    REQUIRE_MESSAGE(sent.exit_code == 0, sent.err);
    const std::string task_id = trim(sent.out);
    auto shown = agency_cli({"task", "show", task_id}, server.url(), dir);
    REQUIRE_MESSAGE(shown.exit_code == 0, shown.err);
    CHECK_FALSE(terminal_control_in(shown.out));
    CHECK(shown.out.find("title\\x1b]0;pwned\\x07 \\u009b31m\\x7f\\rhidden\n") !=
          std::string::npos);
    // The way it walks, where it is.
    CHECK(shown.out.find("\npipeline [ready-for-prep] > ready-for-dev > qa > review > ") !=
          std::string::npos);

    auto as_json = agency_cli({"task", "show", task_id, "--json"}, server.url(), dir);
    REQUIRE_MESSAGE(as_json.exit_code == 0, as_json.err);
    CHECK_FALSE(terminal_control_in(as_json.out));
    CHECK(json::parse(as_json.out)["title"] ==
          "title\x1b]0;pwned\x07 \xC2\x9B"
          "31m\x7f\rhidden");

    auto listed = agency_cli({"task", "list"}, server.url(), dir);
    REQUIRE_MESSAGE(listed.exit_code == 0, listed.err);
    CHECK_FALSE(terminal_control_in(listed.out));
    CHECK(listed.out.find(task_id) != std::string::npos);

    // The error quotes the input; the terminal gets it escaped.
    auto refused = agency_cli(
        {"brief", "planner", "--json", "{\"objective\":\"x\"}\x1b]0;title\x07"}, server.url(), dir);
    CHECK(refused.exit_code != 0);
    CHECK(refused.err.find("invalid JSON at byte 17") != std::string::npos);
    CHECK_FALSE(terminal_control_in(refused.err));
  }
}

TEST_CASE("cli: status lists queued briefs per role") {
  test::NatsServer server;
  test::TempDir dir;
  REQUIRE(agency_cli({"init"}, server.url(), dir).exit_code == 0);
  REQUIRE(agency_cli({"brief", "scout", "look around"}, server.url(), dir).exit_code == 0);
  REQUIRE(agency_cli({"brief", "scout", "look again"}, server.url(), dir).exit_code == 0);
  auto status = agency_cli({"status", "--json"}, server.url(), dir);
  REQUIRE_MESSAGE(status.exit_code == 0, status.err);
  auto s = json::parse(status.out);
  CHECK(s["agents"].empty());
  bool found = false;
  for (const auto& q : s["queues"]) {
    if (q["consumer"] == "briefs-scout") {
      found = true;
      CHECK(q["pending"] == 2);
    }
  }
  CHECK(found);
}

TEST_CASE("cli: watch shows a brief published by a plain client as one readable line") {
  test::NatsServer server;
  test::TempDir dir;
  REQUIRE(agency_cli({"init"}, server.url(), dir).exit_code == 0);
  test::Child watch({test::agency_binary(), "--nats", server.url(), "watch", "agency.brief.>",
                     "--count", "1", "--timeout", "20"},
                    dir.path(), {{"NATS_URL", ""}, {"NATS_CONTEXT", ""}});
  REQUIRE_MESSAGE(watch.wait_for_output("watching", 10s), watch.err());
  auto c = server.connect();
  REQUIRE(natsConnection_PublishString(c->raw(), "agency.brief.planner",
                                       "Add rate limiting to the API") == NATS_OK);
  REQUIRE(natsConnection_Flush(c->raw()) == NATS_OK);
  REQUIRE(watch.wait(15s) == 0);
  auto out = watch.out();
  CHECK(out.find("agency.brief.planner") != std::string::npos);
  CHECK(out.find("Add rate limiting to the API") != std::string::npos);
  CHECK(std::count(out.begin(), out.end(), '\n') == 1);
}

TEST_CASE(
    "cli: sim needs no server and prints the three policies and the oracle as JSON, bad options "
    "exit 2") {
  test::TempDir dir;
  auto r = agency_cli({"sim", "--json", "--days", "2", "--seed", "7"}, "", dir);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto out = json::parse(r.out);
  CHECK(out.at("setup").at("days") == 2);
  CHECK(out.at("setup").at("seed") == 7);
  std::vector<std::string> policies;
  for (const auto& p : out.at("policies")) {
    policies.push_back(p.at("policy").get<std::string>());
    CHECK(p.at("human_requests").get<int>() > 0);
    // Two days of a week's budget: the oracle can fill every step, the
    // policies do not.
    if (!p.at("bound").get<bool>()) CHECK(p.at("unused_total").get<std::int64_t>() > 0);
  }
  CHECK(policies == std::vector<std::string>{"greedy", "fixed", "agency", "oracle"});
  CHECK(out.at("policies").at(2).at("human_denied") == 0);
  // The oracle is a bound: no policy leaves less unused.
  const auto bound = out.at("policies").at(3).at("unused_total").get<std::int64_t>();
  CHECK(out.at("policies").at(3).at("bound") == true);
  for (const auto& p : out.at("policies")) {
    CHECK(p.at("unused_total").get<std::int64_t>() >= bound);
  }

  auto bad = agency_cli({"sim", "--days", "0"}, "", dir);
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--days") != std::string::npos);
  CHECK(bad.out.empty());
}

}  // namespace
}  // namespace agency
