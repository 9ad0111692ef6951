// coraft/transport.hpp — how a node reaches its peers.
//
// Outgoing: the node's replicator task for each peer awaits send() with every
// message queued for that peer since the last send. Incoming: the transport
// calls node::deliver(), which is thread-safe.
#pragma once

#include <coraft/messages.hpp>

#include <boost/asio/awaitable.hpp>

#include <vector>

namespace coraft {

class transport {
 public:
  virtual ~transport() = default;
  // Sends `batch` (all addressed to `to`) in order. May drop messages — Raft
  // retries — but must not block for long on a slow or dead peer: bound the
  // queue and drop instead. Must not throw for network errors. Prefer taking
  // the batch over synchronously and returning a trivial awaitable (g++ 12
  // mishandles by-value coroutine parameters in some co_await expressions).
  virtual boost::asio::awaitable<void> send(node_id to, std::vector<message> batch) = 0;
};

// Lifetime contract for transports: a transport delivers into a node only
// between attach(node) and detach(); the owner detaches before destroying
// the node, and destroys the transport only after its executor ran out of
// its handlers (io_context::run returned).

}  // namespace coraft
