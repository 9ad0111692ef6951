// log_writer.cpp — see log_writer.hpp.
#include "log_writer.hpp"

#include <coraft/log.hpp>

#include <boost/asio/dispatch.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <iterator>

namespace coraft::detail {

merged_write merge_write_jobs(std::deque<write_job>& queue) {
  merged_write m;
  log_write& w = m.write;
  while (!queue.empty() && !queue.front().install) {
    write_job job = std::move(queue.front());
    queue.pop_front();
    if (job.state) w.state = job.state;
    if (job.compact && (!w.compact || w.compact->index < job.compact->index)) w.compact = job.compact;
    if (!job.entries.empty()) {
      const index_t first = job.entries.front().index;
      if (!w.entries.empty() && first <= w.entries.back().index) {
        if (first <= w.entries.front().index)
          w.entries.clear();
        else
          w.entries.resize(first - w.entries.front().index);
      }
      if (w.entries.empty())
        w.entries = std::move(job.entries);
      else
        std::move(job.entries.begin(), job.entries.end(), std::back_inserter(w.entries));
    }
    std::move(job.after_sync.begin(), job.after_sync.end(), std::back_inserter(m.after_sync));
  }
  return m;
}

asio::awaitable<bool> durably(node_context& ctx, const char* what, asio::awaitable<void> op) {
  try {
    co_await std::move(op);
  } catch (const boost::system::system_error& e) {
    if (e.code() == asio::error::operation_aborted) throw;
    ctx.fail(std::string(what) + " failed: " + e.what());
    co_return false;
  } catch (const std::exception& e) {
    ctx.fail(std::string(what) + " failed: " + e.what());
    co_return false;
  }
  co_return true;
}

log_writer::log_writer(node_context& ctx, storage& store, std::function<void(coraft::snapshot)> restore)
    : ctx_(ctx), store_(store), restore_(std::move(restore)), wake_(ctx.strand) {}

log_writer::~log_writer() {
  const std::lock_guard lock(shared_->mutex);
  shared_->closed = true;
}

void log_writer::queue(write_job job) {
  {
    const std::lock_guard lock(shared_->mutex);
    shared_->queue.push_back(std::move(job));
  }
  wake_.notify();
}

void log_writer::reset_on_first_write(log_id last) {
  const std::lock_guard lock(shared_->mutex);
  shared_->reset_on_first_write = last;
}

void log_writer::queue_install(coraft::snapshot s) {
  log_line(log_level::info, ctx_.self(), "snapshot",
           "received snapshot through index " + std::to_string(s.meta.last.index) + " (" + std::to_string(s.meta.size) +
               " bytes); installing");
  write_job job;
  job.install = std::move(s);
  queue(std::move(job));
}

void log_writer::wake() { wake_.notify(); }

bool log_writer::queue_empty() {
  const std::lock_guard lock(shared_->mutex);
  return shared_->queue.empty();
}

bool log_writer::install_next() {
  const std::lock_guard lock(shared_->mutex);
  return !shared_->queue.empty() && shared_->queue.front().install;
}

std::optional<storage::queued_write> log_writer::take(const std::shared_ptr<shared_state>& shared,
                                                      const asio::strand<asio::any_io_executor>& strand,
                                                      log_writer* self) {
  auto w = std::make_shared<written>();
  storage::queued_write q;
  {
    const std::lock_guard lock(shared->mutex);
    if (shared->closed || shared->queue.empty() || shared->queue.front().install) return std::nullopt;
    merged_write m = merge_write_jobs(shared->queue);
    q.write = std::move(m.write);
    q.write.reset = std::exchange(shared->reset_on_first_write, std::nullopt);
    w->after_sync = std::move(m.after_sync);
    const std::vector<entry>& entries = q.write.entries;
    if (!entries.empty()) w->last = entries.back().id();
    // This write replaces what the log holds from its first entry on (or
    // all of it, after a reset): an earlier write not yet handed to the
    // strand no longer proves its entries there are on disk.
    if (q.write.reset || !entries.empty()) {
      const index_t cut = q.write.reset ? 0 : entries.front().index;
      for (auto& earlier : shared->in_flight)
        if (earlier->last && earlier->last->index >= cut) earlier->last.reset();
    }
    shared->in_flight.push_back(w);
  }
  w->entries = q.write.entries.size();
  if (q.write.state) w->state_term = q.write.state->current_term;
  w->taken = std::chrono::steady_clock::now();
  // Dispatched: run at once when storage wrote on the strand itself, else
  // posted there — before write_queued()'s own completion, so run() sees
  // every write it made handed over. Nothing once the writer is gone.
  q.on_durable = [shared, strand, self, w] {
    asio::dispatch(strand, [shared, self, w] {
      {
        const std::lock_guard lock(shared->mutex);
        if (shared->closed) return;
      }
      self->durable(*w);
    });
  };
  return q;
}

std::function<std::optional<storage::queued_write>()> log_writer::taker() {
  // Built here, not in run(): g++ 12 and init-captures in coroutines.
  return [shared = shared_, strand = ctx_.strand, this] { return take(shared, strand, this); };
}

void log_writer::durable(written& w) {
  std::optional<log_id> claim;
  {
    const std::lock_guard lock(shared_->mutex);
    // Handed over in the order taken (storage.hpp), so at the front; found
    // wherever it is all the same, so that a storage breaking that order
    // cannot leave a write in flight for good.
    const auto it = std::find_if(shared_->in_flight.begin(), shared_->in_flight.end(),
                                 [&w](const std::shared_ptr<written>& p) { return p.get() == &w; });
    if (it != shared_->in_flight.end()) shared_->in_flight.erase(it);
    claim = w.last;
  }
  ctx_.metrics.storage_write_latency.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - w.taken).count());
  ++ctx_.metrics.storage_writes;
  ctx_.metrics.storage_entries += w.entries;
  // A node stopping sends nothing more (what a vote or an acknowledgement
  // promised is durable all the same).
  if (ctx_.stopping() || !ctx_.fatal.empty()) return;
  for (auto& msg : w.after_sync) ctx_.route(std::move(msg));
  if (claim) ctx_.raft->synced_to(*claim);
  if (w.state_term) ctx_.raft->state_synced(*w.state_term);
  ctx_.schedule_flush();
}

asio::awaitable<void> log_writer::run() {
  while (true) {
    // A stop cancels this task: what is still queued may go unwritten, and
    // its messages (a vote, an acknowledgement) are then never sent. A
    // file_storage call in progress finishes its turn (at most
    // writes_per_turn syncs) first.
    while (queue_empty() && !ctx_.stopping()) co_await wake_.wait();
    if (queue_empty()) co_return;
    if (install_next()) {
      write_job job;
      {
        const std::lock_guard lock(shared_->mutex);
        job = std::move(shared_->queue.front());
        shared_->queue.pop_front();
      }
      if (!co_await install(std::move(*job.install))) co_return;
      continue;
    }
    // The call built before the co_await, not inside it (g++ 12 and
    // temporaries in co_await expressions).
    std::function<std::optional<storage::queued_write>()> next = taker();
    asio::awaitable<void> op = store_.write_queued(std::move(next));
    if (!co_await durably(ctx_, "storage write", std::move(op))) co_return;
    if (ctx_.stopping()) co_return;
  }
}

asio::awaitable<bool> log_writer::install(coraft::snapshot s) {
  const log_id last = s.meta.last;
  // The snapshot is durable already (storage put it in place once received
  // whole: snapshot_receiver): discard the log after it.
  log_write w;
  w.reset = last;
  {
    const std::lock_guard lock(shared_->mutex);
    shared_->reset_on_first_write.reset();  // superseded by this reset
  }
  if (!co_await durably(ctx_, "storage write", store_.write(std::move(w)))) co_return false;
  if (ctx_.stopping()) co_return false;
  restore_(std::move(s));
  co_return true;
}

}  // namespace coraft::detail
