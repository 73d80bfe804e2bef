// The ledger as the bus holds it: usage samples and limit readings in
// AGENCY_USAGE, read back into a Ledger (by the accountant when it starts,
// by `agency usage` at any time, with or without a running accountant).
#pragma once

#include <optional>

#include "agency/v1/usage.pb.h"
#include "bus/connection.hpp"
#include "roles/accountant/accounting.hpp"

namespace agency::accounting {

Entry entry_from(const v1::UsageSample& s);
// Nullopt for a reading of a window the ledger does not keep (API limits:
// requests, tokens).
std::optional<Reading> reading_from(const v1::LimitReading& r);

// Every sample and reading in AGENCY_USAGE, in stream order, into a ledger.
// `on_progress(done, total)` is called now and then on long replays.
Result<Ledger> replay_ledger(
    Connection& connection, const config::Accountant& config,
    const std::function<void(std::uint64_t, std::uint64_t)>& on_progress = {});

}  // namespace agency::accounting
