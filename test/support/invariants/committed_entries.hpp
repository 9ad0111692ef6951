// test/support/invariants/committed_entries.hpp — committed entries never change, are durable on a majority, and a
// leader counts its commit over the voters in force [§5.4]. Part of invariant_checker (invariant_checker.hpp includes
// it).
#pragma once

#include <support/invariants/invariant_checker.hpp>

namespace coraft::test {

// [§5.4] Committed entries are never lost or changed: every index any node
// has committed is recorded once (index -> term, data); every later
// observation of that index on any node must be the same entry.
inline std::optional<violation> invariant_checker::check_committed_stable(node_id id, int incarnation,
                                                                          term_t current_term, index_t commit_index,
                                                                          const core::raft& log) {
  node_track& t = track(id, incarnation);
  const std::string who = sim_detail::node_str(id);
  // Below both the last verified commit index and the lowest changed
  // index, this log was verified before and has not changed since.
  const index_t from =
      std::max<index_t>({1, log.first_index(), std::min(t.committed_checked + 1, t.committed_dirty_from)});
  t.committed_dirty_from = no_change;
  t.committed_checked = commit_index;
  for (index_t i = from; i <= commit_index; ++i) {
    const entry* e = log.entry_at(i);
    if (e == nullptr)
      return violation{"committed entries", who + " has commit_index " + std::to_string(commit_index) +
                                                " but no entry at index " + std::to_string(i)};
    if (i <= committed_.size()) {
      const committed_entry& c = committed_[i - 1];
      if (!sim_detail::same_entry(c.e, *e))
        return violation{"committed entries",
                         "index " + std::to_string(i) + " was committed as " + sim_detail::str(c.e) + " (seen on " +
                             sim_detail::node_str(c.observed_on) + " in term " + std::to_string(c.observed_in_term) +
                             ") but " + who + " (term " + std::to_string(current_term) + ", commit_index " +
                             std::to_string(commit_index) + ") has " + sim_detail::str(*e) + " there [§5.4]"};
    } else if (i == committed_.size() + 1) {
      committed_.push_back({*e, current_term, id});
      if (e->type == entry_type::config) {
        if (auto m = sim_detail::config_of(*e)) {
          committed_config_ = {i, std::move(*m)};
          committed_config_changed_ = true;
        }
      }
    }
  }
  return std::nullopt;
}

// [§5.4.2] [thesis §3.8] An entry is committed only once it is stored on a
// majority, so every committed entry must be on a majority of *durable*
// disks (crashed nodes' disks included): otherwise losing the power of the
// other servers would lose it. This is where a core that counts writes
// before they are synced gets caught.
// `disks_changed`: false when no disk was written since the last call, so
// only newly committed entries need a look.
//
// With membership changes the majority is one of the voters of the newest
// committed configuration C for entries up to C's own index: the first
// commit at or past C's index was counted by C's voters (a leader uses the
// configuration in force, and C is the newest one until it commits), and a
// voter never loses what it holds durably. An entry after C was counted
// by C's voters or by those of the one change after C, still uncommitted
// (at most one is in flight [thesis §4.1]): `pending` lists the
// configurations of the config entries after C that servers hold, and
// such an entry must be durable on a majority of C or of one of them —
// checked after every event like the rest, not only once a later
// configuration commits. `disks`: every node's, by id.
inline std::optional<violation> invariant_checker::check_committed_durable(
    const std::map<node_id, const durable_disk*>& disks, bool disks_changed, const std::vector<membership>& pending) {
  const std::size_t from = disks_changed || committed_config_changed_ ? 0 : durable_checked_;
  durable_checked_ = committed_.size();
  committed_config_changed_ = false;
  const auto majority_holds = [&](const membership& m, const entry& e) {
    std::size_t n = 0;
    for (node_id v : m.voters)
      if (const auto it = disks.find(v); it != disks.end() && holds(*it->second, e)) ++n;
    return n >= sim_detail::majority(m.voters.size());
  };
  for (std::size_t k = from; k < committed_.size(); ++k) {
    const committed_entry& c = committed_[k];
    const index_t i = c.e.index;
    const bool after = any_config_entry_ && i > committed_config_.index;
    // An entry after C: enough on C's voters or on those of a change in flight.
    const membership* conf_p = &committed_config_.config;
    if (after && !majority_holds(*conf_p, c.e))
      for (const membership& p : pending)
        if (majority_holds(p, c.e)) conf_p = &p;
    const membership& conf = *conf_p;
    std::size_t holding = 0;
    std::string lacking;
    for (node_id v : conf.voters) {
      const auto it = disks.find(v);
      if (it != disks.end() && holds(*it->second, c.e)) {
        ++holding;
      } else if (it != disks.end()) {
        const durable_disk& d = *it->second;
        lacking += "; node " + std::to_string(v) + "'s disk holds " + std::to_string(d.base + 1) + ".." +
                   std::to_string(d.last_index()) +
                   (d.snap ? " and a snapshot through " + sim_detail::str(d.snap->meta.last) : std::string());
      }
    }
    if (holding < sim_detail::majority(conf.voters.size()))
      return violation{"committed entries",
                       std::string(after ? "(after the newest committed configuration; neither it nor a change in "
                                           "flight holds it) "
                                         : "") +
                           "committed entry " + sim_detail::str(c.e) + " (seen on " +
                           sim_detail::node_str(c.observed_on) + " in term " + std::to_string(c.observed_in_term) +
                           ") is durable on only " + std::to_string(holding) + " of the " +
                           std::to_string(conf.voters.size()) + " voters' disks (" + sim_detail::str(conf) +
                           "); a majority must hold it before it counts as committed "
                           "[§5.4.2] [thesis §3.8]" +
                           lacking};
  }
  return std::nullopt;
}

// The same for a fixed cluster: disks[k] is node k + 1's.
inline std::optional<violation> invariant_checker::check_committed_durable(
    const std::vector<const durable_disk*>& disks, bool disks_changed) {
  std::map<node_id, const durable_disk*> by_id;
  for (std::size_t k = 0; k < disks.size(); ++k) by_id[static_cast<node_id>(k + 1)] = disks[k];
  return check_committed_durable(by_id, disks_changed);
}

// A disk holds entry `e`: the same entry at its index, or a durable
// snapshot that covers the index [§7] (its contents are checked against
// the applied history: check_snapshot).
inline bool invariant_checker::holds(const durable_disk& d, const entry& e) {
  const entry* x = d.at(e.index);
  return (x != nullptr && sim_detail::same_entry(*x, e)) || (d.snap && d.snap->meta.last.index >= e.index);
}

// [§5.4.2] [thesis §4.1] A leader counts only the voters of its
// configuration in force: whenever its commit index advances (seen after
// the event that advanced it, even if it stepped down in that event), a
// majority of those voters hold the entry at the new commit index
// durably. Counting a learner, a departed server, or the old
// configuration instead of the new one fails here.
inline std::optional<violation> invariant_checker::check_commit_counted(
    node_id id, int incarnation, const core::raft& r, const std::map<node_id, const durable_disk*>& disks) {
  node_track& t = track(id, incarnation);
  const bool leader = r.state() == core::role::leader;
  const bool was_leader = t.lead_term == r.term() && t.lead_term != 0;
  const index_t before = t.lead_commit;
  t.lead_term = leader ? r.term() : 0;
  t.lead_commit = r.commit_index();
  if (!was_leader || r.commit_index() <= before) return std::nullopt;
  const entry* e = r.entry_at(r.commit_index());
  if (e == nullptr) return std::nullopt;  // compacted at once: covered by a snapshot
  const membership& conf = r.config();
  std::size_t holding = 0;
  std::string who;
  for (node_id v : conf.voters)
    if (const auto it = disks.find(v); it != disks.end() && holds(*it->second, *e)) {
      ++holding;
      who += (who.empty() ? "" : ",") + std::to_string(v);
    }
  if (holding < sim_detail::majority(conf.voters.size()))
    return violation{"commit counts voters", sim_detail::node_str(id) + " (leader of term " + std::to_string(r.term()) +
                                                 ") advanced its commit index from " + std::to_string(before) + " to " +
                                                 std::to_string(r.commit_index()) + " but " + sim_detail::str(*e) +
                                                 " is durable on only {" + who + "} of the voters of " +
                                                 sim_detail::str(conf) + " in force [§5.4.2] [thesis §4.1]"};
  return std::nullopt;
}

}  // namespace coraft::test
