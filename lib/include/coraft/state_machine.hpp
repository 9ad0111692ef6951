// coraft/state_machine.hpp — what a service hands to coraft.
//
// apply() is called for every committed normal entry, in log order, exactly
// once per incarnation of the state. It must be deterministic: every
// replica applies the same commands in the same order and must reach the
// same state [§5.3 "State Machine Safety"].
//
// The threading contract:
//   - apply(), save_snapshot() and restore_snapshot() run on the state
//     machine's own thread (node_options::state_machine_executor, else a
//     thread the node starts), one call at a time, never on the node's
//     strand: they may take milliseconds, or a capture seconds, without
//     delaying ticks, heartbeats, votes or appends. The node hands over at
//     most max_apply_batch entries at a time; a leader whose state machine
//     is max_apply_backlog entries behind refuses proposals
//     (`overloaded`) until it catches up.
//   - save_snapshot() sees the state with exactly the entries through the
//     snapshot's index applied: applies wait while it runs.
//   - A state machine that can take a cheap point-in-time image of its
//     state (a persistent map, a copy-on-write store) overrides capture()
//     instead, and applies wait only for that: the image is written out by
//     snapshot_image::write() on the node's snapshot thread
//     (node_options::snapshot_executor) while apply() goes on — hashicorp/
//     raft's Snapshot/Persist split. write() must see the state as it was
//     at capture(), whatever apply() changed since, and must not touch what
//     apply() changes without the service's own synchronisation.
//   - The service reads its state there too: node::query_state_machine(fn)
//     runs fn between two calls (after read_index() for a linearizable
//     read). Reading it from another thread needs the service's own lock.
//   - A call that throws fails the node (on_fatal): the state may be half
//     changed, and only a restart from the log or a snapshot can rebuild it.
//   - None of them may call back into the node and wait for the answer
//     (the node may be waiting for them), nor destroy the node.
#pragma once

#include <coraft/types.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace coraft {

// Streams used by snapshots: save_snapshot() writes the state to one,
// restore_snapshot() reads a whole state from one [§7].
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

// In-memory streams: what the node uses to capture a snapshot and to
// restore one, and what a service's tests can use to check that its
// restore_snapshot() reads back what its save_snapshot() wrote.
class string_snapshot_writer final : public snapshot_writer {
 public:
  void write(std::span<const std::byte> bytes) override {
    out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  std::string out;
};

// Reads `bytes`, which must outlive the reader.
class bytes_snapshot_reader final : public snapshot_reader {
 public:
  explicit bytes_snapshot_reader(std::string_view bytes) : bytes_(bytes) {}
  std::size_t read(std::span<std::byte> buf) override {
    const std::size_t n = std::min(buf.size(), bytes_.size() - at_);
    std::memcpy(buf.data(), bytes_.data() + at_, n);
    at_ += n;
    return n;
  }

 private:
  std::string_view bytes_;
  std::size_t at_ = 0;
};

// A point-in-time image of a state machine's state (state_machine::
// capture()). write() is called at most once, on the snapshot thread,
// concurrently with apply(); the image may be destroyed on any thread,
// also without write() having been called (the node stopped).
class snapshot_image {
 public:
  virtual ~snapshot_image() = default;
  // Writes the state as it was when captured, in the format
  // restore_snapshot() reads. Throwing fails the node, as any call does.
  virtual void write(snapshot_writer& out) = 0;
};

// Reads a snapshot's bytes in order, in pieces (from its file, where the
// node's snapshots are kept): what restore_snapshot() is given.
class data_snapshot_reader final : public snapshot_reader {
 public:
  explicit data_snapshot_reader(const snapshot_data& data) : data_(data) {}
  std::size_t read(std::span<std::byte> buf) override {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), data_.size() - at_));
    data_.read(at_, buf.data(), n);
    at_ += n;
    return n;
  }

 private:
  const snapshot_data& data_;
  std::uint64_t at_ = 0;
};

class state_machine {
 public:
  virtual ~state_machine() = default;
  // Applies a committed command; the returned bytes complete the propose()
  // that proposed it (on the leader that accepted it).
  virtual std::string apply(index_t index, std::string_view command) = 0;
  // Writes the state as of the last applied index (applies wait).
  virtual void save_snapshot(snapshot_writer& out) = 0;
  // The pause-free alternative: an image of the state as of the last
  // applied index, taken in O(1) or so (applies wait only for this), and
  // written out later on another thread. nullptr (the default): the node
  // calls save_snapshot() instead.
  virtual std::unique_ptr<snapshot_image> capture() { return nullptr; }
  // Replaces the whole state with a snapshot's.
  virtual void restore_snapshot(snapshot_reader& in) = 0;
};

}  // namespace coraft
