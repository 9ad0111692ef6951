// waiters.hpp — pending read_index() and transfer_leadership() calls.
//
// A read waits in two stages [thesis §6.4]: by its context until the core
// confirms (or refuses) it, then by its read index until the state machine
// has applied that far. It answers `timeout` at its deadline in either
// stage: a follower cut off from the leader after the confirmation may
// never apply that far.
//
// Read contexts: this incarnation's tag (never 0) in the top 32 bits, a
// count below. Invariant: unique across incarnations of this node (up to the
// 2^-32 chance of two incarnations drawing one tag), so an answer meant for
// an earlier incarnation — still queued in a peer's transport while we were
// down — matches nothing here.
//
// A transfer completes when another node leads, or with `timeout` when the
// core abandons it [thesis §3.10] or its backstop deadline passes.
#pragma once

#include "node_context.hpp"

#include <map>
#include <vector>

namespace coraft::detail {

class read_waiters {
 public:
  explicit read_waiters(node_context& ctx) : ctx_(ctx) {}

  // Draws this incarnation's tag from `incarnation` (random when 0).
  void start(std::uint64_t incarnation);
  // Asks the core to confirm a read for `w`.
  void begin(index_waiter w);
  void on_read_state(const core::read_state& rs);
  // The state machine has applied through `applied`: answer the reads
  // confirmed at or below it.
  void applied(index_t applied);
  void expire();
  void fail_all(errc e);

 private:
  static std::uint64_t next_tag(std::uint64_t seed);

  node_context& ctx_;
  std::map<std::uint64_t, index_waiter> by_ctx_;   // the core has not answered
  std::multimap<index_t, index_waiter> applying_;  // confirmed: wait for the apply
  index_t applied_ = 0;
  std::uint64_t tag_ = 0;
  std::uint64_t next_ctx_ = 1;
};

class transfer_waiters {
 public:
  explicit transfer_waiters(node_context& ctx) : ctx_(ctx) {}

  // Starts a transfer to `to`; false when the core refused it (answered).
  bool begin(node_id to, index_waiter w);
  // After every ready batch and tick: answers the transfers that ended.
  void check();
  void fail_all(errc e);

 private:
  node_context& ctx_;
  std::vector<index_waiter> pending_;
};

}  // namespace coraft::detail
