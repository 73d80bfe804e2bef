// The one check every reader of AGENCY_USAGE makes (read_usage): each
// numeric field against its documented range (docs/ACCOUNTING.md, "What the
// ledger accepts"), the size limit, unreadable payloads; what passes reaches
// the ledger as it was sent.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <string>

#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/subjects.hpp"
#include "roles/accountant/ledger_io.hpp"
#include "roles/accountant/settings.hpp"

namespace agency::accounting {
namespace {

using namespace std::chrono_literals;

// 2026-11-23 12:00 UTC: when the stream stored the message.
const Time kPublished = Time(std::chrono::sys_days(std::chrono::year(2026) / 11 / 23)) + 12h;
constexpr std::int64_t kBytes = 16 * 1024;
constexpr auto kTop = std::numeric_limits<std::int64_t>::max();

v1::UsageSample good_sample() {
  v1::UsageSample s;
  s.set_id("u-1");
  s.set_engine("claude");
  s.set_model("claude-sonnet-4-5");
  s.set_role("builder");
  s.set_input_tokens(1200);
  s.set_output_tokens(300);
  s.set_cache_creation_tokens(50);
  s.set_cache_read_tokens(9000);
  s.set_cost_usd(0.12);
  s.set_duration_ms(4200);
  s.set_started_by_agency(true);
  *s.mutable_at() = to_timestamp(kPublished - 5s);
  return s;
}

v1::LimitReading good_reading() {
  v1::LimitReading r;
  r.set_engine("claude");
  r.set_window("five_hour");
  r.set_utilization(42);
  r.set_remaining(-1);
  r.set_limit(-1);
  *r.mutable_resets_at() = to_timestamp(kPublished + 3h);
  r.set_source("headers");
  *r.mutable_at() = to_timestamp(kPublished);
  return r;
}

template <class T>
Result<UsageRecord> read(const std::string& subject, const T& message,
                         std::int64_t max_bytes = kBytes) {
  auto out = codec::encode(message);
  return read_usage(subject, out.data, out.headers, kPublished, max_bytes);
}

Result<UsageRecord> read_sample(const v1::UsageSample& s) {
  return read("agency.usage.claude.builder", s);
}

Result<UsageRecord> read_reading(const v1::LimitReading& r) {
  return read("agency.usage.limits.claude", r);
}

// The reason a refused message carries.
std::string reason(const Result<UsageRecord>& r) {
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == errc::bad_payload);
  return r.error().message;
}

bool names(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_CASE("ledger_io: a sound sample and reading reach the ledger as sent") {
  auto s = read_sample(good_sample());
  REQUIRE_MESSAGE(s.ok(), s.error().message);
  REQUIRE(s->entries.size() == 1);
  CHECK_FALSE(s->reading.has_value());
  CHECK(s->entries[0].tokens.input == 1200);
  CHECK(s->entries[0].tokens.cache_read == 9000);
  CHECK(s->entries[0].cost_usd == doctest::Approx(0.12));
  CHECK(s->entries[0].at == kPublished - 5s);

  auto r = read_reading(good_reading());
  REQUIRE_MESSAGE(r.ok(), r.error().message);
  REQUIRE(r->reading.has_value());
  CHECK(r->reading->utilization == 42);
  CHECK(r->reading->resets_at == kPublished + 3h);

  // The edges of each range are inside it.
  auto edges = good_sample();
  edges.set_input_tokens(0);
  edges.set_output_tokens(kMaxTokens);
  edges.set_cost_usd(kMaxCostUsd);
  edges.set_duration_ms(kMaxDurationMs);
  *edges.mutable_at() = to_timestamp(kPublished + kClockSkew);
  CHECK(read_sample(edges).ok());
  auto full = good_reading();
  full.set_utilization(100);
  full.set_remaining(0);
  full.set_limit(kMaxTokens);
  CHECK(read_reading(full).ok());
  // Not given: -1, no reset, no time (then the stream's time is the reading's).
  auto bare = good_reading();
  bare.set_utilization(-1);
  bare.clear_resets_at();
  bare.clear_at();
  auto b = read_reading(bare);
  REQUIRE(b.ok());
  REQUIRE(b->reading.has_value());
  CHECK(b->reading->at == kPublished);
  // An API window is read and kept out of the subscription windows.
  auto api = good_reading();
  api.set_window("requests");
  api.set_remaining(10);
  api.set_limit(50);
  auto a = read_reading(api);
  REQUIRE(a.ok());
  CHECK_FALSE(a->reading.has_value());
  CHECK(a->entries.empty());
}

TEST_CASE("ledger_io: each token figure of a sample is 0 to 10^12") {
  for (auto set :
       {&v1::UsageSample::set_input_tokens, &v1::UsageSample::set_output_tokens,
        &v1::UsageSample::set_cache_creation_tokens, &v1::UsageSample::set_cache_read_tokens}) {
    for (std::int64_t bad : {std::int64_t{-1}, std::int64_t{-5'000'000}, kMaxTokens + 1, kTop,
                             std::numeric_limits<std::int64_t>::min()}) {
      auto s = good_sample();
      (s.*set)(bad);
      CAPTURE(bad);
      const auto why = reason(read_sample(s));
      CHECK(names(why, "_tokens " + std::to_string(bad) + " is outside 0..1,000,000,000,000"));
    }
  }
  auto s = good_sample();
  s.set_input_tokens(-5'000'000);
  CHECK(names(reason(read_sample(s)), "input_tokens"));
  s = good_sample();
  s.set_output_tokens(kTop);
  CHECK(names(reason(read_sample(s)), "output_tokens"));
}

TEST_CASE("ledger_io: a sample's session figures reach the ledger, and out of range refuse it") {
  auto s = good_sample();
  s.set_context_tokens(120'000);
  s.set_denials(2);
  s.set_retries(kMaxCount);
  s.set_error("claude reported an error");
  auto read = read_sample(s);
  REQUIRE_MESSAGE(read.ok(), read.error().message);
  const auto& e = read->entries.at(0);
  CHECK(e.context_tokens == 120'000);
  CHECK(e.denials == 2);
  CHECK(e.retries == kMaxCount);
  CHECK(e.error == "claude reported an error");

  s = good_sample();
  s.set_context_tokens(-1);
  CHECK(names(reason(read_sample(s)), "context_tokens -1 is outside 0.."));
  s = good_sample();
  s.set_denials(-3);
  CHECK(names(reason(read_sample(s)), "denials -3 is outside 0..1,000,000"));
  s = good_sample();
  s.set_retries(static_cast<std::int32_t>(kMaxCount + 1));
  CHECK(names(reason(read_sample(s)), "retries 1000001 is outside 0..1,000,000"));
}

TEST_CASE("ledger_io: cost, duration, time and id of a sample") {
  for (double bad : {-0.01, kMaxCostUsd * 2, std::nan(""), std::numeric_limits<double>::infinity(),
                     -std::numeric_limits<double>::infinity()}) {
    auto s = good_sample();
    s.set_cost_usd(bad);
    CAPTURE(bad);
    CHECK(names(reason(read_sample(s)), "cost_usd"));
  }
  for (std::int64_t bad : {std::int64_t{-1}, kMaxDurationMs + 1, kTop}) {
    auto s = good_sample();
    s.set_duration_ms(bad);
    CHECK(names(reason(read_sample(s)), "duration_ms"));
  }
  auto s = good_sample();
  s.clear_at();
  CHECK(names(reason(read_sample(s)), "at is not set"));
  // Far past, a day and more ahead of the stream, and beyond the clock's range.
  for (std::int64_t seconds : {std::int64_t{0}, std::int64_t{1'500'000'000},
                               std::chrono::duration_cast<std::chrono::seconds>(
                                   (kPublished + kClockSkew + 1s).time_since_epoch())
                                   .count(),
                               std::int64_t{253'402'300'799}, kTop}) {
    s = good_sample();
    s.mutable_at()->set_seconds(seconds);
    CAPTURE(seconds);
    CHECK(names(reason(read_sample(s)), "at "));
  }
  s = good_sample();
  s.mutable_at()->set_nanos(-1);
  CHECK(names(reason(read_sample(s)), "at "));
  s = good_sample();
  s.clear_id();
  CHECK(names(reason(read_sample(s)), "id is empty"));
}

TEST_CASE("ledger_io: a reading's window, percentage, counts and reset") {
  auto r = good_reading();
  r.set_window("fortnight");
  CHECK(names(reason(read_reading(r)), "window 'fortnight'"));
  // Control bytes a client sent are spelled out, never passed to a terminal.
  r.set_window("x\x1b[2Jy");
  const auto spelled = reason(read_reading(r));
  CHECK(names(spelled, "x\\x1b[2Jy"));
  CHECK_FALSE(names(spelled, "\x1b"));
  for (double bad :
       {-0.5, -2.0, 100.01, 250.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
    r = good_reading();
    r.set_utilization(bad);
    CAPTURE(bad);
    CHECK(names(reason(read_reading(r)), "utilization"));
  }
  for (std::int64_t bad : {std::int64_t{-2}, kMaxTokens + 1, kTop}) {
    r = good_reading();
    r.set_remaining(bad);
    CHECK(names(reason(read_reading(r)), "remaining"));
    r = good_reading();
    r.set_limit(bad);
    CHECK(names(reason(read_reading(r)), "limit"));
  }
  // A reset more than a week (and the skew) from the reading's time.
  for (auto off : {kResetReach + kClockSkew + 1h, -(kResetReach + kClockSkew + 1h)}) {
    r = good_reading();
    *r.mutable_resets_at() = to_timestamp(kPublished + off);
    CHECK(names(reason(read_reading(r)), "resets_at"));
  }
  r = good_reading();
  r.mutable_resets_at()->set_seconds(253'402'300'799);  // 9999-12-31
  CHECK(names(reason(read_reading(r)), "resets_at"));
  r = good_reading();
  r.mutable_at()->set_seconds(kTop);
  CHECK(names(reason(read_reading(r)), "at "));
  // The status: one of the three words, or none.
  for (const char* ok : {"", "allowed", "allowed_warning", "rejected"}) {
    r = good_reading();
    r.set_status(ok);
    CAPTURE(ok);
    CHECK(read_reading(r).ok());
  }
  r = good_reading();
  r.set_status("fz-status-" + std::string(500, 'x'));
  const auto status = reason(read_reading(r));
  CHECK(names(status, "status 'fz-status-"));
  CHECK(status.size() < 300);  // the client's word is cut, not echoed whole
}

TEST_CASE("ledger_io: over limits.usage_bytes, or unreadable, is refused with the size") {
  auto s = good_sample();
  s.set_model(std::string(2000, 'm'));
  const auto size = codec::encode(s).data.size();
  CHECK(read_sample(s).ok());
  const auto why = reason(read("agency.usage.claude.builder", s, 1024));
  CHECK(names(why, "usage sample of " + std::to_string(size) + " bytes"));
  CHECK(names(why, "limits.usage_bytes (1024)"));
  auto r = good_reading();
  r.set_source(std::string(2000, 's'));
  CHECK(names(reason(read("agency.usage.limits.claude", r, 1024)), "limit reading of "));
  CHECK(names(reason(read_usage("agency.usage.claude.builder", "\xff\xfe not a sample", {},
                                kPublished, kBytes)),
              "unreadable usage sample"));
  CHECK(names(reason(read_usage("agency.usage.limits.claude", "{\"utilization\": \"lots\"}", {},
                                kPublished, kBytes)),
              "unreadable limit reading"));
}

TEST_CASE("ledger_io: the JSON a client publishes is held to the same ranges") {
  const std::string absurd =
      R"({"id":"j-1","inputTokens":"9223372036854775807","startedByAgency":true,)"
      R"("at":"2026-11-23T11:00:00Z"})";
  CHECK(names(reason(read_usage("agency.usage.claude.builder", absurd, {}, kPublished, kBytes)),
              "input_tokens 9223372036854775807"));
  const std::string fine =
      R"({"id":"j-2","inputTokens":"700","startedByAgency":true,"at":"2026-11-23T11:00:00Z"})";
  auto ok = read_usage("agency.usage.claude.builder", fine, {}, kPublished, kBytes);
  REQUIRE_MESSAGE(ok.ok(), ok.error().message);
  REQUIRE(ok->entries.size() == 1);
  CHECK(ok->entries[0].tokens.input == 700);
}

TEST_CASE("ledger_io: a UsageSamples message brings each of its samples, or none when one is out") {
  v1::UsageSamples batch;
  for (int i = 1; i <= 3; ++i) {
    auto s = good_sample();
    s.set_id("tx:m" + std::to_string(i) + ":r");
    s.set_input_tokens(100 * i);
    *batch.add_samples() = s;
  }
  const auto subject = subjects::usage_samples("claude");
  CHECK(subjects::message_type_for(subject) == "agency.v1.UsageSamples");
  auto all = read(subject, batch);
  REQUIRE_MESSAGE(all.ok(), all.error().message);
  REQUIRE(all->entries.size() == 3);
  CHECK(all->entries[0].id == "tx:m1:r");
  CHECK(all->entries[2].tokens.input == 300);

  // Into a ledger: three entries; the same message again adds none.
  Ledger ledger(config::Accountant{});
  auto again = read(subject, batch);
  REQUIRE(again.ok());
  for (const auto& e : all->entries) ledger.add(e);
  for (const auto& e : again->entries) ledger.add(e);
  CHECK(ledger.size() == 3);

  // One sample out of range refuses the message, naming the sample.
  batch.mutable_samples(1)->set_output_tokens(-5);
  const auto why = reason(read(subject, batch));
  CHECK(names(why, "sample 2 of 3"));
  CHECK(names(why, "output_tokens -5"));
  // Over limits.usage_bytes as a whole, though each sample is small.
  batch.mutable_samples(1)->set_output_tokens(5);
  CHECK(names(reason(read(subject, batch, 200)), "over limits.usage_bytes"));
  // None at all is refused too (nothing a reader of ours sends).
  CHECK_FALSE(read(subject, v1::UsageSamples{}).ok());
  CHECK(names(reason(read_usage(subject, R"({"samples":[]})", {}, kPublished, kBytes)),
              "holds no sample"));
  // A single sample's bytes on the batch subject do not decode as a batch.
  CHECK_FALSE(read(subject, good_sample()).ok());
}

TEST_CASE("ledger_io: the ledger counts what it refuses and keeps only the latest reasons") {
  Ledger ledger(config::Accountant{});
  for (std::uint64_t i = 1; i <= Ledger::kRejectedKept + 5; ++i) {
    ledger.reject({i, "agency.usage.x.y", "reason " + std::to_string(i)});
  }
  CHECK(ledger.rejected_count() == Ledger::kRejectedKept + 5);
  REQUIRE(ledger.rejected().size() == Ledger::kRejectedKept);
  CHECK(ledger.rejected().front().sequence == 6);
  CHECK(ledger.rejected().back().reason == "reason " + std::to_string(Ledger::kRejectedKept + 5));
}

}  // namespace
}  // namespace agency::accounting
