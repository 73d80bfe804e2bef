#include "runtime/inbox.hpp"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/dead_letter.hpp"
#include "bus/provision.hpp"
#include "bus/subjects.hpp"
#include "runtime/ids.hpp"

namespace agency {

void fill_brief_defaults(v1::Brief& brief, bool from_agency_client) {
  if (brief.id().empty()) brief.set_id(ids::brief());
  if (!brief.has_created_at()) {
    *brief.mutable_created_at() = agency::now_timestamp();
  }
  if (brief.origin().empty()) brief.set_origin(from_agency_client ? "unknown" : "nats");
}

Result<BriefInbox> BriefInbox::open(Connection& connection, std::string role, std::string agent_id,
                                    InboxLimits limits) {
  if (auto r = ensure_brief_consumer(connection, role); !r) return r.error();
  auto consumer = PullConsumer::bind(connection, subjects::kBriefsStream,
                                     subjects::brief_consumer(role), subjects::brief(role));
  if (!consumer) return consumer.error();
  return BriefInbox(connection, std::move(*consumer), std::move(role), std::move(agent_id), limits);
}

Result<std::optional<ReceivedBrief>> BriefInbox::next(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::optional<ReceivedBrief>{};
    auto batch = consumer_.fetch(1, left);
    if (!batch) return batch.error();
    if (batch->empty()) return std::optional<ReceivedBrief>{};
    Incoming message = std::move(batch->front());
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
        continue;
      }
      // Hand it back for later, aside: the briefs behind it go first.
      (void)message.nak(
          std::min<std::int64_t>(30000, 1000LL << std::min<std::uint64_t>(deliveries, 5)));
      return stored.error();
    }
    spdlog::warn("dead-lettered brief role={} subject={} reason={}", role_,
                 letter.original_subject(), letter.reason());
    if (auto acked = message.ack(); !acked) return acked.error();
    ++dead_lettered_;
  }
}

}  // namespace agency
