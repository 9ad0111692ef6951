// wal.cpp — segment files of CRC32C-checked records; see coraft/wal.hpp.
#include <coraft/wal.hpp>

#include <coraft/detail/crc32c.hpp>
#include <coraft/detail/endian.hpp>
#include <coraft/detail/planted.hpp>

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
  rec_seal = 5,       // last record of a segment that was rolled over: nothing follows
  rec_base = 6,       // the log starts after this entry: compaction, or reset by a snapshot
  rec_bootstrap = 7,  // the bootstrap configuration (encode_membership)
};
constexpr std::uint64_t segment_magic = 0x324C415754465243ull;  // "CRFTWAL2" (2: write numbers, data id)
constexpr std::size_t entry_fixed = 17;                         // term, index, type
constexpr std::size_t seal_bytes = 12 + 8;                      // a seal record: header, next sequence number

void put_u32(char* p, std::uint32_t v) { detail::store_le(p, v); }
void put_u64(char* p, std::uint64_t v) { detail::store_le(p, v); }
std::uint32_t get_u32(const char* p) { return detail::load_le<std::uint32_t>(p); }
std::uint64_t get_u64(const char* p) { return detail::load_le<std::uint64_t>(p); }
// Header bytes 9-11: the write number and the end-of-write flag.
std::uint32_t get_tag(const char* h) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(h[9])) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(h[10])) << 8 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(h[11])) << 16;
}
void put_tag(char* h, std::uint32_t tag) {
  h[9] = static_cast<char>(tag & 0xff);
  h[10] = static_cast<char>((tag >> 8) & 0xff);
  h[11] = static_cast<char>((tag >> 16) & 0xff);
}

// Where every record's CRC of a segment starts: the CRC32C of the data
// directory's id and the segment's sequence number. Bytes a client chose
// (a value inside an entry) can then never pass for a record of this log —
// the id is random and never leaves the node — nor a record of one segment
// for one of another.
std::uint32_t segment_seed(std::uint64_t data_id, std::uint64_t seq) {
  char b[16];
  detail::store_le(b, data_id);
  detail::store_le(b + 8, seq);
  return detail::crc32c(b, sizeof b);
}

// CRC over the length field, the type and write fields and the body:
// everything but the CRC itself, from the segment's seed.
std::uint32_t record_crc(std::uint32_t seed, const char* header, const char* body, std::size_t n) {
  std::uint32_t c = detail::crc32c_extend(seed, header, 4);
  c = detail::crc32c_extend(c, header + 8, 4);
  return detail::crc32c_extend(c, body, n);
}

bool all_zero(const char* p, std::size_t n) {
  return std::all_of(p, p + n, [](char c) { return c == 0; });
}

// Whether a whole, checksum-valid record header+body starts at `at` and
// ends by `end`.
bool valid_record_at(const std::vector<char>& buf, std::size_t at, std::size_t end, std::uint32_t seed) {
  if (end > buf.size() || at + wal::header_bytes > end) return false;
  const char* h = buf.data() + at;
  const std::uint32_t len = get_u32(h);
  const auto type = static_cast<std::uint8_t>(h[8]);
  if (type < rec_segment || type > rec_bootstrap) return false;
  if (len > end - at - wal::header_bytes) return false;
  return record_crc(seed, h, h + wal::header_bytes, len) == get_u32(h + 4);
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

recovered_state wal::open() {
  std::vector<std::pair<std::uint64_t, std::string>> segments;
  for (const std::string& name : fs_.list(opts_.dir)) {
    std::uint64_t seq = 0;
    if (parse_segment_name(name, seq)) segments.emplace_back(seq, name);
    if (name == "wal.tmp") fs_.remove(opts_.dir + "/" + name);    // an unfinished roll
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
  // The segment before the last when a roll was cut before sealing it.
  struct unsealed_segment {
    std::string path;
    std::uint64_t seq;
    std::uint64_t end;
    std::uint32_t write_no;
  };
  std::optional<unsealed_segment> unsealed;
  struct resealed_segment {
    std::string path;
    std::uint64_t at;
    std::vector<char> seal;  // its seal record's bytes, as read
  };
  std::optional<resealed_segment> reseal;
  std::uint64_t prev_seal_at = 0;  // where the previous segment's records end (its seal)
  for (std::size_t k = 0; k < segments.size(); ++k) {
    const auto& [seq, name] = segments[k];
    const std::string path = opts_.dir + "/" + name;
    const bool last = k + 1 == segments.size();
    if (k > 0 && seq != segments[k - 1].first + 1)
      throw wal_corruption(path, 0, "segment sequence has a gap after " + segments[k - 1].second);
    const auto fd = fs_.open(path, false);
    buf.resize(fs_.size(fd));
    if (fs_.pread(fd, buf.data(), buf.size(), 0) != buf.size()) throw wal_corruption(path, 0, "short read");
    bool sealed = false;
    std::uint64_t seal_at = 0;  // offset of its seal record
    index_t seg_max = 0;
    std::uint64_t made_bytes = 0;  // the size the segment was made (its header says)
    const std::uint32_t seed = segment_seed(opts_.data_id, seq);
    // A segment of another directory: its records have another seed. Say
    // so, rather than that its header fails its checksum.
    if (buf.size() >= header_bytes + 40 && !valid_record_at(buf, 0, buf.size(), seed) && get_u32(buf.data()) == 40 &&
        static_cast<std::uint8_t>(buf[8]) == rec_segment && get_u64(buf.data() + header_bytes) == segment_magic &&
        get_u64(buf.data() + header_bytes + 16) != opts_.data_id) {
      char ids[80];
      std::snprintf(ids, sizeof ids, "%" PRIx64 ", this directory's is %" PRIx64,
                    get_u64(buf.data() + header_bytes + 16), opts_.data_id);
      throw wal_corruption(path, 0,
                           std::string("segment of another data directory (data_id ") + ids +
                               "): a file copied from another node or cluster");
    }

    // Carries out one record of a whole write (all its records were read).
    const auto apply = [&](std::size_t off) {
      const char* h = buf.data() + off;
      const std::uint32_t len = get_u32(h);
      const char* body = h + header_bytes;
      const auto type = static_cast<std::uint8_t>(h[8]);
      if ((off == 0) != (type == rec_segment))
        throw wal_corruption(
            path, off,
            off == 0 ? "segment does not start with its header" : "segment header in the middle of a segment");
      switch (type) {
        case rec_segment:
          if (len != 40 || get_u64(body) != segment_magic || get_u64(body + 8) != seq)
            throw wal_corruption(path, off, "bad segment header");
          made_bytes = get_u64(body + 24);
          // The previous segment ended (its seal goes) where this one says.
          if (k > 0 && get_u64(body + 32) != prev_seal_at)
            throw wal_corruption(opts_.dir + "/" + segments[k - 1].second, std::min(prev_seal_at, get_u64(body + 32)),
                                 "the segment's records end at " + std::to_string(prev_seal_at) +
                                     " but the next one "
                                     "says they went on to " +
                                     std::to_string(get_u64(body + 32)) + ": records are missing");
          break;
        case rec_hard_state:
          if (len != 16) throw wal_corruption(path, off, "bad hard state record");
          rs.state = {get_u64(body), get_u64(body + 8)};
          break;
        case rec_bootstrap: {
          auto m = decode_membership(std::string_view(body, len));
          if (!m) throw wal_corruption(path, off, "bad bootstrap configuration record");
          rs.bootstrap = std::move(*m);
          break;
        }
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
          if (len != 17 || static_cast<std::uint8_t>(body[16]) > 1) throw wal_corruption(path, off, "bad base record");
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
              throw wal_corruption(path, off,
                                   "entry " + std::to_string(e.index) + " after entry " +
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
          seal_at = off;
          break;
        default: throw wal_corruption(path, off, "unknown record type");
      }
    };

    // Read whole writes. A write's records are carried out only once its
    // last one (end_of_write) was read: a write cut by a crash leaves no
    // trace in what is recovered.
    std::size_t off = 0;
    std::size_t complete_end = 0;                             // end of the last whole write
    std::size_t header_end = 0;                               // end of the segment's header write (write 0)
    std::optional<std::uint32_t> cur;                         // write number of the last record read
    bool in_write = false;                                    // that write's last record is still to come
    std::vector<std::size_t> pending;                         // offsets of its records
    std::optional<std::pair<std::size_t, std::string>> stop;  // why reading stopped before zeros
    while (off + header_bytes <= buf.size() && !sealed) {
      const char* h = buf.data() + off;
      if (all_zero(h, header_bytes)) break;  // end of the written part
      if (!valid_record_at(buf, off, buf.size(), seed)) {
        stop.emplace(off, "record fails its checksum");
        break;
      }
      const std::uint32_t tag = get_tag(h);
      const std::uint32_t number = tag & write_mask;
      const std::uint32_t expect = !cur ? 0 : in_write ? *cur : ((*cur + 1) & write_mask);
      if (number != expect) {
        stop.emplace(
            off, "record of write " + std::to_string(number) + " where write " + std::to_string(expect) + " was due");
        break;
      }
      pending.push_back(off);
      cur = number;
      in_write = (tag & end_of_write) == 0;
      off += header_bytes + get_u32(h);
      if (!in_write) {
        for (const std::size_t at : pending) apply(at);
        pending.clear();
        complete_end = off;
        if (header_end == 0) header_end = off;
      }
    }
    // A roll names a segment only once its header write is durable.
    if (complete_end == 0)
      throw wal_corruption(path, stop ? stop->first : 0,
                           stop ? stop->second + " in the segment's header write" : "empty segment (no header)");
    // A segment is made at its full size (zero-filled) before it is named:
    // a shorter one was cut, and what stood at its end is gone.
    if (buf.size() < made_bytes)
      throw wal_corruption(path, buf.size(),
                           "the segment is " + std::to_string(buf.size()) + " bytes but was made " +
                               std::to_string(made_bytes) + ": it was cut short, records are missing");
    // Bytes after the last whole write: nothing, or (last segment only)
    // the one write a crash cut short, numbered `torn`.
    std::size_t end = buf.size();
    while (end > complete_end && buf[end - 1] == 0) --end;
    if (!last) {
      // Every rolled segment ends with a seal: one that does not lost
      // records at its end (cut short), even if the next one looks fine —
      // except the one before the last, when a crash came between naming
      // the last (holding only its header write) and sealing this one; the
      // roll is finished below.
      // (A crash in the seal's own write leaves at most its 20 bytes, torn.)
      const bool penultimate = k + 2 == segments.size();
      if (!sealed && !(penultimate && end - complete_end <= seal_bytes))
        throw wal_corruption(
            path, stop ? stop->first : complete_end,
            stop ? stop->second + " in a sealed segment" : "segment ends without its seal record: records are missing");
      if (sealed && end > complete_end) throw wal_corruption(path, complete_end, "records after the segment's seal");
      if (!sealed) unsealed.emplace(unsealed_segment{path, seq, complete_end, *cur & write_mask});
      // A seal is written after the next segment exists: an incarnation
      // whose sync of it failed leaves it in the page cache only (marked
      // clean: no later sync writes it). Write it again below, and sync.
      if (sealed && penultimate)
        reseal.emplace(resealed_segment{path, seal_at,
                                        std::vector<char>(buf.begin() + static_cast<std::ptrdiff_t>(seal_at),
                                                          buf.begin() + static_cast<std::ptrdiff_t>(complete_end))});
      prev_seal_at = sealed ? seal_at : complete_end;
      fs_.close(fd);
      segments_.push_back({seq, seg_max});
      continue;
    }
    // A segment is sealed only once the next one is named: a sealed last
    // segment means the next one is gone.
    if (sealed)
      throw wal_corruption(path, complete_end,
                           "the segment is sealed but the one after it (wal-" + std::to_string(seq + 1) +
                               ") is missing: records are missing");
    // The roll before this segment was cut between naming it and sealing
    // the one before: only if this one holds nothing but its header write.
    if (unsealed && (complete_end > header_end || end > complete_end))
      throw wal_corruption(unsealed->path, unsealed->end, "segment ends without its seal record: records are missing");
    if (end > complete_end) {
      const std::uint32_t torn = in_write ? *cur : ((*cur + 1) & write_mask);
      // A write is only started once every earlier one is durable: a valid
      // record of a later write means that a durable write is damaged. The
      // first later write begins where the damaged one ended; only records
      // numbered just after the cut one are looked for, so that no byte
      // pattern in a command can make this scan slow (a checksum is
      // computed only where a header claims one of those 64 numbers, which
      // a command cannot know; and the CRC seed it cannot know either).
      for (std::size_t p = complete_end; p + header_bytes <= end; ++p) {
        const std::uint32_t number = get_tag(buf.data() + p) & write_mask;
        if (((number - torn) & write_mask) == 0 || ((number - torn) & write_mask) > 64) continue;
        if (!valid_record_at(buf, p, buf.size(), seed)) continue;
        const std::size_t at = stop ? stop->first : complete_end;
        throw wal_corruption(path, at,
                             (stop ? stop->second : std::string("the log ends")) + " (write " + std::to_string(torn) +
                                 " cut there), but a valid record of the later write " + std::to_string(number) +
                                 " is at offset " + std::to_string(p) + ": a durable write is damaged");
      }
      opts_.log("torn tail in " + path + " at offset " + std::to_string(complete_end) + ": cut " +
                std::to_string(end - complete_end) + " bytes of a write that never finished");
      if (!CORAFT_PLANTED(wal_stale_tail))
        std::fill(buf.begin() + static_cast<std::ptrdiff_t>(complete_end), buf.end(), 0);
    }
    // What was read may be in the page cache only (written by an incarnation
    // whose sync then failed: Linux marks such pages clean, so a sync now
    // would write nothing). Writing every byte again, the cut part as
    // zeros, and syncing makes what we recovered durable before this node
    // acts on it (votes, acks) — and keeps stale records of the cut write
    // from ever following a later write.
    if (CORAFT_PLANTED(wal_open_trusts_cache)) {
      if (end > complete_end) fs_.pwrite(fd, buf.data() + complete_end, buf.size() - complete_end, complete_end);
    } else if (opts_.sync || (end > complete_end && !CORAFT_PLANTED(wal_stale_tail))) {
      fs_.pwrite(fd, buf.data(), buf.size(), 0);
    }
    if (opts_.sync) {
      fs_.sync(fd);
      fs_.sync_dir(opts_.dir);
    }
    segments_.push_back({seq, seg_max});
    file_ = fd;
    seq_ = seq;
    seed_ = seed;
    offset_ = complete_end;
    header_end_ = header_end;
    write_no_ = *cur & write_mask;
    if (in_write) write_no_ = (write_no_ - 1) & write_mask;  // the cut write's number is free again
  }
  if (unsealed) seal(unsealed->path, unsealed->seq, unsealed->end, unsealed->write_no);  // finish the roll
  if (reseal && opts_.sync && !CORAFT_PLANTED(wal_open_trusts_cache)) {
    const auto fd = fs_.open(reseal->path, false);
    fs_.pwrite(fd, reseal->seal.data(), reseal->seal.size(), reseal->at);
    fs_.sync(fd);
    fs_.close(fd);
  }
  if (uncovered)
    throw wal_corruption(uncovered->second, 0,
                         "the log starts after entry " + std::to_string(uncovered->first) +
                             " but no compaction record covers the entries before it: segments are missing");
  hs_ = rs.state;
  bootstrap_ = rs.bootstrap;
  base_index_ = base;
  last_index_ = base + rs.log.size();
  rs.base = base;
  stats_.segments = segments.size();
  if (file_ < 0) roll(1);
  start_spare();
  return rs;
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
