// agency sim: the accountant's rules against no accountant and a fixed
// pace on the same week. The relations docs/BENCHMARKS.md reports must hold.
#include "roles/accountant/sim.hpp"

#include <doctest/doctest.h>

#include <string>

namespace agency::accounting {
namespace {

const SimResult& of(const std::vector<SimResult>& results, const std::string& policy) {
  for (const auto& r : results) {
    if (r.policy == policy) return r;
  }
  FAIL("no result for " << policy);
  return results.front();
}

TEST_CASE("sim: agency uses the week with no denial, greedy denies the person") {
  auto setup = default_sim_setup();
  auto results = simulate(setup);
  REQUIRE(results.size() == 3);
  const auto& greedy = of(results, "greedy");
  const auto& fixed = of(results, "fixed");
  const auto& agency = of(results, "agency");
  CHECK(agency.weekly_utilization >= 95.0);
  CHECK(agency.human_denied == 0);
  CHECK(agency.human_requests > 500);
  CHECK(greedy.human_denied > 0);
  // The fixed pace knows nothing of the person: it denies them too.
  CHECK(fixed.human_denied > 0);
  CHECK(agency.unused_five_hour + agency.unused_seven_day <
        greedy.unused_five_hour + greedy.unused_seven_day);
  CHECK(agency.unused_seven_day < greedy.unused_seven_day);
  CHECK(agency.tasks_done > 0);
  CHECK(agency.agent_tokens + agency.human_tokens <= setup.seven_day);
}

TEST_CASE("sim: the same seed gives the same week, another seed another") {
  auto setup = default_sim_setup();
  setup.days = 2;
  auto a = simulate(setup);
  auto b = simulate(setup);
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].human_requests == b[i].human_requests);
    CHECK(a[i].agent_tokens == b[i].agent_tokens);
    CHECK(a[i].unused_seven_day == b[i].unused_seven_day);
  }
  setup.seed += 1;
  auto c = simulate(setup);
  CHECK((c[0].human_tokens != a[0].human_tokens || c[0].agent_tokens != a[0].agent_tokens));
}

}  // namespace
}  // namespace agency::accounting
