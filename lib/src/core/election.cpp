// election.cpp — leader election [§5.2], the election restriction [§5.4.1],
// pre-vote [thesis §9.6], check-quorum and leader leases against disruptive
// servers [thesis §4.2.3, §6.2], and the term rules common to every RPC [Fig. 2].
#include <coraft/core/raft.hpp>
#include <coraft/detail/planted.hpp>

#include <algorithm>

namespace coraft::core {

void raft::reset_election_timer() {
  // [§5.2] "election timeouts are chosen randomly from a fixed interval"
  election_elapsed_ = 0;
  const int span =
      opts_.election_ticks_max > 0 ? opts_.election_ticks_max - opts_.election_ticks + 1 : opts_.election_ticks;
  randomized_election_timeout_ =
      opts_.election_ticks + static_cast<int>(next_random() % static_cast<std::uint64_t>(span));
}

bool raft::in_lease() const {
  // [thesis §4.2.3] A server that heard from a current leader within the
  // minimum election timeout does not grant votes nor update its term.
  return opts_.check_quorum && leader_ != no_node && election_elapsed_ < opts_.election_ticks;
}

void raft::tick() {
  ++ticks_;
  if (role_ == role::leader)
    tick_heartbeat();
  else
    tick_election();
}

void raft::tick_election() {
  ++election_elapsed_;
  // [§5.2] "If a follower receives no communication over a period of time
  // called the election timeout, then it ... begins an election."
  if (election_elapsed_ >= randomized_election_timeout_ && may_campaign() && start_campaign()) ++elections_.timer;
}

void raft::tick_heartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  // [thesis §3.10] "If the transfer does not complete within an election
  // timeout, the prior leader aborts the transfer and resumes accepting
  // client requests."
  if (transfer_target_ != no_node && ++transfer_elapsed_ >= opts_.election_ticks) {
    transfer_target_ = no_node;
  }
  if (election_elapsed_ >= opts_.election_ticks) {
    election_elapsed_ = 0;
    release_departed(true);
    if (opts_.check_quorum) {
      // [thesis §6.2] "a leader steps down if an election timeout elapses
      // without a successful round of heartbeats to a majority of its cluster"
      std::size_t active = is_voter(opts_.id) ? 1 : 0;
      for (auto& [id, pr] : progress_) {
        if (pr.recent_active && is_voter(id)) ++active;
        pr.recent_active = false;
      }
      if (active < quorum()) {
        become_follower(hs_.current_term, no_node);
        return;
      }
    }
  }
  if (heartbeat_elapsed_ >= opts_.heartbeat_ticks) {
    heartbeat_elapsed_ = 0;
    broadcast_heartbeat();
  }
}

bool raft::may_campaign() const {
  if (is_voter(opts_.id)) return true;
  // [thesis §4.2.2] A server whose own removal is the newest config entry in
  // its log, not known to be committed, campaigns too: it may have lost
  // leadership while committing that entry and hold the only log the
  // remaining voters can elect (with two voters, the other needs its vote
  // and cannot win it). It counts only the new configuration's voters — not
  // itself — and, elected, leads until the removal commits, then steps down
  // (after_commit). Pre-vote and the lease keep a removed server that missed
  // the commit from disrupting the others [thesis §4.2.3].
  const std::size_t n = configs_.size();
  return n >= 2 && configs_[n - 1].index > commit_index_ && configs_[n - 2].config.is_voter(opts_.id) &&
         !config().voters.empty();
}

void raft::campaign() {
  if (start_campaign()) ++elections_.requested;
}

bool raft::start_campaign() {
  if (role_ == role::leader || !may_campaign()) return false;
  if (hs_.current_term + 1 >= max_term) return false;  // never wraps (max_term)
  // A node installing a snapshot stays a follower until it is in force: as
  // leader it would commit entries past the snapshot it is about to install.
  if (installing_) return false;
  if (opts_.pre_vote) {
    become_pre_candidate();
    start_election(true, false);
  } else {
    become_candidate();
    start_election(false, false);
  }
  return true;
}

void raft::leave_leadership() {
  if (role_ != role::leader) return;
  fail_reads();
  transfer_target_ = no_node;
  progress_.clear();
}

void raft::become_follower(term_t term, node_id leader) {
  leave_leadership();
  if (term != hs_.current_term) {
    // [Fig. 2] "If RPC request or response contains term T > currentTerm:
    // set currentTerm = T, convert to follower" — and forget the old vote.
    hs_.current_term = term;
    hs_.voted_for = no_node;
    hs_dirty_ = true;
    term_leader_ = no_node;
  }
  role_ = role::follower;
  leader_ = leader;
  if (leader != no_node) term_leader_ = leader;
  votes_.clear();
  progress_.clear();
  reset_election_timer();
}

void raft::become_pre_candidate() {
  // [thesis §9.6] A pre-candidate asks whether it could win before it
  // increments its term, so a partitioned server cannot disrupt the cluster.
  leave_leadership();
  role_ = role::pre_candidate;
  if (leader_ != no_node) term_leader_ = leader_;
  leader_ = no_node;
  votes_.clear();
  progress_.clear();
  reset_election_timer();
}

void raft::become_candidate() {
  // [§5.2] "a follower increments its current term and transitions to
  // candidate state. It then votes for itself"
  leave_leadership();
  hs_.current_term += 1;
  hs_.voted_for = opts_.id;
  hs_dirty_ = true;
  role_ = role::candidate;
  leader_ = no_node;
  term_leader_ = no_node;
  votes_.clear();
  progress_.clear();
  reset_election_timer();
}

void raft::become_leader() {
  role_ = role::leader;
  leader_ = opts_.id;
  term_leader_ = opts_.id;
  votes_.clear();
  heartbeat_elapsed_ = 0;
  election_elapsed_ = 0;
  progress_.clear();
  transfer_target_ = no_node;
  read_seq_ = 0;
  const index_t last = last_log().index;
  // [Fig. 2] nextIndex "initialized to leader last log index + 1", for
  // every voter and learner of the configuration in force.
  refresh_config();
  // [§8] "each leader commit a blank no-op entry into the log at the start of
  // its term" — it also lets earlier-term entries commit [§5.4.2].
  append_to_log(entry{hs_.current_term, last + 1, entry_type::noop, {}});
}

void raft::start_election(bool pre_vote, bool transfer) {
  votes_[opts_.id] = true;                    // counts only if we are a voter (may_campaign)
  if (is_voter(opts_.id) && quorum() == 1) {  // single-voter cluster
    if (pre_vote) {
      ++elections_.pre_vote_granted;
      become_candidate();
      start_election(false, transfer);
    } else {
      // Our own vote elects us, but only once it is durable (state_synced):
      // a crash before would let us vote again in this term — for another
      // candidate, or for ourselves with a different log [§5.2 Election
      // Safety; thesis §3.8: persist before acting on it].
      self_vote_term_ = hs_.current_term;
    }
    return;
  }
  const term_t term = pre_vote ? hs_.current_term + 1 : hs_.current_term;
  for (node_id v : voters_) {
    if (v == opts_.id) continue;
    // A real vote request promises our new term and self-vote: durable first.
    send(message{opts_.id, v, term, vote_request{last_log(), pre_vote, transfer}}, !pre_vote);
  }
}

bool raft::step_term(const message& m) {
  const term_t term = hs_.current_term;
  if (m.term > term) {
    // [thesis §3.10] A TimeoutNow comes from the leader of our own term,
    // once it has sent us its whole log: one from a later term is from no
    // leader we follow, and must not move our term (nor start an election).
    if (std::holds_alternative<timeout_now>(m.body)) return false;
    if (const auto* r = std::get_if<vote_request>(&m.body)) {
      if (!r->transfer && in_lease()) return false;  // [thesis §4.2.3]
      if (r->pre_vote) return true;                  // a pre-vote never changes our term
    }
    if (const auto* r = std::get_if<vote_response>(&m.body); r && r->pre_vote && r->granted) {
      return true;  // granted pre-votes carry the term we would campaign in
    }
    const bool from_leader =
        std::holds_alternative<append_request>(m.body) || std::holds_alternative<heartbeat_request>(m.body) ||
        std::holds_alternative<install_snapshot_request>(m.body) || std::holds_alternative<timeout_now>(m.body);
    become_follower(m.term, from_leader ? m.from : no_node);
    return true;
  }
  if (m.term < term) {
    // [Fig. 2] "Reply false if term < currentTerm" — the reply carries our
    // term so that a stale leader or candidate updates itself and steps
    // down (with pre-vote or check-quorum on, nothing else would tell it).
    // Stale responses are dropped.
    if (std::holds_alternative<append_request>(m.body) || std::holds_alternative<heartbeat_request>(m.body) ||
        std::holds_alternative<install_snapshot_request>(m.body)) {
      send(message{opts_.id, m.from, term, heartbeat_response{}}, false);
    } else if (const auto* r = std::get_if<vote_request>(&m.body)) {
      send(message{opts_.id, m.from, term, vote_response{false, r->pre_vote}}, false);
    }
    return false;
  }
  return true;
}

void raft::handle_vote_request(const message& m, const vote_request& r) {
  // No check of our own configuration here [thesis §4.1: "servers process
  // incoming RPC requests without consulting their current configurations"]:
  // a learner promoted while cut off, or a voter whose own (uncommitted)
  // removal is in its log, may hold a vote the candidate needs. A vote from
  // a non-voter counts only if the candidate's configuration makes it a
  // voter (handle_vote_response).
  // [Fig. 2] "If votedFor is null or candidateId, and candidate's log is at
  // least as up-to-date as receiver's log, grant vote" [§5.4.1].
  const bool can_vote = hs_.voted_for == m.from || (hs_.voted_for == no_node && leader_ == no_node) ||
                        (r.pre_vote && m.term > hs_.current_term);
  const bool up_to_date = r.last_log >= last_log();
  const bool granted = can_vote && up_to_date;
  if (r.pre_vote) {
    // A granted pre-vote answers in the proposed term; nothing is recorded.
    send(message{opts_.id, m.from, granted ? m.term : hs_.current_term, vote_response{granted, true}}, false);
    return;
  }
  if (granted) {
    election_elapsed_ = 0;
    hs_.voted_for = m.from;
    hs_dirty_ = true;
  }
  // [thesis §3.8] the vote is sent only once voted_for is durable.
  send(message{opts_.id, m.from, hs_.current_term, vote_response{granted, false}}, true);
}

void raft::state_synced(term_t term) {
  if (self_vote_term_ == 0 || term < self_vote_term_) return;
  const term_t t = std::exchange(self_vote_term_, 0);
  if (role_ == role::candidate && hs_.current_term == t && hs_.voted_for == opts_.id && is_voter(opts_.id) &&
      quorum() == 1)
    become_leader();
}

void raft::handle_vote_response(const message& m, const vote_response& r) {
  if (role_ == role::pre_candidate) {
    if (!r.pre_vote) return;
    // [thesis §9.6] A grant is for the term we would campaign in, ours + 1.
    // One carrying any other term answers an earlier round (delayed while
    // our term moved on): it says nothing about this round's log.
    if (r.granted && m.term != hs_.current_term + 1 && !CORAFT_PLANTED(stale_prevote_counted)) return;
  } else if (role_ == role::candidate) {
    if (r.pre_vote || m.term != hs_.current_term) return;
  } else {
    return;
  }
  votes_.emplace(m.from, r.granted);  // first answer of each voter counts
  std::size_t granted = 0, rejected = 0;
  for (const auto& [id, g] : votes_) {
    if (!is_voter(id)) continue;  // our own vote when campaigning removed
    ++(g ? granted : rejected);
  }
  if (granted >= quorum()) {
    if (role_ == role::pre_candidate) {
      ++elections_.pre_vote_granted;
      become_candidate();
      start_election(false, false);
    } else {
      become_leader();  // [§5.2] "votes from a majority ... becomes leader"
    }
  } else if (rejected >= quorum()) {
    become_follower(hs_.current_term, no_node);
  }
}

void raft::step(const message& m) {
  if (m.to != opts_.id || m.from == opts_.id || m.from == no_node) return;
  if (m.term >= max_term) return;  // see max_term: from a broken or hostile peer
  if (!step_term(m)) return;
  std::visit(
      [&](const auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, vote_request>) {
          handle_vote_request(m, body);
        } else if constexpr (std::is_same_v<T, vote_response>) {
          handle_vote_response(m, body);
        } else if constexpr (std::is_same_v<T, append_request>) {
          handle_append_request(m, body);
        } else if constexpr (std::is_same_v<T, append_response>) {
          if (role_ == role::leader) handle_append_response(m, body);
        } else if constexpr (std::is_same_v<T, heartbeat_request>) {
          handle_heartbeat_request(m, body);
        } else if constexpr (std::is_same_v<T, heartbeat_response>) {
          if (role_ == role::leader) handle_heartbeat_response(m, body);
        } else if constexpr (std::is_same_v<T, read_index_request>) {
          handle_read_index_request(m, body);
        } else if constexpr (std::is_same_v<T, read_index_response>) {
          // A follower read answered [thesis §6.4]. Same term (step_term):
          // only that term's leader answers ok.
          ready_.read_states.push_back({body.ctx, body.index, body.ok});
        } else if constexpr (std::is_same_v<T, install_snapshot_request>) {
          handle_snapshot_request(m, body);
        } else if constexpr (std::is_same_v<T, install_snapshot_response>) {
          if (role_ == role::leader) handle_snapshot_response(m, body);
        } else if constexpr (std::is_same_v<T, timeout_now>) {
          // [thesis §3.10] start an election at once, ignoring leases.
          // Only a voter: a TimeoutNow delayed past our own removal must
          // not start a transfer election that ignores the others' lease.
          // Only from the leader of our term (one we stopped following for
          // a pre-vote included) or a voter of a configuration in our log
          // (the leader, when we restarted since we heard it — even one
          // that removed itself and is handing over): a stranger's would
          // depose the leader for nothing (a peer whose id is in no
          // configuration is heard, so that a new member can reach us:
          // found by review, issue 17).
          const bool from_leader = m.from == leader_ || m.from == term_leader_ ||
                                   std::any_of(configs_.begin(), configs_.end(),
                                               [&](const config_record& c) { return c.config.is_voter(m.from); });
          if (role_ != role::leader && from_leader && is_voter(opts_.id) && !installing_ &&
              hs_.current_term + 1 < max_term) {
            ++elections_.transfer;
            become_candidate();
            start_election(false, true);
          }
        }
      },
      m.body);
}

}  // namespace coraft::core
