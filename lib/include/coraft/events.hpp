// coraft/events.hpp — a node's recent history, for GET /v1/events and the
// dashboard: role and term changes, leader changes, membership changes,
// snapshots taken and installed, peers connected and lost (event_log); and
// its throughput over the last minutes (rate_history, below).
//
// Invariants:
// - Sequence numbers start at 1 and grow by one per event, for the life of
//   the event_log: they restart with the process, which is why every page
//   carries the incarnation id (random, new per event_log). A reader that
//   sees another incarnation starts over from since=0.
// - Memory is bounded: the oldest events are dropped past `capacity`; a
//   page says so (`truncated`) when the reader asked for what is gone.
//   Events whose kind starts with "peer_" (a link that flaps makes many)
//   are kept to a quarter of it, their oldest dropped first, so that they
//   never push out elections and membership changes: the numbers held may
//   then have gaps (dropped peer events), never reorder.
// - Thread-safe: the node records on its strand, the transport on its own.
#pragma once

#include <coraft/types.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coraft {

struct node_event {
  std::uint64_t seq = 0;
  std::chrono::system_clock::time_point time;
  std::string kind;  // "role", "leader", "term", "membership", "snapshot_taken", ...
  term_t term = 0;   // the node's term when it happened
  std::string message;
  std::vector<std::pair<std::string, std::string>> fields;  // e.g. {"peer", "2"}
};

class event_log {
 public:
  explicit event_log(std::size_t capacity = 1000);

  const std::string& incarnation() const { return incarnation_; }
  // Stamps the event with the next sequence number, the time and the term
  // last given to set_term().
  void record(std::string kind, std::string message, std::vector<std::pair<std::string, std::string>> fields = {});
  void set_term(term_t t);

  struct page {
    std::vector<node_event> events;  // seq > since, oldest first, at most `limit`
    std::uint64_t last_seq = 0;      // the newest event's (0: none yet)
    bool truncated = false;          // events after `since` were dropped before this read
  };
  page since(std::uint64_t seq, std::size_t limit) const;
  // The newest `limit` events, oldest first (a reader's first look).
  page latest(std::size_t limit) const;

 private:
  const std::size_t capacity_;
  const std::string incarnation_;
  mutable std::mutex mu_;
  std::deque<node_event> events_;
  std::uint64_t last_seq_ = 0;
  std::size_t peer_events_ = 0;  // held events of kind peer_*
  term_t term_ = 0;
};

// The node's throughput over the last minutes, for the dashboard's charts:
// its counters sampled about once a second (on its ticks), so that a page
// opened now shows the minutes before it. Thread-safe; bounded
// (`capacity` samples, oldest dropped).
struct rate_sample {
  std::int64_t unix_ms = 0;
  std::uint64_t proposals_ok = 0;
  std::uint64_t reads_ok = 0;
  std::uint64_t commit_latency_count = 0;
  double commit_latency_sum_s = 0;
};

class rate_history {
 public:
  explicit rate_history(std::size_t capacity = 300) : capacity_(capacity) {}
  void add(const rate_sample& s);
  std::vector<rate_sample> samples() const;  // oldest first

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::deque<rate_sample> samples_;
};

}  // namespace coraft
