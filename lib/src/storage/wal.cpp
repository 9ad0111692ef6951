// wal.cpp — segment files of CRC32C-checked records; see coraft/wal.hpp.
#include <coraft/wal.hpp>

#include <coraft/detail/crc32c.hpp>
#include <coraft/detail/endian.hpp>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <optional>

namespace coraft {
namespace {

enum record_type : std::uint8_t {
  rec_segment = 1,
  rec_hard_state = 2,
  rec_entry = 3,
  rec_truncate = 4,
  rec_seal = 5,  // last record of a segment that was rolled over: nothing follows
  rec_base = 6,  // the log starts after this entry: compaction, or reset by a snapshot
};
constexpr std::uint64_t segment_magic = 0x314C415754465243ull;  // "CRFTWAL1"
constexpr std::size_t entry_fixed = 17;                          // term, index, type

void put_u32(char* p, std::uint32_t v) { detail::store_le(p, v); }
void put_u64(char* p, std::uint64_t v) { detail::store_le(p, v); }
std::uint32_t get_u32(const char* p) { return detail::load_le<std::uint32_t>(p); }
std::uint64_t get_u64(const char* p) { return detail::load_le<std::uint64_t>(p); }

// CRC over the length field, the type field and the body: everything but
// the CRC itself.
std::uint32_t record_crc(const char* header, const char* body, std::size_t n) {
  std::uint32_t c = detail::crc32c(header, 4);
  c = detail::crc32c_extend(c, header + 8, 4);
  return detail::crc32c_extend(c, body, n);
}

bool all_zero(const char* p, std::size_t n) {
  return std::all_of(p, p + n, [](char c) { return c == 0; });
}

// Whether a whole, checksum-valid record header+body starts at `at`.
bool valid_record_at(const std::vector<char>& buf, std::size_t at) {
  if (at + wal::header_bytes > buf.size()) return false;
  const char* h = buf.data() + at;
  const std::uint32_t len = get_u32(h);
  const auto type = static_cast<std::uint8_t>(h[8]);
  if (type < rec_segment || type > rec_base || h[9] != 0 || h[10] != 0 || h[11] != 0) return false;
  if (len > buf.size() - at - wal::header_bytes) return false;
  return record_crc(h, h + wal::header_bytes, len) == get_u32(h + 4);
}

bool parse_segment_name(const std::string& name, std::uint64_t& seq) {
  if (name.size() != 24 || name.rfind("wal-", 0) != 0 || name.substr(20) != ".log") return false;
  seq = 0;
  for (std::size_t i = 4; i < 20; ++i) {
    const char c = name[i];
    int d = 0;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else
      return false;
    seq = seq * 16 + static_cast<std::uint64_t>(d);
  }
  return true;
}

}  // namespace

wal_corruption::wal_corruption(const std::string& f, std::uint64_t off, const std::string& what)
    : std::runtime_error("corrupt write-ahead log: " + f + " at offset " + std::to_string(off) +
                         ": " + what + " (refusing to serve it; restore this node from a peer)"),
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
      // In 4 MiB steps, each synced: one 64 MiB flush would hold the disk
      // queue for tens of ms and every log sync behind it. Durable before
      // it can become a segment.
      constexpr std::uint64_t step = 4ull << 20;
      for (std::uint64_t done = 0; done < bytes;) {
        done = std::min(bytes, done + step);
        fs.zero_fill(fd, done);
        if (sync) fs.sync(fd);
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

void wal::encode(std::uint8_t type, const void* body, std::size_t n, const void* body2,
                 std::size_t n2) {
  const std::size_t at = buf_.size();
  const std::size_t len = n + n2;
  buf_.resize(at + header_bytes + len);
  char* h = buf_.data() + at;
  put_u32(h, static_cast<std::uint32_t>(len));
  h[8] = static_cast<char>(type);
  h[9] = h[10] = h[11] = 0;
  if (n > 0) std::memcpy(h + header_bytes, body, n);
  if (n2 > 0) std::memcpy(h + header_bytes + n, body2, n2);
  put_u32(h + 4, record_crc(h, h + header_bytes, len));
}

void wal::encode_segment_header(std::uint64_t seq) {
  char b[16];
  put_u64(b, segment_magic);
  put_u64(b + 8, seq);
  encode(rec_segment, b, sizeof b);
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

recovered_state wal::open() {
  std::vector<std::pair<std::uint64_t, std::string>> segments;
  for (const std::string& name : fs_.list(opts_.dir)) {
    std::uint64_t seq = 0;
    if (parse_segment_name(name, seq)) segments.emplace_back(seq, name);
    if (name == "wal.tmp") fs_.remove(opts_.dir + "/" + name);  // an unfinished roll
    if (name == "wal.spare") fs_.remove(opts_.dir + "/" + name);  // maybe unfinished; made again
  }
  std::sort(segments.begin(), segments.end());

  recovered_state rs;
  std::vector<char> buf;
  index_t base = 0;  // index of the entry before rs.log's first
  // Older segments removed by a compaction leave the first one starting
  // after a gap; a base record later in the log must cover it.
  std::optional<std::pair<index_t, std::string>> uncovered;
  // Whether the log's start is known: the first segment is the very first
  // (sequence 1), or an entry or reset record was read. Until then, records
  // about entries in removed segments (a truncation that opened a segment)
  // say nothing about the log that is left.
  bool settled = segments.empty() || segments.front().first == 1;
  segments_.clear();
  for (std::size_t k = 0; k < segments.size(); ++k) {
    const auto& [seq, name] = segments[k];
    const std::string path = opts_.dir + "/" + name;
    const bool last = k + 1 == segments.size();
    if (k > 0 && seq != segments[k - 1].first + 1)
      throw wal_corruption(path, 0, "segment sequence has a gap after " + segments[k - 1].second);
    const auto fd = fs_.open(path, false);
    buf.resize(fs_.size(fd));
    if (fs_.pread(fd, buf.data(), buf.size(), 0) != buf.size())
      throw wal_corruption(path, 0, "short read");
    std::size_t off = 0;
    bool sealed = false;
    index_t seg_max = 0;
    while (off + header_bytes <= buf.size()) {
      const char* h = buf.data() + off;
      if (all_zero(h, header_bytes)) break;  // end of the written part
      if (!valid_record_at(buf, off)) {
        if (!last) throw wal_corruption(path, off, "record fails its checksum in a sealed segment");
        // In the last segment this is a torn write when nothing valid follows.
        for (std::size_t p = off + 1; p + header_bytes <= buf.size(); ++p) {
          if (valid_record_at(buf, p))
            throw wal_corruption(path, off, "record fails its checksum but valid records follow");
        }
        std::size_t end = buf.size();
        while (end > off && buf[end - 1] == 0) --end;
        opts_.log("torn tail in " + path + " at offset " + std::to_string(off) + ": cut " +
                  std::to_string(end - off) + " bytes after the last whole record");
        const std::vector<char> zeros(end - off, 0);
        fs_.pwrite(fd, zeros.data(), zeros.size(), off);
        fs_.sync(fd);
        break;
      }
      const std::uint32_t len = get_u32(h);
      const char* body = h + header_bytes;
      switch (static_cast<std::uint8_t>(h[8])) {
        case rec_segment:
          if (off != 0 || len != 16 || get_u64(body) != segment_magic || get_u64(body + 8) != seq)
            throw wal_corruption(path, off, "bad segment header");
          break;
        case rec_hard_state:
          if (len != 16) throw wal_corruption(path, off, "bad hard state record");
          rs.state = {get_u64(body), get_u64(body + 8)};
          break;
        case rec_truncate: {
          if (len != 8) throw wal_corruption(path, off, "bad truncation record");
          const index_t from = get_u64(body);
          if (!settled) break;  // it cut entries of a removed segment
          if (uncovered && from <= base && from > 0) {
            // The first segment left began with entries a later leader
            // replaced (its removed predecessors held the rest): the log
            // now starts after from - 1, and a base record must still
            // cover everything before that.
            rs.log.clear();
            base = from - 1;
            uncovered->first = base;
            break;
          }
          if (from <= base || from > base + rs.log.size() + 1)
            throw wal_corruption(path, off, "truncation at " + std::to_string(from) + " outside the log");
          rs.log.resize(from - 1 - base);
          break;
        }
        case rec_base: {
          if (len != 17 || static_cast<std::uint8_t>(body[16]) > 1)
            throw wal_corruption(path, off, "bad base record");
          const index_t at = get_u64(body + 8);
          if (body[16] != 0) {
            rs.log.clear();  // reset by an installed snapshot: every entry so far is superseded
            base = at;
            for (auto& si : segments_) si.max_index = 0;
            seg_max = 0;
            uncovered.reset();  // whatever is missing was superseded
          } else {
            if (at > base) {
              const index_t drop = std::min<index_t>(at - base, rs.log.size());
              rs.log.erase(rs.log.begin(), rs.log.begin() + static_cast<std::ptrdiff_t>(drop));
              base = at;
            }
            // Only a compaction through the gap's end covers it.
            if (uncovered && at >= uncovered->first) uncovered.reset();
            break;  // not settled: entries after it may still be in removed segments
          }
          settled = true;
          break;
        }
        case rec_entry: {
          if (len < entry_fixed) throw wal_corruption(path, off, "short entry record");
          entry e;
          e.term = get_u64(body);
          e.index = get_u64(body + 8);
          e.type = static_cast<entry_type>(body[16]);
          if (e.index != base + rs.log.size() + 1) {
            if (!settled && rs.log.empty() && e.index > base + 1 && !uncovered) {
              uncovered.emplace(e.index - 1, path);
              base = e.index - 1;
            } else {
              throw wal_corruption(path, off, "entry " + std::to_string(e.index) + " after entry " +
                                                  std::to_string(base + rs.log.size()) + " leaves a hole");
            }
          }
          e.data = payload(std::string_view(body + entry_fixed, len - entry_fixed));
          settled = true;
          seg_max = std::max(seg_max, e.index);
          rs.log.push_back(std::move(e));
          break;
        }
        case rec_seal:
          if (len != 8 || get_u64(body) != seq + 1) throw wal_corruption(path, off, "bad seal record");
          sealed = true;
          break;
        default:
          throw wal_corruption(path, off, "unknown record type");
      }
      if (off == 0 && static_cast<std::uint8_t>(h[8]) != rec_segment)
        throw wal_corruption(path, off, "segment does not start with its header");
      off += header_bytes + len;
      if (sealed) {
        if (off + header_bytes <= buf.size() && !all_zero(buf.data() + off, header_bytes))
          throw wal_corruption(path, off, "records after the segment's seal");
        break;
      }
    }
    if (off == 0) throw wal_corruption(path, 0, "empty segment (no header)");
    segments_.push_back({seq, seg_max});
    // Every rolled segment ends with a seal: one that does not lost records
    // at its end (cut short), even if the next segment's indexes look fine.
    if (!last && !sealed)
      throw wal_corruption(path, off, "segment ends without its seal record: records are missing");
    if (last) {
      // What we recovered may be only in the page cache (written by an
      // incarnation whose sync then failed): make it durable before this
      // node acts on it (votes, acks) — and before rolling past a seal.
      if (opts_.sync) {
        fs_.sync(fd);
        fs_.sync_dir(opts_.dir);
      }
      last_sealed_ = sealed;
      file_ = fd;
      seq_ = seq;
      offset_ = off;
    } else {
      fs_.close(fd);
    }
  }
  if (uncovered)
    throw wal_corruption(uncovered->second, 0,
                         "the log starts after entry " + std::to_string(uncovered->first) +
                             " but no compaction record covers the entries before it: segments are missing");
  hs_ = rs.state;
  base_index_ = base;
  last_index_ = base + rs.log.size();
  stats_.segments = segments.size();
  if (file_ < 0) {
    roll(1);
  } else if (last_sealed_) {
    roll(seq_ + 1);  // a crash came between sealing and creating the next one
  }
  start_spare();
  return rs;
}

void wal::roll(std::uint64_t seq) {
  // A segment is complete before it has its name: zero-filled, header and
  // hard state written and synced under a temporary name, then renamed and
  // the directory synced [a crash leaves either no segment or a whole one].
  std::vector<char> saved;
  saved.swap(buf_);
  if (file_ >= 0 && !last_sealed_) {
    // Seal the full segment first, so recovery can tell a segment that was
    // rolled over from one whose last records were lost.
    char b[8];
    put_u64(b, seq);
    encode(rec_seal, b, sizeof b);
    fs_.pwrite(file_, buf_.data(), buf_.size(), offset_);
    if (opts_.sync) fs_.sync(file_);
    buf_.clear();
  }
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
  encode_segment_header(seq);
  encode_hard_state(hs_);
  fs_.pwrite(fd, buf_.data(), buf_.size(), 0);
  if (opts_.sync) fs_.sync(fd);
  fs_.rename(tmp, segment_path(seq));
  if (opts_.sync) fs_.sync_dir(opts_.dir);
  if (file_ >= 0) fs_.close(file_);
  file_ = fd;
  seq_ = seq;
  offset_ = buf_.size();
  last_sealed_ = false;
  buf_.swap(saved);
  ++stats_.segments;
  if (spare) ++stats_.spares_used;
  segments_.push_back({seq, 0});
  start_spare();  // the next one, while this one fills
}

void wal::remove_covered_segments() {
  // Oldest first, so the segments left are always a contiguous sequence;
  // a crash midway leaves a gap before the first that the base record covers.
  bool removed = false;
  while (segments_.size() > 1 && segments_.front().seq != seq_ &&
         segments_.front().max_index <= base_index_) {
    fs_.remove(segment_path(segments_.front().seq));
    segments_.pop_front();
    removed = true;
    ++stats_.segments_removed;
  }
  if (removed && opts_.sync) fs_.sync_dir(opts_.dir);
}

void wal::append(const log_write& w) {
  buf_.clear();
  index_t base = base_index_;
  index_t last = last_index_;
  if (w.reset) {
    encode_base(*w.reset, true);
    base = last = w.reset->index;
  }
  const bool reset_done = w.reset.has_value();
  if (w.compact && w.compact->index > base) {
    if (w.compact->index > last)
      throw std::logic_error("wal::append: compaction through " + std::to_string(w.compact->index) +
                             " beyond the last entry " + std::to_string(last));
    encode_base(*w.compact, false);
    base = w.compact->index;
  }
  if (!w.entries.empty()) {
    const index_t first = w.entries.front().index;
    if (first <= base || first > last + 1)
      throw std::logic_error("wal::append: entry " + std::to_string(first) + " does not continue the log " +
                             std::to_string(base + 1) + ".." + std::to_string(last));
    if (first <= last) encode_truncate(first);
  }
  if (w.state) {
    encode_hard_state(*w.state);
    hs_ = *w.state;
  }
  for (const entry& e : w.entries) encode_entry(e);
  if (buf_.empty()) return;
  if (offset_ + buf_.size() > opts_.segment_bytes && offset_ > 2 * header_bytes + 32) roll(seq_ + 1);
  fs_.pwrite(file_, buf_.data(), buf_.size(), offset_);
  ++stats_.writes;
  stats_.bytes += buf_.size();
  if (opts_.sync) {
    fs_.sync(file_);
    ++stats_.syncs;
  }
  offset_ += buf_.size();
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
