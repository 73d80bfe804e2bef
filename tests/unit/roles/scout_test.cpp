#include <doctest/doctest.h>

#include <algorithm>
#include <regex>

#include "roles/scout/scout.hpp"
#include "roles/scout/settings.hpp"
#include "runtime/pipeline.hpp"
#include "tests/unit/roles/role_fixture.hpp"

namespace {

namespace voc = agency::vocabulary;
namespace pipeline = agency::pipeline;
using agency::ProposedTask;
using agency::roles::is_duplicate_title;
using agency::roles::normalize_title;
using agency::roles::scout_task_id;
using agency::roles::title_similarity;

agency::v1::Task record(const std::string& id, const std::string& project, const std::string& title,
                        std::string_view stage) {
  agency::v1::Task t;
  t.set_id(id);
  t.set_project(project);
  t.set_title(title);
  t.set_stage(std::string(stage));
  return t;
}

agency::v1::Brief scout_brief(const std::string& project = "demo") {
  agency::v1::Brief b;
  b.set_id("b-scout-1");
  b.set_task_id("t-explore");
  b.set_project(project);
  b.set_objective("Explore " + project);
  return b;
}

agency::v1::Task scout_task(const std::string& project = "demo") {
  return record("t-explore", project, "Explore " + project, "");
}

agency::Outcome proposing(std::vector<ProposedTask> tasks) {
  auto o = agency::test::outcome("pass", "explored");
  o.block.tasks = std::move(tasks);
  return o;
}

const agency::NewTask* filed_titled(const agency::Decision& d, const std::string& title) {
  for (const auto& t : d.new_tasks) {
    if (t.brief.objective().substr(0, t.brief.objective().find('\n')) == title) return &t;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("scout: titles are normalized for comparison") {
  CHECK(normalize_title("Add tests for the Config parser!") == "add tests config parser");
  CHECK(normalize_title("  Fix: login-timeout (v2)  ") == "fix login timeout v2");
  // The task store cuts long titles with an ellipsis; it is punctuation.
  CHECK(normalize_title("Document the state dir\xE2\x80\xA6") == "document state dir");
  // Only stop-words: kept, so the title still compares with something.
  CHECK(normalize_title("To the") == "to the");
  CHECK(normalize_title("!!!").empty());
}

TEST_CASE("scout: duplicate titles are found, near misses are not") {
  SUBCASE("true duplicates") {
    CHECK(is_duplicate_title("Add tests for the config parser", "add tests: config parser"));
    CHECK(
        is_duplicate_title("Add unit tests for the config parser", "Add tests for config parser"));
    CHECK(is_duplicate_title("Document the state_dir setting",
                             "Document state_dir setting in "
                             "the README"));
    CHECK(title_similarity("Add tests for the config parser", "Add tests for config parser") ==
          doctest::Approx(1.0));
  }
  SUBCASE("near misses") {
    CHECK_FALSE(
        is_duplicate_title("Document the config file format", "Validate the config file on load"));
    CHECK_FALSE(is_duplicate_title("Add rate limiting", "Remove rate limiting"));
    CHECK_FALSE(is_duplicate_title("Fix the login timeout", "Fix the logout button"));
    CHECK_FALSE(is_duplicate_title("", ""));
    CHECK(title_similarity("Add rate limiting", "Remove rate limiting") == doctest::Approx(0.5));
  }
}

TEST_CASE("scout: ids are derived from the project and the normalized title") {
  std::string id = scout_task_id("demo", "Add tests for the config parser");
  CHECK(std::regex_match(id, std::regex("t-scout-[0-9a-f]{12}")));
  CHECK(id == scout_task_id("demo", "add tests: config parser"));
  CHECK(id != scout_task_id("other", "Add tests for the config parser"));
  CHECK(id != scout_task_id("demo", "Add tests for the CLI"));
  CHECK(agency::roles::scout_brief_id("demo", "Add tests for the config parser") ==
        "scout:demo:" + id.substr(8));
}

TEST_CASE("scout: a brief without a known project is blocked before any engine") {
  agency::test::Bench bench("scout");
  agency::roles::Scout scout;
  CHECK_FALSE(scout.precheck(bench.ctx, scout_brief(), scout_task()).has_value());

  bench.ctx.project = nullptr;
  auto d = scout.precheck(bench.ctx, scout_brief("nowhere"), scout_task("nowhere"));
  REQUIRE(d.has_value());
  CHECK(d->next_stage == voc::kBlocked);
  CHECK(d->reason.find("'nowhere'") != std::string::npos);
  CHECK(d->reason.find("demo") != std::string::npos);  // the projects it knows
  CHECK(d->new_tasks.empty());
}

TEST_CASE("scout: the prompt names the repository, branch and task limit") {
  agency::test::Bench bench("scout");
  agency::config::scout(bench.config).max_tasks = 3;
  agency::roles::Scout scout;
  auto turn = scout.prepare(bench.ctx, scout_brief(), scout_task());
  REQUIRE_MESSAGE(turn.ok(), turn.error().message);
  CHECK(turn->role == "scout");
  CHECK(turn->workdir.filename() == "t-explore");
  CHECK(turn->prompt.find(bench.repo().string()) != std::string::npos);
  CHECK(turn->prompt.find("default branch main") != std::string::npos);
  CHECK(turn->prompt.find("at most 3 tasks") != std::string::npos);
  CHECK(turn->prompt.find("read-only") != std::string::npos);
}

TEST_CASE("scout: finish files only new tasks, with stable ids, within max_tasks") {
  agency::test::Bench bench("scout");
  agency::config::scout(bench.config).max_tasks = 2;
  agency::roles::Scout scout;
  auto turn = scout.prepare(bench.ctx, scout_brief(), scout_task());
  REQUIRE(turn.ok());

  std::vector<agency::v1::Task> known = {
      record("t-open", "demo", "Add tests for the config parser", pipeline::kReadyForDev),
      record("t-blocked", "demo", "Fix the login timeout", voc::kBlocked),
      record("t-done", "demo", "Document the state_dir setting", voc::kDone),
      record("t-elsewhere", "other", "Add a CHANGELOG", pipeline::kReadyForPrep),
      scout_task(),
  };
  auto o = proposing({
      {"Add unit tests for the config parser", "cover parse()", "a test passes", "", {}},  // t-open
      {"Document the state_dir setting", "README lacks it", "README says it", "", {}},  // done: new
      {"Add a CHANGELOG", "none exists", "CHANGELOG.md exists", "", {}},  // other project: new
      {"Add a changelog!", "same again", "-", "", {}},                    // this run's duplicate
      {"fix login timeout", "blocked is still open", "-", "", {}},        // t-blocked
      {"Explain the build in CONTRIBUTING.md", "", "", "", {}},           // new, past the limit
  });
  auto d = scout.decide(bench.ctx, *turn, o, known);
  REQUIRE(d.ok());
  CHECK(d->next_stage == voc::kDone);
  REQUIRE(d->new_tasks.size() == 2);

  const auto* docs = filed_titled(*d, "Document the state_dir setting");
  const auto* changelog = filed_titled(*d, "Add a CHANGELOG");
  REQUIRE(docs != nullptr);
  REQUIRE(changelog != nullptr);
  CHECK(docs->role == "planner");
  CHECK(docs->brief.stage() == pipeline::kReadyForPrep);
  CHECK(docs->brief.project() == "demo");
  CHECK(docs->brief.objective() == "Document the state_dir setting\n\nREADME lacks it");
  CHECK(docs->brief.done_when() == "README says it");
  CHECK(docs->brief.origin() == "scout-1");
  CHECK(docs->brief.priority() == voc::kBatch);
  CHECK(docs->brief.task_id() == scout_task_id("demo", "Document the state_dir setting"));
  CHECK(docs->brief.id() ==
        "scout:demo:" + scout_task_id("demo", "Document the state_dir setting").substr(8));

  CHECK(d->reason.rfind("filed 2 tasks, skipped 3 duplicates (", 0) == 0);
  CHECK(d->reason.find("t-open") != std::string::npos);
  CHECK(d->reason.find("t-blocked") != std::string::npos);
  CHECK(d->reason.find(changelog->brief.task_id()) != std::string::npos);
  CHECK(d->reason.find("left out 1 past max_tasks 2") != std::string::npos);
  CHECK(d->attachments.at("filed").find(docs->brief.task_id()) != std::string::npos);
  CHECK(d->attachments.at("skipped").find("Explain the build") != std::string::npos);

  SUBCASE("the scout's own priority carries over") {
    agency::Turn t2 = *turn;
    t2.brief.set_priority("human");
    auto d2 = scout.decide(bench.ctx, t2, o, known);
    REQUIRE(d2.ok());
    for (const auto& t : d2->new_tasks) CHECK(t.brief.priority() == "human");
  }
  SUBCASE("a later run proposing the same work files nothing again") {
    // The tasks the first run filed exist now, one already done.
    auto later = known;
    auto first =
        record(docs->brief.task_id(), "demo", "Document the state_dir setting", voc::kDone);
    later.push_back(first);
    later.push_back(record(changelog->brief.task_id(), "demo", "Add a CHANGELOG", pipeline::kQa));
    auto again = proposing({{"Document the state_dir setting", "", "", "", {}},
                            {"Add a changelog", "", "", "", {}},
                            {"Explain the build in CONTRIBUTING.md", "", "", "", {}}});
    auto d2 = scout.decide(bench.ctx, *turn, again, later);
    REQUIRE(d2.ok());
    REQUIRE(d2->new_tasks.size() == 1);
    CHECK(d2->new_tasks.front().brief.task_id() ==
          scout_task_id("demo", "Explain the build in CONTRIBUTING.md"));
    CHECK(d2->reason.rfind("filed 1 task, skipped 2 duplicates", 0) == 0);
  }
}

TEST_CASE("scout: verdicts without tasks") {
  agency::test::Bench bench("scout");
  agency::roles::Scout scout;
  auto turn = scout.prepare(bench.ctx, scout_brief(), scout_task());
  REQUIRE(turn.ok());

  SUBCASE("pass and nothing proposed -> done, nothing filed") {
    auto d = scout.finish(bench.ctx, *turn, proposing({}));
    REQUIRE(d.ok());
    CHECK(d->next_stage == voc::kDone);
    CHECK(d->reason == "found nothing new");
    CHECK(d->new_tasks.empty());
  }
  SUBCASE("finish without a mesh files what it finds") {
    auto d = scout.finish(bench.ctx, *turn, proposing({{"Add a CHANGELOG", "", "", "", {}}}));
    REQUIRE(d.ok());
    CHECK(d->new_tasks.size() == 1);
    CHECK(d->reason == "filed 1 task, skipped 0 duplicates");
  }
  SUBCASE("blocked -> blocked with the reason, nothing filed") {
    auto o = agency::test::outcome("blocked", "the repository is empty");
    o.block.tasks = {{"Add a CHANGELOG", "", "", "", {}}};
    auto d = scout.finish(bench.ctx, *turn, o);
    REQUIRE(d.ok());
    CHECK(d->next_stage == voc::kBlocked);
    CHECK(d->reason.find("the repository is empty") != std::string::npos);
    CHECK(d->new_tasks.empty());
  }
  SUBCASE("no verdict -> blocked") {
    agency::Outcome o;
    o.text = "I looked around.";
    auto d = scout.finish(bench.ctx, *turn, o);
    REQUIRE(d.ok());
    CHECK(d->next_stage == voc::kBlocked);
    CHECK(d->reason.find("no verdict") != std::string::npos);
  }
}

TEST_CASE("scout: the similarity threshold is 0.6, inclusive") {
  // {add config parser tests} vs {add config parser docs}: 3 of 5 words.
  CHECK(title_similarity("Add config parser tests", "Add config parser docs") ==
        doctest::Approx(0.6));
  CHECK(is_duplicate_title("Add config parser tests", "Add config parser docs"));
  // 4 of 7 words (0.57): apart.
  CHECK_FALSE(is_duplicate_title("Cache the parsed config in memory",
                                 "Cache parsed config between runs on disk"));
  // Stop-words and case do not count, verbs do.
  CHECK(is_duplicate_title("Add a cache to the parser", "add cache parser"));
  CHECK_FALSE(is_duplicate_title("Add a cache", "Remove a cache"));
}

TEST_CASE("scout: plan_filings") {
  agency::roles::ScoutSource source{"demo", "scout-7", "", "t-explore"};
  std::vector<agency::v1::Task> known = {
      record("t-open", "demo", "Add tests for the config parser", pipeline::kReview),
      record("t-done", "demo", "Fix the flaky clock test", voc::kDone),
      record("t-other", "other", "Write a README", pipeline::kReadyForDev),
      record("t-explore", "demo", "Write a README", pipeline::kReadyForPrep),  // the scout's own
  };
  std::vector<ProposedTask> proposed = {
      {"Add tests for config parser", "dup of t-open", "", "", {}},
      {"Fix the flaky clock test", "t-done is done: file it again", "it passes 100 times", "", {}},
      {"Write a README", "t-other is another project's, t-explore the scout's", "", "", {}},
      {"write the README!", "duplicates the one before", "", "", {}},
      {"", "  Log the config path at start\nso people know which file.  ", "", "", {}},
      {"", "", "", "", {}},  // nothing to file
  };

  SUBCASE("only new tasks, with deterministic ids") {
    auto plan = agency::roles::plan_filings(proposed, known, source, 10);
    REQUIRE(plan.filed.size() == 3);
    CHECK(plan.over_limit.empty());
    std::vector<std::string> ids;
    for (const auto& t : plan.filed) ids.push_back(t.brief.task_id());
    CHECK(ids == std::vector<std::string>{scout_task_id("demo", "Fix the flaky clock test"),
                                          scout_task_id("demo", "Write a README"),
                                          scout_task_id("demo", "Log the config path at start")});
    for (const auto& t : plan.filed) {
      CHECK(t.role == "planner");
      CHECK(t.brief.stage() == pipeline::kReadyForPrep);
      CHECK(t.brief.project() == "demo");
      CHECK(t.brief.origin() == "scout-7");
      CHECK(t.brief.priority() == voc::kBatch);
      CHECK(t.brief.id() == "scout:demo:" + t.brief.task_id().substr(8));
    }
    CHECK(plan.filed[0].brief.done_when() == "it passes 100 times");
    // A title taken from the objective is not repeated in it.
    CHECK(plan.filed[2].brief.objective() ==
          "Log the config path at start\nso people know which file.");

    REQUIRE(plan.skipped.size() == 2);
    CHECK(plan.skipped[0].existing_id == "t-open");
    CHECK(plan.skipped[1].title == "write the README!");
    CHECK(plan.skipped[1].existing_id == scout_task_id("demo", "Write a README"));

    // The same input gives the same ids (no clock, no randomness in them).
    auto again = agency::roles::plan_filings(proposed, known, source, 10);
    REQUIRE(again.filed.size() == plan.filed.size());
    for (std::size_t i = 0; i < plan.filed.size(); ++i) {
      CHECK(again.filed[i].brief.id() == plan.filed[i].brief.id());
    }
  }
  SUBCASE("max_tasks counts new tasks only") {
    auto plan = agency::roles::plan_filings(proposed, known, source, 1);
    REQUIRE(plan.filed.size() == 1);
    CHECK(plan.filed[0].brief.task_id() == scout_task_id("demo", "Fix the flaky clock test"));
    CHECK(plan.skipped.size() == 1);  // t-open; the batch duplicate's original was not filed
    CHECK(plan.over_limit == std::vector<std::string>{"Write a README", "write the README!",
                                                      "Log the config path at start"});
    CHECK(agency::roles::plan_filings(proposed, known, source, 0).filed.empty());
    CHECK(agency::roles::plan_filings(proposed, known, source, -3).filed.empty());
  }
  SUBCASE("an id that exists already is not filed again, even when done") {
    known.push_back(record(scout_task_id("demo", "Log the config path at start"), "demo", "Log it",
                           voc::kDone));
    auto plan = agency::roles::plan_filings(proposed, known, source, 10);
    CHECK(plan.filed.size() == 2);
    CHECK(plan.skipped.back().existing_id == scout_task_id("demo", "Log the config path at start"));
  }
}

TEST_CASE("scout: a brief naming no project is blocked") {
  agency::test::Bench bench("scout");
  bench.ctx.project = nullptr;
  agency::roles::Scout scout;
  auto d = scout.precheck(bench.ctx, scout_brief(""), scout_task(""));
  REQUIRE(d.has_value());
  CHECK(d->next_stage == voc::kBlocked);
  CHECK(d->reason.find("names none") != std::string::npos);
  CHECK_FALSE(scout.prepare(bench.ctx, scout_brief(""), scout_task("")).ok());
}

TEST_CASE("scout: proposals with nothing in them are nothing new") {
  agency::test::Bench bench("scout");
  agency::roles::Scout scout;
  auto turn = scout.prepare(bench.ctx, scout_brief(), scout_task());
  REQUIRE(turn.ok());
  auto d = scout.decide(bench.ctx, *turn,
                        proposing({{"", "", "", "", {}}, {" \n", "", "x", "", {}}}), {});
  REQUIRE(d.ok());
  CHECK(d->next_stage == voc::kDone);
  CHECK(d->reason == "found nothing new");
  CHECK(d->new_tasks.empty());
}

TEST_CASE("scout: the block the skill teaches parses into tasks") {
  constexpr std::string_view kAnswer = R"(Explored it.

```agency
verdict: pass
summary: explored the parser and the CLI; two gaps worth filing
tasks:
  - title: Add tests for empty config files
    objective: |
      config::parse accepts an empty file but nothing tests what it
      yields (runtime/config.cpp, parse()). Add a unit test.
    done_when: a unit test parses "" and checks the defaults
  - title: Document the state_dir setting
    objective: README.md never mentions state_dir; say what it holds.
    done_when: README.md describes state_dir and its default
```
)";
  auto block = agency::parse_outcome_block(kAnswer);
  REQUIRE(block.ok());
  REQUIRE(block->has_value());
  const auto& tasks = (*block)->tasks;
  REQUIRE(tasks.size() == 2);
  CHECK(tasks[0].title == "Add tests for empty config files");
  CHECK(tasks[0].objective.find("nothing tests what it\nyields") != std::string::npos);
  CHECK(tasks[1].done_when == "README.md describes state_dir and its default");
}
