// prometheus_test.cpp — the one Prometheus text writer: families, common and
// extra labels, cumulative histogram buckets.
#include <boost/test/unit_test.hpp>

#include <coraft/net/prometheus.hpp>

BOOST_AUTO_TEST_SUITE(prometheus)

BOOST_AUTO_TEST_CASE(gauges_counters_and_families_carry_help_type_and_labels) {
  coraft::net::prometheus_text m("node=\"2\"");
  m.gauge("coraft_term", "Current Raft term.", std::uint64_t{7});
  m.counter("coraft_reads_ok_total", "Reads.", 12345678901ull);  // never in exponent form
  m.family("coraft_replication_lag_entries", "gauge", "Lag.");
  m.sample("coraft_replication_lag_entries", "peer=\"1\"", 0);
  m.sample("coraft_replication_lag_entries", "peer=\"3\"", 5);
  BOOST_TEST(m.str() ==
             "# HELP coraft_term Current Raft term.\n# TYPE coraft_term gauge\ncoraft_term{node=\"2\"} 7\n"
             "# HELP coraft_reads_ok_total Reads.\n# TYPE coraft_reads_ok_total counter\n"
             "coraft_reads_ok_total{node=\"2\"} 12345678901\n"
             "# HELP coraft_replication_lag_entries Lag.\n# TYPE coraft_replication_lag_entries gauge\n"
             "coraft_replication_lag_entries{node=\"2\",peer=\"1\"} 0\n"
             "coraft_replication_lag_entries{node=\"2\",peer=\"3\"} 5\n");
}

BOOST_AUTO_TEST_CASE(histogram_buckets_are_cumulative_and_end_with_inf_sum_and_count) {
  coraft::histogram h;
  h.observe(0.0002);  // <= 0.00025
  h.observe(0.003);   // <= 0.005
  h.observe(0.004);
  h.observe(10);  // above every bound: only +Inf
  coraft::net::prometheus_text m("node=\"1\"");
  m.histogram("x_seconds", "X.", h);
  const std::string s = m.str();
  BOOST_TEST(s.find("# TYPE x_seconds histogram\n") != std::string::npos);
  BOOST_TEST(s.find("x_seconds_bucket{node=\"1\",le=\"0.0001\"} 0\n") != std::string::npos);
  BOOST_TEST(s.find("x_seconds_bucket{node=\"1\",le=\"0.00025\"} 1\n") != std::string::npos);
  BOOST_TEST(s.find("x_seconds_bucket{node=\"1\",le=\"0.005\"} 3\n") != std::string::npos);
  BOOST_TEST(s.find("x_seconds_bucket{node=\"1\",le=\"2.5\"} 3\n") != std::string::npos);
  BOOST_TEST(s.find("x_seconds_bucket{node=\"1\",le=\"+Inf\"} 4\n") != std::string::npos);
  BOOST_TEST(s.find("x_seconds_count{node=\"1\"} 4\n") != std::string::npos);
  BOOST_TEST(s.find("x_seconds_sum{node=\"1\"} 10.0072\n") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
