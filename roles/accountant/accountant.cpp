#include "roles/accountant/accountant.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <set>

#include "agency/v1/event.pb.h"
#include "agency/v1/usage.pb.h"
#include "bus/bounds.hpp"
#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/consumer.hpp"
#include "bus/dead_letter.hpp"
#include "bus/subjects.hpp"
#include "bus/vocabulary.hpp"
#include "roles/accountant/commands.hpp"
#include "roles/accountant/ledger_io.hpp"
#include "roles/accountant/routing.hpp"
#include "roles/accountant/settings.hpp"
#include "runtime/catalog.hpp"
#include "runtime/http.hpp"
#include "runtime/limits.hpp"
#include "runtime/localtime.hpp"
#include "runtime/logging.hpp"
#include "runtime/mesh.hpp"

namespace agency::roles {

namespace voc = vocabulary;
using Clock = std::chrono::system_clock;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kReaderKeyPrefix = "accountant.transcripts.";
constexpr std::string_view kDeadThroughKey = "accountant.usage.dead_through";
constexpr std::string_view kQueue = "accountant";
// Messages the follower reads from the stream per request.
constexpr std::size_t kFollowSlice = 1000;
// How long one tick may spend following the usage stream. Questions to the
// accountant are answered on the same thread between ticks: a flood of
// refused usage (each filed as a dead letter) must not keep them waiting.
// What is left is read on the next tick, which comes at once.
constexpr auto kFollowBudget = 250ms;

const config::Accountant& settings(const RoleContext& ctx) {
  return config::accountant(*ctx.config);
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

// What a sample keeps of a transcript line's names and ids. Claude Code's
// are far shorter; a line with longer ones (a broken or hostile file) still
// counts its tokens, and its sample stays far under limits.usage_bytes: a
// sample the stream refused would be read again, and refused, forever.
constexpr std::size_t kMostNameBytes = 512;

std::string bounded(std::string_view s) {
  return std::string(bounds::utf8_prefix(s, kMostNameBytes));
}

// The sample a transcript line becomes: the human's usage, counted once
// per message id + request id (the same id on a re-read is a duplicate in
// the stream's window and in the ledger).
v1::UsageSample sample_from(const TranscriptEntry& e, const std::string& account) {
  v1::UsageSample s;
  if (!e.message_id.empty() && !e.request_id.empty()) {
    const std::string ids = e.message_id + ":" + e.request_id;
    // Ids too long to keep are told apart by their hash.
    s.set_id(ids.size() <= kMostNameBytes ? "tx:" + ids
                                          : "tx:#" + std::to_string(std::hash<std::string>{}(ids)) +
                                                ":" + std::to_string(ids.size()));
  } else {
    // Lines without ids count every time they are written (ccusage does
    // the same): the file and the line's place tell them apart.
    s.set_id("tx:" + std::to_string(std::hash<std::string>{}(e.file.string())) + "@" +
             std::to_string(e.offset));
  }
  s.set_engine("claude");
  s.set_model(bounded(e.model));
  s.set_input_tokens(e.input_tokens);
  s.set_output_tokens(e.output_tokens);
  s.set_cache_creation_tokens(e.cache_creation_tokens);
  s.set_cache_read_tokens(e.cache_read_tokens);
  s.set_cost_usd(e.cost_usd.value_or(0));
  s.set_session_id(bounded(e.session_id));
  s.set_started_by_agency(false);
  *s.mutable_at() = to_timestamp(e.at);
  s.set_account(account);
  s.set_source("transcript");
  s.set_message_id(bounded(e.message_id));
  s.set_request_id(bounded(e.request_id));
  s.set_api_error(e.api_error);
  return s;
}

}  // namespace

Accountant::Accountant() : log_(make_logger("accountant")) {}

Result<void> Accountant::start(const RoleContext& ctx) {
  if (ctx.mesh == nullptr) return make_error(errc::internal, "accountant: no mesh");
  const auto& c = settings(ctx);
  if (auto z = check_time_zone(c.time_zone, "accountant.time_zone"); !z) return z.error();
  for (const auto& a : c.accounts) {
    if (a.plan.empty()) continue;
    if (auto p =
            accounting::plan_limits(a.provider, a.plan, "accountant.accounts." + a.name + ".plan");
        !p) {
      return p.error();
    }
  }
  ctx_ = &ctx;
  usage_bytes_ = ctx.config->limits.usage_bytes;
  auto& connection = ctx.mesh->connection();
  if (auto through = ctx.mesh->recall(kDeadThroughKey); !through) {
    return through.error();
  } else if (*through) {
    dead_through_ = std::strtoull((*through)->c_str(), nullptr, 10);
  }

  // Live first, then the replay: what arrives in between is in both, and
  // the ledger keeps one entry per sample id.
  auto usage =
      connection.subscribe("agency.usage.>", {}, [this](Incoming m) { on_usage(std::move(m)); });
  if (!usage) return usage.error();
  {
    std::lock_guard lock(mu_);
    accounting::Ledger ledger(c);
    std::uint64_t filed = 0;
    bool all_filed = true;
    auto next =
        accounting::follow_usage(connection, ledger, 1, usage_bytes_, accounting::kReplaySlice,
                                 [&](const Incoming& m, const std::string& reason) {
                                   auto d = m.delivery();
                                   if (!d || d->stream_sequence <= dead_through_) return;
                                   if (file_dead(ctx, m, reason)) {
                                     ++filed;
                                   } else {
                                     all_filed = false;
                                   }
                                 });
    if (!next) return next.error();
    next_usage_ = *next;
    ledger_.emplace(std::move(ledger));
    log_->info("ledger replayed samples={} refused={} accounts={}", ledger_->size(),
               ledger_->rejected_count(), c.accounts.size());
    if (filed > 0 && all_filed) {
      dead_through_ = next_usage_ - 1;
      remember_dead_through(ctx);
    }
  }
  subs_.push_back(std::move(*usage));

  for (const auto& a : c.accounts) {
    auto saved = ctx.mesh->recall(std::string(kReaderKeyPrefix) + a.name);
    if (!saved) return saved.error();
    if (*saved && !readers_[a.name].restore(**saved).ok()) {
      log_->warn(
          "transcript reader state unreadable account={}: reading from the start "
          "(what was counted stays counted once)",
          a.name);
      readers_[a.name] = TranscriptReader();
    }
  }

  auto lease = connection.subscribe(subjects::kBudgetLease, kQueue,
                                    [this](Incoming m) { on_lease(std::move(m)); });
  if (!lease) return lease.error();
  subs_.push_back(std::move(*lease));
  auto settle = connection.subscribe(subjects::kBudgetSettle, kQueue,
                                     [this](Incoming m) { on_settle(std::move(m)); });
  if (!settle) return settle.error();
  subs_.push_back(std::move(*settle));
  return {};
}

void Accountant::stop(const RoleContext& /*ctx*/) {
  subs_.clear();
  usage_batch_.reset();
  usage_connection_.reset();
}

std::optional<std::chrono::milliseconds> Accountant::tick_every(const RoleContext& ctx) const {
  if (usage_behind_) return 0ms;  // the usage stream is not followed to its end yet
  // The transcripts are read at once when the accountant starts: until
  // then the person's own use is missing from the ledger.
  if (!next_transcripts_) return 0ms;
  auto every =
      std::chrono::milliseconds(std::chrono::seconds(settings(ctx).transcripts_every_seconds));
  return std::clamp<std::chrono::milliseconds>(every, 200ms, 5s);
}

Result<void> Accountant::tick(const RoleContext& ctx) {
  {
    std::lock_guard lock(mu_);
    if (ledger_) ledger_->expire(Clock::now());
  }
  release_gone_agents(ctx);
  follow_usage(ctx);
  const auto now = std::chrono::steady_clock::now();
  if (next_transcripts_ && now < *next_transcripts_) return {};
  next_transcripts_ = now + std::chrono::seconds(settings(ctx).transcripts_every_seconds);
  auto read = read_transcripts(ctx);
  poll_usage_endpoints(ctx);
  if (!read) return read.error();
  return {};
}

void Accountant::release_gone_agents(const RoleContext& ctx) {
  const auto steady = std::chrono::steady_clock::now();
  if (steady < next_gone_check_) return;
  next_gone_check_ = steady + kGoneCheckEvery;
  std::set<std::string> holders;
  {
    std::lock_guard lock(mu_);
    if (!ledger_) return;
    holders = ledger_->holders();
  }
  if (holders.empty()) return;
  auto fleet = ctx.mesh->fleet();
  if (!fleet) return;  // nothing known: the leases expire on their own
  const auto now = Clock::now();
  std::set<std::string> alive;
  for (const auto& s : *fleet) {
    // A status without a heartbeat time (a role of one's own may write
    // none) cannot be judged: taken as alive.
    if (!s.has_heartbeat_at() || now - to_time_point(s.heartbeat_at()) < kGoneAfter) {
      alive.insert(s.agent_id());
    }
  }
  std::lock_guard lock(mu_);
  for (const auto& agent : holders) {
    if (alive.count(agent) != 0) continue;
    if (auto dropped = ledger_->release(agent); dropped > 0) {
      log_->info("leases of a gone agent released agent={} leases={}", agent, dropped);
    }
  }
}

void Accountant::poll_usage_endpoints(const RoleContext& ctx) {
  const auto now = std::chrono::steady_clock::now();
  for (const auto& a : settings(ctx).accounts) {
    if (a.usage_url.empty()) continue;
    auto& next = next_endpoint_poll_[a.name];
    if (now < next) continue;
    next = now + std::chrono::seconds(settings(ctx).usage_every_seconds);
    const std::string token = limits::read_token_file(a.token_file);
    if (token.empty()) {
      log_->warn("usage endpoint not asked account={}: no token in {}", a.name,
                 a.token_file.string());
      continue;
    }
    auto response = limits::ask_usage_endpoint(a.usage_url, token);
    if (!response) {
      log_->warn("usage endpoint failed account={} error={}", a.name, response.error().message);
      continue;
    }
    if (response->status != 200) {
      log_->warn("usage endpoint answered account={} status={} (check token_file)", a.name,
                 response->status);
      continue;
    }
    auto readings = limits::from_usage_endpoint(response->body);
    if (!readings) {
      log_->warn("usage endpoint answer unreadable account={}", a.name);
      continue;
    }
    for (const auto& r : *readings) {
      v1::LimitReading out;
      out.set_engine("claude");
      out.set_account(a.name);
      out.set_agent_id(ctx.agent_id);
      out.set_role("accountant");
      out.set_window(r.window);
      out.set_utilization(r.utilization);
      out.set_remaining(-1);
      out.set_limit(-1);
      if (r.resets_at) *out.mutable_resets_at() = to_timestamp(*r.resets_at);
      out.set_source(r.source);
      *out.mutable_at() = now_timestamp();
      if (auto p =
              ctx.mesh->connection().js_publish(subjects::limits("claude"), codec::encode(out));
          !p) {
        log_->warn("usage reading not stored account={} error={}", a.name, p.error().message);
      }
    }
  }
}

Result<std::size_t> Accountant::read_transcripts(const RoleContext& ctx) {
  std::size_t published = 0;
  const std::filesystem::path home = env("HOME");
  for (const auto& a : settings(ctx).accounts) {
    // Claude Code's transcripts; other providers' use is what their engines
    // report.
    if (a.provider != "claude") continue;
    std::optional<std::string> dir;
    if (!a.config_dir.empty()) {
      dir = a.config_dir.string();
    } else if (const char* v = std::getenv("CLAUDE_CONFIG_DIR"); v != nullptr && *v != '\0') {
      dir = v;
    }
    auto roots = transcript_roots(dir, home);
    if (roots.empty()) continue;
    auto& reader = readers_[a.name];
    const std::string before = reader.state();
    auto batch = reader.read_new(roots);
    if (!batch) return batch.error();
    std::vector<accounting::Entry> sound;
    auto stored = store_samples(ctx, a.name, batch->entries, sound);
    if (!stored) {
      // Read again next time: nothing is skipped, duplicates are dropped.
      (void)reader.restore(before);
      return make_error(stored.error().code,
                        "accountant: storing transcript usage: " + stored.error().message);
    }
    published += batch->entries.size();
    {
      // In the stream now: into the ledger (the live subscription passes
      // our own messages by).
      std::lock_guard lock(mu_);
      if (ledger_) {
        for (auto& e : sound) ledger_->add(std::move(e));
      }
    }
    if (batch->unreadable > 0) {
      log_->warn("transcript lines skipped account={} unreadable={}", a.name, batch->unreadable);
    }
    if (batch->files > 0) {
      if (auto r = ctx.mesh->remember(std::string(kReaderKeyPrefix) + a.name, reader.state()); !r) {
        log_->warn("transcript reader state not saved account={} error={}", a.name,
                   r.error().message);
      }
    }
  }
  if (published > 0) log_->info("transcript usage stored samples={}", published);
  return published;
}

Result<void> Accountant::store_samples(const RoleContext& ctx, const std::string& account,
                                       const std::vector<TranscriptEntry>& entries,
                                       std::vector<accounting::Entry>& sound) {
  if (entries.empty()) return {};
  if (!usage_batch_) {
    // A connection of their own: its acks do not queue behind the agent's
    // deliveries (the samples coming back live among them), and without
    // SendAsap a batch leaves in a few large writes.
    ConnectOptions co;
    co.name = ctx.agent_id + "-transcripts";
    co.inbox_prefix = "_INBOX." + ctx.agent_id;
    co.send_asap = false;
    auto connection = Connection::open(ctx.mesh->connection().settings(), co);
    if (!connection) return connection.error();
    auto batch = JsBatch::open(**connection);
    if (!batch) return batch.error();
    usage_connection_ = std::move(*connection);
    usage_batch_.emplace(std::move(*batch));
  }
  // Many samples per message, each message at most limits.usage_bytes (what
  // every reader accepts): the stream stores a few hundred messages for a
  // year of transcripts, not one per request. The same lines make the same
  // messages, so a message sent again after a failure has the same msg id.
  const std::string subject = subjects::usage_samples("claude");
  const auto most = static_cast<std::size_t>(std::max<std::int64_t>(usage_bytes_, 1024));
  Result<void> sent;
  v1::UsageSamples message;
  std::size_t bytes = 0;
  auto send = [&] {
    if (message.samples_size() == 0) return;
    const std::string id =
        "txs:" + message.samples(0).id() + ":" + std::to_string(message.samples_size());
    sent = usage_batch_->publish(subject, codec::encode(message), id);
    message.Clear();
    bytes = 0;
  };
  const auto now = Clock::now();
  for (const auto& e : entries) {
    auto sample = sample_from(e, account);
    if (accounting::sample_problem(sample, now)) {
      // A line with a figure out of range goes alone, as a single sample,
      // so the ledger's readers refuse it (a dead letter with the reason)
      // and not the sound samples it would share a message with.
      sent = usage_batch_->publish(subjects::usage("claude", subjects::kHumanUsage),
                                   codec::encode(sample), sample.id());
      if (!sent) break;
      continue;
    }
    sound.push_back(accounting::entry_from(sample));
    // A repeated field's element: its tag, its length (at most 3 bytes
    // here), its bytes.
    const std::size_t size = sample.ByteSizeLong() + 4;
    if (bytes + size > most) send();
    if (!sent) break;
    *message.add_samples() = std::move(sample);
    bytes += size;
  }
  if (sent) send();
  // Every ack is waited for, also after a failed send: the next batch
  // starts with none outstanding.
  auto acked = usage_batch_->finish();
  if (sent && acked) return {};
  // The next batch starts on a fresh connection.
  usage_batch_.reset();
  usage_connection_.reset();
  return sent ? acked.error() : sent.error();
}

void Accountant::on_usage(Incoming message) {
  // A refused message is only skipped here: a live message has no stream
  // sequence to file it by once; follow_usage files it.
  // Our own transcript samples are in the ledger already (read_transcripts
  // adds them once the stream has them); a message that only claims to be
  // one is read by follow_usage like every other.
  static const std::string own_samples = subjects::usage_samples("claude");
  if (message.subject() == own_samples) {
    if (auto id = find_header(message.headers(), "Nats-Msg-Id"); id && id->starts_with("txs:")) {
      return;
    }
  }
  auto record = accounting::read_usage(message, usage_bytes_);
  if (!record) return;
  std::lock_guard lock(mu_);
  if (!ledger_) return;  // the replay that follows reads it
  accounting::take_record(*ledger_, std::move(*record));
}

void Accountant::follow_usage(const RoleContext& ctx) {
  std::uint64_t filed = 0;
  bool all_filed = true;
  const auto deadline = std::chrono::steady_clock::now() + kFollowBudget;
  usage_behind_ = false;
  while (!usage_behind_) {
    auto batch = replay(ctx.mesh->connection(), subjects::kUsageStream, "agency.usage.>",
                        kFollowSlice, next_usage_);
    if (!batch) {
      if (batch.error().code != errc::not_found) {
        log_->warn("usage stream not followed, refused usage waits error={}",
                   batch.error().message);
      }
      break;
    }
    for (const auto& m : *batch) {
      if (std::chrono::steady_clock::now() >= deadline) {
        usage_behind_ = true;  // this message and the rest: the next tick
        break;
      }
      auto d = m.delivery();
      if (!d) continue;
      next_usage_ = std::max(next_usage_, d->stream_sequence + 1);
      if (d->stream_sequence <= dead_through_) continue;
      auto record = accounting::read_usage(m, usage_bytes_);
      if (record) continue;
      if (file_dead(ctx, m, record.error().message)) {
        ++filed;
      } else {
        all_filed = false;
      }
    }
    if (batch->size() < kFollowSlice) break;
    usage_behind_ = std::chrono::steady_clock::now() >= deadline;
  }
  if (filed > 0 && all_filed) {
    dead_through_ = next_usage_ - 1;
    remember_dead_through(ctx);
  }
}

bool Accountant::file_dead(const RoleContext& ctx, const Incoming& message,
                           const std::string& reason) {
  std::uint64_t sequence = 0;
  if (auto d = message.delivery()) sequence = d->stream_sequence;
  log_->warn("usage refused subject={} sequence={} reason=\"{}\"", message.subject(), sequence,
             reason);
  auto letter = make_dead_letter(message, reason, name(), ctx.agent_id);
  if (auto r = publish_dead_letter(ctx.mesh->connection(), letter); !r) {
    log_->warn("dead letter not filed subject={} sequence={} error={}", message.subject(), sequence,
               r.error().message);
    return false;
  }
  return true;
}

void Accountant::remember_dead_through(const RoleContext& ctx) {
  if (auto r = ctx.mesh->remember(kDeadThroughKey, std::to_string(dead_through_)); !r) {
    log_->warn("refused usage position not saved (a restart may file some again) error={}",
               r.error().message);
  }
}

void Accountant::on_lease(Incoming message) {
  if (message.reply().empty()) return;
  const std::string reply_to(message.reply());
  const auto now = Clock::now();
  v1::LeaseReply reply;
  auto answer = [&] {
    if (auto r = ctx_->mesh->connection().publish(reply_to, codec::encode(reply)); !r) {
      log_->warn("lease answer not sent lease={} error={}", reply.lease_id(), r.error().message);
    }
  };
  auto lease = codec::decode<v1::Lease>(message.data(), message.headers());
  if (!lease) {
    reply.set_granted(false);
    reply.set_reason("unreadable lease request: " + lease.error().message);
    *reply.mutable_retry_at() = to_timestamp(now + 60s);
    answer();
    return;
  }
  reply.set_lease_id(lease->id());
  if (lease->estimate_tokens() > accounting::kMaxTokens) {
    // No turn needs it, and a hold this large would stop the whole fleet.
    reply.set_granted(false);
    reply.set_reason("lease refused: estimate_tokens " + std::to_string(lease->estimate_tokens()) +
                     " is over " + std::to_string(accounting::kMaxTokens) +
                     " (0 or less: the accountant's first estimate)");
    answer();
    log_->warn("lease refused agent={} reason=\"{}\"", bounds::utf8_prefix(lease->agent_id(), 128),
               reply.reason());
    return;
  }
  auto priority = accounting::priority_from_name(lease->priority());
  std::string note;
  if (!priority) {
    priority = accounting::Priority::scheduled;
    note = " (unknown priority '" + std::string(bounds::utf8_prefix(lease->priority(), 64)) +
           "' taken as scheduled)";
  }

  // The runaway guard: a task past its budget gets nothing more.
  std::int64_t budget = 0;
  std::optional<v1::Task> task;
  if (!lease->task_id().empty()) {
    auto t = ctx_->mesh->task(lease->task_id());
    if (t) {
      task = std::move(*t);
      budget = task->brief().token_budget();
    }
  }
  std::optional<std::string> runaway;
  {
    std::lock_guard lock(mu_);
    if (!ledger_) return;
    ledger_->expire(now);
    std::int64_t spent = 0;
    if (budget > 0) {
      spent = accounting::sat_add(
          std::max<std::int64_t>(task->tokens_used(), ledger_->task_tokens(task->id())),
          ledger_->leased_for_task(task->id()));
      if (spent >= budget) {
        runaway = "runaway guard: task " + task->id() + " has spent " + std::to_string(spent) +
                  " tokens of its budget of " + std::to_string(budget) +
                  "; no more leases (raise token_budget in a new brief to go on)";
      }
    }
    if (!runaway) {
      // What this agent still holds was never settled: it died mid-call
      // and came back (a probe takes nothing and releases nothing).
      if (!lease->probe()) {
        if (auto dropped = ledger_->release(lease->agent_id()); dropped > 0) {
          log_->info("unsettled leases of a restarted agent released agent={} leases={}",
                     bounds::utf8_prefix(lease->agent_id(), 128), dropped);
        }
      }
      const std::vector<std::string> listed(lease->accounts().begin(), lease->accounts().end());
      auto allowed =
          accounting::allowed_accounts(*ctx_->config, lease->role(), listed, lease->account());
      // The agent's own refusals count at once, before their readings
      // reach the ledger: only of accounts it may spend, at most a week
      // ahead (no window is longer).
      for (const auto& limited : lease->limited()) {
        const config::Account* a = ctx_->config->account(limited.account());
        if (!limited.has_resets_at() || a == nullptr ||
            std::find(allowed.accounts.begin(), allowed.accounts.end(), a) ==
                allowed.accounts.end()) {
          continue;
        }
        ledger_->refused(a->name, std::min(to_time_point(limited.resets_at()), now + 7 * 24h));
      }
      std::vector<accounting::Candidate> candidates;
      candidates.reserve(allowed.accounts.size());
      for (const auto* a : allowed.accounts) {
        candidates.push_back(accounting::candidate(*ledger_, settings(*ctx_), *a, now));
      }
      accounting::Ask ask{*priority, lease->estimate_tokens(), lease->model()};
      if (ask.estimate <= 0) ask.estimate = settings(*ctx_).first_estimate;
      auto routed = accounting::route(settings(*ctx_), candidates, ask, now);
      auto& verdict = routed.verdict;
      if (verdict.granted && budget > 0) {
        verdict.allowance = std::min(verdict.allowance, budget - spent);
      }
      for (const auto& u : allowed.unknown) note += "; left out " + u;
      reply.set_granted(verdict.granted);
      reply.set_allowance_tokens(verdict.allowance);
      reply.set_reason(verdict.reason + note);
      if (verdict.retry_at) *reply.mutable_retry_at() = to_timestamp(*verdict.retry_at);
      if (routed.chosen) {
        const config::Account& account = *candidates[*routed.chosen].account;
        // Named as the lease named its accounts: a lease that listed none
        // gets the bare name it gave (or none), as before accounts routed.
        reply.set_account(listed.empty() ? lease->account() : account.id());
        if (!lease->probe()) {
          const auto expires = now + std::chrono::seconds(settings(*ctx_).lease_ttl_seconds);
          *reply.mutable_expires_at() = to_timestamp(expires);
          // Held: what was granted, never more (a hold past a window's room
          // would defer every other ask until it expires).
          const std::int64_t hold =
              verdict.allowance >= 0 ? std::min(ask.estimate, verdict.allowance) : ask.estimate;
          ledger_->lease(lease->id(), {account.name, lease->model(), lease->task_id(), hold,
                                       expires, lease->agent_id()});
        }
      }
    }
  }
  if (runaway) {
    reply.set_granted(false);
    reply.set_reason(*runaway);
    answer();
    auto blocked = ctx_->mesh->block_task(task->id(), *runaway);
    if (!blocked) {
      log_->warn("runaway task not blocked task={} error={}", task->id(), blocked.error().message);
    } else if (*blocked) {
      v1::FleetEvent event;
      event.set_kind("blocked");
      event.set_actor(ctx_->agent_id);
      event.set_agent_id(lease->agent_id());
      event.set_task_id(task->id());
      event.set_reason(*runaway);
      *event.mutable_at() = now_timestamp();
      (void)ctx_->mesh->record("budget", std::move(event));
    }
    log_->warn("lease refused task={} agent={} reason=\"{}\"", task->id(), lease->agent_id(),
               *runaway);
    return;
  }
  answer();
  if (!reply.granted()) {
    log_->info("lease deferred agent={} task={} priority={} estimate={} reason=\"{}\"",
               lease->agent_id(), lease->task_id(), accounting::priority_name(*priority),
               lease->estimate_tokens(), reply.reason());
  }
}

void Accountant::on_settle(Incoming message) {
  auto settle = codec::decode<v1::Settle>(message.data(), message.headers());
  if (settle) {
    std::lock_guard lock(mu_);
    if (ledger_) ledger_->settle(settle->lease_id());
  }
  if (message.reply().empty()) return;
  v1::LeaseReply reply;
  if (settle) {
    reply.set_lease_id(settle->lease_id());
    reply.set_granted(true);
    reply.set_reason("settled");
  } else {
    reply.set_reason("unreadable settlement: " + settle.error().message);
  }
  (void)ctx_->mesh->connection().publish(message.reply(), codec::encode(reply));
}

std::optional<Decision> Accountant::precheck(const RoleContext& ctx, const v1::Brief& /*brief*/,
                                             const v1::Task& /*task*/) {
  Decision d;
  auto read = read_transcripts(ctx);
  if (!read) {
    d.next_stage = std::string(voc::kBlocked);
    d.reason = "reading the transcripts failed: " + read.error().message;
    return d;
  }
  std::size_t entries = 0;
  {
    std::lock_guard lock(mu_);
    if (ledger_) entries = ledger_->size();
  }
  d.next_stage = std::string(voc::kDone);
  d.reason = "ledger holds " + std::to_string(entries) + " samples; " + std::to_string(*read) +
             " new from transcripts";
  return d;
}

}  // namespace agency::roles

// The role's entry in the catalog (runtime/catalog.hpp).
namespace agency::catalog::entries {
RoleInfo accountant() {
  RoleInfo info("accountant");
  info.lateral = true;
  info.runs_engine = false;
  info.takes_leases = false;
  info.settings = config::read_accountant;
  info.commands = {accounting::add_usage_command, accounting::add_sim_command};
  info.doctor = accounting::doctor_checks;
  info.usage = accounting::console_usage;
  return info;
}
}  // namespace agency::catalog::entries
