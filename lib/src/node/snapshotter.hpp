// snapshotter.hpp — takes snapshots and compacts the log [§7].
//
// A snapshot is taken when asked (node::snapshot()) or once the log grew
// past the configured bounds. The state machine captures its state on its
// own thread, in order with the applies (applier::capture): an image
// (state_machine::capture()) that the snapshot thread then writes to
// storage while applies go on, or the whole state written to storage at
// once (save_snapshot()). Storage makes it durable (commit_snapshot) and
// keeps it — no snapshot is held in memory; then the core learns of it and
// the log writer records the compaction (keeping
// `snapshot_trailing_entries` behind it for followers a little behind).
//
// The members of a cluster apply the same entries, so with one bound they
// would all capture at once. Each node's triggers are spread by its phase
// (from its id): by count, at the indexes k·N + offset, offset in [0, N/2),
// at least N/2 past the last snapshot; by bytes, at the bound × (1 +
// phase/2). A leader's snapshot installed here does not re-align them.
//
// Invariant: one snapshot at a time; snapshot_index_ only grows, except
// that a restore sets it to the restored snapshot's index.
#pragma once

#include "node_context.hpp"

#include <coraft/detail/wakeup.hpp>
#include <coraft/state_machine.hpp>
#include <coraft/storage.hpp>

#include <vector>

namespace coraft::detail {

class applier;
class log_writer;

class snapshotter {
 public:
  snapshotter(node_context& ctx, storage& store, applier& apply, log_writer& writer);

  // snapshot(): answers with the snapshot's last index once taken.
  void request(index_waiter w);
  // Counts an applied entry towards the size trigger.
  void applied(const entry& e);
  // A snapshot through `index` was restored (recovery or a leader's).
  void restored(index_t index);
  // Starts a snapshot when the applied log passed the configured size.
  void maybe_start();
  void fail_all(errc e);
  void wake() { wake_.notify(); }
  asio::awaitable<void> run();

 private:
  // Captures and saves a snapshot of everything applied or queued to apply;
  // the answer for its waiters. Ends with nullopt when the node failed or
  // stops meanwhile.
  asio::awaitable<std::optional<node_result<index_t>>> take();
  // The applied index at which the count bound takes the next snapshot.
  index_t next_by_count() const;

  node_context& ctx_;
  storage& store_;
  applier& applier_;
  log_writer& writer_;
  std::vector<index_waiter> waiters_;
  bool requested_ = false;
  bool running_ = false;
  wakeup wake_;
  index_t snapshot_index_ = 0;  // last included index of the newest snapshot here
  std::uint64_t applied_since_ = 0;
  std::uint64_t bytes_since_ = 0;
  double phase_ = 0;                  // this node's place in [0, 1)
  std::uint64_t entries_offset_ = 0;  // on the count grid
};

}  // namespace coraft::detail
