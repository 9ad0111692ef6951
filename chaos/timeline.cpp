#include "timeline.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

namespace coraft::chaos {

namespace {

// Text and attribute values: the five XML specials.
std::string escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// A tick spacing of 1, 2 or 5 times a power of ten giving about `n` ticks.
double tick_step(double span, int n) {
  const double raw = span / n;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0})
    if (m * p >= raw) return m * p;
  return 10 * p;
}

const char* fill_of(outcome r) {
  switch (r) {
    case outcome::ok: return "#9fdc9f";
    case outcome::fail: return "#f2a7a7";
    case outcome::info: return "#f6d68a";
  }
  return "#cccccc";
}

}  // namespace

std::string timeline_svg(const std::string& key, const std::vector<operation>& ops) {
  constexpr double left = 70, plot = 1000, right = 20, top = 44, row_h = 28, bar_h = 18, axis_h = 40;

  std::map<std::int64_t, std::size_t> row;  // process -> row, in process order
  for (const operation& op : ops) row.emplace(op.process, 0);
  std::size_t r = 0;
  for (auto& [p, i] : row) i = r++;

  std::int64_t t0 = 0, t1 = 0;
  bool first = true;
  for (const operation& op : ops) {
    if (first) t0 = t1 = op.invoke_ns, first = false;
    t0 = std::min(t0, op.invoke_ns);
    t1 = std::max(t1, op.invoke_ns);
    if (op.complete_ns != never_ns) t1 = std::max(t1, op.complete_ns);
    if (op.reported_ns != never_ns) t1 = std::max(t1, op.reported_ns);
  }
  // 4% of room on the right, so info bars visibly run past the last event.
  const double span = std::max(1.0, static_cast<double>(t1 - t0) * 1.04);
  auto x = [&](std::int64_t t) { return left + plot * static_cast<double>(t - t0) / span; };
  const double width = left + plot + right;
  const double plot_bottom = top + row_h * static_cast<double>(row.size());
  const double height = plot_bottom + axis_h;

  std::string out;
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) + "\" height=\"" + num(height) +
         "\" font-family=\"monospace\" font-size=\"11\">\n";
  out += "<text x=\"" + num(left) + "\" y=\"18\" font-size=\"14\">key " + escape(key) + " — " +
         std::to_string(ops.size()) + " operations</text>\n";
  // Legend, as circles: every <rect> in the file is an operation.
  double lx = left + plot - 220;
  for (outcome o : {outcome::ok, outcome::fail, outcome::info}) {
    out += "<circle cx=\"" + num(lx) + "\" cy=\"14\" r=\"5\" fill=\"" + fill_of(o) + "\" stroke=\"#555\"/>";
    out += "<text x=\"" + num(lx + 9) + "\" y=\"18\">" + std::string(to_string(o)) + "</text>\n";
    lx += 70;
  }

  // Rows and the time axis.
  for (const auto& [p, i] : row) {
    const double y = top + row_h * static_cast<double>(i);
    out += "<text x=\"8\" y=\"" + num(y + row_h / 2 + 4) + "\">p" + std::to_string(p) + "</text>";
    out += "<line x1=\"" + num(left) + "\" y1=\"" + num(y + row_h) + "\" x2=\"" + num(left + plot) + "\" y2=\"" +
           num(y + row_h) + "\" stroke=\"#eee\"/>\n";
  }
  const double span_ms = span / 1e6;
  const double step_ms = tick_step(span_ms, 8);
  for (double t = 0; t <= span_ms; t += step_ms) {
    const double tx = left + plot * t / span_ms;
    out += "<line x1=\"" + num(tx) + "\" y1=\"" + num(top) + "\" x2=\"" + num(tx) + "\" y2=\"" + num(plot_bottom + 4) +
           "\" stroke=\"#ddd\"/>";
    char label[32];
    std::snprintf(label, sizeof label, step_ms < 1 ? "%.3g" : "%.0f", t);
    out +=
        "<text x=\"" + num(tx) + "\" y=\"" + num(plot_bottom + 16) + "\" text-anchor=\"middle\">" + label + "</text>\n";
  }
  out += "<text x=\"" + num(left + plot) + "\" y=\"" + num(plot_bottom + 32) +
         "\" text-anchor=\"end\">ms from the first invoke</text>\n";

  // Operations. An info op's bar ends at its process's next invoke, or at
  // the right edge.
  for (const operation& op : ops) {
    const double y = top + row_h * static_cast<double>(row[op.process]) + (row_h - bar_h) / 2;
    const double x0 = x(op.invoke_ns);
    double x1 = left + plot;
    if (op.result == outcome::info) {
      for (const operation& later : ops)
        if (later.process == op.process && later.invoke_ns > op.invoke_ns) x1 = std::min(x1, x(later.invoke_ns));
    } else {
      x1 = x(op.complete_ns);
    }
    const double w = std::max(4.0, x1 - x0);
    std::string title = "p" + std::to_string(op.process) + " " + std::string(to_string(op.result)) + " " +
                        op_label(op, std::string::npos) + " [" + std::to_string(op.invoke_ns - t0) + " ns, " +
                        (op.complete_ns == never_ns ? std::string("∞") : std::to_string(op.complete_ns - t0) + " ns") +
                        "]";
    // A nested <svg> per bar clips its label to the bar (a nested
    // viewport hides what overflows it); the tooltip has the whole.
    out += "<svg x=\"" + num(x0) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" + num(bar_h) +
           "\"><title>" + escape(title) + "</title><rect x=\"0.5\" y=\"0.5\" width=\"" + num(w - 1) + "\" height=\"" +
           num(bar_h - 1) + "\" rx=\"3\" fill=\"" + fill_of(op.result) + "\" stroke=\"#555\"" +
           (op.result == outcome::info ? " stroke-dasharray=\"4 3\"" : "") + "/>";
    out += "<text x=\"3\" y=\"" + num(bar_h - 5) + "\">" + escape(op_label(op, 16)) + "</text></svg>\n";
  }
  out += "</svg>\n";
  return out;
}

}  // namespace coraft::chaos
