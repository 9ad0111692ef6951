// applier.hpp — feeds committed entries to the state machine, in order.
//
// The core hands over committed entries in ready batches; a snapshot a
// leader sent arrives from the log writer once it is durable, queued after
// every entry handed over before it. The applier applies entries one by one
// (apply() runs only here, on the node's strand, so a snapshot capture on
// the same strand sees a consistent state), restores snapshots, and then
// completes what waited for the apply: proposals, confirmed reads, and the
// snapshotter's size trigger.
//
// Invariant: applied_index() only grows, except that a restore sets it to
// the snapshot's last index (the core sends a snapshot only past what this
// node has committed [§7]).
#pragma once

#include "node_context.hpp"

#include <coraft/detail/wakeup.hpp>
#include <coraft/state_machine.hpp>

#include <optional>
#include <vector>

namespace coraft::detail {

class proposals;
class read_waiters;
class snapshotter;

class applier {
 public:
  applier(node_context& ctx, state_machine& sm, proposals& props, read_waiters& reads, snapshotter& snaps);

  void queue(std::vector<entry> committed);
  void queue_restore(coraft::snapshot s);
  // Recovery restored the state machine from a snapshot through `index`.
  void recovered(index_t index) { applied_ = index; }
  index_t applied_index() const { return applied_; }
  void wake() { wake_.notify(); }
  asio::awaitable<void> run();

 private:
  // Entries in order, or a snapshot to restore.
  struct item {
    std::vector<entry> entries;
    std::optional<coraft::snapshot> restore;
  };
  void apply_one(entry& e);
  void restore(coraft::snapshot s);

  node_context& ctx_;
  state_machine& sm_;
  proposals& proposals_;
  read_waiters& reads_;
  snapshotter& snapshotter_;
  std::vector<item> queue_;
  wakeup wake_;
  index_t applied_ = 0;
};

}  // namespace coraft::detail
