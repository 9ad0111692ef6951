// coraft/file_storage.hpp — durable storage for a node: a data directory
// with a metadata file and the write-ahead log (coraft/wal.hpp).
//
// All disk work runs on the storage's own I/O thread; load() and write()
// hand it over and await the result, so the node's event loop never blocks
// on a write or an fsync. The data directory carries a format version, the
// node id, the cluster id and a random data id (repeated in every segment
// and snapshot file): starting a node on another node's directory, another
// cluster's, or an unknown format, or finding a file copied from another
// directory, fails with a clear message. So does a log that no longer
// reaches the newest valid snapshot (the newest one damaged or missing):
// load() never returns less than the node acknowledged.
#pragma once

#include <coraft/file_system.hpp>
#include <coraft/storage.hpp>
#include <coraft/wal.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace coraft {

struct file_storage_options {
  std::string dir;  // created if missing
  node_id id = no_node;
  std::string cluster_id = "coraft";
  std::uint64_t segment_bytes = 64ull << 20;
  bool sync = true;  // false = --fsync=never: unsafe, benchmarks only
  std::function<void(const std::string&)> log;
  // Prepare the next WAL segment on a helper thread (wal_options::
  // prepare_spare): rolls over without a stall, at the cost of one more
  // segment on disk. Needs a file_system usable from two threads (the
  // storage's snapshot thread already shares it with the I/O thread).
  bool prepare_spare_segment = true;
  // Where the disk work runs. Unset (production): two threads of the
  // storage's own (the log's, and the snapshots'), never the caller's event
  // loop. Set: posted to this executor instead — for simulations that run
  // everything on one io_context driven step by step (deterministic);
  // never an event loop that must stay responsive.
  std::optional<boost::asio::any_io_executor> io_executor;
  // A snapshot being received from a leader is synced (and how much of it
  // recorded, for a resume after a restart) at least every this many bytes.
  std::uint64_t incoming_snapshot_sync_bytes = 16ull << 20;
  // A snapshot being taken is synced every this many bytes as it is
  // written (0: only once whole), so that the final sync never has a large
  // backlog to flush while the log's syncs wait behind it on the disk.
  std::uint64_t snapshot_sync_bytes = 4ull << 20;
  // The id a new data directory gets (coraft.meta's data_id, written into
  // every segment and snapshot file); 0: random. Tests fix it.
  std::uint64_t new_data_id = 0;
  // write_queued(): at most this many writes back to back on the I/O
  // thread before it returns (and its other work, stats() for one, runs).
  std::size_t writes_per_turn = 8;
};

// The data directory belongs to someone else or has an unknown format.
class data_dir_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class file_storage final : public storage {
 public:
  explicit file_storage(file_storage_options opts, std::unique_ptr<file_system> fs = make_posix_file_system());
  ~file_storage() override;

  // Checks (or creates) the metadata file, then recovers the log.
  boost::asio::awaitable<recovered_state> load() override;
  boost::asio::awaitable<void> write(log_write w) override;
  // Takes and writes on the I/O thread, back to back, up to
  // file_storage_options::writes_per_turn writes per call.
  boost::asio::awaitable<void> write_queued(std::function<std::optional<queued_write>()> take) override;
  boost::asio::awaitable<std::shared_ptr<const snapshot_data>> save_snapshot(snapshot s) override;
  std::unique_ptr<snapshot_sink> begin_snapshot(const membership& config) override;
  boost::asio::awaitable<snapshot> commit_snapshot(std::unique_ptr<snapshot_sink> sink, log_id last) override;
  boost::asio::awaitable<void> write_snapshot_chunk(snapshot_meta meta, std::uint64_t offset, payload data) override;
  boost::asio::awaitable<std::shared_ptr<const snapshot_data>> finish_snapshot(snapshot_meta meta) override;

  // Counters of the WAL, read on the I/O thread.
  boost::asio::awaitable<wal_stats> stats();

  // 2: write numbers in WAL records, the bootstrap configuration, data ids.
  static constexpr int format_version = 2;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace coraft
