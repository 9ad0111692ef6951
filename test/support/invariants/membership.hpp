// test/support/invariants/membership.hpp — membership changes [thesis ch. 4]: the configuration in force, one server
// per change, one change in flight, leaders of a term agree, a removed leader steps down. Part of invariant_checker
// (invariant_checker.hpp includes it).
#pragma once

#include <support/invariants/invariant_checker.hpp>

namespace coraft::test {

// ---- membership changes [thesis ch. 4] ----------------------------------

// The configuration the initial nodes boot with: voters 1..cluster_size
// (a node joining later boots with an empty one).
inline membership invariant_checker::bootstrap() const {
  membership m;
  for (std::size_t k = 1; k <= cluster_size_; ++k) m.voters.push_back(static_cast<node_id>(k));
  return m;
}

// [thesis §4.1] "a server always uses the latest configuration in its log,
// regardless of whether the entry is committed": the core's config() is
// the newest config entry in its log (`newest`), else its snapshot's
// (lastConfig [thesis §5.1]), else the one it booted with. A follower that
// waited for the commit, or kept a configuration whose entry was
// truncated, fails here.
inline std::optional<violation> invariant_checker::check_config_in_force(node_id id, const core::raft& r,
                                                                         const membership& booted,
                                                                         const entry* newest) {
  membership want;
  std::string from;
  if (newest != nullptr) {
    auto m = sim_detail::config_of(*newest);
    if (!m)
      return violation{"configuration in force", sim_detail::node_str(id) + " holds config entry " +
                                                     sim_detail::str(*newest) + " that does not decode"};
    want = std::move(*m);
    from = "its newest config entry " + sim_detail::str(*newest);
  } else if (const snapshot* s = r.latest_snapshot()) {
    want = s->meta.config;
    from = "its snapshot through " + sim_detail::str(s->meta.last) + " (no config entry after it)";
  } else {
    want = booted;
    from = "its bootstrap configuration (no config entry in its log)";
  }
  if (!(r.config() == want))
    return violation{"configuration in force", sim_detail::node_str(id) + " (" + core::to_string(r.state()) +
                                                   ", term " + std::to_string(r.term()) + ", commit " +
                                                   std::to_string(r.commit_index()) + ") uses " +
                                                   sim_detail::str(r.config()) + " but " + from + " says " +
                                                   sim_detail::str(want) + " [thesis §4.1]"};
  return std::nullopt;
}

// [thesis §4.1] One server at a time: every config entry differs from the
// configuration before it (the previous config entry, the snapshot's, or
// the bootstrap one) in at most one voter, and in the standing (voter,
// learner, absent) of at most one server. Checked once per entry, on the
// first log it shows up in (check_log_matching collects them; the same
// (index, term) has the same predecessors everywhere).
inline std::optional<violation> invariant_checker::check_single_server_changes(node_id id, int incarnation,
                                                                               const core::raft& r) {
  node_track& t = track(id, incarnation);
  auto fresh = std::exchange(t.new_configs, {});
  for (const entry& e : fresh) {
    if (!config_changes_checked_.insert(e.id()).second) continue;
    const entry* held = r.entry_at(e.index);
    if (held == nullptr || !sim_detail::same_entry(*held, e)) continue;  // gone meanwhile
    const auto next = sim_detail::config_of(e);
    if (!next)
      return violation{"single-server changes", sim_detail::node_str(id) + " holds config entry " + sim_detail::str(e) +
                                                    " that does not decode"};
    const membership before = r.config_at(e.index - 1);
    std::vector<node_id> ids = before.voters;
    for (const auto* v : {&before.learners, &next->voters, &next->learners})
      ids.insert(ids.end(), v->begin(), v->end());
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    std::size_t voters_changed = 0, changed = 0;
    for (node_id s : ids) {
      const int a = sim_detail::standing(before, s), b = sim_detail::standing(*next, s);
      voters_changed += (a == 2) != (b == 2) ? 1 : 0;
      changed += a != b ? 1 : 0;
    }
    if (voters_changed > 1 || changed > 1 || next->voters.empty())
      return violation{"single-server changes", "config entry " + sim_detail::str(e) + " (on " +
                                                    sim_detail::node_str(id) + ") goes from " +
                                                    sim_detail::str(before) + " to " + sim_detail::str(*next) + ": " +
                                                    std::to_string(voters_changed) + " voters and " +
                                                    std::to_string(changed) + " servers changed at once [thesis §4.1]"};
  }
  return std::nullopt;
}

// [thesis §4.1] At most one change in flight: a leader's log holds at most
// one config entry that is not committed. "Committed" is the higher of
// its commit index and what any node has seen committed: after a restart
// a leader's volatile commit index starts low, and its log may then hold
// a committed change and the uncommitted one after it.
inline std::optional<violation> invariant_checker::check_one_change_in_flight(node_id id, const core::raft& r) {
  if (r.state() != core::role::leader) return std::nullopt;
  const index_t committed = std::max<index_t>(r.commit_index(), committed_.size());
  std::vector<std::string> pending;
  for (index_t i = r.last_log().index; i > committed && i >= r.first_index(); --i) {
    const entry* e = r.entry_at(i);
    if (e != nullptr && e->type == entry_type::config) pending.push_back(sim_detail::str(*e));
  }
  if (pending.size() > 1) {
    std::string which;
    for (const std::string& p : pending) which += " " + p;
    return violation{"one change at a time", sim_detail::node_str(id) + " leads term " + std::to_string(r.term()) +
                                                 " with " + std::to_string(pending.size()) +
                                                 " uncommitted config entries (committed through " +
                                                 std::to_string(committed) + "):" + which + " [thesis §4.1]"};
  }
  return std::nullopt;
}

// Leaders of one term agree on the configuration: the first time a
// leader of term T is seen, its configuration is recorded; afterwards it
// may change only by a config entry of term T appended after the recorded
// one (the leader's own change). A leader never truncates its log, so its
// configuration never goes back; and with election safety, two leaders of
// one term would show up here as two configurations.
inline std::optional<violation> invariant_checker::check_leader_config(node_id id, const core::raft& r,
                                                                       const entry* newest) {
  if (r.state() != core::role::leader) return std::nullopt;
  const index_t at = newest != nullptr ? newest->index : 0;
  auto [it, inserted] = leader_configs_.try_emplace(r.term(), leader_config{id, at, r.config()});
  leader_config& rec = it->second;
  if (inserted || (rec.config == r.config() && rec.index == at)) return std::nullopt;
  const bool own_change = newest != nullptr && newest->term == r.term() && at > rec.index;
  // A compaction that took the config entry out of the log leaves the same
  // configuration, now from the snapshot.
  const bool compacted = at == 0 && rec.config == r.config();
  if (own_change || compacted) {
    rec = {id, compacted ? rec.index : at, r.config()};
    return std::nullopt;
  }
  return violation{"leader configurations", sim_detail::node_str(id) + " leads term " + std::to_string(r.term()) +
                                                " with " + sim_detail::str(r.config()) + " (config entry at " +
                                                std::to_string(at) + ") but " + sim_detail::node_str(rec.node) +
                                                " led that term with " + sim_detail::str(rec.config) +
                                                " (config entry at " + std::to_string(rec.index) + ")"};
}

// [thesis §4.2.2] A leader that is not a voter of its configuration in
// force (it removed itself) leads only until that configuration commits.
inline std::optional<violation> invariant_checker::check_removed_leader_steps_down(node_id id, const core::raft& r,
                                                                                   const entry* newest) {
  if (r.state() != core::role::leader || r.config().is_voter(id)) return std::nullopt;
  const index_t at = newest != nullptr ? newest->index : 0;
  if (at > r.commit_index()) return std::nullopt;
  return violation{"removed leader steps down",
                   sim_detail::node_str(id) + " still leads term " + std::to_string(r.term()) + " with commit index " +
                       std::to_string(r.commit_index()) + " though " + sim_detail::str(r.config()) +
                       " (config entry at " + std::to_string(at) + ") without it is committed [thesis §4.2.2]"};
}

// The configuration in force after index `i` in the global applied
// sequence (newest config entry at or before it, else the bootstrap one).
inline membership invariant_checker::applied_config_at(index_t i) const {
  for (index_t k = std::min<index_t>(i, applied_.size()); k >= 1; --k)
    if (applied_[k - 1].e.type == entry_type::config)
      if (auto m = sim_detail::config_of(applied_[k - 1].e)) return *m;
  return bootstrap();
}

}  // namespace coraft::test
