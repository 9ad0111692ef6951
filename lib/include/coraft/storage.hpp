// coraft/storage.hpp — where a node keeps its hard state, log and snapshots.
//
// The node calls write() or write_queued() from one task (the log writer)
// and awaits it; it never issues two at once. save_snapshot() and the receiving of a
// snapshot (write_snapshot_chunk(), finish_snapshot(), from one task, in
// order) may run while a write is in flight. Implementations do disk work
// on their own thread, never on the caller's event loop.
//
// Snapshots are never held whole in memory: storage hands back what it
// keeps as a snapshot_data (a file held open, read in pieces), which the
// node sends from and restores from.
#pragma once

#include <coraft/state_machine.hpp>
#include <coraft/types.hpp>

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace coraft {

// One group commit: everything the core asked to persist since the last one.
// Carried out in this order: bootstrap, reset, compact, state, entries, and
// atomically: a crash during it leaves all of it or none of it.
struct log_write {
  std::optional<hard_state> state;
  // Contiguous entries. When entries.front().index is at or below the last
  // written index, the written log is first truncated from that index.
  std::vector<entry> entries;
  // An installed snapshot replaced the log: discard every entry; the log
  // continues after `reset` [§7]. Only after save_snapshot() of it returned.
  std::optional<log_id> reset{};
  // Log compaction [§7]: entries through `compact` are covered by a durable
  // snapshot and may be dropped (whole segments are removed).
  std::optional<log_id> compact{};
  // The bootstrap configuration, written once: with the node's first write,
  // before any hard state is durable. Never written again (a node started
  // later with other flags keeps the stored one; DESIGN.md "Guarantees").
  std::optional<membership> bootstrap{};
};

// What a restarted node finds.
struct recovered_state {
  hard_state state;
  // Contiguous entries, from index 1 or from some index after a compaction
  // or reset; entries the snapshot covers may still be among them.
  std::vector<entry> log;
  std::optional<snapshot> snap{};  // the newest valid snapshot, if any (data: as kept here)
  // The log holds the entries after `base` (0: from index 1; else after a
  // compaction or a snapshot reset). With an empty log it still says where
  // the log ends: a log that starts after the snapshot's index has a hole.
  index_t base = 0;
  // The bootstrap configuration as first written (log_write::bootstrap);
  // nullopt for a data directory that never had a write.
  std::optional<membership> bootstrap{};
  // A snapshot a leader was sending when the node went down: what it is and
  // how many of its first bytes are durable here (a transfer of the same
  // snapshot resumes after them).
  struct partial_snapshot {
    snapshot_meta meta;
    std::uint64_t bytes = 0;
  };
  std::optional<partial_snapshot> incoming{};
};

// A snapshot the node is taking, written to storage as the state machine
// produces it (never whole in memory). write() blocks on the disk: it runs
// on the state machine's or the snapshot thread, never an event loop.
class snapshot_sink : public snapshot_writer {
 public:
  // The bytes written so far, and their CRC32C.
  virtual std::uint64_t size() const = 0;
  virtual std::uint32_t crc() const = 0;
};

class storage {
 public:
  virtual ~storage() = default;
  // Reads everything durable. Called once, before any write().
  virtual boost::asio::awaitable<recovered_state> load() = 0;
  // Obligations when it returns normally:
  //   - everything in `w` is durable (survives power loss);
  //   - the log never has a hole: truncation and append are one step;
  //   - a crash during the write leaves all of `w` or none of it.
  // Throws boost::system::system_error on failure; the node treats that as
  // fatal (it stops, acknowledges nothing further, and reports the error):
  // after a failed fsync the kernel may have dropped the data, and no retry
  // can prove it durable.
  // load() obligations: what it returns is durable (not merely readable from
  // the page cache: an incarnation whose sync failed may have left bytes there
  // that are not on disk), and it never returns less than earlier writes made
  // durable — when it cannot prove that (a damaged file), it throws, naming
  // the file and the fix.
  virtual boost::asio::awaitable<void> write(log_write w) = 0;
  // Group commit back to back: calls take() for the next write, carries it
  // out as write() would, calls its on_durable() once it is durable, and
  // goes on until take() returns nothing. take() merges whatever the node
  // queued until the moment it is called, so an implementation that calls
  // it on its own thread, as soon as the previous sync is done, writes
  // without waiting for a trip to the node's event loop between two syncs
  // (file_storage does, a few writes per call, so its thread's other work
  // still gets its turn). take() and on_durable() are thread-safe and do
  // not block; on_durable() is called in take() order, and not at all for a
  // write that failed (the exception then ends the call, as with write()).
  // The default takes and writes on the caller's task, one write() each.
  struct queued_write {
    log_write write;
    std::function<void()> on_durable;
  };
  virtual boost::asio::awaitable<void> write_queued(std::function<std::optional<queued_write>()> take) {
    while (true) {
      std::optional<queued_write> next = take();
      if (!next) co_return;
      co_await write(std::move(next->write));
      next->on_durable();
    }
  }
  // Makes a snapshot durable (survives power loss once this returns); a
  // later load() returns it unless a newer valid one exists. Older
  // snapshots may be removed (while readers of them still hold them).
  // Returns the bytes as kept here, for the node to use from then on.
  // Throws like write().
  virtual boost::asio::awaitable<std::shared_ptr<const snapshot_data>> save_snapshot(snapshot s) = 0;
  // A snapshot to be written as it is produced, of the state under the
  // configuration `config` (lastConfig). Called off the event loop (it
  // creates a file); the sink is written from one thread. Throws like
  // write().
  virtual std::unique_ptr<snapshot_sink> begin_snapshot(const membership& config) = 0;
  // Everything is written: the snapshot of the state through `last` (its
  // size and CRC the sink's) becomes durable as with save_snapshot(), and
  // is returned as kept, with its metadata.
  virtual boost::asio::awaitable<snapshot> commit_snapshot(std::unique_ptr<snapshot_sink> sink, log_id last) = 0;
  // Receiving a snapshot from a leader [§7], chunk by chunk, in order: the
  // bytes at `offset` of the snapshot `meta`. `offset` is the number of its
  // bytes written so far; the first chunk of another snapshot than the one
  // being received discards that one. Bytes become durable now and then
  // (recovered_state::incoming says how many). Throws like write().
  virtual boost::asio::awaitable<void> write_snapshot_chunk(snapshot_meta meta, std::uint64_t offset, payload data) = 0;
  // Every byte of `meta` is written: checks them against meta.crc, and if
  // they match makes them durable as the newest snapshot (as save_snapshot)
  // and returns them; else discards them and returns nullptr.
  virtual boost::asio::awaitable<std::shared_ptr<const snapshot_data>> finish_snapshot(snapshot_meta meta) = 0;
};

}  // namespace coraft
