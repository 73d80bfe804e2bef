// agency task cancel|retry|unblock|move|priority|comment: what a person does
// to a task (runtime/steering.hpp), each recorded as done by human:<user>.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "bus/codec.hpp"
#include "bus/subjects.hpp"
#include "bus/text.hpp"
#include "bus/vocabulary.hpp"
#include "cli/cli.hpp"
#include "runtime/pipeline.hpp"
#include "runtime/steering.hpp"
#include "runtime/tasks.hpp"

namespace agency::cli {
namespace {

namespace fs = std::filesystem;

std::string safe(std::string_view s) { return text::terminal_safe(s, text::Layout::one_line); }

struct SteerOptions {
  std::string id;
  std::string text;  // reason, note, stage, priority or comment
  std::string as;    // --as: the person's name in the audit trail
};

void print(const GlobalOptions& global, const steering::Steered& s, const std::string& actor) {
  if (global.json) {
    std::cout << text::terminal_safe_json(steering::to_json(s, actor)) << '\n';
    return;
  }
  std::cout << safe(s.task.id()) << ": " << safe(s.kind);
  if (s.from != s.to) {
    std::cout << ", " << safe(s.from) << " -> " << safe(s.to);
  } else {
    std::cout << " at " << safe(s.to);
  }
  std::cout << " (by " << safe(actor) << ")\n";
  if (!s.brief_id.empty()) std::cout << "  brief " << safe(s.brief_id) << " sent\n";
  if (!s.also.empty()) {
    std::string also;
    for (const auto& a : s.also) also += (also.empty() ? "" : ", ") + a;
    std::cout << "  with " << safe(also) << '\n';
  }
  for (const auto& a : s.cancelled) std::cout << "  told " << safe(a) << " to end its turn\n";
}

using Action = std::function<Result<steering::Steered>(steering::Steering&, const SteerOptions&)>;

void run_steer(const GlobalOptions& global, const SteerOptions& opts, const Action& action) {
  if (!subjects::is_valid_token(opts.id)) {
    fail(make_error(errc::config, "'" + safe(opts.id) + "' is not a task id (t-...)"));
  }
  auto cfg = fleet_config(global);
  auto conn = must(connect_cli(global, "agency-task"));
  auto store = must(TaskStore::open(*conn, static_cast<std::size_t>(cfg.limits.task_bytes)));
  const std::string actor =
      steering::human_actor(opts.as.empty() ? steering::current_user() : opts.as);
  steering::Steering steer(*conn, store, cfg, actor);
  auto done = action(steer, opts);
  if (!done) fail(done.error());
  print(global, *done, actor);
}

CLI::App* steer_command(CLI::App* task, GlobalOptions& global, const std::string& name,
                        const std::string& help, const std::shared_ptr<SteerOptions>& opts) {
  auto* cmd = task->add_subcommand(name, help);
  cmd->add_option("id", opts->id, "task id (t-...)")->required();
  cmd->add_option("--as", opts->as, "the person's name in the audit trail (default $USER)");
  cmd->add_flag("--json", global.json, "print what was done as JSON");
  return cmd;
}

}  // namespace

// The configuration the fleet runs on: agency.yaml, else what `agency up`
// chose from the place (<state_dir>/agency.place.yaml), else the default.
config::Config fleet_config(const GlobalOptions& global) {
  auto cfg = load_config_or_report(global);
  if (!cfg) throw CLI::RuntimeError(kExitUsage);
  if (cfg->source.empty()) {
    const fs::path place = cfg->state_dir / "agency.place.yaml";
    std::error_code ec;
    if (fs::exists(place, ec)) {
      if (auto chosen = config::load_file(place); chosen) return std::move(*chosen);
    }
  }
  return std::move(*cfg);
}

void add_task_steer_commands(CLI::App& task, GlobalOptions& global) {
  namespace voc = vocabulary;
  {
    auto opts = std::make_shared<SteerOptions>();
    auto* cmd = steer_command(
        &task, global, "cancel",
        "Stop a task: stage cancelled, a running engine turn on it ended (an epic's sub-tasks too)",
        opts);
    cmd->add_option("--reason", opts->text, "why, for the audit trail");
    cmd->callback([&global, opts] {
      run_steer(global, *opts, [](steering::Steering& s, const SteerOptions& o) {
        return s.cancel(o.id, o.text);
      });
    });
  }
  {
    auto opts = std::make_shared<SteerOptions>();
    auto* cmd = steer_command(
        &task, global, "retry",
        "A blocked or cancelled task goes back to the stage it stopped at (bounces reset)", opts);
    cmd->callback([&global, opts] {
      run_steer(global, *opts,
                [](steering::Steering& s, const SteerOptions& o) { return s.retry(o.id); });
    });
  }
  {
    auto opts = std::make_shared<SteerOptions>();
    auto* cmd = steer_command(
        &task, global, "unblock",
        "A blocked task goes back to the stage it stopped at; --note reaches the next agent as "
        "findings",
        opts);
    cmd->add_option("--note", opts->text, "what the next agent should know");
    cmd->callback([&global, opts] {
      run_steer(global, *opts, [](steering::Steering& s, const SteerOptions& o) {
        return s.unblock(o.id, o.text);
      });
    });
  }
  {
    auto opts = std::make_shared<SteerOptions>();
    auto stage = std::make_shared<std::string>();
    auto* cmd = steer_command(&task, global, "move",
                              "Move a task to a stage (its own: send its brief again), done or "
                              "blocked; a running turn on it ends",
                              opts);
    cmd->add_option("stage", *stage,
                    "one of " + voc::join(pipeline::work_stages()) + ", done, blocked")
        ->required();
    cmd->add_option("--reason", opts->text, "why, for the audit trail");
    cmd->callback([&global, opts, stage] {
      run_steer(global, *opts, [stage](steering::Steering& s, const SteerOptions& o) {
        return s.move(o.id, *stage, o.text);
      });
    });
  }
  {
    auto opts = std::make_shared<SteerOptions>();
    auto* cmd = steer_command(
        &task, global, "priority",
        "Change a task's priority (an epic's sub-tasks too); a queued brief moves queue", opts);
    cmd->add_option("priority", opts->text, "one of " + voc::join(voc::kPriorities))->required();
    cmd->callback([&global, opts] {
      run_steer(global, *opts, [](steering::Steering& s, const SteerOptions& o) {
        return s.priority(o.id, o.text);
      });
    });
  }
  {
    auto opts = std::make_shared<SteerOptions>();
    auto words = std::make_shared<std::vector<std::string>>();
    auto* cmd =
        steer_command(&task, global, "comment", "Add a comment to a task's audit trail", opts);
    cmd->add_option("text", *words, "the comment")->required();
    cmd->callback([&global, opts, words] {
      opts->text.clear();
      for (const auto& w : *words) opts->text += (opts->text.empty() ? "" : " ") + w;
      run_steer(global, *opts, [](steering::Steering& s, const SteerOptions& o) {
        return s.comment(o.id, o.text);
      });
    });
  }
}

}  // namespace agency::cli
