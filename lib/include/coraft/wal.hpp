// coraft/wal.hpp — the write-ahead log: segment files of checksummed records.
//
// A segment is a file `wal-<seq>.log`, zero-filled to its size when created
// so that appends are overwrites. It holds records
//   [u32 body length][u32 CRC32C][u8 type][u24 write][body]
// (little-endian; the CRC covers length, type, write and body, and starts
// from a seed of the data directory's random id and the segment's number,
// so that no bytes a client chose — a value inside an entry — and no record
// of another segment or directory can pass for a record here). `write` is
// the number of the write (one append, one roll) that put the record there,
// counted from 0 within the segment, in its low 23 bits, and in bit 23 a
// flag on the last record of each write. A zero header marks the end of the
// written part. Each segment starts with a segment record (magic, sequence
// number, the data directory's id, the size it was made, where the
// previous segment's records end), the current hard state and the
// bootstrap configuration, so that neither ever lives only in an older
// segment. A full segment is sealed (a seal record) only once the next one
// is durably named: a segment shorter than it was made, an unsealed one
// before another (unless a crash came right between naming the next and
// sealing it: that roll is finished at open), a sealed last one (the next
// is gone), or records ending elsewhere than the next segment says — each
// means records are missing, and is refused. A base record (compaction or
// snapshot reset) says the log starts after an entry; once it is durable,
// older segments whose entries it covers are removed, oldest first.
//
// Writes are atomic. A power loss during one write may keep any subset of
// its pages (not only a prefix): recovery applies a write's records only
// once it has read the last one, and cuts the log after the last whole
// write. Whatever follows the cut must belong to that one unfinished write
// (valid records of any other write there mean that a synced write was
// damaged: refused). The cut part is then zeroed and, with the rest of the
// last segment, written again and synced before open() returns: bytes that
// an earlier incarnation wrote but never synced may sit in the page cache
// only (after a failed fsync Linux marks them clean), and rewriting them is
// what makes what recovery returns durable for certain; the zeros keep
// stale records of the cut write from ever looking like part of the log.
// A limit no log can avoid: damage to the newest write of the last segment
// looks exactly like a write cut by a power loss.
//
// Rolling over zero-fills and syncs a whole new segment (64 MiB: tens of ms
// on a virtual disk, during which no append completes). With
// prepare_spare, a helper thread prepares the next segment ahead of time
// (`wal.spare`: zero-filled and synced, not yet part of the log), so a roll
// only writes the header, syncs, renames and syncs the directory. A spare
// left by a crash is deleted on open().
//
// Invariants: records are only ever appended; the log they describe has no
// hole (an entry's index is always the next one, a truncation only cuts a
// suffix); append() returns only after one write and one sync (unless sync is
// off); recovery never serves a record that fails its checksum, nor part of
// a write.
// Threading: not thread-safe; file_storage runs it on its own I/O thread.
#pragma once

#include <coraft/file_system.hpp>
#include <coraft/storage.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace coraft {

// Corruption that recovery refuses to repair: it names the file and offset.
class wal_corruption : public std::runtime_error {
 public:
  wal_corruption(const std::string& file, std::uint64_t offset, const std::string& what);
  std::string file;
  std::uint64_t offset;
};

struct wal_options {
  std::string dir;                              // existing directory
  std::uint64_t segment_bytes = 64ull << 20;    // roll at this size
  bool sync = true;                             // false: never fsync (unsafe; benchmarks)
  std::function<void(const std::string&)> log;  // recovery notes (torn tail truncated...)
  // Prepare the next segment on a helper thread. The file_system is then
  // used from two threads: the POSIX one allows it; the simulated one is
  // locked but its crash points would no longer be deterministic.
  bool prepare_spare = false;
  // The data directory's identity (coraft.meta): written into every segment
  // header; a segment with another id (from another node's or cluster's
  // directory) is refused. 0 in tests that have no metadata file.
  std::uint64_t data_id = 0;
};

struct wal_stats {
  std::uint64_t writes = 0;
  std::uint64_t syncs = 0;
  std::uint64_t bytes = 0;
  std::uint64_t segments = 0;
  std::uint64_t segments_removed = 0;
  std::uint64_t spares_used = 0;  // rolls that took a prepared spare segment
};

class wal {
 public:
  wal(file_system& fs, wal_options opts);
  ~wal();
  wal(const wal&) = delete;
  wal& operator=(const wal&) = delete;

  // Reads every segment in order and verifies every record. A torn last
  // write of the last segment (a crash mid-write) is cut and logged;
  // anything else throws wal_corruption. Makes the last segment durable as
  // recovered (see above), then opens the log for appending (creating the
  // first segment if there is none).
  recovered_state open();

  // One group commit: a truncation record when the entries overwrite a
  // suffix, the hard state, the entries — one write, one sync.
  void append(const log_write& w);

  index_t last_index() const { return last_index_; }
  index_t base_index() const { return base_index_; }
  std::size_t segment_count() const { return segments_.size(); }
  const wal_stats& stats() const { return stats_; }

  static constexpr std::size_t header_bytes = 12;
  static constexpr std::uint32_t write_mask = (1u << 23) - 1;  // write numbers wrap
  static constexpr std::uint32_t end_of_write = 1u << 23;

 private:
  void roll(std::uint64_t seq);
  void seal(const std::string& path, std::uint64_t seq, std::uint64_t end, std::uint32_t last_write);
  void begin_write();
  void start_spare();
  bool take_spare();
  void encode_segment_header(std::uint64_t seq, std::uint64_t prev_end);
  void encode_bootstrap(const membership& m);
  void end_write();
  void encode_hard_state(const hard_state& hs);
  void encode_truncate(index_t from);
  void encode_entry(const entry& e);
  void encode_base(log_id id, bool reset);
  void remove_covered_segments();
  void encode(std::uint8_t type, const void* body, std::size_t n, const void* body2 = nullptr, std::size_t n2 = 0);
  void flush_buffer(bool sync);
  std::string segment_path(std::uint64_t seq) const;

  file_system& fs_;
  wal_options opts_;
  file_system::handle file_ = -1;  // the segment being appended to
  std::uint64_t seq_ = 0;          // its sequence number
  std::uint64_t offset_ = 0;       // end of its written part
  std::uint32_t write_no_ = 0;     // number of the last write in the open segment
  std::uint32_t seed_ = 0;         // its records' CRC seed (data id, sequence number)
  index_t last_index_ = 0;
  index_t base_index_ = 0;  // the log starts after this index
  struct segment_info {
    std::uint64_t seq;
    index_t max_index;  // highest entry index ever written in it
  };
  std::deque<segment_info> segments_;  // every segment on disk, oldest first
  std::uint64_t header_end_ = 0;       // end of the open segment's header write
  hard_state hs_;
  std::optional<membership> bootstrap_;  // once written: repeated in every segment header
  std::vector<char> buf_;                // records being assembled for one write
  std::size_t last_record_at_ = 0;       // offset in buf_ of the last record encoded
  wal_stats stats_;
  std::future<void> spare_;  // the helper preparing wal.spare, if any
};

}  // namespace coraft
