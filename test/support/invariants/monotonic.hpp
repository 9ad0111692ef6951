// test/support/invariants/monotonic.hpp — within one incarnation, term and commit index never go backwards [Fig. 2].
// Part of invariant_checker (invariant_checker.hpp includes it).
#pragma once

#include <support/invariants/invariant_checker.hpp>

namespace coraft::test {

// [Fig. 2] currentTerm only increases; commitIndex only increases. Both are
// per incarnation: the commit index is volatile, and an unsynced term bump
// is legitimately lost in a crash.
inline std::optional<violation> invariant_checker::check_monotonic(node_id id, int incarnation, term_t term,
                                                                   index_t commit_index) {
  node_track& t = track(id, incarnation);
  const std::string who = sim_detail::node_str(id) + " (incarnation " + std::to_string(incarnation) + ")";
  if (term < t.term)
    return violation{"monotonic term", who + " went from term " + std::to_string(t.term) + " back to " +
                                           std::to_string(term) + " [Fig. 2]"};
  if (commit_index < t.commit_index)
    return violation{"monotonic commit index", who + " went from commit_index " + std::to_string(t.commit_index) +
                                                   " back to " + std::to_string(commit_index) + " [Fig. 2]"};
  t.term = term;
  t.commit_index = commit_index;
  return std::nullopt;
}

}  // namespace coraft::test
