// coraft/state_machine.hpp — what a service hands to coraft.
//
// apply() is called for every committed normal entry, in log order, exactly
// once per incarnation of the state, on the node's strand. It must be
// deterministic: every replica applies the same commands in the same order
// and must reach the same state [§5.3 "State Machine Safety"].
#pragma once

#include <coraft/types.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace coraft {

// Streams used by snapshots (the snapshot issue implements taking and
// installing them; the interface is fixed now so services can plan for it).
class snapshot_writer {
 public:
  virtual ~snapshot_writer() = default;
  virtual void write(std::span<const std::byte> bytes) = 0;
};

class snapshot_reader {
 public:
  virtual ~snapshot_reader() = default;
  // Reads up to buf.size() bytes; returns 0 at the end.
  virtual std::size_t read(std::span<std::byte> buf) = 0;
};

class state_machine {
 public:
  virtual ~state_machine() = default;
  // Applies a committed command; the returned bytes complete the propose()
  // that proposed it (on the leader that accepted it).
  virtual std::string apply(index_t index, std::string_view command) = 0;
  // Writes the state as of the last applied index.
  virtual void save_snapshot(snapshot_writer& out) = 0;
  // Replaces the whole state with a snapshot's.
  virtual void restore_snapshot(snapshot_reader& in) = 0;
};

}  // namespace coraft
