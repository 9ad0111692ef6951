// snapshot_receiver.cpp — see snapshot_receiver.hpp.
#include "snapshot_receiver.hpp"

#include <coraft/log.hpp>

#include <boost/system/system_error.hpp>

#include <algorithm>

namespace coraft::detail {

namespace {

// Refusal after a storage error: from about a second (at the default 10 ms
// tick), doubling, up to about thirty.
constexpr std::uint64_t first_backoff_ticks = 100;
constexpr std::uint64_t max_backoff_ticks = 3000;

}  // namespace

void snapshot_receiver::queue(std::vector<core::snapshot_chunk> chunks) {
  for (auto& c : chunks) queue_.push_back(std::move(c));
  wake_.notify();
}

void snapshot_receiver::abort(const snapshot_meta& meta, const std::string& why) {
  backoff_ticks_ = std::clamp<std::uint64_t>(backoff_ticks_ * 2, first_backoff_ticks, max_backoff_ticks);
  log_line(log_level::warn, ctx_.self(), "snapshot",
           "receiving the snapshot through index " + std::to_string(meta.last.index) + " failed (" + why +
               "); it is discarded, and the leader's chunks are refused for " + std::to_string(backoff_ticks_) +
               " ticks");
  ctx_.raft->snapshot_receive_aborted(meta, backoff_ticks_);
  ctx_.schedule_flush();
}

asio::awaitable<void> snapshot_receiver::run() {
  while (true) {
    while (queue_.empty() && !ctx_.stopping()) co_await wake_.wait();
    if (ctx_.stopping()) co_return;
    core::snapshot_chunk c = std::move(queue_.front());
    queue_.pop_front();
    if (!co_await store(c)) {
      // The core dropped the transfer: what it handed out after this chunk
      // belongs to it and is dropped too.
      std::erase_if(queue_, [&c](const core::snapshot_chunk& q) { return q.meta == c.meta; });
    }
  }
}

asio::awaitable<bool> snapshot_receiver::store(core::snapshot_chunk& c) {
  const std::uint64_t next = c.offset + c.data.size();
  std::string failed;
  std::shared_ptr<const snapshot_data> whole;
  try {
    // An empty chunk is written too when it starts a snapshot (an empty
    // snapshot is one): storage then knows what it is receiving.
    if (!c.data.empty() || c.offset == 0) co_await store_.write_snapshot_chunk(c.meta, c.offset, std::move(c.data));
    if (c.done) whole = co_await store_.finish_snapshot(c.meta);
  } catch (const boost::system::system_error& e) {
    if (e.code() == asio::error::operation_aborted) throw;
    failed = e.what();
  } catch (const std::exception& e) {
    failed = e.what();
  }
  if (ctx_.stopping()) co_return false;
  if (!failed.empty()) {
    abort(c.meta, failed);
    co_return false;
  }
  core::raft& raft = *ctx_.raft;
  if (c.offset == 0) ctx_.snapshot_receiving.emplace(c.meta.last, std::chrono::steady_clock::now());
  raft.snapshot_chunk_stored(c.meta, next);
  if (c.done) {
    if (whole) {
      // Only a whole snapshot received ends the backoff: after a full disk
      // the first chunks of the next try always fit, and resetting on them
      // kept the refusal at its shortest forever (found from outside).
      backoff_ticks_ = 0;
      raft.snapshot_received(coraft::snapshot{c.meta, std::move(whole)});
    } else {
      log_line(log_level::warn, ctx_.self(), "snapshot",
               "the snapshot through index " + std::to_string(c.meta.last.index) +
                   " does not match its checksum: discarded, the leader sends it again");
      raft.snapshot_receive_failed(c.meta);
    }
  }
  ctx_.schedule_flush();
  co_return true;
}

}  // namespace coraft::detail
