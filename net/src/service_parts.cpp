// service_parts.cpp — see coraft/net/service_parts.hpp.
#include <coraft/log.hpp>
#include <coraft/net/admin_api.hpp>
#include <coraft/net/cluster_spec.hpp>
#include <coraft/net/http.hpp>
#include <coraft/net/service_parts.hpp>
#include <coraft/net/tcp_transport.hpp>
#include <coraft/node.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <map>

namespace coraft::net {

namespace asio = boost::asio;

struct membership_follower::impl {
  impl(asio::any_io_executor ex, tcp_transport& t, std::chrono::milliseconds l)
      : transport(t), linger(l), settle(std::move(ex)) {}
  tcp_transport& transport;
  std::chrono::milliseconds linger;
  asio::steady_timer settle;
  std::map<node_id, std::string> peers;  // raft addresses of the configuration in force
};

membership_follower::membership_follower(asio::any_io_executor ex, tcp_transport& transport,
                                         std::chrono::milliseconds linger)
    : impl_(std::make_unique<impl>(std::move(ex), transport, linger)) {}

membership_follower::~membership_follower() = default;

void membership_follower::follow(const membership& c, admin_context* admin) {
  auto& i = *impl_;
  auto ms = members_of(c);
  std::map<node_id, std::string> peers;
  for (const auto& m : ms)
    if (!m.raft.empty()) peers[m.id] = m.raft;
  std::map<node_id, std::string> with_departed = peers;
  for (const auto& [id, address] : i.peers) with_departed.emplace(id, address);
  i.transport.set_peers(std::move(with_departed));
  i.peers = std::move(peers);
  if (admin != nullptr) admin->set_members(std::move(ms));
  i.settle.expires_after(i.linger);
  i.settle.async_wait([&i](boost::system::error_code ec) {
    if (!ec) i.transport.set_peers(i.peers);
  });
}

void membership_follower::cancel() { impl_->settle.cancel(); }

asio::awaitable<void> stop_service_node(node* raft, http_server* http, tcp_transport* transport, bool hand_over,
                                        node_id id, std::string component) {
  const auto ex = co_await asio::this_coro::executor;
  if (raft != nullptr && hand_over) {
    // [thesis §3.10] A planned stop of the leader: hand over first, so the
    // cluster does not wait an election timeout. Not leader: no-op.
    const node_result<node_id> r = co_await raft->transfer_leadership();
    if (r)
      log_line(log_level::info, id, component, "leadership handed to node " + std::to_string(*r));
    else if (r.error().code != errc::not_leader && r.error().code != errc::stopped)
      log_line(log_level::warn, id, component,
               "leadership transfer before shutdown failed: " + r.error().code.message());
  }
  // Stop taking requests; give those in flight a moment to commit.
  bool http_done = http == nullptr;
  asio::steady_timer t(ex);
  if (http != nullptr) {
    asio::co_spawn(ex, http->stop(), [&http_done](std::exception_ptr) { http_done = true; });
    for (int i = 0; i < 200 && !http_done; ++i) {
      t.expires_after(std::chrono::milliseconds(10));
      co_await t.async_wait(asio::use_awaitable);
    }
  }
  if (raft != nullptr) co_await raft->stop();
  while (!http_done) {
    t.expires_after(std::chrono::milliseconds(5));
    co_await t.async_wait(asio::use_awaitable);
  }
  if (transport != nullptr) {
    transport->detach();
    co_await transport->stop();
  }
}

}  // namespace coraft::net
