// tcp_outbound.cpp — the outbound link of each peer: one writer task dials
// (re-resolving host names each time), says hello, sends the peer's queue
// batch by batch until the connection breaks, then backs off (jittered,
// doubling up to reconnect_max) and dials again. See tcp_transport_impl.hpp.
#include "tcp_transport_impl.hpp"

#include "resolve.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>

namespace coraft::net {

using namespace asio::experimental::awaitable_operators;

// ---- sending ----------------------------------------------------------
void tcp_transport::impl::on_send(node_id to, std::vector<message>& batch) {
  auto it = peers_.find(to);
  if (stopping_ || it == peers_.end() || it->second.retired) {
    stats_.dropped_other += batch.size();
    return;
  }
  peer& p = it->second;
  for (auto& m : batch) p.queue.push_back(std::move(m));
  // Full: the oldest go. Raft retries, and the newest carry the newest state.
  while (p.queue.size() > opts_.max_queued_messages) {
    p.queue.pop_front();
    ++stats_.dropped_queue_full;
  }
  p.wake.notify();
}

// Connects `sock` to the peer (source bound to our raft IP).
awaitable<error_code> tcp_transport::impl::dial(peer& p, tcp::socket& sock) {
  // Resolved on every dial: a peer that came back under its name on a new
  // address is found there (issue 17).
  auto [rec, targets] = co_await resolve_endpoints(p.address, strand_);
  if (rec) co_return rec;
  error_code ec = asio::error::host_not_found;
  for (const auto& target : targets) {
    error_code ignored;
    sock.close(ignored);
    sock.open(target.protocol(), ec);
    if (ec) continue;
    if (!listen_.address().is_unspecified() && listen_.address().is_v4() == target.address().is_v4()) {
      sock.bind(tcp::endpoint(listen_.address(), 0), ec);
      if (ec) continue;
    }
    asio::steady_timer timer(strand_, opts_.connect_timeout);
    auto connect = sock.async_connect(target, use_tuple);
    auto timeout = timer.async_wait(use_tuple);
    auto r = co_await (std::move(connect) || std::move(timeout));
    ec = r.index() == 1 ? error_code(asio::error::timed_out) : std::get<0>(std::get<0>(r));
    if (!ec) break;
  }
  if (ec) co_return ec;
  error_code ignored;
  sock.set_option(tcp::no_delay(true), ignored);
  if (opts_.user_timeout.count() > 0) {
    const auto ms = static_cast<unsigned>(opts_.user_timeout.count());
    (void)::setsockopt(sock.native_handle(), IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);
  }
  co_return error_code{};
}

awaitable<error_code> tcp_transport::impl::greet(peer& p, peer_stream& stream) {
  if (stream.secure()) {
    auto& tls = stream.tls();
    // The peer must prove it is the host we dialled: its certificate names
    // the advertised host (a name, or an IP) in its subject alt names.
    tls.set_verify_callback(asio::ssl::host_name_verification(p.address.host));
    error_code not_an_ip;
    (void)asio::ip::make_address(p.address.host, not_an_ip);
    if (not_an_ip) SSL_set_tlsext_host_name(tls.native_handle(), p.address.host.c_str());  // SNI: names only
    asio::steady_timer timer(strand_, opts_.connect_timeout);
    auto r = co_await (tls.async_handshake(asio::ssl::stream_base::client, use_tuple) || timer.async_wait(use_tuple));
    if (r.index() == 1) co_return asio::error::timed_out;
    if (const error_code ec = std::get<0>(std::get<0>(r))) {
      warn(p.warn_limit, "TLS handshake with node " + std::to_string(p.id) + " at " + p.address.str() +
                             " failed: " + tls_error_text(ec, tls.native_handle()));
      co_return ec;
    }
  }
  std::vector<char> frame;
  encode_hello(hello{opts_.cluster_id, opts_.self}, frame);
  co_return co_await write_all(stream, frame);
}

// Sends the queue, batch by batch, until the connection fails (returns).
awaitable<void> tcp_transport::impl::write_loop(peer& p, peer_stream& stream) {
  std::vector<char> buf;
  while (true) {
    while (p.queue.empty()) {
      co_await p.wake.wait();
      if (stopping_ || p.retired) co_return;
      if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) co_return;
    }
    buf.clear();
    std::uint64_t frames = 0;
    while (!p.queue.empty() && buf.size() < write_batch_bytes) {
      const std::size_t start = buf.size();
      try {
        encode(p.queue.front(), buf);
      } catch (const std::length_error&) {
        buf.resize(start);
      }
      if (buf.size() == start || buf.size() - start > opts_.max_frame_bytes) {
        buf.resize(start);
        ++stats_.dropped_other;
        warn(p.warn_limit, "dropped a " + std::string(type_name(p.queue.front())) + " to node " + std::to_string(p.id) +
                               ": larger than the max frame size");
      } else {
        ++frames;
      }
      p.queue.pop_front();
    }
    if (frames == 0) continue;
    const error_code ec = co_await write_all(stream, buf);
    if (ec) {
      stats_.dropped_other += frames;
      warn(p.warn_limit, "send to node " + std::to_string(p.id) + " failed: " + ec.message());
      co_return;
    }
    stats_.frames_sent += frames;
    stats_.bytes_sent += buf.size();
    if (buf.capacity() > 2 * write_batch_bytes) std::vector<char>().swap(buf);
  }
}

// Completes when the peer closes our outbound connection (it never writes
// on it; anything it sends is treated the same way).
awaitable<void> tcp_transport::impl::watch_close(peer_stream& stream) {
  char byte = 0;
  auto [ec, n] = co_await stream.read_some(asio::buffer(&byte, 1));
  (void)ec;
  (void)n;
}

void tcp_transport::impl::spawn_writer(node_id id) {
  tasks_.spawn(
      "writer to node " + std::to_string(id), [this, id] { return peer_task(id); },
      detail::task_group::on_error::restart);
}

// The writer of one peer: connect, say hello, send until the connection
// breaks, back off, again.
awaitable<void> tcp_transport::impl::peer_task(node_id id) {
  peer& p = peers_.at(id);
  if (p.task_running) co_return;  // a restart raced with a new writer
  p.task_running = true;
  struct done_flag {
    bool& f;
    ~done_flag() { f = false; }
  } done{p.task_running};
  std::chrono::milliseconds backoff = opts_.reconnect_initial;
  while (!stopping_ && !p.retired) {
    tcp::socket sock(strand_);
    error_code ec = co_await dial(p, sock);
    peer_stream stream(std::move(sock), tls_.get());
    if (!ec && !stopping_) ec = co_await greet(p, stream);
    if (stopping_) co_return;
    if (ec) {
      ++stats_.connect_failures;
      warn(p.warn_limit,
           "cannot connect to node " + std::to_string(id) + " at " + p.address.str() + ": " + ec.message());
    } else {
      ++stats_.connects;
      log_line(log_level::info, opts_.self, "net", "connected to node " + std::to_string(id),
               {{"peer", std::to_string(id)}});
      record_event("peer_connected", "connected to node " + std::to_string(id), id);
      const auto since = clock_type::now();
      {
        connection_up up(*this, p, stream.socket());
        auto writing = write_loop(p, stream);
        auto closing = watch_close(stream);
        co_await (std::move(writing) || std::move(closing));
      }
      if (stopping_) co_return;
      log_line(log_level::info, opts_.self, "net", "connection to node " + std::to_string(id) + " lost",
               {{"peer", std::to_string(id)}});
      record_event("peer_lost", "connection to node " + std::to_string(id) + " lost", id);
      // A connection that lasted resets the backoff; one dropped at once
      // (a peer refusing our hello) keeps backing off.
      if (clock_type::now() - since > opts_.reconnect_max) backoff = opts_.reconnect_initial;
    }
    error_code ignored;
    stream.socket().close(ignored);
    co_await sleep(jittered(backoff));
    backoff = std::min(backoff * 2, opts_.reconnect_max);
  }
}
}  // namespace coraft::net
