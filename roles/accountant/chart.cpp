#include "roles/accountant/chart.hpp"

#include <algorithm>
#include <cstdio>

#include "agents/localtime.hpp"

namespace agency::accounting {

using namespace std::chrono;

namespace {

constexpr double kWidth = 960;
constexpr double kPanelHeight = 220;
constexpr double kLeft = 70;
constexpr double kRight = 20;
constexpr double kTop = 40;
constexpr double kPlotHeight = 150;

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string short_tokens(double n) {
  char buf[32];
  if (n >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.1fM", n / 1e6);
  } else if (n >= 1e3) {
    std::snprintf(buf, sizeof buf, "%.0fk", n / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", n);
  }
  return buf;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else if (c == '&') {
      out += "&amp;";
    } else {
      out += c;
    }
  }
  return out;
}

std::string label_time(Time t) {
  auto l = to_local(t, "UTC");
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d-%02d %02d:%02d", l.month, l.day, l.hour, l.minute);
  return buf;
}

}  // namespace

std::string chart_svg(const Ledger& ledger, Time now, int days) {
  days = std::max(days, 1);
  const Time from = now - hours(24) * days;
  // Steps of 10 minutes up to two days, coarser beyond, at most ~600 columns.
  const auto step = minutes(std::max<long>(10, (days * 24 * 60 / 600 + 9) / 10 * 10));
  struct Panel {
    std::string account;
    Window window;
    WindowState state;
    std::vector<Step> steps;
    std::vector<Time> resets;
    std::int64_t unused = 0;
  };
  std::vector<Panel> panels;
  for (const auto& account : ledger.accounts()) {
    auto entries = ledger.entries(account.name);
    for (auto w : kWindows) {
      auto state = ledger.window(account.name, w, now);
      if (state.limit <= 0) continue;
      Panel p{account.name, w, state, steps(entries, w, from, now, step), {}, 0};
      p.unused = unused_area(p.steps, w, state.limit, step);
      if (w == Window::five_hour) {
        std::vector<const Entry*> all(entries.begin(), entries.end());
        for (const auto& b : five_hour_blocks(all)) {
          if (b.end > from && b.start < now) p.resets.push_back(b.end);
        }
      } else {
        for (Time r = state.span.end; r > from; r -= hours(24 * 7)) {
          if (r <= now) p.resets.push_back(r);
        }
      }
      panels.push_back(std::move(p));
    }
  }
  const double height =
      kTop + std::max<double>(1, static_cast<double>(panels.size())) * kPanelHeight;
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(kWidth) +
                    "\" height=\"" + num(height) +
                    "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<text x=\"" + num(kLeft) + "\" y=\"22\" font-size=\"14\">agency usage, " +
         label_time(from) + " to " + label_time(now) + " UTC: human and agents per " +
         std::to_string(step.count()) + " minutes against the even pace; shaded: unused</text>\n";
  if (panels.empty()) {
    svg += "<text x=\"" + num(kLeft) + "\" y=\"" + num(kTop + 30) +
           "\">No window has a limit yet (accountant.accounts limits or a plan).</text>\n";
  }
  const double plot_width = kWidth - kLeft - kRight;
  const double span_seconds = duration<double>(now - from).count();
  auto x_of = [&](Time t) {
    return kLeft + plot_width * duration<double>(t - from).count() / span_seconds;
  };
  for (std::size_t i = 0; i < panels.size(); ++i) {
    const auto& p = panels[i];
    const double top = kTop + static_cast<double>(i) * kPanelHeight + 20;
    const double bottom = top + kPlotHeight;
    const double offered = static_cast<double>(p.state.limit) * duration<double>(step).count() /
                           static_cast<double>(window_length(p.window).count());
    double peak = offered * 1.5;
    for (const auto& s : p.steps) peak = std::max(peak, static_cast<double>(s.human + s.agents));
    auto y_of = [&](double v) { return bottom - kPlotHeight * v / peak; };
    const double pct =
        100.0 * static_cast<double>(p.state.used()) / static_cast<double>(p.state.limit);
    char title[256];
    std::snprintf(title, sizeof title, "%s · %s · limit %s · %.1f%% used now · unused %s",
                  p.account.c_str(), std::string(window_name(p.window)).c_str(),
                  short_tokens(static_cast<double>(p.state.limit)).c_str(), pct,
                  short_tokens(static_cast<double>(p.unused)).c_str());
    svg += "<g class=\"panel\" data-window=\"" + std::string(window_name(p.window)) + "\">\n";
    svg += "<text x=\"" + num(kLeft) + "\" y=\"" + num(top - 6) + "\" font-weight=\"bold\">" +
           escape(title) + "</text>\n";
    svg += "<rect x=\"" + num(kLeft) + "\" y=\"" + num(top) + "\" width=\"" + num(plot_width) +
           "\" height=\"" + num(kPlotHeight) + "\" fill=\"none\" stroke=\"#999\"/>\n";
    // Unused: from the stacked use up to the pace line, where use is short of it.
    std::string unused = "<path class=\"unused\" fill=\"#f4b183\" fill-opacity=\"0.6\" d=\"";
    std::string human = "<path class=\"human\" fill=\"#5b9bd5\" d=\"";
    std::string agents = "<path class=\"agents\" fill=\"#70ad47\" d=\"";
    for (const auto& s : p.steps) {
      const double x0 = x_of(s.at);
      const double x1 = x_of(std::min(s.at + step, now));
      const double h = static_cast<double>(s.human);
      const double total = h + static_cast<double>(s.agents);
      auto rect = [&](std::string& path, double lo, double hi) {
        if (hi <= lo) return;
        path += "M" + num(x0) + " " + num(y_of(lo)) + "H" + num(x1) + "V" + num(y_of(hi)) + "H" +
                num(x0) + "Z";
      };
      rect(human, 0, h);
      rect(agents, h, total);
      rect(unused, total, offered);
    }
    svg += unused + "\"/>\n" + human + "\"/>\n" + agents + "\"/>\n";
    svg += "<line class=\"pace\" x1=\"" + num(kLeft) + "\" x2=\"" + num(kLeft + plot_width) +
           "\" y1=\"" + num(y_of(offered)) + "\" y2=\"" + num(y_of(offered)) +
           "\" stroke=\"#c00000\" stroke-dasharray=\"4 3\"/>\n";
    svg += "<text x=\"" + num(kLeft - 4) + "\" y=\"" + num(y_of(offered) + 4) +
           "\" text-anchor=\"end\">" + short_tokens(offered) + "</text>\n";
    svg += "<text x=\"" + num(kLeft - 4) + "\" y=\"" + num(top + 10) + "\" text-anchor=\"end\">" +
           short_tokens(peak) + "</text>\n";
    for (Time r : p.resets) {
      svg += "<line class=\"reset\" x1=\"" + num(x_of(r)) + "\" x2=\"" + num(x_of(r)) + "\" y1=\"" +
             num(top) + "\" y2=\"" + num(bottom) + "\" stroke=\"#666\" stroke-width=\"0.5\"/>\n";
    }
    for (int k = 0; k <= 4; ++k) {
      const Time t = from + duration_cast<system_clock::duration>((now - from) * k / 4);
      svg += "<text x=\"" + num(x_of(t)) + "\" y=\"" + num(bottom + 14) +
             "\" text-anchor=\"middle\">" + label_time(t) + "</text>\n";
    }
    svg += "</g>\n";
  }
  // Legend.
  svg += "<g font-size=\"11\"><rect x=\"" + num(kWidth - 330) +
         "\" y=\"8\" width=\"10\" height=\"10\" fill=\"#5b9bd5\"/><text x=\"" + num(kWidth - 316) +
         "\" y=\"17\">human</text><rect x=\"" + num(kWidth - 270) +
         "\" y=\"8\" width=\"10\" height=\"10\" fill=\"#70ad47\"/><text x=\"" + num(kWidth - 256) +
         "\" y=\"17\">agents</text><rect x=\"" + num(kWidth - 205) +
         "\" y=\"8\" width=\"10\" height=\"10\" fill=\"#f4b183\"/><text x=\"" + num(kWidth - 191) +
         "\" y=\"17\">unused</text><line x1=\"" + num(kWidth - 140) + "\" x2=\"" +
         num(kWidth - 120) +
         "\" y1=\"13\" y2=\"13\" stroke=\"#c00000\" stroke-dasharray=\"4 3\"/><text x=\"" +
         num(kWidth - 116) + "\" y=\"17\">even pace</text></g>\n";
  svg += "</svg>\n";
  return svg;
}

}  // namespace agency::accounting
