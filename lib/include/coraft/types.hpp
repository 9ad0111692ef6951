// coraft/types.hpp — the Raft paper's nouns: terms, indexes, log entries.
//
// Everything here is plain data shared by the protocol core, the node
// runtime, storage and transports. No Asio, no I/O.
#pragma once

#include <coraft/payload.hpp>

#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coraft {

using term_t = std::uint64_t;   // [Fig. 2] currentTerm; 0 = before any election
using index_t = std::uint64_t;  // log index; the first entry has index 1
using node_id = std::uint64_t;  // server id; 0 means "none"

inline constexpr node_id no_node = 0;

// No term reaches this: one election a nanosecond would take 146 years. A
// message that names a term at or above it comes from a broken or hostile
// peer, and is dropped (the frame decoder calls it malformed): taking it
// would leave no term to campaign in — current_term + 1 would wrap — and
// stop the cluster for good, across restarts (the term is persisted).
inline constexpr term_t max_term = term_t{1} << 62;

// A position in the log. The defaulted <=> compares term first, then index:
// exactly the "more up-to-date" comparison of the election restriction [§5.4.1].
struct log_id {
  term_t term = 0;
  index_t index = 0;
  friend constexpr auto operator<=>(const log_id&, const log_id&) = default;
};

enum class entry_type : std::uint8_t {
  normal = 0,  // a user command, applied to the state machine
  noop = 1,    // appended by a new leader to commit its term [§5.4.2, §8]
  config = 2,  // membership change (used by the membership issue)
};

// One log entry [Fig. 2]. `data` holds opaque bytes (the user's command),
// shared between copies of the entry.
struct entry {
  term_t term = 0;
  index_t index = 0;
  entry_type type = entry_type::normal;
  payload data;

  log_id id() const { return {term, index}; }
  friend bool operator==(const entry&, const entry&) = default;
};

// The state every server keeps on stable storage before answering RPCs
// [Fig. 2 "Persistent state on all servers"], besides the log.
struct hard_state {
  term_t current_term = 0;      // Monotonic. Persisted.
  node_id voted_for = no_node;  // candidate voted for in current_term. Persisted.
  friend bool operator==(const hard_state&, const hard_state&) = default;
};

// A cluster configuration [thesis ch. 4]: voters elect leaders and count
// towards commit; learners receive the log but do neither. `addresses` is
// opaque to the protocol: what the runtime needs to reach each member
// (coraft's TCP runtime: "raft-host:port http-host:port"). It travels with
// the configuration in config entries and snapshots, so a joining or
// restarted node learns where every member is. Ids are kept sorted.
struct membership {
  std::vector<node_id> voters;
  std::vector<node_id> learners;
  std::map<node_id, std::string> addresses;
  bool is_voter(node_id id) const;
  bool is_learner(node_id id) const;
  bool contains(node_id id) const { return is_voter(id) || is_learner(id); }
  friend bool operator==(const membership&, const membership&) = default;
};

// The one binary form of a configuration: a config entry's payload, and
// the configuration inside snapshot files and InstallSnapshot frames.
// decode_membership() returns nullopt for bytes that are not one (never
// throws); limits: 1024 members, 1 KiB per address.
std::string encode_membership(const membership& m);
std::optional<membership> decode_membership(std::string_view bytes);

// What a snapshot stands for [§7]: the state after applying every entry
// through `last`, and the configuration in force at that index.
struct snapshot_meta {
  log_id last;             // lastIncludedTerm / lastIncludedIndex
  membership config;       // lastConfig [thesis §5.1]
  std::uint64_t size = 0;  // bytes of data
  std::uint32_t crc = 0;   // CRC32C of data
  friend bool operator==(const snapshot_meta&, const snapshot_meta&) = default;
};

// A snapshot's bytes, wherever they are kept: in memory (simulations,
// tests) or in a file that storage holds open — so that a transfer can go
// on reading it after a newer snapshot replaced it on disk, and no node
// holds a whole snapshot in memory. Immutable; read from any thread. A
// file's read() blocks on the disk: never call it on an event loop.
class snapshot_data {
 public:
  virtual ~snapshot_data() = default;
  virtual std::uint64_t size() const = 0;
  // Copies the n bytes at `offset` to `out`; throws (std::runtime_error or
  // boost::system::system_error) on an I/O error or a range past the end.
  virtual void read(std::uint64_t offset, void* out, std::size_t n) const = 0;
  // The bytes, when they are in memory (reading them never blocks).
  virtual const payload* in_memory() const { return nullptr; }
};

class memory_snapshot_data final : public snapshot_data {
 public:
  explicit memory_snapshot_data(payload bytes) : bytes_(std::move(bytes)) {}
  std::uint64_t size() const override { return bytes_.size(); }
  void read(std::uint64_t offset, void* out, std::size_t n) const override;
  const payload* in_memory() const override { return &bytes_; }

 private:
  payload bytes_;
};

inline std::shared_ptr<const snapshot_data> snapshot_bytes(payload bytes) {
  return std::make_shared<memory_snapshot_data>(std::move(bytes));
}

// All of a snapshot's bytes in one string (tests, small snapshots).
std::string read_all(const snapshot_data& d);

// A whole snapshot: its metadata and its bytes (shared, so that the core,
// storage and senders hold one copy; `data` is never null).
struct snapshot {
  snapshot_meta meta;
  std::shared_ptr<const snapshot_data> data = snapshot_bytes({});
};

}  // namespace coraft
