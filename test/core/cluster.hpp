// test/core/cluster.hpp — a few core_nodes on an explicit, hand-driven
// network, for the unit tests (test/core) and the scenario interpreter
// (test/scenarios).
//
// Nothing here is random: messages stay in flight until a test delivers or
// drops them, disks stay unsynced until a test syncs them, and the only
// randomness is the cores' seeded election timeouts. After every step the
// cluster checks each core's own invariants (raft::check_invariants) and the
// safety properties of [Fig. 3] across nodes:
//   - Election Safety: at most one leader per term;
//   - State Machine Safety: no two nodes apply different entries at an index;
//   - Leader Completeness: a leader's log holds every applied entry.
// Violations are collected as text (see violations()); the test fails on them.
#pragma once

#include "hand_driven.hpp"

#include <support/core_node.hpp>

#include <coraft/core/raft.hpp>
#include <coraft/messages.hpp>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace coraft::test {

// Options for tests of the paper's base algorithm: no pre-vote, no
// check-quorum, so an election is just campaign() and a round of votes.
inline core::options paper_options() {
  core::options o;
  o.pre_vote = false;
  o.check_quorum = false;
  return o;
}

class cluster : public hand_network<cluster> {
 public:
  using filter = std::function<bool(const message&)>;

  explicit cluster(std::size_t n, core::options base = core::options{}) : base_(base) {
    std::vector<node_id> voters;
    for (node_id id = 1; id <= n; ++id) voters.push_back(id);
    for (node_id id : voters) {
      core::options o = base;
      o.id = id;
      nodes_.emplace(id, core_node(o, voters));
    }
    check();
  }

  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  core_node& node(node_id id) { return nodes_.at(id); }
  core::raft& raft(node_id id) { return nodes_.at(id).raft(); }
  std::vector<node_id> ids() const {
    std::vector<node_id> out;
    for (const auto& [id, n] : nodes_) out.push_back(id);
    return out;
  }

  // --- the network -------------------------------------------------------

  // Drains ready batches of every up node until none has one; messages that
  // may go out now join the network, writes wait for sync().
  bool take_all() {
    bool any = false;
    for (bool progress = true; progress;) {
      progress = false;
      for (auto& [id, n] : nodes_) progress |= n.take(net_);
      any |= progress;
    }
    check();
    return any;
  }

  // Makes node `id`'s pending writes durable (releasing its after-sync
  // messages and reporting synced_to), then drains what that produced.
  void sync(node_id id) {
    node(id).sync(net_);
    take_all();
  }
  bool sync_all() {
    bool any = false;
    for (auto& [id, n] : nodes_) {
      if (n.up() && n.pending_writes() > 0) {
        any = true;
        n.sync(net_);
      }
    }
    take_all();
    return any;
  }

  // Delivers the messages now in flight that match `which` (all by default),
  // in send order. A message to a down node or across a cut link is lost.
  // Messages sent in reaction wait for the next call. Returns the delivered
  // ones; lost ones are reported through on_drop.
  std::vector<message> deliver(const filter& which = {}) {
    std::vector<message> round;
    std::vector<message> keep;
    for (auto& m : net_) ((!which || which(m)) ? round : keep).push_back(std::move(m));
    net_ = std::move(keep);
    std::vector<message> delivered;
    for (auto& m : round) {
      auto it = nodes_.find(m.to);
      if (it == nodes_.end() || !it->second.up() || !linked(m.from, m.to)) {
        if (on_drop) on_drop(m);
        continue;
      }
      if (on_deliver) on_deliver(m);
      it->second.raft().step(m);
      take_all();
      if (on_stepped) on_stepped(m);
      delivered.push_back(std::move(m));
    }
    return delivered;
  }

  // Removes the in-flight messages matching `which`; returns them.
  std::vector<message> drop(const filter& which) {
    std::vector<message> dropped;
    std::vector<message> keep;
    for (auto& m : net_) (which(m) ? dropped : keep).push_back(std::move(m));
    net_ = std::move(keep);
    for (const auto& m : dropped)
      if (on_drop) on_drop(m);
    return dropped;
  }

  // Syncs and delivers until nothing moves: the cluster is quiet.
  void stabilize(int max_rounds = 10000) {
    take_all();
    for (int round = 0; round < max_rounds; ++round) {
      const bool synced = sync_all();
      if (net_.empty() && !synced) return;
      deliver();
    }
    safety_.add("stabilize: still busy after " + std::to_string(max_rounds) + " rounds");
  }

  // --- time and failures ---------------------------------------------------

  void tick(node_id id, int n = 1) {
    for (int i = 0; i < n; ++i) {
      if (node(id).up()) raft(id).tick();
      take_all();
    }
  }
  void tick_all(int n = 1) {
    for (int i = 0; i < n; ++i) {
      for (auto& [id, nd] : nodes_)
        if (nd.up()) nd.raft().tick();
      take_all();
    }
  }
  // Ticks everyone once and stabilizes, `n` times: time passing on a
  // network that delivers promptly.
  void run(int n) {
    for (int i = 0; i < n; ++i) {
      tick_all();
      stabilize();
    }
  }

  void crash(node_id id) {
    node(id).crash();
    check();
  }
  void restart(node_id id) {
    node(id).restart();
    seen_applied_[id] = 0;  // a new incarnation applies from the start
    take_all();
  }

  // --- conveniences ------------------------------------------------------

  // Node `id` campaigns and the network runs until quiet.
  void elect(node_id id) {
    raft(id).campaign();
    stabilize();
  }

  // The up leader of the highest term, if any.
  std::optional<node_id> leader() const {
    std::optional<node_id> best;
    term_t best_term = 0;
    for (const auto& [id, n] : nodes_) {
      if (n.up() && n.raft().state() == core::role::leader && n.raft().term() >= best_term) {
        best = id;
        best_term = n.raft().term();
      }
    }
    return best;
  }

  // The node's log as entries (first_index .. last).
  std::vector<entry> log_of(node_id id) {
    std::vector<entry> out;
    const core::raft& r = raft(id);
    for (index_t i = r.first_index(); i <= r.last_log().index; ++i) out.push_back(*r.entry_at(i));
    return out;
  }

  // Safety violations seen so far (empty when all is well).
  const std::vector<std::string>& violations() const { return safety_.violations(); }

  // Called for each delivered / lost message (the scenario output uses them).
  std::function<void(const message&)> on_deliver;
  std::function<void(const message&)> on_drop;
  // Called after a delivered message was stepped and its ready batch taken.
  std::function<void(const message&)> on_stepped;

  // Runs every check (hand_driven.hpp); panics inside a core abort the
  // test binary.
  void check() {
    for (auto& [id, n] : nodes_)
      if (n.up()) safety_.check(id, n.raft(), n.applied(), seen_applied_[id]);
  }

 private:
  core::options base_;
  std::map<node_id, core_node> nodes_;
  safety_record safety_;
  std::map<node_id, std::size_t> seen_applied_;  // entries of each node's applied list checked
};

// Message helpers -----------------------------------------------------------

template <class Body>
const Body* body_of(const message& m) {
  return std::get_if<Body>(&m.body);
}

template <class Body>
std::vector<message> of_type(const std::vector<message>& ms) {
  std::vector<message> out;
  for (const auto& m : ms)
    if (std::holds_alternative<Body>(m.body)) out.push_back(m);
  return out;
}

inline std::vector<message> to_node(const std::vector<message>& ms, node_id to) {
  std::vector<message> out;
  for (const auto& m : ms)
    if (m.to == to) out.push_back(m);
  return out;
}

inline cluster::filter from_to(node_id from, node_id to) {
  return [=](const message& m) { return (from == no_node || m.from == from) && (to == no_node || m.to == to); };
}

inline std::vector<entry> make_log(std::initializer_list<term_t> terms) {
  std::vector<entry> log;
  index_t i = 0;
  for (term_t t : terms)
    log.push_back(entry{t, ++i, entry_type::normal, std::string(1, 'e').append(std::to_string(i))});
  return log;
}

}  // namespace coraft::test
