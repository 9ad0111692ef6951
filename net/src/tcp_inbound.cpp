// tcp_inbound.cpp — the inbound side: the accept loop, and one reader task
// per connection that checks the hello (cluster id, node id) within
// hello_timeout, then decodes frames with a frame_reader and delivers each
// read's messages to the node as one batch. A bad frame closes only its
// connection. See tcp_transport_impl.hpp.
#include "tcp_transport_impl.hpp"

#include <coraft/net/frame_reader.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>

namespace coraft::net {

using namespace asio::experimental::awaitable_operators;

// One read_some, or timed_out at `deadline`.
awaitable<std::tuple<error_code, std::size_t>> tcp_transport::impl::read_before(peer_stream& stream,
                                                                                asio::mutable_buffer into,
                                                                                clock_type::time_point deadline) {
  asio::steady_timer timer(strand_, deadline);
  auto read = stream.read_some(into);
  auto timeout = timer.async_wait(use_tuple);
  auto r = co_await (std::move(read) || std::move(timeout));
  if (r.index() == 1) co_return std::tuple<error_code, std::size_t>{asio::error::timed_out, 0};
  co_return std::get<0>(std::move(r));
}

awaitable<std::string> tcp_transport::impl::accept_tls(peer_stream& stream, clock_type::time_point deadline) {
  asio::steady_timer timer(strand_, deadline);
  auto r =
      co_await (stream.tls().async_handshake(asio::ssl::stream_base::server, use_tuple) || timer.async_wait(use_tuple));
  if (r.index() == 1) co_return "no TLS handshake in time";
  if (const error_code ec = std::get<0>(std::get<0>(r)))
    co_return "TLS handshake failed: " + tls_error_text(ec, stream.tls().native_handle());
  co_return std::string();
}

std::string tcp_transport::impl::check_peer_certificate(peer_stream& stream, node_id from) const {
  const auto it = peers_.find(from);
  // A node we know no address for (one that joined, whose configuration
  // entry has not reached us yet): its certificate chains to our CA, which
  // is all we can check. Refusing it could keep a lagging follower from
  // ever hearing of a new leader.
  if (it == peers_.end()) return {};
  X509* cert = SSL_get_peer_certificate(stream.tls().native_handle());
  const bool named = certificate_names(cert, it->second.address.host);
  X509_free(cert);
  if (named) return {};
  return "its certificate does not name " + it->second.address.host + ", the host of node " + std::to_string(from) +
         " (one member's certificate cannot speak for another)";
}

// ---- receiving --------------------------------------------------------
awaitable<void> tcp_transport::impl::accept_loop() {
  while (!stopping_) {
    auto [ec, sock] = co_await acceptor_.async_accept(use_tuple);
    if (stopping_ || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of descriptors, or the like: do not spin.
      warn(refuse_limit_, "accept failed: " + ec.message());
      co_await sleep(std::chrono::milliseconds(100));
      continue;
    }
    if (inbound_.size() >= opts_.max_inbound_connections) {
      ++stats_.connections_refused;
      warn(refuse_limit_, "refused a connection: already " + std::to_string(inbound_.size()) + " inbound");
      continue;  // `sock` closes here
    }
    tasks_.spawn(
        "reader",
        [this, s = std::make_shared<tcp::socket>(std::move(sock))]() mutable { return read_loop(std::move(*s)); },
        detail::task_group::on_error::end);
  }
}

void tcp_transport::impl::refuse(const std::string& remote, const std::string& why) {
  ++stats_.connections_refused;
  warn(refuse_limit_, "refused connection from " + remote + ": " + why);
}

void tcp_transport::impl::bad_frame(const std::string& remote, node_id from, const std::string& why) {
  ++stats_.decode_errors;
  warn(decode_limit_, "closing connection from " + remote +
                          (from != no_node ? " (node " + std::to_string(from) + ")" : std::string()) + ": " + why);
}

// Accepts `h` as the connection's hello, or says why not.
std::string tcp_transport::impl::check_hello(const hello& h) const {
  if (h.cluster_id != opts_.cluster_id) return "hello from cluster '" + h.cluster_id + "', not ours";
  // Any other node of our cluster may talk to us: a member we do not know
  // yet (it joined, or we are the one joining) must reach us before its
  // configuration entry does.
  if (h.id == opts_.self || h.id == no_node) return "hello with node id " + std::to_string(h.id);
  return {};
}

// Reads one inbound connection: a hello, then raft messages for the node.
awaitable<void> tcp_transport::impl::read_loop(tcp::socket sock) {
  peer_stream stream(std::move(sock), tls_.get());
  inbound_registration reg(*this, stream.socket());
  error_code ec;
  const auto remote_ep = stream.socket().remote_endpoint(ec);
  const std::string remote = ec ? std::string("?") : to_string(remote_ep);
  const auto hello_deadline = clock_type::now() + opts_.hello_timeout;
  node_id from = no_node;  // set by the hello
  // TLS: nothing is read from a peer before its certificate chains to our CA.
  if (stream.secure()) {
    if (const std::string why = co_await accept_tls(stream, hello_deadline); !why.empty()) {
      ++stats_.tls_refused;
      refuse(remote, why);
      co_return;
    }
  }

  frame_reader reader(opts_.max_frame_bytes);
  while (true) {
    // Every complete frame received so far, delivered as one batch.
    std::vector<message> batch;
    while (true) {
      auto f = reader.next();
      if (!f) {
        bad_frame(remote, from, f.error().message());
        co_return;
      }
      if (!*f) break;
      const frame_reader::frame& fr = **f;
      if (from == no_node) {
        if (fr.type != frame_type::hello) {
          refuse(remote, "the first frame is not a hello");
          co_return;
        }
        auto hi = decode_hello(fr.body);
        if (!hi) {
          bad_frame(remote, from, "hello: " + hi.error().message());
          co_return;
        }
        if (const std::string why = check_hello(*hi); !why.empty()) {
          refuse(remote, why);
          co_return;
        }
        if (stream.secure()) {
          if (const std::string why = check_peer_certificate(stream, hi->id); !why.empty()) {
            ++stats_.tls_refused;
            refuse(remote, "hello from node " + std::to_string(hi->id) + ", but " + why);
            co_return;
          }
        }
        from = hi->id;
        reg.it->from = from;
        ++stats_.connections_accepted;
        // A peer dials anew when its old connection broke; if ours did not
        // notice (a silent network), close the stale one now.
        for (auto& in : inbound_)
          if (in.from == from && in.sock != &stream.socket()) in.sock->close(ec);
      } else {
        if (fr.type != frame_type::raft_message) {
          bad_frame(remote, from, "a second hello");
          co_return;
        }
        auto m = decode_message(fr.body);
        if (!m) {
          bad_frame(remote, from, m.error().message());
          co_return;
        }
        if (m->from != from || m->to != opts_.self) {
          bad_frame(remote, from,
                    "message " + std::to_string(m->from) + "->" + std::to_string(m->to) + " on this connection");
          co_return;
        }
        batch.push_back(std::move(*m));
      }
      ++stats_.frames_received;
      stats_.bytes_received += fr.size;
    }
    if (!batch.empty()) {
      if (node* n = node_.load()) n->deliver(std::move(batch));
    }

    std::size_t n = 0;
    const std::span<char> space = reader.space();
    const asio::mutable_buffer into(space.data(), space.size());
    if (from == no_node) {
      std::tie(ec, n) = co_await read_before(stream, into, hello_deadline);
      if (ec == asio::error::timed_out) {
        refuse(remote, "no hello in time");
        co_return;
      }
    } else {
      std::tie(ec, n) = co_await stream.read_some(into);
    }
    if (ec) {
      if (!stopping_ && ec != asio::error::eof && ec != asio::error::operation_aborted)
        log_line(log_level::info, opts_.self, "net", "connection from " + remote + " closed: " + ec.message());
      co_return;
    }
    reader.received(n);
  }
}
}  // namespace coraft::net
