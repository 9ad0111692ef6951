// coraft-node-sim — the REAL coroutine node (coraft::node, lib/src/node/node.cpp)
// on virtual time, deterministically, for a range of seeds, under the faults
// real deployments suffer.
//
//   coraft-node-sim --seeds N --first-seed S [--nodes 3|5] [--steps K]
//                   [--storage memory|file] [--faults LIST] [--determinism]
//                   [--verbose] [--unsafe-disk] [--plant BUG (planted builds)]
//
// Where coraft-sim (sim_cluster.hpp) drives bare protocol cores, this runs
// whole nodes: strands, replicator tasks, the group-committing log writer,
// the applier, propose() and read_index() waiters, start() and stop(), and
// with --storage file the real file_storage and WAL over a simulated disk.
// Everything runs on one io_context driven only by poll() until idle —
// never run(), never a real wait, never a thread:
//   - node_options::tick_interval = 0: no ticker; the harness calls tick(),
//     on each node's own clock (clock faults: each drifts and jitters);
//   - a virtual transport queues every sent message with a virtual delivery
//     time and hands due messages to node::deliver(). Like the TCP
//     transport, it may keep a peer's queue while the peer is down or cut
//     off and deliver it later — to the peer's NEXT incarnation if it
//     restarted meanwhile;
//   - storage: memory_storage, or file_storage over a sim_file_system of the
//     node's own that survives its restarts (its disk work posted to the same
//     io_context: file_storage_options::io_executor); either behind a
//     decorator that delays each operation by a seeded number of sub-steps
//     and records what was acknowledged (the oracle);
//   - client coroutines sleep on virtual timers, look for a leader with
//     status() and propose unique commands; readers call read_index() on any
//     node; operators transfer leadership, take snapshots and change the
//     membership.
// Each external event (a delivery, a tick, a disk completion, a fault) is
// followed by poll() until idle, so the system reaches the same quiescent
// state on every run of a seed. One splitmix64 generator decides
// everything; every event goes into a trace whose FNV-1a hash must be the
// same when a seed is run twice (--determinism).
//
// Fault classes (--faults, comma-separated; default all that apply):
//   net        loss, delay and reordering, duplication, long delays, and
//              partitions of every shape: halves, one server cut off, one-way
//              cuts, bridges (two sides that each reach a middle server but
//              not each other); queues kept across disconnects and restarts
//   crash      a process killed and restarted (file: half of them a power
//              loss, unsynced bytes dropped, torn, or any subset of pages kept)
//   pause      a process stopped and continued (no ticks, deliveries or disk
//              completions meanwhile; what arrived waits)
//   clock      each node's tick drifts (up to ±10%) and jitters
//   disk       (file) fsync failing as on Linux (EIO; the pages marked clean
//              without reaching the disk), ENOSPC, a power loss in the middle
//              of any disk operation
//   media      (file) damage found at a restart: bits flipped in a WAL
//              segment (before its newest durable write), the newest
//              segment cut short or deleted, every segment deleted, the
//              newest snapshot file damaged, deleted, or replaced by the one
//              before it
//   flags      a restart with other voters in the options (as an operator
//              editing --cluster)
//   membership an operator adds and removes servers (learners promoted once
//              caught up, a voter added before its server starts, a voter
//              removed and added back)
//   ops        snapshots (automatic and on demand), leadership transfers,
//              linearizable reads on leaders and followers, early elections
//
// Invariants, after every sub-step:
//   - election safety: at most one leader per term, across the run [§5.2];
//   - one vote per term per server, across crashes [§5.2, Fig. 2]: every
//     granted vote the network carries is checked against earlier ones;
//   - state machine safety: every incarnation's applied (index, command)
//     sequence is a prefix of one global sequence; only proposed commands,
//     each at most once [§5.4.3];
//   - acknowledged writes: a propose() that succeeded with index i has its
//     command at i in the global sequence;
//   - refusals never applied: a propose() answered not_leader, stopped,
//     dropped, overloaded, transferring or too_large never has its command
//     in the global sequence (node.hpp: those mean "never applied";
//     coraft-chaos counts on it);
//   - linearizable reads: a read's index is at least every write index
//     acknowledged, and every read index returned, before it began [thesis
//     §6.4]; and every read ends within its timeout (in the node's ticks);
//   - never a start with less: what storage returns at a restart, and what
//     the started node holds (term, vote, last entry), includes everything
//     its storage had acknowledged as durable (the oracle);
//   - a node refuses to start only after damage was done to its files (the
//     sim then does what an operator does: remove it, wipe it, add it back
//     as a learner, promote it); it fails (on_fatal) only after an injected
//     disk error (the sim then restarts it, as a supervisor would);
//   - within one incarnation term and commit index never go backwards [Fig. 2];
//   - poll() reaches idle (no busy loop).
// After the fault phase: heal, restart, finish the operators' work, then
// liveness: one agreed leader among the members within a bound, and a new
// proposal applied on every member (with everything acknowledged before).
// Then, with net faults, partitions that HOLD: one-way and bridge
// partitions that leave a majority of voters connected both ways; while
// each holds, a leader among such a majority must commit a new proposal.
//
// On a violation: the seed, the invariant, the last events and the command
// that replays the run; exit code 1. A bad flag exits 2.
#include "node_sim_parts.hpp"

#include <support/planted.hpp>
#include <support/sim_cluster.hpp>  // splitmix64
#include <support/sim_file_system.hpp>

#include <coraft/file_storage.hpp>
#include <coraft/log.hpp>
#include <coraft/memory_storage.hpp>
#include <coraft/node.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
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
#include <cstdlib>
#include <deque>
#include <exception>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace po = boost::program_options;
using asio::awaitable;
using asio::use_awaitable;
using coraft::index_t;
using coraft::log_id;
using coraft::node_id;
using coraft::term_t;
using coraft::core::role;
using coraft::test::sim_crash;
using coraft::test::sim_file_system;
using coraft::test::splitmix64;
using node_sim_parts::durable_model;

using timer_handler = asio::any_completion_handler<void(boost::system::error_code)>;

const std::vector<std::string> all_fault_classes = {"net",   "crash", "pause",      "clock", "disk",
                                                    "media", "flags", "membership", "ops"};

struct sim_options {
  std::uint64_t seed = 1;
  int nodes = 3;
  int fault_ticks = 300;
  int substeps = 4;
  int election_ticks = 10;
  int heartbeat_ticks = 1;
  int clients = 3;
  int propose_timeout_ticks = 40;
  int liveness_leader_ticks = 400;  // an agreed leader within this many ticks
  int liveness_commit_ticks = 400;  // then the new proposal everywhere within this
  int operator_ticks = 1500;        // the operators' work done within this after the faults
  int hold_ticks = 150;             // a held partition: a majority's leader commits within this
  std::size_t trace_size = 40;
  std::ostream* verbose = nullptr;
  bool file_storage = false;
  // The state machine's calls take longer than the election timeout (apply
  // per entry, capture, restore). With no faults, no node may start an
  // election once a leader is up; then the leader is paused and must be
  // replaced within pause_bound_ticks.
  bool slow_state_machine = false;
  int pause_bound_ticks = 60;
  std::set<std::string> faults;
  // Self-test of the checkers: the disk acknowledges log entries it never
  // keeps, so a restart finds a short log. The run must fail.
  bool unsafe_disk = false;
};

// Virtual time each call of a state machine takes, in sub-steps: its thread
// is busy that long after the call (node_sim::run_state_machine).
struct sm_costs {
  std::uint64_t apply = 0;  // per entry
  std::uint64_t capture = 0;
  std::uint64_t restore = 0;
  // state_machine::capture(): an image (a copy) taken for `capture / 8`
  // and written out on the snapshot thread for `capture`; else
  // save_snapshot() on the state machine's thread.
  bool split = false;
};

// Fault rates of one run (per mille), drawn first from the seed.
struct fault_profile {
  unsigned drop = 0, duplicate = 0, long_delay = 0, max_delay = 0;  // of sent messages; delays in sub-steps
  unsigned keep_queues = 0;  // a message for a down or cut-off peer waits (1) or is lost (0)
  unsigned partition = 0;    // per tick
  unsigned crash = 0;        // per tick
  unsigned power_loss = 0;   // of crashes (file storage)
  unsigned pause = 0;        // per tick
  unsigned drift = 0;        // max clock drift, per mille of a tick; jitter up to a quarter tick
  unsigned campaign = 0;     // per tick
  unsigned disk_delay = 0;   // an operation takes 0..disk_delay sub-steps
  unsigned disk_error = 0;   // per tick: an fsync fails (EIO) or the disk fills (ENOSPC) on a node
  unsigned disk_power = 0;   // per tick: arm a power loss inside a disk operation of a node
  unsigned media = 0;        // of crashes: damage found at the restart
  unsigned flags = 0;        // of restarts: other voters in the options
  unsigned membership = 0;   // per tick: an operator changes the membership
  unsigned max_append_entries = 4096;
  unsigned max_inflight = 32;
  unsigned snapshot_entries = 0;  // automatic snapshot every N applied entries (0: never)
  unsigned trailing = 0;          // entries kept behind a snapshot
  unsigned chunk = 1u << 20;      // InstallSnapshot chunk bytes
  unsigned window = 4;            // InstallSnapshot chunks in flight
  unsigned snapshot_now = 0;      // per tick: snapshot() on a random node
  unsigned transfer = 0;          // per tick: transfer_leadership() on the leader
  unsigned read = 0;              // per tick: read_index() on a random node
  unsigned padding = 0;           // commands padded with up to this many bytes
  sm_costs sm;                    // virtual time of the state machines' calls (sub-steps)
  unsigned apply_batch = 1024;    // node_options::max_apply_batch
  unsigned apply_backlog = 0;     // node_options::max_apply_backlog (0: no bound)

  std::string describe() const {
    std::ostringstream os;
    os << "drop=" << drop << " dup=" << duplicate << " long_delay=" << long_delay << " keep_queues=" << keep_queues
       << " partition=" << partition << " crash=" << crash << " power_loss=" << power_loss << " pause=" << pause
       << " campaign=" << campaign << " disk_error=" << disk_error << " disk_power=" << disk_power << " media=" << media
       << " flags=" << flags << " membership=" << membership << " (per mille); max_delay=" << max_delay
       << " disk_delay=" << disk_delay << " (sub-steps); drift=" << drift
       << " max_append_entries=" << max_append_entries << " max_inflight=" << max_inflight
       << " snapshot_entries=" << snapshot_entries << " trailing=" << trailing << " chunk=" << chunk
       << " window=" << window << " snapshot_now=" << snapshot_now << " transfer=" << transfer << " read=" << read
       << " padding=" << padding << " sm_apply=" << sm.apply << " sm_capture=" << sm.capture
       << " sm_restore=" << sm.restore << " sm_split=" << sm.split << " apply_batch=" << apply_batch
       << " apply_backlog=" << apply_backlog;
    return os.str();
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

std::string describe(const coraft::node_result<coraft::applied_command>& o) {
  if (o) return "ok index=" + std::to_string(o->index);
  return o.error().code.message() +
         (o.error().leader_hint != coraft::no_node ? " hint=" + std::to_string(o.error().leader_hint) : std::string());
}

std::string ids_str(const std::vector<node_id>& ids) {
  std::string s;
  for (node_id id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
  return "{" + s + "}";
}

// ---- a state machine that records what it applies ------------------------

struct applied_entry {
  index_t index = 0;
  std::string command;
};

class recording_state_machine final : public coraft::state_machine {
 public:
  explicit recording_state_machine(sm_costs costs = {}) : costs_(costs) {}
  // The virtual time the calls since the last take_cost() took.
  std::uint64_t take_cost() { return std::exchange(cost_, 0); }

  std::string apply(index_t index, std::string_view command) override {
    cost_ += costs_.apply;
    if (!applied_.empty() && index <= applied_.back().index && bad_.empty())
      bad_ = "applied index " + std::to_string(index) + " after " + std::to_string(applied_.back().index);
    applied_.push_back({index, std::string(command)});
    return "#" + std::to_string(applied_.size());
  }
  // The snapshot is the whole applied history, so that the checkers can
  // compare a restored state entry by entry with the global sequence.
  void save_snapshot(coraft::snapshot_writer& out) override {
    cost_ += costs_.capture;
    write_history(applied_, out);
  }
  // The split: a copy of the history now, written out later on the
  // snapshot thread (its cost counted there) while applies go on.
  std::unique_ptr<coraft::snapshot_image> capture() override {
    if (!costs_.split) return nullptr;
    cost_ += costs_.capture / 8;
    return std::make_unique<image>(applied_, persist_cost_, costs_.capture);
  }
  std::uint64_t take_persist_cost() { return std::exchange(persist_cost_, 0); }
  void restore_snapshot(coraft::snapshot_reader& in) override {
    cost_ += costs_.restore;
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
  static void write_history(const std::vector<applied_entry>& history, coraft::snapshot_writer& out) {
    std::string buf;
    for (const auto& e : history) {
      buf += std::to_string(e.index) + ' ' + std::to_string(e.command.size()) + ' ';
      buf += e.command;
    }
    out.write(std::as_bytes(std::span(buf.data(), buf.size())));
  }
  class image final : public coraft::snapshot_image {
   public:
    image(std::vector<applied_entry> history, std::uint64_t& cost, std::uint64_t each)
        : history_(std::move(history)), cost_(cost), each_(each) {}
    void write(coraft::snapshot_writer& out) override {
      cost_ += each_;
      write_history(history_, out);
    }

   private:
    std::vector<applied_entry> history_;
    std::uint64_t& cost_;
    std::uint64_t each_;
  };

  sm_costs costs_;
  std::uint64_t cost_ = 0;
  std::uint64_t persist_cost_ = 0;  // the snapshot thread's
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

// The node's storage as the simulation sees it: every operation first takes
// a seeded number of sub-steps (aborted by a crash), then runs on the real
// storage; what returns is recorded as acknowledged. A power loss the
// simulated disk raises inside an operation (sim_crash) halts the operation
// for good: the simulation then crashes the node.
class sim_storage final : public coraft::storage {
 public:
  sim_storage(node_sim& sim, node_id id, std::unique_ptr<coraft::storage> inner)
      : sim_(sim), id_(id), inner_(std::move(inner)) {}
  awaitable<coraft::recovered_state> load() override;
  awaitable<void> write(coraft::log_write w) override;
  // Forwarded to the real storage's write_queued() (file_storage takes each
  // write late, as in production), each write recorded as write() does.
  awaitable<void> write_queued(std::function<std::optional<queued_write>()> take) override;
  awaitable<std::shared_ptr<const coraft::snapshot_data>> save_snapshot(coraft::snapshot snap) override;
  std::unique_ptr<coraft::snapshot_sink> begin_snapshot(const coraft::membership& config) override;
  awaitable<coraft::snapshot> commit_snapshot(std::unique_ptr<coraft::snapshot_sink> sink, log_id last) override;
  awaitable<void> write_snapshot_chunk(coraft::snapshot_meta meta, std::uint64_t offset, coraft::payload data) override;
  awaitable<std::shared_ptr<const coraft::snapshot_data>> finish_snapshot(coraft::snapshot_meta meta) override;
  coraft::storage& inner() { return *inner_; }

 private:
  // Built outside any coroutine: g++ 12 mishandles objects moved into a
  // lambda's init-capture in a coroutine.
  std::function<std::optional<queued_write>()> recorded(std::function<std::optional<queued_write>()> take);
  awaitable<void> write_queued_recorded(std::function<std::optional<queued_write>()> take);

  node_sim& sim_;
  node_id id_;
  std::unique_ptr<coraft::storage> inner_;
};

// ---- the simulation of one seed --------------------------------------------

class node_sim {
 public:
  explicit node_sim(const sim_options& o) : opts_(o), rng_(o.seed ^ 0x6e6f64652d73696dULL), work_(ctx_.get_executor()) {
    const auto on = [&](const char* c) { return opts_.faults.count(c) != 0; };
    // Rates are drawn whether or not their class is on, so that turning a
    // class off leaves the others' draws as they were.
    const auto pick_if = [&](bool enabled, std::vector<unsigned> v) {
      const unsigned x = rng_.pick(v);
      return enabled ? x : 0u;
    };
    profile_.drop = pick_if(on("net"), {0, 10, 50, 150});
    profile_.duplicate = pick_if(on("net"), {0, 20, 100});
    profile_.long_delay = pick_if(on("net"), {0, 10, 50});
    profile_.max_delay = on("net") ? rng_.pick(std::vector<unsigned>{2, 6}) : 2;
    profile_.keep_queues = pick_if(on("net"), {0, 1, 1});
    profile_.partition = pick_if(on("net"), {0, 10, 30});
    profile_.crash = pick_if(on("crash"), {0, 10, 30});
    profile_.power_loss = pick_if(on("crash") && opts_.file_storage, {0, 500, 1000});
    profile_.pause = pick_if(on("pause"), {0, 5, 20});
    profile_.drift = pick_if(on("clock"), {0, 20, 100});
    profile_.campaign = pick_if(on("ops"), {0, 5, 20});
    profile_.disk_delay = rng_.pick(std::vector<unsigned>{0, 2, 8});
    profile_.disk_error = pick_if(on("disk") && opts_.file_storage, {0, 3, 10});
    profile_.disk_power = pick_if(on("disk") && opts_.file_storage, {0, 3, 10});
    profile_.media = pick_if(on("media") && opts_.file_storage, {0, 200, 600});
    profile_.flags = pick_if(on("flags"), {0, 200, 600});
    profile_.membership = pick_if(on("membership"), {0, 5, 15});
    profile_.max_append_entries = rng_.pick(std::vector<unsigned>{1, 3, 4096});
    profile_.max_inflight = rng_.pick(std::vector<unsigned>{1, 4, 32});
    profile_.snapshot_entries = pick_if(on("ops"), {0, 3, 10, 40});
    profile_.trailing = rng_.pick(std::vector<unsigned>{0, 1, 5});
    profile_.chunk = rng_.pick(std::vector<unsigned>{64, 512, 1u << 20});
    profile_.snapshot_now = pick_if(on("ops"), {0, 20, 100});
    profile_.transfer = pick_if(on("ops"), {0, 10, 50});
    profile_.read = pick_if(on("ops"), {0, 100, 500});
    profile_.padding = opts_.file_storage ? rng_.pick(std::vector<unsigned>{0, 300, 3000}) : 0;
    // Padded commands make snapshots of tens of KiB: in 64-byte chunks, one
    // per round trip, an install would outlast every liveness bound.
    if (profile_.padding > 0) profile_.chunk = std::max(profile_.chunk, 4096u);
    // The state machines' threads: from instant to a few ticks per call.
    profile_.sm.apply = rng_.pick(std::vector<std::uint64_t>{0, 0, 1});
    profile_.sm.capture = rng_.pick(std::vector<std::uint64_t>{0, 2, 12});
    profile_.sm.restore = rng_.pick(std::vector<std::uint64_t>{0, 2, 12});
    // Drawn apart from rng_, so that every other draw of a seed stays what
    // it was before the split existed.
    profile_.sm.split = (splitmix64(opts_.seed * 0x9e3779b97f4a7c15ull + 19).next() & 1) != 0;
    const unsigned windows[] = {1, 2, 4, 16};
    profile_.window = windows[splitmix64(opts_.seed * 0x9e3779b97f4a7c15ull + 23).next() % 4];
    profile_.apply_batch = rng_.pick(std::vector<unsigned>{1, 3, 1024});
    profile_.apply_backlog = rng_.pick(std::vector<unsigned>{0, 4, 65536});
    if (opts_.slow_state_machine) {
      // Longer than the longest election timeout (2 × election_ticks).
      const auto beyond = static_cast<std::uint64_t>(2 * opts_.election_ticks * opts_.substeps + opts_.substeps);
      profile_.sm = {beyond, 2 * beyond, 2 * beyond, profile_.sm.split};
      profile_.snapshot_entries = 3;
    }
    initial_profile_ = profile_;
    const int spares = on("membership") ? 2 : 0;
    for (int i = 1; i <= opts_.nodes + spares; ++i) servers_.push_back(static_cast<node_id>(i));
    for (int i = 1; i <= opts_.nodes; ++i) initial_voters_.push_back(static_cast<node_id>(i));
    slots_.resize(servers_.size());
    links_.emplace(servers_.size());
    for (node_id id : servers_) {
      node_slot& s = slot(id);
      s.id = id;
      if (profile_.drift > 0) {
        s.drift =
            static_cast<std::int64_t>(rng_.below(2 * profile_.drift + 1)) - static_cast<std::int64_t>(profile_.drift);
      }
      // Without clock faults every node ticks at the tick boundary; with
      // them, each in its own phase.
      s.next_tick_u = profile_.drift == 0 ? tick_period_u(s) : rng_.below(tick_period_u(s)) + 1;
      if (opts_.file_storage) s.fs = new_disk(id);
    }
  }

  ~node_sim() {
    try {
      teardown();
    } catch (...) {
    }
  }

  node_sim(const node_sim&) = delete;
  node_sim& operator=(const node_sim&) = delete;

  // Fault phase, heal, liveness, held partitions. Returns the first violation.
  std::optional<violation> run() {
    try {
      event("start: " + std::to_string(opts_.nodes) + " nodes, " + (opts_.file_storage ? "file" : "memory") +
            " storage, " + profile_.describe());
      for (node_id id : initial_voters_) start_node(id, false);
      steady_phase_ = opts_.slow_state_machine && opts_.faults.empty();
      check_all();
      for (int c = 1; c <= opts_.clients; ++c) spawn_client(c);
      for (int t = 0; t < opts_.fault_ticks; ++t) run_tick(true);
      if (opts_.slow_state_machine && opts_.faults.empty()) pause_the_leader();
      heal_all();
      run_liveness("after the faults");
      if (opts_.faults.count("net") != 0) {
        for (int round = 1; round <= 2; ++round) {
          hold_partition(round);
          run_liveness("after held partition " + std::to_string(round));
        }
      }
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
    std::ostringstream os;
    os << ticks_ << " ticks, " << events_ << " events, " << sent_ << " sent, " << delivered_ << " delivered, "
       << dropped_ << " dropped, " << held_total_ << " held for a peer, " << crashes_ << " crashes (" << power_losses_
       << " power losses, " << lost_writes_ << " writes lost in flight), " << pauses_ << " pauses, " << partitions_
       << " partitions, " << disk_errors_ << " disk errors, " << media_faults_ << " media faults, " << refusals_
       << " refusals (" << rejoins_ << " rejoined), " << flag_changes_ << " restarts with other flags, "
       << membership_changes_ << " membership changes, " << acked_.size() << "/" << proposed_.size()
       << " proposals acknowledged, " << leaders_.size() << " terms with a leader, " << global_.size()
       << " commands applied, " << reads_ok_ << " reads";
    return os.str();
  }

  // ---- called by the endpoints, storage and clients (on the io_context) ---

  void on_send(node_id from, node_id to, std::vector<coraft::message>& batch) {
    node_slot& s = slot(from);
    for (auto& m : batch) {
      ++sent_;
      check_vote(from, m);
      if (to < 1 || to > servers_.size()) continue;
      const std::string what = coraft::describe(m);
      if (s.paused_until_tick != 0) {  // a stopped process sends nothing until it continues
        s.outbox.push_back({from, to, std::move(m)});
        continue;
      }
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

  // Completes when the virtual disk has done the operation; with
  // operation_aborted when the node crashes first. A paused node's
  // operations complete only once it continues.
  awaitable<void> disk_wait(node_id id) {
    return asio::async_initiate<const asio::use_awaitable_t<>&, void(boost::system::error_code)>(
        [this, id](auto handler) {
          const std::uint64_t d = rng_.below(profile_.disk_delay + 1);
          disk_ops_.emplace(net_key{now_ + std::max<std::uint64_t>(d, 0), seq_++},
                            pending_op{id, timer_handler(std::move(handler))});
        },
        use_awaitable);
  }
  // Never completes (aborted when the node crashes): a disk operation that
  // the power loss stopped.
  awaitable<void> halt(node_id id) {
    return asio::async_initiate<const asio::use_awaitable_t<>&, void(boost::system::error_code)>(
        [this, id](auto handler) {
          disk_ops_.emplace(net_key{~std::uint64_t{0}, seq_++}, pending_op{id, timer_handler(std::move(handler))});
        },
        use_awaitable);
  }

  // Sleeps `substeps` of virtual time (clients, operators).
  awaitable<void> sleep(std::uint64_t substeps) {
    return asio::async_initiate<const asio::use_awaitable_t<>&, void(boost::system::error_code)>(
        [this, substeps](auto handler) {
          sleeps_.emplace(net_key{now_ + std::max<std::uint64_t>(1, substeps), seq_++},
                          pending_op{coraft::no_node, timer_handler(std::move(handler))});
        },
        use_awaitable);
  }

  // The storage decorator's reports.
  void on_power_failed(node_id id, const sim_crash& c) {
    node_slot& s = slot(id);
    event("node " + std::to_string(id) + ": POWER FAILED during " + c.what);
    s.power_failed = true;
  }
  void on_loaded(node_id id, const coraft::recovered_state& rs) {
    node_slot& s = slot(id);
    // The storage level: what came back holds what was acknowledged.
    if (s.acked) {
      durable_model required = *s.acked;
      std::string less = node_sim_parts::less_than_acked(rs, required);
      if (!less.empty() && s.unacked) {
        // A write whose sync failed, or that a crash stopped, may be there
        // whole: writes are all or nothing (coraft/storage.hpp).
        durable_model with = *s.acked;
        with.apply(*s.unacked);
        if (node_sim_parts::less_than_acked(rs, with).empty()) {
          less.clear();
          required = with;
        }
      }
      // (Reported by the next check: throwing here would only fail start().)
      if (!less.empty() && !deferred_)
        deferred_ =
            violation{"never a start with less",
                      "node " + std::to_string(id) + " incarnation " + std::to_string(s.incarnation) +
                          ": storage returned less than it acknowledged (" + s.acked->describe() + "): " + less};
      s.must_hold = required;  // the started node must hold it too (checked once it is up)
    }
    s.acked = durable_model::of(rs);
    s.unacked.reset();
    event("node " + std::to_string(id) + ": loaded " + s.acked->describe());
  }
  void on_writing(node_id id, const coraft::log_write& w) { slot(id).unacked = w; }
  void on_written(node_id id, const coraft::log_write& w) {
    node_slot& s = slot(id);
    if (s.acked) s.acked->apply(w);
    s.unacked.reset();
  }
  void on_saved(node_id id, const coraft::snapshot_meta& meta) {
    node_slot& s = slot(id);
    if (s.acked) s.acked->saved(meta);
  }
  bool unsafe_disk() const { return opts_.unsafe_disk; }

  coraft::node* node_ptr(node_id id) {
    node_slot& s = slot(id);
    return s.st == slot_state::up && s.paused_until_tick == 0 ? s.node.get() : nullptr;
  }
  // The state machine of the incarnation node_ptr(id) returns (kept alive
  // after it stops, like the node).
  recording_state_machine* sm_ptr(node_id id) { return slot(id).sm.get(); }
  // The highest index of a write acknowledged so far.
  index_t acked_floor() const {
    index_t top = 0;
    for (const auto& [index, cmd] : acked_) top = std::max(top, index);
    return top;
  }
  // A read that passed its barrier then queried the state machine there
  // (query_state_machine): it must see every write acknowledged before the
  // read began [thesis §6.4].
  void on_query(node_id id, index_t floor, const coraft::node_result<void>& q, index_t seen) {
    if (!q) {
      event("query on node " + std::to_string(id) + ": " + q.error().code.message());
      return;
    }
    event("query on node " + std::to_string(id) + " saw writes through " + std::to_string(seen));
    if (seen < floor)
      fail("linearizable reads", "node " + std::to_string(id) + ": a query after a read barrier saw writes through " +
                                     std::to_string(seen) + ", but the write at " + std::to_string(floor) +
                                     " was acknowledged before the read began");
  }
  const std::vector<node_id>& servers() const { return servers_; }
  splitmix64& rng() { return rng_; }
  bool clients_run() const { return clients_run_; }
  int substeps() const { return opts_.substeps; }
  int election_ticks() const { return opts_.election_ticks; }
  const fault_profile& rates() const { return profile_; }

  std::string command(const std::string& base) {
    if (profile_.padding == 0) return base;
    return base + "+" + std::string(static_cast<std::size_t>(rng_.below(profile_.padding + 1)), 'p');
  }
  void on_propose(const std::string& who, node_id to, const std::string& cmd) {
    proposed_.insert(cmd);
    ++in_flight_proposals_;
    event(who + " proposes '" + cmd.substr(0, 24) + "' to node " + std::to_string(to));
  }
  void on_outcome(const std::string& who, node_id to, const std::string& cmd,
                  const coraft::node_result<coraft::applied_command>& o) {
    --in_flight_proposals_;
    event(who + " '" + cmd.substr(0, 24) + "' on node " + std::to_string(to) + ": " + describe(o));
    if (o) {
      acked_.emplace_back(o->index, cmd);
      unverified_acks_.emplace_back(o->index, cmd);
    } else if (never_applied(o.error().code)) {
      // The node said this command will never be applied (node.hpp).
      if (global_commands_.count(cmd) != 0)
        fail("refusals never applied",
             "propose('" + cmd.substr(0, 24) + "') answered " + describe(o) + " but it was applied");
      refused_.insert(cmd);
    }
  }
  static bool never_applied(const boost::system::error_code& e) {
    using coraft::errc;
    for (errc c :
         {errc::not_leader, errc::stopped, errc::dropped, errc::overloaded, errc::transferring, errc::too_large})
      if (e == coraft::make_error_code(c)) return true;
    return false;
  }
  // Reads: linearizable means a read index at least every write index
  // acknowledged, and every read index returned, before the read began.
  index_t read_floor() const {
    index_t need = max_read_index_;
    for (const auto& [index, cmd] : acked_) need = std::max(need, index);
    return need;
  }
  std::uint64_t begin_read(node_id id) {
    const std::uint64_t key = ++read_seq_;
    node_slot& s = slot(id);
    pending_reads_[key] = {id, s.incarnation, s.node_ticks};
    return key;
  }
  void on_read(std::uint64_t key, node_id id, index_t floor, const coraft::node_result<index_t>& o) {
    pending_reads_.erase(key);
    event("read on node " + std::to_string(id) + ": " +
          (o ? "ok index=" + std::to_string(*o) : o.error().code.message()) + " (floor " + std::to_string(floor) + ")");
    if (!o) return;
    ++reads_ok_;
    if (*o < floor)
      client_error_ = "linearizable reads: read on node " + std::to_string(id) + " returned index " +
                      std::to_string(*o) + " below " + std::to_string(floor) +
                      ", acknowledged or read before it began [thesis §6.4]";
    max_read_index_ = std::max(max_read_index_, *o);
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

  // ---- operators' steps (called by their coroutines) ----------------------

  // Wipes a server's data directory and starts it empty, as a joiner.
  void wipe_and_start_joiner(node_id id) {
    node_slot& s = slot(id);
    event("operator: wipe node " + std::to_string(id) + " and start it empty with --join");
    if (s.fs) retired_fs_.push_back(std::move(s.fs));
    if (opts_.file_storage) s.fs = new_disk(id);
    s.mem = {};
    s.acked.reset();
    s.unacked.reset();
    s.must_hold.reset();
    ++s.identity;  // a new server as far as votes go (the old one was removed first)
    s.media_damaged = false;
    s.disk_fault = false;
    start_node(id, true);
  }
  // A server taken out of the cluster for good: stopped and wiped, it is a
  // spare that may join again later as a new server.
  void retire_server(node_id id) {
    node_slot& s = slot(id);
    if (s.st == slot_state::up || s.st == slot_state::starting) {
      merge_sm(id);
      s.endpoint->attached = false;
      stop_node(id);
    }
    drop_queues_of(id);
    event("operator: node " + std::to_string(id) + " stopped and wiped (a spare now)");
    if (s.fs) retired_fs_.push_back(std::move(s.fs));
    if (opts_.file_storage) s.fs = new_disk(id);
    s.mem = {};
    s.acked.reset();
    s.unacked.reset();
    s.must_hold.reset();
    ++s.identity;
    s.media_damaged = s.disk_fault = false;
    s.restart_at_tick = 0;
    s.paused_until_tick = 0;
    s.st = slot_state::never;
  }
  void start_joiner(node_id id) {
    node_slot& s = slot(id);
    if (s.st == slot_state::never) {
      event("operator: start node " + std::to_string(id) + " with --join");
      start_node(id, true);
    }
  }
  bool is_up(node_id id) { return slot(id).st == slot_state::up; }
  bool is_refused(node_id id) { return slot(id).st == slot_state::refused; }
  // No server is refused or carries damage that its next start will find.
  bool all_servers_sound() const {
    return std::none_of(slots_.begin(), slots_.end(),
                        [](const node_slot& x) { return x.media_damaged || x.st == slot_state::refused; });
  }
  void operator_done(const std::string& what) {
    operator_busy_ = false;
    rejoin_running_ = false;
    ++membership_changes_;
    event("operator: " + what);
  }
  void count_rejoin() { ++rejoins_; }
  bool operators_idle() const { return !operator_busy_ && refused_queue_.empty(); }

  std::optional<std::pair<index_t, std::string>> live_result;
  index_t live_floor = 0;
  std::vector<node_id> live_targets;  // where the live proposal must be proposed (held partitions)
  int live_counter = 0;

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
  enum class slot_state { never, starting, up, down, refused };
  struct pending_read_info {
    node_id id;
    int incarnation;
    std::uint64_t ticks_at_start;
  };
  struct node_slot {
    // First: destroyed last, after the node and storage that use it.
    std::unique_ptr<sim_file_system> fs;  // file storage: the disk, across incarnations
    node_id id = 0;
    int incarnation = 0;
    int identity = 0;  // bumped by a wipe: a new server under the same id
    slot_state st = slot_state::never;
    std::unique_ptr<virtual_endpoint> endpoint;
    std::unique_ptr<sim_storage> storage;
    std::unique_ptr<recording_state_machine> sm;
    // The state machine's thread: an io_context of its own, run one call at
    // a time by run_state_machine(), busy until sm_busy_until after each.
    std::unique_ptr<asio::io_context> sm_ctx;
    std::uint64_t sm_busy_until = 0;
    // The snapshot thread (node_options::snapshot_executor), likewise.
    std::unique_ptr<asio::io_context> snap_ctx;
    std::uint64_t snap_busy_until = 0;
    std::unique_ptr<coraft::node> node;
    coraft::recovered_state mem;               // memory storage: what survives a crash
    std::optional<durable_model> acked;        // what storage acknowledged as durable
    std::optional<coraft::log_write> unacked;  // a write begun and not acknowledged (failed, or cut by a crash)
    std::optional<durable_model> must_hold;    // what the node just started must hold
    bool joiner = false;                       // bootstrap configuration empty (joins through the operator)
    bool media_damaged = false;                // damage done to its files since its last start: it may refuse
    bool disk_fault = false;                   // an injected disk error since its last start: it may fail
    bool enospc = false;                       // its disk is full until it restarts
    bool power_failed = false;                 // a power loss inside a disk operation: crash it
    std::optional<std::string> fatal;          // on_fatal
    std::optional<std::string> start_error;    // start() threw (not because it was stopped)
    bool start_error_io = false;               // ... with an I/O error (else it refused its data)
    std::uint64_t restart_at_tick = 0;
    std::uint64_t paused_until_tick = 0;
    std::vector<in_flight> outbox;  // sent while paused
    // Its clock: a tick every tick_period_u micro-sub-steps (drift), jittered.
    std::int64_t drift = 0;
    std::uint64_t next_tick_u = 0;
    std::uint64_t node_ticks = 0;
    // Per incarnation: what the checkers last saw.
    std::size_t verified = 0;
    int seen_restores = 0;
    term_t last_term = 0;
    index_t last_commit = 0;
    std::string last_status;
  };

  node_slot& slot(node_id id) { return slots_.at(static_cast<std::size_t>(id - 1)); }
  const node_slot& slot(node_id id) const { return slots_.at(static_cast<std::size_t>(id - 1)); }

  std::uint64_t tick_period_u(const node_slot& s) const {
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(opts_.substeps) * (1000 + s.drift));
  }

  std::unique_ptr<sim_file_system> new_disk(node_id id) {
    auto fs = std::make_unique<sim_file_system>(opts_.seed * 1000003 + id * 7919 +
                                                static_cast<std::uint64_t>(slot(id).identity));
    fs->strict_directories(true);
    return fs;
  }

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
      if (rounds > 100000) fail("quiescence", "the io_context never ran out of ready handlers (a busy loop)");
    }
  }

  // ---- votes: one per term per server, across crashes ---------------------

  void check_vote(node_id from, const coraft::message& m) {
    const auto* r = std::get_if<coraft::vote_response>(&m.body);
    if (r == nullptr || r->pre_vote || !r->granted) return;
    const auto key = std::make_tuple(from, slot(from).identity, m.term);
    auto [it, inserted] = votes_.try_emplace(key, m.to);
    if (!inserted && it->second != m.to)
      fail("one vote per term", "node " + std::to_string(from) + " granted its vote in term " + std::to_string(m.term) +
                                    " to node " + std::to_string(it->second) + " and then to node " +
                                    std::to_string(m.to) + " (it forgot the first across a restart?) [§5.2]");
  }

  // ---- node lifecycle -----------------------------------------------------

  coraft::node_options make_options(node_id id, int incarnation, bool joiner) {
    node_slot& s = slot(id);
    coraft::node_options o;
    o.raft.id = id;
    o.raft.election_ticks = opts_.election_ticks;
    o.raft.heartbeat_ticks = opts_.heartbeat_ticks;
    o.raft.max_append_entries = profile_.max_append_entries;
    o.raft.max_inflight = profile_.max_inflight;
    o.raft.seed = splitmix64(opts_.seed * 131 + id * 17 + static_cast<std::uint64_t>(incarnation)).next() | 1;
    o.incarnation_id = splitmix64(opts_.seed * 7919 + id * 31 + static_cast<std::uint64_t>(incarnation)).next() | 1;
    if (!joiner) o.voters = initial_voters_;
    // An operator restarting with other members named: once the directory
    // holds state, the stored bootstrap configuration must win. (An empty
    // directory given other members simply bootstraps another cluster, as
    // any Raft would: that is no restart, and not this fault.)
    if (s.incarnation > 1 && s.acked && rng_.per_mille(profile_.flags)) {
      ++flag_changes_;
      std::vector<node_id> other{id};
      for (node_id v : initial_voters_)
        if (v != id && rng_.per_mille(300)) other.push_back(v);
      std::sort(other.begin(), other.end());
      event("node " + std::to_string(id) + " restarts with other flags: voters " + ids_str(other));
      o.voters = other;
    }
    o.tick_interval = std::chrono::milliseconds(0);
    o.state_machine_executor = s.sm_ctx->get_executor();
    o.snapshot_executor = s.snap_ctx->get_executor();
    o.max_apply_batch = profile_.apply_batch;
    o.max_apply_backlog = profile_.apply_backlog;
    o.propose_timeout_ticks = opts_.propose_timeout_ticks;
    o.snapshot_entries = profile_.snapshot_entries;
    o.snapshot_log_bytes = 0;
    o.snapshot_trailing_entries = profile_.trailing;
    o.raft.max_snapshot_chunk = profile_.chunk;
    o.raft.max_snapshot_chunks_inflight = profile_.window;
    o.on_fatal = [this, id, incarnation](const std::string& why) {
      node_slot& sl = slot(id);
      if (sl.incarnation != incarnation) return;
      event("node " + std::to_string(id) + ": FATAL " + why);
      sl.fatal = why;
    };
    return o;
  }

  std::unique_ptr<coraft::storage> make_storage(node_id id) {
    node_slot& s = slot(id);
    if (!opts_.file_storage) return std::make_unique<coraft::memory_storage>(s.mem);
    coraft::file_storage_options fo;
    fo.dir = "/data";
    fo.id = id;
    fo.cluster_id = "sim";
    fo.segment_bytes = 16 * 1024;
    fo.sync = true;
    fo.prepare_spare_segment = false;       // a helper thread would break determinism
    fo.incoming_snapshot_sync_bytes = 200;  // snapshots here are small: resumes must happen
    fo.new_data_id = splitmix64(opts_.seed * 31 + id * 131 + static_cast<std::uint64_t>(s.identity)).next() | 1;
    fo.io_executor = ctx_.get_executor();
    fo.log = [this, id](const std::string& line) { event("node " + std::to_string(id) + " storage: " + line); };
    return std::make_unique<coraft::file_storage>(fo, s.fs->borrow());
  }

  void retire(node_slot& s) {
    if (s.node) retired_nodes_.push_back(std::move(s.node));
    if (s.storage) retired_storage_.push_back(std::move(s.storage));
    if (s.endpoint) retired_endpoints_.push_back(std::move(s.endpoint));
    if (s.sm) retired_sms_.push_back(std::move(s.sm));
    if (s.sm_ctx) retired_sm_ctxs_.push_back(std::move(s.sm_ctx));
    if (s.snap_ctx) retired_sm_ctxs_.push_back(std::move(s.snap_ctx));
  }

  void start_node(node_id id, bool joiner) {
    node_slot& s = slot(id);
    retire(s);
    ++s.incarnation;
    s.joiner = joiner;
    s.st = slot_state::starting;
    s.fatal.reset();
    s.start_error.reset();
    s.start_error_io = false;
    s.power_failed = false;
    s.paused_until_tick = 0;
    s.outbox.clear();
    s.node_ticks = 0;
    s.verified = 0;
    s.seen_restores = 0;
    s.last_term = 0;
    s.last_commit = 0;
    s.last_status.clear();
    event("start node " + std::to_string(id) + " incarnation " + std::to_string(s.incarnation) +
          (joiner ? " (joining)" : ""));
    s.endpoint = std::make_unique<virtual_endpoint>(*this, id);
    s.storage = std::make_unique<sim_storage>(*this, id, make_storage(id));
    s.sm = std::make_unique<recording_state_machine>(profile_.sm);
    s.sm_ctx = std::make_unique<asio::io_context>(1);
    s.sm_busy_until = 0;
    s.snap_ctx = std::make_unique<asio::io_context>(1);
    s.snap_busy_until = 0;
    s.node = std::make_unique<coraft::node>(ctx_.get_executor(), make_options(id, s.incarnation, joiner), *s.storage,
                                            *s.endpoint, *s.sm);
    const int incarnation = s.incarnation;
    asio::co_spawn(ctx_, s.node->start(), [this, id, incarnation](std::exception_ptr e) {
      node_slot& sl = slot(id);
      if (sl.incarnation != incarnation || sl.st != slot_state::starting) return;
      if (!e) {
        sl.st = slot_state::up;
        sl.media_damaged = false;  // found (or harmless) by this start
        sl.disk_fault = false;
        event("node " + std::to_string(id) + " incarnation " + std::to_string(incarnation) + " started");
        release_held();
        // Clients that were reading from this node retry as soon as it
        // answers again.
        if (profile_.read > 0 && incarnation > 1 && clients_run_)
          for (int k = 0; k < 3; ++k)
            spawn_late_read(id, rng_.between(1, 4 * static_cast<std::uint64_t>(opts_.substeps)));
        return;
      }
      try {
        std::rethrow_exception(e);
      } catch (const boost::system::system_error& se) {
        if (se.code() == coraft::make_error_code(coraft::errc::stopped) || se.code() == asio::error::operation_aborted)
          return;  // crashed while starting
        sl.start_error = se.what();
        sl.start_error_io = true;  // the disk failed (EIO, ENOSPC): not a refusal
      } catch (const std::exception& ex) {
        sl.start_error = ex.what();
      }
    });
    poll_idle();
  }

  // The process stops (SIGKILL); with `power`, the machine loses power too:
  // what the disk synced survives, torn as `mode` says.
  void crash(node_id id, bool power, const char* why) {
    node_slot& s = slot(id);
    ++crashes_;
    if (power) ++power_losses_;
    event(std::string(power ? "POWER LOSS" : "CRASH") + " node " + std::to_string(id) + " incarnation " +
          std::to_string(s.incarnation) + " (" + why + ")");
    if (s.node) {
      merge_sm(id);  // what it applied counts
      s.endpoint->attached = false;
      stop_node(id);
    }
    drop_queues_of(id);
    s.st = slot_state::down;
    s.paused_until_tick = 0;
    s.outbox.clear();
    if (s.fs) {
      // Debugging aid: NODE_SIM_FS_TRACE=1 puts the disk's last operations
      // into the trace at every crash.
      if (std::getenv("NODE_SIM_FS_TRACE") != nullptr) {
        const auto ops = s.fs->ops();
        for (std::size_t i = ops.size() > 30 ? ops.size() - 30 : 0; i < ops.size(); ++i) event("  fs op " + ops[i]);
      }
      s.fs->close_all();
      // The disk may have lost power in an operation no storage call
      // reported (the node was already stopping): that is a power failure too.
      if (power || s.power_failed || s.fs->crashed()) {
        const unsigned k = static_cast<unsigned>(rng_.below(3));
        const auto mode = k == 0   ? sim_file_system::drop_unsynced()
                          : k == 1 ? sim_file_system::torn_random()
                                   : sim_file_system::torn_pages();
        s.fs->crash(mode);
      }
      s.fs->clear_faults();
    }
    s.power_failed = false;
    s.enospc = false;
    if (s.fs && rng_.per_mille(profile_.media) && may_damage(id)) damage_files(id);
    s.restart_at_tick = ticks_ + rng_.between(5, 6 * static_cast<std::uint64_t>(opts_.election_ticks));
  }

  void stop_node(node_id id) {
    node_slot& s = slot(id);
    bool done = false;
    std::exception_ptr err;
    asio::co_spawn(ctx_, s.node->stop(), [&done, &err](std::exception_ptr e) {
      done = true;
      err = e;
    });
    drain_state_machine(s);
    // The log writer may be waiting on the disk: that operation is lost.
    for (auto it = disk_ops_.begin(); it != disk_ops_.end();) {
      if (it->second.owner == id) {
        ++lost_writes_;
        event("node " + std::to_string(id) + ": disk operation in flight lost");
        asio::post(ctx_, asio::append(std::move(it->second.handler),
                                      boost::system::error_code(asio::error::operation_aborted)));
        it = disk_ops_.erase(it);
      } else {
        ++it;
      }
    }
    drain_state_machine(s);
    if (!done) fail("stop", "node " + std::to_string(id) + ": stop() did not complete");
    if (err) fail("stop", "node " + std::to_string(id) + ": stop() threw");
    if (!opts_.file_storage && s.storage) s.mem = static_cast<coraft::memory_storage&>(s.storage->inner()).durable();
    retire(s);
  }

  // A stop waits for the state machine's call in progress (a stop sets the
  // flag that cuts a batch short): run its thread with no virtual cost.
  void drain_state_machine(node_slot& s) {
    poll_idle();
    for (int rounds = 0; s.sm_ctx; ++rounds) {
      if (s.sm_ctx->stopped()) s.sm_ctx->restart();
      if (s.snap_ctx->stopped()) s.snap_ctx->restart();
      if (s.sm_ctx->poll() + s.snap_ctx->poll() == 0) break;
      poll_idle();
      if (rounds > 100000) fail("quiescence", "a state machine's thread never ran out of calls");
    }
    if (s.sm) {
      (void)s.sm->take_cost();
      (void)s.sm->take_persist_cost();
    }
  }

  // The state machine's thread of a running node: its next call once the
  // last one's virtual cost has passed. (A call's results reach the node as
  // it starts and its cost is paid after it: the same throughput and
  // backlog as a thread that answers at the end, one call earlier.)
  void run_state_machine(node_slot& s) {
    if (!s.node || !s.sm_ctx || s.paused_until_tick != 0) return;
    if (s.st != slot_state::up && s.st != slot_state::starting) return;
    if (const std::uint64_t cost = s.sm->take_cost(); cost > 0) {
      // Calls made outside its thread (the planted state-machine-on-strand):
      // the node's strand was busy meanwhile, as a paused process is.
      const auto ticks = (cost + static_cast<std::uint64_t>(opts_.substeps) - 1) / opts_.substeps;
      s.paused_until_tick = ticks_ + ticks;
      event("node " + std::to_string(s.id) + " strand busy in its state machine for " + std::to_string(ticks) +
            " ticks");
      return;
    }
    while (now_ >= s.snap_busy_until) {
      if (s.snap_ctx->stopped()) s.snap_ctx->restart();
      if (s.snap_ctx->poll_one() == 0) break;
      if (const std::uint64_t cost = s.sm->take_persist_cost(); cost > 0) {
        s.snap_busy_until = now_ + cost;
        event("node " + std::to_string(s.id) + " snapshot thread busy for " + std::to_string(cost) + " sub-steps");
      }
    }
    while (now_ >= s.sm_busy_until) {
      if (s.sm_ctx->stopped()) s.sm_ctx->restart();
      if (s.sm_ctx->poll_one() == 0) return;
      if (const std::uint64_t cost = s.sm->take_cost(); cost > 0) {
        s.sm_busy_until = now_ + cost;
        event("node " + std::to_string(s.id) + " state machine busy for " + std::to_string(cost) + " sub-steps");
      }
    }
  }

  // ---- media damage (found at the next start) ------------------------------

  // Damage that makes a node refuse takes it out until an operator rebuilds
  // it from the others: only one server at a time, and only while three or
  // more voters remain (else no majority could remove it and nothing could
  // be proven: the cluster would rightly stay down).
  bool may_damage(node_id id) const {
    // With a change in flight the voters may be about to be two: losing
    // one of them then leaves no majority until an operator forces a
    // reconfiguration, which no Raft can do safely by itself.
    if (last_voters_.size() < 3 || operator_busy_ || config_in_flight_) return false;
    for (node_id o : servers_) {
      const node_slot& x = slot(o);
      if (o != id && (x.media_damaged || x.st == slot_state::refused)) return false;
    }
    return refused_queue_.empty() && !rejoin_running_;
  }

  void damage_files(node_id id) {
    node_slot& s = slot(id);
    sim_file_system& fs = *s.fs;
    if (!fs.exists("/data")) return;
    std::vector<std::string> segs, snaps;
    for (const auto& n : fs.names("/data")) {
      if (n.rfind("wal-", 0) == 0) segs.push_back(n);
      if (n.rfind("snap-", 0) == 0) snaps.push_back(n);
    }
    std::sort(segs.begin(), segs.end());
    std::sort(snaps.begin(), snaps.end());
    const unsigned kind = static_cast<unsigned>(rng_.below(7));
    std::string what;
    if (kind == 0 && !segs.empty()) {
      // Bits flipped in a segment, before its newest durable write: damage
      // to a write that a later durable write follows. (Damage to the newest
      // durable write of the last segment looks exactly like a write that a
      // power loss cut, in this log as in any: left alone.)
      const std::string& name = segs[static_cast<std::size_t>(rng_.below(segs.size()))];
      const std::string path = "/data/" + name;
      const bool last = name == segs.back();
      const std::uint64_t end = last ? fs.newest_synced_write_offset(path) : fs.contents(path).size();
      if (end < 40) return;
      const std::uint64_t at = rng_.below(end);
      fs.flip_bit(path, at, static_cast<int>(rng_.below(8)));
      what = "bit flipped in " + path + " at " + std::to_string(at);
    } else if (kind == 1 && !snaps.empty()) {
      const std::string path = "/data/" + snaps.back();
      const auto size = fs.contents(path).size();
      if (size == 0) return;
      fs.flip_bit(path, rng_.below(size), static_cast<int>(rng_.below(8)));
      what = "newest snapshot " + path + " damaged";
    } else if (kind == 2 && !snaps.empty()) {
      fs.remove("/data/" + snaps.back());
      fs.sync_dir("/data");
      what = "newest snapshot /data/" + snaps.back() + " deleted";
    } else if (kind == 3 && snaps.size() >= 2) {
      // A restore from an old backup of one file: the previous snapshot's
      // bytes under the newest one's name.
      const auto old = fs.contents("/data/" + snaps[snaps.size() - 2]);
      const std::string path = "/data/" + snaps.back();
      fs.cut(path, 0);
      fs.overwrite(path, 0, old);
      what = "newest snapshot " + path + " rolled back to the previous one's bytes";
    } else if (kind == 4 && !segs.empty()) {
      // A file cut short (a copy that stopped, a file system repair).
      const std::string path = "/data/" + segs.back();
      const auto size = fs.contents(path).size();
      if (size < 2) return;
      const std::uint64_t at = rng_.below(size);
      fs.cut(path, at);
      what = "newest segment " + path + " cut to " + std::to_string(at) + " bytes";
    } else if (kind == 5 && segs.size() >= 2) {
      fs.remove("/data/" + segs.back());
      fs.sync_dir("/data");
      what = "newest segment /data/" + segs.back() + " deleted";
    } else if (kind == 6 && !segs.empty()) {
      for (const auto& n : segs) fs.remove("/data/" + n);
      fs.sync_dir("/data");
      what = "every segment deleted";
    } else {
      return;
    }
    ++media_faults_;
    s.media_damaged = true;
    event("MEDIA node " + std::to_string(id) + ": " + what);
  }

  // ---- clients and operators ----------------------------------------------

  void spawn_client(int c);
  void spawn_late_read(node_id id, std::uint64_t after);
  enum class op_kind { read, transfer, snapshot };
  void spawn_op(node_id id, op_kind kind, node_id to);
  void spawn_operator(int kind, node_id id);

  // ---- the network ---------------------------------------------------------

  bool reachable(node_id from, node_id to) const { return links_->up(from, to); }

  // A message for a peer that is down, cut off or paused: kept for it
  // (bounded, oldest dropped, as the TCP transport's queue) or lost.
  void hold_or_drop(in_flight f, const char* why) {
    const node_slot& d = slot(f.to);
    if (d.paused_until_tick != 0 && d.st == slot_state::up && reachable(f.from, f.to)) {
      paused_inbox_[f.to].push_back(std::move(f));  // waits in its socket buffer
      return;
    }
    if (profile_.keep_queues == 0) {
      ++dropped_;
      event("lost " + coraft::describe(f.m) + " (" + why + ")");
      return;
    }
    auto& q = held_[{f.from, f.to}];
    q.push_back(std::move(f));
    ++held_total_;
    if (q.size() > 64) {
      q.pop_front();
      ++dropped_;
    }
  }

  // Held messages whose peer can take them now go out again, in order,
  // once the sender has reconnected (a backoff of up to a few ticks) and
  // spread over sub-steps as the peer reads them — a node that just
  // restarted may learn the leader from an old heartbeat in the queue and
  // take new requests before the rest of it arrives.
  void release_held() {
    for (auto it = held_.begin(); it != held_.end();) {
      const auto [from, to] = it->first;
      if (slot(to).st == slot_state::up && slot(to).paused_until_tick == 0 && reachable(from, to)) {
        std::uint64_t at = now_ + rng_.between(1, 3 * static_cast<std::uint64_t>(opts_.substeps));
        for (auto& f : it->second) {
          event("release held " + coraft::describe(f.m) + " at " + std::to_string(at));
          network_.emplace(net_key{at, seq_++}, std::move(f));
          if (rng_.per_mille(300)) ++at;
        }
        it = held_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // A crashed process's own queues die with it.
  void drop_queues_of(node_id id) {
    for (auto it = held_.begin(); it != held_.end();) {
      if (it->first.first == id)
        it = held_.erase(it);
      else
        ++it;
    }
    paused_inbox_.erase(id);
  }

  // ---- time ---------------------------------------------------------------

  void run_substep(bool faults) {
    ++now_;
    // Disk operations and client wake-ups due now (a paused node's wait).
    for (auto it = disk_ops_.begin(); it != disk_ops_.end() && it->first.first <= now_;) {
      if (slot(it->second.owner).paused_until_tick != 0) {
        ++it;
        continue;
      }
      asio::post(ctx_, asio::append(std::move(it->second.handler), boost::system::error_code()));
      it = disk_ops_.erase(it);
    }
    for (auto it = sleeps_.begin(); it != sleeps_.end() && it->first.first <= now_;) {
      asio::post(ctx_, asio::append(std::move(it->second.handler), boost::system::error_code()));
      it = sleeps_.erase(it);
    }
    poll_idle();
    check_starts();  // before anything reaches a node that just started
    // Messages due now, in send order.
    while (!network_.empty() && network_.begin()->first.first <= now_) {
      in_flight f = std::move(network_.begin()->second);
      network_.erase(network_.begin());
      const node_slot& d = slot(f.to);
      if (d.st != slot_state::up || !reachable(f.from, f.to) || d.paused_until_tick != 0) {
        hold_or_drop(std::move(f), d.st != slot_state::up ? "down" : !reachable(f.from, f.to) ? "cut off" : "paused");
        continue;
      }
      ++delivered_;
      event("deliver " + coraft::describe(f.m));
      std::vector<coraft::message> batch;
      batch.push_back(std::move(f.m));
      d.node->deliver(std::move(batch));
    }
    poll_idle();
    for (node_id id : servers_) run_state_machine(slot(id));
    poll_idle();
    // Each node's own clock.
    for (node_id id : servers_) {
      node_slot& s = slot(id);
      while (now_ * 1000 >= s.next_tick_u) {
        const std::uint64_t period = tick_period_u(s);
        if (profile_.drift == 0)
          s.next_tick_u += period;  // every node at every tick boundary
        else
          s.next_tick_u += period - period / 8 + rng_.below(period / 4 + 1);  // jitter
        if (s.st == slot_state::up && s.paused_until_tick == 0) {
          ++s.node_ticks;
          s.node->tick();
        }
      }
    }
    poll_idle();
    if (now_ % static_cast<std::uint64_t>(opts_.substeps) == 0) {
      ++ticks_;
      event("tick " + std::to_string(ticks_));
      for (node_id id : servers_) {
        node_slot& s = slot(id);
        if (s.st == slot_state::down && s.restart_at_tick != 0 && s.restart_at_tick <= ticks_) {
          s.restart_at_tick = 0;
          start_node(id, s.joiner);
        }
        if (s.paused_until_tick != 0 && s.paused_until_tick <= ticks_) resume(id);
      }
      if (heal_at_tick_ != 0 && heal_at_tick_ <= ticks_) heal_partition();
      if (faults) inject_faults();
      poll_idle();
    }
    check_all();
  }

  void run_tick(bool faults) {
    for (int k = 0; k < opts_.substeps; ++k) run_substep(faults);
  }

  // ---- faults -------------------------------------------------------------

  // --slow-state-machine: a paused leader (no ticks, no messages) must still
  // be replaced within pause_bound_ticks, state machines slow or not.
  void pause_the_leader() {
    steady_phase_ = false;
    node_id leader = 0;
    term_t term = 0;
    const auto st = statuses();
    for (node_id id : servers_)
      if (st[id - 1] && st[id - 1]->state == role::leader && st[id - 1]->term >= term) {
        leader = id;
        term = st[id - 1]->term;
      }
    if (leader == 0) fail("leadership stays put", "no leader at the end of a run with no faults");
    slot(leader).paused_until_tick = ticks_ + 10 * static_cast<std::uint64_t>(opts_.pause_bound_ticks);
    event("PAUSE leader " + std::to_string(leader) + " (term " + std::to_string(term) + ")");
    for (int t = 1; t <= opts_.pause_bound_ticks; ++t) {
      run_tick(false);
      for (const auto& [leader_term, id] : leaders_)
        if (leader_term > term && id != leader) {
          event("node " + std::to_string(id) + " leads term " + std::to_string(leader_term) + " after " +
                std::to_string(t) + " ticks");
          resume(leader);
          return;
        }
    }
    fail("a paused leader is replaced", "node " + std::to_string(leader) + " paused in term " + std::to_string(term) +
                                            ": no other leader within " + std::to_string(opts_.pause_bound_ticks) +
                                            " ticks");
  }

  std::vector<node_id> up_nodes() const {
    std::vector<node_id> v;
    for (node_id id : servers_)
      if (slot(id).st == slot_state::up && slot(id).paused_until_tick == 0) v.push_back(id);
    return v;
  }

  node_id known_leader() const {
    node_id best = coraft::no_node;
    term_t best_term = 0;
    for (node_id id : servers_) {
      const auto it = last_role_.find(id);
      if (slot(id).st == slot_state::up && it != last_role_.end() && it->second.first == role::leader &&
          it->second.second >= best_term) {
        best = id;
        best_term = it->second.second;
      }
    }
    return best;
  }

  node_id pick_victim(const std::vector<node_id>& among) {
    node_id victim = rng_.pick(among);
    const node_id leader = known_leader();
    if (leader != coraft::no_node && rng_.per_mille(500) &&
        std::find(among.begin(), among.end(), leader) != among.end())
      victim = leader;
    return victim;
  }

  void inject_faults() {
    if (rng_.per_mille(profile_.crash)) {
      const auto up = up_nodes();
      if (!up.empty()) crash(pick_victim(up), rng_.per_mille(profile_.power_loss), "fault");
    }
    if (rng_.per_mille(profile_.pause)) {
      const auto up = up_nodes();
      if (!up.empty()) {
        const node_id id = pick_victim(up);
        ++pauses_;
        slot(id).paused_until_tick = ticks_ + rng_.between(2, 4 * static_cast<std::uint64_t>(opts_.election_ticks));
        event("PAUSE node " + std::to_string(id) + " until tick " + std::to_string(slot(id).paused_until_tick));
      }
    }
    if (heal_at_tick_ == 0 && rng_.per_mille(profile_.partition)) {
      ++partitions_;
      const std::string desc = random_partition(false);
      heal_at_tick_ = ticks_ + rng_.between(5, 8 * static_cast<std::uint64_t>(opts_.election_ticks));
      event("PARTITION " + desc + " (" + links_->describe() + ") until tick " + std::to_string(heal_at_tick_));
    }
    if (rng_.per_mille(profile_.disk_error)) {
      const auto up = up_nodes();
      if (!up.empty()) {
        const node_id id = pick_victim(up);
        node_slot& s = slot(id);
        ++disk_errors_;
        s.disk_fault = true;
        if (rng_.per_mille(500)) {
          const std::uint64_t k = rng_.below(4);
          s.fs->fail_sync_after(k, EIO);
          event("DISK node " + std::to_string(id) + ": sync " + std::to_string(k + 1) + " from now fails with EIO");
        } else {
          std::uint64_t used = 0;
          for (const auto& n : s.fs->names("/data")) used += s.fs->contents("/data/" + n).size();
          s.fs->set_capacity(used + rng_.below(2000));
          s.enospc = true;
          event("DISK node " + std::to_string(id) + ": full (ENOSPC) until it restarts");
        }
      }
    }
    if (rng_.per_mille(profile_.disk_power)) {
      const auto up = up_nodes();
      if (!up.empty()) {
        const node_id id = pick_victim(up);
        const std::uint64_t k = rng_.between(1, 12);
        slot(id).fs->crash_after(k);
        event("DISK node " + std::to_string(id) + ": power fails after " + std::to_string(k) + " more disk operations");
      }
    }
    if (rng_.per_mille(profile_.snapshot_now)) {
      const auto up = up_nodes();
      if (!up.empty()) spawn_op(rng_.pick(up), op_kind::snapshot, coraft::no_node);
    }
    if (rng_.per_mille(profile_.transfer)) {
      const node_id leader = known_leader();
      if (leader != coraft::no_node && node_ptr(leader) != nullptr) {
        node_id to = coraft::no_node;  // best candidate, or a named server (maybe itself: refused)
        if (rng_.per_mille(500)) to = rng_.pick(servers_);
        spawn_op(leader, op_kind::transfer, to);
      }
    }
    if (rng_.per_mille(profile_.read)) {
      const auto up = up_nodes();
      if (!up.empty()) spawn_op(rng_.pick(up), op_kind::read, coraft::no_node);
    }
    if (rng_.per_mille(profile_.campaign)) {
      const auto up = up_nodes();
      if (!up.empty()) {
        const node_id id = rng_.pick(up);
        event("campaign node " + std::to_string(id));
        slot(id).node->campaign();
      }
    }
    if (rng_.per_mille(profile_.membership) && operators_idle()) {
      operator_busy_ = true;
      const int kinds[] = {0, 1, 2, 4};
      spawn_operator(kinds[rng_.below(4)], coraft::no_node);
    }
  }

  // Cuts links into one of the partition shapes; `keep_majority` makes sure
  // a majority of `voters` stays connected both ways (held partitions).
  std::string random_partition(bool keep_majority, const std::vector<node_id>& voters = {}) {
    links_->heal();
    const std::size_t n = servers_.size();
    const unsigned shape = static_cast<unsigned>(rng_.below(4));
    std::string desc;
    if (shape == 0) {  // one server cut off both ways
      const node_id v = keep_majority ? rng_.pick(servers_) : pick_victim(servers_);
      for (node_id o : servers_)
        if (o != v) {
          links_->cut(v, o);
          links_->cut(o, v);
        }
      desc = "isolate node " + std::to_string(v);
    } else if (shape == 1) {  // two halves
      std::vector<int> side(n);
      for (auto& g : side) g = static_cast<int>(rng_.below(2));
      for (node_id a : servers_)
        for (node_id b : servers_)
          if (side[a - 1] != side[b - 1]) links_->cut(a, b);
      desc = "split";
      for (node_id a : servers_) desc += " " + std::to_string(a) + ":" + std::to_string(side[a - 1]);
    } else if (shape == 2) {  // one-way cuts
      const node_id v = keep_majority ? rng_.pick(servers_) : pick_victim(servers_);
      const bool outbound = rng_.per_mille(500);
      for (node_id o : servers_)
        if (o != v && rng_.per_mille(700)) outbound ? links_->cut(v, o) : links_->cut(o, v);
      desc = std::string("one-way: node ") + std::to_string(v) + (outbound ? " cannot send" : " cannot receive");
    } else {  // a bridge: two sides reach a middle server, not each other
      const node_id middle = rng_.pick(servers_);
      std::vector<int> side(n);
      for (node_id a : servers_) side[a - 1] = a == middle ? 2 : static_cast<int>(rng_.below(2));
      for (node_id a : servers_)
        for (node_id b : servers_)
          if (side[a - 1] + side[b - 1] == 1) links_->cut(a, b);  // 0 and 1 only
      desc = "bridge through node " + std::to_string(middle) + ":";
      for (node_id a : servers_) desc += " " + std::to_string(a) + ":" + std::to_string(side[a - 1]);
    }
    if (keep_majority && links_->largest_clique(voters).size() < voters.size() / 2 + 1)
      return random_partition(true, voters);
    return desc;
  }

  void heal_partition() {
    heal_at_tick_ = 0;
    links_->heal();
    event("HEAL partition");
    release_held();
  }

  void resume(node_id id) {
    node_slot& s = slot(id);
    s.paused_until_tick = 0;
    event("CONTINUE node " + std::to_string(id));
    // What it sent while stopped goes out; what arrived is read now.
    for (auto& f : s.outbox) {
      std::vector<coraft::message> one;
      one.push_back(std::move(f.m));
      on_send(f.from, f.to, one);
    }
    s.outbox.clear();
    if (auto it = paused_inbox_.find(id); it != paused_inbox_.end()) {
      for (auto& f : it->second) network_.emplace(net_key{now_ + 1, seq_++}, std::move(f));
      paused_inbox_.erase(it);
    }
    release_held();
  }

  void heal_all() {
    event("fault phase over: heal, restart, finish the operators' work, liveness");
    profile_.drop = profile_.duplicate = profile_.long_delay = 0;
    profile_.crash = profile_.partition = profile_.campaign = profile_.pause = 0;
    profile_.disk_error = profile_.disk_power = profile_.media = profile_.flags = profile_.membership = 0;
    heal_partition();
    for (node_id id : servers_) {
      node_slot& s = slot(id);
      if (s.paused_until_tick != 0) resume(id);
      if (s.fs && s.st == slot_state::up) {
        // Armed faults that have not fired yet are withdrawn.
        s.fs->clear_faults();
      }
      if (s.st == slot_state::down) {
        s.restart_at_tick = 0;
        start_node(id, s.joiner);
      }
    }
    clients_run_ = false;
    check_all();
    // The operators finish what they started (a wipe-and-rejoin above all).
    int t = 0;
    for (; t < opts_.operator_ticks && !operators_idle(); ++t) run_tick(false);
    if (!operators_idle())
      fail("liveness", "the operators' work (membership changes, a wipe and rejoin) did not finish " +
                           std::to_string(opts_.operator_ticks) + " ticks after the faults");
  }

  // ---- checkers -----------------------------------------------------------

  std::vector<std::optional<coraft::node_status>> statuses() {
    std::vector<std::optional<coraft::node_status>> out(servers_.size());
    for (node_id id : servers_) {
      node_slot& s = slot(id);
      if (s.st != slot_state::up) continue;
      auto* into = &out[id - 1];
      asio::co_spawn(ctx_, s.node->status(), [into](std::exception_ptr e, coraft::node_status st) {
        if (!e) *into = std::move(st);
      });
    }
    poll_idle();
    return out;
  }

  // State machine safety for one node's current incarnation.
  void merge_sm(node_id id) {
    node_slot& s = slot(id);
    if (!s.sm) return;
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
          fail("state machine safety", who + " applied #" + std::to_string(s.verified + 1) + " = (" +
                                           std::to_string(e.index) + ", '" + e.command.substr(0, 24) +
                                           "') but the global sequence has (" + std::to_string(g.index) + ", '" +
                                           g.command.substr(0, 24) + "') [§5.4.3]");
        continue;
      }
      if (!global_.empty() && e.index <= global_.back().index)
        fail("state machine safety",
             who + " applied index " + std::to_string(e.index) + " after " + std::to_string(global_.back().index));
      if (proposed_.count(e.command) == 0)
        fail("state machine safety", who + " applied '" + e.command.substr(0, 24) + "', never proposed");
      if (refused_.count(e.command) != 0)
        fail("refusals never applied", who + " applied '" + e.command.substr(0, 24) +
                                           "', whose proposal was answered with a refusal (never applied)");
      if (!global_commands_.insert(e.command).second)
        fail("state machine safety",
             who + " applied '" + e.command.substr(0, 24) + "' a second time at index " + std::to_string(e.index));
      global_.push_back(e);
      event("committed (" + std::to_string(e.index) + ", '" + e.command.substr(0, 24) + "') first applied on node " +
            std::to_string(id));
    }
  }

  const applied_entry* global_at(index_t index) const {
    auto it = std::lower_bound(global_.begin(), global_.end(), index,
                               [](const applied_entry& e, index_t i) { return e.index < i; });
    return it != global_.end() && it->index == index ? &*it : nullptr;
  }

  // The term of the entry at `i` in node `id`'s log (or its snapshot).
  std::optional<term_t> term_in_node(node_id id, index_t i, const coraft::node_status& st) {
    if (i == st.snapshot.index) return st.snapshot.term;
    std::optional<term_t> t;
    asio::co_spawn(ctx_, slot(id).node->log_info(i, 1),
                   [&t, i](std::exception_ptr e, std::vector<coraft::entry_info> v) {
                     if (!e && !v.empty() && v.front().index == i) t = v.front().term;
                   });
    poll_idle();
    return t;
  }

  // Never a start with less: the node, once up, holds what its storage had
  // acknowledged before the restart (term, vote, the entry it must hold).
  void check_started(node_id id, const coraft::node_status& st) {
    node_slot& s = slot(id);
    if (!s.must_hold) return;
    const durable_model need = *s.must_hold;
    s.must_hold.reset();
    const std::string who = "node " + std::to_string(id) + " incarnation " + std::to_string(s.incarnation);
    const auto bad = [&](const std::string& what) {
      fail("never a start with less",
           who + " started with less than it acknowledged (" + need.describe() + "): " + what);
    };
    if (st.term < need.state.current_term) bad("term " + std::to_string(st.term));
    if (st.term == need.state.current_term && need.state.voted_for != coraft::no_node &&
        st.voted_for != need.state.voted_for)
      bad("vote " + std::to_string(st.voted_for));
    const auto last = need.must_hold();
    if (!last) return;
    if (st.last_log.index < last->index) bad("its log ends at " + std::to_string(st.last_log.index));
    if (st.snapshot.index >= last->index) return;  // covered by a newer snapshot
    const auto t = term_in_node(id, last->index, st);
    if (!t || (last->term != 0 && *t != last->term))
      bad("entry " + std::to_string(last->index) + " has term " + (t ? std::to_string(*t) : "none"));
  }

  // Nodes whose start() just completed, checked before any message or tick
  // reaches them (a new leader may rightly cut their log right after).
  void check_starts() {
    for (node_id id : servers_) {
      node_slot& s = slot(id);
      if (s.st != slot_state::up || !s.must_hold) continue;
      std::optional<coraft::node_status> st;
      asio::co_spawn(ctx_, s.node->status(), [&st](std::exception_ptr e, coraft::node_status x) {
        if (!e) st = std::move(x);
      });
      poll_idle();
      if (st) check_started(id, *st);
    }
  }

  void check_all() {
    if (deferred_) throw failure(*deferred_);
    // Nodes that the simulation must crash or restart first.
    for (node_id id : servers_) {
      node_slot& s = slot(id);
      const std::string who = "node " + std::to_string(id) + " incarnation " + std::to_string(s.incarnation);
      if (s.power_failed && (s.st == slot_state::up || s.st == slot_state::starting)) {
        crash(id, true, "power failed inside a disk operation");
        continue;
      }
      if (s.fatal && s.st == slot_state::up) {
        if (!s.disk_fault) fail("no fatal error without a disk error", who + ": " + *s.fatal);
        // A supervisor restarts the process that exited.
        crash(id, false, "exited after a fatal disk error");
        continue;
      }
      if (s.start_error && s.st == slot_state::starting) {
        const std::string why = *s.start_error;
        if (s.start_error_io) {
          if (!s.enospc && !s.disk_fault) fail("no fatal error without a disk error", who + ": start() failed: " + why);
          event("node " + std::to_string(id) + " could not start (" + why + "): retry later");
          crash(id, false, "start failed on a disk error");
          continue;
        }
        if (!s.media_damaged)
          fail("refuses only damaged data", who + " refused to start without damage to its files: " + why);
        ++refusals_;
        event("node " + std::to_string(id) + " REFUSED to start (its files were damaged): " + why);
        retire(s);
        s.st = slot_state::refused;
        refused_queue_.push_back(id);
      }
    }
    if (!refused_queue_.empty() && !operator_busy_) {
      operator_busy_ = true;
      const node_id id = refused_queue_.front();
      refused_queue_.erase(refused_queue_.begin());
      rejoin_running_ = true;
      spawn_operator(3, id);  // remove, wipe, rejoin as a learner, promote
    }
    const auto st = statuses();
    if (const auto m = members(st); !m.first.empty()) last_voters_ = m.first;
    config_in_flight_ = std::any_of(st.begin(), st.end(), [](const auto& x) { return x && x->config_pending; });
    for (node_id id : servers_) {
      node_slot& s = slot(id);
      if (s.st != slot_state::up) continue;
      const std::string who = "node " + std::to_string(id) + " incarnation " + std::to_string(s.incarnation);
      if (!st[id - 1]) fail("status", who + ": status() did not complete");
      const coraft::node_status& x = *st[id - 1];
      if (!x.fatal_error.empty() && !s.disk_fault)
        fail("no fatal error without a disk error", who + ": " + x.fatal_error);
      if (x.term < s.last_term)
        fail("term monotonic",
             who + ": term went from " + std::to_string(s.last_term) + " to " + std::to_string(x.term) + " [Fig. 2]");
      if (x.commit_index < s.last_commit)
        fail("commit monotonic", who + ": commit index went from " + std::to_string(s.last_commit) + " to " +
                                     std::to_string(x.commit_index));
      s.last_term = x.term;
      s.last_commit = x.commit_index;
      last_role_[id] = {x.state, x.term};
      if (steady_phase_ && !leaders_.empty()) {
        // Leadership stays put: with no fault, a state machine slower than
        // the election timeout must not make any node's timer run out.
        const auto [it, first] = timer_elections_at_leader_.try_emplace(id, x.elections.timer);
        if (!first && x.elections.timer > it->second)
          fail("leadership stays put", who + " started an election (its timer ran out) in term " +
                                           std::to_string(x.term) +
                                           " with no fault at all: the leader's heartbeats waited for a state machine");
      }
      if (x.state == role::leader) {
        auto [it, inserted] = leaders_.try_emplace(x.term, id);
        if (!inserted && it->second != id)
          fail("election safety", "term " + std::to_string(x.term) + " has two leaders: node " +
                                      std::to_string(it->second) + " and node " + std::to_string(id) + " [§5.2]");
      }
      std::string line = std::string(coraft::core::to_string(x.state)) + " term=" + std::to_string(x.term) +
                         " leader=" + std::to_string(x.leader) + " commit=" + std::to_string(x.commit_index) +
                         " applied=" + std::to_string(x.applied_index) + " last=(" + std::to_string(x.last_log.term) +
                         "," + std::to_string(x.last_log.index) + ") voters=" + ids_str(x.voters) +
                         (x.learners.empty() ? "" : " learners=" + ids_str(x.learners)) +
                         " pending=" + std::to_string(x.pending_proposals);
      if (line != s.last_status) {
        event("node " + std::to_string(id) + ": " + line);
        s.last_status = std::move(line);
      }
      merge_sm(id);
    }
    for (const auto& [index, cmd] : unverified_acks_) {
      const applied_entry* g = global_at(index);
      if (g == nullptr || g->command != cmd)
        fail("acknowledged writes", "propose('" + cmd.substr(0, 24) + "') succeeded with index " +
                                        std::to_string(index) + " but the global sequence has " +
                                        (g ? "'" + g->command.substr(0, 24) + "'" : std::string("nothing")) + " there");
    }
    unverified_acks_.clear();
    // Every read ends within its timeout, counted in its node's own ticks.
    for (const auto& [key, r] : pending_reads_) {
      const node_slot& s = slot(r.id);
      if (s.incarnation == r.incarnation && s.st == slot_state::up &&
          s.node_ticks > r.ticks_at_start + static_cast<std::uint64_t>(opts_.propose_timeout_ticks) + 2)
        fail("reads end", "a read on node " + std::to_string(r.id) + " is still waiting " +
                              std::to_string(s.node_ticks - r.ticks_at_start) + " ticks later (timeout " +
                              std::to_string(opts_.propose_timeout_ticks) + ")");
    }
    if (!client_error_.empty()) fail("client", client_error_);
  }

  // ---- liveness -----------------------------------------------------------

  // The members of the configuration in force on the leader (or on the up
  // node with the newest configuration), as voters and all.
  std::pair<std::vector<node_id>, std::vector<node_id>> members(
      const std::vector<std::optional<coraft::node_status>>& st) const {
    const coraft::node_status* best = nullptr;
    for (const auto& x : st) {
      if (!x) continue;
      if (best == nullptr || (x->state == role::leader && best->state != role::leader) ||
          (x->state == best->state && x->config_index > best->config_index))
        best = &*x;
    }
    if (best == nullptr) return {};
    std::vector<node_id> all = best->voters;
    all.insert(all.end(), best->learners.begin(), best->learners.end());
    std::sort(all.begin(), all.end());
    return {best->voters, all};
  }

  std::optional<node_id> agreed_leader() {
    const auto st = statuses();
    const auto [voters, all] = members(st);
    if (voters.empty()) return std::nullopt;
    std::optional<node_id> leader;
    term_t term = 0;
    for (node_id id : all) {
      const auto& x = st[id - 1];
      if (!x) return std::nullopt;  // a member that is not up
      if (x->state == role::leader) {
        if (leader) return std::nullopt;
        leader = x->id;
        term = x->term;
      }
    }
    if (!leader) return std::nullopt;
    for (node_id id : all)
      if (st[id - 1]->term != term || st[id - 1]->leader != *leader) return std::nullopt;
    return leader;
  }

  void spawn_live_proposer();

  void run_liveness(const std::string& when) {
    std::optional<node_id> leader;
    for (int t = 0; t < opts_.liveness_leader_ticks && !(leader = agreed_leader()); ++t) run_tick(false);
    if (!leader)
      fail("liveness",
           "no agreed leader among the members " + std::to_string(opts_.liveness_leader_ticks) + " ticks " + when);
    event("liveness: node " + std::to_string(*leader) + " leads " + when);
    live_result.reset();
    live_targets.clear();
    spawn_live_proposer();
    const auto all = members(statuses()).second;
    auto converged = [this, &all] {
      if (!live_result || in_flight_proposals_ != 0) return false;
      index_t need = live_result->first;
      for (const auto& [index, cmd] : acked_) need = std::max(need, index);
      for (node_id id : all) {
        const node_slot& s = slot(id);
        if (s.st != slot_state::up || s.sm->applied().empty() || s.sm->applied().back().index < need) return false;
      }
      return true;
    };
    int t = 0;
    for (; t < opts_.liveness_commit_ticks && !converged(); ++t) run_tick(false);
    if (!converged())
      fail("liveness", live_result ? "the liveness proposal (index " + std::to_string(live_result->first) +
                                         ") or an acknowledged one is not applied on every member " + ids_str(all) +
                                         " " + std::to_string(opts_.liveness_commit_ticks) + " ticks later"
                                   : "the liveness proposal did not succeed within " +
                                         std::to_string(opts_.liveness_commit_ticks) + " ticks " + when);
    // Every acknowledged write is on every member, at its index.
    for (node_id id : all) {
      merge_sm(id);
      const auto& a = slot(id).sm->applied();
      for (const auto& [index, cmd] : acked_) {
        auto it =
            std::lower_bound(a.begin(), a.end(), index, [](const applied_entry& e, index_t i) { return e.index < i; });
        if (it == a.end() || it->index != index || it->command != cmd)
          fail("acknowledged writes", "node " + std::to_string(id) + " lacks ('" + cmd.substr(0, 24) + "' at " +
                                          std::to_string(index) + ") " + when);
      }
    }
    event("liveness: converged after " + std::to_string(t) + " ticks " + when);
  }

  // A partition that holds (one-way, bridge, halves, one cut off) and leaves
  // a majority of the voters connected both ways: while it holds, a leader
  // among such a majority must commit a new proposal [liveness with
  // check-quorum and pre-vote: a leader cut off from a majority steps down,
  // and the connected majority elects one of its own].
  void hold_partition(int round) {
    // Only from a settled cluster: with a configuration change in flight,
    // servers disagree on who votes, and which majority must commit is not
    // one set (the change itself commits once the partition heals).
    int t0 = 0;
    const auto settled = [this] {
      if (!operators_idle()) return false;
      const auto st = statuses();
      const auto [voters, all] = members(st);
      for (node_id id : all) {
        const auto& x = st[id - 1];
        if (!x || x->config_pending || x->voters != voters) return false;
      }
      return !all.empty();
    };
    for (; t0 < opts_.operator_ticks && !settled(); ++t0) run_tick(false);
    if (!settled())
      fail("liveness", "the membership did not settle (operators done, one committed configuration) within " +
                           std::to_string(opts_.operator_ticks) + " ticks before held partition " +
                           std::to_string(round));
    const auto [voters, all] = members(statuses());
    const std::string desc = random_partition(true, voters);
    event("HOLD partition " + std::to_string(round) + ": " + desc + " (" + links_->describe() + ")");
    // Servers in some majority clique of the voters: the leader must be one.
    std::set<node_id> eligible;
    const std::size_t need = voters.size() / 2 + 1;
    for (std::uint32_t mask = 1; mask < (1u << voters.size()); ++mask) {
      std::vector<node_id> set;
      for (std::size_t i = 0; i < voters.size(); ++i)
        if (mask & (1u << i)) set.push_back(voters[i]);
      if (set.size() < need) continue;
      bool ok = true;
      for (std::size_t i = 0; ok && i < set.size(); ++i)
        for (std::size_t j = i + 1; ok && j < set.size(); ++j) ok = links_->both_ways(set[i], set[j]);
      if (ok) eligible.insert(set.begin(), set.end());
    }
    live_result.reset();
    live_targets.assign(eligible.begin(), eligible.end());
    spawn_live_proposer();
    int t = 0;
    for (; t < opts_.hold_ticks && !live_result; ++t) run_tick(false);
    if (!live_result)
      fail("liveness while partitioned", "partition " + desc + " (" + links_->describe() + ") left voters " +
                                             ids_str(std::vector<node_id>(eligible.begin(), eligible.end())) +
                                             " connected both ways, but none of them led and committed a new entry "
                                             "within " +
                                             std::to_string(opts_.hold_ticks) + " ticks");
    event("held partition " + std::to_string(round) + ": committed at index " + std::to_string(live_result->first) +
          " after " + std::to_string(t) + " ticks");
    while (in_flight_proposals_ != 0 && t++ < 4 * opts_.hold_ticks) run_tick(false);
    heal_partition();
  }

  // Stops every node and wakes every sleeper; afterwards the io_context has
  // no handler left that references a node, a disk or a client.
  void teardown() {
    if (torn_down_) return;
    torn_down_ = true;
    clients_run_ = false;
    for (node_id id : servers_) {
      node_slot& s = slot(id);
      if (s.node) {
        s.endpoint->attached = false;
        stop_node(id);
      }
    }
    for (auto& [k, op] : disk_ops_)
      asio::post(ctx_, asio::append(std::move(op.handler), boost::system::error_code(asio::error::operation_aborted)));
    disk_ops_.clear();
    while (!sleeps_.empty()) {
      asio::post(ctx_, asio::append(std::move(sleeps_.begin()->second.handler),
                                    boost::system::error_code(asio::error::operation_aborted)));
      sleeps_.erase(sleeps_.begin());
    }
    poll_idle();
    if (clients_alive_ != 0) fail("teardown", std::to_string(clients_alive_) + " client coroutines never finished");
    retired_nodes_.clear();
    work_.reset();
    poll_idle();
  }

  sim_options opts_;
  splitmix64 rng_;
  fault_profile profile_;
  fault_profile initial_profile_;
  std::vector<node_id> servers_;         // every server that may ever run: the voters, then spares
  std::vector<node_id> initial_voters_;  // the bootstrap configuration

  // Declaration order = reverse destruction order: the io_context outlives
  // everything that has handlers in it, nodes die before what they use.
  asio::io_context ctx_{1};  // one thread: no locking
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  // State machines' threads: outlive every node retired below (their strands).
  std::vector<std::unique_ptr<asio::io_context>> retired_sm_ctxs_;
  std::vector<node_slot> slots_;  // their disks outlive every storage retired below
  std::vector<std::unique_ptr<sim_file_system>> retired_fs_;
  std::vector<std::unique_ptr<virtual_endpoint>> retired_endpoints_;
  std::vector<std::unique_ptr<sim_storage>> retired_storage_;
  std::vector<std::unique_ptr<recording_state_machine>> retired_sms_;
  std::vector<std::unique_ptr<coraft::node>> retired_nodes_;
  std::map<net_key, pending_op> disk_ops_;
  std::map<net_key, pending_op> sleeps_;

  std::uint64_t now_ = 0;  // sub-steps
  std::uint64_t ticks_ = 0;
  std::uint64_t seq_ = 0;
  std::map<net_key, in_flight> network_;
  std::map<std::pair<node_id, node_id>, std::deque<in_flight>> held_;  // kept for a down or cut-off peer
  std::map<node_id, std::vector<in_flight>> paused_inbox_;             // arrived while the peer was stopped
  std::optional<node_sim_parts::links> links_;
  std::uint64_t heal_at_tick_ = 0;
  bool clients_run_ = true;
  bool torn_down_ = false;
  bool operator_busy_ = false;
  bool rejoin_running_ = false;
  std::vector<node_id> refused_queue_;
  std::vector<node_id> last_voters_;   // the configuration in force, as last seen
  bool config_in_flight_ = false;      // a server reports an uncommitted configuration
  std::optional<violation> deferred_;  // found inside a coroutine: reported by the next check

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
  std::set<std::string> refused_;  // commands whose proposal was answered "never applied"
  std::map<term_t, node_id> leaders_;
  // --slow-state-machine: the elections each node had started by its timer
  // when the first leader was seen (none may follow under no faults).
  std::map<node_id, std::uint64_t> timer_elections_at_leader_;
  bool steady_phase_ = false;  // no faults and no pause: leadership must stay put
  std::map<node_id, std::pair<role, term_t>> last_role_;
  std::map<std::tuple<node_id, int, term_t>, node_id> votes_;  // (server, identity, term) -> candidate
  std::map<std::uint64_t, pending_read_info> pending_reads_;
  std::uint64_t read_seq_ = 0;

  std::uint64_t hash_ = 0xcbf29ce484222325ULL;
  std::deque<std::string> trace_;
  std::uint64_t events_ = 0, sent_ = 0, delivered_ = 0, dropped_ = 0, held_total_ = 0, crashes_ = 0, power_losses_ = 0,
                lost_writes_ = 0, pauses_ = 0, partitions_ = 0, disk_errors_ = 0, media_faults_ = 0, refusals_ = 0,
                rejoins_ = 0, flag_changes_ = 0, membership_changes_ = 0;
};

awaitable<void> virtual_endpoint::send(node_id to, std::vector<coraft::message> batch) {
  if (attached) sim_.on_send(from_, to, batch);
  co_return;
}

// co_await is not allowed inside a handler: each operation notes the power
// failure and halts after the try block.
awaitable<coraft::recovered_state> sim_storage::load() {
  co_await sim_.disk_wait(id_);
  coraft::recovered_state rs;
  bool power_failed = false;
  try {
    rs = co_await inner_->load();
  } catch (const sim_crash& c) {
    sim_.on_power_failed(id_, c);
    power_failed = true;
  }
  if (power_failed) co_await sim_.halt(id_);
  sim_.on_loaded(id_, rs);
  co_return rs;
}

awaitable<void> sim_storage::write(coraft::log_write w) {
  co_await sim_.disk_wait(id_);  // throws operation_aborted on a crash
  const coraft::log_write acknowledged = w;
  sim_.on_writing(id_, w);
  if (sim_.unsafe_disk()) w.entries.clear();
  bool power_failed = false;
  try {
    co_await inner_->write(std::move(w));
  } catch (const sim_crash& c) {
    sim_.on_power_failed(id_, c);
    power_failed = true;
  }
  if (power_failed) co_await sim_.halt(id_);
  sim_.on_written(id_, acknowledged);
}

std::function<std::optional<coraft::storage::queued_write>()> sim_storage::recorded(
    std::function<std::optional<queued_write>()> take) {
  return [this, take = std::move(take)]() -> std::optional<queued_write> {
    std::optional<queued_write> q = take();
    if (!q) return q;
    auto acknowledged = std::make_shared<const coraft::log_write>(q->write);
    sim_.on_writing(id_, q->write);
    if (sim_.unsafe_disk()) q->write.entries.clear();
    q->on_durable = [this, acknowledged, durable = std::move(q->on_durable)] {
      sim_.on_written(id_, *acknowledged);
      durable();
    };
    return q;
  };
}

awaitable<void> sim_storage::write_queued(std::function<std::optional<queued_write>()> take) {
  return write_queued_recorded(recorded(std::move(take)));
}

awaitable<void> sim_storage::write_queued_recorded(std::function<std::optional<queued_write>()> take) {
  co_await sim_.disk_wait(id_);  // throws operation_aborted on a crash
  bool power_failed = false;
  try {
    co_await inner_->write_queued(std::move(take));
  } catch (const sim_crash& c) {
    sim_.on_power_failed(id_, c);
    power_failed = true;
  }
  if (power_failed) co_await sim_.halt(id_);
}

awaitable<std::shared_ptr<const coraft::snapshot_data>> sim_storage::save_snapshot(coraft::snapshot snap) {
  co_await sim_.disk_wait(id_);
  const coraft::snapshot_meta saved = snap.meta;
  std::shared_ptr<const coraft::snapshot_data> kept;
  bool power_failed = false;
  try {
    kept = co_await inner_->save_snapshot(std::move(snap));
  } catch (const sim_crash& c) {
    sim_.on_power_failed(id_, c);
    power_failed = true;
  }
  if (power_failed) co_await sim_.halt(id_);
  sim_.on_saved(id_, saved);
  co_return kept;
}

namespace {

// A snapshot being written by the state machine's (or snapshot) thread: a
// power loss inside a write is noted (the simulation crashes the node) and
// ends the write with an error.
class sim_sink final : public coraft::snapshot_sink {
 public:
  sim_sink(node_sim& sim, node_id id, std::unique_ptr<coraft::snapshot_sink> wrapped)
      : sim_(sim), id_(id), inner(std::move(wrapped)) {}
  void write(std::span<const std::byte> b) override {
    try {
      inner->write(b);
    } catch (const sim_crash& c) {
      sim_.on_power_failed(id_, c);
      throw std::runtime_error("power failed");
    }
  }
  std::uint64_t size() const override { return inner->size(); }
  std::uint32_t crc() const override { return inner->crc(); }

 private:
  node_sim& sim_;
  node_id id_;

 public:
  std::unique_ptr<coraft::snapshot_sink> inner;
};

}  // namespace

std::unique_ptr<coraft::snapshot_sink> sim_storage::begin_snapshot(const coraft::membership& config) {
  try {
    return std::make_unique<sim_sink>(sim_, id_, inner_->begin_snapshot(config));
  } catch (const sim_crash& c) {
    sim_.on_power_failed(id_, c);
    throw std::runtime_error("power failed");
  }
}

awaitable<coraft::snapshot> sim_storage::commit_snapshot(std::unique_ptr<coraft::snapshot_sink> sink, log_id last) {
  co_await sim_.disk_wait(id_);
  auto* wrapped = dynamic_cast<sim_sink*>(sink.get());
  if (wrapped == nullptr) throw std::logic_error("sim_storage: a sink of another storage");
  coraft::snapshot kept;
  bool power_failed = false;
  try {
    kept = co_await inner_->commit_snapshot(std::move(wrapped->inner), last);
  } catch (const sim_crash& c) {
    sim_.on_power_failed(id_, c);
    power_failed = true;
  }
  if (power_failed) co_await sim_.halt(id_);
  sim_.on_saved(id_, kept.meta);
  co_return kept;
}

awaitable<void> sim_storage::write_snapshot_chunk(coraft::snapshot_meta meta, std::uint64_t offset,
                                                  coraft::payload data) {
  co_await sim_.disk_wait(id_);
  bool power_failed = false;
  try {
    co_await inner_->write_snapshot_chunk(std::move(meta), offset, std::move(data));
  } catch (const sim_crash& c) {
    sim_.on_power_failed(id_, c);
    power_failed = true;
  }
  if (power_failed) co_await sim_.halt(id_);
}

awaitable<std::shared_ptr<const coraft::snapshot_data>> sim_storage::finish_snapshot(coraft::snapshot_meta meta) {
  co_await sim_.disk_wait(id_);
  const coraft::snapshot_meta saved = meta;
  std::shared_ptr<const coraft::snapshot_data> kept;
  bool power_failed = false;
  try {
    kept = co_await inner_->finish_snapshot(std::move(meta));
  } catch (const sim_crash& c) {
    sim_.on_power_failed(id_, c);
    power_failed = true;
  }
  if (power_failed) co_await sim_.halt(id_);
  if (kept) sim_.on_saved(id_, saved);
  co_return kept;
}

// ---- client and operator coroutines -------------------------------------------

// The node that says it leads with the highest term, or no_node. Looks node
// pointers up again after every suspension: a node may have crashed.
awaitable<node_id> find_leader(node_sim& sim, const std::vector<node_id>* among = nullptr) {
  node_id best = coraft::no_node;
  term_t best_term = 0;
  for (node_id id : among != nullptr ? *among : sim.servers()) {
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
    const std::string cmd = sim.command("c" + std::to_string(c) + "." + std::to_string(k));
    sim.on_propose(who, leader, cmd);
    const coraft::node_result<coraft::applied_command> o = co_await n->propose(cmd);
    sim.on_outcome(who, leader, cmd, o);
  }
}

// One new command, retried until it succeeds (on a leader among
// live_targets when that is set).
awaitable<void> live_proposer(node_sim& sim) {
  const std::string who = "live";
  const std::vector<node_id> targets = sim.live_targets;
  for (int attempt = 1; !sim.live_result; ++attempt) {
    const node_id leader = co_await find_leader(sim, targets.empty() ? nullptr : &targets);
    coraft::node* n = leader == coraft::no_node ? nullptr : sim.node_ptr(leader);
    if (n != nullptr) {
      const std::string cmd = "live." + std::to_string(++sim.live_counter) + "." + std::to_string(attempt);
      sim.on_propose(who, leader, cmd);
      const coraft::node_result<coraft::applied_command> o = co_await n->propose(cmd);
      sim.on_outcome(who, leader, cmd, o);
      if (o) {
        sim.live_result.emplace(o->index, cmd);
        break;
      }
    }
    co_await sim.sleep(static_cast<std::uint64_t>(sim.substeps()));
  }
}

// A membership change through whichever node leads, retried until it is
// done. Returns the outcome that ended it (ok, or an error `done_on` lists).
awaitable<coraft::node_result<index_t>> change_until(node_sim& sim, coraft::core::config_change ch,
                                                     std::vector<coraft::errc> done_on, std::string what,
                                                     int max_attempts = 1 << 30) {
  coraft::node_result<index_t> o = coraft::errc::stopped;
  for (int attempt = 1; attempt <= max_attempts; ++attempt) {
    // A server that refused to start is rebuilt by its own operator
    // (remove, wipe, rejoin): adding or promoting it here would never end.
    if (ch.type != coraft::core::config_change::kind::remove && sim.is_refused(ch.id)) {
      sim.on_op_event("operator: " + what + ": abandoned, node " + std::to_string(ch.id) + " refused to start");
      co_return o;
    }
    const node_id leader = co_await find_leader(sim);
    coraft::node* n = leader == coraft::no_node ? nullptr : sim.node_ptr(leader);
    if (n != nullptr) {
      o = co_await n->change_membership(ch);
      sim.on_op_event("operator: " + what + " via node " + std::to_string(leader) + ": " +
                      (o ? "done at index " + std::to_string(*o) : o.error().code.message()));
      if (o) co_return o;
      for (auto e : done_on)
        if (o.error().code == e) co_return o;
    }
    co_await sim.sleep(sim.rng().between(1, 2 * static_cast<std::uint64_t>(sim.election_ticks() * sim.substeps())));
  }
  co_return o;
}

// Adds `id` as a learner and promotes it once it has caught up.
awaitable<void> add_learner_then_promote(node_sim& sim, node_id id) {
  using kind = coraft::core::config_change::kind;
  // (Arguments named before each co_await: g++ 12 miscompiles braced
  // temporaries inside co_await expressions; see node.hpp.)
  const std::vector<coraft::errc> not_a_member{coraft::errc::bad_member};
  const coraft::core::config_change learner{kind::add_learner, id, std::string()};
  const std::string add_what = "add node " + std::to_string(id) + " as a learner";
  co_await change_until(sim, learner, not_a_member, add_what);
  if (sim.is_refused(id)) co_return;
  const coraft::core::config_change promote{kind::promote, id, std::string()};
  const std::string promote_what = "promote node " + std::to_string(id);
  co_await change_until(sim, promote, not_a_member, promote_what);
}

// kind 0: take a voter out and add it back (a learner, then promoted);
// kind 1: bring a spare in as a learner and promote it;
// kind 2: bring a spare in as a voter before its server starts (refused
//         unless caught up: then the learner way), and start it only
//         once the addition committed;
// kind 3: the refused node `id`: remove it, wipe it, rejoin, promote;
// kind 4: retire a voter: remove it, then stop and wipe its server (a spare
//         from then on), down to one voter.
awaitable<void> membership_operator(node_sim& sim, int kind_no, node_id id) {
  using kind = coraft::core::config_change::kind;
  // The current configuration, from the leader.
  const node_id leader = co_await find_leader(sim);
  std::vector<node_id> voters, members;
  if (leader != coraft::no_node && sim.node_ptr(leader) != nullptr) {
    const coraft::node_status st = co_await sim.node_ptr(leader)->status();
    voters = st.voters;
    members = st.voters;
    members.insert(members.end(), st.learners.begin(), st.learners.end());
  }
  if (kind_no == 3) {
    const coraft::core::config_change remove{kind::remove, id, std::string()};
    const std::vector<coraft::errc> not_a_member{coraft::errc::bad_member};
    const std::string what = "remove refused node " + std::to_string(id);
    co_await change_until(sim, remove, not_a_member, what);
    sim.wipe_and_start_joiner(id);
    co_await add_learner_then_promote(sim, id);
    sim.count_rejoin();
    sim.operator_done("node " + std::to_string(id) + " wiped and back as a voter");
    co_return;
  }
  if (voters.empty()) {
    sim.operator_done("no leader to ask: nothing changed");
    co_return;
  }
  if (kind_no == 4) {
    if (voters.size() < 2 || !sim.all_servers_sound()) {
      sim.operator_done("nothing retired (one voter, or a server is being rebuilt)");
      co_return;
    }
    const node_id v = sim.rng().pick(voters);
    const coraft::core::config_change remove{kind::remove, v, std::string()};
    const std::vector<coraft::errc> not_a_member{coraft::errc::bad_member};
    const std::string what = "retire voter " + std::to_string(v);
    const auto o = co_await change_until(sim, remove, not_a_member, what);
    if (o) {
      // Let it hear of its removal, then take the server away.
      co_await sim.sleep(static_cast<std::uint64_t>(sim.election_ticks() * sim.substeps()));
      sim.retire_server(v);
    }
    sim.operator_done("voter " + std::to_string(v) + " retired");
    co_return;
  }
  std::vector<node_id> spares;
  for (node_id s : sim.servers())
    if (std::find(members.begin(), members.end(), s) == members.end() && !sim.is_up(s) && !sim.is_refused(s))
      spares.push_back(s);
  if (kind_no == 0 || spares.empty()) {
    if (voters.size() < 2 || !sim.all_servers_sound()) {
      sim.operator_done("nothing removed (one voter, or a server is being rebuilt)");
      co_return;
    }
    const node_id v = sim.rng().pick(voters);
    const coraft::core::config_change remove{kind::remove, v, std::string()};
    const std::vector<coraft::errc> not_a_member{coraft::errc::bad_member};
    const std::string what = "remove voter " + std::to_string(v);
    co_await change_until(sim, remove, not_a_member, what);
    co_await sim.sleep(
        static_cast<std::uint64_t>(sim.rng().between(1, 30) * static_cast<std::uint64_t>(sim.substeps())));
    co_await add_learner_then_promote(sim, v);
    sim.operator_done("voter " + std::to_string(v) + " removed and added back");
    co_return;
  }
  const node_id s = sim.rng().pick(spares);
  if (kind_no == 1) {
    sim.start_joiner(s);
    co_await add_learner_then_promote(sim, s);
    sim.operator_done("spare " + std::to_string(s) + " joined");
    co_return;
  }
  // Voter first: the addition must commit before the server is started.
  const coraft::core::config_change voter{kind::add_voter, s, std::string()};
  const std::vector<coraft::errc> refused{coraft::errc::not_caught_up, coraft::errc::bad_member};
  const std::string what = "add spare " + std::to_string(s) + " as a voter";
  const auto o = co_await change_until(sim, voter, refused, what);
  sim.start_joiner(s);
  if (!o) co_await add_learner_then_promote(sim, s);  // refused: the learner way
  sim.operator_done("spare " + std::to_string(s) + " joined (voter first)");
}

void node_sim::spawn_client(int c) {
  ++clients_alive_;
  const std::string who = "client " + std::to_string(c);
  asio::co_spawn(ctx_, client(*this, c), [this, who](std::exception_ptr e) { on_client_exit(who, e); });
}

void node_sim::spawn_operator(int kind, node_id id) {
  ++clients_alive_;
  asio::co_spawn(ctx_, membership_operator(*this, kind, id), [this](std::exception_ptr e) {
    on_client_exit("membership operator", e);
    if (e) operator_busy_ = rejoin_running_ = false;
  });
}

// One operator or reader action on node `id`; outcomes go into the trace.
awaitable<void> node_op(node_sim& sim, node_id id, int kind, node_id to) {
  coraft::node* n = sim.node_ptr(id);
  if (n == nullptr) co_return;
  if (kind == 0) {
    const index_t floor = sim.read_floor();
    const index_t write_floor = sim.acked_floor();
    recording_state_machine* sm = sim.sm_ptr(id);
    const std::uint64_t key = sim.begin_read(id);
    const coraft::node_result<index_t> o = co_await n->read_index();
    sim.on_read(key, id, floor, o);
    if (o) {
      index_t seen = 0;
      std::function<void()> look = [sm, &seen] { seen = sm->applied().empty() ? 0 : sm->applied().back().index; };
      const coraft::node_result<void> q = co_await n->query_state_machine(std::move(look));
      sim.on_query(id, write_floor, q, seen);
    }
  } else if (kind == 1) {
    sim.on_op_event("transfer leadership from node " + std::to_string(id) + " to " +
                    (to == coraft::no_node ? std::string("best") : std::to_string(to)));
    const coraft::node_result<node_id> o = co_await n->transfer_leadership(to);
    sim.on_op_event("transfer from node " + std::to_string(id) + ": " +
                    (o ? "now led by " + std::to_string(*o) : o.error().code.message()));
  } else {
    const coraft::node_result<index_t> o = co_await n->snapshot();
    sim.on_op_event("snapshot on node " + std::to_string(id) + ": " +
                    (o ? "index " + std::to_string(*o) : o.error().code.message()));
  }
}

awaitable<void> late_read(node_sim& sim, node_id id, std::uint64_t after) {
  co_await sim.sleep(after);
  co_await node_op(sim, id, 0, coraft::no_node);
}

void node_sim::spawn_late_read(node_id id, std::uint64_t after) {
  ++clients_alive_;
  asio::co_spawn(ctx_, late_read(*this, id, after), [this](std::exception_ptr e) { on_client_exit("reader", e); });
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

std::string join(const std::set<std::string>& s) {
  std::string out;
  for (const auto& x : s) out += (out.empty() ? "" : ",") + x;
  return out;
}

std::string replay_command(const sim_options& o, int default_steps, const std::string& faults_flag,
                           const std::string& plant) {
  std::string cmd =
      "coraft-node-sim --seeds 1 --first-seed " + std::to_string(o.seed) + " --nodes " + std::to_string(o.nodes);
  if (o.fault_ticks != default_steps) cmd += " --steps " + std::to_string(o.fault_ticks);
  if (o.file_storage) cmd += " --storage file";
  if (!faults_flag.empty()) cmd += " --faults " + faults_flag;
  if (o.unsafe_disk) cmd += " --unsafe-disk";
  if (o.slow_state_machine) cmd += " --slow-state-machine";
  if (!plant.empty()) cmd = "coraft-node-sim-planted" + cmd.substr(15) + " --plant " + plant;
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
  bool hashes = false;
  bool unsafe_disk = false;
  bool slow_sm = false;
  std::string storage = "memory";
  std::string faults;
  std::string plant;

  po::options_description desc(
      "usage: coraft-node-sim --seeds N --first-seed S [--nodes 3|5] [--steps K] [--storage memory|file] "
      "[--faults LIST] [--determinism] [--verbose]");
  // clang-format off
  desc.add_options()
      ("help,h", "print this help")
      ("seeds", po::value(&seeds)->default_value(1), "number of seeds to run (>= 1)")
      ("first-seed", po::value(&first_seed)->default_value(1), "first seed (>= 0)")
      ("nodes", po::value(&nodes)->default_value(3), "cluster size: 3 or 5")
      ("steps", po::value(&steps)->default_value(default_steps), "ticks of the fault phase per seed (>= 1)")
      ("storage", po::value(&storage)->default_value("memory"),
       "memory (memory_storage) or file (file_storage and the WAL over a simulated disk)")
      ("faults", po::value(&faults),
       "fault classes, comma-separated: net, crash, pause, clock, disk, media, flags, membership, ops, or all "
       "(default: all; disk and media need --storage file), or none")
      ("determinism", po::bool_switch(&determinism), "run every seed twice and require identical event traces (hash)")
      ("verbose,v", po::bool_switch(&verbose), "print every event and a summary per seed")
      ("hashes", po::bool_switch(&hashes),
       "print each seed's event-trace hash (\"seed S hash H\"): compare two builds that should order events alike")
      ("slow-state-machine", po::bool_switch(&slow_sm),
       "every state machine call takes longer than the election timeout; with --faults none no election may "
       "follow the first, then a paused leader must be replaced in time")
      ("unsafe-disk", po::bool_switch(&unsafe_disk),
       "self-test: the disk drops every log entry it acknowledges; a run must fail")
#ifdef CORAFT_PLANTED_BUGS
      ("plant", po::value(&plant), "switch a fixed bug back on (coraft/detail/planted.hpp): its name")
#endif
      ;
  // clang-format on

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
  if (storage != "memory" && storage != "file") return usage_error("--storage must be memory or file", desc);
  std::set<std::string> classes;
  if (faults.empty() || faults == "all") {
    classes.insert(all_fault_classes.begin(), all_fault_classes.end());
  } else if (faults != "none") {
    std::stringstream ss(faults);
    for (std::string c; std::getline(ss, c, ',');) {
      if (std::find(all_fault_classes.begin(), all_fault_classes.end(), c) == all_fault_classes.end())
        return usage_error("--faults: unknown class '" + c +
                               "' (net, crash, pause, clock, disk, media, flags, "
                               "membership, ops, all)",
                           desc);
      classes.insert(c);
    }
    if (storage != "file" && (classes.count("disk") != 0 || classes.count("media") != 0))
      return usage_error("--faults disk and media need --storage file", desc);
  }
#ifdef CORAFT_PLANTED_BUGS
  if (!plant.empty()) {
    const auto bug = coraft::test::planted_bug_named(plant);
    if (!bug)
      return usage_error("--plant: no bug named '" + plant + "' (" + coraft::test::planted_bug_list() + ")", desc);
    coraft::detail::planted = *bug;
  }
#endif

  coraft::set_log_level(coraft::log_level::off);  // lines carry wall-clock time
  const std::string faults_flag = faults;
  for (std::int64_t k = 0; k < seeds; ++k) {
    sim_options o;
    o.seed = static_cast<std::uint64_t>(first_seed + k);
    o.nodes = nodes;
    o.fault_ticks = steps;
    o.unsafe_disk = unsafe_disk;
    o.slow_state_machine = slow_sm;
    // Slow state machines fall behind the log: the liveness proposal waits
    // for their backlog (each call is virtual time only, cheap to run).
    if (slow_sm) {
      o.liveness_commit_ticks *= 10;
      o.hold_ticks *= 10;
      o.operator_ticks *= 10;
    }
    o.file_storage = storage == "file";
    o.faults = classes;
    if (verbose) o.verbose = &std::cout;
    const std::string replay = replay_command(o, default_steps, faults_flag, plant);
    std::uint64_t hash = 0;
    {
      auto owned = std::make_unique<node_sim>(o);
      node_sim& sim = *owned;
      const auto v = sim.run();
      if (verbose)
        std::cout << "seed " << o.seed << ": " << (v ? "FAILED" : "ok") << "; " << sim.profile().describe() << "; "
                  << sim.summary() << "; trace hash " << std::hex << sim.trace_hash() << std::dec << "\n";
      if (v) {
        std::cout.flush();
        std::cerr << "coraft-node-sim: seed " << o.seed << " (" << nodes << " nodes, " << storage << " storage, faults "
                  << join(classes) << ") broke an invariant after " << (k + 1) << " seed(s)\n"
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
      if (hashes) std::cout << "seed " << o.seed << " hash " << std::hex << hash << std::dec << "\n";
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
                  << (v ? "broke " + v->invariant : std::string("produced another trace")) << " (hash " << std::hex
                  << hash << " then " << sim.trace_hash() << std::dec << ")\nlast events of the second run:\n"
                  << sim.trace_text() << "replay:    " << replay << "\n";
        return 1;
      }
    }
  }
  std::cout << seeds << " seeds passed" << (determinism ? " (each twice, identical traces)" : "") << "\n";
  return 0;
}
