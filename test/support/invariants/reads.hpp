// test/support/invariants/reads.hpp — linearizable reads [thesis §6.4]: a read index covers every write acknowledged
// before the read began. Part of invariant_checker (invariant_checker.hpp includes it).
#pragma once

#include <support/invariants/invariant_checker.hpp>

namespace coraft::test {

inline std::optional<violation> invariant_checker::check_read(node_id id, std::uint64_t ctx, index_t began_after,
                                                              const served_read& r) const {
  const std::string who = sim_detail::node_str(id) + " read " + std::to_string(ctx);
  if (r.index < r.read_index)
    return violation{"linearizable reads", who + " was served at index " + std::to_string(r.index) +
                                               " below its read index " + std::to_string(r.read_index)};
  if (r.read_index < began_after)
    return violation{"linearizable reads", who + " got read index " + std::to_string(r.read_index) + " (served at " +
                                               std::to_string(r.index) + ") but index " + std::to_string(began_after) +
                                               " was applied before the read began: a stale read [thesis §6.4]"};
  model_state m;
  m.index = r.index;
  m.hash = r.hash;
  m.term = r.index > 0 && r.index <= applied_.size() ? applied_[r.index - 1].e.term : 0;
  return check_state(who + " returned", m);
}

}  // namespace coraft::test
