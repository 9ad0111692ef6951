// log_writer.cpp — see log_writer.hpp.
#include "log_writer.hpp"

#include "applier.hpp"

#include <coraft/log.hpp>

#include <boost/system/system_error.hpp>

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

log_writer::log_writer(node_context& ctx, storage& store, applier& apply)
    : ctx_(ctx), store_(store), applier_(apply), wake_(ctx.strand) {}

void log_writer::queue(write_job job) {
  queue_.push_back(std::move(job));
  wake_.notify();
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

asio::awaitable<void> log_writer::run() {
  while (true) {
    // On stop, what is queued is still written: it may be what a vote or an
    // acknowledgement already promised (the messages then stay unsent).
    while (queue_.empty() && !ctx_.stopping()) co_await wake_.wait();
    if (queue_.empty()) co_return;
    if (queue_.front().install) {
      write_job job = std::move(queue_.front());
      queue_.pop_front();
      if (!co_await install(std::move(*job.install))) co_return;
      continue;
    }
    const std::optional<log_id> reset = std::exchange(reset_on_first_write_, std::nullopt);
    merged_write m = merge_write_jobs(queue_);
    m.write.reset = reset;
    const std::vector<entry>& entries = m.write.entries;
    const std::optional<log_id> last = entries.empty() ? std::nullopt : std::optional<log_id>(entries.back().id());
    const std::optional<term_t> state_term =
        m.write.state ? std::optional<term_t>(m.write.state->current_term) : std::nullopt;
    const auto t0 = std::chrono::steady_clock::now();
    ++ctx_.metrics.storage_writes;
    ctx_.metrics.storage_entries += entries.size();
    if (!co_await durably(ctx_, "storage write", store_.write(std::move(m.write)))) co_return;
    ctx_.metrics.storage_write_latency.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (ctx_.stopping()) co_return;
    for (auto& msg : m.after_sync) ctx_.route(std::move(msg));
    if (last) ctx_.raft->synced_to(*last);
    if (state_term) ctx_.raft->state_synced(*state_term);
    ctx_.schedule_flush();
  }
}

asio::awaitable<bool> log_writer::install(coraft::snapshot s) {
  const log_id last = s.meta.last;
  // The snapshot is durable already (storage put it in place once received
  // whole: snapshot_receiver): discard the log after it.
  log_write w;
  w.reset = last;
  reset_on_first_write_.reset();  // superseded by this reset
  if (!co_await durably(ctx_, "storage write", store_.write(std::move(w)))) co_return false;
  if (ctx_.stopping()) co_return false;
  applier_.queue_restore(std::move(s));
  co_return true;
}

}  // namespace coraft::detail
