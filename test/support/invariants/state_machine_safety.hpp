// test/support/invariants/state_machine_safety.hpp — State Machine Safety [§5.4.3, Fig. 3]: one global applied
// sequence; commands applied once and only if proposed; snapshots hold that state. Part of invariant_checker
// (invariant_checker.hpp includes it).
#pragma once

#include <support/invariants/invariant_checker.hpp>

namespace coraft::test {

// [§5.4.3] [Fig. 3] State Machine Safety: if a server has applied an entry
// at an index, no server ever applies a different entry there. Every
// incarnation's applied sequence must be a prefix of one global sequence,
// contiguous, within its own commit index, and equal to what was committed.
// Commands are applied at most once in that sequence, and (when proposals
// are tracked) only if someone proposed them.
inline std::optional<violation> invariant_checker::check_state_machine_safety(node_id id, int incarnation,
                                                                              const std::vector<entry>& applied,
                                                                              index_t commit_index) {
  return check_state_machine_safety(id, incarnation, model_state{}, applied, commit_index);
}

// The same for a state machine that started (epoch `epoch`: a restart or a
// snapshot restore) from `base`, which must be the state some node reached
// by applying the global sequence through base.index [§7]; `applied`
// continues from there.
inline std::optional<violation> invariant_checker::check_state_machine_safety(node_id id, int epoch,
                                                                              const model_state& base,
                                                                              const std::vector<entry>& applied,
                                                                              index_t commit_index) {
  sm_track& t = sm_tracks_[id];
  const std::string who = sim_detail::node_str(id) + " (state machine epoch " + std::to_string(epoch) + ")";
  if (t.epoch != epoch) {
    t = sm_track{epoch, 0};
    if (auto v = check_state(who + " restored", base)) return v;
  }
  if (applied.size() < t.applied_checked) return violation{"state machine safety", who + " un-applied entries"};
  for (std::size_t k = t.applied_checked; k < applied.size(); ++k) {
    const entry& e = applied[k];
    if (e.index == 0 || (k > 0 && e.index != applied[k - 1].index + 1) || (k == 0 && e.index != base.index + 1))
      return violation{"state machine safety",
                       who + " applied " + sim_detail::str(e) +
                           (k > 0 ? " right after index " + std::to_string(applied[k - 1].index)
                                  : " first, from a state at index " + std::to_string(base.index)) +
                           ": not in log order"};
    if (e.index > commit_index)
      return violation{"state machine safety", who + " applied " + sim_detail::str(e) + " beyond its commit_index " +
                                                   std::to_string(commit_index)};
    if (e.index <= committed_.size() && !sim_detail::same_entry(committed_[e.index - 1].e, e))
      return violation{"state machine safety", who + " applied " + sim_detail::str(e) + " but the committed entry is " +
                                                   sim_detail::str(committed_[e.index - 1].e)};
    if (e.index <= applied_.size()) {
      const applied_entry& g = applied_[e.index - 1];
      if (!sim_detail::same_entry(g.e, e))
        return violation{"state machine safety", who + " applied " + sim_detail::str(e) + " but " +
                                                     sim_detail::node_str(g.first_on) + " applied " +
                                                     sim_detail::str(g.e) + " at that index [§5.4.3]"};
    } else if (e.index == applied_.size() + 1) {
      if (e.type == entry_type::normal) {
        if (track_proposals_ && proposed_.count(sim_detail::data_of(e)) == 0)
          return violation{"state machine safety",
                           who + " applied " + sim_detail::str(e) + ", a command never proposed"};
        if (!applied_commands_.insert(sim_detail::data_of(e)).second)
          return violation{"state machine safety",
                           who + " applied " + sim_detail::str(e) + ", a command already applied at an earlier index"};
      }
      applied_.push_back({e, id});
      prefix_hash_.push_back(model_state::mix(prefix_hash_.back(), e));
    } else {
      return violation{"state machine safety", who + " applied " + sim_detail::str(e) +
                                                   " but no node has applied index " +
                                                   std::to_string(applied_.size() + 1)};
    }
  }
  t.applied_checked = applied.size();
  return std::nullopt;
}

// A state machine state (restored, read, or captured in a snapshot) is the
// state of applying the global sequence through its index: same term at
// that index, same hash [§5.4.3] [§7].
inline std::optional<violation> invariant_checker::check_state(const std::string& what, const model_state& m) const {
  if (m.index >= prefix_hash_.size())
    return violation{"state machine safety", what + " a state at index " + std::to_string(m.index) +
                                                 " but no node has applied that far (" +
                                                 std::to_string(prefix_hash_.size() - 1) + ")"};
  if (m.hash != prefix_hash_[m.index] || (m.index > 0 && m.term != applied_[m.index - 1].e.term))
    return violation{"state machine safety",
                     what + " a state at index " + std::to_string(m.index) + " (term " + std::to_string(m.term) +
                         ", hash " + std::to_string(m.hash) + ") that differs from the applied history there (term " +
                         (m.index > 0 ? std::to_string(applied_[m.index - 1].e.term) : std::string("0")) + ", hash " +
                         std::to_string(prefix_hash_[m.index]) + ") [§5.4.3]"};
  return std::nullopt;
}

// [§7] A durable snapshot stands for the state after its last included
// entry: it must decode, and be that state.
inline std::optional<violation> invariant_checker::check_snapshot(node_id id, const snapshot& s) {
  auto& seen = snapshots_checked_[id];
  if (seen == s.meta.last) return std::nullopt;
  seen = s.meta.last;
  const std::string who = sim_detail::node_str(id) + "'s durable snapshot through " + sim_detail::str(s.meta.last);
  const std::string bytes = read_all(*s.data);
  const auto m = model_state::decode(bytes);
  if (!m || m->index != s.meta.last.index || m->term != s.meta.last.term)
    return violation{"snapshots", who + " does not hold the state at that index"};
  if (s.meta.size != bytes.size() || s.meta.crc != detail::crc32c(bytes.data(), bytes.size()))
    return violation{"snapshots", who + ": size or CRC32C does not match its data"};
  if (auto v = check_state(who + " holds", *m)) return v;
  // [thesis §5.1] lastConfig: the configuration in force at its index
  // (looked at once membership changes: a run without config entries
  // never reads it back but to restore its own bootstrap).
  if (!any_config_entry_) return std::nullopt;
  if (const membership c = applied_config_at(s.meta.last.index); !(s.meta.config == c))
    return violation{"snapshots", who + " carries " + sim_detail::str(s.meta.config) +
                                      " but the configuration at that index is " + sim_detail::str(c) +
                                      " [thesis §5.1]"};
  return std::nullopt;
}

}  // namespace coraft::test
