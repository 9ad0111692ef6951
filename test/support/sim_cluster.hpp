// test/support/sim_cluster.hpp — deterministic simulation of a cluster of
// protocol cores (coraft::core::raft, each driven by a core_node and its disk
// model) over a faulty network, with one checker per Raft safety property.
//
// Everything is decided by one seeded splitmix64 generator and virtual time:
// no wall clock, no threads, no std::random_device, no std distributions (they
// differ between standard libraries), and every container whose order reaches
// the event sequence is ordered (std::map / std::vector, never iterated
// unordered). A seed therefore replays the exact same run on every machine.
//
// Time: one sub-step is the unit of network delay; every `substeps_per_tick`
// sub-steps every up, unpaused node's core gets one tick(). Each event (a
// tick, a delivery, a disk sync, a proposal, a fault) is followed by draining
// every node's ready batch into the network (core_node::take) and by running
// every invariant checker on every node.
//
// Faults (rates drawn per seed, see fault_profile): drop, delay, reorder (random
// per-message delays), duplicate, partitions (arbitrary groups or one isolated
// node), crash (unsynced writes lost; messages to the node dropped) followed
// by a restart from the durable state, pause (no ticks, no deliveries, no disk
// syncs; messages wait), early election timeouts (campaign()). Half of the
// node faults aim at a leader. Disks sync at random moments (all pending
// writes, or only the oldest), so the gap between "written" and "durable"
// [thesis §3.8] is always open somewhere. Batch and window sizes of the cores
// vary per seed, down to one entry per AppendEntries, so that followers hold
// partial copies of a leader's log ([Fig. 8] needs that).
//
// Invariants checked after every event (invariant_checker, one file per
// property in test/support/invariants/):
//   - election safety: at most one leader per term, across the whole run [§5.2, Fig. 3];
//   - log matching: an (index, term) pair names one entry with one predecessor,
//     forever, so logs that share it are identical up to it [§5.3, Fig. 3];
//   - committed entries never change and are durable on a majority [§5.4];
//   - leader completeness: a leader of a later term holds every committed entry [§5.4.1, Fig. 3];
//   - state machine safety: every incarnation's applied sequence is a prefix of one
//     global sequence; commands are applied once and only if proposed [§5.4.3, Fig. 3];
//   - within one incarnation, term and commit index never go backwards [Fig. 2];
//   - the core's own check_invariants().
// With membership changes (sim_config::membership_changes, [thesis ch. 4]):
// the configuration in force is the newest config entry in the log (else
// the snapshot's, else the bootstrap one); each config entry changes one
// server; a leader's log holds at most one uncommitted config entry; leaders
// of one term agree on the configuration; only voters of their own
// configuration in force campaign (any server votes [thesis §4.1]); a
// leader's commit is durable on a majority of the voters in force; a leader that removed itself steps
// down once that commits; a snapshot carries the configuration at its index.
// After the fault phase everything heals and liveness is required: a stable
// leader within a bound, and proposals applied on every node within a bound.
//
// Storage (sim_config::storage): each node's disk is the in-memory model
// (memory_disk, the default), or the real write-ahead log (wal_disk below)
// over a sim_file_system of its own — where the power can also fail in the
// middle of an append or of a recovery (crash_after), tearing the write
// half the time — or over the real POSIX file system in a directory.
// Whatever the disk, every write the core was told is synced must survive:
// the checkers count what the disk acknowledged, and wal_disk compares what
// each recovery returns with it.
#pragma once

#include <support/core_node.hpp>
#include <support/sim_file_system.hpp>

#include <coraft/core/raft.hpp>
#include <coraft/wal.hpp>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coraft::test {

// splitmix64 (Steele, Lea, Flood 2014): tiny, fast, and the same sequence on
// every platform, which std distributions do not promise.
class splitmix64 {
 public:
  explicit splitmix64(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // In [0, n), n > 0. The modulo bias (< 2^-40 for our n) does not matter here.
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  // In [lo, hi].
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }
  // True with probability p / 1000.
  bool per_mille(unsigned p) { return below(1000) < p; }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<std::size_t>(below(v.size()))];
  }

 private:
  std::uint64_t state_;
};

}  // namespace coraft::test

#include <support/invariants/invariant_checker.hpp>

namespace coraft::test {

// A node_disk that persists through the real write-ahead log (coraft::wal),
// either over a sim_file_system of its own (in memory; a power loss keeps
// only synced bytes and names, and may tear the last unsynced write; the
// power can be made to fail at any file operation of an append or of a
// recovery) or over the real POSIX file system in a directory (a crash only
// drops the wal object and reopens the log: the kernel keeps what was
// written, so power loss is not simulated there).
//
// It mirrors what it acknowledged (every write that returned, then whatever
// the last recovery returned) in a durable_disk: that is what the checkers
// count as stored. Each recovery is compared with the mirror: everything
// acknowledged must come back; the one write the power interrupted, if any,
// may come back whole, not at all, or cut after a whole record (old or new
// hard state; its truncation with a prefix of its entries). Anything else is
// reported through problem(), as is any exception from the log.
class wal_disk final : public node_disk {
 public:
  static std::unique_ptr<wal_disk> simulated(std::uint64_t seed, std::uint64_t segment_bytes) {
    auto fs = std::make_unique<sim_file_system>(seed);
    sim_file_system* sim = fs.get();
    return std::unique_ptr<wal_disk>(new wal_disk(std::move(fs), sim, "/wal", segment_bytes));
  }
  static std::unique_ptr<wal_disk> on_posix(const std::string& dir, std::uint64_t segment_bytes) {
    return std::unique_ptr<wal_disk>(new wal_disk(make_posix_file_system(), nullptr, dir, segment_bytes));
  }

  bool write(const disk_write& w) override {
    if (!wal_) {
      problem_ = "write() with no open log";
      return false;
    }
    // Compaction may leave covered entries in place (storage.hpp: "may be
    // dropped"): with it off, the WAL keeps every entry a snapshot covers.
    if (!compaction_ && w.compact && !w.reset && !w.state && w.entries.empty()) return true;
    in_flight_.emplace(w);
    log_write lw;
    lw.state = w.state;
    lw.entries = w.entries;
    lw.reset = w.reset;
    lw.compact = w.compact;
    try {
      wal_->append(lw);
    } catch (const sim_crash& c) {
      power_loss(c, "append");
      return false;
    } catch (const std::exception& e) {
      problem_ = std::string("wal::append threw: ") + e.what();
      wal_.reset();
      return false;
    }
    if (auto p = mirror_.write(*in_flight_)) problem_ = "the model refuses a write the WAL took: " + *p;
    in_flight_.reset();
    return true;
  }

  // Snapshots live beside the log (file_storage keeps them in files of their
  // own, written under a temporary name and renamed): modelled as one slot
  // that a save replaces atomically and durably.
  void save_snapshot(const snapshot& s) override {
    snap_ = s;
    mirror_.snap = s;
  }

  void crash() override {
    wal_.reset();
    if (sim_ != nullptr) {
      sim_->clear_faults();
      sim_->crash();
    }
  }

  const durable_disk* recover() override {
    wal_.reset();
    auto w = std::make_unique<wal>(*fs_, opts_);
    recovered_state rs;
    try {
      rs = w->open();
    } catch (const sim_crash& c) {
      w.reset();
      power_loss(c, "recovery");
      return nullptr;
    } catch (const std::exception& e) {
      problem_ = std::string("wal::open threw: ") + e.what();
      return nullptr;
    }
    if (auto p = compare(rs)) problem_ = *p;
    mirror_.state = rs.state;
    mirror_.base = rs.log.empty() ? w->base_index() : rs.log.front().index - 1;
    mirror_.log = std::move(rs.log);
    mirror_.snap = snap_;
    in_flight_.reset();
    wal_ = std::move(w);
    return &mirror_;
  }

  const durable_disk& durable() const override { return mirror_; }
  std::optional<std::string> problem() const override { return problem_; }
  std::vector<std::string> take_notes() override { return std::exchange(notes_, {}); }

  bool can_lose_power() const override { return sim_ != nullptr; }
  void arm_power_loss(std::uint64_t ops, bool tear) override {
    if (sim_ == nullptr) return;
    sim_->crash_after(ops);
    tear_ = tear;
  }
  void disarm() override {
    if (sim_ != nullptr) sim_->clear_faults();
  }

  sim_file_system* sim() { return sim_; }
  void set_compaction(bool on) { compaction_ = on; }

 private:
  wal_disk(std::unique_ptr<file_system> fs, sim_file_system* sim, std::string dir, std::uint64_t segment_bytes)
      : fs_(std::move(fs)), sim_(sim) {
    opts_.dir = std::move(dir);
    opts_.segment_bytes = segment_bytes;
    opts_.log = [this](const std::string& line) { notes_.push_back("wal: " + line); };
    fs_->create_dir(opts_.dir);
  }

  void power_loss(const sim_crash& c, const char* during) {
    wal_.reset();
    // A tear keeps a prefix of the last write, or (every other time) any
    // subset of the unsynced pages: later pages without earlier ones.
    const std::size_t kept = sim_->crash(!tear_          ? sim_file_system::drop_unsynced()
                                         : c.op % 2 == 0 ? sim_file_system::torn_pages()
                                                         : sim_file_system::torn_random());
    notes_.push_back(std::string("power lost during ") + during + " after file op " + std::to_string(c.op) + " (" +
                     c.what + ")" + (tear_ ? "; torn write kept " + std::to_string(kept) + " bytes" : ""));
  }

  static std::string hs_str(const hard_state& h) {
    return "(term " + std::to_string(h.current_term) + ", vote " + std::to_string(h.voted_for) + ")";
  }

  // Why `r` is not what the acknowledged writes (plus, whole, the
  // interrupted one) left, or nothing. Entries at or below the log's base (a
  // compaction or a reset) may or may not come back: the snapshot covers them.
  std::optional<std::string> compare(const recovered_state& r) const {
    const durable_disk& a = mirror_;
    const disk_write* f = in_flight_ ? &*in_flight_ : nullptr;
    if (!(r.state == a.state) && !(f && f->state && r.state == *f->state))
      return "recovered hard state " + hs_str(r.state) + " but " + hs_str(a.state) + " was acknowledged" +
             (f && f->state ? " and " + hs_str(*f->state) + " in flight" : "");
    const auto at = [&](index_t i) -> const entry* {
      if (r.log.empty() || i < r.log.front().index || i > r.log.back().index) return nullptr;
      return &r.log[static_cast<std::size_t>(i - r.log.front().index)];
    };
    const index_t r_last = r.log.empty() ? 0 : r.log.back().index;
    // `d`'s entries after its base, exactly through `last`: what r must hold.
    const auto holds = [&](const durable_disk& d, index_t last) {
      if (r_last > last && r_last > d.base) return false;
      for (index_t i = d.base + 1; i <= last; ++i) {
        const entry* e = at(i);
        if (e == nullptr || !sim_detail::same_entry(*e, *d.at(i))) return false;
      }
      return true;
    };
    if (holds(a, a.last_index()) && r.state == a.state) return std::nullopt;
    if (f) {
      // The interrupted write landed whole or not at all: writes are atomic
      // (coraft/storage.hpp), its hard state and entries alike.
      durable_disk b = a;
      b.snap.reset();
      if (!b.write(*f) && holds(b, b.last_index()) && r.state == b.state) return std::nullopt;
      if (!(r.state == a.state) && !(r.state == b.state))
        return "recovered hard state " + hs_str(r.state) + ": neither the acknowledged " + hs_str(a.state) +
               " nor the one of the write in flight";
      if (holds(a, a.last_index()) || holds(b, b.last_index()))
        return "recovered hard state " + hs_str(r.state) + " with the other write's log: part of a write survived";
    }
    index_t k = a.base + 1;
    while (k <= a.last_index() && at(k) != nullptr && sim_detail::same_entry(*at(k), *a.at(k))) ++k;
    std::string what = "recovered a log of " + std::to_string(r.log.size()) + " entries (through " +
                       std::to_string(r_last) + ") but " + std::to_string(a.log.size()) + " after index " +
                       std::to_string(a.base) + " were acknowledged; first difference at index " + std::to_string(k) +
                       ": recovered " + (at(k) ? sim_detail::str(*at(k)) : std::string("nothing")) + ", acknowledged " +
                       (a.at(k) ? sim_detail::str(*a.at(k)) : std::string("nothing"));
    if (f && !f->entries.empty())
      what +=
          "; in flight: " + std::to_string(f->entries.size()) + " entries from " + sim_detail::str(f->entries.front());
    if (f && (f->reset || f->compact)) what += "; in flight: a new base";
    return what;
  }

  std::unique_ptr<file_system> fs_;
  sim_file_system* sim_ = nullptr;  // fs_, when simulated
  wal_options opts_;
  std::unique_ptr<wal> wal_;
  durable_disk mirror_;                  // acknowledged
  std::optional<snapshot> snap_;         // the snapshot slot (survives every crash)
  std::optional<disk_write> in_flight_;  // the write the power may interrupt
  bool compaction_ = true;
  bool tear_ = false;
  std::optional<std::string> problem_;
  std::vector<std::string> notes_;
};

// Where the nodes of a run keep their state.
enum class sim_storage {
  memory,    // the in-memory model (memory_disk)
  sim_file,  // coraft::wal over a sim_file_system per node (power loss modelled)
  posix,     // coraft::wal over the real file system (crash = reopen)
};

// What one run looks like; everything else follows from the seed.
struct sim_config {
  std::uint64_t seed = 1;
  int nodes = 3;
  int fault_ticks = 500;    // length of the fault phase
  int election_ticks = 10;  // core::options::election_ticks
  int heartbeat_ticks = 1;
  int substeps_per_tick = 4;  // granularity of network delays and disk syncs
  int max_delay = 6;          // ordinary delay: 0..max_delay sub-steps (reorders)
  int liveness_proposals = 3;
  std::size_t trace_size = 30;      // events kept for a failure report
  std::ostream* verbose = nullptr;  // when set, every event is printed as it happens
  sim_storage storage = sim_storage::memory;
  // The operations beyond the base algorithm, each drawn per seed from its
  // own generator (off: the run replays what it did before they existed).
  // `focused`: every seed uses them (rates drawn without zero).
  bool snapshots = true;  // snapshots at random points, InstallSnapshot [§7]
  bool reads = true;      // ReadIndex on leaders and followers [thesis §6.4]
  bool transfers = true;  // leadership transfers [thesis §3.10]
  // Servers added, promoted, removed [thesis ch. 4].
  bool membership_changes = false;
  bool focused = false;
  // File storage: compactions go to the WAL (base records, segments removed).
  bool wal_compaction = true;
  // One-way and bridge partitions, clock drift, broken hints, and
  // partitions held after the liveness phase while a majority must commit.
  bool new_faults = true;
  int hold_rounds = 2;
  std::string storage_dir;  // posix: an existing directory; node N uses storage_dir/node-N
};

// Fault rates of one run, drawn from the seed so that runs differ in kind
// (a lossy network, a crash-heavy cluster, slow disks...), not just in luck.
struct fault_profile {
  unsigned drop = 0;           // per mille of sent messages lost
  unsigned duplicate = 0;      // per mille of sent messages delivered twice
  unsigned long_delay = 0;     // per mille of messages delayed up to 3 election timeouts
  unsigned crash = 0;          // per mille per tick: a random up node loses power
  unsigned partition = 0;      // per mille per tick: a new partition
  unsigned pause = 0;          // per mille per tick: a random node freezes
  unsigned sync = 0;           // per mille per sub-step, per node with unsynced writes
  unsigned sync_one = 0;       // per mille of syncs that make only the oldest write durable
  unsigned propose = 0;        // per mille per sub-step: a command to a leader
  unsigned campaign = 0;       // per mille per tick: a node's election timer fires early
  unsigned snapshot = 0;       // per mille per tick: a node snapshots its state machine
  unsigned trailing = 0;       // a snapshot keeps up to this many entries before it in the log
  unsigned read = 0;           // per mille per sub-step: a linearizable read on a random node
  unsigned transfer = 0;       // per mille per tick: a leader hands leadership over
  unsigned config_change = 0;  // per mille per tick: a leader is asked for a membership change
  std::uint64_t max_snapshot_chunk = 1u << 20;
  std::uint64_t snapshot_window = 4;  // InstallSnapshot chunks in flight
  // Faults added with issue 15, drawn from a generator of their own (a seed
  // keeps the rest of its run): the share of partitions that are one-way
  // cuts or bridges (not transitive), clock drift of each node's ticks (per
  // mille, jitter up to a quarter tick), a broken peer's out-of-range
  // rejection hints (per mille of rejections).
  unsigned odd_partition = 0;
  unsigned drift = 0;
  unsigned broken_hint = 0;
  // Core options varied per seed (not faults, but they change the histories).
  unsigned max_append_entries = 4096;
  unsigned max_inflight = 32;

  std::string describe() const {
    return "drop=" + std::to_string(drop) + " dup=" + std::to_string(duplicate) +
           " long_delay=" + std::to_string(long_delay) + " crash=" + std::to_string(crash) +
           " partition=" + std::to_string(partition) + " pause=" + std::to_string(pause) +
           " sync=" + std::to_string(sync) + " sync_one=" + std::to_string(sync_one) +
           " propose=" + std::to_string(propose) + " campaign=" + std::to_string(campaign) +
           " snapshot=" + std::to_string(snapshot) + " read=" + std::to_string(read) +
           " transfer=" + std::to_string(transfer) +
           (config_change != 0 ? " config_change=" + std::to_string(config_change) : std::string()) +
           " odd_partition=" + std::to_string(odd_partition) + " drift=" + std::to_string(drift) +
           " broken_hint=" + std::to_string(broken_hint) +
           " (per mille); max_append_entries=" + std::to_string(max_append_entries) +
           " max_inflight=" + std::to_string(max_inflight) + " trailing=" + std::to_string(trailing) +
           " max_snapshot_chunk=" + std::to_string(max_snapshot_chunk) +
           " snapshot_window=" + std::to_string(snapshot_window);
  }
};

struct sim_stats {
  std::uint64_t events = 0;
  std::uint64_t ticks = 0;
  std::uint64_t delivered = 0;
  std::uint64_t dropped = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t crashes = 0;
  std::uint64_t partitions = 0;
  std::uint64_t pauses = 0;
  std::uint64_t campaigns = 0;
  std::uint64_t syncs = 0;
  std::uint64_t proposals = 0;
  std::uint64_t accepted = 0;
  std::uint64_t power_losses = 0;             // in the middle of a write or a recovery (file storage)
  std::uint64_t snapshots = 0;                // taken
  std::uint64_t installs = 0;                 // snapshots installed from a leader
  std::uint64_t reads = 0;                    // issued
  std::uint64_t reads_served = 0;             // confirmed and served
  std::uint64_t transfers = 0;                // started
  std::uint64_t timeout_nows = 0;             // TimeoutNow messages sent
  std::uint64_t config_changes = 0;           // membership changes asked for
  std::uint64_t config_changes_accepted = 0;  // ... and appended by a leader
  std::uint64_t nodes_added = 0;              // new servers started (as learners or voters)
  std::uint64_t removals = 0;                 // removals accepted (leaders removing themselves included)
  std::uint64_t self_removals = 0;            // ... of the leader itself

  std::string describe() const {
    return std::to_string(events) + " events, " + std::to_string(ticks) + " ticks, " + std::to_string(delivered) +
           " delivered, " + std::to_string(dropped) + " dropped, " + std::to_string(duplicated) + " duplicated, " +
           std::to_string(crashes) + " crashes, " + std::to_string(partitions) + " partitions, " +
           std::to_string(pauses) + " pauses, " + std::to_string(campaigns) + " campaigns, " + std::to_string(syncs) +
           " syncs, " + std::to_string(accepted) + "/" + std::to_string(proposals) + " proposals accepted, " +
           std::to_string(snapshots) + " snapshots taken, " + std::to_string(installs) + " installed, " +
           std::to_string(reads_served) + "/" + std::to_string(reads) + " reads served, " + std::to_string(transfers) +
           " transfers (" + std::to_string(timeout_nows) + " TimeoutNow)" +
           (config_changes != 0
                ? ", " + std::to_string(config_changes_accepted) + "/" + std::to_string(config_changes) +
                      " config changes accepted (" + std::to_string(nodes_added) + " nodes added, " +
                      std::to_string(removals) + " removals, " + std::to_string(self_removals) + " by the leader)"
                : std::string()) +
           (power_losses != 0 ? ", " + std::to_string(power_losses) + " power losses mid-write" : std::string());
  }
};

class sim_cluster {
 public:
  explicit sim_cluster(const sim_config& cfg)
      : cfg_(cfg),
        rng_(cfg.seed ^ 0x636f72616674ULL),
        checker_(static_cast<std::size_t>(cfg.nodes)),
        paused_until_(static_cast<std::size_t>(cfg.nodes), 0),
        group_(static_cast<std::size_t>(cfg.nodes), 0),
        disk_rng_(cfg.seed ^ 0x77616c6469736bULL),
        op_rng_(cfg.seed ^ 0x6f7065726174ULL),
        mem_rng_(cfg.seed ^ 0x6d656d62657273ULL),
        new_rng_(cfg.seed ^ 0x6973737565313500ULL) {
    // File storage draws from its own generator, after nothing else: with the
    // power-loss faults off, a file-backed run replays the memory run's events.
    if (cfg_.storage != sim_storage::memory) {
      segment_bytes_ = disk_rng_.pick(std::vector<std::uint64_t>{256, 4096, 1u << 20});
      if (cfg_.storage == sim_storage::sim_file) {
        write_power_loss_ = static_cast<unsigned>(disk_rng_.pick(std::vector<std::uint64_t>{2, 10, 30}));
        recovery_power_loss_ = static_cast<unsigned>(disk_rng_.pick(std::vector<std::uint64_t>{0, 100, 300}));
      }
    }
    // The profile comes first from the generator: the same seed, the same kind of run.
    profile_.drop = pick_rate({0, 10, 50, 150});
    profile_.duplicate = pick_rate({0, 20, 100});
    profile_.long_delay = pick_rate({0, 10, 50});
    profile_.crash = pick_rate({0, 10, 40});
    profile_.partition = pick_rate({0, 10, 40});
    profile_.pause = pick_rate({0, 10, 40});
    profile_.campaign = pick_rate({0, 5, 20});
    profile_.sync = pick_rate({100, 350, 800});
    profile_.sync_one = pick_rate({0, 500});
    profile_.propose = pick_rate({50, 150});
    // Small batches and windows split what a leader sends into many
    // messages, so that a follower can hold part of a leader's log: the
    // situations of [Fig. 8] and of conflicting suffixes [§5.3] need that.
    profile_.max_append_entries = pick_rate({1, 3, 4096});
    profile_.max_inflight = pick_rate({1, 4, 32});
    // Snapshots, reads and transfers draw from their own generator.
    const auto op_rate = [&](bool on, std::vector<unsigned> choices) -> unsigned {
      if (!on) return 0;
      if (!cfg_.focused) choices.insert(choices.begin(), 0);
      return static_cast<unsigned>(op_rng_.pick(choices));
    };
    profile_.snapshot = op_rate(cfg_.snapshots, {20, 60, 200});
    profile_.trailing = static_cast<unsigned>(op_rng_.pick(std::vector<unsigned>{0, 2, 10, 100}));
    // Small chunks: a snapshot (a few hundred bytes) spans tens of messages.
    profile_.max_snapshot_chunk = op_rng_.pick(std::vector<std::uint64_t>{16, 64, 1u << 20});
    // Drawn apart from op_rng_, so that every other draw of a seed stays
    // what it was before snapshot chunks went out in a window.
    const std::uint64_t windows[] = {1, 2, 4, 16};
    profile_.snapshot_window = windows[splitmix64(cfg.seed * 0x9e3779b97f4a7c15ull + 23).next() % 4];
    profile_.read = op_rate(cfg_.reads, {20, 80});
    profile_.transfer = op_rate(cfg_.transfers, {5, 20});
    // Membership changes draw from their own generator too: with them off
    // (or drawn 0), a seed replays what it did before they existed.
    if (cfg_.membership_changes) {
      std::vector<unsigned> choices{20, 60};
      if (!cfg_.focused) choices.insert(choices.begin(), 0);
      profile_.config_change = static_cast<unsigned>(mem_rng_.pick(choices));
    }
    if (cfg_.new_faults) {
      profile_.odd_partition = static_cast<unsigned>(new_rng_.pick(std::vector<unsigned>{0, 500, 1000}));
      profile_.drift = static_cast<unsigned>(new_rng_.pick(std::vector<unsigned>{0, 0, 30, 100}));
      profile_.broken_hint = static_cast<unsigned>(new_rng_.pick(std::vector<unsigned>{0, 0, 0, 100}));
    }
    std::vector<node_id> voters;
    for (int i = 1; i <= cfg_.nodes; ++i) voters.push_back(static_cast<node_id>(i));
    for (node_id id : voters) {
      nodes_.emplace_back(node_options(id), voters, make_disk(id));
      add_clock();
    }
    initial_profile_ = profile_;
  }

  // The whole story: fault phase, heal, liveness. Returns the first violation.
  std::optional<violation> run() {
    try {
      event("start: " + std::to_string(cfg_.nodes) + " nodes, " + profile_.describe(), every_node, true, [] {});
      if (cfg_.storage != sim_storage::memory)
        note(std::string("storage: coraft::wal on ") +
             (cfg_.storage == sim_storage::posix ? "posix files in " + cfg_.storage_dir
                                                 : std::string("sim_file_system")) +
             ", segments of " + std::to_string(segment_bytes_) + " bytes, power loss in " +
             std::to_string(write_power_loss_) + " per mille of syncs and " + std::to_string(recovery_power_loss_) +
             " per mille of restarts");
      for (core_node& n : nodes_) disk_notes(n);
      for (int t = 0; t < cfg_.fault_ticks; ++t) run_tick(true);
      heal();
      run_liveness();
      if (cfg_.new_faults)
        for (int round = 1; round <= cfg_.hold_rounds; ++round) {
          hold_partition(round);
          run_liveness();
        }
    } catch (const failure& f) {
      return f.v;
    }
    return std::nullopt;
  }

  const sim_config& config() const { return cfg_; }
  // The fault rates of the fault phase (heal() calms the live profile).
  const fault_profile& profile() const { return initial_profile_; }
  const sim_stats& stats() const { return stats_; }
  const invariant_checker& checker() const { return checker_; }
  const core_node& node(node_id id) const { return nodes_[id - 1]; }
  std::size_t node_count() const { return nodes_.size(); }
  std::uint64_t now() const { return now_; }

  // The last trace_size events, oldest first, one per line.
  std::string trace_text() const {
    std::string s;
    for (const auto& line : trace_) s += "  " + line + "\n";
    return s;
  }

 private:
  struct failure : std::exception {
    explicit failure(violation x) : v(std::move(x)) {}
    const char* what() const noexcept override { return "sim invariant violated"; }
    violation v;
  };

  // Network queue key: delivery time, then send order (ties keep FIFO).
  using net_key = std::pair<std::uint64_t, std::uint64_t>;

  enum class action_kind : std::uint8_t { restart, resume, heal_partition };
  struct action {
    action_kind kind;
    node_id id = no_node;
    std::uint64_t generation = 0;
  };

  unsigned pick_rate(const std::vector<unsigned>& choices) { return rng_.pick(choices); }

  core::options node_options(node_id id) const {
    core::options o;
    o.id = id;
    o.election_ticks = cfg_.election_ticks;
    o.heartbeat_ticks = cfg_.heartbeat_ticks;
    o.max_append_entries = profile_.max_append_entries;
    o.max_inflight = profile_.max_inflight;
    o.max_snapshot_chunk = profile_.max_snapshot_chunk;
    o.max_snapshot_chunks_inflight = profile_.snapshot_window;
    o.seed = splitmix64(cfg_.seed * 31 + id).next() | 1;
    return o;
  }

  std::unique_ptr<node_disk> make_disk(node_id id) {
    switch (cfg_.storage) {
      case sim_storage::memory: return nullptr;  // core_node's memory_disk
      case sim_storage::sim_file: {
        auto d = wal_disk::simulated(splitmix64(cfg_.seed * 131 + id).next(), segment_bytes_);
        d->set_compaction(cfg_.wal_compaction);
        return d;
      }
      case sim_storage::posix: {
        auto d = wal_disk::on_posix(cfg_.storage_dir + "/node-" + std::to_string(id), segment_bytes_);
        d->set_compaction(cfg_.wal_compaction);
        return d;
      }
    }
    return nullptr;
  }

  // Recovery notes and power losses of a node's disk, into the trace.
  void disk_notes(core_node& n) {
    for (const std::string& line : n.storage().take_notes()) note("  node " + std::to_string(n.id()) + " " + line);
  }

  // The node's disk lost power in the middle of a write or a recovery: it is
  // down, and comes back like a crashed node.
  void after_power_loss(node_id id) {
    const std::uint64_t down_for = disk_rng_.between(1, 8 * static_cast<std::uint64_t>(cfg_.election_ticks));
    ++stats_.power_losses;
    note("  node " + std::to_string(id) + " is down; restart in " + std::to_string(down_for) + " ticks");
    schedule(now_ + ticks_to_substeps(down_for), {action_kind::restart, id, 0});
  }

  // Maybe arms a power loss within the next `max_ops` file operations of the
  // node's disk; returns the description for the event, empty when not armed.
  std::string maybe_arm_power_loss(core_node& n, unsigned rate, std::uint64_t max_ops) {
    if (!n.storage().can_lose_power() || rate == 0 || !disk_rng_.per_mille(rate)) return {};
    const std::uint64_t k = disk_rng_.between(1, max_ops);
    const bool tear = disk_rng_.per_mille(500);
    n.storage().arm_power_loss(k, tear);
    return " (power fails after file op " + std::to_string(k) + (tear ? ", tearing" : "") + ")";
  }

  core_node& at(node_id id) { return nodes_[id - 1]; }
  bool paused(node_id id) const { return paused_until_[id - 1] > now_; }
  bool active(node_id id) const { return nodes_[id - 1].up() && !paused(id); }
  std::uint64_t ticks_to_substeps(std::uint64_t t) const {
    return t * static_cast<std::uint64_t>(cfg_.substeps_per_tick);
  }

  std::string stamp() const {
    const auto s = static_cast<std::uint64_t>(cfg_.substeps_per_tick);
    return "[" + std::to_string(now_ / s) + "." + std::to_string(now_ % s) + "] ";
  }

  // A line for the trace (and the verbose log) that is not itself an event.
  void note(const std::string& what) {
    std::string line = stamp() + what;
    if (cfg_.verbose != nullptr) *cfg_.verbose << line << '\n';
    trace_.push_back(std::move(line));
    while (trace_.size() > cfg_.trace_size) trace_.pop_front();
  }

  // Which state an event may change: one node's core (a core changes only
  // when it is called, and a node's ready batch only follows its own events)
  // or every node's, and whether a disk was written. The per-node checks skip
  // nodes an event cannot have changed; that is what keeps checking after
  // every event affordable.
  static constexpr node_id every_node = no_node;

  // One event: record it, act, drain every ready batch, check everything.
  template <class F>
  void event(const std::string& what, node_id touched, bool disk_written, F&& act) {
    ++stats_.events;
    note(what);
    act();
    drain_all();
    check_all(touched, disk_written);
  }

  [[noreturn]] void fail(violation v) { throw failure(std::move(v)); }

  // --- the network -----------------------------------------------------

  void send(message m) {
    check_message(m);
    check_one_vote(m);
    if (profile_.broken_hint != 0) break_hint(m);
    if (rng_.per_mille(profile_.drop)) {
      ++stats_.dropped;
      note("  drop " + describe(m));
      return;
    }
    if (rng_.per_mille(profile_.duplicate)) {
      ++stats_.duplicated;
      enqueue(m);
    }
    enqueue(std::move(m));
  }

  void enqueue(message m) {
    std::uint64_t delay = rng_.below(static_cast<std::uint64_t>(cfg_.max_delay) + 1);
    if (rng_.per_mille(profile_.long_delay))
      delay = rng_.between(static_cast<std::uint64_t>(cfg_.max_delay),
                           ticks_to_substeps(3 * static_cast<std::uint64_t>(cfg_.election_ticks)));
    net_.emplace(net_key{now_ + delay, next_seq_++}, std::move(m));
  }

  void drain_all() {
    for (core_node& n : nodes_) {
      outbox_.clear();
      held_.clear();
      if (!n.take(outbox_, &held_)) continue;
      for (const auto* box : {&outbox_, &held_})
        for (const message& m : *box) check_prevote_round(n, m);
      if (membership_on()) {
        // Judged against the configuration in force when the core emitted
        // them (votes wait for the sync, meanwhile the node may learn more).
        for (const auto* box : {&outbox_, &held_})
          for (const message& m : *box) check(checker_.check_only_voters_campaign(n.id(), n.raft(), &m));
      }
      for (auto& m : outbox_) send(std::move(m));
    }
  }

  // Delivers every message due by now, including those sent with no delay
  // by the deliveries themselves.
  void deliver_due() {
    std::uint64_t guard = 0;
    while (!net_.empty() && net_.begin()->first.first <= now_) {
      if (++guard > 200000) fail({"liveness", "more than 200000 messages delivered within one sub-step"});
      auto handle = net_.extract(net_.begin());
      message& m = handle.mapped();
      const node_id to = m.to;
      if (to == no_node || to > nodes_.size()) fail({"messages", "bad destination: " + describe(m)});
      if (!at(to).up()) {
        ++stats_.dropped;
        note("  lost (node " + std::to_string(to) + " down) " + describe(m));
        continue;
      }
      if (paused(to)) {  // a frozen process: the message waits in its socket buffer
        handle.key() =
            net_key{paused_until_[to - 1] + rng_.below(static_cast<std::uint64_t>(cfg_.max_delay) + 1), next_seq_++};
        net_.insert(std::move(handle));
        continue;
      }
      if (m.from >= 1 && m.from <= nodes_.size() &&
          (group_[m.from - 1] != group_[to - 1] || cuts_.count({m.from, to}) != 0)) {
        ++stats_.dropped;
        note("  cut (partition) " + describe(m));
        continue;
      }
      ++stats_.delivered;
      if (const auto* v = std::get_if<vote_response>(&m.body); v && v->pre_vote && v->granted)
        prevote_grants_[{to, at(to).incarnation(), m.term}].insert(m.from);
      if (std::holds_alternative<timeout_now>(m.body)) {
        deliver_timeout_now(m);
        continue;
      }
      event("deliver " + describe(m), to, false, [&] { at(to).raft().step(m); });
    }
  }

  // --- time ------------------------------------------------------------

  void run_tick(bool faulty) {
    for (int s = 0; s < cfg_.substeps_per_tick; ++s) substep(faulty);
  }

  void substep(bool faulty) {
    ++now_;
    run_scheduled();
    if (now_ % static_cast<std::uint64_t>(cfg_.substeps_per_tick) == 0) {
      if (faulty) inject_faults();
      ++stats_.ticks;
      if (profile_.drift == 0)
        event("tick", every_node, false, [&] {
          for (core_node& n : nodes_)
            if (active(n.id())) n.raft().tick();
        });
    }
    if (profile_.drift != 0) tick_drifting_clocks();
    if (faulty && rng_.per_mille(profile_.propose)) propose_random();
    if (faulty && op_rng_.per_mille(profile_.read)) read_random();
    deliver_due();
    random_syncs();
  }

  void run_scheduled() {
    while (!scheduled_.empty() && scheduled_.begin()->first <= now_) {
      const action a = scheduled_.begin()->second;
      scheduled_.erase(scheduled_.begin());
      switch (a.kind) {
        case action_kind::restart:
          if (!at(a.id).up()) {
            core_node& n = at(a.id);
            const std::string armed = maybe_arm_power_loss(n, recovery_power_loss_, 4);
            bool ok = true;
            event("restart node " + std::to_string(a.id) + armed, a.id, false, [&] { ok = n.restart(); });
            n.storage().disarm();
            disk_notes(n);
            if (!ok) after_power_loss(a.id);
          }
          break;
        case action_kind::resume: note("resume node " + std::to_string(a.id)); break;
        case action_kind::heal_partition:
          if (a.generation == partition_generation_)
            event("heal partition", every_node, false, [&] {
              std::fill(group_.begin(), group_.end(), 0);
              cuts_.clear();
            });
          break;
      }
    }
  }

  void schedule(std::uint64_t at_time, action a) { scheduled_.emplace(at_time, a); }

  void random_syncs() {
    for (core_node& n : nodes_) {
      if (!active(n.id()) || n.pending_writes() == 0) continue;
      if (!rng_.per_mille(profile_.sync)) continue;
      ++stats_.syncs;
      const bool one = rng_.per_mille(profile_.sync_one);
      // Each append is a write and a sync; a roll-over adds up to 9 operations
      // (seal, sync, a new segment written, synced, renamed, the directory synced).
      const std::string armed = maybe_arm_power_loss(n, write_power_loss_, 2 * (one ? 1 : n.pending_writes()) + 8);
      event(std::string(one ? "sync_one" : "sync") + " node " + std::to_string(n.id()) + " (" +
                std::to_string(n.pending_writes()) + " pending)" + armed,
            n.id(), true, [&] {
              outbox_.clear();
              if (one)
                n.sync_one(outbox_);
              else
                n.sync(outbox_);
              for (auto& m : outbox_) send(std::move(m));
            });
      if (!armed.empty()) {
        disk_notes(n);
        if (n.up())
          n.storage().disarm();
        else
          after_power_loss(n.id());
      }
    }
  }

  // --- faults ----------------------------------------------------------

  std::vector<node_id> ids_where(bool (sim_cluster::*pred)(node_id) const) const {
    std::vector<node_id> out;
    for (const core_node& n : nodes_)
      if ((this->*pred)(n.id())) out.push_back(n.id());
    return out;
  }
  bool is_up(node_id id) const { return nodes_[id - 1].up(); }
  bool is_active(node_id id) const { return active(id); }

  // Half of the node faults hit a leader when there is one: losing the
  // leader is what forces elections, truncations and the recovery paths of
  // [§5.3]-[§5.4], where the interesting bugs live.
  node_id pick_victim(const std::vector<node_id>& candidates) {
    if (rng_.per_mille(500)) {
      std::vector<node_id> leaders;
      for (node_id id : candidates)
        if (at(id).up() && at(id).raft().state() == core::role::leader) leaders.push_back(id);
      if (!leaders.empty()) return rng_.pick(leaders);
    }
    return rng_.pick(candidates);
  }

  void inject_faults() {
    const auto election = static_cast<std::uint64_t>(cfg_.election_ticks);
    if (rng_.per_mille(profile_.crash)) {
      const auto up = ids_where(&sim_cluster::is_up);
      if (!up.empty()) {
        const node_id id = pick_victim(up);
        const std::uint64_t down_for = rng_.between(1, 8 * election);
        ++stats_.crashes;
        event("crash node " + std::to_string(id) + " (" + std::to_string(at(id).pending_writes()) +
                  " unsynced writes lost; restart in " + std::to_string(down_for) + " ticks)",
              id, false, [&] { at(id).crash(); });
        schedule(now_ + ticks_to_substeps(down_for), {action_kind::restart, id, 0});
      }
    }
    const bool partition = rng_.per_mille(profile_.partition);
    if (partition && new_rng_.per_mille(profile_.odd_partition)) {
      const std::uint64_t lasts = new_rng_.between(5, 8 * election);
      ++stats_.partitions;
      ++partition_generation_;
      std::set<std::pair<node_id, node_id>> cuts;
      const std::string desc = odd_partition(cuts, all_ids());
      event(desc + " for " + std::to_string(lasts) + " ticks", every_node, false, [&] {
        std::fill(group_.begin(), group_.end(), 0);
        cuts_ = cuts;
      });
      schedule(now_ + ticks_to_substeps(lasts), {action_kind::heal_partition, no_node, partition_generation_});
    } else if (partition) {
      std::vector<int> groups(group_.size(), 0);
      if (rng_.per_mille(500)) {
        std::vector<node_id> all;
        for (const core_node& n : nodes_) all.push_back(n.id());
        groups[pick_victim(all) - 1] = 1;  // isolate one node
      } else {
        for (int& g : groups) g = static_cast<int>(rng_.below(3));
      }
      const std::uint64_t lasts = rng_.between(5, 8 * election);
      ++stats_.partitions;
      ++partition_generation_;
      std::string desc = "partition";
      for (int g = 0; g < 3; ++g) {
        std::string members;
        for (std::size_t i = 0; i < groups.size(); ++i)
          if (groups[i] == g) members += (members.empty() ? "" : ",") + std::to_string(i + 1);
        if (!members.empty()) desc += " {" + members + "}";
      }
      event(desc + " for " + std::to_string(lasts) + " ticks", every_node, false, [&] {
        group_ = groups;
        cuts_.clear();
      });
      schedule(now_ + ticks_to_substeps(lasts), {action_kind::heal_partition, no_node, partition_generation_});
    }
    if (rng_.per_mille(profile_.pause)) {
      const auto candidates = ids_where(&sim_cluster::is_active);
      if (!candidates.empty()) {
        const node_id id = pick_victim(candidates);
        const std::uint64_t lasts = rng_.between(1, 4 * election);
        ++stats_.pauses;
        paused_until_[id - 1] = now_ + ticks_to_substeps(lasts);
        note("pause node " + std::to_string(id) + " for " + std::to_string(lasts) + " ticks");
        schedule(paused_until_[id - 1], {action_kind::resume, id, 0});
      }
    }
    if (op_rng_.per_mille(profile_.snapshot)) snapshot_random();
    if (op_rng_.per_mille(profile_.transfer)) transfer_random();
    if (mem_rng_.per_mille(profile_.config_change)) change_membership_random();
    if (rng_.per_mille(profile_.campaign)) {
      const auto candidates = ids_where(&sim_cluster::is_active);
      if (!candidates.empty()) {
        // [§5.2] Randomized timeouts make split votes rare, not impossible:
        // an early timeout on any node (the leader included) is legal.
        const node_id id = rng_.pick(candidates);
        ++stats_.campaigns;
        event("campaign node " + std::to_string(id), id, false, [&] { at(id).raft().campaign(); });
      }
    }
  }

  // --- proposals -------------------------------------------------------

  std::optional<core::propose_result> propose_to(node_id id, const std::string& data) {
    std::optional<core::propose_result> res;
    ++stats_.proposals;
    checker_.note_proposed(data);
    event("propose '" + data + "' to node " + std::to_string(id), id, false, [&] {
      res = at(id).raft().propose(data);
      if (res->result == core::propose_result::code::accepted) ++stats_.accepted;
    });
    return res;
  }

  std::string next_command() { return "s" + std::to_string(cfg_.seed) + "-" + std::to_string(++command_counter_); }

  void propose_random() {
    std::vector<node_id> leaders;
    for (const core_node& n : nodes_)
      if (active(n.id()) && n.raft().state() == core::role::leader) leaders.push_back(n.id());
    if (leaders.empty()) return;
    propose_to(rng_.pick(leaders), next_command());
  }

  // --- snapshots, reads, transfers ---------------------------------------

  // [§7] A random node snapshots its state machine at its applied index and
  // compacts its log, keeping a random number of entries before it.
  void snapshot_random() {
    std::vector<node_id> ids;
    for (const core_node& n : nodes_) {
      if (!active(n.id()) || n.sm().index == 0) continue;
      // As coraft::node does: no snapshot where the configuration is not
      // known (a joiner before the entry adding it), since a snapshot
      // carries it [thesis §5.1].
      if (n.raft().config_at(n.sm().index).voters.empty()) continue;
      const snapshot* s = n.raft().latest_snapshot();
      if (s == nullptr || s->meta.last.index < n.sm().index) ids.push_back(n.id());
    }
    if (ids.empty()) return;
    const node_id id = pick_victim_op(ids);
    core_node& n = at(id);
    const index_t keep = op_rng_.below(profile_.trailing + 1);
    ++stats_.snapshots;
    event("snapshot node " + std::to_string(id) + " at index " + std::to_string(n.sm().index) + " keeping " +
              std::to_string(keep) + " entries before it",
          id, true, [&] { n.take_snapshot(keep); });
  }

  // [thesis §3.10] A random leader hands leadership to a random voter or to
  // the best one (no_node).
  void transfer_random() {
    std::vector<node_id> leaders;
    for (const core_node& n : nodes_)
      if (active(n.id()) && n.raft().state() == core::role::leader) leaders.push_back(n.id());
    if (leaders.empty()) return;
    const node_id from = op_rng_.pick(leaders);
    node_id to = no_node;
    if (op_rng_.per_mille(500)) to = static_cast<node_id>(op_rng_.between(1, nodes_.size()));
    core::raft::transfer_result res{};
    event("transfer leadership from node " + std::to_string(from) + " to " +
              (to == no_node ? std::string("the best voter") : sim_detail::node_str(to)),
          from, false, [&] { res = at(from).raft().transfer_leadership(to); });
    if (res == core::raft::transfer_result::started) {
      ++stats_.transfers;
      note("  started: target node " + std::to_string(at(from).raft().transfer_target()));
    }
  }

  // [thesis ch. 4] A random leader is asked for a random membership change:
  // add a brand-new server (a learner mostly, now and then straight as a
  // voter; it starts empty as a joiner), promote a learner, remove a
  // follower (voter or learner), or remove itself. The draws lean towards
  // growing when few voters are left and shrinking when many are; ids are
  // never reused, voters stay within 1..max_voters. The leader may refuse
  // (busy, not caught up, transferring): that is part of the story.
  static constexpr std::size_t max_voters = 7;
  void change_membership_random() {
    std::vector<node_id> leaders;
    for (const core_node& n : nodes_)
      if (active(n.id()) && n.raft().state() == core::role::leader) leaders.push_back(n.id());
    if (leaders.empty()) return;
    const node_id l = mem_rng_.pick(leaders);
    const membership c = at(l).raft().config();
    std::vector<node_id> others;  // members but the leader
    for (const auto* ids : {&c.voters, &c.learners})
      for (node_id id : *ids)
        if (id != l) others.push_back(id);
    const std::size_t voters = c.voters.size();
    const bool can_add = nodes_.size() < static_cast<std::size_t>(3 * cfg_.nodes);
    enum { add_learner, add_voter, promote, remove_other, remove_self };
    std::vector<int> choices;
    const auto weigh = [&](int what, int weight) { choices.insert(choices.end(), weight, what); };
    if (can_add) weigh(add_learner, voters < 3 ? 4 : 3);
    // Voters stay within 1..max_voters: one and two voters are the
    // configurations where a lost vote or a stale removal stalls elections.
    const std::size_t min_voters = 1;
    const bool may_grow = voters < max_voters && voters >= min_voters;
    std::vector<node_id> removable;  // others whose removal keeps min_voters
    for (node_id id : others)
      if (!c.is_voter(id) || voters > min_voters) removable.push_back(id);
    if (can_add && may_grow) weigh(add_voter, 1);  // an empty server straight as a voter
    if (!c.learners.empty() && may_grow) weigh(promote, voters < 3 ? 5 : 3);
    if (!removable.empty()) weigh(remove_other, voters > 5 ? 5 : voters >= 3 ? 2 : 1);
    if (c.is_voter(l) && voters > min_voters) weigh(remove_self, voters > 3 ? 2 : 1);
    if (choices.empty()) return;
    core::config_change ch;
    const int pick = mem_rng_.pick(choices);
    switch (pick) {
      case add_learner:
      case add_voter:
        ch.type = pick == add_voter ? core::config_change::kind::add_voter : core::config_change::kind::add_learner;
        ch.id = static_cast<node_id>(nodes_.size() + 1);
        ch.address = "sim-" + std::to_string(ch.id);
        break;
      case promote:
        ch.type = core::config_change::kind::promote;
        ch.id = mem_rng_.pick(c.learners);
        break;
      case remove_other:
        ch.type = core::config_change::kind::remove;
        ch.id = mem_rng_.pick(removable);
        break;
      default:
        ch.type = core::config_change::kind::remove;
        ch.id = l;
        break;
    }
    static const char* const kinds[] = {"add learner", "add voter", "promote", "remove"};
    const std::string what = std::string(kinds[static_cast<int>(ch.type)]) + " node " + std::to_string(ch.id);
    core::config_result res;
    ++stats_.config_changes;
    event(
        "membership: ask leader node " + std::to_string(l) + " to " + what + " (in force: " + sim_detail::str(c) + ")",
        l, false, [&] {
          res = at(l).raft().propose_config(ch);
          if (res.result != core::config_result::code::accepted) return;
          ++stats_.config_changes_accepted;
          if (ch.type == core::config_change::kind::remove) {
            ++stats_.removals;
            if (ch.id == l) ++stats_.self_removals;
          }
          // A new server starts empty, knowing no configuration: a joiner
          // that does not campaign until a config names it.
          if (ch.id == nodes_.size() + 1) add_node(ch.id);
        });
    static const char* const codes[] = {"accepted", "not leader", "transferring",
                                        "busy",     "bad member", "not caught up"};
    note("  " + std::string(codes[static_cast<int>(res.result)]) +
         (res.result == core::config_result::code::accepted ? " at " + sim_detail::str(res.id) : std::string()));
  }

  void add_node(node_id id) {
    ++stats_.nodes_added;
    nodes_.emplace_back(node_options(id), std::vector<node_id>{}, make_disk(id));
    paused_until_.push_back(0);
    // On a random side of the partition in force, if any.
    group_.push_back(group_[static_cast<std::size_t>(mem_rng_.below(group_.size()))]);
    installs_seen_.push_back(0);
    add_clock();
    disk_notes(nodes_.back());
  }

  // Whether this run changes membership (the membership checkers run only then:
  // without config entries they hold trivially).
  bool membership_on() const { return initial_profile_.config_change != 0; }

  node_id pick_victim_op(const std::vector<node_id>& ids) {
    if (op_rng_.per_mille(300)) {
      for (node_id id : ids)
        if (at(id).raft().state() == core::role::leader) return id;
    }
    return op_rng_.pick(ids);
  }

  // [thesis §6.4] A linearizable read on a random node (a follower asks its
  // leader: a follower read). It must return a state at least as new as
  // everything applied anywhere before it began.
  void read_random() {
    const auto candidates = ids_where(&sim_cluster::is_active);
    if (candidates.empty()) return;
    issue_read(op_rng_.pick(candidates));
  }

  std::uint64_t issue_read(node_id id) {
    const std::uint64_t ctx = ++read_counter_;
    reads_[ctx] = {id, checker_.read_began()};
    ++stats_.reads;
    event("read " + std::to_string(ctx) + " on node " + std::to_string(id) + " (index " +
              std::to_string(checker_.read_began()) + " applied before it began)",
          id, false, [&] { at(id).read(ctx); });
    return ctx;
  }

  // Reads the nodes served since the last look, checked.
  void collect_reads(core_node& n) {
    for (const served_read& r : n.take_served()) {
      const auto it = reads_.find(r.ctx);
      // A duplicated answer to a read already answered: its client is gone
      // (a runtime matches answers to waiting reads by ctx).
      if (it == reads_.end() && r.ctx != 0 && r.ctx <= read_counter_) continue;
      if (it == reads_.end() || it->second.node != n.id())
        fail({"linearizable reads",
              sim_detail::node_str(n.id()) + " served read " + std::to_string(r.ctx) + " that it was never asked"});
      const pending_read p = it->second;
      reads_.erase(it);
      if (!r.ok) {
        note("  read " + std::to_string(r.ctx) + " on node " + std::to_string(n.id()) + " failed");
        continue;
      }
      ++stats_.reads_served;
      served_reads_.insert(r.ctx);
      note("  read " + std::to_string(r.ctx) + " on node " + std::to_string(n.id()) + " served: read index " +
           std::to_string(r.read_index) + ", state at " + std::to_string(r.index));
      check(checker_.check_read(n.id(), r.ctx, p.began_after, r));
    }
  }

  // What every message says about transfers [thesis §3.10]: TimeoutNow goes
  // only from a leader to its current transfer target, once that target's
  // log matches the leader's; a vote request flagged as a transfer comes only
  // from a node that got TimeoutNow for that election, and the election a
  // TimeoutNow starts skips pre-vote.
  void check_message(const message& m) {
    if (std::holds_alternative<timeout_now>(m.body)) {
      ++stats_.timeout_nows;
      const core_node& l = at(m.from);
      const core::raft& r = l.raft();
      const std::string who = "TimeoutNow from " + sim_detail::node_str(m.from) + " to " + sim_detail::node_str(m.to) +
                              " in term " + std::to_string(m.term);
      // [thesis §4.2.2] A leader that removed itself steps down once that
      // commits and hands over to a voter of the new configuration.
      if (l.up() && r.state() == core::role::follower && r.term() == m.term && !r.config().is_voter(m.from)) {
        const entry* newest = sim_detail::newest_config_entry(r);
        if (!r.config().is_voter(m.to) || (newest != nullptr && newest->index > r.commit_index()))
          fail({"removed leader steps down",
                who + " from a leader that removed itself, but " + sim_detail::node_str(m.to) + " is not a voter of " +
                    sim_detail::str(r.config()) + " or that configuration is not committed [thesis §4.2.2]"});
        return;
      }
      if (!l.up() || r.state() != core::role::leader || r.term() != m.term)
        fail({"leadership transfer", who + " but it does not lead that term"});
      if (r.transfer_target() != m.to)
        fail({"leadership transfer", who + " but its transfer target is " + std::to_string(r.transfer_target())});
      for (const core::peer_status& p : r.get_status().progress)
        if (p.id == m.to && p.match_index != r.last_log().index)
          fail({"leadership transfer", who + " before the target's log matches (match " +
                                           std::to_string(p.match_index) + ", last " + sim_detail::str(r.last_log()) +
                                           ") [thesis §3.10]"});
      return;
    }
    if (const auto* v = std::get_if<vote_request>(&m.body)) {
      // (A crash can lose the term the TimeoutNow started: then the node may
      // campaign in that term again, normally.)
      const auto it = transfer_elections_.find(m.from);
      const bool after_timeout_now = it != transfer_elections_.end() && it->second.first == at(m.from).incarnation() &&
                                     it->second.second == m.term;
      if (v->transfer && (v->pre_vote || !after_timeout_now))
        fail({"leadership transfer", sim_detail::node_str(m.from) + " sent a transfer vote request in term " +
                                         std::to_string(m.term) +
                                         (v->pre_vote ? " as a pre-vote" : " without a TimeoutNow")});
      if (after_timeout_now && !v->pre_vote && !v->transfer)
        fail({"leadership transfer", sim_detail::node_str(m.from) + " campaigns after TimeoutNow in term " +
                                         std::to_string(m.term) +
                                         " without flagging the transfer (leases would refuse it)"});
    }
  }

  // A TimeoutNow arrives: a follower or candidate of that term (or an
  // earlier one) must start a real election at once — a new term, no
  // pre-vote [thesis §3.10] — unless it is installing a snapshot (its log is
  // being replaced: it ignores TimeoutNow and the transfer is abandoned).
  void deliver_timeout_now(const message& m) {
    core_node& n = at(m.to);
    const term_t before = n.raft().term();
    const core::role role_before = n.raft().state();
    const bool installing = n.installing();
    // Only a voter campaigns [thesis §4.2.1]: one that is not (yet, or any
    // more) in its configuration in force ignores TimeoutNow.
    const bool voter = n.raft().config().is_voter(m.to);
    event("deliver " + describe(m), m.to, false, [&] {
      n.raft().step(m);
      if (m.term < before || role_before == core::role::leader || installing || !voter) return;
      const core::raft& r = n.raft();
      // (A voter alone in its configuration wins its own election at once.)
      const bool won_alone = r.state() == core::role::leader && r.config().voters.size() == 1;
      if ((r.state() != core::role::candidate && !won_alone) || r.term() != m.term + 1)
        fail({"leadership transfer", sim_detail::node_str(m.to) + " got TimeoutNow in term " + std::to_string(m.term) +
                                         " (its term " + std::to_string(before) + ") and is now " +
                                         core::to_string(r.state()) + " in term " + std::to_string(r.term()) +
                                         " instead of a candidate of term " + std::to_string(m.term + 1) +
                                         " (no pre-vote) [thesis §3.10]"});
      transfer_elections_[m.to] = {n.incarnation(), r.term()};
    });
  }

  // At most one transfer in flight per leader: while a target is set, the
  // leader does not switch to another.
  void check_transfer_target(const core_node& n) {
    const core::raft& r = n.raft();
    transfer_track& t = transfer_tracks_[n.id()];
    const node_id now = r.state() == core::role::leader ? r.transfer_target() : no_node;
    if (t.incarnation == n.incarnation() && t.term == r.term() && t.target != no_node && now != no_node &&
        now != t.target)
      fail({"leadership transfer", sim_detail::node_str(n.id()) + " (leader of term " + std::to_string(r.term()) +
                                       ") switched its transfer from " + sim_detail::node_str(t.target) + " to " +
                                       sim_detail::node_str(now) + " while the first was in flight"});
    t = {n.incarnation(), r.term(), now};
  }

  // --- invariants ------------------------------------------------------

  void check(std::optional<violation> v) {
    if (v) fail(std::move(*v));
  }

  // The configuration a node booted with: the initial voters, or nothing
  // (a server added later joins empty).
  membership booted(node_id id) const {
    return id <= static_cast<node_id>(cfg_.nodes) ? checker_.bootstrap() : membership{};
  }

  void check_all(node_id touched, bool disk_written) {
    disks_by_id_.clear();
    for (const core_node& n : nodes_) disks_by_id_[n.id()] = &n.disk();
    for (core_node& n : nodes_)
      stats_.installs += n.snapshots_installed() - std::exchange(installs_seen_[n.id() - 1], n.snapshots_installed());
    for (const core_node& n : nodes_)
      if (auto p = n.storage().problem()) fail({"durable storage", sim_detail::node_str(n.id()) + ": " + *p});
    for (const core_node& n : nodes_) {
      if (!n.up() || (touched != every_node && touched != n.id())) continue;
      const core::raft& r = n.raft();
      invariant_checker::check_core(r);
      check(checker_.check_monotonic(n.id(), n.incarnation(), r.term(), r.commit_index()));
      check(checker_.check_election_safety(n.id(), r.term(), r.state()));
      check(checker_.check_log_matching(n.id(), n.incarnation(), r));
      check(checker_.check_committed_stable(n.id(), n.incarnation(), r.term(), r.commit_index(), r));
      check(checker_.check_state_machine_safety(n.id(), n.sm_epoch(), n.sm_base(), n.applied(), r.commit_index()));
      check_transfer_target(n);
      check(checker_.check_commit_counted(n.id(), n.incarnation(), r, disks_by_id_));
      if (membership_on()) {
        const entry* newest = sim_detail::newest_config_entry(r);
        check(checker_.check_config_in_force(n.id(), r, booted(n.id()), newest));
        check(checker_.check_single_server_changes(n.id(), n.incarnation(), r));
        check(checker_.check_one_change_in_flight(n.id(), r));
        check(checker_.check_leader_config(n.id(), r, newest));
        check(checker_.check_only_voters_campaign(n.id(), r, nullptr));
        check(checker_.check_removed_leader_steps_down(n.id(), r, newest));
      }
    }
    for (core_node& n : nodes_) {
      if (n.problem()) fail({"runtime", sim_detail::node_str(n.id()) + ": " + *n.problem()});
      if (touched == every_node || touched == n.id()) collect_reads(n);
      if (disk_written && n.disk().snap) check(checker_.check_snapshot(n.id(), *n.disk().snap));
    }
    // Every leader, touched or not: the committed set may have grown.
    for (const core_node& n : nodes_)
      if (n.up())
        check(checker_.check_leader_completeness(n.id(), n.incarnation(), n.raft().term(), n.raft().state(), n.raft()));
    if (membership_on()) {
      // Config entries after the newest committed configuration, as servers
      // hold them (at most one change is in flight; a few stale ones of
      // deposed leaders may linger until overwritten).
      // Every one seen is kept until the committed configuration passes it:
      // an entry counted under a change that a later leader then truncated
      // stays durable on that change's majority, not necessarily on C's.
      const index_t c = checker_.committed_config_index();
      std::erase_if(pending_seen_, [c](const auto& kv) { return kv.first.index <= c; });
      for (const core_node& n : nodes_) {
        if (!n.up()) continue;
        const core::raft& r = n.raft();
        for (index_t i = r.last_log().index; i > c && i >= r.first_index(); --i) {
          const entry* e = r.entry_at(i);
          if (e == nullptr || e->type != entry_type::config || pending_seen_.count(e->id()) != 0) continue;
          if (auto m = sim_detail::config_of(*e)) pending_seen_.emplace(e->id(), std::move(*m));
        }
      }
      pending_configs_.clear();
      for (const auto& [id, m] : pending_seen_) pending_configs_.push_back(m);
    }
    check(checker_.check_committed_durable(disks_by_id_, disk_written, pending_configs_));
  }

  // --- issue 15: votes, pre-votes, clocks, odd partitions, broken peers ---

  std::vector<node_id> all_ids() const {
    std::vector<node_id> out;
    for (const core_node& n : nodes_) out.push_back(n.id());
    return out;
  }

  // [§5.2, Fig. 2] One vote per term per server, across its crashes: a
  // granted vote the network carries must agree with every earlier one of
  // that server in that term (a server that forgot its vote — storage that
  // lost the hard state — votes twice).
  void check_one_vote(const message& m) {
    const auto* v = std::get_if<vote_response>(&m.body);
    if (v == nullptr || v->pre_vote || !v->granted) return;
    auto [it, inserted] = votes_granted_.try_emplace({m.from, m.term}, m.to);
    if (!inserted && it->second != m.to)
      fail({"one vote per term", sim_detail::node_str(m.from) + " granted its vote in term " + std::to_string(m.term) +
                                     " to " + sim_detail::node_str(it->second) + " and then to " +
                                     sim_detail::node_str(m.to) + " [§5.2]"});
  }

  // [thesis §9.6] A pre-candidate becomes a candidate of term T only with
  // pre-votes granted for T by a majority of its voters (itself counted): a
  // grant from an earlier round, for another term, says nothing about this
  // one. Checked when the core emits a (non-transfer) vote request.
  void check_prevote_round(const core_node& n, const message& m) {
    const auto* v = std::get_if<vote_request>(&m.body);
    if (v == nullptr || v->pre_vote || v->transfer) return;
    const membership& c = n.raft().config();
    const std::size_t self = c.is_voter(n.id()) ? 1 : 0;
    const std::size_t need =
        sim_detail::majority(c.voters.size()) - std::min(self, sim_detail::majority(c.voters.size()));
    std::size_t granted = 0;
    if (const auto it = prevote_grants_.find({n.id(), n.incarnation(), m.term}); it != prevote_grants_.end())
      for (node_id g : it->second) granted += c.is_voter(g) && g != n.id() ? 1 : 0;
    if (granted < need)
      fail({"pre-vote", sim_detail::node_str(n.id()) + " campaigns in term " + std::to_string(m.term) + " with " +
                            std::to_string(granted) + " pre-votes granted for that term (it needs " +
                            std::to_string(need) + " of " + sim_detail::str(c) +
                            "): it counted grants of another round [thesis §9.6]"});
  }

  // A broken peer (another version, a bug): some of its rejections name an
  // index and a hint far past the leader's log and a term above it. The
  // leader must bound them (its progress stays within its log: the core's
  // invariant checker sees to that).
  void break_hint(message& m) {
    auto* r = std::get_if<append_response>(&m.body);
    if (r == nullptr || r->success || m.to < 1 || m.to > nodes_.size() || !at(m.to).up()) return;
    if (!new_rng_.per_mille(profile_.broken_hint)) return;
    const index_t last = at(m.to).raft().last_log().index;
    if (new_rng_.per_mille(250)) {  // the far end: what an unbounded search would wrap around
      r->index = ~index_t{0};
      r->hint = {~term_t{0}, ~index_t{0}};
    } else {
      r->index = last + new_rng_.between(1, 1000);
      r->hint = {m.term + new_rng_.between(0, 1000), r->index + new_rng_.below(1000)};
    }
    note("  broken peer " + std::to_string(m.from) + ": rejection index " + std::to_string(r->index) + " hint " +
         sim_detail::str(r->hint));
  }

  // Each node's own clock: a tick every period (drift) with jitter.
  void add_clock() {
    const std::uint64_t base = ticks_to_substeps(1) * 1000;
    std::uint64_t period = base;
    if (profile_.drift != 0) {
      const auto d =
          static_cast<std::int64_t>(new_rng_.below(2 * profile_.drift + 1)) - static_cast<std::int64_t>(profile_.drift);
      period = static_cast<std::uint64_t>(static_cast<std::int64_t>(base) * (1000 + d) / 1000);
    }
    clock_period_.push_back(period);
    clock_next_.push_back(now_ * 1000 + (profile_.drift != 0 ? new_rng_.below(period) + 1 : period));
  }
  void tick_drifting_clocks() {
    for (std::size_t k = 0; k < nodes_.size(); ++k) {
      while (now_ * 1000 >= clock_next_[k]) {
        const std::uint64_t p = clock_period_[k];
        clock_next_[k] += p - p / 8 + new_rng_.below(p / 4 + 1);
        const node_id id = static_cast<node_id>(k + 1);
        if (!active(id)) continue;
        event("tick node " + std::to_string(id), id, false, [&] { at(id).raft().tick(); });
      }
    }
  }

  // One of the partitions coraft's network model adds to halves and a
  // server cut off: one-way cuts (a server that cannot send, or cannot
  // receive, to some others), and bridges (two sides that each reach a
  // middle server but not each other: not transitive).
  std::string odd_partition(std::set<std::pair<node_id, node_id>>& cuts, const std::vector<node_id>& ids) {
    cuts.clear();
    if (ids.size() < 2) return "no partition";
    if (new_rng_.per_mille(500)) {
      const node_id v = pick_victim(ids);
      const bool outbound = new_rng_.per_mille(500);
      std::string desc =
          "one-way partition: node " + std::to_string(v) + (outbound ? " cannot send to" : " cannot hear");
      for (node_id o : ids)
        if (o != v && new_rng_.per_mille(700)) {
          cuts.insert(outbound ? std::make_pair(v, o) : std::make_pair(o, v));
          desc += " " + std::to_string(o);
        }
      return desc;
    }
    const node_id middle = new_rng_.pick(ids);
    std::map<node_id, int> side;
    std::string desc = "bridge partition through node " + std::to_string(middle) + ":";
    for (node_id a : ids) {
      side[a] = a == middle ? 2 : static_cast<int>(new_rng_.below(2));
      desc += " " + std::to_string(a) + ":" + std::to_string(side[a]);
    }
    for (node_id a : ids)
      for (node_id b : ids)
        if (side[a] + side[b] == 1) cuts.insert({a, b});
    return desc;
  }

  // Liveness while a partition holds: with a majority of the voters
  // connected both ways among themselves, a leader among such a majority
  // commits a new command [§5.2; check-quorum and pre-vote, thesis §6.2,
  // §9.6]. From a settled cluster (run_liveness just converged).
  void hold_partition(int round) {
    const auto election = static_cast<std::uint64_t>(cfg_.election_ticks);
    const std::optional<node_id> leader = stable_leader();
    if (!leader) fail({"liveness", "no stable leader before held partition " + std::to_string(round)});
    const std::vector<node_id> voters = node(*leader).raft().config().voters;
    const std::vector<node_id> ids = all_ids();
    const auto both = [&](node_id a, node_id b) { return cuts_.count({a, b}) == 0 && cuts_.count({b, a}) == 0; };
    std::set<node_id> eligible;
    std::string desc;
    for (int attempt = 0; eligible.empty(); ++attempt) {
      if (attempt > 1000) fail({"liveness", "no partition with a connected majority found"});
      std::set<std::pair<node_id, node_id>> cuts;
      desc = odd_partition(cuts, ids);
      cuts_ = cuts;
      const std::size_t need = sim_detail::majority(voters.size());
      for (std::uint32_t mask = 1; mask < (1u << voters.size()); ++mask) {
        std::vector<node_id> set;
        for (std::size_t i = 0; i < voters.size(); ++i)
          if (mask & (1u << i)) set.push_back(voters[i]);
        if (set.size() < need) continue;
        bool ok = true;
        for (std::size_t i = 0; ok && i < set.size(); ++i)
          for (std::size_t j = i + 1; ok && j < set.size(); ++j) ok = both(set[i], set[j]);
        if (ok) eligible.insert(set.begin(), set.end());
      }
    }
    event("hold " + desc, every_node, false, [] {});
    const std::uint64_t deadline = stats_.ticks + 15 * election + 20;
    std::optional<std::pair<log_id, node_id>> wanted;  // proposed to a leader among the eligible
    for (;;) {
      for (node_id id : eligible) {
        const core::raft& r = node(id).raft();
        if (!active(id) || r.state() != core::role::leader) continue;
        if (wanted && wanted->second == id && r.term() == wanted->first.term &&
            r.commit_index() >= wanted->first.index && r.term_at(wanted->first.index) == wanted->first.term) {
          note("held partition " + std::to_string(round) + ": node " + std::to_string(id) + " committed " +
               sim_detail::str(wanted->first));
          event("heal held partition", every_node, false, [&] { cuts_.clear(); });
          return;
        }
        if (!wanted || wanted->second != id || r.term() != wanted->first.term) {
          const auto res = propose_to(id, next_command());
          if (res->result == core::propose_result::code::accepted) wanted = {{res->id.term, res->id.index}, id};
        }
      }
      if (stats_.ticks >= deadline) {
        std::string e;
        for (node_id id : eligible) e += (e.empty() ? "" : ",") + std::to_string(id);
        fail({"liveness while partitioned", desc + " left voters {" + e +
                                                "} connected both ways, but none of them led and committed a new "
                                                "entry within " +
                                                std::to_string(15 * election + 20) + " ticks:" + roles()});
      }
      run_tick(false);
    }
  }

  // --- heal and liveness -----------------------------------------------

  // Ends every fault: restarts crashed nodes, wakes paused ones, joins the
  // partitions, empties the wire (stale messages are a fault too), and
  // switches to a calm profile: no loss, short delays, disks that keep up.
  void heal() {
    event("heal: no more faults", every_node, false, [&] {
      std::fill(group_.begin(), group_.end(), 0);
      cuts_.clear();
      std::fill(paused_until_.begin(), paused_until_.end(), 0);
      stats_.dropped += net_.size();
      net_.clear();
      scheduled_.clear();
    });
    write_power_loss_ = recovery_power_loss_ = 0;
    for (core_node& n : nodes_)
      if (!n.up()) {
        event("restart node " + std::to_string(n.id()), n.id(), false, [&] { n.restart(); });
        disk_notes(n);
      }
    profile_.drop = profile_.duplicate = profile_.long_delay = 0;
    profile_.crash = profile_.partition = profile_.pause = profile_.campaign = 0;
    profile_.snapshot = profile_.read = profile_.transfer = profile_.config_change = 0;
    profile_.broken_hint = 0;
    profile_.sync = 1000;
    profile_.sync_one = 0;
    profile_.propose = 0;
  }

  // The members of a leader's configuration in force, itself included (a
  // leader that removed itself leads until that commits). Servers outside
  // it — removed ones, joiners whose addition was lost — are not waited for:
  // they must only not get in the way [thesis §4.2.3].
  std::vector<node_id> members_of(node_id leader) const {
    const membership& c = node(leader).raft().config();
    std::vector<node_id> ids = c.voters;
    ids.insert(ids.end(), c.learners.begin(), c.learners.end());
    ids.push_back(leader);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
  }

  // A leader whose every member is active and follows it in its term.
  std::optional<node_id> stable_leader() const {
    for (const core_node& c : nodes_) {
      if (!active(c.id()) || c.raft().state() != core::role::leader) continue;
      const core::raft& l = c.raft();
      bool stable = true;
      for (node_id id : members_of(c.id())) {
        const core_node& n = node(id);
        stable = stable && active(id) && n.raft().term() == l.term() && n.raft().leader() == c.id();
      }
      if (stable) return c.id();
    }
    return std::nullopt;
  }

  std::string roles() const {
    std::string s;
    for (const core_node& n : nodes_) {
      const core::raft& r = n.raft();
      s +=
          "\n    node " + std::to_string(n.id()) + ": " + core::to_string(r.state()) + " term " +
          std::to_string(r.term()) + " leader " + std::to_string(r.leader()) + " commit " +
          std::to_string(r.commit_index()) + " last " + sim_detail::str(r.last_log()) + " first " +
          std::to_string(r.first_index()) + " applied " + std::to_string(n.sm().index) + " pending writes " +
          std::to_string(n.pending_writes()) +
          (r.transfer_target() != no_node ? " transferring to " + std::to_string(r.transfer_target()) : std::string()) +
          (membership_on() ? " config " + sim_detail::str(r.config()) : std::string());
    }
    return s;
  }

  // [§5.2] [§8] Once faults stop, a leader must emerge within a bound, and
  // commands proposed to it must be applied on every node within a bound.
  //
  // A leader that looks stable at the moment of healing can still be
  // replaced legitimately: followers whose election timers ran during a
  // partition may start a (pre-)vote right after it heals, and the new leader
  // need not hold the old leader's uncommitted entries [§5.4.2]. A client
  // would then retry; so does this phase, with a new command (re-sending the
  // same bytes could apply them twice). What must hold is that the cluster
  // settles: within the bound, `liveness_proposals` commands made to a stable
  // leader are applied on every node and all logs converge.
  void run_liveness() {
    const auto election = static_cast<std::uint64_t>(cfg_.election_ticks);
    const std::uint64_t leader_bound = 10 * 2 * election + 50;
    // Plus time to ship the backlog: with tiny batches and windows (down to
    // one entry per round trip) a follower far behind needs one round trip
    // per batch, and a round trip takes up to 2 * max_delay + 2 sub-steps.
    index_t backlog = 0;
    for (const core_node& n : nodes_) backlog = std::max(backlog, n.raft().last_log().index);
    const std::uint64_t round_trip_ticks =
        (2 * static_cast<std::uint64_t>(cfg_.max_delay) + 2 + ticks_to_substeps(1) - 1) / ticks_to_substeps(1);
    // A follower behind the leader's first index gets the snapshot instead,
    // one chunk per round trip (a lost one resent after a heartbeat round),
    // and a transfer still in flight holds proposals for an election timeout.
    const std::uint64_t snapshot_chunks = 1024 / profile_.max_snapshot_chunk + 2;
    const std::uint64_t commit_bound = 5 * election + 20 +
                                       (backlog + wanted_batch() - 1) / wanted_batch() * round_trip_ticks +
                                       (cfg_.snapshots ? snapshot_chunks * (round_trip_ticks + 1) + 2 * election : 0) +
                                       (cfg_.transfers ? 2 * election : 0) +
                                       // A leader that removed itself steps down once that commits; its
                                       // TimeoutNow can be lost to a member still installing a snapshot.
                                       (membership_on() ? 4 * election : 0);
    const std::uint64_t start = stats_.ticks;
    const std::uint64_t deadline = start + leader_bound + commit_bound;
    const auto wanted_count = static_cast<std::size_t>(cfg_.liveness_proposals);
    std::vector<std::pair<log_id, std::string>> wanted;
    std::optional<node_id> last_leader;
    for (;;) {
      const std::optional<node_id> leader = stable_leader();
      if (leader && leader != last_leader)
        note("stable leader: node " + std::to_string(*leader) + " term " + std::to_string(node(*leader).raft().term()));
      if (leader) last_leader = leader;
      if (!leader && stats_.ticks - start >= leader_bound && !last_leader)
        fail({"liveness", "no stable leader " + std::to_string(leader_bound) +
                              " ticks after healing (all nodes up, no faults):" + roles()});
      if (leader) {
        const core::raft& l = node(*leader).raft();
        // Commands the stable leader of a later term does not hold are gone
        // (or at least not coming back while it leads): retry with new ones.
        std::erase_if(wanted, [&](const std::pair<log_id, std::string>& w) {
          const bool lost = w.first.term < l.term() && l.term_at(w.first.index) != w.first.term;
          if (lost)
            note("liveness: '" + w.second + "'@" + sim_detail::str(w.first) + " was lost with its leader; retrying");
          return lost;
        });
        while (wanted.size() < wanted_count) {
          const std::string data = next_command();
          const auto res = propose_to(*leader, data);
          // [thesis §3.10] A transfer begun before healing holds proposals
          // until it completes or is abandoned (an election timeout).
          if (res->result == core::propose_result::code::transferring) break;
          if (res->result != core::propose_result::code::accepted)
            fail({"liveness", "stable leader node " + std::to_string(*leader) + " refused '" + data +
                                  "' after healing:" + roles()});
          wanted.emplace_back(res->id, data);
        }
        if (wanted.size() == wanted_count && converged(*leader, wanted)) break;
      }
      if (stats_.ticks >= deadline) {
        std::string which;
        for (const auto& [id, data] : wanted) which += " '" + data + "'@" + sim_detail::str(id);
        fail({"liveness", "within " + std::to_string(deadline - start) + " ticks of healing, proposals" + which +
                              " were not applied on every node with converged logs:" + roles()});
      }
      run_tick(false);
    }
    note(
        "liveness: " + std::to_string(wanted.size()) + " proposals applied on all " +
        (membership_on() ? "members of " + sim_detail::str(node(*last_leader).raft().config()) : std::string("nodes")) +
        " " + std::to_string(stats_.ticks - start) + " ticks after healing");
    if (cfg_.reads) read_liveness(members_of(*last_leader), stats_.ticks + 5 * election + 20);
  }

  // [thesis §6.4] With the cluster settled, a read on every node (followers
  // through the leader) is served, within the same bound.
  void read_liveness(const std::vector<node_id>& members, std::uint64_t deadline) {
    std::map<node_id, std::uint64_t> waiting;  // node -> ctx of its read
    for (node_id id : members) waiting[id] = 0;
    for (;;) {
      for (auto& [id, ctx] : waiting) {
        if (ctx != 0 && served_reads_.count(ctx) != 0) continue;
        if (ctx == 0 || reads_.count(ctx) == 0) ctx = issue_read(id);  // none yet, or it failed
      }
      bool all = true;
      for (const auto& [id, ctx] : waiting) all = all && served_reads_.count(ctx) != 0;
      if (all) break;
      if (stats_.ticks >= deadline)
        fail({"liveness", "reads issued after healing were not all served in time:" + roles()});
      run_tick(false);
    }
    note("liveness: a read served on every node");
  }

  std::uint64_t wanted_batch() const { return std::max<std::uint64_t>(1, profile_.max_append_entries); }

  // Every wanted command applied at its index, every member's state machine
  // (voters and learners of the leader's configuration) through the common
  // commit index (by entries or by a snapshot: the checkers verify the
  // state), and all their logs and commit indexes equal.
  bool converged(node_id leader, const std::vector<std::pair<log_id, std::string>>& wanted) const {
    const core::raft& first = node(leader).raft();
    for (node_id id : members_of(leader)) {
      const core_node& n = node(id);
      if (!n.up()) return false;
      if (n.raft().last_log() != first.last_log() || n.raft().commit_index() != first.commit_index() ||
          n.sm().index != first.commit_index())
        return false;
    }
    for (const auto& [id, data] : wanted) {
      const entry* e = checker_.applied_at(id.index);
      if (id.index > first.commit_index() || e == nullptr || e->data != data || e->term != id.term) return false;
    }
    return true;
  }

  sim_config cfg_;
  splitmix64 rng_;
  fault_profile profile_;
  fault_profile initial_profile_;
  sim_stats stats_;
  invariant_checker checker_;
  std::deque<core_node> nodes_;              // nodes_[id - 1]; grows (never shrinks) as servers join
  std::vector<std::uint64_t> paused_until_;  // sub-step; paused while > now_
  std::vector<int> group_;                   // partition group per node; equal groups can talk
  std::uint64_t partition_generation_ = 0;
  std::map<net_key, message> net_;  // in flight, by delivery time
  std::multimap<std::uint64_t, action> scheduled_;
  std::uint64_t now_ = 0;  // in sub-steps
  std::uint64_t next_seq_ = 0;
  std::uint64_t command_counter_ = 0;
  std::deque<std::string> trace_;
  std::vector<message> outbox_;
  // Reads issued and not yet answered, by ctx; transfers seen.
  struct pending_read {
    node_id node = no_node;
    index_t began_after = 0;  // checker_.read_began() when issued
  };
  std::map<std::uint64_t, pending_read> reads_;
  std::set<std::uint64_t> served_reads_;
  std::uint64_t read_counter_ = 0;
  struct transfer_track {
    int incarnation = -1;
    term_t term = 0;
    node_id target = no_node;
  };
  std::map<node_id, transfer_track> transfer_tracks_;
  // node -> (incarnation, term) a TimeoutNow made it campaign in
  std::map<node_id, std::pair<int, term_t>> transfer_elections_;
  std::vector<std::uint64_t> installs_seen_ = std::vector<std::uint64_t>(static_cast<std::size_t>(cfg_.nodes), 0);
  // File storage (sim_config::storage): its own generator and settings.
  splitmix64 disk_rng_;
  std::uint64_t segment_bytes_ = 0;
  unsigned write_power_loss_ = 0;     // per mille of syncs: the power fails during the appends
  unsigned recovery_power_loss_ = 0;  // per mille of restarts: ... during the recovery
  // Snapshots, reads and transfers: their own generator (sim_config::snapshots...).
  splitmix64 op_rng_;
  // Membership changes: their own generator; nodes added so far.
  splitmix64 mem_rng_;
  std::vector<message> held_;  // after-sync messages of the batch being drained
  std::map<node_id, const durable_disk*> disks_by_id_;
  std::vector<membership> pending_configs_;
  std::map<log_id, membership> pending_seen_;  // config entries after the committed one, by id
  // Issue 15's faults: their own generator; one-way cuts and bridges (a
  // message from a to b is lost when (a, b) is cut, whatever the groups);
  // each node's clock (micro-sub-steps); granted votes by (voter, term);
  // granted pre-votes delivered, by (candidate, incarnation, term).
  splitmix64 new_rng_;
  std::set<std::pair<node_id, node_id>> cuts_;
  std::vector<std::uint64_t> clock_period_;
  std::vector<std::uint64_t> clock_next_;
  std::map<std::pair<node_id, term_t>, node_id> votes_granted_;
  std::map<std::tuple<node_id, int, term_t>, std::set<node_id>> prevote_grants_;
};

}  // namespace coraft::test
