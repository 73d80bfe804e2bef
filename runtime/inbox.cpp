#include "runtime/inbox.hpp"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>

#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/dead_letter.hpp"
#include "bus/provision.hpp"
#include "bus/subjects.hpp"
#include "bus/vocabulary.hpp"
#include "runtime/ids.hpp"

namespace agency {

void fill_brief_defaults(v1::Brief& brief, bool from_agency_client) {
  if (brief.id().empty()) brief.set_id(ids::brief());
  if (!brief.has_created_at()) {
    *brief.mutable_created_at() = agency::now_timestamp();
  }
  if (brief.origin().empty()) brief.set_origin(from_agency_client ? "unknown" : "nats");
}

void BriefInbox::Bell::ring() {
  {
    std::lock_guard lock(mu);
    rung = true;
  }
  cv.notify_one();
}

Result<BriefInbox> BriefInbox::open(Connection& connection, std::string role, std::string agent_id,
                                    InboxLimits limits) {
  if (auto r = ensure_brief_consumer(connection, role); !r) return r.error();
  BriefInbox inbox(connection, std::move(role), std::move(agent_id), limits);
  for (std::size_t level = 0; level < BriefPicker::kLevels; ++level) {
    const std::string priority(vocabulary::kPriorities.at(level));
    const std::string durable = subjects::brief_consumer(inbox.role_, priority);
    const std::string subject = subjects::brief(inbox.role_, priority);
    // Subscribed before the first look, so nothing published after it goes
    // unannounced.
    for (const auto& announced : {subject, subjects::wake(durable)}) {
      auto sub =
          connection.subscribe(announced, "", [bell = inbox.bell_](Incoming) { bell->ring(); });
      if (!sub) return sub.error();
      inbox.announcers_.push_back(Announcer{level, std::move(*sub), 0});
    }
    auto consumer = PullConsumer::bind(connection, subjects::kBriefsStream, durable, subject);
    if (!consumer) return consumer.error();
    inbox.queues_.push_back(Queue{priority, std::move(*consumer)});
  }
  return inbox;
}

namespace {
// How soon after an empty look the inbox checks for a late brief.
constexpr std::chrono::milliseconds kLateLook{5};
// How long a look waits for a brief: one just announced may not be stored
// yet (core subscribers hear a publish before the stream has it), and the
// server answers as soon as it is. A stored brief comes back at once either
// way; the wait only bounds an empty look. nats.c asks the server for 10 ms
// less than it waits itself only from 20 ms up: below that both give up
// together, and on a busy machine a brief that was there arrives after the
// look gave up, while a lower queue's brief is taken first.
constexpr std::chrono::milliseconds kAnnouncedLook{30};
constexpr std::chrono::milliseconds kLook{21};
}  // namespace

Result<std::optional<ReceivedBrief>> BriefInbox::next(std::chrono::milliseconds timeout,
                                                      const std::function<void()>& before_waiting) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  bool held_back = false;
  bool waited = false;
  while (true) {
    {
      // Before reading the counts: whatever arrives after them rings again.
      std::lock_guard lock(bell_->mu);
      bell_->rung = false;
    }
    std::array<bool, BriefPicker::kLevels> announced{};
    for (auto& a : announcers_) {
      const auto received = a.subscription.received();
      if (received != a.seen) {
        picker_.may_hold(a.level);
        announced.at(a.level) = true;
      }
      a.seen = received;
    }
    // A brief the server sent just after a look gave up waits here.
    for (std::size_t level = 0; level < queues_.size(); ++level) {
      if (queues_[level].consumer.queued() > 0) picker_.may_hold(level);
    }
    const auto now = Clock::now();
    // A brief published now may be handed back with a delay later, which
    // nothing announces: look every `recheck` again until all is quiet.
    if (std::find(announced.begin(), announced.end(), true) != announced.end()) {
      recheck_at_ = std::min(recheck_at_, now + limits_.recheck);
    }
    // Back after a lost connection: what was published meanwhile was not
    // heard, so every queue is asked now.
    if (const auto reconnects = connection_->reconnects(); reconnects != reconnects_) {
      reconnects_ = reconnects;
      recheck_at_ = now;
    }
    if (now >= recheck_at_) {
      // Only the queues that may hand something over: an empty look waits
      // its whole kLook, and four of them in a row would keep a brief
      // announced meanwhile waiting. A queue that cannot be asked is looked in.
      bool quiet = true;
      for (std::size_t level = 0; level < queues_.size(); ++level) {
        auto may = queues_[level].consumer.may_deliver();
        if (!may || *may) {
          picker_.may_hold(level);
          quiet = false;
        }
      }
      // An idle fleet asks the server rarely: with hundreds of idle agents,
      // four consumer reads every few seconds each would be most of its work.
      recheck_at_ = now + (quiet ? limits_.quiet_recheck : limits_.recheck);
    }
    bool looked_again = false;
    bool found_empty = false;
    for (std::size_t level : picker_.order()) {
      auto batch =
          queues_.at(level).consumer.fetch_now(1, announced.at(level) ? kAnnouncedLook : kLook);
      if (!batch) return batch.error();
      if (batch->empty()) {
        picker_.empty(level);
        found_empty = true;
        // An announced brief the server has not handed over yet (a busy
        // server answers late) must not lose its turn to lower work: look
        // again shortly, once, before going lower.
        if (announced.at(level) && !held_back) {
          held_back = true;
          break;
        }
        continue;
      }
      Incoming message = std::move(batch->front());
      auto delivery = message.delivery();
      // Unknown (no metadata): say more may wait, so the next look asks.
      picker_.took(level, !delivery || delivery->pending > 0);
      auto taken = accept(std::move(message), level);
      if (!taken) return taken.error();
      if (taken->has_value()) return taken;
      looked_again = true;  // dead-lettered: the next good brief is still handled
      break;
    }
    if (looked_again) continue;
    if (Clock::now() >= deadline) {
      if (!waited && before_waiting) before_waiting();
      return std::optional<ReceivedBrief>{};
    }
    // After an empty look, check again shortly for a brief the server sent
    // after the look gave up (PullConsumer::fetch_now); else wait to be told.
    auto until = std::min(deadline, recheck_at_);
    if (found_empty) until = std::min(until, Clock::now() + kLateLook);
    if (!waited) {
      waited = true;
      if (before_waiting) before_waiting();
    }
    std::unique_lock lock(bell_->mu);
    bell_->cv.wait_until(lock, until, [&] { return bell_->rung; });
  }
}

Result<std::optional<ReceivedBrief>> BriefInbox::accept(Incoming message, std::size_t level) {
  std::string refused;
  if (message.data().size() > limits_.brief_bytes) {
    // Not decoded at all: whatever it holds, it is over what a brief may be.
    refused = "a brief of " + std::to_string(message.data().size()) +
              " bytes is over limits.brief_bytes (" + std::to_string(limits_.brief_bytes) + ")";
  } else {
    auto headers = message.headers();
    auto brief = codec::decode<v1::Brief>(message.data(), headers);
    if (brief) {
      fill_brief_defaults(*brief, find_header(headers, codec::kTypeHeader).has_value());
      // The queue it waited in is its priority; the plain subject's keeps
      // what the sender wrote.
      const std::string& priority = queues_.at(level).priority;
      if (priority != vocabulary::kDefaultPriority) brief->set_priority(priority);
      auto delivery = message.delivery();
      ReceivedBrief out{std::move(*brief), std::move(message), delivery ? *delivery : Delivery{}};
      return std::optional<ReceivedBrief>{std::move(out)};
    }
    refused = brief.error().message;
  }
  // Keep it, with the reason, before letting the original go. The dead
  // letter is bounded, so only a server that cannot store anything now
  // refuses it.
  auto letter = make_dead_letter(message, refused, role_, agent_id_, limits_.keep_bytes);
  auto stored = publish_dead_letter(*connection_, letter);
  if (!stored) {
    auto delivery = message.delivery();
    std::uint64_t deliveries = delivery ? delivery->deliveries : 1;
    if (deliveries >= limits_.max_deliver) {
      spdlog::error(
          "terminating an unreadable brief role={} subject={} sequence={} deliveries={}: its "
          "dead letter cannot be stored ({}); reason={}",
          role_, letter.original_subject(), letter.stream_sequence(), deliveries,
          stored.error().message, letter.reason());
      if (auto termed = message.term(); !termed) return termed.error();
      return std::optional<ReceivedBrief>{};
    }
    // Hand it back for later, aside: the briefs behind it go first.
    (void)message.nak(
        std::min<std::int64_t>(30000, 1000LL << std::min<std::uint64_t>(deliveries, 5)));
    return stored.error();
  }
  spdlog::warn("dead-lettered brief role={} subject={} reason={}", role_, letter.original_subject(),
               letter.reason());
  if (auto acked = message.ack(); !acked) return acked.error();
  ++dead_lettered_;
  return std::optional<ReceivedBrief>{};
}

}  // namespace agency
