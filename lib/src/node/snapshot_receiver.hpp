// snapshot_receiver.hpp — writes the chunks of a snapshot a leader sends
// to storage as they come [§7], never holding the snapshot in memory.
//
// The core hands out chunks in order (core::ready::snapshot_chunks); this
// writes them one at a time (storage: a partial file, synced now and
// then), tells the core each one is written (it acknowledges it to the
// leader, whose window of chunks in flight moves on: this node holds at
// most that window unwritten), and after the last has storage read the
// whole back against the snapshot's CRC32C and put it in place: the core
// then installs it, or asks the leader to start over.
//
// A storage error while receiving (a full disk, an I/O error) is not fatal:
// the partial file is discarded, the node keeps its state and log, and the
// core ignores chunks for a while (core::raft::snapshot_receive_aborted) —
// from a hundred ticks, doubling to three thousand (1 s to 30 s at the
// default tick) while tries keep failing; only a whole snapshot received
// resets it — so that the leader's retries do not fill the disk again at
// once.
//
// Invariant: one storage operation at a time, in the order the core handed
// the chunks out.
#pragma once

#include "node_context.hpp"

#include <coraft/detail/wakeup.hpp>
#include <coraft/storage.hpp>

#include <deque>
#include <vector>

namespace coraft::detail {

class snapshot_receiver {
 public:
  snapshot_receiver(node_context& ctx, storage& store) : ctx_(ctx), store_(store), wake_(ctx.strand) {}

  void queue(std::vector<core::snapshot_chunk> chunks);
  void wake() { wake_.notify(); }
  asio::awaitable<void> run();

 private:
  // Stores one chunk (and after the last, the whole); false: it failed.
  asio::awaitable<bool> store(core::snapshot_chunk& c);
  void abort(const snapshot_meta& meta, const std::string& why);

  node_context& ctx_;
  storage& store_;
  wakeup wake_;
  std::deque<core::snapshot_chunk> queue_;
  std::uint64_t backoff_ticks_ = 0;  // the last refusal's; 0 after a success
};

}  // namespace coraft::detail
