// The lateral thread (runtime_agent.hpp): questions to the role
// (agency.ask.<role>, queued by a nats.c thread under lateral_mu_) answered
// with the agent's second engine, so a question never waits for a brief;
// and the role's periodic tick. Calls into the role take logic_mu_.
#include <google/protobuf/util/time_util.h>

#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "runtime/ids.hpp"
#include "runtime/runtime_agent.hpp"

namespace agency::runtime {

using google::protobuf::util::TimeUtil;

void Agent::lateral_loop() {
  using Clock = std::chrono::steady_clock;
  std::optional<std::chrono::milliseconds> every;
  {
    std::lock_guard lock(logic_mu_);
    every = logic_->tick_every(ctx_);
  }
  auto next_tick = every ? Clock::now() + *every : Clock::time_point::max();
  while (true) {
    std::unique_lock lock(lateral_mu_);
    lateral_cv_.wait_until(lock, next_tick, [&] { return lateral_stop_ || !questions_.empty(); });
    if (lateral_stop_) return;
    if (!questions_.empty()) {
      Incoming question = std::move(questions_.front());
      questions_.pop_front();
      lock.unlock();
      answer(std::move(question));
      continue;
    }
    lock.unlock();
    if (Clock::now() < next_tick) continue;
    std::lock_guard logic_lock(logic_mu_);
    if (auto r = logic_->tick(ctx_); !r) {
      log_->warn("periodic work failed role={} error={}", options_.role, r.error().message);
    }
    every = logic_->tick_every(ctx_);
    next_tick = every ? Clock::now() + *every : Clock::time_point::max();
  }
}

void Agent::answer(Incoming message) {
  const auto began = std::chrono::steady_clock::now();
  const std::string reply_to(message.reply());
  if (reply_to.empty()) {
    log_->warn("ignored a question without a reply subject on {} (ask with a request)",
               message.subject());
    count("ask", began, "a question without a reply subject (ask with a request)");
    return;
  }
  std::string failure;  // the answer says the question could not be answered
  v1::Answer out;
  auto send = [&](v1::Answer& a, const std::string& question_id) {
    a.set_question_id(question_id);
    if (a.answered_by().empty()) a.set_answered_by(options_.agent_id);
    if (!a.has_answered_at()) *a.mutable_answered_at() = now_timestamp();
    if (auto r = connection_->publish(reply_to, codec::encode(a)); !r) {
      log_->warn("cannot send an answer question={} error={}", question_id, r.error().message);
    }
  };
  auto question =
      message.data().size() > static_cast<std::size_t>(config_.limits.question_bytes)
          ? Result<v1::Question>(make_error(
                errc::bad_payload, "a question of " + std::to_string(message.data().size()) +
                                       " bytes is over limits.question_bytes (" +
                                       std::to_string(config_.limits.question_bytes) + ")"))
          : codec::decode<v1::Question>(message.data(), message.headers());
  if (!question) {
    log_->warn("unreadable question subject={} reason={}", message.subject(),
               question.error().message);
    out.set_text("agency could not read the question: " + question.error().message +
                 " (send plain text, or agency.v1.Question as JSON or protobuf)");
    out.set_confidence(0);
    send(out, "");
    count("ask", began, out.text());
    return;
  }
  if (question->id().empty()) question->set_id(ids::question());
  log_->info("question id={} from={} text=\"{}\"", question->id(),
             question->from_agent().empty() ? "a person" : question->from_agent(),
             question->text().substr(0, 200));
  Result<AnswerPlan> plan = make_error(errc::internal, "unset");
  {
    std::lock_guard lock(logic_mu_);
    plan = logic_->prepare_answer(ctx_, *question);
  }
  if (!plan) {
    out.set_text("the " + options_.role + " could not take the question: " + plan.error().message);
    out.set_confidence(0);
    failure = out.text();
  } else if (auto* ready = std::get_if<v1::Answer>(&*plan)) {
    out = std::move(*ready);
  } else {
    Turn& turn = std::get<Turn>(*plan);
    turn.env = engine_env(turn);
    // Questions go to the first account this thread has not seen refuse.
    const AccountRoutes::Route* route = question_routes_->pick(std::chrono::system_clock::now());
    if (route == nullptr) route = &question_routes_->first();
    for (const auto& [name, value] : route->env) turn.env[name] = value;
    question_cancel_.store(false);
    const auto started = std::chrono::system_clock::now();
    auto outcome = route->engine->run(turn, nullptr, question_cancel_);
    if (!outcome) {
      out.set_text("the " + options_.role +
                   "'s engine failed on the question: " + outcome.error().message);
      out.set_confidence(0);
      failure = out.text();
    } else {
      publish_usage(turn, *route, *outcome, started);
      publish_limits(*route, *outcome);
      if (outcome->rate_limit) {
        if (!route->account.empty()) {
          question_routes_->refused(route->account, outcome->rate_limit->resets_at);
        }
        out.set_text("the " + options_.role + " is rate limited until " +
                     TimeUtil::ToString(to_timestamp(outcome->rate_limit->resets_at)) +
                     "; ask again then (" + outcome->rate_limit->detail + ")");
        out.set_confidence(0);
      } else {
        std::lock_guard lock(logic_mu_);
        auto finished = logic_->finish_answer(ctx_, *question, turn, *outcome);
        if (finished) {
          out = std::move(*finished);
        } else {
          out.set_text("the " + options_.role +
                       " could not read its engine's answer: " + finished.error().message);
          out.set_confidence(0);
          failure = out.text();
        }
      }
    }
  }
  send(out, question->id());
  count("ask", began, failure);
  log_->info("answered question id={} confidence={:.2f} sources={}", question->id(),
             out.confidence(), out.sources_size());
}

}  // namespace agency::runtime
