// tcp_transport.cpp — the raft port over TCP (design in the header): start,
// stop, membership changes and the public API. The outbound link is in
// tcp_outbound.cpp, the inbound side in tcp_inbound.cpp.
#include "tcp_transport_impl.hpp"

#include "resolve.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <sstream>

namespace coraft::net {

using namespace asio::experimental::awaitable_operators;

tcp_transport::impl::impl(asio::any_io_executor ex, tcp_transport_options o)
    : strand_(asio::make_strand(ex)), opts_(std::move(o)), acceptor_(strand_) {
  if (opts_.cluster_id.size() > max_cluster_id_bytes)
    throw std::invalid_argument("coraft net: cluster id longer than 256 bytes");
  opts_.max_queued_messages = std::max<std::size_t>(opts_.max_queued_messages, 1);
  opts_.max_frame_bytes = std::max<std::size_t>(opts_.max_frame_bytes, frame_header_bytes + 64);
  listen_at_ = split_host_port(opts_.listen, {.allow_port_zero = true});
  if (opts_.tls.enabled())
    tls_ = make_peer_tls_context(opts_.tls.cert_file, opts_.tls.key_file, opts_.tls.ca_file, opts_.tls.own_host);
  for (const auto& [id, address] : opts_.peers) {
    if (id == opts_.self || id == no_node) continue;
    peers_.emplace(std::piecewise_construct, std::forward_as_tuple(id),
                   std::forward_as_tuple(id, split_host_port(address), strand_));
  }
}

awaitable<void> tcp_transport::impl::stop_on_strand() {
  if (!stopping_) {
    stopping_ = true;
    error_code ignored;
    acceptor_.close(ignored);
    for (auto& in : inbound_) in.sock->close(ignored);
    for (auto& [id, p] : peers_) {
      if (p.sock != nullptr) p.sock->close(ignored);
      stats_.dropped_other += p.queue.size();
      p.queue.clear();
      p.wake.notify();
    }
    tasks_.cancel();
  }
  co_await tasks_.wait();
}

// ---- helpers ----------------------------------------------------------
void tcp_transport::impl::warn(log_rate_limiter& limit, std::string text) {
  std::uint64_t suppressed = 0;
  if (!limit.allow(suppressed)) return;
  if (suppressed > 0) text += " (" + std::to_string(suppressed) + " similar suppressed)";
  log_line(log_level::warn, opts_.self, "net", text);
}

void tcp_transport::impl::record_event(std::string kind, std::string message, node_id peer_id) {
  if (node* n = node_.load())
    n->events().record(std::move(kind), std::move(message), {{"peer", std::to_string(peer_id)}});
}

clock_type::duration tcp_transport::impl::jittered(std::chrono::milliseconds d) {
  std::uniform_real_distribution<double> f(0.75, 1.25);
  return std::chrono::duration_cast<clock_type::duration>(d * f(jitter_));
}

awaitable<void> tcp_transport::impl::sleep(clock_type::duration d) {
  asio::steady_timer t(strand_, d);
  auto [ec] = co_await t.async_wait(use_tuple);
  (void)ec;
}

// Writes all of `bytes`, or fails with timed_out after write_timeout.
awaitable<error_code> tcp_transport::impl::write_all(peer_stream& stream, std::span<const char> bytes) {
  asio::steady_timer timer(strand_, opts_.write_timeout);
  auto write = stream.write(asio::buffer(bytes.data(), bytes.size()));
  auto timeout = timer.async_wait(use_tuple);
  auto r = co_await (std::move(write) || std::move(timeout));
  if (r.index() == 1) co_return asio::error::timed_out;
  co_return std::get<0>(std::get<0>(r));
}

awaitable<void> tcp_transport::impl::start_on_strand() {
  if (started_ || stopping_) throw std::logic_error("coraft net: tcp_transport started twice");
  listen_ = listen_endpoint(listen_at_, strand_, "the raft address: --listen-raft, or this node's in --cluster");
  boost::system::error_code ec;
  acceptor_.open(listen_.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(listen_, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::ostringstream where;
    where << listen_;
    throw std::runtime_error("cannot listen for raft peers on " + where.str() + ": " + ec.message() +
                             " (is another node already using this address? each member needs its own "
                             "raft address: --listen-raft, or this node's in --cluster)");
  }
  started_ = true;
  tasks_.spawn(
      "accept loop", [this] { return accept_loop(); }, detail::task_group::on_error::restart);
  for (auto& [id, p] : peers_) spawn_writer(id);
  co_return;
}

// The configuration changed: start writers for new members, follow
// changed addresses (from the next connection on), retire departed ones.
void tcp_transport::impl::on_set_peers(const std::map<node_id, std::string>& peers) {
  if (stopping_) return;
  for (const auto& [id, address] : peers) {
    if (id == opts_.self || id == no_node) continue;
    host_port hp;
    try {
      hp = split_host_port(address);
    } catch (const std::exception& e) {
      warn(refuse_limit_, "ignoring address '" + address + "' of node " + std::to_string(id) + ": " + e.what());
      continue;
    }
    auto it = peers_.find(id);
    if (it == peers_.end()) {
      it = peers_.emplace(std::piecewise_construct, std::forward_as_tuple(id), std::forward_as_tuple(id, hp, strand_))
               .first;
      log_line(log_level::info, opts_.self, "net", "new peer: node " + std::to_string(id) + " at " + address);
    } else {
      it->second.address = hp;
    }
    it->second.retired = false;
    if (started_ && !it->second.task_running) spawn_writer(id);
  }
  for (auto& [id, p] : peers_) {
    if (peers.contains(id) || p.retired) continue;
    p.retired = true;
    stats_.dropped_other += p.queue.size();
    p.queue.clear();
    error_code ignored;
    if (p.sock != nullptr) p.sock->close(ignored);
    p.wake.notify();
    log_line(log_level::info, opts_.self, "net", "node " + std::to_string(id) + " left the configuration");
  }
}

tcp_transport_stats tcp_transport::impl::snapshot() const {
  tcp_transport_stats s;
  s.frames_sent = stats_.frames_sent;
  s.bytes_sent = stats_.bytes_sent;
  s.frames_received = stats_.frames_received;
  s.bytes_received = stats_.bytes_received;
  s.connections_accepted = stats_.connections_accepted;
  s.connections_refused = stats_.connections_refused;
  s.decode_errors = stats_.decode_errors;
  s.dropped_queue_full = stats_.dropped_queue_full;
  s.dropped_other = stats_.dropped_other;
  s.connects = stats_.connects;
  s.connect_failures = stats_.connect_failures;
  s.peers_connected = stats_.peers_connected;
  s.inbound_connections = stats_.inbound_connections;
  s.tls_refused = stats_.tls_refused;
  return s;
}

namespace {
awaitable<void> nothing() { co_return; }
}  // namespace

tcp_transport::tcp_transport(asio::any_io_executor ex, tcp_transport_options opts)
    : impl_(std::make_unique<impl>(std::move(ex), std::move(opts))) {}

// The owner must have awaited stop() (when start() was called).
tcp_transport::~tcp_transport() = default;

awaitable<void> tcp_transport::start() {
  co_await asio::co_spawn(impl_->strand_, impl_->start_on_strand(), use_awaitable);
}

awaitable<void> tcp_transport::stop() {
  co_await asio::co_spawn(impl_->strand_, impl_->stop_on_strand(), use_awaitable);
}

void tcp_transport::attach(node& n) { impl_->node_.store(&n); }

void tcp_transport::detach() { impl_->node_.store(nullptr); }

// Not a coroutine: the batch is queued (posted to the strand) before this
// returns, and no temporary crosses a coroutine boundary (STYLE.md, g++ 12).
awaitable<void> tcp_transport::send(node_id to, std::vector<message> batch) {
  impl* self = impl_.get();
  asio::post(self->strand_, [self, to, b = std::move(batch)]() mutable { self->on_send(to, b); });
  return nothing();
}

void tcp_transport::set_peers(std::map<node_id, std::string> peers) {
  impl* self = impl_.get();
  asio::post(self->strand_, [self, p = std::move(peers)] { self->on_set_peers(p); });
}

tcp_transport_stats tcp_transport::stats() const { return impl_->snapshot(); }

node_id tcp_transport::id() const { return impl_->opts_.self; }

}  // namespace coraft::net
