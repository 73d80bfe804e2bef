#include "roles/accountant/chart.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include "roles/accountant/report.hpp"
#include "runtime/localtime.hpp"

namespace agency::accounting {

using namespace std::chrono;

namespace {

constexpr double kWidth = 1000;
constexpr double kLeft = 80;
constexpr double kRight = 24;
constexpr double kHeader = 58;
constexpr double kPanelHeight = 276;
constexpr double kPlotTop = 44;  // below the panel's title
constexpr double kPlotHeight = 180;
constexpr double kPlotWidth = kWidth - kLeft - kRight;
// At most this many columns, about one per pixel: a week of 10-minute
// steps, so the default range draws every step.
constexpr std::size_t kMaxColumns = 7 * 144;
// Bars taller than this many times the pace are clipped, so that one burst
// does not flatten the pace line and the shading to nothing.
constexpr double kMaxOverPace = 6;

constexpr const char* kHumanColour = "#4e79a7";
constexpr const char* kAgentsColour = "#59a14f";
constexpr const char* kUnusedColour = "#f28e2b";
constexpr const char* kPaceColour = "#c0392b";

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// Full precision, for the data attributes scripts compute with.
std::string exact(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

const char* weekday(int d) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  return kDays[(d % 7 + 7) % 7];
}

// "Mon 11-23 18:00" in the zone.
std::string stamp(Time t, std::string_view zone) {
  const auto l = to_local(t, zone);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s %02d-%02d %02d:%02d", weekday(l.weekday), l.month, l.day,
                l.hour, l.minute);
  return buf;
}

// A path of axis-aligned rectangles; neighbours of the same height merge,
// which keeps a long flat stretch one rectangle.
class Rects {
 public:
  void add(double x0, double x1, double y_top, double y_bottom) {
    if (y_bottom - y_top < 0.005 || x1 <= x0) {
      flush();
      return;
    }
    if (open_ && std::abs(x0 - x1_) < 1e-6 && num(y_top) == num(top_) &&
        num(y_bottom) == num(bottom_)) {
      x1_ = x1;
      return;
    }
    flush();
    open_ = true;
    x0_ = x0;
    x1_ = x1;
    top_ = y_top;
    bottom_ = y_bottom;
  }
  void flush() {
    if (!open_) return;
    d_ += "M" + num(x0_) + " " + num(bottom_) + "H" + num(x1_) + "V" + num(top_) + "H" + num(x0_) +
          "Z";
    open_ = false;
  }
  std::string take() {
    flush();
    return std::move(d_);
  }

 private:
  std::string d_;
  bool open_ = false;
  double x0_ = 0, x1_ = 0, top_ = 0, bottom_ = 0;
};

struct Column {
  Time start;
  Time end;
  double human = 0;  // per step, averaged over the column's steps
  double agents = 0;
  double unused = 0;  // per step: the column's unused area / its steps
};

struct Panel {
  std::string account;
  std::string id;  // "provider/name", for the header
  WindowState state;
  double offered = 0;  // per step
  std::vector<Column> columns;
  std::int64_t unused = 0;
  std::int64_t offered_total = 0;
  std::vector<Time> resets;
  std::vector<Span> blocks;  // five_hour: the blocks in the range
};

// Ticks on the x axis at whole local hours or days, at most about 8.
struct Tick {
  Time at;
  std::string label;
  std::string date;  // under the label where the date changes; "" else
};

std::vector<Tick> ticks(Time from, Time to, std::string_view zone) {
  static constexpr int kIntervals[] = {60,        120,       180,        360,       720,
                                       1440,      2 * 1440,  7 * 1440,   14 * 1440, 28 * 1440,
                                       56 * 1440, 91 * 1440, 182 * 1440, 364 * 1440};
  const auto range = duration_cast<minutes>(to - from).count();
  minutes interval(kIntervals[std::size(kIntervals) - 1]);
  for (int m : kIntervals) {
    if (range / m <= 8) {
      interval = minutes(m);
      break;
    }
  }
  // The zone's offset at `to`, to put ticks on local hours (a DST change
  // inside the range shifts the ticks before it by that hour: labels stay
  // true, they are read from each tick).
  const auto l = to_local(to, zone);
  const Time wall = Time(sys_days(year(l.year) / l.month / l.day)) + hours(l.hour) +
                    minutes(l.minute) + seconds(l.second);
  const auto offset = wall - floor<seconds>(to);
  // Whole weeks start on Monday (the epoch was a Thursday).
  const auto shift = interval >= minutes(7 * 1440) ? hours(24 * 4) : hours(0);
  const auto local_from = (from + offset - shift).time_since_epoch();
  auto first = Time(ceil<minutes>(local_from) / interval * interval) - offset + shift;
  while (first < from) first += interval;
  std::vector<Tick> out;
  int last_day = -1;
  for (Time t = first; t <= to; t += interval) {
    const auto lt = to_local(t, zone);
    char label[32];
    char date[32];
    if (interval < minutes(1440)) {
      std::snprintf(label, sizeof label, "%02d:%02d", lt.hour, lt.minute);
      std::snprintf(date, sizeof date, "%s %02d-%02d", weekday(lt.weekday), lt.month, lt.day);
    } else {
      std::snprintf(label, sizeof label, "%s %02d-%02d", weekday(lt.weekday), lt.month, lt.day);
      date[0] = '\0';
    }
    out.push_back({t, label, lt.day != last_day ? date : ""});
    last_day = lt.day;
  }
  return out;
}

Panel make_panel(const Ledger& ledger, const std::string& account, const WindowState& state,
                 std::span<const Entry* const> entries, Time from, Time to) {
  Panel p;
  p.account = account;
  p.state = state;
  const Window w = state.window;
  const auto st = steps(entries, w, from, to, kUnusedStep);
  p.offered = static_cast<double>(state.limit) * duration<double>(kUnusedStep).count() /
              duration<double>(window_length(w)).count();
  p.unused = unused_area(st, w, state.limit, kUnusedStep);
  p.offered_total =
      static_cast<std::int64_t>(std::llround(p.offered * static_cast<double>(st.size())));
  const std::size_t k = std::max<std::size_t>(1, (st.size() + kMaxColumns - 1) / kMaxColumns);
  for (std::size_t i = 0; i < st.size(); i += k) {
    Column c;
    c.start = st[i].at;
    const std::size_t end = std::min(st.size(), i + k);
    c.end = st[end - 1].at + kUnusedStep;
    for (std::size_t j = i; j < end; ++j) {
      const auto used = static_cast<double>(st[j].human + st[j].agents);
      c.human += static_cast<double>(st[j].human);
      c.agents += static_cast<double>(st[j].agents);
      c.unused += std::max(0.0, p.offered - used);  // unused_area's term
    }
    const auto m = static_cast<double>(end - i);
    c.human /= m;
    c.agents /= m;
    c.unused /= m;
    p.columns.push_back(c);
  }
  if (w == Window::five_hour) {
    auto blocks = five_hour_blocks(entries);
    // The running window as the ledger sees it (a reset the plan reported
    // wins over the block rules).
    if (state.open) {
      if (!blocks.empty() && blocks.back().end > state.span.start) blocks.pop_back();
      blocks.push_back(Block{state.span.start, state.span.end, state.span.start, 0, 0});
    }
    for (const auto& b : blocks) {
      if (b.end <= from || b.start >= to) continue;
      p.blocks.push_back({std::max(b.start, from), std::min(b.end, to)});
      if (b.end > from && b.end <= to) p.resets.push_back(b.end);
    }
  } else {
    // Earlier instances: the ledger's window just before each start.
    Span s = state.span;
    for (int guard = 0; s.start > from && guard < 200; ++guard) {
      if (s.start <= to) p.resets.push_back(s.start);
      s = ledger.window(account, w, s.start - seconds(1)).span;
    }
    std::sort(p.resets.begin(), p.resets.end());
  }
  return p;
}

// The share of the limit the window will have used at its reset if use
// goes on at its rate so far (used over elapsed, to the end); nothing
// before a running window has begun.
std::optional<double> projected_share(const WindowState& s, Time now) {
  if (!s.open || s.limit <= 0 || now <= s.span.start || now >= s.span.end) return std::nullopt;
  const double elapsed = duration<double>(now - s.span.start).count();
  const double whole = duration<double>(s.span.end - s.span.start).count();
  return static_cast<double>(s.used()) * whole / elapsed / static_cast<double>(s.limit);
}

std::string legend(double x, double y) {
  std::string out = "<g class=\"legend\" font-size=\"11\">\n";
  auto swatch = [&](const char* colour, const char* opacity, const char* text) {
    out += "<rect x=\"" + num(x) + "\" y=\"" + num(y - 9) +
           "\" width=\"11\" height=\"11\" fill=\"" + colour + "\" fill-opacity=\"" + opacity +
           "\"/><text x=\"" + num(x + 15) + "\" y=\"" + num(y) + "\">" + text + "</text>\n";
    x += 24 + 7.0 * static_cast<double>(std::string_view(text).size());
  };
  swatch(kHumanColour, "1", "human");
  swatch(kAgentsColour, "1", "agents");
  swatch(kUnusedColour, "0.55", "unused (below the pace)");
  out += "<line x1=\"" + num(x) + "\" x2=\"" + num(x + 18) + "\" y1=\"" + num(y - 4) + "\" y2=\"" +
         num(y - 4) + "\" stroke=\"" + kPaceColour +
         "\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"/><text x=\"" + num(x + 22) + "\" y=\"" +
         num(y) + "\">even pace</text>\n";
  x += 90;
  out += "<line x1=\"" + num(x + 5) + "\" x2=\"" + num(x + 5) + "\" y1=\"" + num(y - 10) +
         "\" y2=\"" + num(y + 2) + "\" stroke=\"#555\"/><text x=\"" + num(x + 12) + "\" y=\"" +
         num(y) + "\">reset</text>\n";
  x += 52;
  out += "<rect x=\"" + num(x) + "\" y=\"" + num(y - 9) +
         "\" width=\"11\" height=\"11\" fill=\"#000\" fill-opacity=\"0.06\" stroke=\"#ccc\"/>"
         "<text x=\"" +
         num(x + 15) + "\" y=\"" + num(y) + "\">five-hour block</text>\n</g>\n";
  return out;
}

}  // namespace

std::string chart_svg(const Ledger& ledger, Time now, int days, std::string_view account) {
  days = std::max(days, 1);
  const std::string zone = ledger.config().time_zone;
  const std::string zone_name = zone.empty() ? std::string("local time") : zone;
  // Whole steps on the 10-minute grid, as the report measures them.
  const Time to = floor<minutes>(now) - floor<minutes>(now).time_since_epoch() % kUnusedStep;
  const Time from = to - hours(24) * days;
  const auto step_count = static_cast<std::size_t>((to - from) / kUnusedStep);
  const std::size_t per_column =
      std::max<std::size_t>(1, (step_count + kMaxColumns - 1) / kMaxColumns);

  std::vector<Panel> panels;
  const std::string only = account.empty() ? std::string() : ledger.account_of(account);
  for (const auto& a : ledger.accounts()) {
    if (!only.empty() && a.name != only) continue;
    const auto entries = ledger.entries(a.name);
    for (const auto& state : ledger.windows(a.name, now)) {
      if (state.limit <= 0) continue;
      panels.push_back(make_panel(ledger, a.name, state, entries, from, to));
      panels.back().id = a.id();
    }
  }

  const double height =
      kHeader + std::max<double>(1, static_cast<double>(panels.size())) * kPanelHeight;
  std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(kWidth) + "\" height=\"" +
         num(height) + "\" viewBox=\"0 0 " + num(kWidth) + " " + num(height) +
         "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"11\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  std::string sub = "counted tokens per 10 minutes";
  if (per_column > 1) sub += " (columns of " + std::to_string(per_column * 10) + " minutes)";
  {
    const auto l = to_local(to, zone);
    char end[64];
    std::snprintf(end, sizeof end, "%04d-%02d-%02d %02d:%02d", l.year, l.month, l.day, l.hour,
                  l.minute);
    sub += " \xC2\xB7 the last " + std::to_string(days) + (days == 1 ? " day" : " days") + " to " +
           end + " (" + escape(zone_name) + ")";
  }
  svg += "<text x=\"" + num(kLeft) + "\" y=\"22\" font-size=\"15\" font-weight=\"bold\">agency " +
         "usage against the limits</text>\n";
  svg += "<text x=\"" + num(kLeft) + "\" y=\"40\" fill=\"#444\">" + std::string(sub) + "</text>\n";
  svg += legend(kWidth - kRight - 560, 22);
  if (panels.empty()) {
    svg += "<text x=\"" + num(kLeft) + "\" y=\"" + num(kHeader + 40) +
           "\">No window has a limit yet: give accountant.accounts a plan or limits, or feed "
           "Claude Code's statusline (agency usage ingest-statusline --help).</text>\n";
  }

  const double span_seconds = duration<double>(to - from).count();
  auto x_of = [&](Time t) {
    return kLeft +
           kPlotWidth * std::clamp(duration<double>(t - from).count() / span_seconds, 0.0, 1.0);
  };
  const auto tick_list = ticks(from, to, zone);
  for (std::size_t i = 0; i < panels.size(); ++i) {
    const auto& p = panels[i];
    const auto& s = p.state;
    const double top = kHeader + static_cast<double>(i) * kPanelHeight + kPlotTop;
    const double bottom = top + kPlotHeight;
    double peak = 0;
    for (const auto& c : p.columns) peak = std::max(peak, c.human + c.agents);
    const double ymax = std::max(1.5 * p.offered, std::min(peak, kMaxOverPace * p.offered));
    auto y_of = [&](double v) { return bottom - kPlotHeight * std::clamp(v / ymax, 0.0, 1.0); };
    const std::string name(window_name(s.window));

    const auto projected = projected_share(s, now);
    svg += "<g class=\"panel\" data-account=\"" + escape(p.account) + "\" data-account-id=\"" +
           escape(p.id) + "\" data-window=\"" + name +
           (projected ? "\" data-projected=\"" + exact(*projected) : std::string()) +
           "\" data-unused=\"" + std::to_string(p.unused) + "\" data-offered=\"" +
           std::to_string(p.offered_total) + "\" data-step-width=\"" +
           exact(kPlotWidth / static_cast<double>(std::max<std::size_t>(1, step_count))) +
           "\" data-token-height=\"" + exact(kPlotHeight / ymax) + "\">\n";
    // Two lines: what the window is now, then what this range left unused.
    // The projection to the reset: where this window ends at its rate so far.
    char at_reset[96] = "";
    if (projected) {
      std::snprintf(at_reset, sizeof at_reset, " \xC2\xB7 %.0f%% by the reset at this rate",
                    100.0 * *projected);
    }
    char head[352];
    std::snprintf(head, sizeof head,
                  "%s \xC2\xB7 %s \xC2\xB7 limit %s \xC2\xB7 %.1f%% used now%s \xC2\xB7 %s",
                  escape(p.id).c_str(), name.c_str(),
                  tokens_short(static_cast<double>(s.limit)).c_str(),
                  100.0 * static_cast<double>(s.used()) / static_cast<double>(s.limit), at_reset,
                  s.open ? ("resets " + stamp(s.span.end, zone)).c_str()
                         : "no block running: the next starts at the next use");
    char sub_head[512];
    std::snprintf(sub_head, sizeof sub_head,
                  "unused in this range %s of %s offered (%.0f%%) \xC2\xB7 limit: %s",
                  tokens_short(static_cast<double>(p.unused)).c_str(),
                  tokens_short(static_cast<double>(p.offered_total)).c_str(),
                  p.offered_total > 0
                      ? 100.0 * static_cast<double>(p.unused) / static_cast<double>(p.offered_total)
                      : 0.0,
                  escape(s.limit_source).c_str());
    svg += "<text x=\"" + num(kLeft) + "\" y=\"" + num(top - 22) +
           "\" font-weight=\"bold\" font-size=\"12\">" + head + "</text>\n";
    svg += "<text x=\"" + num(kLeft) + "\" y=\"" + num(top - 7) + "\" fill=\"#444\">" + sub_head +
           "</text>\n";
    svg += "<rect class=\"plot\" x=\"" + num(kLeft) + "\" y=\"" + num(top) + "\" width=\"" +
           num(kPlotWidth) + "\" height=\"" + num(kPlotHeight) +
           "\" fill=\"none\" stroke=\"#999\"/>\n";
    for (const auto& b : p.blocks) {
      svg += "<rect class=\"block\" x=\"" + num(x_of(b.start)) + "\" y=\"" + num(top) +
             "\" width=\"" + num(x_of(b.end) - x_of(b.start)) + "\" height=\"" + num(kPlotHeight) +
             "\" fill=\"#000\" fill-opacity=\"0.06\"/>\n";
    }
    for (const auto& t : tick_list) {
      const double x = x_of(t.at);
      svg += "<line class=\"grid\" x1=\"" + num(x) + "\" x2=\"" + num(x) + "\" y1=\"" + num(top) +
             "\" y2=\"" + num(bottom + 4) + "\" stroke=\"#e3e3e3\"/>\n";
      // Labels at the plot's ends stay inside the picture.
      const std::string anchor = x > kLeft + kPlotWidth - 35 ? "end"
                                 : x < kLeft + 35            ? "start"
                                                             : "middle";
      svg += "<text x=\"" + num(x) + "\" y=\"" + num(bottom + 16) + "\" text-anchor=\"" + anchor +
             "\">" + t.label + "</text>\n";
      if (!t.date.empty()) {
        svg += "<text x=\"" + num(x) + "\" y=\"" + num(bottom + 29) + "\" text-anchor=\"" + anchor +
               "\" fill=\"#555\">" + t.date + "</text>\n";
      }
    }

    // Use stacked (human below, agents above) and the unused shading from
    // the pace down by the column's unused area per step: for a single step
    // that is exactly the gap between the use and the pace. A column of
    // several steps may have both use above the pace's share and unused
    // steps; its shading then overlaps the bars, so it is drawn over them,
    // translucent.
    Rects human;
    Rects agents;
    Rects unused;
    std::string clipped;
    const double pace_y = y_of(p.offered);
    for (const auto& c : p.columns) {
      const double x0 = x_of(c.start);
      const double x1 = x_of(c.end);
      human.add(x0, x1, y_of(c.human), y_of(0));
      agents.add(x0, x1, y_of(c.human + c.agents), y_of(c.human));
      unused.add(x0, x1, pace_y, y_of(p.offered - c.unused));
      if (c.human + c.agents > ymax) {
        clipped += "M" + num(x0) + " " + num(top) + "H" + num(std::max(x1, x0 + 1)) + "V" +
                   num(top + 3) + "H" + num(x0) + "Z";
      }
    }
    svg += "<path class=\"human\" fill=\"" + std::string(kHumanColour) + "\" d=\"" + human.take() +
           "\"/>\n";
    svg += "<path class=\"agents\" fill=\"" + std::string(kAgentsColour) + "\" d=\"" +
           agents.take() + "\"/>\n";
    svg += "<path class=\"unused\" fill=\"" + std::string(kUnusedColour) +
           "\" fill-opacity=\"0.55\" d=\"" + unused.take() + "\"/>\n";
    if (!clipped.empty()) {
      svg += "<path class=\"clipped\" fill=\"#222\" d=\"" + clipped + "\"><title>use above " +
             tokens_short(ymax) + " per 10 minutes, cut off</title></path>\n";
    }

    // Five-hour resets on a long range would be a comb: the block tint
    // shows them there.
    const bool comb =
        s.window == Window::five_hour && static_cast<double>(p.resets.size()) * 8 > kPlotWidth;
    const std::vector<Time> resets = comb ? std::vector<Time>{} : p.resets;
    // The even pace, one line per window instance, and the resets.
    std::vector<Time> edges = {from};
    for (Time r : resets) {
      if (r > from && r < to) edges.push_back(r);
    }
    edges.push_back(to);
    for (std::size_t e = 0; e + 1 < edges.size(); ++e) {
      svg += "<line class=\"pace\" x1=\"" + num(x_of(edges[e])) + "\" x2=\"" +
             num(x_of(edges[e + 1])) + "\" y1=\"" + num(pace_y) + "\" y2=\"" + num(pace_y) +
             "\" stroke=\"" + kPaceColour + "\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"/>\n";
    }
    for (Time r : resets) {
      const double x = x_of(r);
      svg += "<line class=\"reset\" x1=\"" + num(x) + "\" x2=\"" + num(x) + "\" y1=\"" + num(top) +
             "\" y2=\"" + num(bottom) + "\" stroke=\"#555\" stroke-width=\"1\"/>\n";
    }

    // The y axis: tokens per 10 minutes.
    svg += "<text x=\"" + num(kLeft - 5) + "\" y=\"" + num(bottom) +
           "\" text-anchor=\"end\">0</text>\n";
    svg += "<text x=\"" + num(kLeft - 5) + "\" y=\"" + num(pace_y + 4) +
           "\" text-anchor=\"end\" fill=\"" + kPaceColour + "\">" + tokens_short(p.offered) +
           "</text>\n";
    svg += "<text x=\"" + num(kLeft - 5) + "\" y=\"" + num(top + 9) + "\" text-anchor=\"end\">" +
           tokens_short(ymax) + "</text>\n";
    svg += "<text transform=\"translate(" + num(kLeft - 48) + " " + num((top + bottom) / 2) +
           ") rotate(-90)\" text-anchor=\"middle\" fill=\"#555\">tokens / 10 min</text>\n";
    svg += "</g>\n";
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace agency::accounting
