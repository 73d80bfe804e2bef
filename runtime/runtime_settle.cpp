// Settling a brief that is not worked to its end (runtime_agent.hpp), main
// thread: a failure is handed back with a growing delay, or dead-lettered
// and its task blocked; a deferral (a rate limit, a stop, a record not yet
// written, no budget) is counted in agency-memory so it is not taken for a
// failed delivery.
#include <algorithm>
#include <cstdlib>

#include "bus/bounds.hpp"
#include "bus/consumer.hpp"
#include "bus/dead_letter.hpp"
#include "bus/vocabulary.hpp"
#include "runtime/runtime_agent.hpp"

namespace agency::runtime {

namespace voc = vocabulary;

std::string deferral_key(const ReceivedBrief& received) {
  // A KV key takes letters, digits and -/_=. only: a priority queue's
  // consumer (briefs-<role>@<priority>) is written with '=' there.
  std::string consumer = received.delivery.consumer;
  std::replace(consumer.begin(), consumer.end(), '@', '=');
  return "deferred." + consumer + "." + std::to_string(received.delivery.stream_sequence);
}

Agent::Handled Agent::fail(ReceivedBrief& received, const v1::Task* task, const std::string& reason,
                           bool permanent) {
  failure_ = reason;
  auto deliveries = failed_deliveries(received);
  const std::string& task_id = received.brief.task_id();
  if (permanent || deliveries >= static_cast<std::uint64_t>(options_.max_deliver)) {
    std::string why =
        permanent ? reason
                  : "gave up after " + std::to_string(deliveries) + " deliveries: " + reason;
    bounds::cut(why, kMostReasonBytes);
    log_->error("dead-lettering brief task={} reason=\"{}\"", task_id, why);
    auto letter = make_dead_letter(received.message, why, options_.role, options_.agent_id,
                                   static_cast<std::size_t>(config_.limits.dead_letter_keep_bytes));
    letter.set_task_id(task_id);
    if (auto r = publish_dead_letter(*connection_, letter); !r) {
      // A dead letter is bounded, so this is the server refusing to store
      // anything now. Try again later, but not forever.
      if (deliveries >= 2 * static_cast<std::uint64_t>(options_.max_deliver)) {
        log_->error(
            "terminating brief task={} sequence={} deliveries={}: its dead letter cannot be "
            "stored ({}); reason=\"{}\"",
            task_id, received.delivery.stream_sequence, deliveries, r.error().message, why);
        (void)received.message.term();
        forget_deferrals(received);
        return Handled::failed;
      }
      log_->error("cannot store dead letter task={} error={}", task_id, r.error().message);
      (void)received.message.nak(5000);
      return Handled::failed;
    }
    if (task != nullptr) {
      const std::string seq = std::to_string(received.delivery.stream_sequence);
      auto blocked =
          store_->block(task_id, options_.agent_id, why, "event:" + task_id + ":dead:" + seq);
      if (blocked && *blocked) {
        if (auto closed = store_->load(task_id); closed) {
          write_work_log(closed->task, std::string(voc::kBlocked), why, 0,
                         "log:" + task_id + ":dead:" + seq);
        }
      }
    }
    (void)received.message.ack();
    forget_deferrals(received);
    return Handled::failed;
  }
  // Transient: hand it back with a growing delay (2 s, 4 s, 8 s, ... 60 s).
  std::int64_t delay_ms =
      std::min<std::int64_t>(60000, 1000LL << std::min<std::uint64_t>(deliveries, 6));
  log_->warn("brief failed, handing it back task={} delivery={} retry_in_ms={} reason=\"{}\"",
             task_id, deliveries, delay_ms, reason);
  (void)received.message.nak(delay_ms);
  return Handled::failed;
}

void Agent::defer(ReceivedBrief& received, std::chrono::milliseconds delay) {
  ++deferrals_;
  if (auto r = memory_->put(deferral_key(received), std::to_string(deferrals_)); !r) {
    log_->warn("cannot record a deferral task={} error={} (it may count as a failed delivery)",
               received.brief.task_id(), r.error().message);
  }
  if (delay.count() == 0) {
    // Now, and told to the role's idle agents (another may take it at once).
    if (auto r = received.message.hand_back(*connection_); !r) {
      log_->warn("handing back brief task={} error={} (its ack wait hands it back)",
                 received.brief.task_id(), r.error().message);
    }
    return;
  }
  (void)received.message.nak(delay.count());
}

void Agent::read_deferrals(const ReceivedBrief& received) {
  deferrals_ = 0;
  if (received.delivery.deliveries > 1) {
    if (auto d = memory_->get(deferral_key(received)); d) {
      deferrals_ = std::strtoull(d->value.c_str(), nullptr, 10);
    }
  }
}

std::uint64_t Agent::failed_deliveries(const ReceivedBrief& received) {
  const auto deliveries = received.delivery.deliveries;
  return deliveries > deferrals_ ? deliveries - deferrals_ : 0;
}

void Agent::forget_deferrals(const ReceivedBrief& received) {
  if (deferrals_ == 0) return;
  (void)memory_->remove(deferral_key(received));
  deferrals_ = 0;
}

}  // namespace agency::runtime
