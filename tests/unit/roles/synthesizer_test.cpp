#include <doctest/doctest.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

#include "roles/synthesizer/settings.hpp"
#include "roles/synthesizer/synthesizer.hpp"
#include "tests/unit/roles/role_fixture.hpp"

namespace {

namespace fs = std::filesystem;
namespace voc = agency::vocabulary;
using Clock = std::chrono::system_clock;
using agency::roles::next_digest_time;

// A UTC moment from its calendar fields.
Clock::time_point utc(int year, int month, int day, int hour, int minute, int second = 0) {
  std::tm t{};
  t.tm_year = year - 1900;
  t.tm_mon = month - 1;
  t.tm_mday = day;
  t.tm_hour = hour;
  t.tm_min = minute;
  t.tm_sec = second;
  return Clock::from_time_t(::timegm(&t));
}

bool have_zone(const char* name) {
  return fs::is_regular_file(fs::path("/usr/share/zoneinfo") / name);
}

agency::v1::WorkLog log_of(const std::string& project, const std::string& task,
                           const std::string& title, const std::string& outcome,
                           std::int64_t tokens, const std::string& summary = {}) {
  agency::v1::WorkLog l;
  l.set_project(project);
  l.set_task_id(task);
  l.set_title(title);
  l.set_outcome(outcome);
  l.set_tokens(tokens);
  l.set_summary(summary);
  l.set_role("reviewer");
  l.set_branch("agency/" + task);
  l.mutable_closed_at()->set_seconds(1710043920);  // 2024-03-10T04:12:00Z
  return l;
}

std::vector<agency::v1::WorkLog> sample_logs() {
  return {log_of("web", "t-1", "Add a login page", "done", 1200, "Login page with a form."),
          log_of("api", "t-2", "Rate limit | per client", "blocked", 300,
                 "Needs a decision on limits."),
          log_of("web", "t-3", "Fix the footer", "done", 50)};
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("synthesizer: digest_at is read as HH:MM") {
  auto t = agency::roles::parse_time_of_day("04:30");
  REQUIRE(t.ok());
  CHECK(t->hour == 4);
  CHECK(t->minute == 30);
  CHECK(agency::roles::parse_time_of_day("7:05").ok());
  for (const char* bad : {"24:00", "04:60", "0400", "ab:cd", "4:5", "", "-1:00", "04:00:00"}) {
    auto r = agency::roles::parse_time_of_day(bad);
    CHECK_MESSAGE(!r.ok(), bad);
    if (!r.ok()) CHECK(r.error().code == agency::errc::config);
  }
}

TEST_CASE("synthesizer: next digest time in UTC, across midnight") {
  auto next = next_digest_time(utc(2024, 1, 15, 3, 59, 59), "04:00", "UTC");
  REQUIRE_MESSAGE(next.ok(), next.error().message);
  CHECK(*next == utc(2024, 1, 15, 4, 0));
  // At the moment itself: the next day's.
  CHECK(*next_digest_time(utc(2024, 1, 15, 4, 0), "04:00", "UTC") == utc(2024, 1, 16, 4, 0));
  CHECK(*next_digest_time(utc(2024, 1, 15, 23, 30), "04:00", "UTC") == utc(2024, 1, 16, 4, 0));
  // Across a month and year end, and a digest at midnight.
  CHECK(*next_digest_time(utc(2023, 12, 31, 23, 59, 59), "00:00", "UTC") == utc(2024, 1, 1, 0, 0));
  CHECK(*next_digest_time(utc(2024, 2, 28, 5, 0), "04:00", "UTC") == utc(2024, 2, 29, 4, 0));
  // Sub-second: 03:59:59.5 still gets today's.
  CHECK(*next_digest_time(utc(2024, 1, 15, 3, 59, 59) + std::chrono::milliseconds(500), "04:00",
                          "UTC") == utc(2024, 1, 15, 4, 0));
}

TEST_CASE("synthesizer: next digest time in a zone with DST") {
  if (!have_zone("America/New_York")) {
    MESSAGE("no tzdata: skipped");
    return;
  }
  const char* before = std::getenv("TZ");
  std::string saved = before != nullptr ? before : "<unset>";
  const char* ny = "America/New_York";

  // Winter: 04:00 EST is 09:00 UTC; 07:00 EST is past it.
  CHECK(*next_digest_time(utc(2024, 1, 15, 12, 0), "04:00", ny) == utc(2024, 1, 16, 9, 0));
  CHECK(*next_digest_time(utc(2024, 1, 15, 8, 0), "04:00", ny) == utc(2024, 1, 15, 9, 0));
  // Across local midnight while UTC is already the next day: 23:30 EST on
  // the 15th is 04:30 UTC on the 16th; the digest is 04:00 EST on the 16th.
  CHECK(*next_digest_time(utc(2024, 1, 16, 4, 30), "04:00", ny) == utc(2024, 1, 16, 9, 0));
  // Spring forward (2024-03-10 02:00 EST -> 03:00 EDT): a 23-hour day.
  CHECK(*next_digest_time(utc(2024, 3, 9, 9, 0), "04:00", ny) == utc(2024, 3, 10, 8, 0));
  // Fall back (2024-11-03 02:00 EDT -> 01:00 EST): a 25-hour day.
  CHECK(*next_digest_time(utc(2024, 11, 2, 8, 0), "04:00", ny) == utc(2024, 11, 3, 9, 0));

  auto date = agency::roles::local_date(utc(2024, 1, 16, 3, 0), ny);
  REQUIRE(date.ok());
  CHECK(*date == "2024-01-15");
  CHECK(*agency::roles::local_date(utc(2024, 1, 16, 3, 0), "UTC") == "2024-01-16");

  // TZ is put back as it was.
  const char* after = std::getenv("TZ");
  CHECK((after != nullptr ? std::string(after) : std::string("<unset>")) == saved);
}

TEST_CASE("synthesizer: a digest is due from a minute before digest_at") {
  CHECK_FALSE(*agency::roles::digest_due(utc(2024, 1, 15, 3, 58), "04:00", "UTC"));
  CHECK(*agency::roles::digest_due(utc(2024, 1, 15, 3, 59, 30), "04:00", "UTC"));
  CHECK(*agency::roles::digest_due(utc(2024, 1, 15, 12, 0), "04:00", "UTC"));
  CHECK_FALSE(*agency::roles::digest_due(utc(2024, 1, 15, 0, 10), "04:00", "UTC"));
}

TEST_CASE("synthesizer: an unknown time zone is a config error") {
  for (const char* zone : {"Mars/Olympus_Mons", "../etc/passwd", "/etc/localtime"}) {
    auto r = next_digest_time(utc(2024, 1, 15, 0, 0), "04:00", zone);
    REQUIRE_MESSAGE(!r.ok(), zone);
    CHECK(r.error().code == agency::errc::config);
    CHECK(r.error().message.find(zone) != std::string::npos);
  }
  CHECK(agency::roles::check_time_zone("").ok());

  agency::test::Bench bench("synthesizer");
  agency::roles::Synthesizer synth;
  CHECK(synth.start(bench.ctx).ok());
  agency::config::synthesizer(bench.config).time_zone = "Mars/Olympus_Mons";
  auto bad_zone = synth.start(bench.ctx);
  REQUIRE_FALSE(bad_zone.ok());
  CHECK(bad_zone.error().message.find("synthesizer.time_zone") != std::string::npos);
  agency::config::synthesizer(bench.config).time_zone = "";
  agency::config::synthesizer(bench.config).digest_at = "25:00";
  CHECK_FALSE(synth.start(bench.ctx).ok());
}

TEST_CASE("synthesizer: tick_every waits until the next digest") {
  agency::test::Bench bench("synthesizer");
  agency::config::synthesizer(bench.config).time_zone = "UTC";
  agency::roles::Synthesizer synth;
  auto wait = synth.tick_every(bench.ctx);
  REQUIRE(wait.has_value());
  CHECK(*wait > std::chrono::milliseconds(0));
  CHECK(*wait <= std::chrono::hours(24));
}

TEST_CASE("synthesizer: the digest groups the logs by project") {
  auto logs = sample_logs();
  std::string md = agency::roles::render_digest("2024-03-10", "## What was done\nLogins.\n", logs);
  CHECK(md.rfind("# Agency digest for 2024-03-10\n\n## What was done\nLogins.\n", 0) == 0);
  auto api = md.find("### api");
  auto web = md.find("### web");
  REQUIRE(api != std::string::npos);
  REQUIRE(web != std::string::npos);
  CHECK(api < web);  // projects sorted by name
  // Each row under its own project, stream order inside one.
  auto row1 = md.find("| t-1 | Add a login page | done | 1200 |");
  auto row2 = md.find("| t-2 | Rate limit \\| per client | blocked | 300 |");
  auto row3 = md.find("| t-3 | Fix the footer | done | 50 |");
  REQUIRE(row1 != std::string::npos);
  REQUIRE(row2 != std::string::npos);
  REQUIRE(row3 != std::string::npos);
  CHECK((api < row2 && row2 < web));
  CHECK((web < row1 && row1 < row3));
  CHECK(md.find("2 tasks (2 done), 1250 tokens.") != std::string::npos);
  CHECK(md.find("1 task (1 blocked), 300 tokens.") != std::string::npos);
  CHECK(md.find("In all: 3 work logs from 2 projects, 1550 tokens.") != std::string::npos);

  std::string none = agency::roles::render_digest("2024-03-10", "", {});
  CHECK(none.find("No work logs since the last digest.") != std::string::npos);
}

TEST_CASE("synthesizer: the engine sees the logs by project") {
  std::string list = agency::roles::render_log_list(sample_logs());
  auto api = list.find("## Project api (1 work log)");
  auto web = list.find("## Project web (2 work logs)");
  REQUIRE(api != std::string::npos);
  REQUIRE(web != std::string::npos);
  CHECK(api < web);
  CHECK(list.find("### t-1: Add a login page") > web);
  CHECK(list.find("- outcome: blocked") != std::string::npos);
  CHECK(list.find("- branch: agency/t-3") != std::string::npos);
  CHECK(list.find("- tokens: 1200") != std::string::npos);
  CHECK(list.find("- closed: 2024-03-10T04:12:00Z") != std::string::npos);
  CHECK(list.find("  Needs a decision on limits.") != std::string::npos);
}

TEST_CASE("synthesizer: a digest brief writes the file and moves on") {
  agency::test::Bench bench("synthesizer");
  agency::config::synthesizer(bench.config).dir = bench.tmp.path() / "digests";
  agency::roles::Synthesizer synth;
  agency::v1::Brief brief;
  brief.set_id("digest:2024-03-10");
  brief.set_task_id("t-digest");
  brief.set_objective("Daily digest for 2024-03-10");
  agency::v1::Task task;
  task.set_id("t-digest");

  SUBCASE("no logs -> done before any engine, no file") {
    auto d = synth.precheck(bench.ctx, brief, task);
    REQUIRE(d.has_value());
    CHECK(d->next_stage == voc::kDone);
    CHECK(d->reason == "no work logs since the last digest");
    CHECK_FALSE(fs::exists(agency::config::synthesizer(bench.config).dir));
  }
  SUBCASE("logs -> a turn with them, then the file") {
    synth.take_logs(sample_logs(), 42);
    CHECK_FALSE(synth.precheck(bench.ctx, brief, task).has_value());
    auto turn = synth.prepare(bench.ctx, brief, task);
    REQUIRE_MESSAGE(turn.ok(), turn.error().message);
    CHECK(turn->brief.context().find("## Project api") != std::string::npos);
    CHECK(turn->prompt.find("### t-3: Fix the footer") != std::string::npos);
    CHECK(turn->prompt.find("3 tasks closed in 2 projects") != std::string::npos);

    auto o = agency::test::outcome("pass", "3 tasks in 2 projects");
    o.text = "## Blocked\napi waits on a decision.\n\n```agency\nverdict: pass\n```\n";
    auto d = synth.finish(bench.ctx, *turn, o);
    REQUIRE_MESSAGE(d.ok(), d.error().message);
    fs::path path = agency::config::synthesizer(bench.config).dir / "2024-03-10.md";
    CHECK(d->next_stage == voc::kDone);
    CHECK(d->reason == "digest of 3 work logs from 2 projects written to " + path.string());
    CHECK(d->attachments.at("digest") == path.string());
    REQUIRE(fs::exists(path));
    std::string md = read(path);
    CHECK(md.find("# Agency digest for 2024-03-10") == 0);
    CHECK(md.find("api waits on a decision.") != std::string::npos);
    CHECK(md.find("```agency") == std::string::npos);
    CHECK(md.find("| t-2 |") != std::string::npos);

    // A second digest the same day keeps the first.
    synth.take_logs({sample_logs().front()}, 43);
    auto again = synth.finish(bench.ctx, *turn, o);
    REQUIRE(again.ok());
    CHECK(fs::exists(agency::config::synthesizer(bench.config).dir / "2024-03-10-2.md"));
    CHECK(read(path) == md);
  }
  SUBCASE("an engine that is blocked writes nothing") {
    synth.take_logs(sample_logs(), 42);
    auto turn = synth.prepare(bench.ctx, brief, task);
    REQUIRE(turn.ok());
    auto d = synth.finish(bench.ctx, *turn, agency::test::outcome("blocked", "no access"));
    REQUIRE(d.ok());
    CHECK(d->next_stage == voc::kBlocked);
    CHECK(d->reason.find("no access") != std::string::npos);
    CHECK_FALSE(fs::exists(agency::config::synthesizer(bench.config).dir / "2024-03-10.md"));
  }
}

namespace {

// A fixed-offset zone (Etc/GMT+N is N hours behind UTC) where the local
// time is now between 00:00 and 01:00, so tests of "now" know what is due.
std::string zone_just_past_midnight() {
  std::time_t now = std::time(nullptr);
  std::tm t{};
  ::gmtime_r(&now, &t);
  std::string zone = t.tm_hour <= 12 ? "Etc/GMT+" + std::to_string(t.tm_hour)
                                     : "Etc/GMT-" + std::to_string(24 - t.tm_hour);
  return have_zone(zone.c_str()) ? zone : std::string();
}

}  // namespace

TEST_CASE("synthesizer: a digest_at in the spring-forward gap still comes once") {
  if (!have_zone("America/New_York")) {
    MESSAGE("no tzdata: skipped");
    return;
  }
  const char* ny = "America/New_York";
  // 02:30 does not exist on 2024-03-10 there; whatever mktime makes of it,
  // it is after now and within the day, and the next day is 02:30 EDT.
  auto now = utc(2024, 3, 10, 5, 0);  // 00:00 EST
  auto next = next_digest_time(now, "02:30", ny);
  REQUIRE(next.ok());
  CHECK(*next > now);
  CHECK(*next <= now + std::chrono::hours(4));
  CHECK(*next_digest_time(*next, "02:30", ny) == utc(2024, 3, 11, 6, 30));
}

TEST_CASE("synthesizer: tick_every and tick against the clock") {
  std::string zone = zone_just_past_midnight();
  if (zone.empty()) {
    MESSAGE("no Etc/GMT zones: skipped");
    return;
  }
  agency::test::Bench bench("synthesizer");
  agency::config::synthesizer(bench.config).time_zone = zone;
  agency::roles::Synthesizer synth;

  SUBCASE("not due: the time until digest_at") {
    agency::config::synthesizer(bench.config).digest_at = "02:00";  // local now is 00:xx
    auto wait = synth.tick_every(bench.ctx);
    REQUIRE(wait.has_value());
    CHECK(*wait > std::chrono::minutes(55));
    CHECK(*wait <= std::chrono::hours(2));
    CHECK(synth.tick(bench.ctx).ok());  // not due: nothing to do, no bus needed
  }
  SUBCASE("due and not filed: at once; a failed tick pauses") {
    agency::config::synthesizer(bench.config).digest_at = "00:00";  // passed today
    auto wait = synth.tick_every(bench.ctx);
    REQUIRE(wait.has_value());
    CHECK(*wait <= std::chrono::milliseconds(1));
    auto r = synth.tick(bench.ctx);  // no mesh: cannot file
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("filing the digest brief") != std::string::npos);
    wait = synth.tick_every(bench.ctx);
    REQUIRE(wait.has_value());
    CHECK(*wait > std::chrono::seconds(30));
    CHECK(*wait <= std::chrono::minutes(1));
  }
}

TEST_CASE("synthesizer: digest details") {
  agency::test::Bench bench("synthesizer");
  bench.config.state_dir = bench.tmp.path() / "state";
  CHECK(agency::roles::digest_dir(bench.ctx) == bench.tmp.path() / "state" / "digests");
  agency::config::synthesizer(bench.config).time_zone = "UTC";
  agency::roles::Synthesizer synth;
  agency::v1::Brief brief;
  brief.set_id("b-by-hand");  // not a digest:<date> brief: today's date
  brief.set_task_id("t-hand");
  agency::v1::Task task;
  task.set_id("t-hand");

  synth.take_logs(sample_logs(), 7);
  auto turn = synth.prepare(bench.ctx, brief, task);
  REQUIRE(turn.ok());
  CHECK(turn->workdir == bench.ctx.work_dir / "scratch" / "t-hand");

  SUBCASE("no verdict -> blocked, no file") {
    agency::Outcome o;
    o.text = "Here is a digest without a block.";
    auto d = synth.finish(bench.ctx, *turn, o);
    REQUIRE(d.ok());
    CHECK(d->next_stage == voc::kBlocked);
    CHECK_FALSE(fs::exists(bench.tmp.path() / "state" / "digests"));
  }
  SUBCASE("an answer that is only the block: its summary is the text") {
    auto o = agency::test::outcome("pass", "A quiet day.");
    o.text = "```agency\nverdict: pass\nsummary: A quiet day.\n```\n";
    auto d = synth.finish(bench.ctx, *turn, o);
    REQUIRE(d.ok());
    auto today = agency::roles::local_date(Clock::now(), "UTC");
    REQUIRE(today.ok());
    fs::path path = bench.tmp.path() / "state" / "digests" / (*today + ".md");
    CHECK(d->attachments.at("digest") == path.string());
    REQUIRE(fs::exists(path));
    std::string md = read(path);
    CHECK(md.find("# Agency digest for " + *today + "\n\nA quiet day.\n") == 0);
    CHECK(md.find("### web") != std::string::npos);
  }
}
