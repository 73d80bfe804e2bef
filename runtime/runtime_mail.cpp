// Mail between briefs (runtime_agent.hpp), main thread: the doorbell (a
// nats.c thread) sets mail_waiting_; the brief loop then fetches the
// agent's letters from AGENCY_MAIL, dead-letters the unreadable ones and
// reads the rest in one engine turn. Mail is acked after the turn; a failed
// turn hands it back.
#include "bus/codec.hpp"
#include "bus/dead_letter.hpp"
#include "bus/vocabulary.hpp"
#include "runtime/runtime_agent.hpp"

namespace agency::runtime {

using namespace std::chrono_literals;
namespace voc = vocabulary;

void Agent::handle_mail() {
  auto got = mail_->fetch(16, 100ms);
  if (!got) {
    log_->warn("reading mail failed agent={} error={}", options_.agent_id, got.error().message);
    mail_waiting_.store(true);
    pause_for(2000ms);
    return;
  }
  if (got->empty()) return;
  const auto began = std::chrono::steady_clock::now();
  if (got->size() == 16) mail_waiting_.store(true);  // more may wait
  std::vector<Incoming> messages = std::move(*got);
  std::vector<v1::Mail> letters = read_letters(messages, began);
  if (letters.empty()) return;
  auto hand_back = [&](std::chrono::milliseconds delay) {
    for (auto& m : messages) (void)m.nak(delay.count());
  };
  // One turn reads every letter: each is a request, with its share of the time.
  auto counted = [&](const std::string& error) {
    if (!serving_.load(std::memory_order_acquire)) return;
    const auto each =
        (std::chrono::steady_clock::now() - began) / static_cast<std::int64_t>(letters.size());
    for (std::size_t i = 0; i < letters.size(); ++i) service_->record("mail", each, error);
  };
  set_state(voc::kBusy);
  set_progress("reading mail from " + letters.front().from());
  Result<Turn> turn = make_error(errc::internal, "unset");
  {
    std::lock_guard lock(logic_mu_);
    turn = logic_->prepare_mail(ctx_, letters);
  }
  if (!turn) {
    log_->warn("cannot prepare a mail turn error={}; the mail waits", turn.error().message);
    hand_back(30s);
    counted("cannot prepare a mail turn: " + turn.error().message);
    return;
  }
  turn->env = engine_env(*turn);
  // Mail runs on the first account that has not refused the agent.
  const AccountRoutes::Route* route = routes_->pick(std::chrono::system_clock::now());
  if (route == nullptr) route = &routes_->first();
  for (const auto& [name, value] : route->env) turn->env[name] = value;
  turn->session_id = session(route->account);
  std::chrono::system_clock::time_point started;
  auto outcome = run_engine(*turn, *route, started);
  if (interrupted()) {
    hand_back(0ms);
    counted({});
    return;
  }
  if (!outcome) {
    log_->warn("mail turn failed error={}; the mail waits 30 s", outcome.error().message);
    hand_back(30s);
    counted("engine: " + outcome.error().message);
    return;
  }
  report_turn(*turn, *route, *outcome, started);
  if (outcome->rate_limit) {
    if (!route->account.empty()) routes_->refused(route->account, outcome->rate_limit->resets_at);
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        outcome->rate_limit->resets_at - std::chrono::system_clock::now());
    log_->warn("rate limited reading mail resume_in_ms={}", wait.count());
    hand_back(std::max(wait, 1000ms));
    counted({});
    return;
  }
  for (auto& m : messages) (void)m.ack();
  counted({});
  log_->info("mail read letters={} summary=\"{}\"", letters.size(),
             roles::reason_of(*outcome).substr(0, 200));
}

std::vector<v1::Mail> Agent::read_letters(std::vector<Incoming>& messages,
                                          std::chrono::steady_clock::time_point began) {
  std::vector<v1::Mail> letters;
  std::vector<Incoming> readable;
  const auto max_deliver = static_cast<std::uint64_t>(config_.pipeline.max_deliver);
  for (auto& m : messages) {
    auto delivery = m.delivery();
    const std::uint64_t deliveries = delivery ? delivery->deliveries : 1;
    Result<v1::Mail> mail = make_error(errc::internal, "unset");
    if (m.data().size() > static_cast<std::size_t>(config_.limits.mail_bytes)) {
      mail = make_error(errc::bad_payload, "a letter of " + std::to_string(m.data().size()) +
                                               " bytes is over limits.mail_bytes (" +
                                               std::to_string(config_.limits.mail_bytes) + ")");
    } else if (deliveries > 2 * max_deliver) {
      // Handed back after every failed mail turn: not forever.
      mail = make_error(errc::bad_payload, "delivered " + std::to_string(deliveries) +
                                               " times and never read by the engine");
    } else {
      mail = codec::decode<v1::Mail>(m.data(), m.headers());
    }
    if (!mail) {
      auto letter = make_dead_letter(
          m, "unreadable mail: " + mail.error().message, options_.role, options_.agent_id,
          static_cast<std::size_t>(config_.limits.dead_letter_keep_bytes));
      if (auto r = publish_dead_letter(*connection_, letter); !r) {
        if (deliveries >= 2 * max_deliver) {
          log_->error(
              "terminating unreadable mail deliveries={}: its dead letter cannot be "
              "stored ({}); reason=\"{}\"",
              deliveries, r.error().message, letter.reason());
          (void)m.term();
        } else {
          (void)m.nak(5000);
        }
        continue;
      }
      log_->warn("dead-lettered unreadable mail reason=\"{}\"", letter.reason());
      (void)m.ack();
      count("mail", began, "unreadable mail: " + mail.error().message);
      continue;
    }
    log_->info("mail id={} from={} subject=\"{}\"", mail->id(), mail->from(), mail->subject());
    letters.push_back(std::move(*mail));
    readable.push_back(std::move(m));
  }
  messages = std::move(readable);
  return letters;
}

}  // namespace agency::runtime
