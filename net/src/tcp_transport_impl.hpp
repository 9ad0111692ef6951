// tcp_transport_impl.hpp — the TCP transport's state, shared by its three
// parts (private to net/src):
//   tcp_transport.cpp  start, stop, membership changes, helpers, the API;
//   tcp_outbound.cpp   the outbound link of each peer: dial, hello, write
//                      loop, backoff (one writer task per peer, restarted if
//                      it fails);
//   tcp_inbound.cpp    the inbound side: accept, hello check, read loop over
//                      a frame_reader (one reader task per connection).
//
// Threading: everything in `impl` runs only on `strand_`; send() posts onto
// it, stats() reads atomics. Coroutines awaited by a task own nothing the
// task does not outlive: sockets are owned by value by the task that reads
// or writes them, and helpers take them by reference.
#pragma once

#include <coraft/net/tcp_transport.hpp>

#include <coraft/detail/task_group.hpp>
#include <coraft/detail/wakeup.hpp>
#include <coraft/events.hpp>
#include <coraft/log.hpp>
#include <coraft/net/address.hpp>
#include <coraft/net/frame.hpp>
#include <coraft/node.hpp>

#include "peer_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <list>
#include <map>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace coraft::net {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using boost::system::error_code;
using clock_type = std::chrono::steady_clock;
using detail::wakeup;

inline constexpr auto use_tuple = asio::as_tuple(use_awaitable);

// The writer stops adding frames to one write past this many bytes.
inline constexpr std::size_t write_batch_bytes = 4u << 20;

// Addresses, as the one parser reads them (coraft/net/address.hpp).
inline host_port split_host_port(const std::string& s, host_port_rules rules = {}) {
  try {
    return parse_host_port(s, rules);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("coraft net: ") + e.what());
  }
}

inline std::string to_string(const tcp::endpoint& ep) {
  const auto a = ep.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

struct tcp_transport::impl {
  impl(asio::any_io_executor ex, tcp_transport_options o);

  // One peer we send to. The writer task owns the connection; `sock` points
  // at it while connected (so that stop() can close it).
  struct peer {
    peer(node_id i, host_port a, const asio::any_io_executor& ex) : id(i), address(std::move(a)), wake(ex) {}
    node_id id;
    host_port address;
    std::deque<message> queue;  // Invariant: size() <= max_queued_messages
    wakeup wake;                // notified when queue gains messages (and at stop)
    tcp::socket* sock = nullptr;
    log_rate_limiter warn_limit;
    bool retired = false;       // no longer a member: its writer ends, sends are dropped
    bool task_running = false;  // its peer_task is alive
  };

  // One accepted connection; `from` is set once its hello passed.
  struct inbound {
    tcp::socket* sock = nullptr;
    node_id from = no_node;
  };

  asio::strand<asio::any_io_executor> strand_;
  tcp_transport_options opts_;
  host_port listen_at_;   // opts_.listen, parsed (a name is resolved at start)
  tcp::endpoint listen_;  // where we listen: the source IP of our dials too
  tcp::acceptor acceptor_;
  std::unique_ptr<asio::ssl::context> tls_;  // set: every connection is mutual TLS
  std::map<node_id, peer> peers_;
  std::list<inbound> inbound_;
  std::atomic<node*> node_{nullptr};
  bool started_ = false;
  bool stopping_ = false;
  std::minstd_rand jitter_{std::random_device{}()};
  log_rate_limiter decode_limit_;
  log_rate_limiter refuse_limit_;

  struct counters {
    std::atomic<std::uint64_t> frames_sent{0}, bytes_sent{0}, frames_received{0}, bytes_received{0},
        connections_accepted{0}, connections_refused{0}, decode_errors{0}, dropped_queue_full{0}, dropped_other{0},
        connects{0}, connect_failures{0}, peers_connected{0}, inbound_connections{0}, tls_refused{0};
  } stats_;

  // Every task is a child of one group: a peer's writer and the accept
  // loop are restarted if they fail (a peer must never be left without a
  // writer), an inbound connection's reader just ends (the peer redials).
  detail::task_group tasks_{strand_, opts_.self, "net", nullptr};

  awaitable<void> stop_on_strand();

  // ---- helpers (tcp_transport.cpp) ---------------------------------------
  void warn(log_rate_limiter& limit, std::string text);
  // Into the attached node's history (/v1/events), if one is attached.
  void record_event(std::string kind, std::string message, node_id peer_id);

  clock_type::duration jittered(std::chrono::milliseconds d);

  awaitable<void> sleep(clock_type::duration d);

  // Writes all of `bytes`, or fails with timed_out after write_timeout.
  awaitable<error_code> write_all(peer_stream& stream, std::span<const char> bytes);

  // ---- the outbound link (tcp_outbound.cpp) -------------------------------
  void on_send(node_id to, std::vector<message>& batch);

  // Connects `sock` to the peer (source bound to our raft IP).
  awaitable<error_code> dial(peer& p, tcp::socket& sock);

  // On a connected stream: the TLS handshake (the peer's certificate must
  // name the host we dialled), then our hello.
  awaitable<error_code> greet(peer& p, peer_stream& stream);

  // Sends the queue, batch by batch, until the connection fails (returns).
  awaitable<void> write_loop(peer& p, peer_stream& stream);

  // Completes when the peer closes our outbound connection (it never writes
  // on it; anything it sends is treated the same way).
  static awaitable<void> watch_close(peer_stream& stream);

  // Marks a peer connected for the scope's lifetime (exceptions included).
  struct connection_up {
    impl& self;
    peer& p;
    connection_up(impl& s, peer& pe, tcp::socket& sock) : self(s), p(pe) {
      p.sock = &sock;
      ++self.stats_.peers_connected;
    }
    ~connection_up() {
      p.sock = nullptr;
      --self.stats_.peers_connected;
    }
    connection_up(const connection_up&) = delete;
    connection_up& operator=(const connection_up&) = delete;
  };

  void spawn_writer(node_id id);

  // The writer of one peer: connect, say hello, send until the connection
  // breaks, back off, again.
  awaitable<void> peer_task(node_id id);

  // ---- the inbound side (tcp_inbound.cpp) ---------------------------------
  awaitable<void> accept_loop();

  // Registers an accepted connection for its lifetime (stop() closes it).
  struct inbound_registration {
    impl& self;
    std::list<inbound>::iterator it;
    inbound_registration(impl& s, tcp::socket& sock) : self(s), it(s.inbound_.insert(s.inbound_.end(), {&sock})) {
      ++self.stats_.inbound_connections;
    }
    ~inbound_registration() {
      self.inbound_.erase(it);
      --self.stats_.inbound_connections;
    }
    inbound_registration(const inbound_registration&) = delete;
    inbound_registration& operator=(const inbound_registration&) = delete;
  };

  void refuse(const std::string& remote, const std::string& why);

  void bad_frame(const std::string& remote, node_id from, const std::string& why);

  // Accepts `h` as the connection's hello, or says why not.
  std::string check_hello(const hello& h) const;

  // One read_some, or timed_out at `deadline`.
  awaitable<std::tuple<error_code, std::size_t>> read_before(peer_stream& stream, asio::mutable_buffer into,
                                                             clock_type::time_point deadline);

  // TLS: the handshake of an accepted connection, by `deadline`; an empty
  // string, or why it failed.
  awaitable<std::string> accept_tls(peer_stream& stream, clock_type::time_point deadline);

  // TLS: whether the certificate of an inbound connection whose hello says
  // node `from` names that member's advertised host (empty: it does, or
  // we know no address for `from` yet — a member that just joined).
  std::string check_peer_certificate(peer_stream& stream, node_id from) const;

  // Reads one inbound connection: a hello, then raft messages for the node.
  awaitable<void> read_loop(tcp::socket sock);

  // ---- start, stop, membership (tcp_transport.cpp) ------------------------
  awaitable<void> start_on_strand();

  // The configuration changed: start writers for new members, follow
  // changed addresses (from the next connection on), retire departed ones.
  void on_set_peers(const std::map<node_id, std::string>& peers);

  tcp_transport_stats snapshot() const;
};

}  // namespace coraft::net
