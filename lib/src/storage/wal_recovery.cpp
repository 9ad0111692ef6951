// wal_recovery.cpp — wal::open(): reads every segment back, carries out
// whole writes only (a write cut by a crash leaves no trace), and refuses —
// with the file, the offset and why — every damage it cannot prove harmless:
// a gap in the segment sequence, a segment cut short or without its seal, a
// valid record after a torn one (a durable write damaged), a log that
// starts after entries no compaction covers. What it recovers is written
// again and synced before the node acts on it. See coraft/wal.hpp.
#include <coraft/wal.hpp>

#include "wal_format.hpp"

#include <coraft/detail/planted.hpp>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <optional>

namespace coraft {

using namespace wal_format;

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

}  // namespace coraft
