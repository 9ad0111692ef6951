// test/core/full_cluster.hpp — a hand-driven cluster of cores that follows
// the whole ready contract (coraft/core/raft.hpp), including the parts the
// plain `cluster` leaves out: read_states are collected per node, an
// install_snapshot is carried out at the node's next sync (snapshot durable,
// log discarded, state machine restored, then snapshot_installed), and a
// node can take a snapshot of its state machine and compact (snapshot_taken).
// A restart uses the snapshot constructor when the node has a snapshot.
// add_node() brings in a server with empty storage: one joining the running
// cluster (empty bootstrap configuration), or one whose disk was wiped.
//
// The state machine is a string: each applied normal entry appends
// "<index>=<data>;". A snapshot's data is that string, so a follower that
// installed one must end with exactly the leader's state.
//
// Like `cluster`, nothing is random: messages stay in flight until a test
// delivers or drops them, writes stay pending until a sync. After every step
// it checks each core's invariants and the safety properties across nodes
// (hand_driven.hpp), plus the contract: nothing is applied while an
// installation is pending.
#pragma once

#include "hand_driven.hpp"

#include <coraft/core/raft.hpp>
#include <coraft/detail/crc32c.hpp>
#include <coraft/messages.hpp>
#include <support/snapshot_transfer.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace coraft::test {

struct full_node {
  core::options opts;
  std::vector<node_id> voters;
  // When set, the bootstrap configuration instead of `voters` (an empty one
  // for a server joining a running cluster: see full_cluster::add_node).
  std::optional<membership> bootstrap;
  std::unique_ptr<core::raft> r;
  bool up = true;

  // Durable state: hard state, log entries (log_base+1 ..), newest snapshot.
  hard_state hs;
  std::vector<entry> log;
  index_t log_base = 0;
  std::optional<snapshot> snap;

  struct pending {
    std::optional<hard_state> state;
    std::vector<entry> entries;
    std::vector<message> after_sync;
    std::optional<snapshot> install;
  };
  std::vector<pending> pend;
  test::memory_snapshot_receiver receiver;  // a snapshot being received (lost with the process)

  // The state machine of this incarnation.
  std::string sm;
  index_t sm_applied = 0;
  std::vector<entry> applied;            // entries applied in this incarnation
  std::vector<core::read_state> reads;   // read_states handed out, in order
  std::vector<snapshot_meta> installed;  // snapshots installed, in order
  std::vector<snapshot_meta> verify;     // ready::verify_snapshot handed out (as leader)
  int incarnation = 0;

  bool install_pending() const {
    return std::any_of(pend.begin(), pend.end(), [](const pending& p) { return p.install.has_value(); });
  }
};

class full_cluster : public hand_network<full_cluster> {
 public:
  using filter = std::function<bool(const message&)>;

  explicit full_cluster(std::size_t n, core::options base) : base_(base) {
    std::vector<node_id> voters;
    for (node_id id = 1; id <= n; ++id) voters.push_back(id);
    for (node_id id : voters) {
      auto nd = std::make_unique<full_node>();
      nd->opts = base;
      nd->opts.id = id;
      nd->voters = voters;
      nodes_.emplace(id, std::move(nd));
      start(id);
    }
    check();
  }
  full_cluster(const full_cluster&) = delete;
  full_cluster& operator=(const full_cluster&) = delete;

  full_node& node(node_id id) { return *nodes_.at(id); }
  core::raft& raft(node_id id) { return *nodes_.at(id)->r; }
  std::vector<node_id> ids() const {
    std::vector<node_id> out;
    for (const auto& [id, n] : nodes_) out.push_back(id);
    return out;
  }

  // --- the network -------------------------------------------------------

  bool take(node_id id) {
    full_node& n = node(id);
    if (!n.up || !n.r->has_ready()) return false;
    core::ready rd = n.r->take_ready();
    test::fill_chunks(rd.send_now);
    for (auto& m : rd.send_now) net_.push_back(std::move(m));
    n.receiver.receive(*n.r, rd.snapshot_chunks);
    full_node::pending p;
    p.state = std::move(rd.persist_state);
    p.entries = std::move(rd.persist_entries);
    p.after_sync = std::move(rd.send_after_sync);
    p.install = std::move(rd.install_snapshot);
    if (rd.verify_snapshot) n.verify.push_back(rd.verify_snapshot->meta);
    if (!rd.apply.empty() && n.install_pending())
      safety_.add("node " + std::to_string(id) + " handed out entries to apply while installing");
    for (auto& e : rd.apply) {
      if (e.index != n.sm_applied + 1)
        safety_.add("node " + std::to_string(id) + " applied " + std::to_string(e.index) + " after " +
                    std::to_string(n.sm_applied));
      n.sm_applied = e.index;
      if (e.type == entry_type::normal) n.sm += std::to_string(e.index) + "=" + std::string(e.data.view()) + ";";
      n.applied.push_back(std::move(e));
    }
    for (auto& rs : rd.read_states) n.reads.push_back(rs);
    if (p.state || !p.entries.empty() || !p.after_sync.empty() || p.install) n.pend.push_back(std::move(p));
    return true;
  }
  bool take_all() {
    bool any = false;
    for (bool progress = true; progress;) {
      progress = false;
      for (node_id id : ids()) progress |= take(id);
      any |= progress;
    }
    check();
    return any;
  }

  // Makes the node's pending writes durable in order, releasing after-sync
  // messages, reporting synced_to, and carrying out installations.
  void sync(node_id id) {
    take_all();  // what the core has ready now is part of this sync
    full_node& n = node(id);
    if (!n.up) return;
    auto batch = std::move(n.pend);
    n.pend.clear();
    for (auto& w : batch) {
      if (w.state) n.hs = *w.state;
      if (!w.entries.empty()) {
        const index_t first = w.entries.front().index;
        if (first <= n.log_base) {
          safety_.add("node " + std::to_string(id) + " persists entry " + std::to_string(first) +
                      " at or below its compacted prefix");
        } else {
          n.log.resize(std::min<std::size_t>(n.log.size(), first - 1 - n.log_base));
          for (auto& e : w.entries) n.log.push_back(e);
        }
      }
      for (auto& m : w.after_sync) net_.push_back(std::move(m));
      if (!w.entries.empty()) n.r->synced_to(w.entries.back().id());
      if (w.state) n.r->state_synced(w.state->current_term);
      if (w.install) {
        // Snapshot durable, log discarded durably, state machine restored.
        n.snap = *w.install;
        n.log.clear();
        n.log_base = w.install->meta.last.index;
        n.sm = read_all(*w.install->data);
        n.sm_applied = w.install->meta.last.index;
        n.installed.push_back(w.install->meta);
        if (!hold_installs) n.r->snapshot_installed(w.install->meta.last);
      }
    }
    take_all();
  }
  bool sync_all() {
    bool any = false;
    for (node_id id : ids()) {
      if (node(id).up && !node(id).pend.empty()) {
        any = true;
        sync(id);
      }
    }
    take_all();
    return any;
  }

  std::vector<message> deliver(const filter& which = {}) {
    std::vector<message> round, keep;
    for (auto& m : net_) ((!which || which(m)) ? round : keep).push_back(std::move(m));
    net_ = std::move(keep);
    std::vector<message> delivered;
    for (auto& m : round) {
      auto it = nodes_.find(m.to);
      if (it == nodes_.end() || !it->second->up || !linked(m.from, m.to)) continue;
      if (mutate) mutate(m);
      it->second->r->step(m);
      take_all();
      delivered.push_back(std::move(m));
    }
    return delivered;
  }
  std::vector<message> drop(const filter& which) {
    std::vector<message> dropped, keep;
    for (auto& m : net_) (which(m) ? dropped : keep).push_back(std::move(m));
    net_ = std::move(keep);
    return dropped;
  }
  void stabilize(int max_rounds = 10000) {
    take_all();
    for (int round = 0; round < max_rounds; ++round) {
      const bool synced = sync_all();
      if (net_.empty() && !synced) return;
      deliver();
    }
    safety_.add("stabilize: still busy after " + std::to_string(max_rounds) + " rounds");
  }

  void tick(node_id id, int n = 1) {
    for (int i = 0; i < n; ++i) {
      if (node(id).up) raft(id).tick();
      take_all();
    }
  }
  void tick_all(int n = 1) {
    for (int i = 0; i < n; ++i) {
      for (node_id id : ids())
        if (node(id).up) raft(id).tick();
      take_all();
    }
  }
  void run(int n) {
    for (int i = 0; i < n; ++i) {
      tick_all();
      stabilize();
    }
  }
  void elect(node_id id) {
    raft(id).campaign();
    stabilize();
  }
  std::optional<node_id> leader() const {
    std::optional<node_id> best;
    term_t best_term = 0;
    for (const auto& [id, n] : nodes_)
      if (n->up && n->r->state() == core::role::leader && n->r->term() >= best_term) {
        best = id;
        best_term = n->r->term();
      }
    return best;
  }

  // Proposes "data" on `id` (must be leader) and returns its index.
  index_t propose(node_id id, const std::string& data) {
    const auto res = raft(id).propose(payload(data));
    if (res.result != core::propose_result::code::accepted) {
      safety_.add("proposal refused on node " + std::to_string(id));
      return 0;
    }
    take_all();
    return res.id.index;
  }

  // Snapshot of node `id`'s state machine at what it applied; storage keeps
  // it durable, then the core compacts through `compact_through`.
  snapshot take_snapshot(node_id id, index_t compact_through) {
    full_node& n = node(id);
    snapshot s;
    s.meta.last = {raft(id).term_at(n.sm_applied).value_or(0), n.sm_applied};
    s.meta.config = raft(id).config_at(n.sm_applied);
    s.data = snapshot_bytes(payload(n.sm));
    s.meta.size = n.sm.size();
    s.meta.crc = detail::crc32c(n.sm.data(), n.sm.size());
    n.snap = s;
    raft(id).snapshot_taken(s, compact_through);
    // Storage drops what the core compacted.
    const index_t first = raft(id).first_index();
    while (!n.log.empty() && n.log.front().index < first) n.log.erase(n.log.begin());
    n.log_base = std::max(n.log_base, first - 1);
    take_all();
    return s;
  }

  // Adds node `id` with empty storage and `bootstrap` as its configuration
  // (empty by default: a server joining a running cluster, which learns the
  // configuration from the leader's log or snapshot). A node of that id that
  // exists already is replaced, as if its disk had been wiped.
  full_node& add_node(node_id id, membership bootstrap = {}) {
    auto nd = std::make_unique<full_node>();
    nd->opts = base_;
    nd->opts.id = id;
    nd->bootstrap = std::move(bootstrap);
    nodes_.insert_or_assign(id, std::move(nd));
    start(id);
    take_all();
    return node(id);
  }

  void crash(node_id id) {
    node(id).up = false;
    node(id).pend.clear();
  }
  void restart(node_id id) {
    start(id);
    take_all();
  }

  // Hold installations (a slow disk): snapshot_installed is not called.
  bool hold_installs = false;
  // Called on each message just before it is stepped (to corrupt it).
  std::function<void(message&)> mutate;

  const std::vector<std::string>& violations() const { return safety_.violations(); }

  void check() {
    for (auto& [id, n] : nodes_)
      if (n->up) safety_.check(id, *n->r, n->applied, seen_[id]);
  }

 private:
  void start(node_id id) {
    full_node& n = node(id);
    ++n.incarnation;
    core::options o = n.opts;
    o.seed = n.opts.seed * 1000003 + static_cast<std::uint64_t>(n.incarnation);
    n.pend.clear();
    n.receiver.reset();
    n.applied.clear();
    n.reads.clear();
    seen_[id] = 0;
    if (n.snap) {
      n.r = std::make_unique<core::raft>(o, n.hs, *n.snap, n.log);
      n.sm = read_all(*n.snap->data);
      n.sm_applied = n.snap->meta.last.index;
    } else if (n.bootstrap) {
      n.r = std::make_unique<core::raft>(o, *n.bootstrap, n.hs, n.log);
      n.sm.clear();
      n.sm_applied = 0;
    } else {
      n.r = std::make_unique<core::raft>(o, n.voters, n.hs, n.log);
      n.sm.clear();
      n.sm_applied = 0;
    }
    n.up = true;
  }

  core::options base_;
  std::map<node_id, std::unique_ptr<full_node>> nodes_;
  safety_record safety_;
  std::map<node_id, std::size_t> seen_;
};

}  // namespace coraft::test
