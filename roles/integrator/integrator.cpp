#include "roles/integrator/integrator.hpp"

#include <chrono>
#include <cstdlib>

#include "bus/clock.hpp"
#include "bus/program.hpp"
#include "bus/text.hpp"
#include "bus/vocabulary.hpp"
#include "roles/integrator/land.hpp"
#include "runtime/catalog.hpp"
#include "runtime/command_line.hpp"
#include "runtime/mesh.hpp"
#include "runtime/pipeline.hpp"

namespace agency::roles {
namespace {

using namespace std::chrono_literals;
namespace voc = vocabulary;

// How soon a brief comes back when the landing must wait: another agent
// lands the same project, the default branch moved, a person's working copy
// has uncommitted changes.
constexpr auto kRetryAfter = 2s;
// A lock holder whose heartbeat is older than this is gone.
constexpr auto kHolderGoneAfter = 30s;

std::string short_sha(const std::string& sha) { return sha.substr(0, 12); }

// The holder of a landing lock is gone: it stopped beating, or it is no
// longer busy (it released nothing before it went idle, or died and came
// back under another id).
bool holder_gone(const Mesh& mesh, std::string_view value) {
  const std::string holder(value.substr(0, value.find(' ')));
  auto fleet = mesh.fleet();
  if (!fleet) return false;  // cannot tell: wait
  for (const auto& status : *fleet) {
    if (status.agent_id() != holder) continue;
    if (status.state() != voc::kBusy) return true;
    if (!status.has_heartbeat_at()) return true;
    return std::chrono::system_clock::now() - to_time_point(status.heartbeat_at()) >
           kHolderGoneAfter;
  }
  return true;
}

Decision wait(std::string reason) {
  Decision d;
  d.retry_after = std::chrono::duration_cast<std::chrono::milliseconds>(kRetryAfter);
  d.reason = std::move(reason);
  return d;
}

Decision done(std::string reason, std::string landing) {
  Decision d;
  d.verdict = Decision::Verdict::pass;
  d.reason = std::move(reason);
  d.attachments["landing"] = std::move(landing);
  return d;
}

Decision bounce(std::string reason, std::string context, std::string landing) {
  Decision d;
  d.verdict = Decision::Verdict::fail;
  d.reason = std::move(reason);
  d.context = std::move(context);
  d.attachments["landing"] = std::move(landing);
  return d;
}

Decision decide(const config::Project& project, const land::Request& rq, const land::Outcome& out) {
  const std::string how = project.landing == "merge"  ? "on " + rq.default_branch
                          : project.landing == "push" ? "on " + rq.remote + "/" + rq.default_branch
                                                      : "as a pull request";
  switch (out.kind) {
    case land::Kind::landed:
      return done("landed " + rq.branch + " " + how + " at " + short_sha(out.commit) + " (" +
                      project.land_with +
                      (project.test_command.empty() ? ", no test command)" : ", tests pass)"),
                  "landed " + out.commit + " " + how + " from " + out.base + "\n");
    case land::Kind::already_landed:
      return done(
          rq.branch + " is in " + rq.default_branch + " already (at " + short_sha(out.commit) + ")",
          "already landed: " + rq.default_branch + " at " + out.commit + "\n");
    case land::Kind::pr_opened:
      return done("opened a pull request for " + rq.branch + ": " + out.report,
                  "pull request: " + out.report + "\n");
    case land::Kind::conflict: {
      std::string files;
      for (const auto& f : out.conflicts) files += "- " + f + "\n";
      std::string list;
      for (std::size_t i = 0; i < out.conflicts.size() && i < 5; ++i) {
        list += (i == 0 ? "" : ", ") + out.conflicts[i];
      }
      if (out.conflicts.size() > 5) list += ", ...";
      return bounce("landing conflict with " + rq.default_branch + " at " + short_sha(out.base) +
                        " in " + list,
                    "Landing was refused: " + rq.branch + " conflicts with " + rq.default_branch +
                        " (now at " + short_sha(out.base) + ") in these files:\n\n" + files +
                        "\nYour worktree has " + rq.default_branch +
                        " merged in with the conflict markers in those files: resolve them "
                        "(keep both changes where they are compatible) and make the tests pass.\n",
                    "conflict with " + out.base + " in:\n" + files);
    }
    case land::Kind::tests_failed:
      return bounce("tests fail on " + rq.branch + " merged with " + rq.default_branch + " at " +
                        short_sha(out.base),
                    "Landing was refused: with " + rq.default_branch + " (now at " +
                        short_sha(out.base) + ") merged in, the tests fail:\n\n```\n" + out.report +
                        "```\n\nYour worktree has " + rq.default_branch +
                        " merged in: make the tests pass on top of it.\n",
                    "tests failed on the merged result:\n" + out.report);
    case land::Kind::retry:
      return wait(out.report);
    case land::Kind::refused:
      return blocked("cannot land: " + out.report);
  }
  return blocked("cannot land: unknown outcome");
}

}  // namespace

std::string landing_lock_key(std::string_view project) {
  return "integrator.landing." + std::string(project);
}

std::optional<Decision> Integrator::precheck(const RoleContext& ctx, const v1::Brief& brief,
                                             const v1::Task& task) {
  const std::string project_name = brief.project().empty() ? task.project() : brief.project();
  if (project_name.empty()) return done("no project: nothing to land", "nothing to land\n");
  if (ctx.project == nullptr) {
    return blocked(missing_project(ctx, brief, task).value_or("no project"));
  }
  const config::Project& project = *ctx.project;
  if (!project.lands()) {
    return done("project " + project.name + " does not land (landing: none)", "landing: none\n");
  }

  const std::string id = task_id_of(brief, task);
  land::Request rq;
  rq.repo = project.repo;
  rq.default_branch = project.default_branch;
  rq.branch = task.branch().empty() ? git::branch_for(id) : task.branch();
  rq.mode = project.landing;
  rq.land_with = project.land_with;
  rq.remote = project.remote;
  if (project.from_remote) {
    // Landed where every host's agents push: the clone only carries it.
    if (rq.mode == "merge") rq.mode = "push";
    rq.tip_ref = "refs/remotes/origin/" + rq.branch;
    if (auto synced = git::sync_clone(project.remote, project.repo, project.default_branch);
        !synced) {
      return wait("cannot fetch from " + project.remote + ": " + synced.error().message);
    }
  }
  rq.test_command = project.test_command;
  rq.workdir = ctx.work_dir / "landing" / project.name;
  const std::string title = task.title().empty() ? id : task.title();
  rq.message = "agency: land " + title + " (task " + id + ")";
  rq.title = title;
  rq.body = task.spec().empty() ? task.brief().objective() : task.spec();
  rq.body += "\n\nLanded by the agency integrator (task " + id + ").";

  const std::string key = landing_lock_key(project.name);
  if (ctx.mesh != nullptr) {
    auto taken = ctx.mesh->take_lock(
        key, [&](std::string_view value) { return holder_gone(*ctx.mesh, value); });
    if (!taken) return wait("cannot read the landing lock: " + taken.error().message);
    if (!*taken) return wait("another integrator is landing a task of project " + project.name);
  }
  const land::Outcome out = land::land(rq);
  if (ctx.mesh != nullptr) (void)ctx.mesh->release_lock(key);
  return decide(project, rq, out);
}

}  // namespace agency::roles

namespace agency::roles {
namespace {

// `agency doctor`: what each landing project needs to land (docs/LANDING.md).
std::vector<cli::Check> landing_checks(const config::Config& config) {
  std::vector<cli::Check> out;
  const config::Role* integrator = config.role("integrator");
  const bool runs = integrator != nullptr && integrator->count > 0;
  for (const auto& p : config.projects) {
    const std::string name = "landing " + p.name;
    if (p.lands() && !runs) {
      out.emplace_back(name, cli::Level::warn,
                       p.landing +
                           ": no integrator runs (roles.integrator.count is 0), so "
                           "reviewed work waits at ready-to-land",
                       "set roles.integrator.count to 1, or landing: none for project " + p.name);
      continue;
    }
    if (!p.lands()) {
      out.emplace_back(name, cli::Level::ok,
                       "none: reviewed work stays on its agency/<task> branch");
      continue;
    }
    std::string how = p.landing + " (" + p.land_with + ") onto " + p.default_branch;
    if (p.from_remote) {
      how = (p.landing == "merge" ? std::string("push") : p.landing) + " (" + p.land_with +
            ") onto " + p.default_branch + " of " + p.remote + ", from clones of it";
      auto seen =
          git::run({"git", "ls-remote", "--exit-code", "--heads", "--", p.remote, p.default_branch},
                   std::filesystem::current_path(), std::chrono::seconds(60),
                   {{"GIT_TERMINAL_PROMPT", "0"}});
      if (seen.exit_code != 0) {
        out.emplace_back(name, cli::Level::fail,
                         how + ": its branch " + p.default_branch + " cannot be read (" +
                             std::string(text::trim(seen.output.substr(0, 300))) + ")",
                         "check remote: in agency.yaml and that this host can fetch it");
        continue;
      }
    } else if (p.landing == "push" || p.landing == "pr") {
      auto remote = git::run({"git", "remote", "get-url", p.remote}, p.repo);
      if (remote.exit_code != 0) {
        out.emplace_back(name, cli::Level::fail,
                         how + ": the repository has no remote '" + p.remote + "'",
                         "git -C " + p.repo.string() + " remote add " + p.remote +
                             " URL, or set remote: in agency.yaml");
        continue;
      }
      how += " of " + p.remote;
    }
    if (p.landing == "pr" && !program::find("gh")) {
      out.emplace_back(name, cli::Level::fail,
                       how + ": the GitHub CLI `gh` is not on PATH; tasks would be blocked",
                       "install gh and log in (gh auth login), or set landing: push");
      continue;
    }
    if (p.test_command.empty()) {
      out.emplace_back(name, cli::Level::warn,
                       how + ", without tests: nothing checks the merged result",
                       "set test_command for project " + p.name);
      continue;
    }
    out.emplace_back(name, cli::Level::ok, how + ", after `" + p.test_command + "` passes");
  }
  return out;
}

}  // namespace
}  // namespace agency::roles

// The role's entry in the catalog (runtime/catalog.hpp).
namespace agency::catalog::entries {
RoleInfo integrator() {
  RoleInfo info("integrator");
  info.runs_engine = false;
  info.takes_leases = false;
  info.doctor = roles::landing_checks;
  return info;
}
}  // namespace agency::catalog::entries
