// coraft/net/service_parts.hpp — the two pieces of wiring every service
// node needs once its parts are built, shared by run_service()
// (service.hpp) and coraft-kv's main, which wires the parts itself:
//
// - membership_follower: keeps the transport's peers and the admin member
//   table on the configuration in force. Departed members stay reachable
//   for `linger` (10 s): the leader keeps sending them the log until their
//   removal commits, so that they learn of it.
// - stop_service_node(): the clean stop of SIGTERM. A leader first hands
//   leadership over [thesis §3.10] (a planned restart then costs no
//   election timeout); the HTTP server stops taking requests and gets up to
//   2 s to answer those in flight; the node stops (the log is synced; what
//   is still pending answers 503 interrupted); the HTTP server is awaited;
//   the transport stops.
//
// Threading: both run on the node's event loop (node_options::
// on_membership is called there).
#pragma once

#include <coraft/types.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace coraft {
class node;
struct membership;
}  // namespace coraft

namespace coraft::net {

class tcp_transport;
class http_server;
struct admin_context;

class membership_follower {
 public:
  membership_follower(boost::asio::any_io_executor ex, tcp_transport& transport,
                      std::chrono::milliseconds linger = std::chrono::seconds(10));
  ~membership_follower();
  membership_follower(const membership_follower&) = delete;
  membership_follower& operator=(const membership_follower&) = delete;

  // The configuration in force is `c`: peers follow it at once (departed
  // ones for `linger` more), and so does `admin`'s member table (if any).
  void follow(const membership& c, admin_context* admin);
  // Stops the pending linger (before the transport stops).
  void cancel();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Stops what was started, in the order above; null parts are skipped.
// `hand_over`: try a leadership transfer first (false after a fatal error,
// or when the operator said so). Log lines go out as `component` of node
// `id`.
boost::asio::awaitable<void> stop_service_node(node* raft, http_server* http, tcp_transport* transport, bool hand_over,
                                               node_id id, std::string component);

}  // namespace coraft::net
