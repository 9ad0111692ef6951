// raft.cpp — construction, the ready batch, proposals, sync reports, status
// and the invariant checker. Election rules live in election.cpp, log
// replication in replication.cpp.
#include <coraft/core/raft.hpp>
#include <coraft/detail/panic.hpp>
#include <coraft/detail/splitmix.hpp>

#include <algorithm>
#include <stdexcept>

namespace coraft::core {

const char* to_string(role r) {
  switch (r) {
    case role::follower: return "follower";
    case role::pre_candidate: return "pre_candidate";
    case role::candidate: return "candidate";
    case role::leader: return "leader";
  }
  return "?";
}

raft::raft(const options& opts, std::vector<node_id> voters, hard_state state, std::vector<entry> log)
    : raft(opts, membership{std::move(voters), {}, {}}, state, std::move(log)) {}

raft::raft(const options& opts, membership bootstrap, hard_state state, std::vector<entry> log)
    : opts_(opts), hs_(state) {
  if (opts_.id == no_node) throw std::invalid_argument("coraft: node id must be non-zero");
  if (opts_.heartbeat_ticks < 1 || opts_.election_ticks <= opts_.heartbeat_ticks)
    throw std::invalid_argument("coraft: need 1 <= heartbeat_ticks < election_ticks");
  if (opts_.election_ticks_max != 0 && opts_.election_ticks_max < opts_.election_ticks)
    throw std::invalid_argument("coraft: election_ticks_max must be 0 or at least election_ticks");
  if (opts_.max_inflight < 1 || opts_.max_append_entries < 1)
    throw std::invalid_argument("coraft: max_inflight and max_append_entries must be >= 1");
  if (opts_.max_snapshot_chunk < 1 || opts_.max_snapshot_chunks_inflight < 1)
    throw std::invalid_argument("coraft: max_snapshot_chunk and max_snapshot_chunks_inflight must be >= 1");
  for (std::size_t i = 0; i < log.size(); ++i) {
    if (log[i].index != i + 1 || (i > 0 && log[i].term < log[i - 1].term))
      throw std::invalid_argument("coraft: recovered log is not contiguous from index 1");
  }
  if (!log.empty() && log.back().term > hs_.current_term)
    throw std::invalid_argument("coraft: recovered log has a term above the hard state's");
  log_.assign(std::make_move_iterator(log.begin()), std::make_move_iterator(log.end()));
  // Whatever storage recovered is durable by definition.
  stable_index_ = last_log().index;
  // Seed mixes the node id so that nodes given the same seed still differ.
  rng_state_ = opts_.seed ^ (opts_.id * 0x9E3779B97F4A7C15ull);
  role_ = role::follower;
  leader_ = no_node;
  set_base_config(0, std::move(bootstrap));
  scan_configs_from_log();
  reset_election_timer();
}

raft::raft(const options& opts, hard_state state, snapshot snap, std::vector<entry> log)
    : raft(opts, snap.meta.config, state, {}) {
  const log_id s = snap.meta.last;
  if (s.term > hs_.current_term) throw std::invalid_argument("coraft: snapshot has a term above the hard state's");
  // The log restarts after the snapshot [§7]: entries it covers are dropped
  // (one at its index must be the same entry), the rest must follow it.
  std::vector<entry> kept;
  for (entry& e : log) {
    if (e.index < s.index) continue;
    if (e.index == s.index) {
      if (e.term != s.term)
        throw std::invalid_argument("coraft: recovered log disagrees with the snapshot at its index");
      continue;
    }
    const index_t expect = kept.empty() ? s.index + 1 : kept.back().index + 1;
    if (e.index != expect || (!kept.empty() && e.term < kept.back().term) || e.term < s.term)
      throw std::invalid_argument("coraft: recovered log does not follow the snapshot contiguously");
    kept.push_back(std::move(e));
  }
  if (!kept.empty() && kept.back().term > hs_.current_term)
    throw std::invalid_argument("coraft: recovered log has a term above the hard state's");
  log_.assign(std::make_move_iterator(kept.begin()), std::make_move_iterator(kept.end()));
  first_index_ = s.index + 1;
  before_first_ = s;
  stable_index_ = last_log().index;
  commit_index_ = s.index;
  applied_index_ = s.index;
  set_base_config(s.index, snap.meta.config);
  scan_configs_from_log();
  snapshot_ = std::move(snap);
}

std::uint64_t raft::next_random() { return detail::splitmix64(rng_state_); }

bool raft::is_voter(node_id id) const { return std::binary_search(voters_.begin(), voters_.end(), id); }

log_id raft::last_log() const {
  if (log_.empty()) return before_first_;
  return log_.back().id();
}

std::optional<term_t> raft::term_at(index_t i) const {
  if (i == before_first_.index) return before_first_.term;
  if (i < first_index_ || i >= first_index_ + log_.size()) return std::nullopt;
  return log_[i - first_index_].term;
}

const entry* raft::entry_at(index_t i) const {
  if (i < first_index_ || i >= first_index_ + log_.size()) return nullptr;
  return &log_[i - first_index_];
}

void raft::send(message m, bool after_sync) {
  m.from = opts_.id;
  if (m.term == 0) m.term = hs_.current_term;
  (after_sync ? ready_.send_after_sync : ready_.send_now).push_back(std::move(m));
}

propose_result raft::propose(payload data) {
  if (role_ != role::leader) {
    return {propose_result::code::not_leader, {}, leader_};
  }
  // [thesis §3.10] "the prior leader stops accepting new client requests"
  // while it hands over, so the target can catch up.
  if (transfer_target_ != no_node) return {propose_result::code::transferring, {}, transfer_target_};
  // [thesis §4.2.2] A leader that appended its own removal takes no more
  // commands: when the removal commits, a voter then holds our whole log
  // and can take over at once (TimeoutNow in after_commit).
  if (!config().is_voter(opts_.id)) return {propose_result::code::transferring, {}, no_node};
  entry e{hs_.current_term, last_log().index + 1, entry_type::normal, std::move(data)};
  const log_id id = e.id();
  append_to_log(std::move(e));
  return {propose_result::code::accepted, id, opts_.id};
}

void raft::synced_to(log_id last) {
  // A write that finished after a newer leader replaced those entries says
  // nothing about the entries now at that index: only trust a matching term.
  if (last.index <= stable_index_) return;
  const auto t = term_at(last.index);
  if (!t || *t != last.term) return;
  stable_index_ = last.index;
  if (role_ == role::leader) maybe_commit();
}

bool raft::has_ready() const {
  if (hs_dirty_ || unpersisted_from_ != 0 || !ready_.send_now.empty() || !ready_.send_after_sync.empty() ||
      !ready_.snapshot_chunks.empty() || ready_.install_snapshot || ready_.verify_snapshot ||
      !ready_.read_states.empty() || read_round_needed_)
    return true;
  if (!reads_blocked_.empty() && committed_in_term()) return true;
  if (config_commit_pending()) return true;
  // (Nothing is applied while a snapshot is being installed: it covers it.)
  if (applied_index_ < std::min(commit_index_, stable_index_) && !installing_) return true;
  if (role_ == role::leader) {
    const index_t last = last_log().index;
    for (const auto& [id, pr] : progress_) {
      if (pr.state == progress::mode::snapshot) {
        if (may_send_snapshot_chunk(pr)) return true;
        continue;
      }
      if (pr.next_index > last) continue;
      if (pr.state == progress::mode::probe ? !pr.probe_sent : pr.inflight.size() < opts_.max_inflight) return true;
    }
  }
  return false;
}

ready raft::take_ready() {
  // Appends first: the leader sends in parallel with its own disk write
  // [thesis §10.2.1]; every entry accumulated since the last batch goes in as
  // few messages as the batching bounds allow.
  // A committed change may drop departed peers or end our leadership.
  if (config_commit_pending()) after_commit();
  if (role_ == role::leader) {
    flush_appends();
    // One heartbeat round confirms every read that arrived since the last.
    start_read_round();
  }
  if (hs_dirty_) {
    ready_.persist_state = hs_;
    hs_dirty_ = false;
  }
  if (unpersisted_from_ != 0) {
    const index_t last = last_log().index;
    ready_.persist_entries.reserve(last - unpersisted_from_ + 1);
    for (index_t i = unpersisted_from_; i <= last; ++i) ready_.persist_entries.push_back(log_[i - first_index_]);
    unpersisted_from_ = 0;
  }
  // Apply only what is committed and durable here: a 200 from the leader then
  // means "fsynced on a majority, leader included".
  const index_t to = std::min(commit_index_, stable_index_);
  if (applied_index_ < to && !installing_) {
    ready_.apply.reserve(to - applied_index_);
    for (index_t i = applied_index_ + 1; i <= to; ++i) ready_.apply.push_back(log_[i - first_index_]);
    applied_index_ = to;
  }
  ready out = std::move(ready_);
  ready_ = ready{};
  return out;
}

status raft::get_status() const {
  status s;
  s.id = opts_.id;
  s.state = role_;
  s.term = hs_.current_term;
  s.voted_for = hs_.voted_for;
  s.leader = leader_;
  s.commit_index = commit_index_;
  s.applied_index = applied_index_;
  s.stable_index = stable_index_;
  s.last_log = last_log();
  s.first_index = first_index_;
  if (snapshot_) s.snapshot = snapshot_->meta.last;
  s.transfer_target = transfer_target_;
  s.pending_reads = reads_.size() + reads_blocked_.size();
  s.voters = voters_;
  s.learners = config().learners;
  s.config_index = configs_.back().index;
  s.config_pending = configs_.back().index > commit_index_;
  s.elections = elections_;
  if (role_ == role::leader) {
    for (const auto& [id, pr] : progress_) {
      s.progress.push_back({id, pr.match_index, pr.next_index, pr.state == progress::mode::replicate,
                            pr.state == progress::mode::snapshot, pr.inflight.size(), pr.recent_active, is_voter(id)});
    }
    std::sort(s.progress.begin(), s.progress.end(),
              [](const peer_status& a, const peer_status& b) { return a.id < b.id; });
  }
  return s;
}

void raft::check_invariants() const {
  const log_id last = last_log();
  if (commit_index_ > last.index) CORAFT_PANIC(opts_.id, "commit_index beyond the last log index");
  if (applied_index_ > commit_index_) CORAFT_PANIC(opts_.id, "applied beyond commit_index");
  if (applied_index_ > stable_index_) CORAFT_PANIC(opts_.id, "applied beyond the durable index");
  if (stable_index_ > last.index) CORAFT_PANIC(opts_.id, "durable index beyond the last log index");
  if (first_index_ != before_first_.index + 1)
    CORAFT_PANIC(opts_.id, "first index does not follow the compacted prefix");
  if (snapshot_ && snapshot_->meta.last.index > applied_index_)
    CORAFT_PANIC(opts_.id, "snapshot beyond the applied index");
  if (snapshot_ && snapshot_->meta.last.index < before_first_.index)
    CORAFT_PANIC(opts_.id, "log compacted beyond the newest snapshot");
  if (last.term > hs_.current_term) CORAFT_PANIC(opts_.id, "log holds a term above current_term");
  if (configs_.empty() || configs_.front().index > before_first_.index)
    CORAFT_PANIC(opts_.id, "no configuration in force at the start of the log");
  for (std::size_t i = 1; i < configs_.size(); ++i) {
    const entry* e = entry_at(configs_[i].index);
    if (configs_[i].index <= configs_[i - 1].index || e == nullptr || e->type != entry_type::config)
      CORAFT_PANIC(opts_.id, "configuration history does not match the log's config entries");
  }
  if (voters_ != config().voters) CORAFT_PANIC(opts_.id, "voters differ from the configuration in force");
  for (std::size_t i = 0; i < log_.size(); ++i) {
    if (log_[i].index != first_index_ + i) CORAFT_PANIC(opts_.id, "log indexes are not contiguous");
    if (i > 0 && log_[i].term < log_[i - 1].term) CORAFT_PANIC(opts_.id, "log terms decrease");
  }
  if (role_ == role::leader) {
    if (leader_ != opts_.id) CORAFT_PANIC(opts_.id, "leader does not know itself as leader");
    if (hs_.voted_for != opts_.id) CORAFT_PANIC(opts_.id, "leader did not vote for itself");
    for (const auto& [id, pr] : progress_) {
      if (pr.match_index >= pr.next_index) CORAFT_PANIC(opts_.id, "progress: match_index >= next_index");
      if (pr.match_index > last.index) CORAFT_PANIC(opts_.id, "progress: match beyond the leader's log");
      if (pr.next_index > last.index + 1) CORAFT_PANIC(opts_.id, "progress: next_index beyond the leader's log");
    }
    for (std::size_t i = 1; i < reads_.size(); ++i)
      if (reads_[i].seq != 0 && reads_[i].seq < reads_[i - 1].seq)
        CORAFT_PANIC(opts_.id, "pending reads out of round order");
  } else {
    if (!reads_.empty() || !reads_blocked_.empty()) CORAFT_PANIC(opts_.id, "pending reads on a non-leader");
    if (transfer_target_ != no_node) CORAFT_PANIC(opts_.id, "transfer target on a non-leader");
  }
}

}  // namespace coraft::core
