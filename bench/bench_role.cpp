// agency-bench-role --as planner|builder|adversary|reviewer: one agent that
// consumes that role's briefs with the real runtime (agency::run_agent) and
// passes every task straight to the next stage. The builder of roles/ makes
// a git worktree and a commit per task, which is slow work that has nothing
// to do with the mesh; this role does no work of its own, so with the
// scripted engine (no sleeps, no writes) everything agency-bench measures
// through it is the mesh: pull, task record, events, next brief, acks.
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "bus/vocabulary.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/role_logic.hpp"
#include "runtime/runtime.hpp"

namespace agency::bench {
namespace {

namespace voc = vocabulary;

// The stage a role hands its tasks to when it passes them.
std::string_view next_stage_of(std::string_view role) {
  return pipeline::after(pipeline::stage_of(role));
}

class PassThrough final : public RoleLogic {
 public:
  PassThrough(std::string role, std::string next)
      : role_(std::move(role)), next_(std::move(next)) {}

  [[nodiscard]] std::string name() const override { return role_; }

  Result<Turn> prepare(const RoleContext& ctx, const v1::Brief& brief,
                       const v1::Task& task) override {
    // One scratch directory per agent, made once: the engine writes nothing,
    // and a directory per task would measure the file system.
    if (workdir_.empty()) {
      std::filesystem::path dir = ctx.work_dir / "bench-scratch" / ctx.agent_id;
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      if (ec) {
        return make_error(errc::io, "cannot create " + dir.string() + ": " + ec.message());
      }
      workdir_ = std::filesystem::absolute(dir);
    }
    Turn turn = roles::start_turn(ctx, role_, brief, task);
    turn.workdir = workdir_;
    turn.prompt = compose_prompt(ctx.skill, brief, task);
    return turn;
  }

  Result<Decision> finish(const RoleContext& /*ctx*/, const Turn& /*turn*/,
                          const Outcome& outcome) override {
    if (outcome.verdict != "pass") {
      return roles::blocked("agency-bench-role: the engine answered '" + outcome.verdict +
                            "'; the benchmark scenario passes every stage");
    }
    Decision d;
    d.next_stage = next_;
    d.reason = "agency-bench-role: passed through";
    return d;
  }

 private:
  std::string role_;
  std::string next_;
  std::filesystem::path workdir_;
};

}  // namespace
}  // namespace agency::bench

int main(int argc, char** argv) {
  // run_agent parses the command line with the runtime's own options and
  // knows no --as: take it out first.
  std::string role;
  std::vector<char*> args;
  args.push_back(argv[0]);
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--as" && i + 1 < argc) {
      role = argv[++i];
    } else if (a.rfind("--as=", 0) == 0) {
      role = std::string(a.substr(5));
    } else {
      args.push_back(argv[i]);
    }
  }
  std::string next(agency::bench::next_stage_of(role));
  if (next.empty()) {
    std::cerr << "agency-bench-role: say which stage to play with --as planner|builder|adversary|"
                 "reviewer (got '"
              << role << "')\n";
    return 2;
  }
  args.push_back(nullptr);
  return agency::run_agent(std::make_unique<agency::bench::PassThrough>(role, next),
                           static_cast<int>(args.size()) - 1, args.data());
}
