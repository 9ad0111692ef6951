// coraft/storage.hpp — where a node keeps its hard state, log and snapshots.
//
// The node calls write() from one task (the log writer) and awaits it; it
// never issues two writes at once. save_snapshot() may run while a write is
// in flight. Implementations do disk work on their own thread, never on the
// caller's event loop.
#pragma once

#include <coraft/types.hpp>

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <vector>

namespace coraft {

// One group commit: everything the core asked to persist since the last one.
// Carried out in this order: reset, compact, state, entries.
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
};

// What a restarted node finds.
struct recovered_state {
  hard_state state;
  // Contiguous entries, from index 1 or from some index after a compaction
  // or reset; entries the snapshot covers may still be among them.
  std::vector<entry> log;
  std::optional<snapshot> snap{};  // the newest valid snapshot, if any
};

class storage {
 public:
  virtual ~storage() = default;
  // Reads everything durable. Called once, before any write().
  virtual boost::asio::awaitable<recovered_state> load() = 0;
  // Obligations when it returns normally:
  //   - `w.state` and `w.entries` are durable (survive power loss);
  //   - the log never has a hole: truncation and append are one step;
  //   - a crash during the write leaves either the old or the new hard state.
  // Throws boost::system::system_error on failure; the node treats that as
  // fatal (it stops and acknowledges nothing further).
  virtual boost::asio::awaitable<void> write(log_write w) = 0;
  // Makes a snapshot durable (survives power loss once this returns); a
  // later load() returns it unless a newer valid one exists. Older
  // snapshots may be removed. Throws like write().
  virtual boost::asio::awaitable<void> save_snapshot(snapshot s) = 0;
};

}  // namespace coraft
