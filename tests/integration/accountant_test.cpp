// The accountant with a real nats-server and real agents: its ledger of
// the human's transcripts equals the real ccusage 17's day totals and
// survives a restart without reading anything twice; leases follow the
// reserve and calibration; the runaway guard blocks a task; agents with
// no accountant follow the fallback.
#include <doctest/doctest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "agency/v1/dead.pb.h"
#include "agency/v1/event.pb.h"
#include "agency/v1/fleet.pb.h"
#include "agency/v1/usage.pb.h"
#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/consumer.hpp"
#include "bus/kv.hpp"
#include "bus/subjects.hpp"
#include "roles/accountant/accounting.hpp"
#include "roles/accountant/ledger_io.hpp"
#include "roles/accountant/settings.hpp"
#include "roles/accountant/sim.hpp"
#include "runtime/config.hpp"
#include "runtime/limits.hpp"
#include "runtime/localtime.hpp"
#include "tests/support/model_server.hpp"
#include "tests/support/pipeline.hpp"
#include "tests/support/run.hpp"
#include "tests/support/transcript_gen.hpp"

namespace agency {
namespace {

using namespace std::chrono_literals;
using test::bin;
using test::Pipeline;

const char* kScenario = R"(planner:
  - spec: "Add GREETING.md"
builder:
  - write: {path: GREETING.md, content: "hello\n"}
adversary:
  - verdict: pass
reviewer:
  - verdict: pass
)";

config::Accountant accountant_config(const Pipeline& p) {
  auto c = config::load_file(p.dir() / "agency.yaml");
  REQUIRE_MESSAGE(c.ok(), c.error().message);
  return agency::config::accountant(*c);
}

// The ledger's day totals in UTC, as ccusage's daily report has them.
std::map<std::string, accounting::TokenCounts> ledger_days(Pipeline& p) {
  auto ledger = accounting::replay_ledger(p.connection(), accountant_config(p));
  REQUIRE(ledger.ok());
  std::map<std::string, accounting::TokenCounts> days;
  for (const auto* e : ledger->all()) {
    auto local = to_local(e->at, "UTC");
    char date[16];
    std::snprintf(date, sizeof date, "%04d-%02d-%02d", local.year, local.month, local.day);
    days[date] += e->tokens;
  }
  return days;
}

bool same_days(const std::map<std::string, accounting::TokenCounts>& ours,
               const std::map<std::string, nlohmann::json>& theirs) {
  if (ours.size() != theirs.size()) return false;
  for (const auto& [date, t] : ours) {
    auto it = theirs.find(date);
    if (it == theirs.end()) return false;
    const auto& j = it->second;
    if (t.input != j.at("inputTokens").get<std::int64_t>() ||
        t.output != j.at("outputTokens").get<std::int64_t>() ||
        t.cache_creation != j.at("cacheCreationTokens").get<std::int64_t>() ||
        t.cache_read != j.at("cacheReadTokens").get<std::int64_t>()) {
      return false;
    }
  }
  return true;
}

v1::LeaseReply ask_lease(Pipeline& p, const std::string& priority, std::int64_t estimate,
                         const std::string& task_id = {}, bool probe = false) {
  v1::Lease lease;
  lease.set_id("lease-" +
               std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  lease.set_agent_id("tester");
  lease.set_role("builder");
  lease.set_priority(priority);
  lease.set_estimate_tokens(estimate);
  lease.set_model("claude-sonnet-4-5");
  lease.set_task_id(task_id);
  lease.set_probe(probe);
  auto answer = p.connection().request(subjects::kBudgetLease, codec::encode(lease), 5s);
  REQUIRE_MESSAGE(answer.ok(), answer.error().message);
  auto reply = codec::decode<v1::LeaseReply>(answer->data(), answer->headers());
  REQUIRE(reply.ok());
  return *reply;
}

void publish_agent_usage(Pipeline& p, const std::string& id, std::int64_t tokens) {
  v1::UsageSample s;
  s.set_id(id);
  s.set_engine("claude");
  s.set_model("claude-sonnet-4-5");
  s.set_role("builder");
  s.set_agent_id("builder-1");
  s.set_input_tokens(tokens);
  s.set_started_by_agency(true);
  s.set_source("engine");
  *s.mutable_at() = now_timestamp();
  REQUIRE(
      p.connection().js_publish(subjects::usage("claude", "builder"), codec::encode(s), id).ok());
}

TEST_CASE(
    "accountant: the human's transcripts equal ccusage daily, and a restart reads nothing twice") {
  Pipeline p(kScenario, {},
             "accountant:\n  transcripts_every_seconds: 1\n  time_zone: UTC\n  accounts:\n"
             "    - name: me\n      config_dir: claude\n      plan: max5\n");
  const auto config_dir = p.dir() / "claude";
  test::Generator gen;
  const std::int64_t t0 = 1'794'949'200'000;  // 2026-11-18 21:00 UTC
  test::write_lines(config_dir / "projects" / "-work-api" / "s-1.jsonl",
                    gen.session(t0, "s-1", 30));
  test::write_lines(config_dir / "projects" / "-work-web" / "s-2.jsonl",
                    gen.session(t0 + 27LL * 3600 * 1000, "s-2", 25));

  // Every transcript sample published, deduplicated by the stream or not:
  // many to a message (UsageSamples), as the ledger's readers read them.
  std::atomic<int> published{0};
  std::atomic<int> messages{0};
  auto sub = p.connection().subscribe("agency.usage.samples.claude", {}, [&](Incoming m) {
    auto read = accounting::read_usage(m, config::Limits{}.usage_bytes);
    if (read) published.fetch_add(static_cast<int>(read->entries.size()));
    messages.fetch_add(1);
  });
  REQUIRE(sub.ok());

  p.start("accountant", "accountant-1");
  auto theirs = test::ccusage_daily(config_dir, "UTC");
  REQUIRE_FALSE(theirs.empty());
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!same_days(ledger_days(p), theirs) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(200ms);  // polling the ledger, with a deadline
  }
  auto ours = ledger_days(p);
  REQUIRE(ours.size() == theirs.size());
  for (const auto& [date, t] : ours) {
    CAPTURE(date);
    REQUIRE(theirs.count(date) == 1);
    CHECK(t.input == theirs.at(date).at("inputTokens").get<std::int64_t>());
    CHECK(t.output == theirs.at(date).at("outputTokens").get<std::int64_t>());
    CHECK(t.cache_creation == theirs.at(date).at("cacheCreationTokens").get<std::int64_t>());
    CHECK(t.cache_read == theirs.at(date).at("cacheReadTokens").get<std::int64_t>());
  }
  // `agency usage --json` reads the same ledger from the stream and says the same.
  auto usage = test::run({bin("agency"), "--config", (p.dir() / "agency.yaml").string(), "--nats",
                          p.server().url(), "usage", "--json", "--days", "400"},
                         {}, 60s);
  REQUIRE_MESSAGE(usage.exit_code == 0, usage.err);
  auto report = nlohmann::json::parse(usage.out);
  std::map<std::string, nlohmann::json> reported;
  for (const auto& d : report.at("day_totals")) reported[d.at("date").get<std::string>()] = d;
  REQUIRE(reported.size() == theirs.size());
  for (const auto& [date, t] : theirs) {
    CAPTURE(date);
    REQUIRE(reported.count(date) == 1);
    const auto& human = reported.at(date).at("human");
    CHECK(human.at("input") == t.at("inputTokens"));
    CHECK(human.at("output") == t.at("outputTokens"));
    CHECK(human.at("cache_creation") == t.at("cacheCreationTokens"));
    CHECK(human.at("cache_read") == t.at("cacheReadTokens"));
  }
  // The chart of the same ledger: a panel per window with a limit, as SVG and,
  // through rsvg-convert, as PNG.
  for (const std::string name : {"usage.svg", "usage.png"}) {
    CAPTURE(name);
    const auto file = p.dir() / name;
    auto chart = test::run({bin("agency"), "--config", (p.dir() / "agency.yaml").string(), "--nats",
                            p.server().url(), "usage", "--chart", file.string()},
                           {}, 60s);
    REQUIRE_MESSAGE(chart.exit_code == 0, chart.err);
    CHECK(chart.err.find("chart written to " + file.string()) != std::string::npos);
    std::ifstream in(file, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (name.ends_with(".svg")) {
      CHECK(bytes.find("data-window=\"five_hour\"") != std::string::npos);
      CHECK(bytes.find("data-window=\"seven_day\"") != std::string::npos);
    } else {
      REQUIRE(bytes.size() > 1000);
      CHECK(bytes.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
    }
  }
  const int first_read = published.load();
  CHECK(first_read > 0);
  // Far fewer messages than samples: the stream stores batches.
  CHECK(messages.load() * 10 <= first_read);

  // Killed, more lines written meanwhile, restarted: only the new lines are
  // published, and the ledger equals ccusage again.
  p.agent("accountant-1").signal(SIGKILL);
  p.agent("accountant-1").wait(10s);
  p.forget("accountant-1");
  auto more = gen.session(t0 + 60LL * 3600 * 1000, "s-3", 12);
  test::write_lines(config_dir / "projects" / "-work-web" / "s-3.jsonl", more);
  p.start("accountant", "accountant-1");
  theirs = test::ccusage_daily(config_dir, "UTC");
  deadline = std::chrono::steady_clock::now() + 30s;
  while (!same_days(ledger_days(p), theirs) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(200ms);  // polling the ledger, with a deadline
  }
  CHECK(same_days(ledger_days(p), theirs));
  // s-3's assistant lines: at most 2 per message plus the extra ones the
  // generator writes; far fewer than a re-read of everything.
  const int second_read = published.load() - first_read;
  CHECK(second_read > 0);
  CHECK(second_read <= static_cast<int>(more.size()));
  CHECK(second_read < first_read);
}

TEST_CASE(
    "accountant: the reserve defers agents, the human is granted, calibration moves the limit") {
  Pipeline p(kScenario, {},
             "accountant:\n  time_zone: UTC\n  accounts:\n    - name: default\n"
             "      five_hour: 1000\n      seven_day: 1000000\n");
  p.start("accountant", "accountant-1");
  p.wait_for_accountant();
  publish_agent_usage(p, "u-1", 790);
  // The sample reaches the ledger live: poll until an ask over the reserve is
  // deferred. Probes, so the asks granted before it arrives lease nothing.
  v1::LeaseReply over;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  do {
    over = ask_lease(p, "interactive", 20, {}, true);
  } while (over.granted() && std::chrono::steady_clock::now() < deadline);
  CHECK_FALSE(over.granted());
  CHECK(over.reason().find("reserve") != std::string::npos);
  CHECK(over.has_retry_at());
  CHECK(ask_lease(p, "interactive", 5).granted());
  CHECK(ask_lease(p, "human", 150).granted());

  // The plan says 10% of the window is used: 790 + 5 + 150 leased... only
  // used tokens calibrate: 790 / 10% = 7,900.
  v1::LimitReading reading;
  reading.set_engine("claude");
  reading.set_window("five_hour");
  reading.set_utilization(10);
  reading.set_source("statusline");
  *reading.mutable_at() = now_timestamp();
  REQUIRE(p.connection().js_publish(subjects::limits("claude"), codec::encode(reading)).ok());
  v1::LeaseReply after;
  deadline = std::chrono::steady_clock::now() + 10s;
  do {
    after = ask_lease(p, "interactive", 20);
  } while (!after.granted() && std::chrono::steady_clock::now() < deadline);
  CHECK(after.granted());
  auto ledger = accounting::replay_ledger(p.connection(), accountant_config(p));
  REQUIRE(ledger.ok());
  auto w =
      ledger->window("default", accounting::Window::five_hour, std::chrono::system_clock::now());
  CHECK(w.limit == 7900);
  CHECK(w.limit_source.find("calibrated") != std::string::npos);
}

TEST_CASE("accountant: an absurd lease estimate is refused and holds nothing") {
  Pipeline p(kScenario, {},
             "accountant:\n  time_zone: UTC\n  accounts:\n    - name: default\n"
             "      five_hour: 1000\n      seven_day: 1000000\n");
  p.start("accountant", "accountant-1");
  p.wait_for_accountant();
  // Granted, a hold this large would defer every other ask until it expired.
  for (std::int64_t absurd : {accounting::kMaxTokens + 1, std::int64_t{1'000'000'000'000'000},
                              std::numeric_limits<std::int64_t>::max()}) {
    CAPTURE(absurd);
    auto refused = ask_lease(p, "human", absurd);
    CHECK_FALSE(refused.granted());
    CHECK(refused.reason().find("estimate_tokens " + std::to_string(absurd)) != std::string::npos);
  }
  auto after = ask_lease(p, "interactive", 5);
  CHECK_MESSAGE(after.granted(), after.reason());
}

// The accountant's dead letters, by the payload's text.
std::vector<v1::DeadLetter> accountant_letters(Pipeline& p) {
  auto msgs = replay(p.connection(), subjects::kDeadStream, "agency.dead.accountant", 100);
  std::vector<v1::DeadLetter> out;
  if (!msgs) return out;
  for (const auto& m : *msgs) {
    auto letter = codec::decode<v1::DeadLetter>(m.data(), m.headers());
    REQUIRE(letter.ok());
    out.push_back(std::move(*letter));
  }
  return out;
}

std::vector<v1::DeadLetter> wait_for_letters(Pipeline& p, std::size_t count) {
  auto letters = accountant_letters(p);
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (letters.size() < count && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);  // polling a stream, with a deadline
    letters = accountant_letters(p);
  }
  return letters;
}

// The letter whose payload holds `text`, with its reason.
std::string reason_for(const std::vector<v1::DeadLetter>& letters, const std::string& text) {
  for (const auto& l : letters) {
    if (l.payload().find(text) != std::string::npos) return l.reason();
  }
  return "(no dead letter for " + text + ")";
}

// Every token figure in a JSON report, wherever it is nested.
void token_figures(const nlohmann::json& j, std::vector<std::int64_t>& out) {
  if (j.is_object()) {
    for (const auto& [key, v] : j.items()) {
      if (v.is_number_integer() &&
          (key == "input" || key == "output" || key == "counted" || key == "cache_creation" ||
           key == "cache_read" || key == "human" || key == "agents" || key == "used")) {
        out.push_back(v.get<std::int64_t>());
      } else {
        token_figures(v, out);
      }
    }
  } else if (j.is_array()) {
    for (const auto& v : j) token_figures(v, out);
  }
}

TEST_CASE(
    "accountant: absurd usage and bad limit readings are dead letters with the reason, and "
    "the totals stay sane") {
  Pipeline p(kScenario, {},
             "accountant:\n  time_zone: UTC\n  transcripts_every_seconds: 1\n  accounts:\n"
             "    - name: default\n      five_hour: 2000\n      seven_day: 1000000\n");
  p.start("accountant", "accountant-1");
  p.wait_for_accountant();
  const std::string now = "\"" + accounting::rfc3339(std::chrono::system_clock::now()) + "\"";
  auto agent = [&](const std::string& id, const std::string& tokens) {
    return R"({"id":")" + id +
           R"(","engine":"claude","model":"claude-sonnet-4-5","role":"builder",)"
           R"("agentId":"builder-1","startedByAgency":true,"source":"engine","at":)" +
           now + "," + tokens + "}";
  };
  auto human = [&](const std::string& id, const std::string& tokens) {
    return R"({"id":")" + id +
           R"(","engine":"claude","model":"claude-sonnet-4-5","source":"transcript","at":)" + now +
           "," + tokens + "}";
  };
  // What `nats pub` sends: JSON, a core publish, no headers, no message id.
  p.plain_publish("agency.usage.claude.builder",
                  agent("good-agent", R"("inputTokens":"700","outputTokens":"50","costUsd":0.5)"));
  p.plain_publish("agency.usage.claude.human", human("good-human", R"("inputTokens":"300")"));
  p.plain_publish("agency.usage.claude.human",
                  human("bad-negative", R"("inputTokens":"-5000000")"));
  p.plain_publish("agency.usage.claude.builder",
                  agent("bad-overflow", R"("outputTokens":"9223372036854775807")"));
  p.plain_publish("agency.usage.limits.claude",
                  R"({"engine":"claude","window":"five_hour","utilization":250,"source":"bad-pct",)"
                  R"("at":)" +
                      now + "}");
  p.plain_publish("agency.usage.limits.claude",
                  R"({"engine":"claude","window":"seven_day","utilization":10,)"
                  R"("resetsAt":"9999-12-31T00:00:00Z","source":"bad-reset","at":)" +
                      now + "}");

  // Each refused message is one dead letter, with the reason and its stream sequence.
  auto letters = wait_for_letters(p, 4);
  REQUIRE(letters.size() == 4);
  CHECK(reason_for(letters, "bad-negative").find("input_tokens -5000000 is outside") !=
        std::string::npos);
  CHECK(reason_for(letters, "bad-overflow").find("output_tokens 9223372036854775807") !=
        std::string::npos);
  CHECK(reason_for(letters, "bad-pct").find("utilization 250") != std::string::npos);
  CHECK(reason_for(letters, "bad-reset").find("resets_at") != std::string::npos);
  std::set<std::uint64_t> sequences;
  for (const auto& l : letters) {
    CHECK(l.role() == "accountant");
    CHECK(l.agent_id() == "accountant-1");
    CHECK(l.original_subject().starts_with("agency.usage."));
    CHECK(l.stream_sequence() > 0);
    sequences.insert(l.stream_sequence());
  }
  CHECK(sequences.size() == 4);

  // The live ledger counts the good samples only: 300 + 750 of 2,000.
  v1::LeaseReply over;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  do {
    over = ask_lease(p, "human", 1000, {}, true);
  } while (over.reason().find("1,050 of 2,000 used") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline);
  CHECK_FALSE(over.granted());
  CHECK_MESSAGE(over.reason().find("1,050 of 2,000 used") != std::string::npos, over.reason());
  CHECK(ask_lease(p, "human", 950, {}, true).granted());

  // A restart files nothing twice; what arrives after it is filed too.
  p.agent("accountant-1").signal(SIGKILL);
  p.agent("accountant-1").wait(10s);
  p.forget("accountant-1");
  p.start("accountant", "accountant-1");
  p.wait_for_accountant();
  p.plain_publish("agency.usage.claude.builder",
                  agent("bad-cost", R"("inputTokens":"10","costUsd":-3)"));
  letters = wait_for_letters(p, 5);
  CHECK(letters.size() == 5);
  CHECK(reason_for(letters, "bad-cost").find("cost_usd -3") != std::string::npos);

  // `agency usage` replays the stream on its own and skips the same ones.
  auto usage = test::run({bin("agency"), "--config", (p.dir() / "agency.yaml").string(), "--nats",
                          p.server().url(), "usage", "--json", "--days", "1"},
                         {}, 60s);
  REQUIRE_MESSAGE(usage.exit_code == 0, usage.err);
  auto report = nlohmann::json::parse(usage.out);
  std::vector<std::int64_t> figures;
  token_figures(report, figures);
  REQUIRE_FALSE(figures.empty());
  for (auto f : figures) {
    CHECK(f >= 0);
    CHECK(f <= 10'000);
  }
  std::map<std::string, nlohmann::json> roles;
  for (const auto& r : report.at("roles")) roles[r.at("role").get<std::string>()] = r;
  REQUIRE(roles.count("human") == 1);
  REQUIRE(roles.count("builder") == 1);
  CHECK(roles.at("human").at("tokens").at("input") == 300);
  CHECK(roles.at("human").at("calls") == 1);
  CHECK(roles.at("builder").at("tokens").at("input") == 700);
  CHECK(roles.at("builder").at("tokens").at("output") == 50);
  CHECK(roles.at("builder").at("cost_usd") == 0.5);
  for (const auto& w : report.at("windows")) {
    if (w.at("window") != "five_hour") continue;
    CHECK(w.at("human") == 300);
    CHECK(w.at("agents") == 750);
  }
  CHECK(report.at("refused").at("count") == 5);
  CHECK(report.at("refused").at("latest").back().at("reason").get<std::string>().find("cost_usd") !=
        std::string::npos);
}

TEST_CASE(
    "accountant: a transcript line out of range is a dead letter alone, the samples it was read "
    "with count") {
  Pipeline p(kScenario, {},
             "accountant:\n  transcripts_every_seconds: 1\n  time_zone: UTC\n  accounts:\n"
             "    - name: me\n      config_dir: claude\n");
  const auto config_dir = p.dir() / "claude";
  test::Generator gen;
  const std::int64_t t0 = 1'794'949'200'000;  // 2026-11-18 21:00 UTC
  auto lines = gen.session(t0, "s-1", 20);
  // A line dated 2019: before any engine agency reads, so the ledger's
  // readers refuse it (ccusage counts it, on its own day).
  const std::int64_t old_ms = 1'546'300'800'000;  // 2019-01-01 00:00 UTC
  lines.insert(lines.begin() + 5,
               gen.assistant(old_ms, "claude-sonnet-4-20250514", "msg_old", "req_old", "s-1"));
  test::write_lines(config_dir / "projects" / "-work-api" / "s-1.jsonl", lines);
  auto theirs = test::ccusage_daily(config_dir, "UTC");
  REQUIRE(theirs.erase("2019-01-01") == 1);

  p.start("accountant", "accountant-1");
  auto letters = wait_for_letters(p, 1);
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].original_subject() == subjects::usage("claude", subjects::kHumanUsage));
  CHECK(letters[0].payload().find("msg_old") != std::string::npos);
  CHECK_MESSAGE(letters[0].reason().find("before 2020") != std::string::npos, letters[0].reason());
  // Every other sample reached the ledger, in batches the readers took.
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!same_days(ledger_days(p), theirs) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(200ms);  // polling the ledger, with a deadline
  }
  CHECK(same_days(ledger_days(p), theirs));
  auto ledger = accounting::replay_ledger(p.connection(), accountant_config(p));
  REQUIRE(ledger.ok());
  CHECK(ledger->rejected_count() == 1);
}

TEST_CASE(
    "accountant: a transcript line with names too long for a sample still counts, and the "
    "lines after it too") {
  Pipeline p(kScenario, {},
             "accountant:\n  transcripts_every_seconds: 1\n  time_zone: UTC\n  accounts:\n"
             "    - name: me\n      config_dir: claude\n");
  const auto config_dir = p.dir() / "claude";
  test::Generator gen;
  const std::int64_t t0 = 1'794'949'200'000;  // 2026-11-18 21:00 UTC
  auto lines = gen.session(t0, "s-1", 10);
  // A model name and ids of 40,000 bytes each: a sample holding them whole
  // would be over the stream's largest message, refused and read again
  // at every look, and no line after it would ever be stored.
  const std::string long_name(40'000, 'x');
  lines.insert(lines.begin() + 3, gen.assistant(t0 + 90'000, "claude-sonnet-4-" + long_name,
                                                "msg_" + long_name, "req_" + long_name, "s-1"));
  test::write_lines(config_dir / "projects" / "-work-api" / "s-1.jsonl", lines);
  auto theirs = test::ccusage_daily(config_dir, "UTC");

  p.start("accountant", "accountant-1");
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!same_days(ledger_days(p), theirs) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(200ms);  // polling the ledger, with a deadline
  }
  CHECK(same_days(ledger_days(p), theirs));
  auto dead = replay(p.connection(), std::string(subjects::kDeadStream), "agency.dead.>", 10);
  REQUIRE(dead.ok());
  CHECK(dead->empty());
}

TEST_CASE("accountant: a task past its token budget is blocked by the runaway guard") {
  Pipeline p(kScenario, {}, "accountant:\n  time_zone: UTC\n");
  p.start("accountant", "accountant-1");
  p.wait_for_accountant();
  p.start_fleet();
  // The planner's call alone spends more than 50 tokens (the scripted
  // engine counts a quarter of the prompt's characters).
  auto r = test::run(
      {bin("agency"), "--config", (p.dir() / "agency.yaml").string(), "--nats", p.server().url(),
       "brief", "planner", "Spend too much", "--budget", "50", "--print-json"},
      {}, 30s);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto task_id = nlohmann::json::parse(r.out).at("task_id").get<std::string>();
  auto blocked = p.wait_for_stage(task_id, "blocked", 60s);
  REQUIRE(blocked.has_value());
  CHECK(blocked->blocked_reason().find("runaway guard") != std::string::npos);
  CHECK(blocked->blocked_reason().find("budget of 50") != std::string::npos);
  auto events = replay(p.connection(), subjects::kEventsStream, "agency.event.budget", 10);
  REQUIRE(events.ok());
  REQUIRE(events->size() == 1);
  auto e = codec::decode<v1::FleetEvent>((*events)[0].data(), (*events)[0].headers());
  REQUIRE(e.ok());
  CHECK(e->task_id() == task_id);
  CHECK(e->actor() == "accountant-1");
}

TEST_CASE("accountant: with the accountant down agents spend only the fallback allowance") {
  Pipeline p(kScenario, {},
             "accountant:\n  lease_timeout_ms: 300\n  fallback_tokens_per_hour: 100\n");
  p.start("planner", "planner-1");
  p.plain_publish("agency.brief.planner", "First on the fallback");
  auto first = p.task_with_objective("First on the fallback");
  REQUIRE_FALSE(first.empty());
  REQUIRE(p.wait_for_stage(first, "ready-for-dev", 30s).has_value());
  // The first call spent more than the 100-token allowance: the next brief waits.
  p.plain_publish("agency.brief.planner", "Second on the fallback");
  auto second = p.task_with_objective("Second on the fallback");
  REQUIRE_FALSE(second.empty());
  auto fleet = KeyValue::open(p.connection(), subjects::kFleetBucket);
  REQUIRE(fleet.ok());
  bool waiting = false;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!waiting && std::chrono::steady_clock::now() < deadline) {
    if (auto entry = fleet->get("planner-1"); entry.ok()) {
      auto s = codec::decode<v1::AgentStatus>(entry->value);
      waiting = s.ok() && s->last_progress().find("fallback allowance") != std::string::npos;
    }
    if (!waiting) std::this_thread::sleep_for(50ms);  // polling a record, with a deadline
  }
  CHECK(waiting);
  CHECK(p.wait_for_stage(second, "ready-for-prep", 1s).has_value());
  CHECK_FALSE(p.wait_for_stage(second, "ready-for-dev", 2s).has_value());
}

TEST_CASE("accountant: the usage endpoint's utilisation calibrates the limit") {
  // A midnight a few days ahead: a reset the ledger accepts (within a week
  // of the reading, docs/ACCOUNTING.md).
  const std::string reset =
      accounting::rfc3339(std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now()) +
                          std::chrono::days(3));
  test::TempDir scratch;
  test::ModelServer server(scratch.path(),
                           {{"usage_endpoint",
                             {{"token", "sk-oauth-test"},
                              {"answer",
                               {{"five_hour", {{"utilization", 25.0}, {"resets_at", nullptr}}},
                                {"seven_day", {{"utilization", 10.0}, {"resets_at", reset}}},
                                {"seven_day_opus", nullptr}}}}}});
  test::write(scratch.path() / "token", "sk-oauth-test\n");
  Pipeline p(kScenario, {},
             "accountant:\n  time_zone: UTC\n  usage_every_seconds: 10\n  accounts:\n"
             "    - name: default\n      plan: pro\n      usage_url: " +
                 server.url() + "/api/oauth/usage\n      token_file: " +
                 (scratch.path() / "token").string() + "\n");
  publish_agent_usage(p, "u-endpoint", 500);
  p.start("accountant", "accountant-1");
  p.wait_for_accountant();
  auto config = accountant_config(p);
  std::int64_t limit = 0;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (limit != 2000 && std::chrono::steady_clock::now() < deadline) {
    auto ledger = accounting::replay_ledger(p.connection(), config);
    REQUIRE(ledger.ok());
    limit =
        ledger->window("default", accounting::Window::five_hour, std::chrono::system_clock::now())
            .limit;
    if (limit != 2000) std::this_thread::sleep_for(100ms);  // polling the ledger, with a deadline
  }
  CHECK(limit == 2000);  // 500 tokens were 25%
  auto ledger = accounting::replay_ledger(p.connection(), config);
  REQUIRE(ledger.ok());
  auto weekly =
      ledger->window("default", accounting::Window::seven_day, std::chrono::system_clock::now());
  CHECK(weekly.limit == 5000);  // 500 tokens were 10%
  CHECK(weekly.limit_source.find("endpoint") != std::string::npos);
  CHECK(weekly.span.end - weekly.span.start == std::chrono::hours(24 * 7));
  // The week ends at the reset the endpoint gave.
  CHECK(accounting::rfc3339(weekly.span.end) == reset);
}

TEST_CASE("accountant: last week's unused area from the stream equals the sim's for its ledger") {
  using namespace std::chrono;
  // The week before this one, Monday 00:00 UTC to Monday 00:00 UTC.
  const auto today = floor<days>(system_clock::now());
  const auto monday = today - days((weekday(today).c_encoding() + 6) % 7);
  auto setup = accounting::default_sim_setup();
  setup.start = time_point_cast<system_clock::duration>(sys_days(monday) - days(7));
  setup.keep_entries = true;
  const auto run = accounting::simulate(setup, accounting::SimPolicy::agency);
  const auto bound = accounting::simulate(setup, accounting::SimPolicy::oracle);
  REQUIRE(run.entries.size() > 1000);

  Pipeline p(kScenario, {},
             "accountant:\n  time_zone: UTC\n  accounts:\n    - name: sim\n"
             "      weekly_reset: \"mon 00:00\"\n      five_hour: 4000000\n"
             "      seven_day: 40000000\n");
  // The sim's ledger as the fleet and the transcripts would publish it.
  for (const auto& e : run.entries) {
    v1::UsageSample s;
    s.set_id("sim:" + e.id);
    s.set_engine("claude");
    s.set_model(e.model);
    s.set_account("sim");
    s.set_input_tokens(e.tokens.input);
    *s.mutable_at() = to_timestamp(e.at);
    if (e.human) {
      s.set_source("transcript");
    } else {
      s.set_role(e.role);
      s.set_agent_id(e.agent_id);
      s.set_task_id(e.task_id);
      s.set_started_by_agency(true);
      s.set_source("engine");
    }
    const auto subject =
        subjects::usage("claude", e.human ? std::string(subjects::kHumanUsage) : e.role);
    REQUIRE(p.connection().js_publish(subject, codec::encode(s), s.id()).ok());
  }

  // One request of the person refused: the error line Claude Code writes.
  {
    v1::UsageSample s;
    s.set_id("tx:refused");
    s.set_engine("claude");
    s.set_model("<synthetic>");
    s.set_account("sim");
    s.set_source("transcript");
    s.set_api_error(true);
    *s.mutable_at() = to_timestamp(setup.start + hours(24 * 4 + 10));
    REQUIRE(
        p.connection()
            .js_publish(subjects::usage("claude", subjects::kHumanUsage), codec::encode(s), s.id())
            .ok());
  }

  auto usage = test::run({bin("agency"), "--config", (p.dir() / "agency.yaml").string(), "--nats",
                          p.server().url(), "usage", "--account", "sim", "--json"},
                         {}, 60s);
  REQUIRE_MESSAGE(usage.exit_code == 0, usage.err);
  const auto out = nlohmann::json::parse(usage.out);
  REQUIRE(out.at("last_week").size() == 1);
  const auto& week = out.at("last_week").at(0);
  CHECK(week.at("start") == accounting::rfc3339(setup.start));
  CHECK(week.at("unused_five_hour") == run.unused_five_hour);
  CHECK(week.at("unused_seven_day") == run.unused_seven_day);
  CHECK(week.at("unused_total") == run.unused_total());
  CHECK(week.at("used") == run.weeks.front().used);
  CHECK(week.at("person_requests") == run.human_requests - run.human_denied);
  CHECK(week.at("person_refused") == 1);
  // The bound with the fleet no faster than its busiest step: at least the
  // sim's (a fleet at full speed), at most what the week left.
  CHECK(week.at("oracle").get<std::int64_t>() >= bound.unused_total());
  CHECK(week.at("oracle").get<std::int64_t>() <= run.unused_total());
  CHECK(week.at("unused_vs_oracle").get<double>() >= 1.0);

  auto text = test::run({bin("agency"), "--config", (p.dir() / "agency.yaml").string(), "--nats",
                         p.server().url(), "usage", "--account", "sim"},
                        {}, 60s);
  REQUIRE_MESSAGE(text.exit_code == 0, text.err);
  CHECK(text.out.find("Last week, account sim") != std::string::npos);
  CHECK(text.out.find("x the oracle's") != std::string::npos);
  CHECK(text.out.find("the person refused 1 time ") != std::string::npos);
}

TEST_CASE("accountant: the person's exported week replays in agency sim to the same totals") {
  Pipeline p(kScenario, {},
             "accountant:\n  time_zone: UTC\n  accounts:\n    - name: me\n      plan: max5\n");
  // The person twice a day over the past two weeks, an agent beside them.
  const auto now = std::chrono::system_clock::now();
  std::vector<std::pair<std::chrono::system_clock::time_point, std::int64_t>> human;
  for (int half_days = 2; half_days <= 28; ++half_days) {
    const auto at = now - std::chrono::hours(12) * half_days;
    const std::int64_t tokens = 1000 + 37 * half_days;
    v1::UsageSample s;
    s.set_id("tx:person-" + std::to_string(half_days));
    s.set_engine("claude");
    s.set_model("claude-sonnet-4-5");
    s.set_account("me");
    s.set_input_tokens(tokens);
    s.set_source("transcript");
    *s.mutable_at() = to_timestamp(at);
    REQUIRE(
        p.connection()
            .js_publish(subjects::usage("claude", subjects::kHumanUsage), codec::encode(s), s.id())
            .ok());
    human.emplace_back(at, tokens);
  }
  publish_agent_usage(p, "u-agent-1", 50'000);

  const auto file = p.dir() / "week.json";
  auto exported =
      test::run({bin("agency"), "--config", (p.dir() / "agency.yaml").string(), "--nats",
                 p.server().url(), "usage", "--export-person-trace", file.string(), "--json"},
                {}, 60s);
  REQUIRE_MESSAGE(exported.exit_code == 0, exported.err);
  const auto summary = nlohmann::json::parse(exported.out);
  CHECK(summary.at("account") == "me");
  CHECK(summary.at("complete_week") == true);
  const auto from = *limits::parse_rfc3339(summary.at("from").get<std::string>());
  const auto to = *limits::parse_rfc3339(summary.at("to").get<std::string>());
  CHECK(to - from == std::chrono::hours(24 * 7));
  // What the person used in that week, by the samples published.
  int requests = 0;
  std::int64_t tokens = 0;
  for (const auto& [at, n] : human) {
    if (at >= from && at < to) {
      ++requests;
      tokens += n;
    }
  }
  REQUIRE(requests >= 13);
  CHECK(summary.at("requests") == requests);
  CHECK(summary.at("tokens") == tokens);

  auto sim = test::run({bin("agency"), "sim", "--person-trace", file.string(), "--json"}, {}, 60s);
  REQUIRE_MESSAGE(sim.exit_code == 0, sim.err);
  const auto out = nlohmann::json::parse(sim.out);
  CHECK(out.at("setup").at("start") == summary.at("from"));
  CHECK(out.at("setup").at("days") == 7);
  CHECK(out.at("setup").at("human").at("person_trace").get<std::string>().find("week.json") !=
        std::string::npos);
  for (const auto& policy : out.at("policies")) {
    CAPTURE(policy.at("policy"));
    CHECK(policy.at("human_requests") == requests);
    if (policy.at("human_denied") == 0) CHECK(policy.at("human_tokens") == tokens);
  }
  CHECK(out.at("policies").at(2).at("human_denied") == 0);       // agency
  CHECK(out.at("policies").at(3).at("human_tokens") == tokens);  // the oracle

  // A file that is not a trace: a clear error, exit 2, nothing printed.
  std::ofstream(p.dir() / "bad.json") << "{\"format\": \"something else\"}";
  auto bad =
      test::run({bin("agency"), "sim", "--person-trace", (p.dir() / "bad.json").string()}, {}, 60s);
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("not a person trace") != std::string::npos);
  CHECK(bad.out.empty());
}

}  // namespace
}  // namespace agency
