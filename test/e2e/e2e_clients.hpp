// e2e_clients.hpp — what several e2e stories do as clients of a cluster:
// write distinct keys and record every acknowledgement, change the
// membership through whichever node leads, find the leader among some
// nodes, and check that every acknowledged write is still readable.
//
// The writer runs on threads of its own and never touches Boost.Test; the
// check_* helpers assert and run on the test's thread only.
#pragma once

#include "e2e_harness.hpp"

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

namespace e2e {

// Reading JSON answers: a number field (0 when absent), a string field
// (empty when absent), the "error" code of a JSON error.
std::uint64_t number(const boost::json::value& v, const char* key);
std::string text_field(const http_reply& r, const char* key);
std::string error_code(const http_reply& r);

long long ms_between(clock_type::time_point a, clock_type::time_point b);

// One acknowledged write.
struct ack {
  std::string key;
  std::string value;
  std::uint64_t index = 0;  // X-Raft-Index / "index" of the answer
  clock_type::time_point at;
};
std::uint64_t max_index(const std::vector<ack>& acks);

struct writer_options {
  int threads = 1;
  int max_writes = 3000;  // in all
  std::chrono::milliseconds max_time = 30s;
  std::chrono::milliseconds pause{0};         // after each acknowledged write (paced stories)
  std::chrono::milliseconds retry_pause{20};  // after an answer that is not 200
};

// Clients writing distinct keys, `threads` at once: to the node each
// believes leads, following 307s, moving on to the next node on no answer,
// 503 or 504 (an unknown outcome: the key is never reused). Every 200 is
// recorded. Bounded by max_writes and max_time.
class writer {
 public:
  writer(const kv_cluster& c, std::string prefix, writer_options o = {});
  ~writer() { stop(); }
  writer(const writer&) = delete;
  writer& operator=(const writer&) = delete;

  void stop();
  std::size_t acked() const { return acked_; }
  bool running() const { return finished_ < threads_.size(); }
  // Until at least `n` writes in all are acknowledged (bounded).
  bool wait_acked(std::size_t n, std::chrono::milliseconds within) const;
  // Until `more` writes beyond those acknowledged now are acknowledged.
  bool wait_more(std::size_t more, std::chrono::milliseconds within) const { return wait_acked(acked_ + more, within); }
  std::vector<ack> acks() const;
  // How the writes ended, counted by outcome, for failure messages.
  std::string outcomes() const;

 private:
  void run(int t);

  std::vector<std::string> addrs_;
  std::string prefix_;
  writer_options opts_;
  clock_type::time_point end_;
  std::atomic<bool> stop_{false};
  std::atomic<int> started_{0};
  std::atomic<std::size_t> finished_{0};
  std::atomic<std::size_t> acked_{0};
  mutable std::mutex mutex_;
  std::vector<ack> acks_;
  std::map<std::string, int> outcomes_;
  std::vector<std::thread> threads_;
};

// A membership change through node `via`, following 307s to the leader,
// retrying while the leader answers 409 busy (a change or the term's first
// commit pending) or, with `retry_not_caught_up`, not_caught_up (a learner
// still catching up). Any other answer is returned as is.
http_reply change_membership(const kv_cluster& c, int via, const std::string& method, const std::string& target,
                             const std::string& body = {}, bool retry_not_caught_up = true);

// Polls until one node of `ids` says it leads and every node of `ids` names
// it, in the same term. (kv_cluster::wait_for_agreement also accepts a
// leader outside `among` that nobody asks: right after a leader is removed
// its old followers still name it until they time out.)
std::optional<int> leader_among(const kv_cluster& c, const std::vector<int>& ids, std::chrono::milliseconds within);

// Every acknowledged write is readable: linearizably via `via` (following
// redirects), and from the local state (?stale) of each node in `nodes`
// once it has applied the last acknowledged index (within `apply_within`).
void check_every_ack_is_readable(const kv_cluster& c, int via, const std::vector<int>& nodes,
                                 const std::vector<ack>& acks, std::chrono::milliseconds apply_within = 15s);

}  // namespace e2e
