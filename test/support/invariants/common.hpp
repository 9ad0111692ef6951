// test/support/invariants/common.hpp — what every safety checker reports
// with: a violation (which invariant, what was seen) and the small helpers
// that print entries, configurations and nodes.
#pragma once

#include <support/core_node.hpp>

#include <coraft/core/raft.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coraft::test {

// A broken invariant: which one, and what exactly was seen.
struct violation {
  std::string invariant;  // e.g. "election safety"
  std::string detail;
  std::string what() const { return invariant + ": " + detail; }
};

namespace sim_detail {

inline std::string str(log_id id) { return "(" + std::to_string(id.term) + "," + std::to_string(id.index) + ")"; }
// The command bytes as a std::string, whatever type entry::data has.
inline std::string data_of(const entry& e) { return std::string(std::string_view(e.data)); }
inline std::string str(const entry& e) {
  std::string type = e.type == entry_type::noop     ? "noop"
                     : e.type == entry_type::config ? "config"
                                                    : "'" + data_of(e) + "'";
  return "[i=" + std::to_string(e.index) + " t=" + std::to_string(e.term) + " " + type + "]";
}
inline bool same_entry(const entry& a, const entry& b) {
  return a.term == b.term && a.index == b.index && a.type == b.type && a.data == b.data;
}
inline std::size_t majority(std::size_t n) { return n / 2 + 1; }
inline std::string node_str(node_id id) { return "node " + std::to_string(id); }

// Membership [thesis ch. 4]: the configuration a config entry holds (ids
// sorted, as the core keeps them), nullopt if it does not decode.
inline std::optional<membership> config_of(const entry& e) {
  auto m = decode_membership(std::string_view(e.data));
  if (m) {
    std::sort(m->voters.begin(), m->voters.end());
    std::sort(m->learners.begin(), m->learners.end());
  }
  return m;
}
inline std::string ids_str(const std::vector<node_id>& ids) {
  std::string s = "{";
  for (node_id id : ids) s += (s.size() > 1 ? "," : "") + std::to_string(id);
  return s + "}";
}
inline std::string str(const membership& m) {
  return "voters " + ids_str(m.voters) + (m.learners.empty() ? "" : " learners " + ids_str(m.learners));
}
// The newest config entry in a core's log, or nullptr (the configuration
// then comes from its snapshot or its bootstrap).
inline const entry* newest_config_entry(const core::raft& r) {
  for (index_t i = r.last_log().index; i >= r.first_index() && i > 0; --i) {
    const entry* e = r.entry_at(i);
    if (e != nullptr && e->type == entry_type::config) return e;
  }
  return nullptr;
}
// What one server's status is in `m`: 2 voter, 1 learner, 0 not a member.
inline int standing(const membership& m, node_id id) { return m.is_voter(id) ? 2 : m.is_learner(id) ? 1 : 0; }

}  // namespace sim_detail

}  // namespace coraft::test
