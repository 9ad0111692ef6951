// replication.cpp — log replication [§5.3], the commit rule [§5.4.2],
// batching and pipelining of AppendEntries, fast backtracking, heartbeats.
//
// Flow control per follower (as in etcd-io/raft): a follower whose log
// position is unknown is *probed* with one AppendEntries at a time; once one
// succeeds it is *replicated* to optimistically, with up to max_inflight
// messages in flight. A rejection, or a whole heartbeat interval without
// progress while entries are outstanding, sends it back to probing.
#include <coraft/core/raft.hpp>
#include <coraft/detail/panic.hpp>
#include <coraft/detail/planted.hpp>

#include <algorithm>

namespace coraft::core {

void raft::append_to_log(entry e) {
  if (unpersisted_from_ == 0) unpersisted_from_ = e.index;
  const bool config = e.type == entry_type::config;
  log_.push_back(std::move(e));
  if (config) {
    // [thesis §4.1] "a server always uses the latest configuration in its
    // log, regardless of whether the entry is committed"
    push_config_entry(log_.back());
    refresh_config(log_.back().index);
  }
}

void raft::truncate_log_from(index_t i) {
  if (i <= commit_index_) {
    // Leader Completeness [§5.4] makes this impossible for a correct peer.
    CORAFT_PANIC(opts_.id, ("truncating committed index " + std::to_string(i)).c_str());
  }
  log_.erase(log_.begin() + static_cast<std::ptrdiff_t>(i - first_index_), log_.end());
  if (unpersisted_from_ >= i) unpersisted_from_ = 0;
  stable_index_ = std::min(stable_index_, i - 1);
  // A removed config entry takes its configuration with it [thesis §4.1].
  bool changed = false;
  while (configs_.size() > 1 && configs_.back().index >= i) {
    configs_.pop_back();
    changed = true;
  }
  if (changed) refresh_config();
}

void raft::mark_active(node_id from) {
  if (auto it = progress_.find(from); it != progress_.end()) {
    it->second.recent_active = true;
    it->second.last_heard = ticks_;
  }
}

log_id raft::find_conflict_hint(index_t index, term_t term) const {
  // The follower's best guess: the last index at or below `index` whose term
  // is <= the leader's prev term. Entries after it cannot match.
  const log_id last = last_log();
  if (index > last.index) return last;
  index_t i = index;
  while (i > before_first_.index) {
    const auto t = term_at(i);
    if (t && *t <= term) return {*t, i};
    --i;
  }
  return before_first_;
}

void raft::handle_append_request(const message& m, const append_request& r) {
  // Same term from here on (step_term). A candidate that learns of the
  // leader of its term returns to follower [§5.2].
  if (role_ != role::follower) become_follower(hs_.current_term, m.from);
  leader_ = m.from;
  election_elapsed_ = 0;
  // Installing a snapshot: the log is about to be replaced; take nothing
  // until it is (the leader retries after its next heartbeat).
  if (installing_) return;

  // Reject malformed input from a peer rather than trusting it.
  for (std::size_t i = 0; i < r.entries.size(); ++i) {
    const entry& e = r.entries[i];
    if (e.index != r.prev_log.index + 1 + i || e.term > m.term || e.term < r.prev_log.term ||
        (i > 0 && e.term < r.entries[i - 1].term))
      return;
  }

  message reply{opts_.id, m.from, hs_.current_term, append_response{}};
  auto& resp = std::get<append_response>(reply.body);
  if (r.prev_log.index < commit_index_) {
    // Everything up to our commit index is already known to match.
    resp.success = true;
    resp.index = commit_index_;
    send(std::move(reply), true);
    return;
  }
  const auto prev_term = term_at(r.prev_log.index);
  if (!prev_term || *prev_term != r.prev_log.term) {
    // [Fig. 2] "Reply false if log doesn't contain an entry at prevLogIndex
    // whose term matches prevLogTerm"
    resp.success = false;
    resp.index = r.prev_log.index;
    resp.hint = find_conflict_hint(r.prev_log.index, r.prev_log.term);
    send(std::move(reply), true);
    return;
  }
  for (const entry& e : r.entries) {
    const auto t = term_at(e.index);
    if (t && *t == e.term) continue;  // already have it (a duplicate or retransmission)
    // [Fig. 2] "If an existing entry conflicts with a new one (same index but
    // different terms), delete the existing entry and all that follow it"
    if (t) truncate_log_from(e.index);
    append_to_log(e);  // "Append any new entries not already in the log"
  }
  const index_t last_new = r.prev_log.index + r.entries.size();
  // [Fig. 2] "If leaderCommit > commitIndex, set commitIndex =
  // min(leaderCommit, index of last new entry)"
  commit_index_ = std::max(commit_index_, std::min(r.leader_commit, last_new));
  resp.success = true;
  resp.index = last_new;
  // The ack promises the entries are on disk [thesis §3.8]: after sync.
  send(std::move(reply), true);
}

void raft::handle_append_response(const message& m, const append_response& r) {
  mark_active(m.from);
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  progress& pr = it->second;
  if (r.success) {
    if (r.index > last_log().index) return;  // nonsense from a peer
    while (!pr.inflight.empty() && pr.inflight.front() <= r.index) pr.inflight.pop_front();
    if (r.index > pr.match_index) {
      pr.match_index = r.index;
      pr.progressed = true;
      maybe_commit();
    }
    if (m.from == transfer_target_) maybe_send_timeout_now(m.from, pr);
    pr.next_index = std::max(pr.next_index, pr.match_index + 1);
    if (pr.state == progress::mode::probe) {
      // The follower's position is known: switch to optimistic pipelining.
      pr.state = progress::mode::replicate;
      pr.probe_sent = false;
      pr.inflight.clear();
      pr.next_index = pr.match_index + 1;
    }
    return;
  }
  // Rejection. Ignore stale ones: a reply to a message sent before the
  // follower's position was last updated says nothing new.
  if (pr.state == progress::mode::replicate) {
    if (r.index <= pr.match_index) return;
  } else if (r.index != pr.next_index - 1) {
    return;
  }
  // A follower's rejection names an index no higher than the append it
  // rejects, which we sent, so no higher than our last entry; a hint beyond
  // that (or naming a term above ours) comes from a broken peer: clamp it
  // rather than let it move next_index past our log (or, near 2^64, wrap
  // the search below into a loop of billions of steps).
  const index_t last = last_log().index;
  log_id hint = r.hint;
  index_t rejected = r.index;
  if (!CORAFT_PLANTED(append_hint_unchecked)) {
    rejected = std::min(rejected, last);
    hint.index = std::min(hint.index, rejected);
    hint.term = std::min(hint.term, hs_.current_term);
  }
  if (hint.index < pr.match_index) {
    // A healthy follower's hint is never below what it acknowledged (those
    // entries match ours). This one lost entries it had made durable: its
    // data directory was wiped or restored from an old copy. Raft assumes
    // durable storage; the best we can do is treat it as a new follower.
    pr.match_index = hint.index;
  }
  // [§5.3] "After a rejection, the leader decrements nextIndex and retries";
  // the hint lets it skip a whole conflicting term at once: the next probe
  // goes after the last entry of ours whose term is <= the hinted term.
  index_t next = std::min(rejected, hint.index) + 1;
  while (next - 1 > before_first_.index) {
    const auto t = term_at(next - 1);
    if (t && *t <= hint.term) break;
    --next;
  }
  pr.state = progress::mode::probe;
  pr.inflight.clear();
  pr.probe_sent = false;
  pr.next_index = std::max(pr.match_index + 1, std::min(next, rejected));
}

void raft::handle_heartbeat_request(const message& m, const heartbeat_request& r) {
  if (role_ != role::follower) become_follower(hs_.current_term, m.from);
  leader_ = m.from;
  election_elapsed_ = 0;
  // The leader sends min(match, commit): we hold those entries.
  if (!installing_) commit_index_ = std::max(commit_index_, std::min(r.commit, last_log().index));
  send(message{opts_.id, m.from, hs_.current_term, heartbeat_response{r.read_seq}}, false);
}

void raft::handle_heartbeat_response(const message& m, const heartbeat_response& r) {
  mark_active(m.from);
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  progress& pr = it->second;
  if (r.read_seq > pr.read_ack && r.read_seq <= read_seq_) {
    pr.read_ack = r.read_seq;
    confirm_reads();
  }
  if (pr.state == progress::mode::snapshot) {
    // A whole heartbeat round without a chunk acknowledged: a chunk or its
    // ack was lost (or the follower is slow): resend from what it has.
    if (!pr.snap_progressed) {
      pr.snap_offset = pr.snap_acked;
      pr.snap_done_sent = false;
      pr.snap_resent = true;
    }
    pr.snap_progressed = false;
    return;
  }
  if (pr.match_index < last_log().index) {
    if (pr.state == progress::mode::probe) {
      pr.probe_sent = false;  // the probe may have been lost: resend
    } else if (!pr.progressed) {
      // A whole heartbeat interval without progress while entries are
      // outstanding: an append (or its ack) was lost. Probe again.
      pr.state = progress::mode::probe;
      pr.inflight.clear();
      pr.probe_sent = false;
      pr.next_index = pr.match_index + 1;
    }
  }
  pr.progressed = false;
}

void raft::broadcast_heartbeat() {
  for (const auto& [id, pr] : progress_) {
    send(message{opts_.id, id, hs_.current_term, heartbeat_request{std::min(pr.match_index, commit_index_), read_seq_}},
         false);
  }
}

void raft::flush_appends() {
  for (auto& [id, pr] : progress_) {
    while (maybe_send_append(id, pr)) {
    }
  }
}

bool raft::maybe_send_append(node_id to, progress& pr) {
  if (pr.state == progress::mode::snapshot) {
    send_snapshot_chunks(to, pr);
    return false;
  }
  if (pr.state == progress::mode::probe && pr.probe_sent) return false;
  if (pr.state == progress::mode::replicate && pr.inflight.size() >= opts_.max_inflight) return false;
  const index_t last = last_log().index;
  if (pr.next_index > last) return false;
  const index_t prev_index = pr.next_index - 1;
  const auto prev_term = term_at(prev_index);
  if (!prev_term) {
    // [§7] The entries it needs were compacted: send the snapshot instead.
    if (!snapshot_ || prev_index >= first_index_) return false;
    pr.state = progress::mode::snapshot;
    pr.inflight.clear();
    start_snapshot_stream(pr, *snapshot_);
    send_snapshot_chunks(to, pr);
    return false;
  }

  message m{opts_.id, to, hs_.current_term, append_request{}};
  auto& req = std::get<append_request>(m.body);
  req.prev_log = {*prev_term, prev_index};
  std::size_t bytes = 0;
  if (pr.next_index <= last)
    req.entries.reserve(std::min<std::size_t>(opts_.max_append_entries, last - pr.next_index + 1));
  for (index_t i = pr.next_index; i <= last && req.entries.size() < opts_.max_append_entries; ++i) {
    const entry& e = log_[i - first_index_];
    if (!req.entries.empty() && bytes + e.data.size() > opts_.max_append_bytes) break;
    bytes += e.data.size();
    req.entries.push_back(e);
  }
  req.leader_commit = commit_index_;
  const bool sent_entries = !req.entries.empty();
  if (pr.state == progress::mode::replicate) {
    if (sent_entries) {
      pr.next_index = req.entries.back().index + 1;
      pr.inflight.push_back(req.entries.back().index);
    }
  } else {
    pr.probe_sent = true;
  }
  send(std::move(m), false);  // [thesis §10.2.1] in parallel with our own write
  return sent_entries && pr.state == progress::mode::replicate;
}

std::uint64_t raft::quorum_value(std::uint64_t own, std::uint64_t progress::*field) const {
  // Each voter's value (ours given, a voter without progress counts 0),
  // highest first; the quorum-th is what a majority has reached.
  std::vector<std::uint64_t> values;
  values.reserve(voters_.size());
  for (node_id v : voters_) {
    if (v == opts_.id) {
      values.push_back(own);
    } else if (auto it = progress_.find(v); it != progress_.end()) {
      values.push_back(it->second.*field);
    } else {
      values.push_back(0);
    }
  }
  std::sort(values.begin(), values.end(), std::greater<>());
  return values[quorum() - 1];
}

bool raft::maybe_commit() {
  // [§5.3, §5.4.2] The leader commits the highest index stored on a majority
  // — counting its own log only once durable — and only if that entry is
  // from its current term; earlier entries then commit indirectly.
  const index_t candidate = quorum_value(stable_index_, &progress::match_index);
  if (candidate <= commit_index_) return false;
  const auto t = term_at(candidate);
  if (!t || *t != hs_.current_term) return false;
  commit_index_ = candidate;
  return true;
}

}  // namespace coraft::core
