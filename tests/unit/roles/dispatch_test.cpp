// The dispatcher's decisions: rotation of standing orders, trigger
// templates, subject patterns, instance counts at their thresholds.
#include "roles/dispatcher/dispatch.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "bus/clock.hpp"
#include "roles/dispatcher/settings.hpp"

namespace agency::dispatch {
namespace {

using namespace std::chrono_literals;

v1::AgentStatus agent(const std::string& id, const std::string& role, const std::string& state,
                      Time since) {
  v1::AgentStatus a;
  a.set_agent_id(id);
  a.set_role(role);
  a.set_state(state);
  *a.mutable_since() = to_timestamp(since);
  return a;
}

TEST_CASE("dispatch: standing orders rotate across orders and projects") {
  std::vector<config::StandingOrder> orders(2);
  orders[0].role = "scout";
  orders[0].objective = "Explore {project}";
  orders[0].projects = {"api", "web"};
  orders[1].role = "scout";
  orders[1].objective = "Raise test coverage in {project}";
  Rotation r;
  std::vector<std::string> seen;
  for (int i = 0; i < 5; ++i) {
    auto plan = next_order(orders, "scout", {"api", "web", "cli"}, r);
    REQUIRE(plan.has_value());
    seen.push_back(plan->objective);
  }
  CHECK(seen == std::vector<std::string>{"Explore api", "Explore web", "Raise test coverage in api",
                                         "Raise test coverage in web",
                                         "Raise test coverage in cli"});
  CHECK(next_order(orders, "scout", {}, r)->objective == "Explore api");
  CHECK_FALSE(next_order(orders, "builder", {"api"}, r).has_value());
  std::vector<config::StandingOrder> plain(1);
  plain[0].role = "proxy";
  plain[0].objective = "Refresh the corpus";
  Rotation r2;
  auto p = next_order(plain, "proxy", {}, r2);
  REQUIRE(p.has_value());
  CHECK(p->project.empty());
  CHECK(p->objective == "Refresh the corpus");
}

TEST_CASE("dispatch: a trigger's template takes the subject, JSON fields and task fields") {
  TemplateInput in;
  in.subject = "git.push.api";
  in.data = R"({"ref": "refs/heads/main", "repo": "api", "commits": [{"id": "abc"}], "n": 3})";
  auto f = fill_template("Review {json.ref} in {subject.2} ({json.commits.0.id}, {json.n})", in);
  CHECK(f.text == "Review refs/heads/main in api (abc, 3)");
  CHECK(f.missing.empty());
  auto g = fill_template("{json.nope} and {subject.9} and {task.title}", in);
  CHECK(g.text == " and  and ");
  CHECK(g.missing == std::vector<std::string>{"json.nope", "subject.9", "task.title"});
  in.task["title"] = "Add a limiter";
  CHECK(fill_template("Second look at {task.title}", in).text == "Second look at Add a limiter");
  CHECK(fill_template("no placeholders {", in).text == "no placeholders {");
  in.data = "not json";
  CHECK(fill_template("{data} / {json.a}", in).text == "not json / ");
}

TEST_CASE("dispatch: subject patterns") {
  CHECK(subject_matches("git.push.>", "git.push.api"));
  CHECK(subject_matches("git.push.>", "git.push.api.main"));
  CHECK_FALSE(subject_matches("git.push.>", "git.push"));
  CHECK(subject_matches("git.*.api", "git.push.api"));
  CHECK_FALSE(subject_matches("git.*.api", "git.push.web"));
  CHECK_FALSE(subject_matches("git.push", "git.push.api"));
}

TEST_CASE("dispatch: instance counts grow with a lasting backlog and shrink when idle") {
  config::Instances rule;
  rule.min = 1;
  rule.max = 2;
  rule.backlog = 3;
  rule.after_seconds = 30;
  rule.idle_seconds = 60;
  const Time t0 = Time(std::chrono::seconds(1'800'000'000));
  ScaleState state;
  std::vector<v1::AgentStatus> one = {agent("builder-1", "builder", "busy", t0)};
  // 3 queued per agent is not above the threshold.
  CHECK(judge_scale("builder", rule, one, 3, t0, state).action == ScaleDecision::Action::none);
  CHECK(judge_scale("builder", rule, one, 4, t0, state).action == ScaleDecision::Action::none);
  CHECK(judge_scale("builder", rule, one, 4, t0 + 29s, state).action ==
        ScaleDecision::Action::none);
  auto grow = judge_scale("builder", rule, one, 4, t0 + 30s, state);
  CHECK(grow.action == ScaleDecision::Action::start);
  CHECK(grow.reason.find("4 briefs queued") != std::string::npos);
  // At max: no more.
  std::vector<v1::AgentStatus> two = {agent("builder-1", "builder", "busy", t0),
                                      agent("builder-2", "builder", "busy", t0)};
  ScaleState s2;
  CHECK(judge_scale("builder", rule, two, 100, t0, s2).action == ScaleDecision::Action::none);
  CHECK(judge_scale("builder", rule, two, 100, t0 + 60s, s2).action == ScaleDecision::Action::none);
  // A dip below the threshold starts the wait over.
  ScaleState s3;
  (void)judge_scale("builder", rule, one, 4, t0, s3);
  (void)judge_scale("builder", rule, one, 1, t0 + 20s, s3);
  CHECK(judge_scale("builder", rule, one, 4, t0 + 40s, s3).action == ScaleDecision::Action::none);
  // Idle extras: the one idle longest goes, only after idle_seconds and above min.
  std::vector<v1::AgentStatus> idle = {agent("builder-1", "builder", "idle", t0),
                                       agent("builder-2", "builder", "idle", t0 + 10s)};
  ScaleState s4;
  CHECK(judge_scale("builder", rule, idle, 0, t0 + 59s, s4).action == ScaleDecision::Action::none);
  auto shrink = judge_scale("builder", rule, idle, 0, t0 + 70s, s4);
  CHECK(shrink.action == ScaleDecision::Action::stop);
  CHECK(shrink.agent_id == "builder-1");
  CHECK(judge_scale("builder", rule, idle, 1, t0 + 70s, s4).action == ScaleDecision::Action::none);
  std::vector<v1::AgentStatus> lone = {agent("builder-1", "builder", "idle", t0)};
  CHECK(judge_scale("builder", rule, lone, 0, t0 + 600s, s4).action == ScaleDecision::Action::none);
  // Exactly `backlog` per agent is not a backlog, one more is (no wait configured).
  config::Instances now_rule = rule;
  now_rule.after_seconds = 0;
  ScaleState s5;
  CHECK(judge_scale("builder", now_rule, one, 3, t0, s5).action == ScaleDecision::Action::none);
  CHECK_FALSE(s5.backlog_high_since.has_value());
  CHECK(judge_scale("builder", now_rule, one, 4, t0, s5).action == ScaleDecision::Action::start);
  // Below min: start, whatever the queue, once the shortfall has lasted
  // after_seconds (here 30 s, more than the 10 s grace).
  ScaleState s6;
  CHECK(judge_scale("builder", rule, {}, 0, t0, s6).action == ScaleDecision::Action::none);
  CHECK(judge_scale("builder", rule, {}, 0, t0 + 29s, s6).action == ScaleDecision::Action::none);
  auto refill = judge_scale("builder", rule, {}, 0, t0 + 30s, s6);
  CHECK(refill.action == ScaleDecision::Action::start);
  CHECK(refill.reason.find("fewer than min 1 for 30 s") != std::string::npos);
  // An agent that shows up in time (a restart, a slow start) ends the wait.
  ScaleState s7;
  (void)judge_scale("builder", now_rule, {}, 0, t0, s7);
  (void)judge_scale("builder", now_rule, one, 0, t0 + 5s, s7);
  CHECK_FALSE(s7.short_since.has_value());
  CHECK(judge_scale("builder", now_rule, {}, 0, t0 + 12s, s7).action ==
        ScaleDecision::Action::none);
  // With no after_seconds, the grace alone.
  CHECK(judge_scale("builder", now_rule, {}, 0, t0 + 22s, s7).action ==
        ScaleDecision::Action::start);
}

}  // namespace
}  // namespace agency::dispatch
