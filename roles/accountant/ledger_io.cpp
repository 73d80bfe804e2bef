#include "roles/accountant/ledger_io.hpp"

#include <cmath>
#include <cstdio>

#include "bus/bounds.hpp"
#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/consumer.hpp"
#include "bus/subjects.hpp"
#include "roles/accountant/settings.hpp"
#include "runtime/limits.hpp"

namespace agency::accounting {

namespace {

constexpr std::string_view kLimitsPrefix = "agency.usage.limits.";
constexpr std::string_view kSamplesPrefix = "agency.usage.samples.";

// The windows LimitReading.window may name (usage.proto); empty: not said.
constexpr std::string_view kApiWindows[] = {"requests", "tokens", "input_tokens", "output_tokens"};

// Timestamps are checked before they become time points: seconds far out
// of range would overflow the nanosecond clock.
bool plausible_time(const google::protobuf::Timestamp& t, Time published) {
  if (t.nanos() < 0 || t.nanos() >= 1'000'000'000) return false;
  const auto latest =
      std::chrono::duration_cast<std::chrono::seconds>((published + kClockSkew).time_since_epoch())
          .count();
  return t.seconds() >= kEarliestEpochSeconds && t.seconds() <= latest;
}

std::optional<std::string> out_of(std::string_view field, std::int64_t v, std::int64_t lo,
                                  std::int64_t hi) {
  if (v >= lo && v <= hi) return std::nullopt;
  return std::string(field) + " " + std::to_string(v) + " is outside " + thousands(lo) + ".." +
         thousands(hi);
}

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// Reasons and subjects quote what a client sent; they reach terminals
// (`agency usage`, `agency dead`) and logs, so control bytes are spelled
// out and the length is capped.
std::string printable(std::string_view text) {
  constexpr std::size_t kMost = 400;
  std::string out;
  for (unsigned char c : text) {
    if (out.size() >= kMost) {
      out += "...";
      break;
    }
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

Result<UsageRecord> refused(std::string_view why) {
  return make_error(errc::bad_payload, printable(why));
}

std::uint64_t sequence_of(const Incoming& m) {
  auto d = m.delivery();
  return d ? d->stream_sequence : 0;
}

}  // namespace

Entry entry_from(const v1::UsageSample& s) {
  Entry e;
  e.id = s.id();
  e.at = to_time_point(s.at());
  e.account = s.account();
  e.model = s.model();
  e.engine = s.engine();
  e.role = s.role();
  e.agent_id = s.agent_id();
  e.task_id = s.task_id();
  e.project = s.project();
  e.session_id = s.session_id();
  e.human = !s.started_by_agency();
  e.api_error = s.api_error();
  e.tokens.input = s.input_tokens();
  e.tokens.output = s.output_tokens();
  e.tokens.cache_creation = s.cache_creation_tokens();
  e.tokens.cache_read = s.cache_read_tokens();
  e.cost_usd = s.cost_usd();
  e.context_tokens = s.context_tokens();
  e.denials = s.denials();
  e.retries = s.retries();
  e.error = s.error();
  return e;
}

std::optional<Reading> reading_from(const v1::LimitReading& r, Time published) {
  auto window = window_from_name(r.window());
  if (!window) return std::nullopt;
  Reading out;
  out.account = r.account();
  out.window = *window;
  out.utilization = r.utilization();
  if (r.has_resets_at()) out.resets_at = to_time_point(r.resets_at());
  out.at = r.has_at() ? to_time_point(r.at()) : published;
  out.source = r.source();
  return out;
}

std::optional<std::string> sample_problem(const v1::UsageSample& s, Time published) {
  if (s.id().empty()) return "id is empty (the ledger keeps one entry per id)";
  const std::pair<std::string_view, std::int64_t> tokens[] = {
      {"input_tokens", s.input_tokens()},
      {"output_tokens", s.output_tokens()},
      {"cache_creation_tokens", s.cache_creation_tokens()},
      {"cache_read_tokens", s.cache_read_tokens()}};
  for (const auto& [field, v] : tokens) {
    if (auto p = out_of(field, v, 0, kMaxTokens)) return p;
  }
  if (!std::isfinite(s.cost_usd()) || s.cost_usd() < 0 || s.cost_usd() > kMaxCostUsd) {
    return "cost_usd " + number(s.cost_usd()) + " is outside 0.." +
           thousands(static_cast<std::int64_t>(kMaxCostUsd));
  }
  if (auto p = out_of("duration_ms", s.duration_ms(), 0, kMaxDurationMs)) return p;
  if (auto p = out_of("context_tokens", s.context_tokens(), 0, kMaxTokens)) return p;
  if (auto p = out_of("denials", s.denials(), 0, kMaxCount)) return p;
  if (auto p = out_of("retries", s.retries(), 0, kMaxCount)) return p;
  if (!s.has_at()) return std::string("at is not set (when the call started)");
  if (!plausible_time(s.at(), published)) {
    return "at " + std::to_string(s.at().seconds()) + " s is before 2020 or more than " +
           std::to_string(kClockSkew.count()) + " h after the stream stored it";
  }
  return std::nullopt;
}

std::optional<std::string> reading_problem(const v1::LimitReading& r, Time published) {
  const std::string& w = r.window();
  bool known = w.empty() || window_from_name(w).has_value();
  for (auto api : kApiWindows) known = known || w == api;
  if (!known) {
    return "window '" + w +
           "' is not one of five_hour, seven_day, seven_day_opus, seven_day_sonnet, requests, "
           "tokens, input_tokens, output_tokens";
  }
  const double u = r.utilization();
  if (u != -1 && !(u >= 0 && u <= 100)) {
    return "utilization " + number(u) + " is outside 0..100 (percent; -1: not given)";
  }
  if (auto p = out_of("remaining", r.remaining(), -1, kMaxTokens)) return p;
  if (auto p = out_of("limit", r.limit(), -1, kMaxTokens)) return p;
  if (!r.status().empty() && !limits::known_status(r.status())) {
    return "status '" + std::string(bounds::utf8_prefix(r.status(), 64)) +
           "' is not one of allowed, allowed_warning, rejected";
  }
  if (r.has_at() && !plausible_time(r.at(), published)) {
    return "at " + std::to_string(r.at().seconds()) + " s is before 2020 or more than " +
           std::to_string(kClockSkew.count()) + " h after the stream stored it";
  }
  if (r.has_resets_at()) {
    const auto& t = r.resets_at();
    const Time seen = r.has_at() ? to_time_point(r.at()) : published;
    const auto reach = std::chrono::duration_cast<std::chrono::seconds>(kResetReach + kClockSkew);
    const auto at_s =
        std::chrono::duration_cast<std::chrono::seconds>(seen.time_since_epoch()).count();
    if (t.nanos() < 0 || t.nanos() >= 1'000'000'000 || t.seconds() < at_s - reach.count() ||
        t.seconds() > at_s + reach.count()) {
      return "resets_at " + std::to_string(t.seconds()) + " s is more than " +
             std::to_string(std::chrono::duration_cast<std::chrono::hours>(reach).count()) +
             " h from the reading's time";
    }
  }
  return std::nullopt;
}

void take_record(Ledger& ledger, UsageRecord record) {
  for (auto& e : record.entries) ledger.add(std::move(e));
  if (record.reading) ledger.observe(*record.reading);
  if (record.refusal) ledger.refused(record.refusal->account, record.refusal->until);
}

Result<UsageRecord> read_usage(std::string_view subject, std::string_view data,
                               const Headers& headers, Time published, std::int64_t max_bytes) {
  const bool reading = subject.starts_with(kLimitsPrefix);
  const bool samples = subject.starts_with(kSamplesPrefix);
  const char* what = reading ? "limit reading" : samples ? "usage samples" : "usage sample";
  if (static_cast<std::int64_t>(data.size()) > max_bytes) {
    return refused(std::string(what) + " of " + std::to_string(data.size()) +
                   " bytes is over limits.usage_bytes (" + std::to_string(max_bytes) + ")");
  }
  UsageRecord out;
  if (reading) {
    auto r = codec::decode<v1::LimitReading>(data, headers);
    if (!r) return refused("unreadable limit reading: " + r.error().message);
    if (auto p = reading_problem(*r, published)) return refused("limit reading refused: " + *p);
    out.reading = reading_from(*r, published);
    if (r->status() == "rejected" && r->has_resets_at()) {
      out.refusal = Refusal{r->account(), to_time_point(r->resets_at())};
    }
    return out;
  }
  if (samples) {
    auto batch = codec::decode<v1::UsageSamples>(data, headers);
    if (!batch) return refused("unreadable usage samples: " + batch.error().message);
    const int n = batch->samples_size();
    if (n == 0) return refused("usage samples refused: the message holds no sample");
    out.entries.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      if (auto p = sample_problem(batch->samples(i), published)) {
        return refused("usage samples refused, sample " + std::to_string(i + 1) + " of " +
                       std::to_string(n) + ": " + *p);
      }
      out.entries.push_back(entry_from(batch->samples(i)));
    }
    return out;
  }
  auto s = codec::decode<v1::UsageSample>(data, headers);
  if (!s) return refused("unreadable usage sample: " + s.error().message);
  if (auto p = sample_problem(*s, published)) return refused("usage sample refused: " + *p);
  out.entries.push_back(entry_from(*s));
  return out;
}

Result<UsageRecord> read_usage(const Incoming& message, std::int64_t max_bytes) {
  Time published = Clock::now();
  if (auto d = message.delivery(); d && d->timestamp_ns > 0) {
    published = Time(
        std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(d->timestamp_ns)));
  }
  return read_usage(message.subject(), message.data(), message.headers(), published, max_bytes);
}

std::uint64_t take_usage(
    Ledger& ledger, std::span<const Incoming> messages, std::int64_t max_bytes,
    const std::function<void(const Incoming&, const std::string&)>& on_invalid) {
  std::uint64_t next = 0;
  for (const auto& m : messages) {
    const auto sequence = sequence_of(m);
    next = std::max(next, sequence + 1);
    auto record = read_usage(m, max_bytes);
    if (!record) {
      ledger.reject({sequence, printable(m.subject()), record.error().message});
      if (on_invalid) on_invalid(m, record.error().message);
      continue;
    }
    take_record(ledger, std::move(*record));
  }
  return next;
}

Result<std::uint64_t> follow_usage(
    Connection& connection, Ledger& ledger, std::uint64_t from, std::int64_t max_bytes,
    std::size_t slice, const std::function<void(const Incoming&, const std::string&)>& on_invalid,
    const std::function<void(std::uint64_t, std::uint64_t)>& on_progress) {
  std::uint64_t next = std::max<std::uint64_t>(from, 1);
  std::uint64_t read = 0;
  while (true) {
    auto batch = replay(connection, subjects::kUsageStream, "agency.usage.>", slice, next);
    if (!batch) {
      // An empty stream, or nothing after `next`, is "not found" on some servers.
      if (batch.error().code == errc::not_found) break;
      return batch.error();
    }
    if (batch->empty()) break;
    next = std::max(next, take_usage(ledger, *batch, max_bytes, on_invalid));
    read += batch->size();
    if (on_progress) on_progress(read, 0);
    if (batch->size() < slice) break;
  }
  return next;
}

Result<Ledger> replay_ledger(Connection& connection, const config::Accountant& config,
                             const std::function<void(std::uint64_t, std::uint64_t)>& on_progress,
                             std::int64_t max_bytes) {
  Ledger ledger(config);
  auto done = follow_usage(connection, ledger, 1, max_bytes, kReplaySlice, {}, on_progress);
  if (!done) return done.error();
  return ledger;
}

}  // namespace agency::accounting
