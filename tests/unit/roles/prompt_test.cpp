#include <doctest/doctest.h>

#include "bus/vocabulary.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/role_logic.hpp"
#include "tests/unit/roles/role_fixture.hpp"

namespace {

namespace voc = agency::vocabulary;
namespace pipeline = agency::pipeline;
using agency::test::make_task;

}  // namespace

TEST_CASE("roles: compose_prompt puts the skill, the brief, the spec and the answer in order") {
  agency::Skill skill;
  skill.name = "builder";
  skill.body = "SKILL BODY: build it well.\n";
  auto task = make_task("t-9", {pipeline::kReadyForPrep, pipeline::kReadyForDev});
  task.set_spec("SPEC: add GREETING.md");
  task.set_branch("agency/t-9");
  agency::v1::Brief brief;
  brief.set_task_id("t-9");
  brief.set_project("demo");
  brief.set_stage("ready-for-dev");
  brief.set_attempt(2);
  brief.set_objective("Greet the user");
  brief.set_audience("new contributors");
  brief.add_constraints("no new dependencies");
  brief.add_constraints("keep the API");
  brief.set_done_when("GREETING.md exists");
  brief.set_context("FINDINGS: the greeting is rude");

  auto prompt = agency::compose_prompt(skill, brief, task, "# Workspace\n\nWORKSPACE NOTE\n");
  auto at = [&](std::string_view s) {
    auto pos = prompt.find(s);
    CAPTURE(s);
    CHECK(pos != std::string::npos);
    return pos;
  };
  CHECK(prompt.rfind("SKILL BODY", 0) == 0);
  auto brief_pos = at("# Brief");
  CHECK(at("Greet the user") > brief_pos);
  at("new contributors");
  at("- no new dependencies\n");
  at("- keep the API\n");
  at("GREETING.md exists");
  at("project: demo");
  at("stage: ready-for-dev (attempt 2)");
  at("task: t-9 \"Add a greeting\"");
  at("branch: agency/t-9");
  auto context = at("FINDINGS: the greeting is rude");
  auto spec = at("SPEC: add GREETING.md");
  auto workspace = at("WORKSPACE NOTE");
  auto answer = at("```agency");
  CHECK(brief_pos < context);
  CHECK(context < spec);
  CHECK(spec < workspace);
  CHECK(workspace < answer);
  at("verdict: pass");
  at("docs/OUTCOME.md");
  at("findings:");
  at("spec: |");

  // Without a workspace section, the same document.
  auto plain = agency::compose_prompt(skill, brief, task);
  CHECK(plain.find("WORKSPACE NOTE") == std::string::npos);
  CHECK(plain.find("SPEC: add GREETING.md") != std::string::npos);
}

TEST_CASE("roles: compose_prompt falls back to the task's first brief and leaves out empty parts") {
  agency::Skill skill;
  skill.name = "planner";
  auto task = make_task("t-10", {pipeline::kReadyForPrep}, "Write docs");
  task.mutable_brief()->set_done_when("docs merged");
  task.set_project("");
  agency::v1::Brief brief;  // empty: a replayed or minimal brief
  auto prompt = agency::compose_prompt(skill, brief, task);
  CHECK(prompt.find("Write docs") != std::string::npos);
  CHECK(prompt.find("docs merged") != std::string::npos);
  CHECK(prompt.find("project: (none)") != std::string::npos);
  CHECK(prompt.find("task: t-10") != std::string::npos);
  CHECK(prompt.find("## Audience") == std::string::npos);
  CHECK(prompt.find("## Constraints") == std::string::npos);
  CHECK(prompt.find("# Spec") == std::string::npos);
  CHECK(prompt.find("## Context") == std::string::npos);
}

TEST_CASE("roles: role_for_stage names the role of each brief stage") {
  CHECK(pipeline::role_for_stage(pipeline::kReadyForPrep) == "planner");
  CHECK(pipeline::role_for_stage(pipeline::kReadyForDev) == "builder");
  CHECK(pipeline::role_for_stage(pipeline::kQa) == "adversary");
  CHECK(pipeline::role_for_stage(pipeline::kReview) == "reviewer");
  CHECK(pipeline::role_for_stage(voc::kDone).empty());
  CHECK(pipeline::role_for_stage(voc::kBlocked).empty());
  CHECK(pipeline::role_for_stage("nonsense").empty());
  for (auto stage : pipeline::work_stages()) CHECK_FALSE(pipeline::role_for_stage(stage).empty());
}

TEST_CASE("roles: helpers cut output, list findings and strip the block") {
  std::string long_text(5000, 'x');
  long_text += "LAST LINE\n";
  auto cut = agency::roles::tail(long_text, 4000);
  CHECK(cut.find("LAST LINE") != std::string::npos);
  CHECK(cut.find("bytes cut") != std::string::npos);
  CHECK(cut.size() < 4100);
  CHECK(agency::roles::tail("short", 4000) == "short");
  // Never starts in the middle of a UTF-8 character.
  std::string accents;
  for (int i = 0; i < 100; ++i) accents += "é";
  auto utf8 = agency::roles::tail(accents, 51);
  auto body = utf8.substr(utf8.find('\n') + 1);
  CHECK(body.size() == 50);
  CHECK(static_cast<unsigned char>(body[0]) == 0xC3);

  agency::OutcomeBlock block;
  block.findings = {"one", "two"};
  CHECK(agency::roles::findings_list(block) == "- one\n- two\n");

  CHECK(agency::roles::answer_without_block("The spec.\n\n```agency\nverdict: pass\n```\n") ==
        "The spec.\n");
  CHECK(agency::roles::answer_without_block("no block") == "no block");

  agency::Outcome o;
  o.text = "\nFirst line of the answer\nsecond";
  CHECK(agency::roles::reason_of(o) == "First line of the answer");
  o.block.findings = {"a finding"};
  CHECK(agency::roles::reason_of(o) == "a finding");
  o.block.summary = "the summary";
  CHECK(agency::roles::reason_of(o) == "the summary");
}

TEST_CASE("roles: attempt_in counts entries into a stage") {
  auto task = make_task("t-11", {pipeline::kReadyForPrep, pipeline::kReadyForDev, pipeline::kQa,
                                 pipeline::kReadyForDev});
  CHECK(agency::roles::attempt_in(task, pipeline::kReadyForDev) == 2);
  CHECK(agency::roles::attempt_in(task, pipeline::kQa) == 1);
  CHECK(agency::roles::attempt_in(task, pipeline::kReview) == 1);  // at least 1
}
