// test/support/core_node.hpp — one protocol core plus a model of its disk,
// driven exactly as the ready contract says (coraft/core/raft.hpp).
//
// The node keeps "written" and "durable" apart: take() moves a ready batch's
// writes into a pending queue; sync() makes everything pending durable and
// only then releases the batch's send_after_sync messages and calls
// synced_to(). crash() drops what was never synced; restart() builds a new
// core from the durable state only. Used by unit, scenario and sim tests.
//
// The disk itself is a node_disk chosen at construction: by default the
// in-memory model (memory_disk over durable_disk); the simulation can put the
// real write-ahead log under it instead (wal_disk in sim_cluster.hpp).
#pragma once

#include <coraft/core/raft.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace coraft::test {

struct durable_disk {
  hard_state state;
  std::vector<entry> log;  // contiguous from index 1

  void write(const std::optional<hard_state>& s, const std::vector<entry>& entries) {
    if (s) state = *s;
    if (entries.empty()) return;
    const index_t first = entries.front().index;
    if (first <= log.size()) log.resize(first - 1);  // truncate a conflicting suffix
    for (const auto& e : entries) log.push_back(e);
  }
};

// What a core_node persists through. write() returns only once the write is
// durable; crash() is a power loss; recover() is what a restart finds.
class node_disk {
 public:
  virtual ~node_disk() = default;
  // Makes one write durable. False: the power failed during it (a fault the
  // disk injected itself, see arm_power_loss); the node is down from then on.
  virtual bool write(const std::optional<hard_state>& s, const std::vector<entry>& entries) = 0;
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
// ever happens to it.
class memory_disk final : public node_disk {
 public:
  bool write(const std::optional<hard_state>& s, const std::vector<entry>& entries) override {
    durable_.write(s, entries);
    return true;
  }
  void crash() override {}
  const durable_disk* recover() override { return &durable_; }
  const durable_disk& durable() const override { return durable_; }

 private:
  durable_disk durable_;
};

class core_node {
 public:
  core_node(core::options opts, std::vector<node_id> voters,
            std::unique_ptr<node_disk> disk = nullptr)
      : opts_(opts),
        voters_(std::move(voters)),
        disk_(disk ? std::move(disk) : std::make_unique<memory_disk>()) {
    restart();
  }

  core::raft& raft() { return *raft_; }
  const core::raft& raft() const { return *raft_; }
  node_id id() const { return opts_.id; }
  bool up() const { return up_; }
  const durable_disk& disk() const { return disk_->durable(); }
  node_disk& storage() { return *disk_; }
  const node_disk& storage() const { return *disk_; }
  // Entries applied in this incarnation, in order (the state machine's view).
  const std::vector<entry>& applied() const { return applied_; }
  std::size_t pending_writes() const { return pending_.size(); }

  // Drains the core's ready batch. Messages that may go out now are appended
  // to `outbox`; writes wait for sync(). Returns false if there was nothing.
  bool take(std::vector<message>& outbox) {
    if (!up_ || !raft_->has_ready()) return false;
    core::ready rd = raft_->take_ready();
    for (auto& m : rd.send_now) outbox.push_back(std::move(m));
    pending_write w;
    w.state = std::move(rd.persist_state);
    w.entries = std::move(rd.persist_entries);
    w.after_sync = std::move(rd.send_after_sync);
    if (w.state || !w.entries.empty() || !w.after_sync.empty()) pending_.push_back(std::move(w));
    for (auto& e : rd.apply) applied_.push_back(std::move(e));
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

  // Power loss: everything not synced is gone, the node stays down.
  void crash() {
    pending_.clear();
    up_ = false;
    disk_->crash();
  }

  // A new incarnation from the durable state (applied() starts over).
  // False when the disk lost power while recovering: the node stays down.
  bool restart() {
    pending_.clear();
    const durable_disk* d = disk_->recover();
    if (d == nullptr) {
      up_ = false;
      return false;
    }
    applied_.clear();
    ++incarnation_;
    core::options o = opts_;
    o.seed = opts_.seed * 1000003 + incarnation_;
    raft_ = std::make_unique<core::raft>(o, voters_, d->state, d->log);
    up_ = true;
    return true;
  }

  int incarnation() const { return incarnation_; }

 private:
  struct pending_write {
    std::optional<hard_state> state;
    std::vector<entry> entries;
    std::vector<message> after_sync;
  };

  // One write through the disk; false if the power failed during it.
  bool persist(pending_write& w, std::vector<message>& outbox) {
    if (!disk_->write(w.state, w.entries)) {
      pending_.clear();
      up_ = false;
      return false;
    }
    for (auto& m : w.after_sync) outbox.push_back(std::move(m));
    if (!w.entries.empty()) raft_->synced_to(w.entries.back().id());
    return true;
  }

  core::options opts_;
  std::vector<node_id> voters_;
  std::unique_ptr<core::raft> raft_;
  std::unique_ptr<node_disk> disk_;
  std::vector<pending_write> pending_;
  std::vector<entry> applied_;
  bool up_ = false;
  int incarnation_ = 0;
};

}  // namespace coraft::test
