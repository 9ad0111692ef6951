// test/support/invariants/leader_completeness.hpp — Leader Completeness [§5.4.1, Fig. 3]: a leader of a later term
// holds every committed entry. Part of invariant_checker (invariant_checker.hpp includes it).
#pragma once

#include <support/invariants/invariant_checker.hpp>

namespace coraft::test {

// [§5.4.1] [Fig. 3] Leader Completeness: if an entry is committed in a
// given term, it is present in the log of the leader of every later term.
// "Committed in" is bounded by the term its first observer was in.
inline std::optional<violation> invariant_checker::check_leader_completeness(node_id id, int incarnation, term_t term,
                                                                             core::role r, const core::raft& log) {
  if (r != core::role::leader) return std::nullopt;
  node_track& t = track(id, incarnation);
  if (t.leader_term != term) {  // a new leadership: verify everything once
    t.leader_term = term;
    t.leader_checked = 0;
  }
  const index_t from = std::min<index_t>(t.leader_checked + 1, t.leader_dirty_from);
  t.leader_checked = committed_.size();
  t.leader_dirty_from = no_change;
  for (std::size_t k = from - 1; k < committed_.size(); ++k) {
    const committed_entry& c = committed_[k];
    if (c.observed_in_term >= term || c.e.index < log.first_index()) continue;
    const entry* e = log.entry_at(c.e.index);
    if (e == nullptr || !sim_detail::same_entry(*e, c.e))
      return violation{"leader completeness", sim_detail::node_str(id) + " leads term " + std::to_string(term) +
                                                  " but its log has " + (e ? sim_detail::str(*e) : "nothing") +
                                                  " where " + sim_detail::str(c.e) + " was committed (seen on " +
                                                  sim_detail::node_str(c.observed_on) + " in term " +
                                                  std::to_string(c.observed_in_term) + ") [§5.4.1]"};
  }
  return std::nullopt;
}

}  // namespace coraft::test
