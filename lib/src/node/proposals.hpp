// proposals.hpp — pending propose() and change_membership() calls.
//
// A proposal is tracked from the moment the core appends its entry until
// that index is applied here (success when the entry there is still ours,
// by term; dropped [§5.3] when another term's entry committed there), its
// deadline passes (timeout), a snapshot replaces the state machine past it
// (timeout: unknown here) or the node stops (interrupted).
//
// A new proposal at index i means this node's log was truncated from i:
// the proposals at i or above lost their entries here, but not necessarily
// everywhere — another server may still hold one and, elected, commit it
// (the Raft paper's Figure 8). They are kept aside, superseded, until their
// index is applied, and only then answered: success or dropped, never a
// guess.
//
// Invariant: `pending_` is in ascending index order, and so in deadline
// order too (a new proposal first moves those at its index or above to
// `superseded_`, then goes last).
//
// Completions are batched: one post to the strand collects every proposal
// completed meanwhile, then one post per run of proposers sharing an
// executor resumes them there, never inline on the node strand.
#pragma once

#include "node_context.hpp"

#include <chrono>
#include <deque>
#include <list>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace coraft::detail {

class proposals {
 public:
  struct waiter {
    asio::any_io_executor client;  // where the proposer resumes
    propose_handler handler;
  };

  explicit proposals(node_context& ctx) : ctx_(ctx) {}

  // Completes `w` at once with `e` (not accepted).
  void reject(waiter&& w, errc e, node_id hint = no_node);
  // An entry of ours was appended at `id`: complete `w` once it is applied.
  void track(log_id id, waiter&& w);
  // The entries `committed` (consecutive) are known committed here: the
  // proposals among them (same index and term) count their propose ->
  // commit latency (node_metrics::propose_commit_latency).
  void committed(std::span<const entry> committed);
  // Entry `e` was applied with `result`: completes the proposals at or
  // below its index.
  void applied(const entry& e, std::string result);
  // A snapshot through `last` replaced the state machine: the proposals at
  // or below it have an unknown outcome here (timeout).
  void restored(index_t last);
  // Completes with `timeout` every proposal whose deadline passed.
  void expire();
  void fail_all(errc e);
  std::size_t size() const { return pending_.size() + superseded_.size(); }
  // The next completion takes a fresh clock reading (one per batch of
  // events, not one per proposal).
  void forget_time() { now_cache_.reset(); }

 private:
  struct pending {
    index_t index;
    term_t term;
    std::uint64_t deadline_tick;
    std::chrono::steady_clock::time_point accepted;
    waiter w;
  };
  struct completion {
    asio::any_io_executor client;
    propose_handler handler;
    node_result<applied_command> out;
  };
  void complete(waiter& w, node_result<applied_command> out, std::chrono::steady_clock::time_point accepted = {});
  void send_completions();
  // Completes (with `e`) and forgets the superseded proposals `pred` picks.
  template <class Pred>
  void settle_superseded(Pred pred, errc e);
  std::chrono::steady_clock::time_point now();

  node_context& ctx_;
  std::deque<pending> pending_;
  // Entries truncated here, in any order (rare: a leader's log overwritten).
  // A list: erasing from a vector would move-assign the handlers, which
  // Boost 1.81's any_completion_handler gets wrong (it recurses).
  std::list<pending> superseded_;
  std::vector<completion> completions_;
  std::optional<std::chrono::steady_clock::time_point> now_cache_;
  index_t commit_seen_ = 0;  // the highest index committed() was told of. Monotonic.
};

}  // namespace coraft::detail
