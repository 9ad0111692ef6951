// test/support/core_node.hpp — one protocol core plus a model of its disk,
// driven exactly as the ready contract says (coraft/core/raft.hpp).
//
// The disk keeps "written" and "durable" apart: take() moves a ready batch's
// writes into a pending queue; sync() makes everything pending durable and
// only then releases the batch's send_after_sync messages and calls
// synced_to(). crash() drops what was never synced; restart() builds a new
// core from the durable state only. Used by unit, scenario and sim tests.
#pragma once

#include <coraft/core/raft.hpp>

#include <memory>
#include <optional>
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

class core_node {
 public:
  core_node(core::options opts, std::vector<node_id> voters)
      : opts_(opts), voters_(std::move(voters)) {
    restart();
  }

  core::raft& raft() { return *raft_; }
  const core::raft& raft() const { return *raft_; }
  node_id id() const { return opts_.id; }
  bool up() const { return up_; }
  const durable_disk& disk() const { return durable_; }
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
  void sync(std::vector<message>& outbox) {
    if (!up_) return;
    auto batch = std::move(pending_);
    pending_.clear();
    for (auto& w : batch) {
      durable_.write(w.state, w.entries);
      for (auto& m : w.after_sync) outbox.push_back(std::move(m));
      if (!w.entries.empty()) raft_->synced_to(w.entries.back().id());
    }
  }

  // Only the first pending write becomes durable (a partial group commit).
  void sync_one(std::vector<message>& outbox) {
    if (!up_ || pending_.empty()) return;
    pending_write w = std::move(pending_.front());
    pending_.erase(pending_.begin());
    durable_.write(w.state, w.entries);
    for (auto& m : w.after_sync) outbox.push_back(std::move(m));
    if (!w.entries.empty()) raft_->synced_to(w.entries.back().id());
  }

  // Power loss: everything not synced is gone, the node stays down.
  void crash() {
    pending_.clear();
    up_ = false;
  }

  // A new incarnation from the durable state (applied() starts over).
  void restart() {
    pending_.clear();
    applied_.clear();
    ++incarnation_;
    core::options o = opts_;
    o.seed = opts_.seed * 1000003 + incarnation_;
    raft_ = std::make_unique<core::raft>(o, voters_, durable_.state, durable_.log);
    up_ = true;
  }

  int incarnation() const { return incarnation_; }

 private:
  struct pending_write {
    std::optional<hard_state> state;
    std::vector<entry> entries;
    std::vector<message> after_sync;
  };

  core::options opts_;
  std::vector<node_id> voters_;
  std::unique_ptr<core::raft> raft_;
  durable_disk durable_;
  std::vector<pending_write> pending_;
  std::vector<entry> applied_;
  bool up_ = false;
  int incarnation_ = 0;
};

}  // namespace coraft::test
