// node_sim_parts.hpp — the pieces of coraft-node-sim that know nothing of
// the simulation loop: what a node acknowledged as durable (the oracle a
// restart is checked against), and the links of the simulated network.
#pragma once

#include <coraft/storage.hpp>
#include <coraft/types.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace node_sim_parts {

using coraft::hard_state;
using coraft::index_t;
using coraft::log_id;
using coraft::node_id;
using coraft::term_t;

// What one node's storage has acknowledged as durable, as ids (the oracle):
// updated only when a write or snapshot save returns, and replaced by what
// a load returns. Whatever a restart finds must hold at least this.
// Mirrors coraft::memory_storage's rules (log_write order: bootstrap, reset,
// compact, state, entries).
struct durable_model {
  hard_state state;
  std::optional<log_id> snap;  // newest durable snapshot's last entry
  log_id base;                 // the log holds the entries after base.index
  std::vector<term_t> terms;   // terms of entries base.index+1 ...
  bool bootstrap = false;

  index_t last_index() const { return base.index + terms.size(); }
  std::optional<term_t> term_at(index_t i) const {
    if (i == base.index) return base.term;
    if (i <= base.index || i > last_index()) return std::nullopt;
    return terms[static_cast<std::size_t>(i - base.index - 1)];
  }

  void apply(const coraft::log_write& w) {
    if (w.bootstrap) bootstrap = true;
    if (w.reset) {
      terms.clear();
      base = *w.reset;
    }
    if (w.compact && w.compact->index > base.index) {
      const auto drop = std::min<std::size_t>(terms.size(), static_cast<std::size_t>(w.compact->index - base.index));
      terms.erase(terms.begin(), terms.begin() + static_cast<std::ptrdiff_t>(drop));
      base = *w.compact;
    }
    if (w.state) state = *w.state;
    if (!w.entries.empty()) {
      const index_t first = w.entries.front().index;
      if (first > base.index && first <= last_index() + 1)
        terms.resize(static_cast<std::size_t>(first - base.index - 1));
      for (const auto& e : w.entries) terms.push_back(e.term);
    }
  }
  void saved(const coraft::snapshot_meta& m) {
    if (!snap || m.last.index > snap->index) snap = m.last;
  }
  static durable_model of(const coraft::recovered_state& rs) {
    durable_model d;
    d.state = rs.state;
    d.bootstrap = rs.bootstrap.has_value();
    if (rs.snap) d.snap = rs.snap->meta.last;
    if (rs.log.empty()) {
      d.base = {rs.snap && rs.snap->meta.last.index == rs.base ? rs.snap->meta.last.term : 0, rs.base};
    } else {
      d.base = {0, rs.log.front().index - 1};
      for (const auto& e : rs.log) d.terms.push_back(e.term);
    }
    return d;
  }

  // The entry a restart must hold (and so every one before it): the last
  // of the log, which a compaction or an installed snapshot's reset leaves
  // at its base. A snapshot saved alone promises nothing: a node answers an
  // install only once its log was reset to it (an install cut short by a
  // crash, the snapshot durable and the reset not, may come back without it).
  std::optional<log_id> must_hold() const {
    if (last_index() == 0) return std::nullopt;
    return log_id{*term_at(last_index()), last_index()};
  }
  std::string describe() const {
    std::string s = "term=" + std::to_string(state.current_term) + " vote=" + std::to_string(state.voted_for) +
                    " log=" + std::to_string(base.index + 1) + ".." + std::to_string(last_index());
    if (snap) s += " snapshot=(" + std::to_string(snap->term) + "," + std::to_string(snap->index) + ")";
    return s;
  }
};

// Why `rs` holds less than `acked` promised (empty: it holds all of it).
// Checks the hard state (no term going back, no other vote in the term) and
// the entry the acknowledged state must hold, and that what came back has no
// hole (a log that starts after its snapshot).
inline std::string less_than_acked(const coraft::recovered_state& rs, const durable_model& acked) {
  const durable_model got = durable_model::of(rs);
  if (rs.snap ? rs.base > rs.snap->meta.last.index : rs.base > 0)
    return "a hole: the log starts after entry " + std::to_string(rs.base) + " but " +
           (rs.snap ? "the snapshot ends at " + std::to_string(rs.snap->meta.last.index)
                    : std::string("there is no snapshot"));
  if (got.state.current_term < acked.state.current_term)
    return "term went back from " + std::to_string(acked.state.current_term) + " to " +
           std::to_string(got.state.current_term);
  if (got.state.current_term == acked.state.current_term && acked.state.voted_for != coraft::no_node &&
      got.state.voted_for != acked.state.voted_for)
    return "vote in term " + std::to_string(acked.state.current_term) + " changed from " +
           std::to_string(acked.state.voted_for) + " to " + std::to_string(got.state.voted_for);
  if (acked.bootstrap && !got.bootstrap) return "the bootstrap configuration is gone";
  const auto need = acked.must_hold();
  if (!need) return "";
  // Held by a snapshot at or after it, or by the log, with the same term
  // (a term of 0 is a base whose term the model does not know).
  if (got.snap && got.snap->index >= need->index) return "";
  const auto t = got.term_at(need->index);
  if (!t)
    return "it must hold entry (" + std::to_string(need->term) + "," + std::to_string(need->index) + ") but ends at " +
           std::to_string(got.last_index());
  if (need->term != 0 && *t != 0 && *t != need->term)
    return "entry " + std::to_string(need->index) + " has term " + std::to_string(*t) + ", acknowledged with term " +
           std::to_string(need->term);
  return "";
}

// Directed links between servers: link(a, b) false means a's messages to b
// are lost (or held, with kept queues). Partitions of every shape: two
// halves, one server cut off, one-way cuts, and bridges (two sides that
// each reach a middle server but not each other: not transitive).
class links {
 public:
  explicit links(std::size_t n) : n_(n), cut_(n * n, false) {}
  bool up(node_id a, node_id b) const { return !cut_[idx(a, b)]; }
  void cut(node_id a, node_id b) { cut_[idx(a, b)] = true; }
  void heal() { std::fill(cut_.begin(), cut_.end(), false); }
  bool healed() const {
    return std::none_of(cut_.begin(), cut_.end(), [](bool c) { return c; });
  }
  bool both_ways(node_id a, node_id b) const { return up(a, b) && up(b, a); }
  std::size_t size() const { return n_; }
  // The largest set among `ids` connected both ways pairwise (a clique),
  // found exhaustively (at most 7 servers).
  std::vector<node_id> largest_clique(const std::vector<node_id>& ids) const {
    std::vector<node_id> best;
    const std::size_t k = ids.size();
    for (std::uint32_t mask = 1; mask < (1u << k); ++mask) {
      std::vector<node_id> set;
      for (std::size_t i = 0; i < k; ++i)
        if (mask & (1u << i)) set.push_back(ids[i]);
      if (set.size() <= best.size()) continue;
      bool ok = true;
      for (std::size_t i = 0; ok && i < set.size(); ++i)
        for (std::size_t j = i + 1; ok && j < set.size(); ++j) ok = both_ways(set[i], set[j]);
      if (ok) best = std::move(set);
    }
    return best;
  }
  std::string describe() const {
    std::string s;
    for (node_id a = 1; a <= n_; ++a)
      for (node_id b = 1; b <= n_; ++b)
        if (a != b && !up(a, b)) s += (s.empty() ? "" : " ") + std::to_string(a) + "-/->" + std::to_string(b);
    return s.empty() ? "none" : s;
  }

 private:
  std::size_t idx(node_id a, node_id b) const { return static_cast<std::size_t>((a - 1) * n_ + (b - 1)); }
  std::size_t n_;
  std::vector<bool> cut_;
};

}  // namespace node_sim_parts
