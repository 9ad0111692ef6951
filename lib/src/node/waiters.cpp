// waiters.cpp — see waiters.hpp.
#include "waiters.hpp"

#include <coraft/detail/planted.hpp>
#include <coraft/detail/splitmix.hpp>

#include <random>

namespace coraft::detail {

namespace {

std::uint64_t random_u64() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

// ---- reads ----------------------------------------------------------------

std::uint64_t read_waiters::next_tag(std::uint64_t seed) {
  std::uint64_t t = 0;
  while (t == 0) t = splitmix64(seed) & 0xffffffffu;
  return t;
}

void read_waiters::start(std::uint64_t incarnation) {
  tag_ = next_tag(incarnation != 0 ? incarnation : random_u64());
  next_ctx_ = CORAFT_PLANTED(read_ctx_reused) ? 1 : (tag_ << 32 | 1);
}

void read_waiters::begin(index_waiter w) {
  const std::uint64_t rctx = next_ctx_++;
  if ((next_ctx_ & 0xffffffffu) == 0) {  // 2^32 reads: a new tag, so contexts stay unique
    tag_ = next_tag(tag_);
    next_ctx_ = tag_ << 32 | 1;
  }
  w.deadline_tick = ctx_.deadline(static_cast<std::uint64_t>(ctx_.opts.propose_timeout_ticks));
  by_ctx_.emplace(rctx, std::move(w));
  ctx_.raft->read_index(rctx);
}

void read_waiters::on_read_state(const core::read_state& rs) {
  // Not this incarnation's (see the header): never ours to complete.
  if (!CORAFT_PLANTED(read_ctx_reused) && rs.ctx >> 32 != tag_) return;
  auto it = by_ctx_.find(rs.ctx);
  if (it == by_ctx_.end()) return;  // expired meanwhile
  index_waiter w = std::move(it->second);
  by_ctx_.erase(it);
  if (!rs.ok) {
    ++ctx_.metrics.reads_failed;
    return w.answer(node_error(errc::not_leader, ctx_.raft->leader()));
  }
  applying_.emplace(rs.index, std::move(w));
  applied(applied_);
}

void read_waiters::applied(index_t applied) {
  applied_ = applied;
  while (!applying_.empty() && applying_.begin()->first <= applied_) {
    auto node = applying_.extract(applying_.begin());
    ++ctx_.metrics.reads_ok;
    node.mapped().answer(node.key());
  }
}

void read_waiters::expire() {
  const auto expire = [this](auto& waiting) {
    for (auto it = waiting.begin(); it != waiting.end();) {
      if (it->second.deadline_tick > ctx_.now_tick) {
        ++it;
        continue;
      }
      ++ctx_.metrics.reads_failed;
      it->second.answer(node_error(errc::timeout));
      it = waiting.erase(it);
    }
  };
  expire(by_ctx_);
  if (!CORAFT_PLANTED(read_waits_forever)) expire(applying_);
}

void read_waiters::fail_all(errc e) {
  for (auto& [rctx, w] : by_ctx_) w.answer(node_error(e));
  for (auto& [i, w] : applying_) w.answer(node_error(e));
  ctx_.metrics.reads_failed += by_ctx_.size() + applying_.size();
  by_ctx_.clear();
  applying_.clear();
}

// ---- transfers ------------------------------------------------------------

bool transfer_waiters::begin(node_id to, index_waiter w) {
  switch (ctx_.raft->transfer_leadership(to)) {
    case core::raft::transfer_result::not_leader:
      w.answer(node_error(errc::not_leader, ctx_.raft->leader()));
      return false;
    case core::raft::transfer_result::bad_target: w.answer(node_error(errc::bad_target)); return false;
    case core::raft::transfer_result::started: break;
  }
  // The core abandons it after an election timeout; this bound is a backstop.
  w.deadline_tick = ctx_.deadline(4 * static_cast<std::uint64_t>(ctx_.opts.raft.election_ticks));
  pending_.push_back(std::move(w));
  return true;
}

void transfer_waiters::check() {
  if (pending_.empty()) return;
  const core::raft& raft = *ctx_.raft;
  const node_id leader = raft.leader();
  node_result<node_id> result;
  if (leader != no_node && leader != ctx_.self()) {
    result = leader;  // another node leads: done
  } else if (raft.state() == core::role::leader && raft.transfer_target() == no_node) {
    result = node_error(errc::timeout);  // abandoned [thesis §3.10]
  } else {
    bool expired = false;
    for (auto& t : pending_) expired = expired || t.deadline_tick <= ctx_.now_tick;
    if (!expired) return;
    result = node_error(errc::timeout);
  }
  for (auto& t : pending_) t.answer(result);
  pending_.clear();
}

void transfer_waiters::fail_all(errc e) {
  for (auto& t : pending_) t.answer(node_error(e));
  pending_.clear();
}

}  // namespace coraft::detail
