// tcp_transport.cpp — the raft port over TCP (design in the header).
//
// Threading: everything in `impl` runs only on `strand_`; send() posts onto
// it, stats() reads atomics. Coroutines awaited by a task own nothing the
// task does not outlive: sockets are owned by value by the task that reads
// or writes them, and helpers take them by reference.
#include <coraft/net/tcp_transport.hpp>

#include <coraft/net/address.hpp>

#include <coraft/detail/task_group.hpp>
#include <coraft/detail/wakeup.hpp>

#include <sstream>

#include <coraft/log.hpp>
#include <coraft/net/frame.hpp>
#include <coraft/net/frame_reader.hpp>
#include <coraft/node.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <list>
#include <random>
#include <stdexcept>
#include <string_view>

namespace coraft::net {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using boost::system::error_code;
using clock_type = std::chrono::steady_clock;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto use_tuple = asio::as_tuple(use_awaitable);

// The reader's buffer starts (and shrinks back to) this size; it grows only
// while a frame longer than it is arriving, and only as its bytes arrive.
// The writer stops adding frames to one write past this many bytes.
constexpr std::size_t write_batch_bytes = 4u << 20;

// Wakes one task waiting on the strand (as in lib/src/node/node.cpp). A
// notify() with nobody waiting is not remembered: waiters re-check their
// condition before waiting again.
using detail::wakeup;

// Addresses, as the one parser reads them (coraft/net/address.hpp).
host_port split_host_port(const std::string& s, host_port_rules rules = {}) {
  try {
    return parse_host_port(s, rules);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("coraft net: ") + e.what());
  }
}

std::string to_string(const tcp::endpoint& ep) {
  const auto a = ep.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

}  // namespace

struct tcp_transport::impl {
  impl(asio::any_io_executor ex, tcp_transport_options o)
      : strand_(asio::make_strand(ex)), opts_(std::move(o)), acceptor_(strand_) {
    if (opts_.cluster_id.size() > max_cluster_id_bytes)
      throw std::invalid_argument("coraft net: cluster id longer than 256 bytes");
    opts_.max_queued_messages = std::max<std::size_t>(opts_.max_queued_messages, 1);
    opts_.max_frame_bytes = std::max<std::size_t>(opts_.max_frame_bytes, frame_header_bytes + 64);
    const host_port l = split_host_port(opts_.listen, {.allow_port_zero = true});
    error_code ec;
    const auto addr = asio::ip::make_address(l.host, ec);
    if (ec) throw std::invalid_argument("coraft net: listen address '" + opts_.listen + "' needs a numeric IP");
    listen_ = tcp::endpoint(addr, l.port);
    for (const auto& [id, address] : opts_.peers) {
      if (id == opts_.self || id == no_node) continue;
      peers_.emplace(std::piecewise_construct, std::forward_as_tuple(id),
                     std::forward_as_tuple(id, split_host_port(address), strand_));
    }
  }

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
  tcp::endpoint listen_;
  tcp::acceptor acceptor_;
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
        connects{0}, connect_failures{0}, peers_connected{0}, inbound_connections{0};
  } stats_;

  // Every task is a child of one group: a peer's writer and the accept
  // loop are restarted if they fail (a peer must never be left without a
  // writer), an inbound connection's reader just ends (the peer redials).
  detail::task_group tasks_{strand_, opts_.self, "net", nullptr};

  awaitable<void> stop_on_strand() {
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

  void warn(log_rate_limiter& limit, std::string text) {
    std::uint64_t suppressed = 0;
    if (!limit.allow(suppressed)) return;
    if (suppressed > 0) text += " (" + std::to_string(suppressed) + " similar suppressed)";
    log_line(log_level::warn, opts_.self, "net", text);
  }

  clock_type::duration jittered(std::chrono::milliseconds d) {
    std::uniform_real_distribution<double> f(0.75, 1.25);
    return std::chrono::duration_cast<clock_type::duration>(d * f(jitter_));
  }

  awaitable<void> sleep(clock_type::duration d) {
    asio::steady_timer t(strand_, d);
    auto [ec] = co_await t.async_wait(use_tuple);
    (void)ec;
  }

  // Writes all of `bytes`, or fails with timed_out after write_timeout.
  awaitable<error_code> write_all(tcp::socket& sock, std::span<const char> bytes) {
    asio::steady_timer timer(strand_, opts_.write_timeout);
    auto write = asio::async_write(sock, asio::buffer(bytes.data(), bytes.size()), use_tuple);
    auto timeout = timer.async_wait(use_tuple);
    auto r = co_await (std::move(write) || std::move(timeout));
    if (r.index() == 1) co_return asio::error::timed_out;
    co_return std::get<0>(std::get<0>(r));
  }

  // One read_some, or timed_out at `deadline`.
  awaitable<std::tuple<error_code, std::size_t>> read_before(tcp::socket& sock, asio::mutable_buffer into,
                                                             clock_type::time_point deadline) {
    asio::steady_timer timer(strand_, deadline);
    auto read = sock.async_read_some(into, use_tuple);
    auto timeout = timer.async_wait(use_tuple);
    auto r = co_await (std::move(read) || std::move(timeout));
    if (r.index() == 1) co_return std::tuple<error_code, std::size_t>{asio::error::timed_out, 0};
    co_return std::get<0>(std::move(r));
  }

  // ---- sending ----------------------------------------------------------

  void on_send(node_id to, std::vector<message>& batch) {
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

  // Connects `sock` to the peer (source bound to our raft IP) and says hello.
  awaitable<error_code> dial(peer& p, tcp::socket& sock) {
    error_code ec;
    std::vector<tcp::endpoint> targets;
    const auto addr = asio::ip::make_address(p.address.host, ec);
    if (!ec) {
      targets.emplace_back(addr, p.address.port);
    } else {
      tcp::resolver resolver(strand_);
      auto [rec, results] = co_await resolver.async_resolve(p.address.host, std::to_string(p.address.port), use_tuple);
      if (rec) co_return rec;
      for (const auto& r : results) targets.push_back(r.endpoint());
    }
    ec = asio::error::host_not_found;
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
    std::vector<char> frame;
    encode_hello(hello{opts_.cluster_id, opts_.self}, frame);
    co_return co_await write_all(sock, frame);
  }

  // Sends the queue, batch by batch, until the connection fails (returns).
  awaitable<void> write_loop(peer& p, tcp::socket& sock) {
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
          warn(p.warn_limit, "dropped a " + std::string(type_name(p.queue.front())) + " to node " +
                                 std::to_string(p.id) + ": larger than the max frame size");
        } else {
          ++frames;
        }
        p.queue.pop_front();
      }
      if (frames == 0) continue;
      const error_code ec = co_await write_all(sock, buf);
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
  static awaitable<void> watch_close(tcp::socket& sock) {
    char byte = 0;
    auto [ec, n] = co_await sock.async_read_some(asio::buffer(&byte, 1), use_tuple);
    (void)ec;
    (void)n;
  }

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

  void spawn_writer(node_id id) {
    tasks_.spawn(
        "writer to node " + std::to_string(id), [this, id] { return peer_task(id); },
        detail::task_group::on_error::restart);
  }

  // The writer of one peer: connect, say hello, send until the connection
  // breaks, back off, again.
  awaitable<void> peer_task(node_id id) {
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
      const error_code ec = co_await dial(p, sock);
      if (stopping_) co_return;
      if (ec) {
        ++stats_.connect_failures;
        warn(p.warn_limit,
             "cannot connect to node " + std::to_string(id) + " at " + p.address.str() + ": " + ec.message());
      } else {
        ++stats_.connects;
        log_line(log_level::info, opts_.self, "net", "connected to node " + std::to_string(id));
        const auto since = clock_type::now();
        {
          connection_up up(*this, p, sock);
          auto writing = write_loop(p, sock);
          auto closing = watch_close(sock);
          co_await (std::move(writing) || std::move(closing));
        }
        if (stopping_) co_return;
        log_line(log_level::info, opts_.self, "net", "connection to node " + std::to_string(id) + " lost");
        // A connection that lasted resets the backoff; one dropped at once
        // (a peer refusing our hello) keeps backing off.
        if (clock_type::now() - since > opts_.reconnect_max) backoff = opts_.reconnect_initial;
      }
      error_code ignored;
      sock.close(ignored);
      co_await sleep(jittered(backoff));
      backoff = std::min(backoff * 2, opts_.reconnect_max);
    }
  }

  // ---- receiving --------------------------------------------------------

  awaitable<void> accept_loop() {
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

  void refuse(const std::string& remote, const std::string& why) {
    ++stats_.connections_refused;
    warn(refuse_limit_, "refused connection from " + remote + ": " + why);
  }

  void bad_frame(const std::string& remote, node_id from, const std::string& why) {
    ++stats_.decode_errors;
    warn(decode_limit_, "closing connection from " + remote +
                            (from != no_node ? " (node " + std::to_string(from) + ")" : std::string()) + ": " + why);
  }

  // Accepts `h` as the connection's hello, or says why not.
  std::string check_hello(const hello& h) const {
    if (h.cluster_id != opts_.cluster_id) return "hello from cluster '" + h.cluster_id + "', not ours";
    // Any other node of our cluster may talk to us: a member we do not know
    // yet (it joined, or we are the one joining) must reach us before its
    // configuration entry does.
    if (h.id == opts_.self || h.id == no_node) return "hello with node id " + std::to_string(h.id);
    return {};
  }

  // Reads one inbound connection: a hello, then raft messages for the node.
  awaitable<void> read_loop(tcp::socket sock) {
    inbound_registration reg(*this, sock);
    error_code ec;
    const auto remote_ep = sock.remote_endpoint(ec);
    const std::string remote = ec ? std::string("?") : to_string(remote_ep);
    const auto hello_deadline = clock_type::now() + opts_.hello_timeout;
    node_id from = no_node;  // set by the hello

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
          from = hi->id;
          reg.it->from = from;
          ++stats_.connections_accepted;
          // A peer dials anew when its old connection broke; if ours did not
          // notice (a silent network), close the stale one now.
          for (auto& in : inbound_)
            if (in.from == from && in.sock != &sock) in.sock->close(ec);
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
        std::tie(ec, n) = co_await read_before(sock, into, hello_deadline);
        if (ec == asio::error::timed_out) {
          refuse(remote, "no hello in time");
          co_return;
        }
      } else {
        std::tie(ec, n) = co_await sock.async_read_some(into, use_tuple);
      }
      if (ec) {
        if (!stopping_ && ec != asio::error::eof && ec != asio::error::operation_aborted)
          log_line(log_level::info, opts_.self, "net", "connection from " + remote + " closed: " + ec.message());
        co_return;
      }
      reader.received(n);
    }
  }

  awaitable<void> start_on_strand() {
    if (started_ || stopping_) throw std::logic_error("coraft net: tcp_transport started twice");
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
                               "raft address in --cluster)");
    }
    started_ = true;
    tasks_.spawn(
        "accept loop", [this] { return accept_loop(); }, detail::task_group::on_error::restart);
    for (auto& [id, p] : peers_) spawn_writer(id);
    co_return;
  }

  // The configuration changed: start writers for new members, follow
  // changed addresses (from the next connection on), retire departed ones.
  void on_set_peers(const std::map<node_id, std::string>& peers) {
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

  tcp_transport_stats snapshot() const {
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
    return s;
  }
};

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
