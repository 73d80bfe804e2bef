// `agency usage --chart`: usage against the limit over time, one panel per
// account and window with a limit. Per step, the person's use (below) and
// the fleet's (above) stacked against the even pace's share of the limit
// (a line); where use falls short of it the gap is shaded: that shading is
// the unused area (accounting::unused_area). Window resets are marked.
#pragma once

#include <string>

#include "roles/accountant/accounting.hpp"

namespace agency::accounting {

// An SVG document covering the last `days` days up to `now`.
std::string chart_svg(const Ledger& ledger, Time now, int days);

}  // namespace agency::accounting
