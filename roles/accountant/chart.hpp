// `agency usage --chart`: use against the limits over time, one panel per
// account and window with a limit. The y axis is a rate, counted tokens per
// 10 minutes: the person's use (below) and the fleet's (above) stacked
// against the even pace (limit x 10 min / window length, a line per window
// instance). Where use falls short of the pace the gap is shaded: the
// shaded area is the unused area accounting::unused_area counts, step by
// step. Window resets are vertical lines; five-hour blocks are tinted.
#pragma once

#include <string>
#include <string_view>

#include "roles/accountant/accounting.hpp"

namespace agency::accounting {

// An SVG document of the last `days` days up to `now` (whole 10-minute
// steps; long ranges draw columns of several steps, each shading the sum
// of its steps' unused area). Times on the axis are in
// accountant.time_zone. `account` empty: every account.
//
// A running window's header also projects it to its reset: the share of the
// limit used by then at its rate so far (data-projected, 1.0 = the limit).
//
// The panel's header names the account as "provider/name".
//
// For tests and scripts each panel is <g class="panel"> with data-account
// (the name), data-account-id ("provider/name"), data-window,
// data-projected, data-unused and data-offered (tokens over the range),
// data-step-width (x pixels of one 10-minute step) and data-token-height
// (y pixels of one token per step); its shading is <path class="unused">.
std::string chart_svg(const Ledger& ledger, Time now, int days, std::string_view account = {});

}  // namespace agency::accounting
