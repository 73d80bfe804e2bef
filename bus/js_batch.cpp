#include "bus/js_batch.hpp"

#include <charconv>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

namespace agency {

namespace {

using Clock = std::chrono::steady_clock;

// Failures kept word for word in finish()'s error; the rest are counted.
constexpr std::size_t kFailuresKept = 3;

}  // namespace

struct JsBatch::State {
  struct Pending {
    std::string subject;
    std::string msg_id;
    Clock::time_point deadline;
  };

  JsBatchOptions options;
  mutable std::mutex mu;
  std::condition_variable cv;
  std::uint64_t next = 0;
  std::map<std::uint64_t, Pending> pending;  // by number: the oldest first
  JsBatchTally tally;
  std::size_t failed = 0;
  std::optional<errc> first_code;
  std::vector<std::string> failures;  // the first kFailuresKept

  // Holding mu.
  void fail(const Pending& p, errc code, const std::string& why) {
    ++failed;
    if (!first_code) first_code = code;
    if (failures.size() < kFailuresKept) {
      failures.push_back(p.subject + (p.msg_id.empty() ? "" : " (msg id " + p.msg_id + ")") + ": " +
                         why);
    }
  }

  // Holding mu: the publishes whose ack_wait is over become failures.
  void expire(Clock::time_point now) {
    while (!pending.empty() && pending.begin()->second.deadline <= now) {
      fail(pending.begin()->second, errc::timeout,
           "no ack within " + std::to_string(options.ack_wait.count()) + " ms");
      pending.erase(pending.begin());
    }
  }

  // On the connection's thread: one ack, matched by the number its reply
  // subject ends in.
  void on_ack(const Incoming& m) {
    const std::string_view subject = m.subject();
    const std::string_view token = subject.substr(subject.rfind('.') + 1);
    std::uint64_t n = 0;
    if (std::from_chars(token.data(), token.data() + token.size(), n).ec != std::errc()) return;
    std::lock_guard lock(mu);
    auto it = pending.find(n);
    if (it == pending.end()) return;  // counted as a time-out already
    if (natsMsg_IsNoResponders(m.raw())) {
      fail(it->second, errc::not_found,
           "no stream captures it: run `agency init` to provision the streams");
    } else {
      auto ack = nlohmann::json::parse(m.data(), nullptr, false);
      if (!ack.is_object()) {
        fail(it->second, errc::internal, "unreadable ack: " + std::string(m.data().substr(0, 200)));
      } else if (auto e = ack.find("error"); e != ack.end()) {
        std::string why = "JetStream refused it";
        if (e->is_object()) {
          auto text = e->find("description");
          why += ": " + (text != e->end() && text->is_string() ? text->get<std::string>()
                                                               : std::string("(no description)"));
          if (auto code = e->find("err_code"); code != e->end() && code->is_number_integer()) {
            why += " (JetStream error " + std::to_string(code->get<std::int64_t>()) + ")";
          }
        }
        fail(it->second, errc::jetstream, why);
      } else if (!ack.contains("seq")) {
        fail(it->second, errc::internal,
             "ack without a sequence: " +
                 ack.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      } else if (auto d = ack.find("duplicate");
                 d != ack.end() && d->is_boolean() && d->get<bool>()) {
        ++tally.duplicates;
      } else {
        ++tally.stored;
      }
    }
    pending.erase(it);
    cv.notify_all();
  }
};

Result<JsBatch> JsBatch::open(Connection& connection, JsBatchOptions options) {
  JsBatch batch;
  batch.connection_ = &connection;
  batch.reply_prefix_ = connection.new_inbox() + ".";
  batch.state_ = std::make_shared<State>();
  batch.state_->options = options;
  if (batch.state_->options.window == 0) batch.state_->options.window = 1;
  auto acks = connection.subscribe(batch.reply_prefix_ + "*", {},
                                   [state = batch.state_](Incoming m) { state->on_ack(m); });
  if (!acks) return acks.error();
  batch.acks_ = std::move(*acks);
  return batch;
}

JsBatch::JsBatch(JsBatch&&) noexcept = default;
JsBatch& JsBatch::operator=(JsBatch&&) noexcept = default;
JsBatch::~JsBatch() = default;

Result<void> JsBatch::publish(std::string_view subject, Outgoing message, std::string_view msg_id) {
  std::uint64_t n = 0;
  {
    std::unique_lock lock(state_->mu);
    while (state_->pending.size() >= state_->options.window) {
      state_->cv.wait_until(lock, state_->pending.begin()->second.deadline);
      state_->expire(Clock::now());
    }
    n = state_->next++;
    state_->pending.emplace(n, State::Pending{std::string(subject), std::string(msg_id),
                                              Clock::now() + state_->options.ack_wait});
  }
  if (!msg_id.empty()) message.headers.emplace_back("Nats-Msg-Id", std::string(msg_id));
  auto sent = connection_->publish(subject, message, reply_prefix_ + std::to_string(n));
  if (!sent) {
    std::lock_guard lock(state_->mu);
    state_->pending.erase(n);  // not sent: the caller has the error now
    return sent.error();
  }
  return {};
}

Result<JsBatchTally> JsBatch::finish() {
  std::unique_lock lock(state_->mu);
  while (!state_->pending.empty()) {
    state_->cv.wait_until(lock, state_->pending.begin()->second.deadline);
    state_->expire(Clock::now());
  }
  const std::size_t failed = state_->failed;
  const JsBatchTally tally = state_->tally;
  const errc code = state_->first_code.value_or(errc::internal);
  std::vector<std::string> failures = std::move(state_->failures);
  state_->tally = {};
  state_->failed = 0;
  state_->first_code.reset();
  state_->failures.clear();
  if (failed == 0) return tally;
  std::string text = std::to_string(failed) + " of " +
                     std::to_string(failed + tally.stored + tally.duplicates) +
                     " JetStream publishes were not acknowledged";
  for (const auto& f : failures) text += "; " + f;
  if (failed > failures.size()) text += "; ...";
  return make_error(code, text);
}

std::size_t JsBatch::outstanding() const {
  std::lock_guard lock(state_->mu);
  return state_->pending.size();
}

}  // namespace agency
