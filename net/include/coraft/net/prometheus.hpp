// coraft/net/prometheus.hpp — the one writer of Prometheus' text exposition
// format (version 0.0.4) for /v1/metrics and a service's own metrics.
//
// Every family gets its # HELP and # TYPE lines once, before its samples;
// every sample carries the writer's common labels (node="1") first. Values
// print as the stream prints them: integers exactly, doubles with six
// significant digits.
#pragma once

#include <coraft/node.hpp>

#include <sstream>
#include <string>
#include <string_view>

namespace coraft::net {

class prometheus_text {
 public:
  // `common_labels` without braces, e.g. `node="1"`.
  explicit prometheus_text(std::string common_labels) : labels_(std::move(common_labels)) {}

  template <class T>
  void gauge(std::string_view name, std::string_view help, T value) {
    family(name, "gauge", help);
    sample(name, {}, value);
  }
  template <class T>
  void counter(std::string_view name, std::string_view help, T value) {
    family(name, "counter", help);
    sample(name, {}, value);
  }
  // Cumulative buckets, +Inf, _sum and _count.
  void histogram(std::string_view name, std::string_view help, const coraft::histogram& h);
  // One labelled series of a histogram family (after family(name,
  // "histogram", help)): its buckets, _sum and _count with `extra_labels`
  // (like `peer="2"`) before `le`.
  void histogram_samples(std::string_view name, std::string_view extra_labels, const coraft::histogram& h);

  // A family with several samples: its header, then one sample() per series
  // (`extra_labels` like `peer="2"`, after the common ones).
  void family(std::string_view name, std::string_view type, std::string_view help);
  template <class T>
  void sample(std::string_view name, std::string_view extra_labels, T value) {
    begin_sample(name, extra_labels);
    os_ << value << '\n';
  }

  std::string str() const { return os_.str(); }

 private:
  void begin_sample(std::string_view name, std::string_view extra_labels);

  std::string labels_;
  std::ostringstream os_;
};

}  // namespace coraft::net
