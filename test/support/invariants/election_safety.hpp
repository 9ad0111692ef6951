// test/support/invariants/election_safety.hpp — Election Safety [§5.2, Fig. 3], and only voters of their configuration
// in force campaign [thesis §4.1]. Part of invariant_checker (invariant_checker.hpp includes it).
#pragma once

#include <support/invariants/invariant_checker.hpp>

namespace coraft::test {

// [§5.2] [Fig. 3] Election Safety: at most one leader can be elected in a
// given term. The map term -> leader spans the run and every incarnation.
inline std::optional<violation> invariant_checker::check_election_safety(node_id id, term_t term, core::role r) {
  if (r != core::role::leader) return std::nullopt;
  auto [it, inserted] = leaders_.try_emplace(term, id);
  if (!inserted && it->second != id)
    return violation{"election safety", "term " + std::to_string(term) +
                                            " has two leaders: " + sim_detail::node_str(it->second) + " and " +
                                            sim_detail::node_str(id) + " [§5.2]"};
  return std::nullopt;
}

// Only voters campaign [thesis §4.2.1, §4.2.3]: a learner, a joiner not
// yet named, a removed server never sends a vote request (real or
// pre-vote) and is never a (pre-)candidate, judged by the configuration in
// force on it when it acts — except a voter whose own removal is in force
// but not known to be committed [thesis §4.2.2: until C_new commits it may
// "time out and become leader again"]. Any server may answer one: servers
// vote regardless of their own configuration [thesis §4.1] (a promoted
// learner that has not heard of its promotion may hold the deciding vote).
inline std::optional<violation> invariant_checker::check_only_voters_campaign(node_id id, const core::raft& r,
                                                                              const message* m) {
  if (r.config().is_voter(id)) return std::nullopt;
  const core::status st = r.get_status();
  if (st.config_index > r.commit_index() && st.config_index > 0 && r.config_at(st.config_index - 1).is_voter(id))
    return std::nullopt;
  const std::string who = sim_detail::node_str(id) + " (" + sim_detail::str(r.config()) + " in force, term " +
                          std::to_string(r.term()) + ")";
  if (m == nullptr) {
    if (r.state() == core::role::candidate || r.state() == core::role::pre_candidate)
      return violation{"only voters campaign",
                       who + " is a " + core::to_string(r.state()) + " but not a voter [thesis §4.2.1]"};
    return std::nullopt;
  }
  if (const auto* v = std::get_if<vote_request>(&m->body))
    return violation{"only voters campaign", who + " sent a " + (v->pre_vote ? std::string("pre-vote") : "vote") +
                                                 " request for term " + std::to_string(m->term) + " to " +
                                                 sim_detail::node_str(m->to) + " but is not a voter [thesis §4.2.1]"};
  return std::nullopt;
}

}  // namespace coraft::test
