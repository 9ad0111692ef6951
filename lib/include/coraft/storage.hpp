// coraft/storage.hpp — where a node keeps its hard state and log.
//
// The node calls write() from one task (the log writer) and awaits it; it
// never issues two writes at once. Implementations do disk work on their own
// thread, never on the caller's event loop.
#pragma once

#include <coraft/types.hpp>

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <vector>

namespace coraft {

// One group commit: everything the core asked to persist since the last one.
struct log_write {
  std::optional<hard_state> state;
  // Contiguous entries. When entries.front().index is at or below the last
  // written index, the written log is first truncated from that index.
  std::vector<entry> entries;
};

// What a restarted node finds.
struct recovered_state {
  hard_state state;
  std::vector<entry> log;  // contiguous from index 1
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
};

}  // namespace coraft
