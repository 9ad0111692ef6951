// coraft/core/raft.hpp — the Raft protocol as a pure, deterministic state machine.
//
// Events go in (step a message, tick, propose, "storage is durable through
// i"); a `ready` batch comes out and the caller acts on it in field order.
// No Asio, no clock, no threads, no I/O: the same inputs (and seed) always
// give the same outputs, which is what the simulation tests rely on.
//
// Implements [Fig. 2], [§5.1-5.4], pre-vote [thesis §9.6], check-quorum
// [thesis §6.2], the leader writing its log in parallel with replication
// [thesis §10.2.1], batching and pipelining of AppendEntries.
//
// Invariants kept (checked by check_invariants()):
//   - commit_index <= last log index; commit_index never decreases.
//   - applied (handed out) <= min(commit_index, stable index).
//   - a leader never overwrites or deletes entries in its own log [Fig. 3].
//   - at most one vote per term: voted_for only changes with the term.
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
  // 2*election_ticks) at each reset [§5.2]; heartbeat_ticks must be smaller.
  int election_ticks = 10;
  int heartbeat_ticks = 1;
  bool pre_vote = true;       // [thesis §9.6]
  bool check_quorum = true;   // [thesis §6.2]
  // Batching and pipelining bounds for AppendEntries.
  std::size_t max_append_entries = 4096;       // entries per message
  std::size_t max_append_bytes = 4u << 20;     // payload bytes per message (at least one entry)
  std::size_t max_inflight = 32;               // messages in flight per follower
  std::uint64_t seed = 1;                      // randomized timeouts (deterministic)
};

// What the caller must do, in this order [thesis §3.8, §10.2.1]:
//  1. send `send_now` (may go out before the writes below are durable);
//  2. durably write `persist_state` and `persist_entries` (when the first
//     entry's index is at or below the last written one, first truncate the
//     written log from that index: a conflicting suffix);
//  3. once everything persisted by this and every earlier batch is durable,
//     send `send_after_sync` and, if entries were written, call
//     synced_to(last written entry's id);
//  4. apply `apply` to the state machine in order. These entries are
//     committed and already durable locally; each is handed out exactly once.
struct ready {
  std::optional<hard_state> persist_state;
  std::vector<entry> persist_entries;
  std::vector<message> send_now;
  std::vector<message> send_after_sync;
  std::vector<entry> apply;

  bool empty() const {
    return !persist_state && persist_entries.empty() && send_now.empty() &&
           send_after_sync.empty() && apply.empty();
  }
};

struct propose_result {
  enum class code : std::uint8_t { accepted, not_leader, dropped };
  code result = code::accepted;
  log_id id;                   // accepted: where the entry was appended
  node_id leader_hint = no_node;  // not_leader: the leader if known
};

// The leader's view of one follower [Fig. 2 "Volatile state on leaders"].
struct progress {
  enum class mode : std::uint8_t { probe, replicate };
  index_t match_index = 0;   // highest index known to be replicated. Monotonic within a term.
  index_t next_index = 1;    // next index to send. Invariant: match_index < next_index.
  mode state = mode::probe;
  bool probe_sent = false;   // probe: one append outstanding, wait for reply or heartbeat
  bool recent_active = false;  // heard from within the current check-quorum window
  bool progressed = false;   // match advanced since the last heartbeat
  std::deque<index_t> inflight;  // replicate: last index of each append in flight
};

struct peer_status {
  node_id id = no_node;
  index_t match_index = 0;
  index_t next_index = 0;
  bool replicating = false;
  std::size_t inflight = 0;
  bool recent_active = false;
};

struct status {
  node_id id = no_node;
  role state = role::follower;
  term_t term = 0;
  node_id voted_for = no_node;
  node_id leader = no_node;
  index_t commit_index = 0;
  index_t applied_index = 0;   // handed out through ready::apply
  index_t stable_index = 0;    // durable locally (synced_to)
  log_id last_log;
  index_t first_index = 1;
  std::vector<node_id> voters;
  std::vector<peer_status> progress;  // leader only
};

class raft {
 public:
  // `state` and `log` are what storage recovered (log entries contiguous
  // from index 1). `voters` is the initial configuration, `id` among them.
  raft(const options& opts, std::vector<node_id> voters, hard_state state = {},
       std::vector<entry> log = {});

  // One logical tick: election timeout, heartbeat and check-quorum timing.
  void tick();
  // Handle one message from a peer. Never throws for any input a peer can send.
  void step(const message& m);
  // Leader only: append a command to the log. Sent at the next take_ready().
  propose_result propose(payload data);
  // Storage is durable through `last` (ignored if `last` is no longer in the
  // log because a newer leader replaced it).
  void synced_to(log_id last);
  // Start an election now (as if the election timeout elapsed).
  void campaign();

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
  void handle_heartbeat_response(const message& m);
  void broadcast_heartbeat();
  void flush_appends();
  bool maybe_send_append(node_id to, progress& pr);
  bool maybe_commit();
  void append_to_log(entry e);
  void truncate_log_from(index_t i);
  log_id find_conflict_hint(index_t index, term_t term) const;
  void mark_active(node_id from);

  // raft.cpp
  void send(message m, bool after_sync);
  std::size_t quorum() const { return voters_.size() / 2 + 1; }
  bool is_voter(node_id id) const;
  std::uint64_t next_random();

  options opts_;
  hard_state hs_;              // Persisted (through ready::persist_state).
  bool hs_dirty_ = false;      // hs_ changed since the last take_ready()
  role role_ = role::follower;
  node_id leader_ = no_node;   // who we believe leads current_term
  std::vector<node_id> voters_;

  // The log: entries [first_index_, first_index_ + log_.size()).
  std::deque<entry> log_;
  index_t first_index_ = 1;
  log_id before_first_;        // id of the entry just before first_index_ (snapshot)
  index_t unpersisted_from_ = 0;  // first index not yet handed out in persist_entries (0: none)
  index_t stable_index_ = 0;   // durable locally; reset below a truncation
  index_t commit_index_ = 0;   // [Fig. 2] Monotonic.
  index_t applied_index_ = 0;  // handed out through ready::apply. Monotonic.

  // Timers in ticks.
  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_timeout_ = 0;

  // Candidate state.
  std::unordered_map<node_id, bool> votes_;

  // Leader state.
  std::unordered_map<node_id, progress> progress_;

  std::uint64_t rng_state_;
  ready ready_;
};

}  // namespace coraft::core
