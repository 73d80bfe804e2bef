// Pipelines in agency.yaml (runtime/config_pipeline.hpp, docs/PIPELINES.md):
// the forms a stage is written in, the defaults filled in, and an error
// with file and line for each way a pipeline can be wrong.
#include <doctest/doctest.h>

#include <string>

#include "runtime/config.hpp"
#include "runtime/pipeline.hpp"

namespace {

namespace config = agency::config;
namespace pipeline = agency::pipeline;

config::Config parsed(const std::string& yaml) {
  auto c = config::parse(yaml, "/srv/proj/agency.yaml");
  INFO((c ? std::string() : c.error().message));
  REQUIRE(c.ok());
  return *c;
}

std::string error_of(const std::string& yaml) {
  auto c = config::parse(yaml, "agency.yaml");
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code == agency::errc::config);
  return c.error().message;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

const char* kLinted = R"(projects:
  - name: web
    repo: ./web
    pipeline: linted
  - name: api
    repo: ./api
pipelines:
  linted:
    stages:
      - planner
      - builder
      - {stage: lint, role: linter, bounce: ready-for-dev}
      - adversary
      - stage: docs
        role: scribe
        optional: true
      - reviewer
      - integrator
roles:
  planner:
  builder:
  adversary:
  reviewer:
  linter:
    external: true
  scribe:
    skill: ./scribe/SKILL.md
)";

}  // namespace

TEST_CASE("config pipelines: without any, every project walks the built-in pipeline") {
  auto c = parsed("projects:\n  - name: web\n    repo: ./web\n");
  REQUIRE(c.pipelines.count("default") == 1);
  CHECK(c.pipelines.at("default") == pipeline::Pipeline::builtin());
  CHECK(c.pipeline_for("web") == pipeline::Pipeline::builtin());
  CHECK(c.pipeline_for("") == pipeline::Pipeline::builtin());
  CHECK(c.projects[0].pipeline == "default");
}

TEST_CASE("config pipelines: a project's own pipeline, the other keeps the default") {
  auto c = parsed(kLinted);
  const auto& web = c.pipeline_for("web");
  CHECK(web.name() == "linted");
  CHECK(web.work_stages() == std::vector<std::string_view>{"ready-for-prep", "ready-for-dev",
                                                           "lint", "qa", "docs", "review",
                                                           "ready-to-land"});
  CHECK(web.role_for_stage("lint") == "linter");
  CHECK(web.after("ready-for-dev") == "lint");
  CHECK(web.bounce("lint") == "ready-for-dev");
  // Defaults: the built-in targets, else dev, else the stage before.
  CHECK(web.bounce("ready-for-prep").empty());
  CHECK(web.bounce("ready-for-dev") == "ready-for-prep");
  CHECK(web.bounce("qa") == "ready-for-dev");
  CHECK(web.bounce("docs") == "ready-for-dev");
  CHECK(web.step("docs")->optional);
  CHECK_FALSE(web.step("lint")->optional);
  CHECK(web.is_landing("ready-to-land"));
  CHECK(c.pipeline_for("api") == pipeline::Pipeline::builtin());
  // The roles and stages the fleet's pipelines hold, for provisioning and
  // the console's columns (lint between dev and QA).
  auto roles = c.stage_roles();
  CHECK(std::find(roles.begin(), roles.end(), "linter") != roles.end());
  CHECK(std::find(roles.begin(), roles.end(), "scribe") != roles.end());
  CHECK(c.work_stages() == std::vector<std::string>{"ready-for-prep", "ready-for-dev", "lint", "qa",
                                                    "docs", "review", "ready-to-land"});
  // The external role: provisioned, not started.
  REQUIRE(c.role("linter") != nullptr);
  CHECK(c.role("linter")->external);
  auto plan = config::provision_plan(c, {});
  CHECK(std::find(plan.roles.begin(), plan.roles.end(), "linter") != plan.roles.end());
}

TEST_CASE("config pipelines: pipeline.stages changes the fleet's default") {
  auto c = parsed(
      "pipeline:\n  bounce_limit: 2\n  stages: [builder, {stage: lint, role: linter}, reviewer]\n"
      "roles:\n  builder:\n  reviewer:\n  linter: {external: true}\n");
  CHECK(c.pipeline.bounce_limit == 2);
  const auto& d = c.pipeline_for("");
  CHECK(d.name() == "default");
  CHECK(d.work_stages() == std::vector<std::string_view>{"ready-for-dev", "lint", "review"});
  CHECK(d.entry() == "ready-for-dev");
  CHECK(d.bounce("lint") == "ready-for-dev");
  CHECK(d.after("review") == "done");
}

TEST_CASE("config pipelines: each invalid pipeline is refused with its line") {
  const std::string roles = "roles:\n  builder:\n  reviewer:\n  linter: {external: true}\n";
  SUBCASE("a role neither built in nor in roles:") {
    auto msg =
        error_of("pipeline:\n  stages:\n    - builder\n    - {stage: sec, role: secure}\n" + roles);
    CHECK(contains(msg, "agency.yaml:4:"));
    CHECK(contains(msg, "'secure' is not a role of this file"));
    CHECK(contains(msg, "external: true"));
  }
  SUBCASE("a bounce target that is not an earlier stage") {
    auto msg = error_of(
        "pipeline:\n  stages:\n    - builder\n    - {stage: lint, role: linter, bounce: review}\n"
        "    - reviewer\n" +
        roles);
    CHECK(contains(msg, "agency.yaml:4:"));
    CHECK(contains(msg,
                   "'review' is not an earlier stage of this pipeline (earlier: "
                   "ready-for-dev)"));
  }
  SUBCASE("a bounce from the entry stage") {
    auto msg = error_of(
        "pipeline:\n  stages:\n    - {stage: lint, role: linter, bounce: lint}\n    - builder\n" +
        roles);
    CHECK(contains(msg, "agency.yaml:3:"));
    CHECK(contains(msg, "the first stage has no earlier stage"));
  }
  SUBCASE("a stage after the landing stage (unreachable: the task is done once it lands)") {
    auto msg = error_of("pipeline:\n  stages: [builder, integrator, reviewer]\n" + roles);
    CHECK(contains(msg, "agency.yaml:2:"));
    CHECK(contains(msg, "comes after the landing stage ready-to-land"));
  }
  SUBCASE("a stage given twice") {
    auto msg = error_of(
        "pipeline:\n  stages:\n    - builder\n    - {stage: lint, role: linter}\n"
        "    - {stage: lint, role: other}\n" +
        roles);
    CHECK(contains(msg, "agency.yaml:5:"));
    CHECK(contains(msg, "stage 'lint' is given twice"));
  }
  SUBCASE("a role working two stages") {
    auto msg = error_of(
        "pipeline:\n  stages:\n    - {stage: lint, role: linter}\n    - builder\n"
        "    - {stage: lint-again, role: linter}\n" +
        roles);
    CHECK(contains(msg, "the role linter works two stages"));
  }
  SUBCASE("a built-in role under another stage name, a built-in stage under another role") {
    CHECK(contains(error_of("pipeline:\n  stages: [{stage: build, role: builder}]\n" + roles),
                   "the builder works the stage ready-for-dev in every pipeline"));
    CHECK(contains(error_of("pipeline:\n  stages: [{stage: qa, role: linter}]\n" + roles),
                   "the stage qa is worked by the adversary"));
  }
  SUBCASE("a reserved or malformed stage name") {
    CHECK(contains(error_of("pipeline:\n  stages: [{stage: done, role: linter}]\n" + roles),
                   "'done' cannot be a stage name"));
    CHECK(contains(error_of("pipeline:\n  stages: [{stage: Lint!, role: linter}]\n" + roles),
                   "'Lint!' cannot be a stage name"));
  }
  SUBCASE("a lateral role as a stage") {
    CHECK(contains(error_of("pipeline:\n  stages: [builder, scout]\n" + roles),
                   "the scout is a lateral role and works no stage"));
  }
  SUBCASE("an empty list, a stage without a role, an unknown key") {
    CHECK(contains(error_of("pipeline:\n  stages: []\n"), "must be a list of stages"));
    CHECK(contains(error_of("pipeline:\n  stages: [{stage: lint}]\n" + roles), "names no role"));
    CHECK(
        contains(error_of("pipeline:\n  stages: [{stage: lint, role: linter, bonce: x}]\n" + roles),
                 "did you mean 'bounce'"));
  }
  SUBCASE("a project naming a pipeline that does not exist") {
    auto msg = error_of("projects:\n  - name: web\n    repo: ./web\n    pipeline: lintd\n");
    CHECK(contains(msg, "agency.yaml:4:"));
    CHECK(contains(msg, "no pipeline 'lintd' (pipelines: default)"));
  }
  SUBCASE("a pipeline named default, or without stages") {
    CHECK(contains(error_of("pipelines:\n  default: {stages: [builder]}\n"),
                   "the fleet's default pipeline is pipeline.stages"));
    CHECK(contains(error_of("pipelines:\n  empty: {}\n"), "has no stages"));
  }
  SUBCASE("the landing stage that does not land") {
    CHECK(contains(
        error_of("pipeline:\n  stages: [builder, {role: integrator, landing: false}]\n" + roles),
        "always lands"));
  }
  SUBCASE("an external role with something agency up would start") {
    CHECK(contains(error_of("roles:\n  linter: {external: true, binary: ./lint}\n"),
                   "an external role's agents are started by you"));
  }
}

TEST_CASE("pipeline: a task carries its pipeline and is read back from it") {
  auto c = parsed(kLinted);
  agency::v1::Task t;
  c.pipeline_for("web").stamp(t, /*lands=*/false);
  CHECK(t.pipeline() == "linted");
  // The project does not land: the landing stage is left out.
  REQUIRE(t.pipeline_stages_size() == 6);
  CHECK(t.pipeline_stages(2).name() == "lint");
  CHECK(t.pipeline_stages(2).role() == "linter");
  CHECK(t.pipeline_stages(2).bounce() == "ready-for-dev");
  CHECK(t.pipeline_stages(4).optional());
  auto back = pipeline::Pipeline::of(t);
  CHECK(back.name() == "linted");
  CHECK(back.after("review") == "done");
  CHECK(back.draw("lint") == "ready-for-prep > ready-for-dev > [lint] > qa > docs > review > done");
  // A record without one: the built-in pipeline.
  CHECK(pipeline::Pipeline::of(agency::v1::Task{}) == pipeline::Pipeline::builtin());
}
