// log_writer.hpp — the node's one writer to storage: group commit in order.
//
// Each ready batch that asks to persist something becomes one write job;
// the writer merges every job queued since its last write into one storage
// write (one sync), and only once that is durable sends the messages that
// had to wait for it and tells the core what is synced [thesis §3.8,
// persist-before-send]. Jobs run in FIFO order, so a job's messages leave
// only once it and every earlier job are durable.
//
// The merge happens when storage is ready to write, on its thread
// (storage::write_queued, take()): the queue is shared with that thread
// under a mutex, so a write starts as soon as the previous sync returns,
// with everything queued meanwhile, and no trip through the event loop
// between two syncs. What each write makes durable is handed back to the
// strand (durable()), in order.
//
// A job may instead install a snapshot a leader sent [§7]: it ends a group
// (what came before is written first); the snapshot is durable already
// (received whole and put in place by storage), the log is discarded
// durably, then the applier restores it after every entry queued before.
//
// What a write makes durable is only claimed (raft::synced_to) if no write
// taken after it cut the log at or below its last entry: storage takes the
// next write before the strand hears of the previous one, and by then the
// core may have put back, at those indexes, the very entries the later
// write replaced on disk — the core's term check alone would then pass
// while the disk holds other entries (the cut write's own claim, and the
// write that puts the entries back, cover them once durable).
//
// A storage failure is fatal (DESIGN.md: after a failed fsync no retry can
// prove the data durable): the node fails and the writer ends.
//
// Storage's thread reaches the writer only through `shared_` (queue, claims,
// `closed`): once the writer is gone, a write in flight takes nothing more
// and hands nothing back.
#pragma once

#include "node_context.hpp"

#include <coraft/detail/wakeup.hpp>
#include <coraft/storage.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace coraft::detail {

// One group-commit unit: what one ready batch asked to persist and the
// messages that may leave once it is durable; or a snapshot to install; or
// a compaction to record.
struct write_job {
  std::optional<hard_state> state;
  std::vector<entry> entries;
  std::vector<message> after_sync;
  std::optional<coraft::snapshot> install{};
  std::optional<log_id> compact{};
};

struct merged_write {
  log_write write;
  std::vector<message> after_sync;  // in job order
};

// Takes the jobs at the front of `queue`, up to the first snapshot install,
// and merges them in order into one write: the latest hard state, the
// highest compaction, and the entries — a later job whose first index is at
// or below the merged entries' last cuts them there (the core truncated a
// conflicting suffix [§5.3]). Pure: no I/O, nothing but its arguments.
merged_write merge_write_jobs(std::deque<write_job>& queue);

// Runs one storage operation (`what` names it in the failure); false when
// it failed, after failing the node. Cancellation propagates.
asio::awaitable<bool> durably(node_context& ctx, const char* what, asio::awaitable<void> op);
// The same for an operation with a result: nullopt when it failed.
template <class T>
asio::awaitable<std::optional<T>> durably(node_context& ctx, const char* what, asio::awaitable<T> op) {
  std::optional<T> out;
  auto store = [](std::optional<T>& o, asio::awaitable<T> a) -> asio::awaitable<void> {
    o.emplace(co_await std::move(a));
  };
  if (!co_await durably(ctx, what, store(out, std::move(op)))) co_return std::nullopt;
  co_return out;
}

class log_writer {
 public:
  // `restore`: hands an installed snapshot to the state machine, after
  // every entry queued before it (the applier's queue_restore()).
  log_writer(node_context& ctx, storage& store, std::function<void(coraft::snapshot)> restore);
  ~log_writer();
  log_writer(const log_writer&) = delete;
  log_writer& operator=(const log_writer&) = delete;

  void queue(write_job job);
  void queue_install(coraft::snapshot s);
  // Recovery found a snapshot the log does not continue: the first write
  // discards the log and continues it after `last`.
  void reset_on_first_write(log_id last);
  // Wakes the writer (stop: it ends after the storage call in progress;
  // what is still queued may go unwritten).
  void wake();
  asio::awaitable<void> run();

 private:
  // What one write made durable, for the strand.
  struct written {
    std::vector<message> after_sync;
    std::optional<log_id> last;  // the claim; withdrawn (under the mutex) by a later cut
    std::optional<term_t> state_term;
    std::size_t entries = 0;
    std::chrono::steady_clock::time_point taken;
  };
  // Shared with storage's thread, all under `mutex`.
  struct shared_state {
    std::mutex mutex;
    std::deque<write_job> queue;
    std::optional<log_id> reset_on_first_write;
    // Taken, not yet handed to the strand (durable()), in order.
    std::deque<std::shared_ptr<written>> in_flight;
    bool closed = false;  // the writer is gone
  };
  asio::awaitable<bool> install(coraft::snapshot s);
  // On storage's thread (or the strand): the jobs queued now, up to an
  // install, as one write; nothing when there are none or `self` is gone.
  static std::optional<storage::queued_write> take(const std::shared_ptr<shared_state>& shared,
                                                   const asio::strand<asio::any_io_executor>& strand, log_writer* self);
  std::function<std::optional<storage::queued_write>()> taker();
  void durable(written& w);  // on the strand
  bool queue_empty();
  bool install_next();

  node_context& ctx_;
  storage& store_;
  std::function<void(coraft::snapshot)> restore_;
  std::shared_ptr<shared_state> shared_ = std::make_shared<shared_state>();
  wakeup wake_;
};

}  // namespace coraft::detail
