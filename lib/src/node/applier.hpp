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
#include <coraft/storage.hpp>

#include <atomic>
#include <span>
#include <stdexcept>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace coraft::detail {

class proposals;
class read_waiters;
class snapshotter;

// A snapshot as the state machine wrote it (to storage, through a sink), or
// the image it captured to be written out on the snapshot thread, with
// what it stands for.
struct captured_state {
  // Not captured: the configuration at this index is not known here yet
  // (a joiner before the entry adding it), and a snapshot must carry it.
  bool busy = false;
  snapshot_meta meta;                      // last and config; size and crc once written
  double seconds = 0;                      // how long the state machine paused: capture() or save_snapshot()
  std::unique_ptr<snapshot_sink> written;  // save_snapshot()'s bytes, not yet committed
  std::unique_ptr<snapshot_image> image;   // or capture()'s image, not yet written
};

// A writer that stops the state machine's (or an image's) write when the
// node stops: it throws, so that stop() never waits for a whole large state
// to be serialized.
class stoppable_writer final : public snapshot_writer {
 public:
  stoppable_writer(snapshot_writer& out, const std::atomic<bool>& stop) : out_(out), stop_(stop) {}
  void write(std::span<const std::byte> bytes) override {
    if (stop_.load(std::memory_order_relaxed)) throw std::runtime_error("the node stopped");
    out_.write(bytes);
  }

 private:
  snapshot_writer& out_;
  const std::atomic<bool>& stop_;
};

class applier {
 public:
  applier(node_context& ctx, state_machine& sm, proposals& props, read_waiters& reads, snapshotter& snaps);

  void queue(std::vector<entry> committed);
  void queue_restore(coraft::snapshot s);
  // Captures the state after every entry and restore queued so far: an
  // image, or the whole state written to a sink of `store`. Empty when the
  // node stops meanwhile.
  asio::awaitable<std::optional<captured_state>> capture(storage& store);
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
    storage* store = nullptr;
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
    // When the node learned these entries committed (zero without
    // node_options::latency_histograms): node_metrics::commit_apply_latency.
    std::chrono::steady_clock::time_point committed_at{};
    bool has_entries() const { return !restore && !capture; }
  };
  // Applies up to max_apply_batch entries from the items at the front.
  asio::awaitable<void> apply_batch();
  asio::awaitable<void> restore(coraft::snapshot s);
  asio::awaitable<void> capture(capture_slot& slot);
  std::function<captured_state()> capture_job(capture_slot& slot, captured_state c);

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
