// coraft/memory_storage.hpp — storage kept in memory, for tests, benchmarks
// and services that embed coraft in their own tests.
//
// A write becomes durable when write() completes (after one trip through the
// executor, so that the node's group commit batches as it would on disk).
// durable() is what a node restarted after a crash would find.
// Threading: write() and load() run on the caller's executor; durable() may
// be called from any thread once the node is stopped.
#pragma once

#include <coraft/storage.hpp>

#include <deque>
#include <optional>
#include <string>

namespace coraft {

class memory_storage final : public storage {
 public:
  explicit memory_storage(recovered_state initial = {})
      : state_(initial.state),
        snap_(std::move(initial.snap)),
        log_(initial.log.begin(), initial.log.end()),
        base_(initial.log.empty() ? initial.base : initial.log.front().index - 1),
        bootstrap_(std::move(initial.bootstrap)) {}

  boost::asio::awaitable<recovered_state> load() override;
  boost::asio::awaitable<void> write(log_write w) override;
  boost::asio::awaitable<std::shared_ptr<const snapshot_data>> save_snapshot(snapshot s) override;
  std::unique_ptr<snapshot_sink> begin_snapshot(const membership& config) override;
  boost::asio::awaitable<snapshot> commit_snapshot(std::unique_ptr<snapshot_sink> sink, log_id last) override;
  boost::asio::awaitable<void> write_snapshot_chunk(snapshot_meta meta, std::uint64_t offset, payload data) override;
  boost::asio::awaitable<std::shared_ptr<const snapshot_data>> finish_snapshot(snapshot_meta meta) override;

  // What a node restarted after a crash would find.
  recovered_state durable() const;
  std::uint64_t writes() const { return writes_; }

 private:
  hard_state state_;
  std::optional<snapshot> snap_;
  std::deque<entry> log_;                // a deque: appends never move the whole log; contiguous
  index_t base_ = 0;                     // index before log_.front() (compacted or reset)
  std::optional<membership> bootstrap_;  // written once
  std::uint64_t writes_ = 0;
  // A snapshot being received (lost with the object: not in durable()).
  struct partial {
    snapshot_meta meta;
    std::string bytes;
  };
  std::optional<partial> incoming_;
};

}  // namespace coraft
