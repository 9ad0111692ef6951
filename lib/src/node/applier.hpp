// applier.hpp — feeds committed entries to the state machine, in order, on
// the state machine's own strand (node_context::on_state_machine).
//
// The core hands over committed entries in ready batches; a snapshot a
// leader sent arrives from the log writer once it is durable; a snapshot
// capture comes from the snapshotter. All three wait in one FIFO queue on
// the node's strand, and the applier hands them to the state machine one
// at a time: at most max_apply_batch entries per call, so that the strand
// (ticks, heartbeats, votes, appends) never waits for apply(),
// save_snapshot() or restore_snapshot(), and a stop waits for at most one
// bounded call. Back on the strand it completes what waited for the apply:
// proposals, confirmed reads, the snapshotter's size trigger.
//
// A capture queued after entries sees the state with exactly those entries
// applied (the queue's order is the state machine's order), so the
// snapshot's index is the last index applied before it.
//
// Invariants: applied_index() (what the state machine has applied, as the
// strand knows it) only grows, except that a restore sets it to the
// snapshot's last index (the core sends a snapshot only past what this node
// has committed [§7]); backlog() counts the entries queued and not yet
// applied.
#pragma once

#include "node_context.hpp"

#include <coraft/detail/wakeup.hpp>
#include <coraft/state_machine.hpp>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace coraft::detail {

class proposals;
class read_waiters;
class snapshotter;

// A snapshot's bytes as the state machine wrote them (and their CRC32C,
// computed on its thread too), or the image it captured to be written out
// on the snapshot thread, with the index they reflect.
struct captured_state {
  // Not captured: the configuration at this index is not known here yet
  // (a joiner before the entry adding it), and a snapshot must carry it.
  bool busy = false;
  index_t index = 0;
  payload bytes;
  std::uint32_t crc = 0;
  double seconds = 0;                     // how long the state machine paused: capture() or save_snapshot()
  std::unique_ptr<snapshot_image> image;  // capture()'s, when it gave one (bytes then empty)
};

class applier {
 public:
  applier(node_context& ctx, state_machine& sm, proposals& props, read_waiters& reads, snapshotter& snaps);

  void queue(std::vector<entry> committed);
  void queue_restore(coraft::snapshot s);
  // Captures the state after every entry and restore queued so far (room
  // for `reserve` bytes up front). Empty when the node stops meanwhile.
  asio::awaitable<std::optional<captured_state>> capture(std::size_t reserve);
  // Recovery restored the state machine from a snapshot through `index`.
  void recovered(index_t index) { applied_ = index; }
  index_t applied_index() const { return applied_; }
  std::size_t backlog() const { return backlog_; }
  void wake() { wake_.notify(); }
  asio::awaitable<void> run();

 private:
  // A capture's answer, and the snapshotter waiting for it.
  struct capture_slot {
    explicit capture_slot(const asio::any_io_executor& ex) : wake(ex) {}
    std::size_t reserve = 0;
    std::optional<captured_state> result;
    bool done = false;
    wakeup wake;
  };
  // Entries in order, a snapshot to restore, or a capture to make.
  struct item {
    std::vector<entry> entries;
    std::size_t done = 0;  // entries already applied
    std::optional<coraft::snapshot> restore;
    std::shared_ptr<capture_slot> capture;
    bool has_entries() const { return !restore && !capture; }
  };
  // Applies up to max_apply_batch entries from the items at the front.
  asio::awaitable<void> apply_batch();
  asio::awaitable<void> restore(coraft::snapshot s);
  asio::awaitable<void> capture(capture_slot& slot);

  node_context& ctx_;
  state_machine& sm_;
  proposals& proposals_;
  read_waiters& reads_;
  snapshotter& snapshotter_;
  std::deque<item> queue_;
  wakeup wake_;
  index_t applied_ = 0;
  std::size_t backlog_ = 0;
};

}  // namespace coraft::detail
