// test/core/hand_driven.hpp — what both hand-driven clusters (cluster.hpp,
// full_cluster.hpp) share: the explicit network a test delivers or drops
// messages on, and the cross-node safety properties [Fig. 3] checked after
// every step.
#pragma once

#include <coraft/core/raft.hpp>
#include <coraft/messages.hpp>

#include <algorithm>
#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace coraft::test {

// Messages stay in flight until the test delivers or drops them; a cut link
// loses what crosses it. `Cluster` provides ids().
template <class Cluster>
class hand_network {
 public:
  // Messages sent and not yet delivered or dropped, in send order.
  std::vector<message>& in_flight() { return net_; }

  bool linked(node_id a, node_id b) const { return !cut_.count({std::min(a, b), std::max(a, b)}); }
  void cut(node_id a, node_id b) { cut_.insert({std::min(a, b), std::max(a, b)}); }
  void isolate(node_id id) {
    for (node_id other : static_cast<const Cluster&>(*this).ids())
      if (other != id) cut(id, other);
  }
  void heal() { cut_.clear(); }

 protected:
  std::vector<message> net_;
  std::set<std::pair<node_id, node_id>> cut_;
};

// The safety properties across nodes, checked node by node after every
// step; violations are collected as text (the test fails on them):
//   - each core's own invariants (raft::check_invariants; a panic aborts);
//   - Election Safety [§5.2]: at most one leader per term;
//   - State Machine Safety [§5.4.3]: no two nodes apply different entries
//     at an index;
//   - Leader Completeness [§5.4]: a leader's log holds every entry applied
//     (so committed) in an earlier term.
class safety_record {
 public:
  // `applied` is what node `id` applied in this incarnation; `seen` how many
  // of them earlier checks saw (a restart starts it over).
  void check(node_id id, const core::raft& r, const std::vector<entry>& applied, std::size_t& seen) {
    r.check_invariants();
    if (r.state() == core::role::leader) {
      auto [it, fresh] = leader_of_term_.emplace(r.term(), id);
      if (!fresh && it->second != id)
        add("two leaders in term " + std::to_string(r.term()) + ": " + std::to_string(it->second) + " and " +
            std::to_string(id));
    }
    for (std::size_t k = std::min(seen, applied.size()); k < applied.size(); ++k) {
      const entry& e = applied[k];
      auto [it, fresh] = applied_at_.emplace(e.index, e);
      auto [at, first] = applied_term_.emplace(e.index, r.term());
      if (!first) at->second = std::min(at->second, r.term());
      if (!fresh && !(it->second == e))
        add("node " + std::to_string(id) + " applied a different entry at index " + std::to_string(e.index));
    }
    seen = applied.size();
    // An entry seen applied by a node at term t was committed at a term <= t,
    // so every leader of a term above t holds it (unless compacted away).
    if (r.state() == core::role::leader) {
      for (const auto& [index, e] : applied_at_) {
        if (applied_term_.at(index) >= r.term()) continue;
        const entry* mine = r.entry_at(index);
        if (index >= r.first_index() && (mine == nullptr || !(*mine == e)))
          add("leader " + std::to_string(id) + " of term " + std::to_string(r.term()) + " lacks applied entry " +
              std::to_string(index));
      }
    }
  }

  void add(std::string violation) { violations_.push_back(std::move(violation)); }
  const std::vector<std::string>& violations() const { return violations_; }

 private:
  std::map<term_t, node_id> leader_of_term_;
  std::map<index_t, entry> applied_at_;
  std::map<index_t, term_t> applied_term_;  // lowest term of a node seen applying it
  std::vector<std::string> violations_;
};

}  // namespace coraft::test
