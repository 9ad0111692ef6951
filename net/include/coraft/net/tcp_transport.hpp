// coraft/net/tcp_transport.hpp — the raft port: peers over TCP.
//
// Design.
// - One outbound connection per peer, used only to send from us to it, and
//   inbound connections accepted on our listen endpoint, used only to
//   receive. Each direction is one connection and one coroutine: a writer
//   per peer (which also connects and reconnects), a reader per accepted
//   connection, and the acceptor. No request/response pairing: Raft
//   messages are one-way, and the answer comes back on the peer's own
//   outbound connection.
// - Outgoing sockets bind their source address to our listen IP (port 0)
//   before connecting, so a firewall (and the peer's logs) can tell nodes
//   apart by address; tests give each node its own 127.0.0.x.
// - With tls set, every connection is TLS (1.2 at least) with certificates
//   on both sides, checked before any frame is read (see tls_files).
// - On connect the writer sends hello{cluster id, our id}. The acceptor
//   side reads a hello first and refuses (closes and logs) a connection from
//   another cluster, one claiming our own id, or one with anything else
//   first; later frames must be raft messages from that node to us. Node ids
//   we have no address for are accepted: a member that just joined (or a
//   leader, when we are the one joining) talks to us before its
//   configuration reaches us.
// - Peers change with the configuration (set_peers): new members get a
//   writer; departed ones are retired (queue dropped, connection closed).
// - Reader: a buffer, filled by read_some; every complete frame in it is
//   decoded (header validated before room for its body is made, the buffer
//   grown only as bytes arrive) and everything decoded from one read goes to
//   node::deliver() as one batch. Any decode error closes that connection
//   only, counted and logged (rate-limited).
// - Writer: waits for its peer's queue, encodes everything queued into one
//   buffer (a few MiB at most) and issues one async_write. A write error, a
//   write stalled past write_timeout, or the peer closing the connection
//   drops the connection and reconnects with exponential backoff and jitter.
// - send() only enqueues. A peer's queue holds at most max_queued_messages;
//   when full the OLDEST messages go (Raft retries; the newest carry the
//   newest state). Nothing ever blocks the node on a slow or dead peer.
//   Messages of an unknown peer, or larger than max_frame_bytes, are dropped.
//
// Threading: every member runs on the transport's strand; send() and
// deliveries cross strands by posting. stats() may be called from any
// thread. Lifetime: stop() cancels and awaits every task the transport
// spawned (a task group: count + wakeup, no `detached`). Stop (or detach)
// before destroying the attached node; stop the node first so that nothing
// calls send() during or after stop(); destroy the transport only after
// stop() returned.
#pragma once

#include <coraft/transport.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace coraft {
class node;
}

namespace coraft::net {

struct tcp_transport_options {
  node_id self = no_node;
  std::string cluster_id;                // hello: connections from other clusters are refused (<= 256 bytes)
  std::string listen;                    // our raft address "ip:port" ("[v6]:port"); also the source IP of dials
  std::map<node_id, std::string> peers;  // id -> "host:port" (self, if present, is ignored)
  std::size_t max_frame_bytes = std::size_t{64} << 20;  // header + body, both directions
  std::size_t max_queued_messages = 4096;               // per peer; oldest dropped beyond
  std::chrono::milliseconds reconnect_initial{50};      // backoff: doubles per failure...
  std::chrono::milliseconds reconnect_max{2000};        // ...up to this, with +-25% jitter
  std::chrono::milliseconds connect_timeout{2000};      // one dial attempt
  std::chrono::milliseconds write_timeout{5000};        // a stalled write drops the connection
  // TCP_USER_TIMEOUT: data sent but unacknowledged this long drops the
  // connection, and the dialer starts over. Without it a connection that
  // lived through a partition resumes only at TCP's next retransmission,
  // whose backoff doubles up to 120 s: a healed partition went unnoticed
  // for 6 s after 20 s cut off (coraft-chaos, issue 16). 0: the kernel's.
  std::chrono::milliseconds user_timeout{2000};
  std::chrono::milliseconds hello_timeout{5000};  // an accepted connection must say hello by then
  std::size_t max_inbound_connections = 256;      // beyond: accepted and closed at once
  // Mutual TLS (issue 17): all three PEM files, or none (plaintext). Each
  // side presents cert_file and requires the other's certificate to chain
  // to ca_file; a dialled peer's certificate must name the host we dial
  // (its advertised address, in the subject alternative names), and an
  // inbound peer's the host of the member its hello claims to be, so that
  // one node's certificate cannot speak for another. Checked at
  // construction (unreadable, mismatched, expired: std::runtime_error).
  struct tls_files {
    std::string cert_file, key_file, ca_file;
    // This node's advertised raft host: cert_file must name it (peers
    // would refuse it otherwise). Empty: not checked.
    std::string own_host;
    bool enabled() const { return !cert_file.empty() || !key_file.empty() || !ca_file.empty(); }
  } tls;
};

// Counters since construction (for /v1/metrics). Monotonic except the two
// gauges at the end.
struct tcp_transport_stats {
  std::uint64_t frames_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t frames_received = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t connections_accepted = 0;  // inbound connections that passed hello
  std::uint64_t connections_refused = 0;   // inbound: wrong cluster/peer, no hello, too many
  std::uint64_t decode_errors = 0;         // inbound connections closed for a bad frame
  std::uint64_t dropped_queue_full = 0;    // oldest messages dropped from full send queues
  std::uint64_t dropped_other = 0;         // unknown peer, oversize, lost with a broken connection, stopped
  std::uint64_t connects = 0;              // outbound connections established
  std::uint64_t connect_failures = 0;      // outbound dial (or hello) attempts that failed
  std::uint64_t peers_connected = 0;       // gauge: outbound connections up now
  std::uint64_t inbound_connections = 0;   // gauge: inbound connections open now
  std::uint64_t tls_refused = 0;           // inbound: TLS handshake failed, or a certificate naming another member
};

class tcp_transport final : public transport {
 public:
  tcp_transport(boost::asio::any_io_executor ex, tcp_transport_options opts);
  ~tcp_transport() override;
  tcp_transport(const tcp_transport&) = delete;
  tcp_transport& operator=(const tcp_transport&) = delete;

  // Binds and listens on opts.listen (throws std::runtime_error naming the
  // address when that fails, e.g. address in use), then starts the acceptor and one
  // writer per peer. Once only.
  boost::asio::awaitable<void> start();
  // Incoming messages go to n.deliver() from now on. Thread-safe.
  void attach(node& n);
  // Incoming messages are dropped from now on. Thread-safe; a delivery in
  // progress on another thread may still complete.
  void detach();
  // Closes the acceptor and every connection, cancels every task and waits
  // for all of them. Queued messages are dropped. Idempotent.
  boost::asio::awaitable<void> stop();

  // Enqueues `batch` for `to` and returns at once (see the header comment).
  boost::asio::awaitable<void> send(node_id to, std::vector<message> batch) override;

  // The members to send to (id -> "host:port"), replacing the current set.
  // Thread-safe; applied on the transport's strand.
  void set_peers(std::map<node_id, std::string> peers);

  tcp_transport_stats stats() const;
  node_id id() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace coraft::net
