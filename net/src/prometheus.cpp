// prometheus.cpp — see coraft/net/prometheus.hpp.
#include <coraft/net/prometheus.hpp>

#include <iterator>

namespace coraft::net {

void prometheus_text::family(std::string_view name, std::string_view type, std::string_view help) {
  os_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

void prometheus_text::begin_sample(std::string_view name, std::string_view extra_labels) {
  os_ << name << '{' << labels_;
  if (!extra_labels.empty()) os_ << (labels_.empty() ? "" : ",") << extra_labels;
  os_ << "} ";
}

void prometheus_text::histogram(std::string_view name, std::string_view help, const coraft::histogram& h) {
  family(name, "histogram", help);
  histogram_samples(name, {}, h);
}

void prometheus_text::histogram_samples(std::string_view name, std::string_view extra_labels,
                                        const coraft::histogram& h) {
  const std::string n(name);
  const std::string before = extra_labels.empty() ? std::string() : std::string(extra_labels) + ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < std::size(coraft::histogram::bounds); ++i) {
    cumulative += h.buckets[i];
    std::ostringstream le;
    le << before << "le=\"" << coraft::histogram::bounds[i] << '"';
    sample(n + "_bucket", le.str(), cumulative);
  }
  sample(n + "_bucket", before + "le=\"+Inf\"", h.count);
  sample(n + "_sum", extra_labels, h.sum);
  sample(n + "_count", extra_labels, h.count);
}

}  // namespace coraft::net
