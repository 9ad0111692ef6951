// snapshotter.hpp — takes snapshots and compacts the log [§7].
//
// A snapshot is taken when asked (node::snapshot()) or once the entries or
// command bytes applied since the last one pass the configured bounds. The
// state machine is serialized on the strand — a consistent view, since
// apply() runs only there — then written on the storage's thread while the
// node goes on serving; then the core learns of it and the log writer
// records the compaction (keeping `snapshot_trailing_entries` behind it for
// followers a little behind).
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
  snapshotter(node_context& ctx, state_machine& sm, storage& store, const applier& apply, log_writer& writer);

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
  // Captures and saves a snapshot through `at`; the answer for its waiters.
  // Ends with nullopt when the node failed or stops meanwhile.
  asio::awaitable<std::optional<node_result<index_t>>> take(index_t at);

  node_context& ctx_;
  state_machine& sm_;
  storage& store_;
  const applier& applier_;
  log_writer& writer_;
  std::vector<index_waiter> waiters_;
  bool requested_ = false;
  bool running_ = false;
  wakeup wake_;
  index_t snapshot_index_ = 0;          // last included index of the newest snapshot here
  std::size_t last_capture_bytes_ = 0;  // size of the last snapshot captured here
  std::uint64_t applied_since_ = 0;
  std::uint64_t bytes_since_ = 0;
};

}  // namespace coraft::detail
