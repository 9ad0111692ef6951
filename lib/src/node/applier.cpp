// applier.cpp — see applier.hpp.
#include "applier.hpp"

#include "proposals.hpp"
#include "snapshotter.hpp"
#include "waiters.hpp"

#include <coraft/log.hpp>

namespace coraft::detail {

applier::applier(node_context& ctx, state_machine& sm, proposals& props, read_waiters& reads, snapshotter& snaps)
    : ctx_(ctx), sm_(sm), proposals_(props), reads_(reads), snapshotter_(snaps), wake_(ctx.strand) {}

void applier::queue(std::vector<entry> committed) {
  queue_.push_back(item{std::move(committed), std::nullopt});
  wake_.notify();
}

void applier::queue_restore(coraft::snapshot s) {
  queue_.push_back(item{{}, std::move(s)});
  wake_.notify();
}

asio::awaitable<void> applier::run() {
  std::vector<item> items;
  while (true) {
    while (queue_.empty() && !ctx_.stopping()) co_await wake_.wait();
    if (ctx_.stopping()) co_return;
    items.swap(queue_);
    for (auto& it : items) {
      for (entry& e : it.entries) apply_one(e);
      if (it.restore) restore(std::move(*it.restore));
    }
    items.clear();
    reads_.applied(applied_);
    snapshotter_.maybe_start();
  }
}

void applier::apply_one(entry& e) {
  std::string result;
  if (e.type == entry_type::normal) result = sm_.apply(e.index, e.data);
  applied_ = e.index;
  ++ctx_.metrics.entries_applied;
  snapshotter_.applied(e);
  proposals_.applied(e, std::move(result));
}

// A state machine that cannot read a snapshot that passed its checksum
// throws out of run(): the node fails (its task policy), loudly.
void applier::restore(coraft::snapshot s) {
  const log_id last = s.meta.last;
  bytes_snapshot_reader in(s.data.view());
  try {
    sm_.restore_snapshot(in);
  } catch (const std::exception& e) {
    throw std::runtime_error("the state machine cannot restore the snapshot through index " +
                             std::to_string(last.index) + " that the leader sent (" + e.what() + ")");
  }
  applied_ = last.index;
  snapshotter_.restored(last.index);
  ++ctx_.metrics.snapshots_installed;
  proposals_.restored(last.index);  // their outcome is unknown here
  ctx_.raft->snapshot_installed(last);
  log_line(log_level::info, ctx_.self(), "snapshot", "installed snapshot through index " + std::to_string(last.index));
  ctx_.schedule_flush();
}

}  // namespace coraft::detail
