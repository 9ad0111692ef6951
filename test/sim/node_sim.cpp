// coraft-node-sim — the REAL coroutine node (coraft::node, lib/src/node/node.cpp)
// on virtual time, deterministically, for a range of seeds.
//
//   coraft-node-sim --seeds N --first-seed S [--nodes 3|5] [--steps K]
//                   [--determinism] [--verbose]
//
// Where coraft-sim (sim_cluster.hpp) drives bare protocol cores, this runs
// whole nodes: strands, replicator tasks, the group-committing log writer,
// the applier, propose() waiters and stop(). Everything runs on one
// io_context driven only by poll() until idle — never run(), never a real
// wait:
//   - node_options::tick_interval = 0: no ticker; the harness calls tick();
//   - a virtual transport queues every sent message with a virtual delivery
//     time (seeded delay, drop, duplicate, long delay, partitions) and hands
//     due messages to node::deliver();
//   - a virtual disk wraps memory_storage: a write completes after a seeded
//     number of sub-steps; a crash aborts the write in progress (it never
//     becomes durable), the rest of memory_storage is what a restart finds;
//   - client coroutines sleep on virtual timers, look for a leader with
//     status() and propose unique commands, recording every outcome.
// Each external event (a delivery, a tick, a disk completion, a fault) is
// posted and followed by poll() until idle, so the system reaches the same
// quiescent state on every run of a seed. One splitmix64 generator decides
// everything; every event goes into a trace whose FNV-1a hash must be the
// same when a seed is run twice (--determinism).
//
// Time: one tick = `substeps` sub-steps (the unit of network and disk delay).
//
// Faults (rates drawn per seed): message loss, delay/reorder, duplication,
// long delays, partitions (one node isolated or a random split) and heals,
// early elections (campaign()), crashes: stop() the node, detach it from the
// network, abort its unsynced write, later start a NEW node over a NEW
// memory_storage built from the old one's durable() state and a fresh state
// machine (a new incarnation that re-applies from index 1).
//
// Invariants, after every sub-step:
//   - election safety: at most one leader per term, across the run [§5.2];
//   - state machine safety: every incarnation's applied (index, command)
//     sequence is a prefix of one global sequence; indexes strictly increase;
//     only proposed commands, each at most once [§5.4.3];
//   - acknowledged writes: a propose() that succeeded with index i has its
//     command at i in the global sequence (and so, by the previous check, on
//     every node that ever applies i — after crashes too);
//   - within one incarnation term and commit index never go backwards [Fig. 2];
//   - no node reports a fatal error; poll() reaches idle (no busy loop).
// After the fault phase: heal, restart crashed nodes, then liveness: one
// agreed leader within a bound, and a new proposal applied on every node
// (with everything acknowledged before) within a bound.
//
// On a violation: the seed, the invariant, the last events and the command
// that replays the run; exit code 1. A bad flag exits 2.
#include <support/sim_cluster.hpp>  // splitmix64

#include <coraft/log.hpp>
#include <coraft/memory_storage.hpp>
#include <coraft/node.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>

#include <span>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/program_options.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace po = boost::program_options;
using asio::awaitable;
using asio::use_awaitable;
using coraft::index_t;
using coraft::node_id;
using coraft::term_t;
using coraft::core::role;
using coraft::test::splitmix64;

using timer_handler = asio::any_completion_handler<void(boost::system::error_code)>;

struct sim_options {
  std::uint64_t seed = 1;
  int nodes = 3;
  int fault_ticks = 300;
  int substeps = 4;
  int election_ticks = 10;
  int heartbeat_ticks = 1;
  int clients = 3;
  int propose_timeout_ticks = 40;
  int liveness_leader_ticks = 300;  // an agreed leader within this many ticks
  int liveness_commit_ticks = 300;  // then the new proposal everywhere within this
  std::size_t trace_size = 40;
  std::ostream* verbose = nullptr;
  // Self-test of the checkers: the disk acknowledges log entries it never
  // keeps, so a restart finds a short log. The run must fail.
  bool unsafe_disk = false;
};

// Fault rates of one run (per mille), drawn first from the seed.
struct fault_profile {
  unsigned drop = 0;        // of sent messages
  unsigned duplicate = 0;   // of sent messages
  unsigned long_delay = 0;  // of sent messages: up to 3 election timeouts
  unsigned max_delay = 0;   // ordinary delay: 0..max_delay sub-steps
  unsigned crash = 0;       // per tick
  unsigned partition = 0;   // per tick
  unsigned campaign = 0;    // per tick
  unsigned disk_delay = 0;  // a write takes 0..disk_delay sub-steps
  unsigned max_append_entries = 4096;
  unsigned max_inflight = 32;
  unsigned snapshot_entries = 0;   // automatic snapshot every N applied entries (0: never)
  unsigned trailing = 0;           // entries kept behind a snapshot
  unsigned chunk = 1u << 20;       // InstallSnapshot chunk bytes
  unsigned snapshot_now = 0;       // per tick: snapshot() on a random node
  unsigned transfer = 0;           // per tick: transfer_leadership() on the leader
  unsigned read = 0;               // per tick: read_index() on a random node

  std::string describe() const {
    return "drop=" + std::to_string(drop) + " dup=" + std::to_string(duplicate) +
           " long_delay=" + std::to_string(long_delay) + " crash=" + std::to_string(crash) +
           " partition=" + std::to_string(partition) + " campaign=" + std::to_string(campaign) +
           " (per mille); max_delay=" + std::to_string(max_delay) +
           " disk_delay=" + std::to_string(disk_delay) +
           " (sub-steps); max_append_entries=" + std::to_string(max_append_entries) +
           " max_inflight=" + std::to_string(max_inflight) + " snapshot_entries=" + std::to_string(snapshot_entries) +
           " trailing=" + std::to_string(trailing) + " chunk=" + std::to_string(chunk) +
           " snapshot_now=" + std::to_string(snapshot_now) + " transfer=" + std::to_string(transfer) +
           " read=" + std::to_string(read);
  }
};

struct violation {
  std::string invariant;
  std::string detail;
};

struct failure : std::exception {
  explicit failure(violation x) : v(std::move(x)) {}
  const char* what() const noexcept override { return "node sim invariant violated"; }
  violation v;
};

[[noreturn]] void fail(std::string invariant, std::string detail) {
  throw failure(violation{std::move(invariant), std::move(detail)});
}

std::string describe(const coraft::propose_outcome& o) {
  if (o) return "ok index=" + std::to_string(o.value.index);
  return o.error.code.message() +
         (o.error.leader_hint != coraft::no_node ? " hint=" + std::to_string(o.error.leader_hint)
                                                 : std::string());
}

// ---- a state machine that records what it applies ------------------------

struct applied_entry {
  index_t index = 0;
  std::string command;
};

class recording_state_machine final : public coraft::state_machine {
 public:
  std::string apply(index_t index, std::string_view command) override {
    if (!applied_.empty() && index <= applied_.back().index && bad_.empty())
      bad_ = "applied index " + std::to_string(index) + " after " +
             std::to_string(applied_.back().index);
    applied_.push_back({index, std::string(command)});
    return "#" + std::to_string(applied_.size());
  }
  // The snapshot is the whole applied history, so that the checkers can
  // compare a restored state entry by entry with the global sequence.
  void save_snapshot(coraft::snapshot_writer& out) override {
    std::string buf;
    for (const auto& e : applied_) {
      buf += std::to_string(e.index) + ' ' + std::to_string(e.command.size()) + ' ';
      buf += e.command;
    }
    out.write(std::as_bytes(std::span(buf.data(), buf.size())));
  }
  void restore_snapshot(coraft::snapshot_reader& in) override {
    std::string all;
    std::byte chunk[4096];
    while (std::size_t n = in.read(chunk)) all.append(reinterpret_cast<const char*>(chunk), n);
    std::vector<applied_entry> restored;
    std::size_t at = 0;
    while (at < all.size()) {
      std::size_t used = 0;
      applied_entry e;
      e.index = std::stoull(all.substr(at), &used);
      at += used + 1;
      const std::size_t len = std::stoull(all.substr(at), &used);
      at += used + 1;
      e.command = all.substr(at, len);
      at += len;
      restored.push_back(std::move(e));
    }
    applied_ = std::move(restored);
    ++restores_;
  }

  const std::vector<applied_entry>& applied() const { return applied_; }
  const std::string& bad() const { return bad_; }
  int restores() const { return restores_; }

 private:
  std::vector<applied_entry> applied_;
  std::string bad_;
  int restores_ = 0;
};

class node_sim;

// ---- the virtual network endpoint and disk of one node incarnation ---------

class virtual_endpoint final : public coraft::transport {
 public:
  virtual_endpoint(node_sim& sim, node_id from) : sim_(sim), from_(from) {}
  awaitable<void> send(node_id to, std::vector<coraft::message> batch) override;
  bool attached = true;

 private:
  node_sim& sim_;
  node_id from_;
};

class virtual_disk final : public coraft::storage {
 public:
  virtual_disk(node_sim& sim, node_id id, coraft::recovered_state initial)
      : sim_(sim), id_(id), inner_(std::move(initial)) {}
  awaitable<coraft::recovered_state> load() override { return inner_.load(); }
  awaitable<void> write(coraft::log_write w) override;
  awaitable<void> save_snapshot(coraft::snapshot snap) override;
  coraft::recovered_state durable() const { return inner_.durable(); }

 private:
  node_sim& sim_;
  node_id id_;
  coraft::memory_storage inner_;
};

// ---- the simulation of one seed --------------------------------------------

class node_sim {
 public:
  explicit node_sim(const sim_options& o)
      : opts_(o), rng_(o.seed ^ 0x6e6f64652d73696dULL), work_(ctx_.get_executor()) {
    profile_.drop = pick({0, 10, 50, 150});
    profile_.duplicate = pick({0, 20, 100});
    profile_.long_delay = pick({0, 10, 50});
    profile_.max_delay = pick({2, 6});
    profile_.crash = pick({0, 10, 30});
    profile_.partition = pick({0, 10, 30});
    profile_.campaign = pick({0, 5, 20});
    profile_.disk_delay = pick({0, 2, 8});
    profile_.max_append_entries = pick({1, 3, 4096});
    profile_.max_inflight = pick({1, 4, 32});
    profile_.snapshot_entries = pick({0, 3, 10, 40});
    profile_.trailing = pick({0, 1, 5});
    profile_.chunk = pick({64, 512, 1u << 20});
    profile_.snapshot_now = pick({0, 20, 100});
    profile_.transfer = pick({0, 10, 50});
    profile_.read = pick({0, 100, 500});
    initial_profile_ = profile_;
    for (int i = 1; i <= opts_.nodes; ++i) voters_.push_back(static_cast<node_id>(i));
    slots_.resize(voters_.size());
    group_.assign(voters_.size(), 0);
  }

  // After a pass run() has torn everything down already; this covers an
  // exception escaping run() (main leaks a failed run instead).
  ~node_sim() {
    try {
      teardown();
    } catch (...) {
    }
  }

  node_sim(const node_sim&) = delete;
  node_sim& operator=(const node_sim&) = delete;

  // Fault phase, heal, liveness. Returns the first violation.
  std::optional<violation> run() {
    try {
      event("start: " + std::to_string(opts_.nodes) + " nodes, " + profile_.describe());
      for (node_id id : voters_) start_node(id);
      check_all();
      for (int c = 1; c <= opts_.clients; ++c) spawn_client(c);
      for (int t = 0; t < opts_.fault_ticks; ++t) run_tick(true);
      heal_all();
      run_liveness();
      teardown();
    } catch (const failure& f) {
      return f.v;
    }
    return std::nullopt;
  }

  std::uint64_t trace_hash() const { return hash_; }
  std::string trace_text() const {
    std::string s;
    for (const auto& line : trace_) s += "  " + line + "\n";
    return s;
  }
  const fault_profile& profile() const { return initial_profile_; }
  std::string summary() const {
    return std::to_string(ticks_) + " ticks, " + std::to_string(events_) + " events, " +
           std::to_string(sent_) + " sent, " + std::to_string(delivered_) + " delivered, " +
           std::to_string(dropped_) + " dropped, " + std::to_string(crashes_) + " crashes (" +
           std::to_string(lost_writes_) + " unsynced writes lost), " +
           std::to_string(partitions_) + " partitions, " + std::to_string(acked_.size()) + "/" +
           std::to_string(proposed_.size()) + " proposals acknowledged, " +
           std::to_string(leaders_.size()) + " terms with a leader, " +
           std::to_string(global_.size()) + " commands applied, " + std::to_string(reads_ok_) + " reads";
  }

  // ---- called by the endpoints, disks and clients (on the io_context) -----

  void on_send(node_id from, node_id to, std::vector<coraft::message>& batch) {
    for (auto& m : batch) {
      ++sent_;
      const std::string what = coraft::describe(m);  // "1->2 t3 append ..."
      if (rng_.per_mille(profile_.drop)) {
        ++dropped_;
        event("send " + what + " DROPPED");
        continue;
      }
      const bool dup = rng_.per_mille(profile_.duplicate);
      const std::uint64_t d = delay();
      event("send " + what + " +" + std::to_string(d) + (dup ? " dup" : ""));
      if (dup) network_.emplace(net_key{now_ + delay(), seq_++}, in_flight{from, to, m});
      network_.emplace(net_key{now_ + d, seq_++}, in_flight{from, to, std::move(m)});
    }
  }

  // Completes when the virtual disk has "synced"; with operation_aborted
  // when the node crashes first.
  awaitable<void> disk_wait(node_id id) {
    return asio::async_initiate<const asio::use_awaitable_t<>&, void(boost::system::error_code)>(
        [this, id](auto handler) {
          const std::uint64_t d = rng_.below(profile_.disk_delay + 1);
          if (d == 0) {
            asio::post(ctx_, asio::append(std::move(handler), boost::system::error_code()));
            return;
          }
          disk_ops_.emplace(net_key{now_ + d, seq_++}, pending_op{id, timer_handler(std::move(handler))});
        },
        use_awaitable);
  }

  // Sleeps `substeps` of virtual time (clients).
  awaitable<void> sleep(std::uint64_t substeps) {
    return asio::async_initiate<const asio::use_awaitable_t<>&, void(boost::system::error_code)>(
        [this, substeps](auto handler) {
          sleeps_.emplace(net_key{now_ + std::max<std::uint64_t>(1, substeps), seq_++},
                          pending_op{coraft::no_node, timer_handler(std::move(handler))});
        },
        use_awaitable);
  }

  coraft::node* node_ptr(node_id id) { return slots_[id - 1].node.get(); }
  bool unsafe_disk() const { return opts_.unsafe_disk; }
  const std::vector<node_id>& voters() const { return voters_; }
  splitmix64& rng() { return rng_; }
  bool clients_run() const { return clients_run_; }
  int substeps() const { return opts_.substeps; }

  void on_propose(const std::string& who, node_id to, const std::string& cmd) {
    proposed_.insert(cmd);
    ++in_flight_proposals_;
    event(who + " proposes '" + cmd + "' to node " + std::to_string(to));
  }
  void on_outcome(const std::string& who, node_id to, const std::string& cmd,
                  const coraft::propose_outcome& o) {
    --in_flight_proposals_;
    event(who + " '" + cmd + "' on node " + std::to_string(to) + ": " + describe(o));
    if (o) {
      acked_.emplace_back(o.value.index, cmd);
      unverified_acks_.emplace_back(o.value.index, cmd);
    }
  }
  // Reads: linearizable means a read index at least every write index
  // acknowledged, and every read index returned, before the read began.
  index_t read_floor() const {
    index_t need = max_read_index_;
    for (const auto& [index, cmd] : acked_) need = std::max(need, index);
    return need;
  }
  void on_read(node_id id, index_t floor, const coraft::index_outcome& o) {
    event("read on node " + std::to_string(id) + ": " +
          (o ? "ok index=" + std::to_string(o.index) : o.code.message()) + " (floor " + std::to_string(floor) + ")");
    if (!o) return;
    ++reads_ok_;
    if (o.index < floor)
      client_error_ = "linearizable reads: read on node " + std::to_string(id) + " returned index " +
                      std::to_string(o.index) + " below " + std::to_string(floor) +
                      ", acknowledged or read before it began [thesis §6.4]";
    max_read_index_ = std::max(max_read_index_, o.index);
  }
  void on_op_event(const std::string& what) { event(what); }

  void on_client_exit(const std::string& who, std::exception_ptr e) {
    --clients_alive_;
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const boost::system::system_error& se) {
      if (se.code() == asio::error::operation_aborted) return;  // teardown
      client_error_ = who + ": " + se.what();
    } catch (const std::exception& ex) {
      client_error_ = who + ": " + ex.what();
    }
  }

  std::optional<std::pair<index_t, std::string>> live_result;

 private:
  using net_key = std::pair<std::uint64_t, std::uint64_t>;  // (due sub-step, sequence)
  struct in_flight {
    node_id from;
    node_id to;
    coraft::message m;
  };
  struct pending_op {
    node_id owner;
    timer_handler handler;
  };
  struct node_slot {
    int incarnation = 0;
    std::unique_ptr<virtual_endpoint> endpoint;
    std::unique_ptr<virtual_disk> disk;
    std::unique_ptr<recording_state_machine> sm;
    std::unique_ptr<coraft::node> node;  // null while crashed
    std::uint64_t restart_at_tick = 0;
    // Per incarnation: what the checkers last saw.
    std::size_t verified = 0;  // sm entries checked against global_
    int seen_restores = 0;     // a restore replaces the history: check it all again
    term_t last_term = 0;
    index_t last_commit = 0;
    std::string last_status;
    std::optional<std::string> start_error;  // start() threw (not because it was stopped)
  };

  unsigned pick(std::vector<unsigned> v) { return rng_.pick(v); }

  std::uint64_t delay() {
    if (rng_.per_mille(profile_.long_delay))
      return rng_.below(3 * static_cast<std::uint64_t>(opts_.election_ticks * opts_.substeps) + 1);
    return rng_.below(profile_.max_delay + 1);
  }

  std::string stamp() const {
    const auto s = static_cast<std::uint64_t>(opts_.substeps);
    return "[" + std::to_string(now_ / s) + "." + std::to_string(now_ % s) + "] ";
  }

  void event(const std::string& what) {
    std::string line = stamp() + what;
    ++events_;
    for (unsigned char c : line) {  // FNV-1a, 64 bits
      hash_ ^= c;
      hash_ *= 0x100000001b3ULL;
    }
    hash_ ^= '\n';
    hash_ *= 0x100000001b3ULL;
    if (opts_.verbose != nullptr) *opts_.verbose << line << '\n';
    trace_.push_back(std::move(line));
    while (trace_.size() > opts_.trace_size) trace_.pop_front();
  }

  // Runs every ready handler until none is left: the quiescent state.
  void poll_idle() {
    for (int rounds = 0;; ++rounds) {
      if (ctx_.stopped()) ctx_.restart();
      if (ctx_.poll() == 0) return;
      if (rounds > 100000)
        fail("quiescence", "the io_context never ran out of ready handlers (a busy loop)");
    }
  }

  // ---- node lifecycle -----------------------------------------------------

  coraft::node_options make_options(node_id id, int incarnation) const {
    coraft::node_options o;
    o.raft.id = id;
    o.raft.election_ticks = opts_.election_ticks;
    o.raft.heartbeat_ticks = opts_.heartbeat_ticks;
    o.raft.max_append_entries = profile_.max_append_entries;
    o.raft.max_inflight = profile_.max_inflight;
    o.raft.seed = splitmix64(opts_.seed * 131 + id * 17 + static_cast<std::uint64_t>(incarnation)).next() | 1;
    o.incarnation_id = splitmix64(opts_.seed * 7919 + id * 31 + static_cast<std::uint64_t>(incarnation)).next() | 1;
    o.voters = voters_;
    o.tick_interval = std::chrono::milliseconds(0);
    o.propose_timeout_ticks = opts_.propose_timeout_ticks;
    o.snapshot_entries = profile_.snapshot_entries;
    o.snapshot_log_bytes = 0;
    o.snapshot_trailing_entries = profile_.trailing;
    o.raft.max_snapshot_chunk = profile_.chunk;
    return o;
  }

  void start_node(node_id id) {
    node_slot& s = slots_[id - 1];
    coraft::recovered_state durable;
    if (s.disk) {
      durable = s.disk->durable();
      retired_disks_.push_back(std::move(s.disk));
    }
    if (s.endpoint) retired_endpoints_.push_back(std::move(s.endpoint));
    if (s.sm) retired_sms_.push_back(std::move(s.sm));
    ++s.incarnation;
    event("start node " + std::to_string(id) + " incarnation " + std::to_string(s.incarnation) +
          ": durable term=" + std::to_string(durable.state.current_term) +
          " vote=" + std::to_string(durable.state.voted_for) + " log=" +
          std::to_string(durable.log.size()) + " snapshot=" +
          std::to_string(durable.snap ? durable.snap->meta.last.index : 0));
    s.endpoint = std::make_unique<virtual_endpoint>(*this, id);
    s.disk = std::make_unique<virtual_disk>(*this, id, std::move(durable));
    s.sm = std::make_unique<recording_state_machine>();
    s.node = std::make_unique<coraft::node>(ctx_.get_executor(), make_options(id, s.incarnation),
                                            *s.disk, *s.endpoint, *s.sm);
    s.verified = 0;
    s.seen_restores = 0;
    s.last_term = 0;
    s.last_commit = 0;
    s.last_status.clear();
    // start() completes once storage has loaded (and, on a first start,
    // the bootstrap configuration is durable): later, in virtual time.
    s.start_error.reset();
    const int incarnation = s.incarnation;
    asio::co_spawn(ctx_, s.node->start(), [this, id, incarnation](std::exception_ptr e) {
      node_slot& slot = slots_[id - 1];
      if (!e || slot.incarnation != incarnation) return;
      try {
        std::rethrow_exception(e);
      } catch (const boost::system::system_error& se) {
        if (se.code() == coraft::make_error_code(coraft::errc::stopped)) return;  // crashed while starting
        slot.start_error = se.what();
      } catch (const std::exception& ex) {
        slot.start_error = ex.what();
      }
    });
    poll_idle();
  }

  // A crash: the process stops; what the disk synced survives, the write in
  // progress does not.
  void crash(node_id id) {
    node_slot& s = slots_[id - 1];
    ++crashes_;
    event("CRASH node " + std::to_string(id) + " incarnation " + std::to_string(s.incarnation));
    merge_sm(id);  // what it applied counts
    s.endpoint->attached = false;
    stop_node(id);
    s.node.reset();
    s.restart_at_tick = ticks_ + rng_.between(5, 6 * static_cast<std::uint64_t>(opts_.election_ticks));
  }

  void stop_node(node_id id) {
    node_slot& s = slots_[id - 1];
    bool done = false;
    std::exception_ptr err;
    asio::co_spawn(ctx_, s.node->stop(), [&done, &err](std::exception_ptr e) {
      done = true;
      err = e;
    });
    poll_idle();
    // The log writer may be waiting on the disk: that write is lost.
    for (auto it = disk_ops_.begin(); it != disk_ops_.end();) {
      if (it->second.owner == id) {
        ++lost_writes_;
        event("node " + std::to_string(id) + ": unsynced write lost");
        asio::post(ctx_, asio::append(std::move(it->second.handler),
                                      boost::system::error_code(asio::error::operation_aborted)));
        it = disk_ops_.erase(it);
      } else {
        ++it;
      }
    }
    poll_idle();
    if (!done) fail("stop", "node " + std::to_string(id) + ": stop() did not complete");
    if (err) fail("stop", "node " + std::to_string(id) + ": stop() threw");
  }

  // ---- clients ------------------------------------------------------------

  void spawn_client(int c);
  enum class op_kind { read, transfer, snapshot };
  void spawn_op(node_id id, op_kind kind, node_id to);

  // ---- time ---------------------------------------------------------------

  void run_substep(bool faults) {
    ++now_;
    // Disk syncs and client wake-ups due now.
    for (auto it = disk_ops_.begin(); it != disk_ops_.end() && it->first.first <= now_;) {
      asio::post(ctx_, asio::append(std::move(it->second.handler), boost::system::error_code()));
      it = disk_ops_.erase(it);
    }
    for (auto it = sleeps_.begin(); it != sleeps_.end() && it->first.first <= now_;) {
      asio::post(ctx_, asio::append(std::move(it->second.handler), boost::system::error_code()));
      it = sleeps_.erase(it);
    }
    poll_idle();
    // Messages due now, in send order.
    while (!network_.empty() && network_.begin()->first.first <= now_) {
      in_flight f = std::move(network_.begin()->second);
      network_.erase(network_.begin());
      coraft::node* n = node_ptr(f.to);
      const std::string what = coraft::describe(f.m);
      if (n == nullptr || !connected(f.from, f.to)) {
        ++dropped_;
        event("lost " + what + (n == nullptr ? " (down)" : " (partitioned)"));
        continue;
      }
      ++delivered_;
      event("deliver " + what);
      std::vector<coraft::message> batch;
      batch.push_back(std::move(f.m));
      n->deliver(std::move(batch));
    }
    poll_idle();
    if (now_ % static_cast<std::uint64_t>(opts_.substeps) == 0) {
      ++ticks_;
      event("tick " + std::to_string(ticks_));
      for (node_id id : voters_) {
        node_slot& s = slots_[id - 1];
        if (!s.node && s.restart_at_tick != 0 && s.restart_at_tick <= ticks_) {
          s.restart_at_tick = 0;
          start_node(id);
        }
      }
      if (heal_at_tick_ != 0 && heal_at_tick_ <= ticks_) heal_partition();
      if (faults) inject_faults();
      for (node_id id : voters_)
        if (coraft::node* n = node_ptr(id)) n->tick();
      poll_idle();
    }
    check_all();
  }

  void run_tick(bool faults) {
    for (int k = 0; k < opts_.substeps; ++k) run_substep(faults);
  }

  // ---- faults -------------------------------------------------------------

  bool connected(node_id a, node_id b) const { return group_[a - 1] == group_[b - 1]; }

  std::vector<node_id> up_nodes() const {
    std::vector<node_id> v;
    for (node_id id : voters_)
      if (slots_[id - 1].node) v.push_back(id);
    return v;
  }

  node_id known_leader() const {
    node_id best = coraft::no_node;
    term_t best_term = 0;
    for (node_id id : voters_) {
      const auto it = last_role_.find(id);
      if (slots_[id - 1].node && it != last_role_.end() && it->second.first == role::leader &&
          it->second.second >= best_term) {
        best = id;
        best_term = it->second.second;
      }
    }
    return best;
  }

  void inject_faults() {
    if (rng_.per_mille(profile_.crash)) {
      const std::vector<node_id> up = up_nodes();
      if (!up.empty()) {
        node_id victim = rng_.pick(up);
        const node_id leader = known_leader();
        if (leader != coraft::no_node && rng_.per_mille(500)) victim = leader;
        crash(victim);
      }
    }
    if (heal_at_tick_ == 0 && rng_.per_mille(profile_.partition)) {
      ++partitions_;
      std::string desc;
      if (rng_.per_mille(500)) {
        node_id victim = rng_.pick(voters_);
        const node_id leader = known_leader();
        if (leader != coraft::no_node && rng_.per_mille(500)) victim = leader;
        for (auto& g : group_) g = 0;
        group_[victim - 1] = 1;
        desc = "isolate node " + std::to_string(victim);
      } else {
        for (std::size_t i = 0; i < group_.size(); ++i) {
          group_[i] = static_cast<int>(rng_.below(2));
          desc += (i ? "," : "") + std::to_string(i + 1) + ":" + std::to_string(group_[i]);
        }
        desc = "split " + desc;
      }
      heal_at_tick_ = ticks_ + rng_.between(5, 8 * static_cast<std::uint64_t>(opts_.election_ticks));
      event("PARTITION " + desc + " until tick " + std::to_string(heal_at_tick_));
    }
    if (rng_.per_mille(profile_.snapshot_now)) {
      const std::vector<node_id> up = up_nodes();
      if (!up.empty()) spawn_op(rng_.pick(up), op_kind::snapshot, coraft::no_node);
    }
    if (rng_.per_mille(profile_.transfer)) {
      const node_id leader = known_leader();
      if (leader != coraft::no_node) {
        node_id to = coraft::no_node;  // best candidate, or a named voter (maybe itself: refused)
        if (rng_.per_mille(500)) to = rng_.pick(voters_);
        spawn_op(leader, op_kind::transfer, to);
      }
    }
    if (rng_.per_mille(profile_.read)) {
      const std::vector<node_id> up = up_nodes();
      if (!up.empty()) spawn_op(rng_.pick(up), op_kind::read, coraft::no_node);
    }
    if (rng_.per_mille(profile_.campaign)) {
      const std::vector<node_id> up = up_nodes();
      if (!up.empty()) {
        const node_id id = rng_.pick(up);
        event("campaign node " + std::to_string(id));
        node_ptr(id)->campaign();
      }
    }
  }

  void heal_partition() {
    heal_at_tick_ = 0;
    for (auto& g : group_) g = 0;
    event("HEAL partition");
  }

  void heal_all() {
    event("fault phase over: heal, restart, liveness");
    profile_.drop = profile_.duplicate = profile_.long_delay = 0;
    profile_.crash = profile_.partition = profile_.campaign = 0;
    heal_partition();
    for (node_id id : voters_) {
      node_slot& s = slots_[id - 1];
      if (!s.node) {
        s.restart_at_tick = 0;
        start_node(id);
      }
    }
    clients_run_ = false;
    check_all();
  }

  // ---- checkers -----------------------------------------------------------

  std::vector<std::optional<coraft::node_status>> statuses() {
    std::vector<std::optional<coraft::node_status>> out(voters_.size());
    for (node_id id : voters_) {
      coraft::node* n = node_ptr(id);
      if (n == nullptr) continue;
      auto* slot = &out[id - 1];
      asio::co_spawn(ctx_, n->status(), [slot](std::exception_ptr e, coraft::node_status st) {
        if (!e) *slot = std::move(st);
      });
    }
    poll_idle();
    return out;
  }

  // State machine safety for one node's current incarnation.
  void merge_sm(node_id id) {
    node_slot& s = slots_[id - 1];
    const std::string who = "node " + std::to_string(id) + " incarnation " + std::to_string(s.incarnation);
    if (!s.sm->bad().empty()) fail("state machine safety", who + ": " + s.sm->bad());
    if (s.sm->restores() != s.seen_restores) {
      s.seen_restores = s.sm->restores();
      s.verified = 0;
      event(who + " restored a snapshot of " + std::to_string(s.sm->applied().size()) + " commands");
    }
    const auto& a = s.sm->applied();
    for (; s.verified < a.size(); ++s.verified) {
      const applied_entry& e = a[s.verified];
      if (s.verified < global_.size()) {
        const applied_entry& g = global_[s.verified];
        if (g.index != e.index || g.command != e.command)
          fail("state machine safety",
               who + " applied #" + std::to_string(s.verified + 1) + " = (" + std::to_string(e.index) +
                   ", '" + e.command + "') but the global sequence has (" + std::to_string(g.index) +
                   ", '" + g.command + "') [§5.4.3]");
        continue;
      }
      if (!global_.empty() && e.index <= global_.back().index)
        fail("state machine safety", who + " applied index " + std::to_string(e.index) +
                                         " after " + std::to_string(global_.back().index));
      if (proposed_.count(e.command) == 0)
        fail("state machine safety", who + " applied '" + e.command + "', never proposed");
      if (!global_commands_.insert(e.command).second)
        fail("state machine safety", who + " applied '" + e.command + "' a second time at index " +
                                         std::to_string(e.index));
      global_.push_back(e);
      event("committed (" + std::to_string(e.index) + ", '" + e.command + "') first applied on node " +
            std::to_string(id));
    }
  }

  const applied_entry* global_at(index_t index) const {
    auto it = std::lower_bound(global_.begin(), global_.end(), index,
                               [](const applied_entry& e, index_t i) { return e.index < i; });
    return it != global_.end() && it->index == index ? &*it : nullptr;
  }

  void check_all() {
    const auto st = statuses();
    for (node_id id : voters_) {
      node_slot& s = slots_[id - 1];
      if (!s.node) continue;
      const std::string who = "node " + std::to_string(id) + " incarnation " + std::to_string(s.incarnation);
      if (s.start_error) fail("start", who + ": start() threw: " + *s.start_error);
      if (!st[id - 1]) fail("status", who + ": status() did not complete");
      const coraft::node_status& x = *st[id - 1];
      if (!x.fatal_error.empty()) fail("no fatal error", who + ": " + x.fatal_error);
      if (x.term < s.last_term)
        fail("term monotonic", who + ": term went from " + std::to_string(s.last_term) + " to " +
                                   std::to_string(x.term) + " [Fig. 2]");
      if (x.commit_index < s.last_commit)
        fail("commit monotonic", who + ": commit index went from " + std::to_string(s.last_commit) +
                                     " to " + std::to_string(x.commit_index));
      s.last_term = x.term;
      s.last_commit = x.commit_index;
      last_role_[id] = {x.state, x.term};
      if (x.state == role::leader) {
        auto [it, inserted] = leaders_.try_emplace(x.term, id);
        if (!inserted && it->second != id)
          fail("election safety", "term " + std::to_string(x.term) + " has two leaders: node " +
                                      std::to_string(it->second) + " and node " + std::to_string(id) +
                                      " [§5.2]");
      }
      std::string line = std::string(coraft::core::to_string(x.state)) + " term=" +
                         std::to_string(x.term) + " leader=" + std::to_string(x.leader) +
                         " commit=" + std::to_string(x.commit_index) +
                         " applied=" + std::to_string(x.applied_index) + " last=(" +
                         std::to_string(x.last_log.term) + "," + std::to_string(x.last_log.index) +
                         ") pending=" + std::to_string(x.pending_proposals);
      if (line != s.last_status) {
        event("node " + std::to_string(id) + ": " + line);
        s.last_status = std::move(line);
      }
      merge_sm(id);
    }
    for (const auto& [index, cmd] : unverified_acks_) {
      const applied_entry* g = global_at(index);
      if (g == nullptr || g->command != cmd)
        fail("acknowledged writes", "propose('" + cmd + "') succeeded with index " +
                                        std::to_string(index) + " but the global sequence has " +
                                        (g ? "'" + g->command + "'" : std::string("nothing")) +
                                        " there");
    }
    unverified_acks_.clear();
    if (!client_error_.empty()) fail("client", client_error_);
  }

  // ---- liveness -----------------------------------------------------------

  std::optional<node_id> agreed_leader() {
    const auto st = statuses();
    std::optional<node_id> leader;
    term_t term = 0;
    for (const auto& x : st) {
      if (!x) return std::nullopt;
      if (x->state == role::leader) {
        if (leader) return std::nullopt;
        leader = x->id;
        term = x->term;
      }
    }
    if (!leader) return std::nullopt;
    for (const auto& x : st)
      if (x->term != term || x->leader != *leader) return std::nullopt;
    return leader;
  }

  void spawn_live_proposer();

  void run_liveness() {
    std::optional<node_id> leader;
    for (int t = 0; t < opts_.liveness_leader_ticks && !(leader = agreed_leader()); ++t)
      run_tick(false);
    if (!leader)
      fail("liveness", "no agreed leader " + std::to_string(opts_.liveness_leader_ticks) +
                           " ticks after the faults stopped");
    event("liveness: node " + std::to_string(*leader) + " leads");
    spawn_live_proposer();
    auto converged = [this] {
      if (!live_result || in_flight_proposals_ != 0) return false;
      index_t need = live_result->first;
      for (const auto& [index, cmd] : acked_) need = std::max(need, index);
      for (node_id id : voters_) {
        const auto& a = slots_[id - 1].sm->applied();
        if (a.empty() || a.back().index < need) return false;
      }
      return true;
    };
    int t = 0;
    for (; t < opts_.liveness_commit_ticks && !converged(); ++t) run_tick(false);
    if (!converged())
      fail("liveness", live_result ? "the liveness proposal (index " + std::to_string(live_result->first) +
                                         ") or an acknowledged one is not applied on every node " +
                                         std::to_string(opts_.liveness_commit_ticks) + " ticks later"
                                   : "the liveness proposal did not succeed within " +
                                         std::to_string(opts_.liveness_commit_ticks) + " ticks");
    // Every acknowledged write is on every node, at its index.
    for (node_id id : voters_) {
      merge_sm(id);
      const auto& a = slots_[id - 1].sm->applied();
      for (const auto& [index, cmd] : acked_) {
        auto it = std::lower_bound(a.begin(), a.end(), index,
                                   [](const applied_entry& e, index_t i) { return e.index < i; });
        if (it == a.end() || it->index != index || it->command != cmd)
          fail("acknowledged writes", "node " + std::to_string(id) + " lacks ('" + cmd + "' at " +
                                          std::to_string(index) + ") at the end of the run");
      }
    }
    event("liveness: converged after " + std::to_string(t) + " ticks");
  }

  // Stops every node and wakes every sleeper; afterwards the io_context has
  // no handler left that references a node, a disk or a client.
  void teardown() {
    if (torn_down_) return;
    torn_down_ = true;
    clients_run_ = false;
    for (node_id id : voters_)
      if (slots_[id - 1].node) {
        slots_[id - 1].endpoint->attached = false;
        stop_node(id);
      }
    while (!sleeps_.empty()) {
      asio::post(ctx_, asio::append(std::move(sleeps_.begin()->second.handler),
                                    boost::system::error_code(asio::error::operation_aborted)));
      sleeps_.erase(sleeps_.begin());
    }
    poll_idle();
    if (clients_alive_ != 0) fail("teardown", std::to_string(clients_alive_) + " client coroutines never finished");
    for (auto& s : slots_) s.node.reset();
    work_.reset();
    poll_idle();
  }

  sim_options opts_;
  splitmix64 rng_;
  fault_profile profile_;
  fault_profile initial_profile_;
  std::vector<node_id> voters_;

  // Declaration order = reverse destruction order: the io_context outlives
  // everything that has handlers in it, nodes die before what they use.
  asio::io_context ctx_{1};  // one thread: no locking
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::unique_ptr<virtual_endpoint>> retired_endpoints_;
  std::vector<std::unique_ptr<virtual_disk>> retired_disks_;
  std::vector<std::unique_ptr<recording_state_machine>> retired_sms_;
  std::map<net_key, pending_op> disk_ops_;
  std::map<net_key, pending_op> sleeps_;
  std::vector<node_slot> slots_;

  std::uint64_t now_ = 0;  // sub-steps
  std::uint64_t ticks_ = 0;
  std::uint64_t seq_ = 0;
  std::map<net_key, in_flight> network_;
  std::vector<int> group_;
  std::uint64_t heal_at_tick_ = 0;
  bool clients_run_ = true;
  bool torn_down_ = false;

 public:
  int clients_alive_ = 0;
  index_t max_read_index_ = 0;
  std::uint64_t reads_ok_ = 0;
  int in_flight_proposals_ = 0;

 private:
  std::string client_error_;
  std::set<std::string> proposed_;
  std::vector<std::pair<index_t, std::string>> acked_;
  std::vector<std::pair<index_t, std::string>> unverified_acks_;
  std::vector<applied_entry> global_;
  std::set<std::string> global_commands_;
  std::map<term_t, node_id> leaders_;
  std::map<node_id, std::pair<role, term_t>> last_role_;

  std::uint64_t hash_ = 0xcbf29ce484222325ULL;
  std::deque<std::string> trace_;
  std::uint64_t events_ = 0, sent_ = 0, delivered_ = 0, dropped_ = 0, crashes_ = 0,
                lost_writes_ = 0, partitions_ = 0;
};

awaitable<void> virtual_endpoint::send(node_id to, std::vector<coraft::message> batch) {
  if (attached) sim_.on_send(from_, to, batch);
  co_return;
}

awaitable<void> virtual_disk::write(coraft::log_write w) {
  co_await sim_.disk_wait(id_);  // throws operation_aborted on a crash
  if (sim_.unsafe_disk()) w.entries.clear();
  auto done = inner_.write(std::move(w));
  co_await std::move(done);
}

awaitable<void> virtual_disk::save_snapshot(coraft::snapshot snap) {
  co_await sim_.disk_wait(id_);
  auto done = inner_.save_snapshot(std::move(snap));
  co_await std::move(done);
}

// ---- client coroutines -----------------------------------------------------

// The node that says it leads with the highest term, or no_node. Looks node
// pointers up again after every suspension: a node may have crashed.
awaitable<node_id> find_leader(node_sim& sim) {
  node_id best = coraft::no_node;
  term_t best_term = 0;
  for (node_id id : sim.voters()) {
    coraft::node* n = sim.node_ptr(id);
    if (n == nullptr) continue;
    const coraft::node_status st = co_await n->status();
    if (st.state == role::leader && st.term >= best_term) {
      best = id;
      best_term = st.term;
    }
  }
  co_return best;
}

// Proposes unique commands to the leader until the fault phase ends.
awaitable<void> client(node_sim& sim, int c) {
  const std::string who = "client " + std::to_string(c);
  for (int k = 1; sim.clients_run(); ++k) {
    const std::uint64_t pause = sim.rng().between(1, 3 * static_cast<std::uint64_t>(sim.substeps()));
    co_await sim.sleep(pause);
    if (!sim.clients_run()) break;
    const node_id leader = co_await find_leader(sim);
    coraft::node* n = leader == coraft::no_node ? nullptr : sim.node_ptr(leader);
    if (n == nullptr) continue;
    const std::string cmd = "c" + std::to_string(c) + "." + std::to_string(k);
    sim.on_propose(who, leader, cmd);
    const coraft::propose_outcome o = co_await n->propose(cmd);
    sim.on_outcome(who, leader, cmd, o);
  }
}

// After the faults: one new command, retried until it succeeds.
awaitable<void> live_proposer(node_sim& sim) {
  const std::string who = "live";
  for (int attempt = 1; !sim.live_result; ++attempt) {
    const node_id leader = co_await find_leader(sim);
    coraft::node* n = leader == coraft::no_node ? nullptr : sim.node_ptr(leader);
    if (n != nullptr) {
      const std::string cmd = "live." + std::to_string(attempt);
      sim.on_propose(who, leader, cmd);
      const coraft::propose_outcome o = co_await n->propose(cmd);
      sim.on_outcome(who, leader, cmd, o);
      if (o) {
        sim.live_result.emplace(o.value.index, cmd);
        break;
      }
    }
    co_await sim.sleep(static_cast<std::uint64_t>(sim.substeps()));
  }
}

void node_sim::spawn_client(int c) {
  ++clients_alive_;
  const std::string who = "client " + std::to_string(c);
  asio::co_spawn(ctx_, client(*this, c), [this, who](std::exception_ptr e) { on_client_exit(who, e); });
}

// One operator or reader action on node `id`; outcomes go into the trace.
awaitable<void> node_op(node_sim& sim, node_id id, int kind, node_id to) {
  coraft::node* n = sim.node_ptr(id);
  if (n == nullptr) co_return;
  if (kind == 0) {
    const index_t floor = sim.read_floor();
    const coraft::index_outcome o = co_await n->read_index();
    sim.on_read(id, floor, o);
  } else if (kind == 1) {
    sim.on_op_event("transfer leadership from node " + std::to_string(id) + " to " +
                    (to == coraft::no_node ? std::string("best") : std::to_string(to)));
    const coraft::index_outcome o = co_await n->transfer_leadership(to);
    sim.on_op_event("transfer from node " + std::to_string(id) + ": " +
                    (o ? "now led by " + std::to_string(o.leader_hint) : o.code.message()));
  } else {
    const coraft::index_outcome o = co_await n->snapshot();
    sim.on_op_event("snapshot on node " + std::to_string(id) + ": " +
                    (o ? "index " + std::to_string(o.index) : o.code.message()));
  }
}

void node_sim::spawn_op(node_id id, op_kind kind, node_id to) {
  ++clients_alive_;
  asio::co_spawn(ctx_, node_op(*this, id, static_cast<int>(kind), to),
                 [this](std::exception_ptr e) { on_client_exit("operator", e); });
}

void node_sim::spawn_live_proposer() {
  ++clients_alive_;
  asio::co_spawn(ctx_, live_proposer(*this), [this](std::exception_ptr e) { on_client_exit("live", e); });
}

// ---- the command line --------------------------------------------------------

std::string replay_command(std::uint64_t seed, int nodes, int steps, int default_steps,
                           bool unsafe_disk) {
  std::string cmd = "coraft-node-sim --seeds 1 --first-seed " + std::to_string(seed) +
                    " --nodes " + std::to_string(nodes);
  if (steps != default_steps) cmd += " --steps " + std::to_string(steps);
  if (unsafe_disk) cmd += " --unsafe-disk";
  return cmd + " --verbose";
}

int usage_error(const std::string& msg, const po::options_description& desc) {
  std::cerr << "coraft-node-sim: " << msg << "\n\n" << desc;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  const int default_steps = sim_options{}.fault_ticks;
  std::int64_t seeds = 1;
  std::int64_t first_seed = 1;
  int nodes = 3;
  int steps = default_steps;
  bool verbose = false;
  bool determinism = false;
  bool unsafe_disk = false;

  po::options_description desc(
      "usage: coraft-node-sim --seeds N --first-seed S [--nodes 3|5] [--steps K] [--determinism] "
      "[--verbose]");
  desc.add_options()
      ("help,h", "print this help")
      ("seeds", po::value(&seeds)->default_value(1), "number of seeds to run (>= 1)")
      ("first-seed", po::value(&first_seed)->default_value(1), "first seed (>= 0)")
      ("nodes", po::value(&nodes)->default_value(3), "cluster size: 3 or 5")
      ("steps", po::value(&steps)->default_value(default_steps),
       "ticks of the fault phase per seed (>= 1)")
      ("determinism", po::bool_switch(&determinism),
       "run every seed twice and require identical event traces (hash)")
      ("verbose,v", po::bool_switch(&verbose), "print every event and a summary per seed")
      ("unsafe-disk", po::bool_switch(&unsafe_disk),
       "self-test: the disk drops every log entry it acknowledges; a run must fail");

  po::variables_map vm;
  try {
    const po::positional_options_description no_positionals;
    po::store(po::command_line_parser(argc, argv).options(desc).positional(no_positionals).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return usage_error(e.what(), desc);
  }
  if (vm.count("help") != 0) {
    std::cout << desc;
    return 0;
  }
  if (seeds < 1) return usage_error("--seeds must be at least 1", desc);
  if (first_seed < 0) return usage_error("--first-seed must not be negative", desc);
  if (nodes != 3 && nodes != 5) return usage_error("--nodes must be 3 or 5", desc);
  if (steps < 1) return usage_error("--steps must be at least 1", desc);

  coraft::set_log_level(coraft::log_level::off);  // lines carry wall-clock time
  for (std::int64_t k = 0; k < seeds; ++k) {
    sim_options o;
    o.seed = static_cast<std::uint64_t>(first_seed + k);
    o.nodes = nodes;
    o.fault_ticks = steps;
    o.unsafe_disk = unsafe_disk;
    if (verbose) o.verbose = &std::cout;
    const std::string replay = replay_command(o.seed, nodes, steps, default_steps, unsafe_disk);
    std::uint64_t hash = 0;
    {
      auto owned = std::make_unique<node_sim>(o);
      node_sim& sim = *owned;
      const auto v = sim.run();
      if (verbose)
        std::cout << "seed " << o.seed << ": " << (v ? "FAILED" : "ok") << "; "
                  << sim.profile().describe() << "; " << sim.summary() << "; trace hash "
                  << std::hex << sim.trace_hash() << std::dec << "\n";
      if (v) {
        std::cout.flush();
        std::cerr << "coraft-node-sim: seed " << o.seed << " (" << nodes
                  << " nodes) broke an invariant\n"
                  << "invariant: " << v->invariant << "\n"
                  << "detail:    " << v->detail << "\n"
                  << "profile:   " << sim.profile().describe() << "\n"
                  << "last events:\n"
                  << sim.trace_text() << "replay:    " << replay << "\n";
        // Leave the broken run as it is: tearing it down could hang or
        // crash and hide the report.
        (void)owned.release();
        return 1;
      }
      hash = sim.trace_hash();
    }
    if (determinism) {
      sim_options again = o;
      again.verbose = nullptr;
      auto owned = std::make_unique<node_sim>(again);
      node_sim& sim = *owned;
      const auto v = sim.run();
      if (v || sim.trace_hash() != hash) {
        (void)owned.release();
        std::cerr << "coraft-node-sim: seed " << o.seed << " (" << nodes
                  << " nodes) is not deterministic: the second run "
                  << (v ? "broke " + v->invariant : std::string("produced another trace"))
                  << " (hash " << std::hex << hash << " then " << sim.trace_hash() << std::dec
                  << ")\nlast events of the second run:\n"
                  << sim.trace_text() << "replay:    " << replay << "\n";
        return 1;
      }
    }
  }
  std::cout << seeds << " seeds passed" << (determinism ? " (each twice, identical traces)" : "")
            << "\n";
  return 0;
}
