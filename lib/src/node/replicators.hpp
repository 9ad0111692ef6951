// replicators.hpp — one sender task per peer.
//
// Messages for a peer queue in its outbox; its replicator sends everything
// queued as one batch through the transport, which bounds its own queue, so
// a slow peer never blocks the node. A peer's replicator starts with the
// node (the members it recovered) or with the first message for it (a
// member that joined, or a leader we are joining). As leader, it keeps the
// longest gap between two messages sent to each follower in the term
// (node_metrics::max_heartbeat_gap_s). Snapshot chunks read from a file
// wait in their own queue and are read (on the transfer thread) and sent
// one at a time, with what queued meanwhile going first: a heartbeat waits
// for at most one chunk's read. A snapshot a follower could not verify is
// read through (verify), in pieces on the snapshot thread.
//
// Invariant: at most one replicator per peer; none for this node itself.
#pragma once

#include "node_context.hpp"

#include <coraft/detail/task_group.hpp>
#include <coraft/detail/wakeup.hpp>
#include <coraft/transport.hpp>

#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <vector>

namespace coraft::detail {

class replicators {
 public:
  replicators(node_context& ctx, transport& net, task_group& tasks) : ctx_(ctx), net_(net), tasks_(tasks) {}

  // Starts a replicator for every other member of `config`.
  void start(const membership& config);
  void route(message m);
  // A follower's answer `m` to an append or a heartbeat arrived at `now`:
  // its round trip goes to node_metrics::append_rtt (leader only, with
  // node_options::latency_histograms).
  void answered(const message& m, std::chrono::steady_clock::time_point now);
  // A follower found that the whole of snapshot `s` as we sent it does not
  // match its checksum (core::ready::verify_snapshot): reads ours through
  // on the transfer thread; if it does not match either, this node's disk
  // damaged it and the node fails (it must not send it again).
  void verify(snapshot s);
  // Stop: every replicator sees it and ends.
  void wake_all();

 private:
  struct peer {
    explicit peer(const asio::any_io_executor& ex) : wake(ex) {}
    std::vector<message> outbox;
    std::deque<message> chunks;  // InstallSnapshot requests still to read, in order
    wakeup wake;
    term_t gap_term = 0;  // the term of last_sent
    std::chrono::steady_clock::time_point last_sent;
    // Appends and heartbeats sent and not yet answered, oldest first (at
    // most max_in_flight of each): the key an answer is matched by.
    struct sent {
      term_t term;
      index_t prev;  // append: prev_log.index (a rejection names it)...
      index_t last;  // ...and the last index sent (a success names it); heartbeat: read_seq
      std::chrono::steady_clock::time_point at;
    };
    std::deque<sent> appends, heartbeats;
  };
  static constexpr std::size_t max_in_flight = 1024;
  void note_gap(node_id id, peer& p, const message& m, std::chrono::steady_clock::time_point now);
  void note_sent(peer& p, const message& m, std::chrono::steady_clock::time_point now);
  std::map<node_id, peer>::iterator add(node_id id);
  asio::awaitable<void> run(node_id id);
  asio::awaitable<void> verify_snapshot(snapshot s);

  node_context& ctx_;
  transport& net_;
  task_group& tasks_;
  std::map<node_id, peer> peers_;
  bool verifying_ = false;
  std::optional<snapshot> verify_next_;  // asked for while another was being checked
};

}  // namespace coraft::detail
