// proposals.hpp — pending propose() and change_membership() calls.
//
// A proposal is tracked from the moment the core appends its entry until
// that index is applied here (success when the entry there is still ours,
// by term), its deadline passes (timeout), a newer leader overwrites it
// (dropped [§5.3]) or the node stops.
//
// Invariant: pending proposals are in ascending index order, and so in
// deadline order too: a new proposal at index i first drops every proposal
// at i or above — a newer leader replaced those entries in our log — then
// goes last.
//
// Completions are batched: one post to the strand collects every proposal
// completed meanwhile, then one post per run of proposers sharing an
// executor resumes them there, never inline on the node strand.
#pragma once

#include "node_context.hpp"

#include <chrono>
#include <deque>
#include <optional>
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
  // Entry `e` was applied with `result`: completes the proposals at or
  // below its index.
  void applied(const entry& e, std::string result);
  // A snapshot through `last` replaced the state machine: the proposals at
  // or below it have an unknown outcome here (timeout).
  void restored(index_t last);
  // Completes with `timeout` every proposal whose deadline passed.
  void expire();
  void fail_all(errc e);
  std::size_t size() const { return pending_.size(); }
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
  std::chrono::steady_clock::time_point now();

  node_context& ctx_;
  std::deque<pending> pending_;
  std::vector<completion> completions_;
  std::optional<std::chrono::steady_clock::time_point> now_cache_;
};

}  // namespace coraft::detail
