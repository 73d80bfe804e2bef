#include <doctest/doctest.h>

#include "roles/role/role.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/skill.hpp"
#include "tests/unit/roles/role_fixture.hpp"

namespace {

namespace fs = std::filesystem;
namespace voc = agency::vocabulary;
namespace pipeline = agency::pipeline;
using agency::test::brief_for;
using agency::test::make_task;
using agency::test::outcome;

agency::Skill skill_from(const std::string& front) {
  auto s = agency::parse_skill("---\n" + front + "---\nYou document things.\n", "scribe/SKILL.md");
  REQUIRE_MESSAGE(s.ok(), s.error().message);
  return *s;
}

}  // namespace

TEST_CASE("roles: generic role takes its name and its stages from the skill") {
  auto role = agency::roles::GenericRole::from_skill(skill_from("name: scribe\n"));
  REQUIRE(role.ok());
  CHECK((*role)->name() == "scribe");
  // Without next and on_fail, the task's pipeline decides.
  CHECK((*role)->next_stage().empty());
  CHECK((*role)->fail_stage().empty());

  auto routed = agency::roles::GenericRole::from_skill(
      skill_from("name: scribe\nnext: review\non_fail: ready-for-dev\n"));
  REQUIRE(routed.ok());
  CHECK((*routed)->next_stage() == pipeline::kReview);
  CHECK((*routed)->fail_stage() == pipeline::kReadyForDev);

  auto bad = agency::roles::GenericRole::from_skill(skill_from("name: scribe\nnext: split\n"));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == agency::errc::config);
  CHECK(bad.error().message.find("'split' is not a stage") != std::string::npos);
  CHECK(bad.error().message.find("scribe/SKILL.md") != std::string::npos);
}

TEST_CASE("roles: generic role decisions") {
  agency::test::Bench bench("scribe");
  auto made = agency::roles::GenericRole::from_skill(
      skill_from("name: scribe\nnext: review\non_fail: ready-for-dev\n"));
  REQUIRE(made.ok());
  auto& role = **made;
  bench.ctx.skill = agency::Skill{};  // the role's own skill is used
  auto task = make_task("t-g1", {pipeline::kReview});
  auto turn = role.prepare(bench.ctx, brief_for(task), task);
  REQUIRE(turn.ok());
  CHECK(turn->role == "scribe");
  CHECK(fs::equivalent(turn->workdir, bench.ctx.work_dir / "scratch" / "t-g1"));
  CHECK(turn->prompt.rfind("You document things.", 0) == 0);

  auto pass = role.finish(bench.ctx, *turn, outcome("pass", "documented"));
  REQUIRE(pass.ok());
  CHECK(pass->next_stage == pipeline::kReview);
  CHECK_FALSE(pass->bounce);
  CHECK(pass->attachments.at("scribe").find("documented") != std::string::npos);

  auto fail = role.finish(bench.ctx, *turn, outcome("fail", "the docs are wrong", {"typo"}));
  REQUIRE(fail.ok());
  CHECK(fail->next_stage == pipeline::kReadyForDev);
  CHECK(fail->bounce);
  CHECK(fail->context.find("- typo") != std::string::npos);

  auto blocked = role.finish(bench.ctx, *turn, outcome("blocked", "need a person"));
  REQUIRE(blocked.ok());
  CHECK(blocked->next_stage == voc::kBlocked);

  auto plain = agency::roles::GenericRole::from_skill(skill_from("name: scribe\n"));
  REQUIRE(plain.ok());
  auto failed = (*plain)->finish(bench.ctx, *turn, outcome("fail", "no"));
  REQUIRE(failed.ok());
  // Outside the pipeline (a lateral brief): a fail is blocked, a pass done.
  CHECK(agency::test::routed(*failed, "").next_stage == voc::kBlocked);
  CHECK_FALSE(agency::test::routed(*failed, "").bounce);
  auto done = (*plain)->finish(bench.ctx, *turn, outcome("pass", "yes"));
  REQUIRE(done.ok());
  CHECK(agency::test::routed(*done, "").next_stage == voc::kDone);
  // At a stage of the pipeline: a pass goes on, a fail goes where the stage
  // sends work back.
  CHECK(agency::test::routed(*done, pipeline::kReview).next_stage == pipeline::kReadyToLand);
  CHECK(agency::test::routed(*failed, pipeline::kReview).next_stage == pipeline::kReadyForDev);
  CHECK(agency::test::routed(*failed, pipeline::kReview).bounce);
}

TEST_CASE("roles: generic role finds --skill on its command line") {
  std::string a0 = "agency-role", a1 = "--agent-id", a2 = "x", a3 = "--skill", a4 = "s/SKILL.md";
  std::vector<char*> argv = {a0.data(), a1.data(), a2.data(), a3.data(), a4.data()};
  CHECK(agency::roles::skill_argument(5, argv.data()) == "s/SKILL.md");
  std::string eq = "--skill=t/SKILL.md";
  std::vector<char*> argv2 = {a0.data(), eq.data()};
  CHECK(agency::roles::skill_argument(2, argv2.data()) == "t/SKILL.md");
  CHECK(agency::roles::skill_argument(3, argv.data()).empty());
  std::vector<char*> dangling = {a0.data(), a3.data()};
  CHECK(agency::roles::skill_argument(2, dangling.data()).empty());
}
