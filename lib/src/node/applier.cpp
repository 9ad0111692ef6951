// applier.cpp — see applier.hpp.
#include "applier.hpp"

#include "proposals.hpp"
#include "snapshotter.hpp"
#include "waiters.hpp"

#include <coraft/log.hpp>

#include <algorithm>

namespace coraft::detail {

applier::applier(node_context& ctx, state_machine& sm, proposals& props, read_waiters& reads, snapshotter& snaps)
    : ctx_(ctx), sm_(sm), proposals_(props), reads_(reads), snapshotter_(snaps), wake_(ctx.strand) {}

void applier::queue(std::vector<entry> committed) {
  if (committed.empty()) return;
  backlog_ += committed.size();
  const auto at =
      ctx_.opts.latency_histograms ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
  queue_.push_back(item{std::move(committed), 0, std::nullopt, nullptr, at});
  wake_.notify();
}

void applier::queue_restore(coraft::snapshot s) {
  queue_.push_back(item{{}, 0, std::move(s), nullptr});
  wake_.notify();
}

asio::awaitable<std::optional<captured_state>> applier::capture(storage& store) {
  auto slot = std::make_shared<capture_slot>(ctx_.strand);
  slot->store = &store;
  queue_.push_back(item{{}, 0, std::nullopt, slot});
  wake_.notify();
  while (!slot->done && !ctx_.stopping()) co_await slot->wake.wait();
  co_return std::move(slot->result);
}

asio::awaitable<void> applier::run() {
  while (true) {
    while (queue_.empty() && !ctx_.stopping()) co_await wake_.wait();
    if (ctx_.stopping()) break;
    item& it = queue_.front();
    if (it.capture) {
      const std::shared_ptr<capture_slot> slot = it.capture;
      queue_.pop_front();
      co_await capture(*slot);
    } else if (it.restore) {
      coraft::snapshot s = std::move(*it.restore);
      queue_.pop_front();
      co_await restore(std::move(s));
    } else {
      co_await apply_batch();
    }
    if (ctx_.stopping()) break;
    reads_.applied(applied_);
    snapshotter_.maybe_start();
  }
  for (auto& it : queue_)
    if (it.capture) it.capture->wake.notify();
}

asio::awaitable<void> applier::apply_batch() {
  // Entries of the items at the front, in order, up to one batch: they stay
  // where they are (items are popped only below, on the strand), so the
  // state machine's thread reads them in place.
  const std::size_t most = std::max<std::size_t>(1, ctx_.opts.max_apply_batch);
  std::vector<const entry*> batch;
  for (const item& it : queue_) {
    if (!it.has_entries()) break;
    for (std::size_t k = it.done; k < it.entries.size() && batch.size() < most; ++k) batch.push_back(&it.entries[k]);
    if (batch.size() >= most) break;
  }
  const bool timed = ctx_.opts.latency_histograms;
  const auto t0 = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
  std::vector<std::string> results = co_await on_state_machine(ctx_, [this, &batch] {
    std::vector<std::string> out;
    out.reserve(batch.size());
    for (const entry* e : batch) {
      // A stop cuts the batch short: what is not applied is lost with the
      // process's state anyway, and stop() waits for this call.
      if (ctx_.sm_stop.load(std::memory_order_relaxed)) break;
      out.push_back(e->type == entry_type::normal ? sm_.apply(e->index, e->data) : std::string());
    }
    return out;
  });
  if (timed) ctx_.metrics.apply_batch_latency.observe(seconds_since(t0));
  std::optional<std::chrono::steady_clock::time_point> now;  // one reading for the batch
  for (std::string& result : results) {
    item& front = queue_.front();
    entry& e = front.entries[front.done++];
    applied_ = e.index;
    --backlog_;
    ++ctx_.metrics.entries_applied;
    snapshotter_.applied(e);
    proposals_.applied(e, std::move(result));
    if (front.done == front.entries.size()) {
      if (timed) {
        if (!now) now = std::chrono::steady_clock::now();
        ctx_.metrics.commit_apply_latency.observe(std::chrono::duration<double>(*now - front.committed_at).count());
      }
      queue_.pop_front();
    }
  }
}

// A state machine that cannot read a snapshot that passed its checksum
// throws out of run(): the node fails (its task policy), loudly.
asio::awaitable<void> applier::restore(coraft::snapshot s) {
  const log_id last = s.meta.last;
  co_await on_state_machine(ctx_, [this, &s, last] {
    data_snapshot_reader in(*s.data);
    try {
      sm_.restore_snapshot(in);
    } catch (const std::exception& e) {
      throw std::runtime_error("the state machine cannot restore the snapshot through index " +
                               std::to_string(last.index) + " that the leader sent (" + e.what() + ")");
    }
  });
  if (ctx_.stopping()) co_return;
  applied_ = last.index;
  snapshotter_.restored(last.index);
  ++ctx_.metrics.snapshots_installed;
  if (ctx_.snapshot_receiving && ctx_.snapshot_receiving->first == last) {
    ctx_.metrics.snapshot_install_latency.observe(seconds_since(ctx_.snapshot_receiving->second));
    ctx_.snapshot_receiving.reset();
  }
  proposals_.restored(last.index);  // their outcome is unknown here
  ctx_.raft->snapshot_installed(last);
  log_line(log_level::info, ctx_.self(), "snapshot", "installed snapshot through index " + std::to_string(last.index));
  ctx_.events.record("snapshot_installed",
                     "installed the leader's snapshot through index " + std::to_string(last.index),
                     {{"index", std::to_string(last.index)}});
  ctx_.schedule_flush();
}

// The job for the state machine's thread. Built here, outside the
// coroutine: g++ 12 frees an object moved into a lambda's init-capture in a
// coroutine twice.
std::function<captured_state()> applier::capture_job(capture_slot& slot, captured_state c) {
  auto job = [this, &slot, c = std::make_shared<captured_state>(std::move(c))]() {
    const auto t0 = std::chrono::steady_clock::now();
    // A point-in-time image (written out later, off this thread) if the
    // state machine can take one; else the whole state, written to storage
    // as it comes (applies wait).
    c->image = sm_.capture();
    if (!c->image) {
      c->written = slot.store->begin_snapshot(c->meta.config);
      stoppable_writer w(*c->written, ctx_.sm_stop);
      sm_.save_snapshot(w);
    }
    c->seconds = seconds_since(t0);
    return std::move(*c);
  };
  return job;
}

asio::awaitable<void> applier::capture(capture_slot& slot) {
  // Checked here, where applied_ is the index the capture would have: a
  // snapshot needs the term and the configuration at its index [thesis
  // §5.1, lastConfig], and a capture that cannot be used costs nothing.
  const core::raft& raft = *ctx_.raft;
  captured_state c;
  const auto term = raft.term_at(applied_);
  c.meta.last = {term.value_or(0), applied_};
  c.meta.config = raft.config_at(applied_);
  if (!term || c.meta.config.voters.empty()) {
    c.busy = true;
    slot.result = std::move(c);
    slot.done = true;
    slot.wake.notify();
    co_return;
  }
  try {
    c = co_await on_state_machine(ctx_, capture_job(slot, std::move(c)));
  } catch (const std::exception&) {
    // A stop cuts a save_snapshot() short (stoppable_writer): no snapshot,
    // and no failure. Anything else the state machine threw fails the node.
    if (!ctx_.stopping()) throw;
    slot.done = true;
    slot.wake.notify();
    co_return;
  }
  slot.result = std::move(c);
  slot.done = true;
  slot.wake.notify();
}

}  // namespace coraft::detail
