// tcp_transport_test.cpp — the TCP transport (net/src/tcp_transport.cpp)
// carrying a real 3-node cluster (coraft::node, memory storage) over
// loopback: node i listens on 127.0.0.1i:2710i, in real time.
//
// Each test is a story run by tcp_cluster::run(): one coroutine drives the
// nodes; afterwards every node and transport is stopped and the io_context
// must run out of work within a bound (no task outlives its transport).
// Waits poll a condition up to a generous limit; nothing asserts on a
// fixed pause.
#include <boost/test/unit_test.hpp>

#include <coraft/log.hpp>
#include <coraft/memory_storage.hpp>
#include <coraft/net/frame.hpp>
#include <coraft/net/tcp_transport.hpp>
#include <coraft/node.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using coraft::index_t;
using coraft::node_id;
using coraft::net::tcp_transport;
using coraft::net::tcp_transport_options;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using clock_type = std::chrono::steady_clock;

constexpr auto use_tuple = asio::as_tuple(use_awaitable);
const std::string cluster_name = "net-test";

// 127.0.0.1i when the host lets us bind it (Linux routes all of 127/8 to
// loopback), else 127.0.0.1 for every node (ports still differ).
std::string host_of(node_id id) {
  static const bool spread = [] {
    asio::io_context ctx;
    tcp::acceptor a(ctx);
    boost::system::error_code ec;
    a.open(tcp::v4(), ec);
    if (!ec) a.bind(tcp::endpoint(asio::ip::make_address("127.0.0.12"), 0), ec);
    return !ec;
  }();
  return spread ? "127.0.0.1" + std::to_string(id) : "127.0.0.1";
}
std::string address_of(node_id id) { return host_of(id) + ":" + std::to_string(27100 + id); }

class counting_state_machine final : public coraft::state_machine {
 public:
  std::string apply(index_t index, std::string_view command) override {
    applied.emplace_back(index, std::string(command));
    return "ok";
  }
  void save_snapshot(coraft::snapshot_writer&) override {}
  void restore_snapshot(coraft::snapshot_reader&) override {}
  std::vector<std::pair<index_t, std::string>> applied;
};

awaitable<void> pause(clock_type::duration d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(use_awaitable);
}

// Waits until `done()` holds.
awaitable<bool> wait_until(std::function<bool()> done, clock_type::duration limit = 15s) {
  const auto deadline = clock_type::now() + limit;
  while (!done()) {
    if (clock_type::now() >= deadline) co_return false;
    co_await pause(10ms);
  }
  co_return true;
}

// ---- the fixture ----------------------------------------------------------------

// Three nodes, each with its own tcp_transport, memory storage and state
// machine. Node i lives at slot i-1. Stopped incarnations are kept (retired)
// until the io_context is done with them.
class tcp_cluster {
 public:
  static constexpr std::size_t size = 3;

  tcp_cluster() { coraft::set_log_level(coraft::log_level::warn); }

  ~tcp_cluster() {
    if (hung_) {
      // Handlers still reference these: leak rather than destroy under them.
      for (auto& s : slots_) {
        (void)s.node.release();
        (void)s.transport.release();
        (void)s.store.release();
        (void)s.sm.release();
      }
      for (auto& r : retired_) {
        (void)r.node.release();
        (void)r.transport.release();
        (void)r.sm.release();
      }
    }
  }

  tcp_transport_options options_for(node_id id) const {
    tcp_transport_options o;
    o.self = id;
    o.cluster_id = cluster_name;
    o.listen = address_of(id);
    for (node_id p = 1; p <= size; ++p) o.peers[p] = address_of(p);
    o.hello_timeout = hello_timeout;
    return o;
  }

  void build() {
    for (node_id id = 1; id <= size; ++id) {
      slots_[id - 1].store = std::make_unique<coraft::memory_storage>();
      make(id);
    }
  }

  // Stops node `id` and its transport, keeps them retired, and builds a new
  // incarnation over what storage made durable (a process restart).
  awaitable<void> restart(node_id id) {
    auto& s = slots_[id - 1];
    s.transport->detach();
    co_await s.node->stop();
    co_await s.transport->stop();
    // Delivers posted before detach() run before this status() on the node's strand.
    (void)co_await s.node->status();
    coraft::recovered_state durable = s.store->durable();
    retired_.push_back({std::move(s.node), std::move(s.transport), std::move(s.sm)});
    s.store = std::make_unique<coraft::memory_storage>(std::move(durable));
    make(id);
    co_await start(id);
  }

  awaitable<void> start(node_id id) {
    co_await transport(id).start();
    co_await node(id).start();
  }
  awaitable<void> start_all() {
    for (node_id id = 1; id <= size; ++id) co_await start(id);
  }

  awaitable<void> stop_all() {
    for (auto& s : slots_) {
      s.transport->detach();
      co_await s.node->stop();
    }
    for (auto& s : slots_) co_await s.transport->stop();
  }

  // Runs `story`, then stops everything; the io_context must then run out of
  // work within `limit`. Rethrows the story's failure.
  void run(awaitable<void> story, clock_type::duration limit = 90s) {
    std::exception_ptr failure;
    asio::co_spawn(ctx_, main_task(std::move(story)), [&failure](std::exception_ptr e) { failure = e; });
    ctx_.run_for(limit);
    if (!ctx_.stopped()) {
      hung_ = true;
      BOOST_FAIL("the io_context still had work " << std::chrono::duration_cast<std::chrono::seconds>(limit).count()
                                                  << " s after the story began: a task hung or outlived its transport");
    }
    if (failure) std::rethrow_exception(failure);
  }

  coraft::node& node(node_id id) { return *slots_[id - 1].node; }
  tcp_transport& transport(node_id id) { return *slots_[id - 1].transport; }
  counting_state_machine& sm(node_id id) { return *slots_[id - 1].sm; }
  asio::io_context& ctx() { return ctx_; }

  // Waits until exactly one node leads and all agree on it; returns its id.
  awaitable<node_id> wait_for_leader(clock_type::duration limit = 15s) {
    const auto deadline = clock_type::now() + limit;
    while (clock_type::now() < deadline) {
      std::vector<coraft::node_status> ss;
      for (node_id id = 1; id <= size; ++id) ss.push_back(co_await node(id).status());
      node_id leader = coraft::no_node;
      int leaders = 0;
      for (const auto& s : ss)
        if (s.state == coraft::core::role::leader) {
          ++leaders;
          leader = s.id;
        }
      bool agreed = leaders == 1;
      for (const auto& s : ss) agreed = agreed && s.leader == leader;
      if (agreed) co_return leader;
      co_await pause(10ms);
    }
    co_return coraft::no_node;
  }

  // Proposes `count` commands on `leader`; true when all committed.
  // (`prefix` is a plain pointer: no temporary crosses into a coroutine
  // inside a co_await expression — STYLE.md, the g++ 12 pitfall.)
  awaitable<bool> commit(node_id leader, const char* prefix, int count) {
    for (int k = 0; k < count; ++k) {
      const auto out = co_await node(leader).propose(prefix + std::to_string(k));
      if (!out) {
        BOOST_TEST_MESSAGE("proposal " << prefix << k << " failed: " << out.error().code.message());
        co_return false;
      }
    }
    co_return true;
  }

  // Waits until every node applied at least `index`.
  awaitable<bool> wait_applied(index_t index, clock_type::duration limit = 15s) {
    const auto deadline = clock_type::now() + limit;
    while (clock_type::now() < deadline) {
      bool all = true;
      for (node_id id = 1; id <= size; ++id) all = all && (co_await node(id).status()).applied_index >= index;
      if (all) co_return true;
      co_await pause(10ms);
    }
    co_return false;
  }

  std::chrono::milliseconds hello_timeout{20000};

 private:
  struct slot {
    std::unique_ptr<coraft::memory_storage> store;
    std::unique_ptr<counting_state_machine> sm;
    std::unique_ptr<tcp_transport> transport;
    std::unique_ptr<coraft::node> node;
  };
  struct retired {
    std::unique_ptr<coraft::node> node;
    std::unique_ptr<tcp_transport> transport;
    std::unique_ptr<counting_state_machine> sm;
  };

  void make(node_id id) {
    auto& s = slots_[id - 1];
    coraft::node_options o;
    o.raft.id = id;
    o.raft.seed = id;
    o.voters = {1, 2, 3};
    s.sm = std::make_unique<counting_state_machine>();
    s.transport = std::make_unique<tcp_transport>(ctx_.get_executor(), options_for(id));
    s.node = std::make_unique<coraft::node>(ctx_.get_executor(), o, *s.store, *s.transport, *s.sm);
    s.transport->attach(*s.node);
  }

  awaitable<void> main_task(awaitable<void> story) {
    std::exception_ptr failure;
    try {
      co_await std::move(story);
    } catch (...) {
      failure = std::current_exception();
    }
    co_await stop_all();
    if (failure) std::rethrow_exception(failure);
  }

  asio::io_context ctx_;
  bool hung_ = false;
  std::vector<retired> retired_;
  std::array<slot, size> slots_;
};

// ---- raw clients ------------------------------------------------------------------

// True when the server closes `sock` within `limit` (EOF or reset), reading
// and discarding anything it sends.
awaitable<bool> closed_by_server(tcp::socket& sock, clock_type::duration limit) {
  asio::steady_timer timer(sock.get_executor(), limit);
  std::array<char, 256> buf{};
  while (true) {
    auto read = sock.async_read_some(asio::buffer(buf), use_tuple);
    auto timeout = timer.async_wait(use_tuple);
    auto r = co_await (std::move(read) || std::move(timeout));
    if (r.index() == 1) co_return false;
    if (std::get<0>(std::get<0>(r))) co_return true;
  }
}

awaitable<tcp::socket> connect_to(node_id id) {
  tcp::socket sock(co_await asio::this_coro::executor);
  const auto ep = tcp::endpoint(asio::ip::make_address(host_of(id)), static_cast<unsigned short>(27100 + id));
  co_await sock.async_connect(ep, use_awaitable);
  co_return sock;
}

// Connects to node `id`, writes `bytes`, and reports whether the node then
// closed the connection within 10 s.
awaitable<bool> refused_after_sending(node_id id, const std::vector<char>& bytes) {
  tcp::socket sock = co_await connect_to(id);
  co_await asio::async_write(sock, asio::buffer(bytes), use_awaitable);
  co_return co_await closed_by_server(sock, 10s);
}

std::vector<char> hello_frame(std::string cluster, node_id from) {
  std::vector<char> out;
  coraft::net::encode_hello({std::move(cluster), from}, out);
  return out;
}

// ---- 1. a cluster over TCP --------------------------------------------------------

awaitable<void> elect_and_commit_story(tcp_cluster& c) {
  co_await c.start_all();
  const node_id leader = co_await c.wait_for_leader();
  BOOST_REQUIRE_MESSAGE(leader != coraft::no_node, "no single agreed leader within 15 s");
  BOOST_REQUIRE(co_await c.commit(leader, "put-", 100));
  const index_t last = (co_await c.node(leader).status()).commit_index;
  BOOST_REQUIRE_MESSAGE(co_await c.wait_applied(last), "followers did not apply " << last << " within 15 s");
  for (node_id id = 1; id <= 3; ++id) {
    const auto s = c.transport(id).stats();
    BOOST_TEST(s.peers_connected == 2u);
    BOOST_TEST(s.inbound_connections == 2u);
    BOOST_TEST(s.connections_accepted >= 2u);
    BOOST_TEST(s.frames_sent > 0u);
    BOOST_TEST(s.frames_received > 0u);
    BOOST_TEST(s.decode_errors == 0u);
    BOOST_TEST(s.connections_refused == 0u);
    BOOST_TEST(c.sm(id).applied.size() >= 100u);
  }
}

BOOST_AUTO_TEST_CASE(three_nodes_elect_and_commit_over_tcp) {
  tcp_cluster c;
  c.build();
  c.run(elect_and_commit_story(c));
}

// ---- 2. hostile clients -------------------------------------------------------------

awaitable<void> hostile_clients_story(tcp_cluster& c) {
  co_await c.start_all();
  const node_id leader = co_await c.wait_for_leader();
  BOOST_REQUIRE(leader != coraft::no_node);
  BOOST_REQUIRE(co_await c.commit(leader, "before-", 10));

  // DESIGN.md "Rules for bad input": each connection is closed; the node and
  // the cluster carry on. Every victim is node 1, whatever its role.
  std::vector<char> garbage(200);
  for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>(i * 37 + 11);
  BOOST_TEST(co_await refused_after_sending(1, garbage), "garbage bytes: connection not closed");
  BOOST_REQUIRE(co_await c.commit(leader, "after-garbage-", 5));

  auto huge = hello_frame(cluster_name, 2);
  huge.resize(coraft::net::frame_header_bytes);
  for (std::size_t i = 8; i < 12; ++i) huge[i] = static_cast<char>(0xFF);  // body length 4 GiB - 1
  BOOST_TEST(co_await refused_after_sending(1, huge), "huge length prefix: connection not closed");

  const auto foreign = hello_frame("another-cluster", 2);
  BOOST_TEST(co_await refused_after_sending(1, foreign), "foreign cluster: not closed");
  // Ids we have no address for are welcome (a member that just joined), but
  // not one claiming to be the victim itself.
  const auto impostor = hello_frame(cluster_name, 1);
  BOOST_TEST(co_await refused_after_sending(1, impostor), "hello with our own id: not closed");

  // A message frame before any hello.
  std::vector<char> no_hello;
  coraft::net::encode(coraft::message{2, 1, 1, coraft::heartbeat_response{}}, no_hello);
  BOOST_TEST(co_await refused_after_sending(1, no_hello), "no hello: not closed");

  // A proper hello, then a frame with a broken checksum.
  auto corrupt = hello_frame(cluster_name, 3);
  coraft::net::encode(coraft::message{3, 1, 1, coraft::heartbeat_response{}}, corrupt);
  corrupt.back() = static_cast<char>(corrupt.back() ^ 1);
  BOOST_TEST(co_await refused_after_sending(1, corrupt), "bad checksum after hello: not closed");

  // A proper hello, then a message claiming another sender.
  auto spoof = hello_frame(cluster_name, 3);
  coraft::net::encode(coraft::message{2, 1, 1, coraft::heartbeat_response{}}, spoof);
  BOOST_TEST(co_await refused_after_sending(1, spoof), "spoofed sender: not closed");

  const auto s = c.transport(1).stats();
  BOOST_TEST(s.decode_errors >= 4u);        // garbage, huge, checksum, spoof
  BOOST_TEST(s.connections_refused >= 3u);  // foreign cluster, our own id, no hello

  // The cluster still commits, and everyone catches up.
  const node_id now_leader = co_await c.wait_for_leader();
  BOOST_REQUIRE(now_leader != coraft::no_node);
  BOOST_REQUIRE(co_await c.commit(now_leader, "after-", 20));
  const index_t last = (co_await c.node(now_leader).status()).commit_index;
  BOOST_TEST(co_await c.wait_applied(last));
}

BOOST_AUTO_TEST_CASE(hostile_clients_are_disconnected_while_the_cluster_commits) {
  tcp_cluster c;
  c.build();
  c.run(hostile_clients_story(c));
}

awaitable<void> silent_client_story(tcp_cluster& c) {
  co_await c.transport(1).start();
  tcp::socket sock = co_await connect_to(1);
  const std::function<bool()> connected = [&c] { return c.transport(1).stats().inbound_connections == 1u; };
  BOOST_TEST(co_await wait_until(connected));
  const auto t0 = clock_type::now();
  BOOST_TEST(co_await closed_by_server(sock, 15s), "a client that never says hello was kept");
  BOOST_TEST((clock_type::now() - t0 >= 300ms));  // not before the hello timeout (500 ms)
  BOOST_TEST(c.transport(1).stats().connections_refused == 1u);
  const std::function<bool()> gone = [&c] { return c.transport(1).stats().inbound_connections == 0u; };
  BOOST_TEST(co_await wait_until(gone));
}

BOOST_AUTO_TEST_CASE(a_client_that_never_says_hello_is_dropped) {
  tcp_cluster c;
  c.hello_timeout = 500ms;
  c.build();
  c.run(silent_client_story(c));
}

// ---- 3. stopping with work in flight ------------------------------------------------

awaitable<void> propose_many(coraft::node& n, int count, int& finished) {
  for (int k = 0; k < count; ++k) {
    (void)co_await n.propose("inflight-" + std::to_string(k));
    ++finished;
  }
}

awaitable<void> stop_in_flight_story(tcp_cluster& c, int& finished, std::unique_ptr<tcp::socket>& idle) {
  co_await c.start_all();
  const node_id leader = co_await c.wait_for_leader();
  BOOST_REQUIRE(leader != coraft::no_node);
  // An idle client mid-hello and 8 proposers with 1000 proposals each.
  idle = std::make_unique<tcp::socket>(co_await connect_to(leader));
  auto partial = hello_frame(cluster_name, 2);
  partial.resize(10);
  co_await asio::async_write(*idle, asio::buffer(partial), use_awaitable);
  auto ex = co_await asio::this_coro::executor;
  for (int i = 0; i < 8; ++i)
    asio::co_spawn(ex, propose_many(c.node(leader), 1000, finished), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  const std::function<bool()> some_done = [&finished] { return finished >= 50; };
  BOOST_REQUIRE(co_await wait_until(some_done));
  // The story returns: run() stops every node and transport right now.
}

BOOST_AUTO_TEST_CASE(stop_returns_with_proposals_and_connections_in_flight) {
  int finished = 0;
  {
    tcp_cluster c;
    std::unique_ptr<tcp::socket> idle;  // destroyed before the cluster's io_context
    c.build();
    const auto t0 = clock_type::now();
    c.run(stop_in_flight_story(c, finished, idle));
    BOOST_TEST_MESSAGE("proposals finished before the io_context ran dry: " << finished << " in "
                                                                            << (clock_type::now() - t0) / 1ms << " ms");
    BOOST_TEST(finished == 8000, "every proposal completes (committed or stopped)");
    idle.reset();
  }
}

// ---- 4. a peer restarts -------------------------------------------------------------

awaitable<void> restart_story(tcp_cluster& c) {
  co_await c.start_all();
  const node_id leader = co_await c.wait_for_leader();
  BOOST_REQUIRE(leader != coraft::no_node);
  BOOST_REQUIRE(co_await c.commit(leader, "one-", 20));
  const node_id follower = leader == 3 ? 2 : 3;
  std::vector<node_id> others;
  for (node_id id = 1; id <= 3; ++id)
    if (id != follower) others.push_back(id);
  std::array<std::uint64_t, 4> connects{};
  for (node_id id : others) connects[id] = c.transport(id).stats().connects;

  co_await c.restart(follower);  // same address, new transport, new node over durable storage

  // Both others dial the new incarnation again, and it dials them.
  for (node_id id : others) {
    const std::function<bool()> redialed = [&c, id, &connects] {
      const auto s = c.transport(id).stats();
      return s.connects > connects[id] && s.peers_connected == 2u;
    };
    BOOST_TEST(co_await wait_until(redialed), "node " << id << " did not reconnect to the restarted node");
  }
  const std::function<bool()> dialed_out = [&c, follower] {
    return c.transport(follower).stats().peers_connected == 2u;
  };
  BOOST_TEST(co_await wait_until(dialed_out));

  const node_id now_leader = co_await c.wait_for_leader();
  BOOST_REQUIRE(now_leader != coraft::no_node);
  BOOST_REQUIRE(co_await c.commit(now_leader, "two-", 20));
  const index_t last = (co_await c.node(now_leader).status()).commit_index;
  BOOST_TEST(co_await c.wait_applied(last), "the restarted node did not catch up to " << last);
}

BOOST_AUTO_TEST_CASE(a_restarted_peer_is_reconnected) {
  tcp_cluster c;
  c.build();
  c.run(restart_story(c));
}

// ---- 5. queues ----------------------------------------------------------------------

awaitable<void> queue_story(tcp_cluster& c) {
  // Only node 1 runs: its writers find nobody and keep backing off.
  co_await c.transport(1).start();
  std::vector<coraft::message> batch;
  for (int i = 0; i < 10000; ++i) batch.push_back(coraft::message{1, 2, 1, coraft::heartbeat_request{0}});
  co_await c.transport(1).send(2, batch);
  co_await c.transport(1).send(7, std::vector<coraft::message>(3, coraft::message{1, 7, 1, coraft::timeout_now{}}));
  const std::function<bool()> dropped = [&c] {
    const auto s = c.transport(1).stats();
    return s.dropped_queue_full == 10000u - 4096u && s.dropped_other == 3u;
  };
  BOOST_TEST(co_await wait_until(dropped), "queue bound: dropped " << c.transport(1).stats().dropped_queue_full);
  // Nobody listens at the peers' addresses: the writers keep dialing, backing off.
  const std::function<bool()> redialing = [&c] { return c.transport(1).stats().connect_failures >= 4u; };
  BOOST_TEST(co_await wait_until(redialing));
}

BOOST_AUTO_TEST_CASE(a_full_send_queue_drops_the_oldest_and_never_blocks) {
  tcp_cluster c;
  c.build();
  c.run(queue_story(c));
}

// ---- 6. dialing ---------------------------------------------------------------------

// Pretends to be node 2: accepts node 1's dial and reads what it says first.
awaitable<void> dial_story(tcp_cluster& c) {
  auto ex = co_await asio::this_coro::executor;
  tcp::acceptor fake(ex, tcp::endpoint(asio::ip::make_address(host_of(2)), 27102));
  co_await c.transport(1).start();
  tcp::socket sock = co_await fake.async_accept(use_awaitable);
  // The source address is node 1's raft IP: a firewall can tell nodes apart.
  BOOST_TEST(sock.remote_endpoint().address().to_string() == host_of(1));
  std::vector<char> buf(64);
  std::size_t got = 0;
  std::optional<coraft::net::decoded_frame> first;
  while (!first) {
    got += co_await sock.async_read_some(asio::buffer(buf.data() + got, buf.size() - got), use_awaitable);
    auto d = coraft::net::decode_frame(std::span<const char>(buf.data(), got));
    if (d)
      first = std::move(*d);
    else
      BOOST_REQUIRE(d.error() == coraft::net::frame_errc::truncated);
  }
  BOOST_REQUIRE(std::holds_alternative<coraft::net::hello>(first->content));
  const auto& h = std::get<coraft::net::hello>(first->content);
  BOOST_TEST(h.cluster_id == cluster_name);
  BOOST_TEST(h.id == 1u);
  // Closing it makes node 1 notice and dial again.
  const auto connects = c.transport(1).stats().connects;
  sock.close();
  tcp::socket again = co_await fake.async_accept(use_awaitable);
  const std::function<bool()> redialed = [&c, connects] { return c.transport(1).stats().connects > connects; };
  BOOST_TEST(co_await wait_until(redialed));
}

BOOST_AUTO_TEST_CASE(dials_from_its_own_raft_address_and_says_hello) {
  tcp_cluster c;
  c.build();
  c.run(dial_story(c));
}

}  // namespace
