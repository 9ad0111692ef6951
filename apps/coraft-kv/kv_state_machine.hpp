// kv_state_machine.hpp — coraft-kv's replicated state: an ordered map of
// keys to values, changed only by applying committed commands.
//
// Commands are binary (op, condition, key, value, expected value); results
// carry a status and, for reads, the value. apply() is deterministic: the
// same commands in the same order give the same map on every node.
// Threading: apply() and the snapshot calls run on the state machine's
// thread (state_machine.hpp); the routes read the map there too, through
// node::query_state_machine(). Only size() may be read from anywhere.
// Snapshots: the map is a persistent_map, so capture() copies it in O(1)
// and the copy is written out on the snapshot thread while apply() goes
// on; restore_snapshot() reads the stream as it comes (the state is never
// held twice).
#pragma once

#include <coraft/payload.hpp>
#include <coraft/persistent_map.hpp>
#include <coraft/state_machine.hpp>

#include <atomic>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coraft::kv {

enum class op : std::uint8_t { put = 1, del = 2, get = 3 };
enum class condition : std::uint8_t { none = 0, expect = 1, absent = 2 };
enum class status : std::uint8_t { ok = 0, not_found = 1, precondition_failed = 2, bad_command = 3 };

struct command {
  op kind = op::put;
  condition cond = condition::none;
  std::string key;
  std::string value;   // put
  std::string expect;  // cond == expect
};

struct result {
  status code = status::ok;
  std::string value;  // get: the value
};

std::string encode(const command& c);
std::optional<command> decode_command(std::string_view bytes);
std::string encode(const result& r);
result decode_result(std::string_view bytes);

// Values as shared immutable bytes: a node copied by the map's path copying
// costs a reference count for its value, not an allocation and a copy. Keys
// live in the map's nodes (one cache miss per level of the tree).
using kv_map = persistent_map<payload>;

class kv_state_machine final : public state_machine {
 public:
  std::string apply(index_t index, std::string_view command) override;
  void save_snapshot(snapshot_writer& out) override;
  std::unique_ptr<snapshot_image> capture() override;
  void restore_snapshot(snapshot_reader& in) override;

  // Local (possibly stale) reads.
  const payload* find(std::string_view key) const;
  std::vector<std::string> keys_with_prefix(const std::string& prefix, std::size_t limit) const;
  index_t applied_index() const { return applied_; }
  std::size_t size() const { return keys_.load(std::memory_order_relaxed); }

 private:
  kv_map map_;
  index_t applied_ = 0;
  std::atomic<std::size_t> keys_{0};  // map_.size(), for the metrics (another thread)
};

}  // namespace coraft::kv
