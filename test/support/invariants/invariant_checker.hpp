// test/support/invariants/invariant_checker.hpp — the safety checkers of
// the simulations (sim_cluster.hpp, coraft-sim, coraft-node-sim), one file
// per property in this directory; this header holds what they share: the
// history of the run they check against.
#pragma once

#include <support/core_node.hpp>
#include <support/invariants/common.hpp>

#include <coraft/core/raft.hpp>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace coraft::test {

// The safety checkers. They keep the history they need across the whole run
// (past incarnations included) and take plain observations, so a test can feed
// them a fabricated history and watch them fail. Each returns the violation
// it found, if any.
//
// They are incremental, so that checking after every event stays cheap: per
// node incarnation they remember how far they have verified, and
// check_log_matching (which diffs the whole log against a mirror) tells the
// log-reading checks the lowest index that changed since they last ran.
// Call it before them whenever that node's log may have changed.
class invariant_checker {
 public:
  // One globally committed index [§5.4.2]: the entry, and the earliest term
  // in which some node was seen to consider it committed.
  struct committed_entry {
    entry e;
    term_t observed_in_term = 0;  // the observing node's current term
    node_id observed_on = no_node;
  };

  explicit invariant_checker(std::size_t cluster_size) : cluster_size_(cluster_size) {}

  // [§5.2] [Fig. 3] Election Safety: at most one leader can be elected in a
  // given term. The map term -> leader spans the run and every incarnation.
  std::optional<violation> check_election_safety(node_id id, term_t term, core::role r);

  // [§5.3] [Fig. 3] Log Matching: if two logs contain an entry with the same
  // index and term, the logs are identical in all entries up through it.
  // Checked inductively and across time: the first time an (index, term) is
  // seen, its data and its predecessor's term are registered; any log that
  // ever holds that (index, term) again must agree on both. Two logs sharing
  // (i, t) then share (i-1, t'), and so on down to index 1. Only entries that
  // changed since the last call (found by diffing a mirror) are looked up.
  std::optional<violation> check_log_matching(node_id id, int incarnation, const core::raft& log);

  // [§5.4] Committed entries are never lost or changed: every index any node
  // has committed is recorded once (index -> term, data); every later
  // observation of that index on any node must be the same entry.
  std::optional<violation> check_committed_stable(node_id id, int incarnation, term_t current_term,
                                                  index_t commit_index, const core::raft& log);

  // [§5.4.2] [thesis §3.8] An entry is committed only once it is stored on a
  // majority, so every committed entry must be on a majority of *durable*
  // disks (crashed nodes' disks included): otherwise losing the power of the
  // other servers would lose it. This is where a core that counts writes
  // before they are synced gets caught.
  // `disks_changed`: false when no disk was written since the last call, so
  // only newly committed entries need a look.
  //
  // With membership changes the majority is one of the voters of the newest
  // committed configuration C for entries up to C's own index: the first
  // commit at or past C's index was counted by C's voters (a leader uses the
  // configuration in force, and C is the newest one until it commits), and a
  // voter never loses what it holds durably. An entry after C was counted
  // by C's voters or by those of the one change after C, still uncommitted
  // (at most one is in flight [thesis §4.1]): `pending` lists the
  // configurations of the config entries after C that servers hold, and
  // such an entry must be durable on a majority of C or of one of them —
  // checked after every event like the rest, not only once a later
  // configuration commits. `disks`: every node's, by id.
  std::optional<violation> check_committed_durable(const std::map<node_id, const durable_disk*>& disks,
                                                   bool disks_changed, const std::vector<membership>& pending = {});
  // The same for a fixed cluster: disks[k] is node k + 1's.
  std::optional<violation> check_committed_durable(const std::vector<const durable_disk*>& disks, bool disks_changed);

  // A disk holds entry `e`: the same entry at its index, or a durable
  // snapshot that covers the index [§7] (its contents are checked against
  // the applied history: check_snapshot).
  static bool holds(const durable_disk& d, const entry& e);

  // ---- membership changes [thesis ch. 4] ----------------------------------

  // The configuration the initial nodes boot with: voters 1..cluster_size
  // (a node joining later boots with an empty one).
  membership bootstrap() const;

  // [thesis §4.1] "a server always uses the latest configuration in its log,
  // regardless of whether the entry is committed": the core's config() is
  // the newest config entry in its log (`newest`), else its snapshot's
  // (lastConfig [thesis §5.1]), else the one it booted with. A follower that
  // waited for the commit, or kept a configuration whose entry was
  // truncated, fails here.
  std::optional<violation> check_config_in_force(node_id id, const core::raft& r, const membership& booted,
                                                 const entry* newest);

  // [thesis §4.1] One server at a time: every config entry differs from the
  // configuration before it (the previous config entry, the snapshot's, or
  // the bootstrap one) in at most one voter, and in the standing (voter,
  // learner, absent) of at most one server. Checked once per entry, on the
  // first log it shows up in (check_log_matching collects them; the same
  // (index, term) has the same predecessors everywhere).
  std::optional<violation> check_single_server_changes(node_id id, int incarnation, const core::raft& r);

  // [thesis §4.1] At most one change in flight: a leader's log holds at most
  // one config entry that is not committed. "Committed" is the higher of
  // its commit index and what any node has seen committed: after a restart
  // a leader's volatile commit index starts low, and its log may then hold
  // a committed change and the uncommitted one after it.
  std::optional<violation> check_one_change_in_flight(node_id id, const core::raft& r);

  // Leaders of one term agree on the configuration: the first time a
  // leader of term T is seen, its configuration is recorded; afterwards it
  // may change only by a config entry of term T appended after the recorded
  // one (the leader's own change). A leader never truncates its log, so its
  // configuration never goes back; and with election safety, two leaders of
  // one term would show up here as two configurations.
  std::optional<violation> check_leader_config(node_id id, const core::raft& r, const entry* newest);

  // Only voters campaign [thesis §4.2.1, §4.2.3]: a learner, a joiner not
  // yet named, a removed server never sends a vote request (real or
  // pre-vote) and is never a (pre-)candidate, judged by the configuration in
  // force on it when it acts — except a voter whose own removal is in force
  // but not known to be committed [thesis §4.2.2: until C_new commits it may
  // "time out and become leader again"]. Any server may answer one: servers
  // vote regardless of their own configuration [thesis §4.1] (a promoted
  // learner that has not heard of its promotion may hold the deciding vote).
  std::optional<violation> check_only_voters_campaign(node_id id, const core::raft& r, const message* m);

  // [§5.4.2] [thesis §4.1] A leader counts only the voters of its
  // configuration in force: whenever its commit index advances (seen after
  // the event that advanced it, even if it stepped down in that event), a
  // majority of those voters hold the entry at the new commit index
  // durably. Counting a learner, a departed server, or the old
  // configuration instead of the new one fails here.
  std::optional<violation> check_commit_counted(node_id id, int incarnation, const core::raft& r,
                                                const std::map<node_id, const durable_disk*>& disks);

  // [thesis §4.2.2] A leader that is not a voter of its configuration in
  // force (it removed itself) leads only until that configuration commits.
  std::optional<violation> check_removed_leader_steps_down(node_id id, const core::raft& r, const entry* newest);

  // The configuration in force after index `i` in the global applied
  // sequence (newest config entry at or before it, else the bootstrap one).
  membership applied_config_at(index_t i) const;

  // [§5.4.1] [Fig. 3] Leader Completeness: if an entry is committed in a
  // given term, it is present in the log of the leader of every later term.
  // "Committed in" is bounded by the term its first observer was in.
  std::optional<violation> check_leader_completeness(node_id id, int incarnation, term_t term, core::role r,
                                                     const core::raft& log);

  // [§5.4.3] [Fig. 3] State Machine Safety: if a server has applied an entry
  // at an index, no server ever applies a different entry there. Every
  // incarnation's applied sequence must be a prefix of one global sequence,
  // contiguous, within its own commit index, and equal to what was committed.
  // Commands are applied at most once in that sequence, and (when proposals
  // are tracked) only if someone proposed them.
  std::optional<violation> check_state_machine_safety(node_id id, int incarnation, const std::vector<entry>& applied,
                                                      index_t commit_index);

  // The same for a state machine that started (epoch `epoch`: a restart or a
  // snapshot restore) from `base`, which must be the state some node reached
  // by applying the global sequence through base.index [§7]; `applied`
  // continues from there.
  std::optional<violation> check_state_machine_safety(node_id id, int epoch, const model_state& base,
                                                      const std::vector<entry>& applied, index_t commit_index);

  // [Fig. 2] currentTerm only increases; commitIndex only increases. Both are
  // per incarnation: the commit index is volatile, and an unsynced term bump
  // is legitimately lost in a crash.
  std::optional<violation> check_monotonic(node_id id, int incarnation, term_t term, index_t commit_index);

  // The core's own checks (aborts the process with a message on failure).
  static void check_core(const core::raft& r) { r.check_invariants(); }

  // A state machine state (restored, read, or captured in a snapshot) is the
  // state of applying the global sequence through its index: same term at
  // that index, same hash [§5.4.3] [§7].
  std::optional<violation> check_state(const std::string& what, const model_state& m) const;

  // [§7] A durable snapshot stands for the state after its last included
  // entry: it must decode, and be that state.
  std::optional<violation> check_snapshot(node_id id, const snapshot& s);

  // [thesis §6.4] Linearizable reads. A read must reflect every write that
  // completed before it began; the entries any node had applied by then
  // include every acknowledged write (a write is acknowledged once applied on
  // its leader) and every state an earlier read returned, so this also says
  // that reads never go back in time. read_began() is that bound.
  index_t read_began() const { return applied_.size(); }
  std::optional<violation> check_read(node_id id, std::uint64_t ctx, index_t began_after, const served_read& r) const;

  // From now on an applied command must have been proposed before.
  void note_proposed(const std::string& data) {
    track_proposals_ = true;
    proposed_.insert(data);
  }

  const std::map<term_t, node_id>& leaders() const { return leaders_; }
  const std::vector<committed_entry>& committed() const { return committed_; }
  // The entry the global applied sequence has at `i`, if it reached it.
  const entry* applied_at(index_t i) const { return i >= 1 && i <= applied_.size() ? &applied_[i - 1].e : nullptr; }
  std::size_t applied_size() const { return applied_.size(); }

 private:
  static constexpr index_t no_change = ~index_t{0};

  // What the checkers know about one incarnation of one node.
  struct node_track {
    int incarnation = -1;
    term_t term = 0;           // last seen (monotonic check)
    index_t commit_index = 0;  // last seen (monotonic check)
    index_t mirror_first = 1;
    std::vector<entry> mirror;                 // the log as last checked, from mirror_first
    index_t committed_checked = 0;             // log verified against committed_ through here
    index_t committed_dirty_from = no_change;  // lowest log index changed since then
    term_t leader_term = 0;                    // leadership last verified for completeness
    index_t leader_checked = 0;                // committed_ entries verified for it
    index_t leader_dirty_from = no_change;     // lowest log index changed since then
    std::vector<entry> new_configs;            // config entries not yet checked (single server)
    term_t lead_term = 0;                      // led this term at the last commit check (0: did not)
    index_t lead_commit = 0;                   // its commit index then
  };
  struct leader_config {
    node_id node = no_node;
    index_t index = 0;  // of the config entry it comes from (0: snapshot or bootstrap)
    membership config;
  };
  struct config_record {
    index_t index = 0;
    membership config;
  };
  struct registered_entry {
    std::optional<term_t> prev_term;  // term at index - 1 (0 at index 1)
    entry e;
    node_id first_on = no_node;
  };
  struct applied_entry {
    entry e;
    node_id first_on = no_node;
  };
  struct sm_track {
    int epoch = -1;
    std::size_t applied_checked = 0;
  };

  node_track& track(node_id id, int incarnation);

  std::optional<violation> register_entry(node_id id, const entry& e, std::optional<term_t> prev);

  std::size_t cluster_size_;
  std::map<term_t, node_id> leaders_;
  std::map<log_id, registered_entry> registry_;
  std::vector<committed_entry> committed_;  // committed_[i - 1] is index i
  std::size_t durable_checked_ = 0;         // committed_ entries checked since the last disk write
  std::vector<applied_entry> applied_;      // the global applied sequence
  std::vector<std::uint64_t> prefix_hash_{model_state::initial_hash};  // [i]: state hash through i
  std::map<node_id, sm_track> sm_tracks_;
  std::map<node_id, log_id> snapshots_checked_;
  std::set<std::string> applied_commands_;
  std::set<std::string> proposed_;
  bool track_proposals_ = false;
  std::map<node_id, node_track> tracks_;
  // Membership: whether any config entry ever showed up, the newest
  // committed configuration, the config entries checked, leaders' configurations.
  bool any_config_entry_ = false;

 public:
  // Index of the newest committed configuration (0: the bootstrap one).
  index_t committed_config_index() const { return committed_config_.index; }

 private:
  config_record committed_config_{0, bootstrap()};
  bool committed_config_changed_ = false;
  std::set<log_id> config_changes_checked_;
  std::map<term_t, leader_config> leader_configs_;
};

}  // namespace coraft::test

#include <support/invariants/committed_entries.hpp>
#include <support/invariants/election_safety.hpp>
#include <support/invariants/leader_completeness.hpp>
#include <support/invariants/log_matching.hpp>
#include <support/invariants/membership.hpp>
#include <support/invariants/monotonic.hpp>
#include <support/invariants/reads.hpp>
#include <support/invariants/state_machine_safety.hpp>
