// agency.control.<agent-id>|<role>|all (runtime_agent.hpp), on nats.c
// threads: a command only sets flags and wakes the main thread, which acts
// on them between briefs (pause, drain, stop) or in the engine turn (cancel).
#include "bus/vocabulary.hpp"
#include "runtime/runtime_agent.hpp"

namespace agency::runtime {

namespace voc = vocabulary;

void Agent::on_control(const v1::Control& control) {
  const std::string& c = control.command();
  log_->info("control command={} from={} reason=\"{}\"", c, control.from(), control.reason());
  if (c == voc::kPause) {
    paused_.store(true);
  } else if (c == voc::kResume) {
    paused_.store(false);
  } else if (c == voc::kDrain) {
    drain_.store(true);
  } else if (c == voc::kStop) {
    request_stop("control stop");
  } else if (c == voc::kReload) {
    log_->warn("reload is not supported yet; restart the agent to read agency.yaml again");
  } else if (c == voc::kNudge) {
    // Report at once: a live agent answers with a fresh heartbeat.
    status_dirty_.store(true);
  } else if (c == voc::kCancel) {
    if (!control.task_id().empty()) {
      std::lock_guard lock(status_mu_);
      if (status_.task_id() != control.task_id()) {
        log_->info("cancel ignored: it is for task {}, this agent holds {}", control.task_id(),
                   status_.task_id().empty() ? "none" : status_.task_id());
        return;
      }
    }
    control_cancel_.store(true);
    cancel_.store(true);
  }
  kick_.store(true);
  wake();
}

}  // namespace agency::runtime
