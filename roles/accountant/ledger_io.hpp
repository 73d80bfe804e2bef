// The ledger as the bus holds it: usage samples and limit readings in
// AGENCY_USAGE, read back into a Ledger (by the accountant when it starts
// and as it follows the stream, by `agency usage` at any time, with or
// without a running accountant).
//
// Anyone who can publish on agency.usage.> writes into the ledger, so every
// reader takes each message through read_usage, the one check: a message
// it refuses stays out of the ledger, is counted in it (Ledger::reject) and,
// at the accountant, becomes a dead letter on agency.dead.accountant with
// the same reason. The ranges are in docs/ACCOUNTING.md ("What the ledger
// accepts").
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agency/v1/usage.pb.h"
#include "bus/connection.hpp"
#include "bus/message.hpp"
#include "roles/accountant/accounting.hpp"
#include "roles/accountant/settings.hpp"
#include "runtime/config.hpp"

namespace agency::accounting {

// Each token figure of one sample (input, output, cache creation, cache
// read; a reading's remaining and limit): far above any context window
// times any number of turns one call takes, far below where a sum of them
// could wrap.
inline constexpr std::int64_t kMaxTokens = 1'000'000'000'000;
// A sample's cost in US dollars.
inline constexpr double kMaxCostUsd = 1'000'000;
// A sample's duration_ms: a week.
inline constexpr std::int64_t kMaxDurationMs = 7LL * 24 * 3600 * 1000;
// A sample's denials and retries: far above what one call could make.
inline constexpr std::int64_t kMaxCount = 1'000'000;
// Times (a sample's at, a reading's at) are no earlier than this
// (2020-01-01T00:00:00Z, before any engine agency reads existed) ...
inline constexpr std::int64_t kEarliestEpochSeconds = 1'577'836'800;
// ... and no later than this after the stream stored them (clock skew).
inline constexpr std::chrono::hours kClockSkew{24};
// A reading's reset lies within a window's length (a week) around the
// reading's time, give or take the clock skew.
inline constexpr std::chrono::hours kResetReach{24 * 7};

// Messages per read of the stream on a replay: a year of samples never
// sits twice in memory.
inline constexpr std::size_t kReplaySlice = 20000;

Entry entry_from(const v1::UsageSample& s);
// Nullopt for a reading of a window the ledger does not keep (API limits:
// requests, tokens). `published`: when the stream stored it, the reading's
// time when it has none.
std::optional<Reading> reading_from(const v1::LimitReading& r, Time published);

// What is wrong with a decoded sample or reading, naming the field and the
// range it left; nullopt when nothing is. `published` as above.
std::optional<std::string> sample_problem(const v1::UsageSample& s, Time published);
std::optional<std::string> reading_problem(const v1::LimitReading& r, Time published);

// One message of AGENCY_USAGE as the ledger takes it: a sample, the
// samples of a UsageSamples, a reading of a window it keeps, or none of
// these (a reading of an API window).
// A limit reading with status rejected and a reset: the account refused a
// call until then (Ledger::refused).
struct Refusal {
  std::string account;
  Time until;
};

struct UsageRecord {
  std::vector<Entry> entries;
  std::optional<Reading> reading;
  std::optional<Refusal> refusal;
};

// What a record says, into the ledger: its entries, its reading, its refusal.
void take_record(Ledger& ledger, UsageRecord record);

// The one check: errc::bad_payload, with the reason, for a message over
// `max_bytes` (agency.yaml limits.usage_bytes), one that does not decode
// as the subject's type, or one with a figure out of its range (in a
// UsageSamples: any of its samples, named by its place; the whole message
// is refused).
Result<UsageRecord> read_usage(std::string_view subject, std::string_view data,
                               const Headers& headers, Time published, std::int64_t max_bytes);
// Same for a received message: `published` is the stream's timestamp of a
// stream delivery, now for a live one.
Result<UsageRecord> read_usage(const Incoming& message, std::int64_t max_bytes);

// Takes `messages` (AGENCY_USAGE, stream order) into `ledger`; each one
// read_usage refuses is counted in the ledger and handed to `on_invalid`
// with the reason. Returns the stream sequence after the last message.
std::uint64_t take_usage(
    Ledger& ledger, std::span<const Incoming> messages, std::int64_t max_bytes,
    const std::function<void(const Incoming&, const std::string&)>& on_invalid = {});

// Every message of AGENCY_USAGE from stream sequence `from` on, in slices
// of at most `slice` messages, through take_usage into `ledger`. Returns
// the stream sequence to go on from. `on_progress(done, total)` is called
// now and then on long replays.
Result<std::uint64_t> follow_usage(
    Connection& connection, Ledger& ledger, std::uint64_t from, std::int64_t max_bytes,
    std::size_t slice,
    const std::function<void(const Incoming&, const std::string&)>& on_invalid = {},
    const std::function<void(std::uint64_t, std::uint64_t)>& on_progress = {});

// Every sample and reading in AGENCY_USAGE, in stream order, into a ledger.
Result<Ledger> replay_ledger(
    Connection& connection, const config::Accountant& config,
    const std::function<void(std::uint64_t, std::uint64_t)>& on_progress = {},
    std::int64_t max_bytes = config::Limits{}.usage_bytes);

}  // namespace agency::accounting
