// prometheus_test.cpp — the one Prometheus text writer: families, common and
// extra labels, cumulative histogram buckets; labelled histograms; the
// routes' metric labels; the network parts' metrics every service writes.
#include <boost/test/unit_test.hpp>

#include <coraft/net/http.hpp>
#include <coraft/net/net_metrics.hpp>
#include <coraft/net/prometheus.hpp>
#include <coraft/net/tcp_transport.hpp>

#include <boost/asio/io_context.hpp>

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

BOOST_AUTO_TEST_CASE(labelled_histograms_put_their_labels_before_le) {
  coraft::histogram h;
  h.observe(0.003);
  coraft::net::prometheus_text m("node=\"1\"");
  m.family("rtt_seconds", "histogram", "RTT.");
  m.histogram_samples("rtt_seconds", "peer=\"2\"", h);
  m.histogram_samples("rtt_seconds", "peer=\"3\"", coraft::histogram{});
  const std::string s = m.str();
  BOOST_TEST(s.find("# TYPE rtt_seconds histogram\n") == s.find("# TYPE"), "one header for the family");
  BOOST_TEST(s.find("# TYPE", s.find("# TYPE") + 1) == std::string::npos);
  BOOST_TEST(s.find("rtt_seconds_bucket{node=\"1\",peer=\"2\",le=\"0.005\"} 1\n") != std::string::npos);
  BOOST_TEST(s.find("rtt_seconds_bucket{node=\"1\",peer=\"2\",le=\"+Inf\"} 1\n") != std::string::npos);
  BOOST_TEST(s.find("rtt_seconds_count{node=\"1\",peer=\"2\"} 1\n") != std::string::npos);
  BOOST_TEST(s.find("rtt_seconds_count{node=\"1\",peer=\"3\"} 0\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(routes_are_labelled_by_pattern_never_by_path) {
  using coraft::net::http_request;
  using coraft::net::http_response;
  coraft::net::http_router r;
  auto h = [](const http_request&) -> boost::asio::awaitable<http_response> { co_return http_response{}; };
  r.add("GET", "/v1/status", h);
  r.add("GET", "/v1/members/*", h);
  r.add("GET", "/v1/kv/*", h, "/v1/kv/{key}");
  auto label_of = [&r](const std::string& path) {
    int status = 0;
    std::string allowed;
    const std::string* label = nullptr;
    return r.find("GET", path, status, allowed, &label) != nullptr && label != nullptr ? *label : "none";
  };
  BOOST_TEST(label_of("/v1/status") == "/v1/status");
  BOOST_TEST(label_of("/v1/members/3") == "/v1/members/{id}");
  BOOST_TEST(label_of("/v1/kv/some/key") == "/v1/kv/{key}");
  BOOST_TEST(label_of("/nowhere") == "none");
}

BOOST_AUTO_TEST_CASE(every_service_writes_the_same_network_metrics) {
  boost::asio::io_context io;
  coraft::net::http_server http(io.get_executor(), {}, {});
  coraft::net::tcp_transport_stats t;
  t.bytes_sent = 1234;
  t.dropped_queue_full = 2;
  t.dropped_other = 1;
  coraft::net::prometheus_text m("node=\"1\"");
  coraft::net::write_net_metrics(m, t, http, "/");
  const std::string s = m.str();
  for (const char* line :
       {"coraft_net_sent_bytes_total{node=\"1\"} 1234\n",
        "coraft_net_dropped_total{node=\"1\",cause=\"queue_full\"} 2\n",
        "coraft_net_dropped_total{node=\"1\",cause=\"other\"} 1\n",
        "coraft_http_responses_total{node=\"1\",code=\"2xx\"} 0\n",
        "coraft_http_connections_refused_total{node=\"1\"} 0\n", "coraft_net_connect_failures_total{node=\"1\"} 0\n"})
    BOOST_TEST(s.find(line) != std::string::npos, line);
  BOOST_TEST(s.find("coraft_data_dir_free_bytes{node=\"1\"} ") != std::string::npos);
  BOOST_TEST(s.find("coraft_data_dir_capacity_bytes{node=\"1\"} ") != std::string::npos);
  BOOST_TEST(s.find("coraft_data_dir_capacity_bytes{node=\"1\"} 0\n") == std::string::npos);
  // No requests yet: no duration series (and no family header without samples).
  BOOST_TEST(s.find("coraft_http_request_duration_seconds") == std::string::npos);
  coraft::net::prometheus_text gone("node=\"1\"");
  coraft::net::write_net_metrics(gone, t, http, "/no/such/dir/coraft");
  BOOST_TEST(gone.str().find("coraft_data_dir_free_bytes") == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
