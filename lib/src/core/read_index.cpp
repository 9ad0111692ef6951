// read_index.cpp — linearizable reads without the log [thesis §6.4] and
// leadership transfer [thesis §3.10].
//
// ReadIndex: the leader (1) has committed an entry of its term, (2) records
// its commit index as the read index, (3) confirms it is still leader with a
// heartbeat round that a majority answers, then (4) the read is served once
// the state machine has applied through the read index. Heartbeat rounds are
// numbered (read_seq); every read that arrived before a round was sent is
// confirmed by that round, so concurrent reads share one round. A follower
// asks the leader for a read index and serves locally (follower reads).
//
// Invariant: reads_ is ascending by seq, unsent reads (seq 0) last; a read's
// index is the commit index at a moment it was leader, so a confirmed read
// index is at least every commit index acknowledged before the read began.
#include <coraft/core/raft.hpp>

#include <algorithm>
#include <functional>

namespace coraft::core {

bool raft::committed_in_term() const {
  // [thesis §6.4 step 1] Until the leader commits an entry of its own term
  // (its no-op), it may not know the latest commit index.
  const auto t = term_at(commit_index_);
  return t && *t == hs_.current_term;
}

void raft::read_index(std::uint64_t ctx) {
  if (role_ == role::leader) {
    accept_read(ctx, opts_.id);
  } else if (role_ == role::follower && leader_ != no_node) {
    send(message{opts_.id, leader_, hs_.current_term, read_index_request{ctx}}, false);
  } else {
    ready_.read_states.push_back({ctx, 0, false});
  }
}

void raft::handle_read_index_request(const message& m, const read_index_request& r) {
  if (role_ != role::leader) {
    send(message{opts_.id, m.from, hs_.current_term, read_index_response{r.ctx, 0, false}}, false);
    return;
  }
  accept_read(r.ctx, m.from);
}

void raft::accept_read(std::uint64_t ctx, node_id from) {
  if (!committed_in_term()) {
    reads_blocked_.push_back({ctx, from, 0, 0});
    return;
  }
  reads_.push_back({ctx, from, commit_index_, 0});
  read_round_needed_ = true;
}

void raft::start_read_round() {
  if (!reads_blocked_.empty() && committed_in_term()) {
    for (auto& r : reads_blocked_) reads_.push_back({r.ctx, r.from, commit_index_, 0});
    reads_blocked_.clear();
    read_round_needed_ = true;
  }
  if (!read_round_needed_) return;
  read_round_needed_ = false;
  ++read_seq_;
  for (auto it = reads_.rbegin(); it != reads_.rend() && it->seq == 0; ++it) it->seq = read_seq_;
  if (voters_.size() == 1 && is_voter(opts_.id)) {
    confirm_reads();  // a single voter is its own majority
    return;
  }
  broadcast_heartbeat();
  heartbeat_elapsed_ = 0;
}

void raft::confirm_reads() {
  if (reads_.empty()) return;
  // The highest round a majority of voters has echoed (we echo our own).
  const std::uint64_t confirmed = quorum_value(read_seq_, &progress::read_ack);
  while (!reads_.empty() && reads_.front().seq != 0 && reads_.front().seq <= confirmed) {
    answer_read(reads_.front(), true);
    reads_.pop_front();
  }
}

void raft::answer_read(const pending_read& r, bool ok) {
  const index_t index = ok ? r.index : 0;
  if (r.from == opts_.id) {
    ready_.read_states.push_back({r.ctx, index, ok});
  } else {
    send(message{opts_.id, r.from, hs_.current_term, read_index_response{r.ctx, index, ok}}, false);
  }
}

void raft::fail_reads() {
  for (const auto& r : reads_) answer_read(r, false);
  for (const auto& r : reads_blocked_) answer_read(r, false);
  reads_.clear();
  reads_blocked_.clear();
  read_round_needed_ = false;
}

raft::transfer_result raft::transfer_leadership(node_id to) {
  if (role_ != role::leader) return transfer_result::not_leader;
  // [thesis §3.10] One transfer at a time: the target of one in flight may
  // already hold a TimeoutNow, so starting another would set two elections
  // off. Asking again (for it or for the best voter) joins the one in flight.
  if (transfer_target_ != no_node) {
    if (to != no_node && to != transfer_target_) return transfer_result::bad_target;
    return transfer_result::started;
  }
  if (to == no_node) {
    // The voter with the longest matching log: quickest to bring up to date.
    index_t best = 0;
    for (node_id v : voters_) {
      if (v == opts_.id) continue;
      const auto it = progress_.find(v);
      if (it == progress_.end()) continue;
      if (to == no_node || it->second.match_index > best) {
        to = v;
        best = it->second.match_index;
      }
    }
  }
  if (to == no_node || to == opts_.id || !is_voter(to) || !progress_.contains(to)) return transfer_result::bad_target;
  transfer_target_ = to;
  transfer_elapsed_ = 0;
  maybe_send_timeout_now(to, progress_.at(to));
  return transfer_result::started;
}

void raft::maybe_send_timeout_now(node_id to, const progress& pr) {
  // [thesis §3.10] Once the target's log matches ours, it can win at once.
  if (pr.match_index != last_log().index) return;
  send(message{opts_.id, to, hs_.current_term, timeout_now{}}, false);
}

}  // namespace coraft::core
