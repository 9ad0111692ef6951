// net_metrics.cpp — see coraft/net/net_metrics.hpp.
#include <coraft/net/http.hpp>
#include <coraft/net/net_metrics.hpp>
#include <coraft/net/tcp_transport.hpp>

#include <sys/statvfs.h>

namespace coraft::net {

void write_net_metrics(prometheus_text& m, const tcp_transport_stats& t, const http_server& http,
                       const std::string& data_dir) {
  m.counter("coraft_net_frames_sent_total", "Raft frames sent to peers.", t.frames_sent);
  m.counter("coraft_net_frames_received_total", "Raft frames received from peers.", t.frames_received);
  m.counter("coraft_net_sent_bytes_total", "Bytes of Raft frames sent to peers.", t.bytes_sent);
  m.counter("coraft_net_received_bytes_total", "Bytes of Raft frames received from peers.", t.bytes_received);
  m.counter("coraft_net_decode_errors_total", "Malformed frames (each closed its connection).", t.decode_errors);
  m.family("coraft_net_dropped_total", "counter",
           "Messages dropped, by cause: queue_full (the oldest of a peer's full queue), other (unknown peer, "
           "oversize, lost with a broken connection, stopped).");
  m.sample("coraft_net_dropped_total", "cause=\"queue_full\"", t.dropped_queue_full);
  m.sample("coraft_net_dropped_total", "cause=\"other\"", t.dropped_other);
  m.counter("coraft_net_connects_total", "Outbound peer connections established.", t.connects);
  m.counter("coraft_net_connect_failures_total", "Outbound peer dials (or hellos) that failed.", t.connect_failures);
  m.counter("coraft_net_connections_accepted_total", "Inbound peer connections that passed the hello.",
            t.connections_accepted);
  m.counter("coraft_net_connections_refused_total",
            "Inbound peer connections refused (wrong cluster or peer, no hello, too many).", t.connections_refused);
  m.counter("coraft_net_tls_refused_total",
            "Inbound peer connections refused by TLS (handshake, or a certificate naming another member).",
            t.tls_refused);
  m.gauge("coraft_net_peers_connected", "Peers with an outbound connection up.", t.peers_connected);
  m.gauge("coraft_net_inbound_connections", "Inbound peer connections open.", t.inbound_connections);

  const http_stats& h = http.stats();
  m.counter("coraft_http_requests_total", "HTTP requests served.", h.requests);
  m.family("coraft_http_responses_total", "counter", "HTTP responses, by status class.");
  m.sample("coraft_http_responses_total", "code=\"2xx\"", h.responses_2xx);
  m.sample("coraft_http_responses_total", "code=\"3xx\"", h.responses_3xx);
  m.sample("coraft_http_responses_total", "code=\"4xx\"", h.responses_4xx);
  m.sample("coraft_http_responses_total", "code=\"5xx\"", h.responses_5xx);
  m.counter("coraft_http_connections_accepted_total", "HTTP connections accepted.", h.connections_accepted);
  m.counter("coraft_http_connections_refused_total", "HTTP connections refused (max_connections open).",
            h.connections_refused);
  m.gauge("coraft_http_connections_open", "HTTP connections open.", h.connections_open);
  m.counter("coraft_http_tls_refused_total", "HTTPS handshakes that failed (a missing or bad client certificate...).",
            h.tls_refused);
  if (!h.request_seconds.empty()) {
    m.family("coraft_http_request_duration_seconds", "histogram",
             "From an HTTP request read to its answer written, by method, route pattern and status class.");
    for (const auto& [key, hist] : h.request_seconds) {
      const auto& [method, route, code] = key;
      m.histogram_samples("coraft_http_request_duration_seconds",
                          "method=\"" + method + "\",route=\"" + route + "\",code=\"" + code + "\"", hist);
    }
  }

  struct statvfs fs {};
  if (!data_dir.empty() && ::statvfs(data_dir.c_str(), &fs) == 0) {
    m.gauge("coraft_data_dir_free_bytes", "Bytes free for this node on the data directory's file system.",
            static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize);
    m.gauge("coraft_data_dir_capacity_bytes", "Size of the data directory's file system in bytes.",
            static_cast<std::uint64_t>(fs.f_blocks) * fs.f_frsize);
  }
}

}  // namespace coraft::net
