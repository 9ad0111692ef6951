// coraft/core/raft.hpp — the Raft protocol as a pure, deterministic state machine.
//
// Events go in (step a message, tick, propose, "storage is durable through
// i"); a `ready` batch comes out and the caller acts on it in field order.
// No Asio, no clock, no threads, no I/O: the same inputs (and seed) always
// give the same outputs, which is what the simulation tests rely on.
//
// Implements [Fig. 2], [§5.1-5.4], pre-vote [thesis §9.6], check-quorum
// [thesis §6.2], the leader writing its log in parallel with replication
// [thesis §10.2.1], batching and pipelining of AppendEntries, log compaction
// and chunked InstallSnapshot [§7], ReadIndex and follower reads [thesis
// §6.4], leadership transfer [thesis §3.10], membership changes one server
// at a time with learners [thesis §4.1-4.4].
//
// Invariants kept (checked by check_invariants()):
//   - commit_index <= last log index; commit_index never decreases.
//   - applied (handed out) <= min(commit_index, stable index).
//   - a leader never overwrites or deletes entries in its own log [Fig. 3].
//   - at most one vote per term: voted_for only changes with the term.
//   - the configuration in force is the newest config entry in the log
//     (committed or not), else the snapshot's, else the bootstrap one
//     [thesis §4.1]; at most one config entry is uncommitted.
// Threading: none; the owner calls it from one thread (the node strand).
#pragma once

#include <coraft/messages.hpp>
#include <coraft/types.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace coraft::core {

enum class role : std::uint8_t { follower, pre_candidate, candidate, leader };
const char* to_string(role r);

struct options {
  node_id id = no_node;
  // The election timeout is drawn uniformly from [election_ticks,
  // election_ticks_max] at each reset [§5.2]; election_ticks_max 0 means
  // 2*election_ticks - 1, i.e. [election_ticks, 2*election_ticks).
  // heartbeat_ticks must be smaller than election_ticks.
  int election_ticks = 10;
  int election_ticks_max = 0;  // 0, or at least election_ticks
  int heartbeat_ticks = 1;
  bool pre_vote = true;      // [thesis §9.6]
  bool check_quorum = true;  // [thesis §6.2]
  // Batching and pipelining bounds for AppendEntries.
  std::size_t max_append_entries = 4096;      // entries per message
  std::size_t max_append_bytes = 4u << 20;    // payload bytes per message (at least one entry)
  std::size_t max_inflight = 32;              // messages in flight per follower
  std::size_t max_snapshot_chunk = 1u << 20;  // bytes of snapshot data per InstallSnapshot
  // InstallSnapshot chunks in flight per follower (at least 1): the window
  // that keeps the leader's reads, the network and the follower's writes
  // busy at once, and bounds what a follower holds unwritten.
  std::size_t max_snapshot_chunks_inflight = 4;
  std::uint64_t seed = 1;  // randomized timeouts (deterministic)
};

// What the caller must do, in this order [thesis §3.8, §10.2.1]:
//  1. send `send_now` (may go out before the writes below are durable);
//  2. durably write `persist_state` and `persist_entries` (when the first
//     entry's index is at or below the last written one, first truncate the
//     written log from that index: a conflicting suffix);
//  3. once everything persisted by this and every earlier batch is durable,
//     send `send_after_sync`; if entries were written, call
//     synced_to(last written entry's id); if a state was written, call
//     state_synced(its current_term) (a single voter leads only then);
//  4. apply `apply` to the state machine in order. These entries are
//     committed and already durable locally; each is handed out exactly once.
//  5. `snapshot_chunks` (a follower receiving a snapshot): write each, in
//     order, to the snapshot being received, off the event loop (storage:
//     a partial file, not memory); after each, call
//     snapshot_chunk_stored(meta, offset + data.size()). After the one
//     marked `done`, check the whole against meta.crc and make it durable,
//     then call snapshot_received() with it, or snapshot_receive_failed()
//     when it does not verify (the partial is discarded).
//     `install_snapshot` (a follower): after every earlier apply, make the
//     snapshot durable, discard the whole log durably, restore the state
//     machine from it, then call snapshot_installed(meta.last). Until then
//     the core accepts no entries and hands out nothing to apply.
//     `verify_snapshot` (a leader): a follower received the whole of this
//     snapshot and it did not match its checksum there. Read it through
//     here against meta.crc, off the event loop: if it does not match, this
//     node's copy is damaged (its disk) and it must stop rather than send
//     it again; if it does, the damage was the follower's or the network's.
//  6. `read_states`: confirmed reads; serve each once the state machine has
//     applied through its index (ok=false: failed, retry elsewhere).
struct read_state {
  std::uint64_t ctx = 0;  // the caller's read_index() argument
  index_t index = 0;
  bool ok = false;
  friend bool operator==(const read_state&, const read_state&) = default;
};

// A piece of a snapshot a leader is sending, to be written at `offset`.
struct snapshot_chunk {
  snapshot_meta meta;
  std::uint64_t offset = 0;
  payload data;
  bool done = false;  // the last one
};

struct ready {
  std::optional<hard_state> persist_state;
  std::vector<entry> persist_entries;
  std::vector<message> send_now;
  std::vector<message> send_after_sync;
  std::vector<entry> apply;
  std::vector<snapshot_chunk> snapshot_chunks;
  std::optional<snapshot> install_snapshot;
  std::optional<snapshot> verify_snapshot;
  std::vector<read_state> read_states;

  bool empty() const {
    return !persist_state && persist_entries.empty() && send_now.empty() && send_after_sync.empty() && apply.empty() &&
           snapshot_chunks.empty() && !install_snapshot && !verify_snapshot && read_states.empty();
  }
};

// A membership change [thesis §4.1]: one server at a time. add_learner
// and add_voter carry the new member's address (membership::addresses);
// set_address gives a member that moved a new one (same voters and
// learners: it goes through the log like any change, so every server —
// the moved one included — learns it in log order).
struct config_change {
  enum class kind : std::uint8_t { add_learner, add_voter, promote, remove, set_address };
  kind type = kind::add_learner;
  node_id id = no_node;
  std::string address;
};

struct config_result {
  // busy: a change is still uncommitted, or no entry of this term is
  // committed yet [thesis §4.1, the bug fix of the single-server changes];
  // bad_member: adding a member twice, promoting a non-learner, removing a
  // non-member or the last voter; not_caught_up: promoting a learner
  // whose log is more than one append batch behind ours, or adding as a
  // voter a server that is not (a new server: add it as a learner first)
  // [thesis §4.2.1];
  // transferring: a leadership transfer is in flight, or this leader is
  // outside its configuration (finishing its own removal).
  enum class code : std::uint8_t { accepted, not_leader, transferring, busy, bad_member, not_caught_up };
  code result = code::accepted;
  log_id id;                      // accepted: where the config entry was appended
  node_id leader_hint = no_node;  // not_leader: the leader if known
};

struct propose_result {
  // transferring: leadership is being handed over [thesis §3.10]; retry soon.
  enum class code : std::uint8_t { accepted, not_leader, dropped, transferring };
  code result = code::accepted;
  log_id id;                      // accepted: where the entry was appended
  node_id leader_hint = no_node;  // not_leader: the leader if known
};

// The leader's view of one follower [Fig. 2 "Volatile state on leaders"].
struct progress {
  // snapshot: the entries it needs are compacted; InstallSnapshot chunks go
  // out in a window of max_snapshot_chunks_inflight (resent from the last
  // acknowledged byte after a heartbeat round without an answer).
  enum class mode : std::uint8_t { probe, replicate, snapshot };
  index_t match_index = 0;  // highest index known to be replicated. Monotonic within a term.
  index_t next_index = 1;   // next index to send. Invariant: match_index < next_index.
  mode state = mode::probe;
  bool probe_sent = false;       // probe: one append outstanding, wait for reply or heartbeat
  bool recent_active = false;    // heard from within the current check-quorum window
  std::uint64_t last_heard = 0;  // the leader's tick count when it last heard from it
  bool progressed = false;       // match advanced since the last heartbeat
  std::deque<index_t> inflight;  // replicate: last index of each append in flight
  std::uint64_t read_ack = 0;    // highest heartbeat round (read_seq) it echoed this term
  // snapshot mode: what is being sent, the next byte to send and the bytes
  // the follower acknowledged as written. Invariant: snap_acked <= snap_offset.
  std::optional<snapshot> snap;
  std::uint64_t snap_offset = 0;
  std::uint64_t snap_acked = 0;
  bool snap_done_sent = false;   // the last chunk went out (no more until an ack or a resend)
  bool snap_resent = false;      // resent after a round without progress: one chunk until an ack moves
  bool snap_progressed = false;  // an ack moved snap_acked since the last heartbeat
};

struct peer_status {
  node_id id = no_node;
  index_t match_index = 0;
  index_t next_index = 0;
  bool replicating = false;
  bool snapshotting = false;
  std::size_t inflight = 0;
  bool recent_active = false;
  bool voter = true;
};

// Elections this server started, by why: its election timer ran out
// [§5.2], a leader handed it leadership (TimeoutNow) [thesis §3.10], its
// pre-vote was granted and it campaigns for real [thesis §9.6], or
// campaign() was called.
struct election_counts {
  std::uint64_t timer = 0;
  std::uint64_t transfer = 0;
  std::uint64_t pre_vote_granted = 0;
  std::uint64_t requested = 0;
};

struct status {
  node_id id = no_node;
  role state = role::follower;
  term_t term = 0;
  node_id voted_for = no_node;
  node_id leader = no_node;
  index_t commit_index = 0;
  index_t applied_index = 0;  // handed out through ready::apply
  index_t stable_index = 0;   // durable locally (synced_to)
  log_id last_log;
  index_t first_index = 1;
  log_id snapshot;  // last included entry of the newest snapshot
  node_id transfer_target = no_node;
  std::size_t pending_reads = 0;
  std::vector<node_id> voters;
  std::vector<node_id> learners;
  index_t config_index = 0;           // index of the configuration in force (0: bootstrap)
  bool config_pending = false;        // it is not committed yet
  std::vector<peer_status> progress;  // leader only (voters and learners)
  election_counts elections;
};

class raft {
 public:
  // `state` and `log` are what storage recovered (log entries contiguous
  // from index 1). `voters` is the initial configuration, `id` among them.
  raft(const options& opts, std::vector<node_id> voters, hard_state state = {}, std::vector<entry> log = {});
  // The same with a whole bootstrap configuration (voters, learners and
  // addresses): in force until a config entry in the log replaces it. A
  // node joining an existing cluster starts with an empty one: it neither
  // campaigns nor votes until the leader's log or snapshot names it.
  raft(const options& opts, membership bootstrap, hard_state state, std::vector<entry> log);
  // Restart from a snapshot: `log` holds entries from some index at or
  // below snap.meta.last.index + 1 (entries the snapshot covers are dropped;
  // a log that does not reach the snapshot is refused). The configuration
  // is the snapshot's.
  raft(const options& opts, hard_state state, snapshot snap, std::vector<entry> log);

  // One logical tick: election timeout, heartbeat and check-quorum timing.
  void tick();
  // Handle one message from a peer. Never throws for any input a peer can send.
  void step(const message& m);
  // Leader only: append a command to the log. Sent at the next take_ready().
  propose_result propose(payload data);
  // Storage is durable through `last` (ignored if `last` is no longer in the
  // log because a newer leader replaced it).
  void synced_to(log_id last);
  // The hard state written with `persist_state` (its term given) is durable.
  void state_synced(term_t term);
  // Start an election now (as if the election timeout elapsed).
  void campaign();

  // Linearizable read [thesis §6.4]. The answer comes back in
  // ready::read_states with the same ctx: on the leader once a heartbeat
  // round sent after this call reached a majority (and an entry of its term
  // is committed); on a follower through the leader (follower read). ok=false
  // when no leader is known or leadership was lost.
  void read_index(std::uint64_t ctx);

  // Leadership transfer [thesis §3.10] to `to` (no_node: the voter with the
  // longest matching log). Brings it up to date, then sends TimeoutNow;
  // proposals are refused meanwhile; abandoned after an election timeout.
  // While one is in flight, asking for another target is bad_target (asking
  // for the same one, or the best, joins it).
  enum class transfer_result : std::uint8_t { started, not_leader, bad_target };
  transfer_result transfer_leadership(node_id to);
  node_id transfer_target() const { return transfer_target_; }

  // Membership change [thesis §4.1] (leader only): appends a config entry
  // holding the whole new configuration, in force from the moment it is
  // appended on each server. A leader that removes itself keeps leading
  // until the entry commits, then steps down and hands over with
  // TimeoutNow [thesis §4.2.2].
  config_result propose_config(const config_change& c);
  // The configuration in force (the newest in the log).
  const membership& config() const { return configs_.back().config; }

  // Log compaction [§7]: `s` is durable and reflects the state machine
  // through s.meta.last (at or below what was handed out to apply). Entries
  // through `compact_through` (clamped to the snapshot) leave the log; the
  // leader sends `s` to followers that need them.
  void snapshot_taken(snapshot s, index_t compact_through);
  // The snapshot from ready::install_snapshot is durable, the log was
  // discarded durably and the state machine restored: continue from it.
  void snapshot_installed(log_id last);
  // Receiving a snapshot (ready::snapshot_chunks): the first `next_offset`
  // bytes of the snapshot `meta` are written.
  void snapshot_chunk_stored(const snapshot_meta& meta, std::uint64_t next_offset);
  // All of it is written, verified and durable; `s.data` reads it.
  void snapshot_received(snapshot s);
  // All of it is written but does not match meta.crc: discarded.
  void snapshot_receive_failed(const snapshot_meta& meta);
  // Storage could not write it (a full disk...): discarded. Chunks are
  // ignored (unanswered) for `refuse_ticks`, then the leader's next try
  // starts over: a backoff, so that retries do not fill the disk again.
  void snapshot_receive_aborted(const snapshot_meta& meta, std::uint64_t refuse_ticks);
  // At a restart, before anything else: storage holds the first
  // `durable_bytes` of the snapshot `meta` a leader was sending; a leader
  // sending the same snapshot resumes there [§7, Fig. 13 step 2-4].
  void resume_snapshot(const snapshot_meta& meta, std::uint64_t durable_bytes);
  // The newest snapshot (taken or installed), if any.
  const snapshot* latest_snapshot() const { return snapshot_ ? &*snapshot_ : nullptr; }
  // The configuration in force after the entry at `i` (i >= first_index - 1).
  membership config_at(index_t i) const;

  bool has_ready() const;
  ready take_ready();

  status get_status() const;
  role state() const { return role_; }
  term_t term() const { return hs_.current_term; }
  node_id id() const { return opts_.id; }
  node_id leader() const { return leader_; }
  index_t commit_index() const { return commit_index_; }
  log_id last_log() const;
  // Term of the entry at `i`, or nullopt when `i` is outside the log.
  std::optional<term_t> term_at(index_t i) const;
  const entry* entry_at(index_t i) const;
  index_t first_index() const { return first_index_; }

  // Panics (std::abort after a message on stderr) if an invariant is broken.
  void check_invariants() const;

 private:
  // election.cpp
  void tick_election();
  void tick_heartbeat();
  void become_follower(term_t term, node_id leader);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void leave_leadership();  // common to every transition out of leader
  void start_election(bool pre_vote, bool transfer);
  void handle_vote_request(const message& m, const vote_request& r);
  void handle_vote_response(const message& m, const vote_response& r);
  bool step_term(const message& m);
  void reset_election_timer();
  bool in_lease() const;

  // replication.cpp
  void handle_append_request(const message& m, const append_request& r);
  void handle_append_response(const message& m, const append_response& r);
  void handle_heartbeat_request(const message& m, const heartbeat_request& r);
  void handle_heartbeat_response(const message& m, const heartbeat_response& r);
  void broadcast_heartbeat();
  void flush_appends();
  bool maybe_send_append(node_id to, progress& pr);
  bool maybe_commit();
  void append_to_log(entry e);
  void truncate_log_from(index_t i);
  log_id find_conflict_hint(index_t index, term_t term) const;
  void mark_active(node_id from);

  // snapshot.cpp
  void send_snapshot_chunks(node_id to, progress& pr);
  bool may_send_snapshot_chunk(const progress& pr) const;
  static void start_snapshot_stream(progress& pr, const snapshot& s);
  void whole_not_verified(progress& pr);
  void handle_snapshot_request(const message& m, const install_snapshot_request& r);
  void handle_snapshot_response(const message& m, const install_snapshot_response& r);

  // read_index.cpp
  struct pending_read {
    std::uint64_t ctx;
    node_id from;       // this node, or the follower that asked
    index_t index;      // the commit index when the read arrived
    std::uint64_t seq;  // the heartbeat round that confirms it (0: not sent yet)
  };
  void accept_read(std::uint64_t ctx, node_id from);
  void start_read_round();
  void confirm_reads();
  void answer_read(const pending_read& r, bool ok);
  void fail_reads();
  bool committed_in_term() const;
  void handle_read_index_request(const message& m, const read_index_request& r);
  void maybe_send_timeout_now(node_id to, const progress& pr);

  // raft.cpp
  void send(message m, bool after_sync);
  std::size_t quorum() const { return voters_.size() / 2 + 1; }
  // The highest value a majority of voters has reached, `own` being ours
  // and `field` each follower's (match_index for commits, read_ack for reads).
  std::uint64_t quorum_value(std::uint64_t own, std::uint64_t progress::*field) const;
  bool is_voter(node_id id) const;
  bool may_campaign() const;  // a voter, or removed by an uncommitted entry
  bool start_campaign();      // campaign(): false when this server may not
  std::uint64_t next_random();

  // membership.cpp
  struct config_record {
    index_t index;  // the config entry's index; the base record: 0 or the snapshot's
    membership config;
  };
  void set_base_config(index_t at, membership m);
  void push_config_entry(const entry& e);  // no refresh
  void scan_configs_from_log();
  // voters_ and leader progress after configs_ changed; new members are
  // probed from `next_for_new` (0: after our last entry).
  void refresh_config(index_t next_for_new = 0);
  void after_commit();  // leader: prune departed peers, step down if removed
  bool config_commit_pending() const;
  bool caught_up(node_id id) const;  // leader: a member's log is within one append batch of ours
  // Leader: stop replicating to members the committed configuration left
  // out, once they hold their removal (or, `all`, anyway).
  void release_departed(bool all);

  options opts_;
  hard_state hs_;          // Persisted (through ready::persist_state).
  bool hs_dirty_ = false;  // hs_ changed since the last take_ready()
  // A single voter's candidacy in this term, waiting for its own vote to be
  // durable (state_synced) before it leads: 0 otherwise.
  term_t self_vote_term_ = 0;
  role role_ = role::follower;
  node_id leader_ = no_node;  // who we believe leads current_term
  // The leader we heard in current_term, kept when leader_ is forgotten
  // for a pre-vote: a TimeoutNow is honoured only from it.
  node_id term_leader_ = no_node;
  std::vector<node_id> voters_;         // configs_.back()'s voters (sorted): hot path of quorum counts
  std::vector<config_record> configs_;  // base, then every config entry in the log, ascending

  // The log: entries [first_index_, first_index_ + log_.size()).
  std::deque<entry> log_;
  index_t first_index_ = 1;
  log_id before_first_;           // id of the entry just before first_index_ (snapshot)
  index_t unpersisted_from_ = 0;  // first index not yet handed out in persist_entries (0: none)
  index_t stable_index_ = 0;      // durable locally; reset below a truncation
  index_t commit_index_ = 0;      // [Fig. 2] Monotonic.
  index_t applied_index_ = 0;     // handed out through ready::apply. Monotonic.

  election_counts elections_;

  // Timers in ticks.
  int election_elapsed_ = 0;
  std::uint64_t ticks_ = 0;  // ticks since construction. Monotonic.
  int heartbeat_elapsed_ = 0;
  int randomized_election_timeout_ = 0;

  // Candidate state.
  std::unordered_map<node_id, bool> votes_;

  // Leader state.
  std::unordered_map<node_id, progress> progress_;
  node_id transfer_target_ = no_node;
  int transfer_elapsed_ = 0;
  // ReadIndex: reads waiting for a confirming round, ascending by seq (the
  // unsent ones, seq 0, last); reads waiting for the first commit of the term.
  std::deque<pending_read> reads_;
  std::vector<pending_read> reads_blocked_;
  std::uint64_t read_seq_ = 0;  // last heartbeat round sent
  bool read_round_needed_ = false;

  // Snapshots: the newest one, and (follower) one being received or installed.
  std::optional<snapshot> snapshot_;
  // A snapshot being received: its bytes go to storage (ready::
  // snapshot_chunks), never into the core. received >= stored.
  struct incoming_snapshot {
    snapshot_meta meta;
    std::uint64_t received = 0;  // handed out to be written
    std::uint64_t stored = 0;    // written (snapshot_chunk_stored)
    bool finishing = false;      // the last chunk handed out: verdict pending
  };
  std::optional<incoming_snapshot> incoming_;
  std::uint64_t refuse_snapshots_until_ = 0;   // ticks_: after a storage failure
  std::optional<snapshot> installing_;         // handed out, not yet installed
  std::optional<snapshot_meta> verify_asked_;  // the snapshot last handed out in ready::verify_snapshot

  std::uint64_t rng_state_;
  ready ready_;
};

}  // namespace coraft::core
