// test/support/invariants/log_matching.hpp — Log Matching [§5.3, Fig. 3]: one (index, term), one entry and one
// predecessor, forever. Part of invariant_checker (invariant_checker.hpp includes it).
#pragma once

#include <support/invariants/invariant_checker.hpp>

namespace coraft::test {

// [§5.3] [Fig. 3] Log Matching: if two logs contain an entry with the same
// index and term, the logs are identical in all entries up through it.
// Checked inductively and across time: the first time an (index, term) is
// seen, its data and its predecessor's term are registered; any log that
// ever holds that (index, term) again must agree on both. Two logs sharing
// (i, t) then share (i-1, t'), and so on down to index 1. Only entries that
// changed since the last call (found by diffing a mirror) are looked up.
inline std::optional<violation> invariant_checker::check_log_matching(node_id id, int incarnation,
                                                                      const core::raft& log) {
  node_track& t = track(id, incarnation);
  const index_t first = log.first_index();
  const log_id last = log.last_log();
  const std::string who = sim_detail::node_str(id);
  if (last.index + 1 < first)
    return violation{"log matching",
                     who + ": last_log " + sim_detail::str(last) + " is below first_index " + std::to_string(first)};
  if (t.mirror_first != first) {
    t.mirror.clear();
    t.mirror_first = first;
  }
  const std::size_t held = static_cast<std::size_t>(last.index + 1 - first);
  std::size_t k = 0;
  for (const std::size_t n = std::min(held, t.mirror.size()); k < n; ++k) {
    const entry* e = log.entry_at(first + k);
    if (e == nullptr || !sim_detail::same_entry(*e, t.mirror[k])) break;
  }
  if (k < t.mirror.size() || k < held) {
    const index_t changed = first + k;
    t.committed_dirty_from = std::min(t.committed_dirty_from, changed);
    t.leader_dirty_from = std::min(t.leader_dirty_from, changed);
  }
  t.mirror.resize(k);
  for (; k < held; ++k) {
    const index_t i = first + k;
    const entry* e = log.entry_at(i);
    if (e == nullptr)
      return violation{"log matching",
                       who + ": entry_at(" + std::to_string(i) + ") is null inside [first_index, last_log]"};
    const std::optional<term_t> tt = log.term_at(i);
    if (e->index != i || !tt || *tt != e->term)
      return violation{"log matching", who + ": entry_at(" + std::to_string(i) + ") is " + sim_detail::str(*e) +
                                           " but term_at says " + (tt ? std::to_string(*tt) : "none")};
    std::optional<term_t> prev;
    if (i == 1)
      prev = 0;
    else if (i > first)
      prev = t.mirror.back().term;
    else
      prev = log.term_at(i - 1);  // the last entry a snapshot covers [§7]
    if (auto v = register_entry(id, *e, prev)) return v;
    if (e->type == entry_type::config) {
      any_config_entry_ = true;
      if (config_changes_checked_.count(e->id()) == 0) t.new_configs.push_back(*e);
    }
    t.mirror.push_back(*e);
  }
  if (last.index >= first && t.mirror.back().term != last.term)
    return violation{"log matching", who + ": last_log " + sim_detail::str(last) + " disagrees with entry_at(" +
                                         std::to_string(last.index) + ")"};
  return std::nullopt;
}

inline invariant_checker::node_track& invariant_checker::track(node_id id, int incarnation) {
  node_track& t = tracks_[id];
  if (t.incarnation != incarnation) {
    t = node_track();
    t.incarnation = incarnation;
  }
  return t;
}

inline std::optional<violation> invariant_checker::register_entry(node_id id, const entry& e,
                                                                  std::optional<term_t> prev) {
  auto [it, inserted] = registry_.try_emplace(e.id(), registered_entry{prev, e, id});
  if (inserted) return std::nullopt;
  registered_entry& r = it->second;
  if (!sim_detail::same_entry(r.e, e))
    return violation{"log matching", sim_detail::node_str(id) + " holds " + sim_detail::str(e) + " but " +
                                         sim_detail::node_str(r.first_on) + " held " + sim_detail::str(r.e) +
                                         ": one (index, term), two entries [§5.3]"};
  if (prev && r.prev_term && *prev != *r.prev_term)
    return violation{"log matching",
                     sim_detail::node_str(id) + " holds " + sim_detail::str(e) + " after an entry of term " +
                         std::to_string(*prev) + " but " + sim_detail::node_str(r.first_on) + " held it after term " +
                         std::to_string(*r.prev_term) + ": logs agree at (index, term) but differ before it [§5.3]"};
  if (!r.prev_term) r.prev_term = prev;
  return std::nullopt;
}

}  // namespace coraft::test
