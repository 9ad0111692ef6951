// wal.cpp — segment files of CRC32C-checked records; see coraft/wal.hpp:
// encoding, appending (group commit), rolling and sealing segments, the
// spare segment, and compaction. Recovery (open) is in wal_recovery.cpp.
#include <coraft/wal.hpp>

#include <chrono>
#include <thread>

#include "wal_format.hpp"

#include <coraft/detail/planted.hpp>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <optional>

namespace coraft {

using namespace wal_format;

wal_corruption::wal_corruption(const std::string& f, std::uint64_t off, const std::string& what)
    : std::runtime_error("corrupt write-ahead log: " + f + " at offset " + std::to_string(off) + ": " + what +
                         " (refusing to serve it)"),
      file(f),
      offset(off) {}

wal::wal(file_system& fs, wal_options opts) : fs_(fs), opts_(std::move(opts)) {
  if (!opts_.log) opts_.log = [](const std::string& s) { std::fprintf(stderr, "coraft wal: %s\n", s.c_str()); };
}

wal::~wal() {
  if (spare_.valid()) spare_.wait();  // the helper uses fs_
  if (file_ >= 0) fs_.close(file_);
}

namespace {
std::string spare_path(const std::string& dir) { return dir + "/wal.spare"; }
}  // namespace

void wal::start_spare() {
  if (!opts_.prepare_spare || spare_.valid()) return;
  auto prepare = [&fs = fs_, path = spare_path(opts_.dir), bytes = opts_.segment_bytes, sync = opts_.sync] {
    fs.remove(path);
    const auto fd = fs.open(path, true);
    try {
      // In 1 MiB steps, each synced, each followed by a pause as long as
      // its sync took (at most 10 ms): one 64 MiB flush would hold the disk
      // queue for tens of ms and every log sync behind it, and back-to-back
      // steps would still keep the disk busy; so the helper takes about
      // half of the disk's time, whatever its speed (at 24 rolls in 8 s in
      // coraft-bench wal, every roll still found its spare ready; a roll
      // that comes first waits for it). Durable before it can become a
      // segment.
      constexpr std::uint64_t step = 1ull << 20;
      for (std::uint64_t done = 0; done < bytes;) {
        done = std::min(bytes, done + step);
        fs.zero_fill(fd, done);
        if (!sync) continue;
        const auto t0 = std::chrono::steady_clock::now();
        fs.sync(fd);
        if (done < bytes)
          std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
              std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(10)));
      }
    } catch (...) {
      fs.close(fd);
      try {
        fs.remove(path);  // out of space, say: do not keep most of a segment's worth of zeros
      } catch (...) {
      }
      throw;
    }
    fs.close(fd);
  };
  try {
    spare_ = std::async(std::launch::async, std::move(prepare));
  } catch (const std::exception& e) {  // no thread: the next roll zero-fills itself
    opts_.log(std::string("cannot start preparing a spare segment: ") + e.what());
  }
}

// Waits for the helper (normally long done) and says whether wal.spare is
// ready. A failed preparation is logged and the roll zero-fills itself.
bool wal::take_spare() {
  if (!spare_.valid()) return false;
  try {
    spare_.get();
    return true;
  } catch (const std::exception& e) {
    opts_.log(std::string("preparing the spare segment failed (the roll zero-fills instead): ") + e.what());
    return false;
  }
}

std::string wal::segment_path(std::uint64_t seq) const {
  char name[32];
  std::snprintf(name, sizeof name, "wal-%016" PRIx64 ".log", seq);
  return opts_.dir + "/" + name;
}

void wal::encode(std::uint8_t type, const void* body, std::size_t n, const void* body2, std::size_t n2) {
  const std::size_t at = buf_.size();
  const std::size_t len = n + n2;
  buf_.resize(at + header_bytes + len);
  char* h = buf_.data() + at;
  put_u32(h, static_cast<std::uint32_t>(len));
  h[8] = static_cast<char>(type);
  put_tag(h, write_no_);
  if (n > 0) std::memcpy(h + header_bytes, body, n);
  if (n2 > 0) std::memcpy(h + header_bytes + n, body2, n2);
  put_u32(h + 4, record_crc(seed_, h, h + header_bytes, len));
  last_record_at_ = at;
}

void wal::begin_write() {
  buf_.clear();
  write_no_ = (write_no_ + 1) & write_mask;
}

// Flags the last record of buf_ as the end of its write (and re-seals its CRC).
void wal::end_write() {
  if (buf_.empty()) return;
  char* h = buf_.data() + last_record_at_;
  put_tag(h, write_no_ | end_of_write);
  put_u32(h + 4, record_crc(seed_, h, h + header_bytes, get_u32(h)));
}

void wal::encode_segment_header(std::uint64_t seq, std::uint64_t prev_end) {
  char b[40];
  put_u64(b, segment_magic);
  put_u64(b + 8, seq);
  put_u64(b + 16, opts_.data_id);
  put_u64(b + 24, opts_.segment_bytes);  // the size it is made: a shorter file was cut
  put_u64(b + 32, prev_end);             // where the previous segment's seal goes
  encode(rec_segment, b, sizeof b);
}

void wal::encode_bootstrap(const membership& m) {
  const std::string b = encode_membership(m);
  encode(rec_bootstrap, b.data(), b.size());
}

void wal::encode_hard_state(const hard_state& hs) {
  char b[16];
  put_u64(b, hs.current_term);
  put_u64(b + 8, hs.voted_for);
  encode(rec_hard_state, b, sizeof b);
}

void wal::encode_truncate(index_t from) {
  char b[8];
  put_u64(b, from);
  encode(rec_truncate, b, sizeof b);
}

void wal::encode_base(log_id id, bool reset) {
  char b[17];
  put_u64(b, id.term);
  put_u64(b + 8, id.index);
  b[16] = reset ? 1 : 0;
  encode(rec_base, b, sizeof b);
}

void wal::encode_entry(const entry& e) {
  char b[entry_fixed];
  put_u64(b, e.term);
  put_u64(b + 8, e.index);
  b[16] = static_cast<char>(e.type);
  encode(rec_entry, b, sizeof b, e.data.data(), e.data.size());
}

// Seals a full segment (a write of its own: the seal record naming the next
// segment), synced. Only once the next segment is durably named.
void wal::seal(const std::string& path, std::uint64_t seq, std::uint64_t end, std::uint32_t last_write) {
  std::vector<char> saved;
  saved.swap(buf_);
  const std::uint32_t seed_before = seed_, write_before = write_no_;
  seed_ = segment_seed(opts_.data_id, seq);
  write_no_ = last_write;
  begin_write();
  char b[8];
  put_u64(b, seq + 1);
  encode(rec_seal, b, sizeof b);
  end_write();
  const bool open_here = !(file_ >= 0 && seq == seq_);
  const auto fd = open_here ? fs_.open(path, false) : file_;
  fs_.pwrite(fd, buf_.data(), buf_.size(), end);
  if (opts_.sync) fs_.sync(fd);
  if (open_here) fs_.close(fd);
  seed_ = seed_before;
  write_no_ = write_before;
  buf_.swap(saved);
}

void wal::roll(std::uint64_t seq) {
  // A segment is complete before it has its name: zero-filled, its header
  // write (segment record, hard state, bootstrap configuration) written and
  // synced under a temporary name, then renamed and the directory synced [a
  // crash leaves either no segment or a whole one]. Only then is the full
  // segment sealed, so that recovery can tell a segment that was rolled
  // over from one whose last records were lost, and a sealed last segment
  // means the one after it is missing.
  const std::string tmp = opts_.dir + "/wal.tmp";
  fs_.remove(tmp);
  // A prepared spare is already zero-filled and synced: it becomes the
  // temporary file, and zero_fill below finds nothing left to do.
  bool spare = take_spare();
  if (spare) {
    try {
      fs_.rename(spare_path(opts_.dir), tmp);
    } catch (const std::exception& e) {
      opts_.log(std::string("the spare segment could not be taken (zero-filling instead): ") + e.what());
      spare = false;
    }
  }
  const auto fd = fs_.open(tmp, true);
  fs_.zero_fill(fd, opts_.segment_bytes);
  const std::uint32_t seed_before = seed_, write_before = write_no_;
  buf_.clear();
  seed_ = segment_seed(opts_.data_id, seq);
  write_no_ = 0;
  encode_segment_header(seq, file_ >= 0 ? offset_ : 0);
  encode_hard_state(hs_);
  if (bootstrap_) encode_bootstrap(*bootstrap_);
  end_write();
  fs_.pwrite(fd, buf_.data(), buf_.size(), 0);
  if (opts_.sync) fs_.sync(fd);
  fs_.rename(tmp, segment_path(seq));
  if (opts_.sync) fs_.sync_dir(opts_.dir);
  const std::uint64_t header_bytes_written = buf_.size();
  if (file_ >= 0) {
    seed_ = seed_before;
    write_no_ = write_before;
    seal(segment_path(seq_), seq_, offset_, write_no_);
    fs_.close(file_);
  }
  file_ = fd;
  seq_ = seq;
  seed_ = segment_seed(opts_.data_id, seq);
  write_no_ = 0;
  offset_ = header_bytes_written;
  header_end_ = offset_;
  buf_.clear();
  ++stats_.segments;
  if (spare) ++stats_.spares_used;
  segments_.push_back({seq, 0});
  start_spare();  // the next one, while this one fills
}

void wal::remove_covered_segments() {
  // Oldest first, so the segments left are always a contiguous sequence;
  // a crash midway leaves a gap before the first that the base record covers.
  bool removed = false;
  while (segments_.size() > 1 && segments_.front().seq != seq_ && segments_.front().max_index <= base_index_) {
    fs_.remove(segment_path(segments_.front().seq));
    segments_.pop_front();
    removed = true;
    ++stats_.segments_removed;
  }
  if (removed && opts_.sync) fs_.sync_dir(opts_.dir);
}

void wal::append(const log_write& w) {
  index_t base = base_index_;
  index_t last = last_index_;
  if (w.reset) base = last = w.reset->index;
  const bool reset_done = w.reset.has_value();
  const bool compact = w.compact && w.compact->index > base;
  if (compact) {
    if (w.compact->index > last)
      throw std::logic_error("wal::append: compaction through " + std::to_string(w.compact->index) +
                             " beyond the last entry " + std::to_string(last));
    base = w.compact->index;
  }
  const bool truncate = !w.entries.empty() && w.entries.front().index <= last;
  if (!w.entries.empty()) {
    const index_t first = w.entries.front().index;
    if (first <= base || first > last + 1)
      throw std::logic_error("wal::append: entry " + std::to_string(first) + " does not continue the log " +
                             std::to_string(base + 1) + ".." + std::to_string(last));
  }
  const bool bootstrap = w.bootstrap && !bootstrap_;
  // One write: every record of it, numbered alike, the last one flagged.
  const auto encode_write = [&] {
    begin_write();
    if (bootstrap) encode_bootstrap(*w.bootstrap);
    if (w.reset) encode_base(*w.reset, true);
    if (compact) encode_base(*w.compact, false);
    if (truncate) encode_truncate(w.entries.front().index);
    if (w.state) encode_hard_state(*w.state);
    for (const entry& e : w.entries) encode_entry(e);
    end_write();
  };
  encode_write();
  if (buf_.empty()) {
    write_no_ = (write_no_ - 1) & write_mask;  // nothing to write: the number stays free
    return;
  }
  if (offset_ + buf_.size() > opts_.segment_bytes && offset_ > header_end_) {
    write_no_ = (write_no_ - 1) & write_mask;  // the seal takes this segment's next number
    roll(seq_ + 1);
    encode_write();  // numbered in the new segment
  }
  fs_.pwrite(file_, buf_.data(), buf_.size(), offset_);
  ++stats_.writes;
  stats_.bytes += buf_.size();
  if (opts_.sync) {
    fs_.sync(file_);
    ++stats_.syncs;
  }
  offset_ += buf_.size();
  // Only now, durable, may the next segment header repeat them.
  if (w.state) hs_ = *w.state;
  if (bootstrap) bootstrap_ = w.bootstrap;
  base_index_ = base;
  last_index_ = last;
  if (!w.entries.empty()) {
    last_index_ = w.entries.back().index;
    segments_.back().max_index = std::max(segments_.back().max_index, last_index_);
  }
  if (reset_done) {
    // Every entry written before the reset is superseded, whatever its index.
    for (auto& si : segments_) si.max_index = 0;
    if (!w.entries.empty()) segments_.back().max_index = last_index_;
  }
  if (w.reset || w.compact) remove_covered_segments();
}

}  // namespace coraft
