// coraft/node.hpp — a Raft node: the protocol core driven by coroutines.
//
// One strand per node runs the protocol: the core, a ticker (election and
// heartbeat timing), one replicator task per peer (sends what the core
// queued for it), a log writer (group commit: every write queued since the
// last one goes to storage as one write + one sync; installs snapshots a
// leader sent), an applier (hands committed entries to the state machine,
// completes propose() and read_index() calls) and a snapshotter (takes
// snapshots and compacts the log). They are children of the node: stop()
// cancels and awaits them all.
//
// The state machine runs elsewhere: on a thread of its own (or the
// executor the owner gives, one handler at a time), so that however long
// apply(), save_snapshot() or restore_snapshot() take, ticks, heartbeats,
// votes and appends never wait behind them (state_machine.hpp states the
// contract). The strand hands it bounded batches, one at a time; a leader
// whose state machine falls behind refuses new proposals (`overloaded`).
//
// Guarantees: propose() succeeds only after the entry is committed — durable
// on a majority, this node included — and applied here. read_index()
// succeeds only once the state machine here reflects every write that was
// acknowledged before it was called (linearizable reads [thesis §6.4]).
// Every operation returns a node_result: its value, or a node_error (an
// error code in the coraft category, coraft/errors.hpp, and a leader hint);
// `timeout` and `interrupted` leave the outcome unknown; `stopped`,
// `not_leader`, `dropped`, `overloaded`, `transferring` and `too_large` mean
// the command will never be applied.
#pragma once

#include <coraft/core/raft.hpp>
#include <coraft/errors.hpp>
#include <coraft/state_machine.hpp>
#include <coraft/storage.hpp>
#include <coraft/transport.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace coraft {

class event_log;
class rate_history;

struct node_options {
  core::options raft;  // id, election/heartbeat ticks, pre-vote, batching...
  // The bootstrap configuration: the initial voters (raft.id among them)
  // and, optionally, each member's address (opaque to coraft: see
  // membership::addresses). Config entries in the log and snapshots take
  // over from it. A node joining an existing cluster starts with no voters:
  // it waits, without campaigning, for the leader to send it the log.
  // Used once: the first start on empty storage writes it durably (before
  // the node can vote or acknowledge anything), and every later start takes
  // the stored one; options that differ are ignored with a warning naming
  // the difference — never used to form a cluster [a node restarted with
  // fewer members listed would otherwise elect itself over the old log].
  std::vector<node_id> voters;
  std::map<node_id, std::string> addresses;
  // Called on the node's strand at start and whenever the configuration in
  // force changes (a config entry appended or truncated, a snapshot
  // installed): e.g. to tell the transport where the members are.
  std::function<void(const membership&)> on_membership;
  // Called once, on the node's strand, when the node fails for good: a
  // storage write, sync or rename failed (DESIGN.md: after a failed fsync the
  // data may be gone and no retry can prove it durable), or the state
  // machine threw. The node has stopped acknowledging; the owner should exit
  // non-zero with the message (coraft-kv does).
  std::function<void(const std::string&)> on_fatal;
  // Distinguishes this incarnation's read contexts (the ids that match a
  // leader's ReadIndex answer to the read that asked) from every earlier
  // incarnation's: an answer queued for a node before it restarted must
  // never complete a new read [thesis §6.4]. 0: drawn at start from
  // std::random_device; simulations pass one from their seed.
  std::uint64_t incarnation_id = 0;
  // Length of one core tick. Zero: no ticker; the owner calls tick() (tests
  // on virtual time). Defaults give a 150-300 ms election timeout and 50 ms
  // heartbeats.
  std::chrono::milliseconds tick_interval{10};
  int propose_timeout_ticks = 500;  // 5 s with 10 ms ticks
  std::size_t max_command_bytes = 1u << 20;
  std::size_t max_pending_proposals = 1u << 16;
  // Take a snapshot and compact the log about every this many applied
  // entries, or bytes of commands (0: never). Each node's trigger is offset
  // by a phase from its id, so that members never all capture at once: by
  // count at the indexes k·N + offset (offset < N/2, at least N/2 after the
  // last snapshot), by bytes at the bound × 1 to 1.5.
  std::uint64_t snapshot_entries = 100'000;
  std::uint64_t snapshot_log_bytes = 256ull << 20;
  // Entries kept in the log behind a snapshot, so that a follower a little
  // behind gets entries rather than the whole snapshot.
  std::uint64_t snapshot_trailing_entries = 5'000;
  // Where the state machine runs (apply, snapshot capture and restore,
  // query_state_machine()): wrapped in a strand, so one handler at a time.
  // Empty: a thread of the node's own. Simulations pass one they drive.
  boost::asio::any_io_executor state_machine_executor;
  // Where a state machine's snapshot image is written out
  // (state_machine::capture(), snapshot_image::write()), one at a time.
  // Empty: a thread of the node's own.
  boost::asio::any_io_executor snapshot_executor;
  // Committed entries handed to the state machine in one go at most (at
  // least 1); a leader refuses proposals (`overloaded`) while
  // max_apply_backlog or more committed entries wait to be applied here
  // (0: no bound).
  std::size_t max_apply_batch = 1024;
  std::size_t max_apply_backlog = 65'536;
  // Keep the latency histograms of the write path (node_metrics: commit,
  // propose-commit, commit-apply, apply batch, append round trips): a clock
  // reading per batch and a histogram update per proposal and per message.
  // False leaves them empty (WAL sync and snapshot ones are kept: one per
  // group commit or snapshot).
  bool latency_histograms = true;

  node_options() {
    raft.election_ticks = 15;
    raft.heartbeat_ticks = 5;
  }
};

// Why an operation failed: an error in the coraft category (errors.hpp)
// and, with not_leader or transferring, the leader this node knows of
// (no_node when it knows none).
struct node_error {
  boost::system::error_code code;
  node_id leader_hint = no_node;

  node_error() = default;
  node_error(errc e, node_id hint = no_node) : code(make_error_code(e)), leader_hint(hint) {}  // NOLINT: implicit
  explicit node_error(boost::system::error_code c, node_id hint = no_node) : code(c), leader_hint(hint) {}
  friend bool operator==(const node_error&, const node_error&) = default;
};
// result::value() on an error throws boost::system::system_error with the code.
[[noreturn]] void throw_exception_from_error(const node_error& e, const boost::source_location& loc);

// What each operation returns: its value, or why not. Cheap to move.
template <class T>
using node_result = boost::system::result<T, node_error>;

// A command committed and applied: its index and what state_machine::apply
// returned.
struct applied_command {
  index_t index = 0;
  std::string result;
};

// A latency histogram with fixed bucket bounds (seconds), Prometheus-style.
struct histogram {
  static constexpr double bounds[] = {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                      0.01,    0.025,    0.05,    0.1,    0.25,    0.5,    1,     2.5};
  std::uint64_t buckets[std::size(bounds)] = {};  // counts per bucket (not cumulative)
  std::uint64_t count = 0;
  double sum = 0;
  void observe(double seconds);
};

struct node_metrics {
  std::uint64_t proposals_ok = 0;
  std::uint64_t proposals_failed = 0;  // not leader, timeout, dropped, stopped...
  std::uint64_t entries_applied = 0;
  std::uint64_t messages_received = 0;
  std::uint64_t leader_changes = 0;   // times this node saw a new leader
  std::uint64_t storage_writes = 0;   // group commits
  std::uint64_t storage_entries = 0;  // entries in them
  std::uint64_t reads_ok = 0;         // read_index() barriers passed
  std::uint64_t reads_failed = 0;
  std::uint64_t snapshots_taken = 0;
  std::uint64_t snapshots_installed = 0;  // received from a leader
  double last_snapshot_capture_s = 0;     // the state machine's pause for the last capture (applies waited)
  double last_snapshot_persist_s = 0;     // writing the last image out (snapshot thread; applies went on)
  std::uint64_t ticks_deferred = 0;       // late ticks put after what arrived during a stall
  double tick_lag_max_s = 0;              // the latest a tick ever ran
  histogram commit_latency;               // propose() accepted -> applied here (leader)
  histogram propose_commit_latency;       // propose() accepted -> its entry known committed (leader)
  // The commit index advanced -> the state machine applied through it
  // (every node: one observation per batch of entries it learns committed).
  histogram commit_apply_latency;
  histogram storage_write_latency;     // one group commit: write + sync
  histogram tick_lag;                  // how late each tick ran (event-loop lag)
  histogram apply_batch_latency;       // one batch on the state machine's thread
  histogram snapshot_capture_latency;  // each capture's pause of the state machine
  // Follower: a leader's snapshot, from its first chunk stored to the state
  // machine restored from it.
  histogram snapshot_install_latency;
  std::size_t apply_backlog = 0;  // committed entries waiting for the state machine (now)
  // Leader: per follower, the longest gap between two messages this node
  // sent it (heartbeats or appends) since it became leader, in seconds.
  std::map<node_id, double> max_heartbeat_gap_s;
  // Leader: per follower, AppendEntries (and heartbeats) sent -> that
  // follower's answer to them, matched by the last index sent (heartbeats:
  // by their round). Requests unanswered are not counted.
  std::map<node_id, histogram> append_rtt;
};

// Metadata of one log entry (GET /v1/log).
struct entry_info {
  index_t index = 0;
  term_t term = 0;
  entry_type type = entry_type::normal;
  std::size_t size = 0;
};

struct node_status : core::status {
  bool stopped = false;
  std::string fatal_error;  // non-empty after a storage failure
  std::size_t pending_proposals = 0;
  std::map<node_id, std::string> addresses;  // of the configuration in force
  // Milliseconds since a message last arrived from each peer (-1: never).
  std::vector<std::pair<node_id, std::int64_t>> last_contact_ms;
  node_metrics metrics;
};

class node {
 public:
  node(boost::asio::any_io_executor ex, node_options opts, storage& store, transport& net, state_machine& sm);
  ~node();
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  // Loads storage and starts the node's tasks.
  boost::asio::awaitable<void> start();
  // Proposes a command; see the guarantees above. The value: the entry's
  // index and what state_machine::apply returned.
  boost::asio::awaitable<node_result<applied_command>> propose(std::string command);
  // A consistent view of the node (taken on its strand).
  boost::asio::awaitable<node_status> status();
  // Linearizable read barrier [thesis §6.4]: on the leader after a heartbeat
  // round confirms leadership; on a follower through the leader (follower
  // read). Then read the local state machine with query_state_machine().
  // The value: the read index (everything through it is applied here).
  boost::asio::awaitable<node_result<index_t>> read_index();
  // Hands leadership to `to` (no_node: the most up-to-date voter) [thesis
  // §3.10]. Completes once another node leads (the value: that node), or
  // with `timeout` when the transfer was abandoned, `not_leader`, or
  // `bad_target`.
  boost::asio::awaitable<node_result<node_id>> transfer_leadership(node_id to = no_node);
  // Changes the membership one server at a time [thesis ch. 4] (leader
  // only): add a learner or a voter (with its address), promote a learner,
  // remove a member. Succeeds once the configuration entry is committed and
  // applied here (the value: its index); fails with not_leader, transferring, busy (a change or the
  // term's first commit is pending), bad_member, not_caught_up, or the
  // errors of propose(). A leader that removes itself steps down afterwards.
  // With g++ 12, name the change before the co_await rather than writing a
  // braced temporary inside it: that compiler miscopies such temporaries'
  // short strings (the coroutine bugs noted in transport.hpp).
  boost::asio::awaitable<node_result<index_t>> change_membership(const core::config_change& change);
  // Takes a snapshot of the state machine now and compacts the log; returns
  // the snapshot's last included index (`busy` if one is being taken).
  boost::asio::awaitable<node_result<index_t>> snapshot();
  // Runs `fn` where the state machine runs, between two of its calls, and
  // completes once it returned: how a service reads its state (after
  // read_index() for a linearizable read; alone for a possibly stale one).
  // `fn` should be short (applies wait meanwhile); what it throws is
  // rethrown here. Fails with `stopped` once stop() began (stop() waits for
  // the queries admitted before).
  boost::asio::awaitable<node_result<void>> query_state_machine(std::function<void()> fn);
  // Metadata of up to `limit` entries from index `from` (what the log holds).
  boost::asio::awaitable<std::vector<entry_info>> log_info(index_t from, std::size_t limit);
  // Completes pending proposals with `interrupted` (they are in the log and
  // may still commit: the outcome is unknown), and what was never accepted
  // with `stopped`; cancels every task and waits
  // for all of them. Idempotent.
  boost::asio::awaitable<void> stop();

  // Incoming messages from the transport. Thread-safe; dropped after stop().
  void deliver(std::vector<message> batch);
  // Advances one tick when tick_interval is zero. Thread-safe.
  void tick();
  // Starts an election now (tests, tools). Thread-safe.
  void campaign();

  node_id id() const;
  boost::asio::any_io_executor get_executor() const;
  // The node's recent history (coraft/events.hpp): role, term, leader and
  // membership changes and snapshots; a transport may add its peers'
  // connections. Thread-safe; lives as long as the node.
  event_log& events();
  // Its counters about once a second over the last 5 minutes (when ticks
  // run on their own: tick_interval > 0). Thread-safe.
  const rate_history& rates() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace coraft
