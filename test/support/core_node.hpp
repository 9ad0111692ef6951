// test/support/core_node.hpp — one protocol core plus a model of its disk and
// of its state machine, driven exactly as the ready contract says
// (coraft/core/raft.hpp).
//
// The node keeps "written" and "durable" apart: take() moves a ready batch's
// writes into a pending queue; sync() makes everything pending durable and
// only then releases the batch's send_after_sync messages and calls
// synced_to(). crash() drops what was never synced; restart() builds a new
// core from the durable state only: from the newest durable snapshot plus the
// log after it when there is one (the snapshot constructor), else from the
// log alone. Used by unit, scenario and sim tests.
//
// Snapshots [§7]: take_snapshot() captures the model state machine, makes it
// durable, hands it to the core (snapshot_taken) and queues the compaction of
// the log as a pending write. A snapshot the core hands out in
// ready::install_snapshot becomes two pending writes, so that a crash can
// fall between them: (1) the snapshot made durable, (2) the log discarded
// durably (a reset), the state machine restored, snapshot_installed(). A
// restart that finds a snapshot the log does not continue (the crash fell
// between 1 and 2) finishes step 2 first: [§7] "discard the entire log".
//
// Reads [thesis §6.4]: read() asks the core; each confirmed read_state waits
// until the state machine has applied through its index and is then served:
// its value is the state machine's (index, hash) at that moment.
//
// The disk itself is a node_disk chosen at construction: by default the
// in-memory model (memory_disk over durable_disk); the simulation can put the
// real write-ahead log under it instead (wal_disk in sim_cluster.hpp).
#pragma once

#include <coraft/core/raft.hpp>
#include <coraft/detail/crc32c.hpp>
#include <support/snapshot_transfer.hpp>

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coraft::test {

// The model state machine: what applying the log so far amounts to. Two
// states at the same index are equal iff they applied the same entries
// (hash), which is what lets the checkers compare a node restored from a
// snapshot with one that applied every entry. `tail` gives the snapshot some
// bulk (so it spans many InstallSnapshot chunks) and must survive a round
// trip through encode()/decode().
struct model_state {
  static constexpr std::uint64_t initial_hash = 14695981039346656037ull;  // FNV-1a basis
  static constexpr std::size_t tail_size = 16;

  index_t index = 0;  // last applied entry
  term_t term = 0;
  std::uint64_t hash = initial_hash;  // FNV-1a over every applied entry
  std::uint64_t count = 0;            // normal commands applied
  std::vector<std::string> tail;      // the last tail_size commands, oldest first

  static std::uint64_t mix(std::uint64_t h, const entry& e) {
    const auto byte = [&h](unsigned char c) {
      h ^= c;
      h *= 1099511628211ull;
    };
    for (int s = 0; s < 64; s += 8) byte(static_cast<unsigned char>(e.index >> s));
    for (int s = 0; s < 64; s += 8) byte(static_cast<unsigned char>(e.term >> s));
    byte(static_cast<unsigned char>(e.type));
    for (const char c : std::string_view(e.data)) byte(static_cast<unsigned char>(c));
    return h;
  }

  void apply(const entry& e) {
    index = e.index;
    term = e.term;
    hash = mix(hash, e);
    if (e.type == entry_type::normal) {
      ++count;
      tail.emplace_back(std::string_view(e.data));
      if (tail.size() > tail_size) tail.erase(tail.begin());
    }
  }

  // "model <index> <term> <hash> <count> <tail size>\n", one line per tail
  // command, then a padding line whose length follows from the hash.
  std::string encode() const {
    std::string s = "model " + std::to_string(index) + " " + std::to_string(term) + " " + std::to_string(hash) + " " +
                    std::to_string(count) + " " + std::to_string(tail.size()) + "\n";
    for (const std::string& c : tail) s += c + "\n";
    s += std::string(static_cast<std::size_t>(hash % 128), '.') + "\n";
    return s;
  }

  static std::optional<model_state> decode(std::string_view in) {
    model_state m;
    std::size_t pos = 0;
    const auto line = [&]() -> std::optional<std::string_view> {
      const std::size_t end = in.find('\n', pos);
      if (end == std::string_view::npos) return std::nullopt;
      std::string_view l = in.substr(pos, end - pos);
      pos = end + 1;
      return l;
    };
    const auto head = line();
    if (!head || head->substr(0, 6) != "model ") return std::nullopt;
    std::uint64_t f[5] = {};
    std::size_t p = 6;
    for (auto& v : f) {
      if (p >= head->size() || (*head)[p] < '0' || (*head)[p] > '9') return std::nullopt;
      while (p < head->size() && (*head)[p] >= '0' && (*head)[p] <= '9')
        v = v * 10 + static_cast<std::uint64_t>((*head)[p++] - '0');
      ++p;
    }
    m.index = f[0];
    m.term = f[1];
    m.hash = f[2];
    m.count = f[3];
    if (f[4] > tail_size) return std::nullopt;
    for (std::uint64_t k = 0; k < f[4]; ++k) {
      const auto c = line();
      if (!c) return std::nullopt;
      m.tail.emplace_back(*c);
    }
    const auto pad = line();
    if (!pad || pad->size() != m.hash % 128 || pos != in.size()) return std::nullopt;
    return m;
  }

  friend bool operator==(const model_state&, const model_state&) = default;
};

// One durable write, carried out in this order (as coraft::log_write):
// reset, compact, state, entries.
struct disk_write {
  std::optional<hard_state> state;
  std::vector<entry> entries;
  std::optional<log_id> reset;    // an installed snapshot replaced the log
  std::optional<log_id> compact;  // entries through it are covered by a durable snapshot
};

struct durable_disk {
  hard_state state;
  std::optional<snapshot> snap;  // the newest durable snapshot
  index_t base = 0;              // the log holds the entries after this index
  std::vector<entry> log;        // contiguous from base + 1

  index_t last_index() const { return base + log.size(); }
  const entry* at(index_t i) const {
    return i > base && i <= last_index() ? &log[static_cast<std::size_t>(i - base - 1)] : nullptr;
  }

  // Why `w` cannot be carried out on this log (a hole, a compaction past the
  // end), or nothing once it was.
  std::optional<std::string> write(const disk_write& w) {
    if (w.reset) {
      log.clear();
      base = w.reset->index;
    }
    if (w.compact && w.compact->index > base) {
      if (w.compact->index > last_index())
        return "compaction through " + std::to_string(w.compact->index) + " beyond the last entry " +
               std::to_string(last_index());
      log.erase(log.begin(), log.begin() + static_cast<std::ptrdiff_t>(w.compact->index - base));
      base = w.compact->index;
    }
    if (w.state) state = *w.state;
    if (w.entries.empty()) return std::nullopt;
    const index_t first = w.entries.front().index;
    if (first <= base || first > last_index() + 1)
      return "entry " + std::to_string(first) + " does not continue the log " + std::to_string(base + 1) + ".." +
             std::to_string(last_index());
    log.resize(static_cast<std::size_t>(first - base - 1));  // truncate a conflicting suffix
    for (const auto& e : w.entries) log.push_back(e);
    return std::nullopt;
  }
  void write(const std::optional<hard_state>& s, const std::vector<entry>& entries) {
    (void)write(disk_write{s, entries, {}, {}});
  }
};

// What a core_node persists through. write() returns only once the write is
// durable; crash() is a power loss; recover() is what a restart finds.
class node_disk {
 public:
  virtual ~node_disk() = default;
  // Makes one write durable. False: the power failed during it (a fault the
  // disk injected itself, see arm_power_loss); the node is down from then on.
  virtual bool write(const disk_write& w) = 0;
  // Makes a snapshot durable, atomically (a file written under a temporary
  // name, synced, renamed): a crash leaves the old or the new one.
  virtual void save_snapshot(const snapshot& s) = 0;
  // Power loss while the node is not writing.
  virtual void crash() = 0;
  // The durable state a new incarnation starts from; nullptr when recovery
  // failed (the power failed during it: try again later; or problem() says
  // why). The node stays down then.
  virtual const durable_disk* recover() = 0;
  // What has been acknowledged as durable (by write() or recover()): what
  // the checkers count as stored on this node.
  virtual const durable_disk& durable() const = 0;
  // A broken storage promise found (lost acknowledged data, corruption).
  virtual std::optional<std::string> problem() const { return std::nullopt; }
  // Lines worth a trace entry since the last call (recovery notes...).
  virtual std::vector<std::string> take_notes() { return {}; }
  // Fault injection for disks that can lose power in the middle of their own
  // operations: the `ops`-th mutating file operation from now is the last
  // before the power fails (`tear`: a prefix of an unsynced write survives).
  virtual bool can_lose_power() const { return false; }
  virtual void arm_power_loss(std::uint64_t ops, bool tear) {
    (void)ops;
    (void)tear;
  }
  virtual void disarm() {}
};

// The model: a write is durable the moment write() is called, nothing else
// ever happens to it. A write that does not fit the log is a problem().
class memory_disk final : public node_disk {
 public:
  bool write(const disk_write& w) override {
    if (auto p = durable_.write(w); p && !problem_) problem_ = "bad write: " + *p;
    return true;
  }
  void save_snapshot(const snapshot& s) override { durable_.snap = s; }
  void crash() override {}
  const durable_disk* recover() override { return &durable_; }
  const durable_disk& durable() const override { return durable_; }
  std::optional<std::string> problem() const override { return problem_; }

 private:
  durable_disk durable_;
  std::optional<std::string> problem_;
};

// A read served by the node: its read index and the state it read.
struct served_read {
  std::uint64_t ctx = 0;
  bool ok = false;
  index_t read_index = 0;
  index_t index = 0;       // the state machine's applied index when served
  std::uint64_t hash = 0;  // ... and its hash
};

class core_node {
 public:
  core_node(core::options opts, std::vector<node_id> voters, std::unique_ptr<node_disk> disk = nullptr)
      : opts_(opts), voters_(std::move(voters)), disk_(disk ? std::move(disk) : std::make_unique<memory_disk>()) {
    restart();
  }

  core::raft& raft() { return *raft_; }
  const core::raft& raft() const { return *raft_; }
  node_id id() const { return opts_.id; }
  bool up() const { return up_; }
  const durable_disk& disk() const { return disk_->durable(); }
  node_disk& storage() { return *disk_; }
  const node_disk& storage() const { return *disk_; }
  // Entries applied to the state machine since it last started over (a
  // restart or a snapshot restore: see sm_epoch()), in order.
  const std::vector<entry>& applied() const { return applied_; }
  // The state machine now, and where it started in this epoch.
  const model_state& sm() const { return sm_; }
  const model_state& sm_base() const { return sm_base_; }
  // Bumped whenever the state machine starts over (restart, snapshot install).
  int sm_epoch() const { return sm_epoch_; }
  std::size_t pending_writes() const { return pending_.size(); }
  // A snapshot from the leader handed out and not yet installed.
  bool installing() const {
    for (const pending_write& w : pending_)
      if (w.install) return true;
    return false;
  }
  std::uint64_t snapshots_installed() const { return installed_; }
  // A broken promise of the runtime side (a snapshot that does not decode,
  // a recovered state the core refuses), for the checkers.
  const std::optional<std::string>& problem() const { return problem_; }

  // Drains the core's ready batch. Messages that may go out now are appended
  // to `outbox`; writes wait for sync(). Returns false if there was nothing.
  // `held`, when given, gets a copy of the messages that wait for the sync
  // (votes, acks): a checker can judge them against the core's state at the
  // moment it emitted them, which may have changed by the time they go out.
  bool take(std::vector<message>& outbox, std::vector<message>* held = nullptr) {
    if (!up_ || !raft_->has_ready()) return false;
    core::ready rd = raft_->take_ready();
    test::fill_chunks(rd.send_now);
    for (auto& m : rd.send_now) outbox.push_back(std::move(m));
    if (held != nullptr) held->insert(held->end(), rd.send_after_sync.begin(), rd.send_after_sync.end());
    pending_write w;
    w.write.state = std::move(rd.persist_state);
    w.write.entries = std::move(rd.persist_entries);
    w.after_sync = std::move(rd.send_after_sync);
    if (w.write.state || !w.write.entries.empty() || !w.after_sync.empty()) pending_.push_back(std::move(w));
    for (auto& e : rd.apply) {
      sm_.apply(e);
      applied_.push_back(std::move(e));
    }
    // A snapshot a leader sends, received in memory (the runtime writes it
    // to a file).
    receiver_.receive(*raft_, rd.snapshot_chunks);
    if (rd.install_snapshot) {
      // [§7] After every earlier write: the snapshot durable, then the log
      // discarded durably and the state machine restored.
      pending_write save;
      save.save = rd.install_snapshot;
      pending_.push_back(std::move(save));
      pending_write install;
      install.install = std::move(rd.install_snapshot);
      pending_.push_back(std::move(install));
    }
    for (const core::read_state& r : rd.read_states) {
      if (r.ok)
        reads_.push_back(r);
      else
        served_.push_back({r.ctx, false, 0, 0, 0});
    }
    serve_reads();
    return true;
  }

  // Makes every pending write durable, in order; releases after-sync messages.
  // Should the disk lose power during a write (an injected fault), what was
  // synced before stays released and the node is down (as after crash()).
  void sync(std::vector<message>& outbox) {
    if (!up_) return;
    auto batch = std::move(pending_);
    pending_.clear();
    for (auto& w : batch)
      if (!persist(w, outbox)) return;
  }

  // Only the first pending write becomes durable (a partial group commit).
  void sync_one(std::vector<message>& outbox) {
    if (!up_ || pending_.empty()) return;
    pending_write w = std::move(pending_.front());
    pending_.erase(pending_.begin());
    persist(w, outbox);
  }

  // Power loss: everything not synced is gone, the node stays down. Reads
  // waiting to be served are lost with it (their clients time out).
  void crash() {
    pending_.clear();
    reads_.clear();
    receiver_.reset();
    up_ = false;
    disk_->crash();
  }

  // [§7] Log compaction: captures the state machine as a snapshot, makes it
  // durable, hands it to the core with the log compacted through
  // `trailing` entries before it, and queues the durable compaction.
  // False when there is nothing new to capture.
  // Not while a snapshot from the leader is being installed: the state
  // machine is about to be replaced, and saving its older state would
  // replace the newer snapshot already durable (step 1) under a log that
  // step 2 resets past it.
  bool take_snapshot(index_t trailing) {
    if (!up_ || sm_.index == 0 || installing()) return false;
    const snapshot* old = raft_->latest_snapshot();
    if (old != nullptr && old->meta.last.index >= sm_.index) return false;
    snapshot s;
    const std::string data = sm_.encode();
    s.meta.last = {sm_.term, sm_.index};
    s.meta.config = raft_->config_at(sm_.index);
    s.meta.size = data.size();
    s.meta.crc = detail::crc32c(data.data(), data.size());
    s.data = snapshot_bytes(payload(data));
    disk_->save_snapshot(s);
    const index_t before = raft_->first_index();
    raft_->snapshot_taken(s, sm_.index > trailing ? sm_.index - trailing : 0);
    const index_t first = raft_->first_index();
    if (first > before) {
      pending_write w;
      w.write.compact = log_id{*raft_->term_at(first - 1), first - 1};
      pending_.push_back(std::move(w));
    }
    return true;
  }

  // A linearizable read [thesis §6.4]; its outcome comes out of take_served().
  void read(std::uint64_t ctx) { raft_->read_index(ctx); }
  std::vector<served_read> take_served() { return std::exchange(served_, {}); }
  std::size_t waiting_reads() const { return reads_.size(); }

  // A new incarnation from the durable state (the state machine starts over).
  // False when the disk lost power while recovering: the node stays down.
  bool restart() {
    pending_.clear();
    reads_.clear();
    receiver_.reset();
    const durable_disk* d = disk_->recover();
    if (d == nullptr) {
      up_ = false;
      return false;
    }
    ++incarnation_;
    core::options o = opts_;
    o.seed = opts_.seed * 1000003 + incarnation_;
    try {
      if (d->snap) {
        const log_id last = d->snap->meta.last;
        const entry* e = d->at(last.index);
        if (d->base != last.index && (e == nullptr || e->term != last.term)) {
          // The log does not continue the snapshot: an install was cut
          // between its two steps. [§7] "discard the entire log", durably.
          if (!disk_->write(disk_write{{}, {}, last, {}})) {
            up_ = false;
            return false;
          }
          d = &disk_->durable();
        }
        auto m = model_state::decode(read_all(*d->snap->data));
        if (!m) throw std::runtime_error("the durable snapshot does not decode");
        start_sm(*m);
        raft_ = std::make_unique<core::raft>(o, d->state, *d->snap, d->log);
      } else {
        if (d->base != 0) throw std::runtime_error("a compacted log but no snapshot");
        start_sm(model_state{});
        raft_ = std::make_unique<core::raft>(o, voters_, d->state, d->log);
      }
    } catch (const std::exception& ex) {
      if (!problem_) problem_ = std::string("restart: ") + ex.what();
      up_ = false;
      return false;
    }
    up_ = true;
    return true;
  }

  int incarnation() const { return incarnation_; }

 private:
  test::memory_snapshot_receiver receiver_;

  struct pending_write {
    disk_write write;
    std::vector<message> after_sync;
    std::optional<snapshot> save;     // an installed snapshot, step 1
    std::optional<snapshot> install;  // ... step 2
  };

  void start_sm(model_state m) {
    sm_ = std::move(m);
    sm_base_ = sm_;
    applied_.clear();
    ++sm_epoch_;
  }

  void serve_reads() {
    std::erase_if(reads_, [&](const core::read_state& r) {
      if (r.index > sm_.index) return false;
      served_.push_back({r.ctx, true, r.index, sm_.index, sm_.hash});
      return true;
    });
  }

  // One write through the disk; false if the power failed during it.
  bool persist(pending_write& w, std::vector<message>& outbox) {
    if (w.save) {
      disk_->save_snapshot(*w.save);
      return true;
    }
    if (w.install) {
      const log_id last = w.install->meta.last;
      if (!disk_->write(disk_write{{}, {}, last, {}})) return power_failed();
      const std::string bytes = read_all(*w.install->data);
      auto m = model_state::decode(bytes);
      if (!m || m->index != last.index || m->term != last.term) {
        if (!problem_)
          problem_ = "installed snapshot through " + std::to_string(last.index) +
                     " does not decode to the state at that index";
        return true;
      }
      if (m->encode() != bytes && !problem_) problem_ = "a restored state does not encode back to its snapshot";
      start_sm(*m);
      ++installed_;
      raft_->snapshot_installed(last);
      serve_reads();
      return true;
    }
    if (!disk_->write(w.write)) return power_failed();
    for (auto& m : w.after_sync) outbox.push_back(std::move(m));
    if (!w.write.entries.empty()) raft_->synced_to(w.write.entries.back().id());
    if (w.write.state) raft_->state_synced(w.write.state->current_term);
    return true;
  }

  bool power_failed() {
    pending_.clear();
    reads_.clear();
    up_ = false;
    return false;
  }

  core::options opts_;
  std::vector<node_id> voters_;
  std::unique_ptr<core::raft> raft_;
  std::unique_ptr<node_disk> disk_;
  std::vector<pending_write> pending_;
  std::vector<entry> applied_;
  model_state sm_;
  model_state sm_base_;
  int sm_epoch_ = 0;
  std::vector<core::read_state> reads_;  // confirmed, waiting for the state machine
  std::vector<served_read> served_;
  std::uint64_t installed_ = 0;
  std::optional<std::string> problem_;
  bool up_ = false;
  int incarnation_ = 0;
};

}  // namespace coraft::test
