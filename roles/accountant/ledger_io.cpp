#include "roles/accountant/ledger_io.hpp"

#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/consumer.hpp"
#include "bus/subjects.hpp"

namespace agency::accounting {

namespace {

// Replayed in slices, so a year of samples never sits twice in memory.
constexpr std::size_t kSlice = 20000;
constexpr std::string_view kLimitsPrefix = "agency.usage.limits.";

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
  e.tokens.input = s.input_tokens();
  e.tokens.output = s.output_tokens();
  e.tokens.cache_creation = s.cache_creation_tokens();
  e.tokens.cache_read = s.cache_read_tokens();
  e.cost_usd = s.cost_usd();
  return e;
}

std::optional<Reading> reading_from(const v1::LimitReading& r) {
  auto window = window_from_name(r.window());
  if (!window) return std::nullopt;
  Reading out;
  out.account = r.account();
  out.window = *window;
  out.utilization = r.utilization();
  if (r.has_resets_at()) out.resets_at = to_time_point(r.resets_at());
  out.at = r.has_at() ? to_time_point(r.at()) : Clock::now();
  out.source = r.source();
  return out;
}

Result<Ledger> replay_ledger(Connection& connection, const config::Accountant& config,
                             const std::function<void(std::uint64_t, std::uint64_t)>& on_progress) {
  Ledger ledger(config);
  std::uint64_t next = 1;
  std::uint64_t read = 0;
  while (true) {
    auto slice = replay(connection, subjects::kUsageStream, "agency.usage.>", kSlice, next);
    if (!slice) {
      // An empty stream, or nothing after `next`, is "not found" on some servers.
      if (slice.error().code == errc::not_found) break;
      return slice.error();
    }
    if (slice->empty()) break;
    for (auto& m : *slice) {
      auto d = m.delivery();
      if (d) next = std::max(next, d->stream_sequence + 1);
      if (m.subject().starts_with(kLimitsPrefix)) {
        auto r = codec::decode<v1::LimitReading>(m.data(), m.headers());
        if (!r) continue;
        if (auto reading = reading_from(*r)) ledger.observe(*reading);
      } else {
        auto s = codec::decode<v1::UsageSample>(m.data(), m.headers());
        if (!s) continue;
        ledger.add(entry_from(*s));
      }
    }
    read += slice->size();
    if (on_progress) on_progress(read, 0);
    if (slice->size() < kSlice) break;
  }
  return ledger;
}

}  // namespace agency::accounting
