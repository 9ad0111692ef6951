// membership.cpp — cluster membership changes [thesis ch. 4].
//
// One server at a time [thesis §4.1]: adding or removing a single voter
// keeps every majority of the old configuration overlapping every majority
// of the new one, so no joint consensus is needed. Learners (added first,
// promoted once caught up [thesis §4.2.1]) change no majority at all.
//
// Rules kept here:
//   - A configuration is in force on a server as soon as its entry is in
//     that server's log, committed or not [thesis §4.1]; truncating the
//     entry brings back the one before it.
//   - A leader starts a change only once an entry of its own term is
//     committed (the fix to the single-server algorithm published in 2015,
//     thesis errata) and only when the previous change is committed: at
//     most one change is in flight.
//   - Departed servers keep getting the log until the change commits, so
//     they usually learn they were removed; a leader that removed itself
//     steps down once it commits and hands over with TimeoutNow [thesis
//     §4.2.2]. Removed servers that never learn it cannot disrupt: they
//     are pre-voting outside every leader's lease [thesis §4.2.3, §9.6].
#include <coraft/core/raft.hpp>
#include <coraft/detail/bytes.hpp>
#include <coraft/detail/planted.hpp>

#include <algorithm>

namespace coraft {

namespace {
constexpr std::uint32_t max_members = 1024;
constexpr std::uint32_t max_address = 1024;
}  // namespace

bool membership::is_voter(node_id id) const { return std::find(voters.begin(), voters.end(), id) != voters.end(); }
bool membership::is_learner(node_id id) const {
  return std::find(learners.begin(), learners.end(), id) != learners.end();
}

// [u32 n][u64 voter]*n [u32 n][u64 learner]*n [u32 n]([u64 id][u32 len][bytes])*n
std::string encode_membership(const membership& m) {
  std::string out;
  detail::byte_writer w(out);
  for (const auto* ids : {&m.voters, &m.learners}) {
    w.u32(static_cast<std::uint32_t>(ids->size()));
    for (node_id id : *ids) w.u64(id);
  }
  w.u32(static_cast<std::uint32_t>(m.addresses.size()));
  for (const auto& [id, a] : m.addresses) {
    w.u64(id);
    w.counted(a, "member address");
  }
  return out;
}

std::optional<membership> decode_membership(std::string_view b) {
  detail::byte_reader r(b);
  membership m;
  for (auto* ids : {&m.voters, &m.learners}) {
    const std::uint32_t n = r.u32();
    if (!r.ok() || n > max_members || r.remaining() / 8 < n) return std::nullopt;
    ids->reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) ids->push_back(r.u64());
  }
  const std::uint32_t n = r.u32();
  if (!r.ok() || n > max_members) return std::nullopt;
  for (std::uint32_t i = 0; i < n; ++i) {
    const node_id id = r.u64();
    const std::string_view a = r.counted(max_address);
    if (!r.ok()) return std::nullopt;
    // Canonical: ascending ids, each once (as encode_membership writes its
    // map), so that one configuration has one encoding.
    if (!m.addresses.empty() && id <= m.addresses.rbegin()->first) return std::nullopt;
    m.addresses.emplace_hint(m.addresses.end(), id, std::string(a));
  }
  if (!r.done()) return std::nullopt;
  return m;
}

}  // namespace coraft

namespace coraft::core {

namespace {
void normalize(membership& m) {
  for (auto* ids : {&m.voters, &m.learners}) {
    std::sort(ids->begin(), ids->end());
    ids->erase(std::unique(ids->begin(), ids->end()), ids->end());
  }
}
}  // namespace

void raft::set_base_config(index_t at, membership m) {
  normalize(m);
  configs_.clear();
  configs_.push_back({at, std::move(m)});
  refresh_config();
}

void raft::push_config_entry(const entry& e) {
  // A config entry that does not decode came from a broken peer (frames
  // are checksummed); keeping the configuration before it is the only
  // thing that does not guess.
  if (auto m = decode_membership(e.data.view())) {
    normalize(*m);
    configs_.push_back({e.index, std::move(*m)});
  }
}

void raft::scan_configs_from_log() {
  for (const entry& e : log_)
    if (e.type == entry_type::config) push_config_entry(e);
  refresh_config();
}

void raft::refresh_config(index_t next_for_new) {
  voters_ = configs_.back().config.voters;  // sorted by normalize()
  if (role_ != role::leader) return;
  // New members get a progress; departed ones keep theirs until the change
  // commits (after_commit). A member added by the entry just appended is
  // probed with that entry: a probe needs an entry to carry.
  const index_t next = next_for_new != 0 ? next_for_new : last_log().index + 1;
  const membership& c = config();
  for (const auto* ids : {&c.voters, &c.learners}) {
    for (node_id id : *ids) {
      if (id == opts_.id || progress_.contains(id)) continue;
      progress pr;
      pr.next_index = next;
      progress_.emplace(id, std::move(pr));
    }
  }
}

membership raft::config_at(index_t i) const {
  for (auto it = configs_.rbegin(); it != configs_.rend(); ++it)
    if (it->index <= i) return it->config;
  return configs_.front().config;
}

bool raft::config_commit_pending() const {
  if (role_ != role::leader || configs_.back().index > commit_index_) return false;
  const membership& c = config();
  if (!c.is_voter(opts_.id)) return true;
  for (const auto& [id, pr] : progress_)
    if (!c.contains(id) && pr.match_index >= configs_.back().index) return true;
  return false;
}

void raft::release_departed(bool all) {
  if (configs_.back().index > commit_index_) return;  // C_old may still be in force
  const membership& c = config();
  // A departed member gets appends until it holds the entry that removed
  // it, then one last heartbeat carrying the commit index (min(match,
  // commit) as always: entries beyond match may differ on it). Knowing its
  // removal committed, it no longer campaigns (may_campaign) and stays quiet
  // [thesis §4.2.3]. One that has not caught up by the leader's next
  // election-timeout boundary (down, cut off, slow) is released anyway
  // (`all`, with a heartbeat that may not tell it the commit); pre-vote and
  // the lease keep it from disrupting the others.
  std::erase_if(progress_, [&](const auto& kv) {
    if (c.contains(kv.first) || (!all && kv.second.match_index < configs_.back().index)) return false;
    send(message{opts_.id, kv.first, hs_.current_term,
                 heartbeat_request{std::min(kv.second.match_index, commit_index_), read_seq_}},
         false);
    return true;
  });
}

void raft::after_commit() {
  const membership& c = config();
  if (!c.is_voter(opts_.id)) {
    // [thesis §4.2.2] "the leader steps down once C_new is committed". Hand
    // over to a voter that holds everything, so the cluster need not wait
    // an election timeout.
    const index_t last = last_log().index;
    for (node_id v : voters_) {
      const auto it = progress_.find(v);
      if (it != progress_.end() && it->second.match_index == last) {
        send(message{opts_.id, v, hs_.current_term, timeout_now{}}, false);
        break;
      }
    }
    become_follower(hs_.current_term, no_node);
    return;
  }
  release_departed(false);
  if (transfer_target_ != no_node && !c.is_voter(transfer_target_)) transfer_target_ = no_node;
}

bool raft::caught_up(node_id id) const {
  // It answered within the last election timeout (it is alive), it
  // acknowledged entries (match_index > 0: a server that never answered is
  // not caught up however short the log is — a leader's log always holds
  // its no-op), it is not waiting for a snapshot, and it is within one
  // append batch of our log.
  const auto it = progress_.find(id);
  return it != progress_.end() && it->second.last_heard + static_cast<std::uint64_t>(opts_.election_ticks) >= ticks_ &&
         it->second.match_index > 0 && it->second.state != progress::mode::snapshot &&
         it->second.match_index + opts_.max_append_entries >= last_log().index;
}

config_result raft::propose_config(const config_change& ch) {
  using code = config_result::code;
  if (role_ != role::leader) return {code::not_leader, {}, leader_};
  if (transfer_target_ != no_node) return {code::transferring, {}, transfer_target_};
  // A leader outside its own configuration is only finishing its removal
  // [thesis §4.2.2]: it steps down once that commits, and takes no change.
  if (!config().is_voter(opts_.id)) return {code::transferring, {}, no_node};
  // [thesis §4.1 and its 2015 errata] Only once this term's first entry is
  // committed (a change from an earlier leader could otherwise still be
  // overruled), and one change at a time.
  if (!committed_in_term() || configs_.back().index > commit_index_) return {code::busy, {}, opts_.id};
  membership next = config();
  switch (ch.type) {
    case config_change::kind::add_learner:
    case config_change::kind::add_voter:
      if (ch.id == no_node || next.contains(ch.id)) return {code::bad_member, {}, opts_.id};
      // [thesis §4.2.1] A voter that holds none of the log counts towards
      // every majority from the moment its entry is appended: added to a
      // one-voter cluster, a server that never started leaves no majority
      // (check-quorum then deposes the leader and the change can never
      // commit). Voters join as learners and are promoted once caught up.
      if (ch.type == config_change::kind::add_voter && !caught_up(ch.id) && !CORAFT_PLANTED(add_voter_unchecked))
        return {code::not_caught_up, {}, opts_.id};
      (ch.type == config_change::kind::add_voter ? next.voters : next.learners).push_back(ch.id);
      next.addresses[ch.id] = ch.address;
      break;
    case config_change::kind::promote: {
      if (!next.is_learner(ch.id)) return {code::bad_member, {}, opts_.id};
      // [thesis §4.2.1] A new voter that is far behind would stall commits
      // until it caught up: promote only a learner within one append batch.
      if (!caught_up(ch.id)) return {code::not_caught_up, {}, opts_.id};
      std::erase(next.learners, ch.id);
      next.voters.push_back(ch.id);
      break;
    }
    case config_change::kind::remove:
      if (!next.contains(ch.id)) return {code::bad_member, {}, opts_.id};
      if (next.is_voter(ch.id) && next.voters.size() == 1) return {code::bad_member, {}, opts_.id};
      std::erase(next.voters, ch.id);
      std::erase(next.learners, ch.id);
      next.addresses.erase(ch.id);
      break;
    case config_change::kind::set_address:
      // Addresses are opaque to the protocol: the quorum is unchanged, so
      // the one-at-a-time rule above is all this needs.
      if (!next.contains(ch.id) || ch.address.empty() || next.addresses[ch.id] == ch.address)
        return {code::bad_member, {}, opts_.id};
      next.addresses[ch.id] = ch.address;
      break;
  }
  normalize(next);
  entry e{hs_.current_term, last_log().index + 1, entry_type::config, payload(encode_membership(next))};
  const log_id id = e.id();
  append_to_log(std::move(e));  // in force from now on [thesis §4.1]
  return {code::accepted, id, opts_.id};
}

}  // namespace coraft::core
