// coraft/net/net_metrics.hpp — the metrics of a service node's own parts
// (peer transport, HTTP server, data directory), written the same way by
// every service: coraft-kv and run_service() call this, and an embedder
// that wires the parts itself should too, so that dashboards and alert
// rules find the same names everywhere.
//
// Names (Prometheus conventions: base units, _bytes, _seconds, _total):
//   coraft_net_frames_{sent,received}_total, coraft_net_{sent,received}_bytes_total,
//   coraft_net_decode_errors_total, coraft_net_dropped_total{cause="queue_full|other"},
//   coraft_net_connects_total, coraft_net_connect_failures_total,
//   coraft_net_connections_{accepted,refused}_total, coraft_net_tls_refused_total,
//   coraft_net_peers_connected, coraft_net_inbound_connections;
//   coraft_http_requests_total, coraft_http_responses_total{code="2xx|3xx|4xx|5xx"},
//   coraft_http_connections_{accepted,refused}_total, coraft_http_connections_open,
//   coraft_http_tls_refused_total,
//   coraft_http_request_duration_seconds{method,route,code} (route: the
//   router's pattern label, never the raw path);
//   coraft_data_dir_free_bytes, coraft_data_dir_capacity_bytes (statvfs;
//   left out when the directory cannot be examined).
//
// Threading: on the HTTP server's executor (http_server::stats() is read
// there), e.g. in admin_context::extra_metrics.
#pragma once

#include <coraft/net/prometheus.hpp>

#include <string>

namespace coraft::net {

struct tcp_transport_stats;
class http_server;

void write_net_metrics(prometheus_text& m, const tcp_transport_stats& transport, const http_server& http,
                       const std::string& data_dir);

}  // namespace coraft::net
