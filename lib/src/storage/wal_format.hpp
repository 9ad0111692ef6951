// wal_format.hpp — the write-ahead log's on-disk record format (private to
// lib/src/storage; the layout is described in coraft/wal.hpp): record types,
// little-endian fields, the write tag, and the checksum every record carries.
// Shared by the writer (wal.cpp) and recovery (wal_recovery.cpp).
#pragma once

#include <coraft/detail/crc32c.hpp>
#include <coraft/detail/endian.hpp>
#include <coraft/wal.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace coraft::wal_format {

enum record_type : std::uint8_t {
  rec_segment = 1,
  rec_hard_state = 2,
  rec_entry = 3,
  rec_truncate = 4,
  rec_seal = 5,       // last record of a segment that was rolled over: nothing follows
  rec_base = 6,       // the log starts after this entry: compaction, or reset by a snapshot
  rec_bootstrap = 7,  // the bootstrap configuration (encode_membership)
};
inline constexpr std::uint64_t segment_magic = 0x324C415754465243ull;  // "CRFTWAL2" (2: write numbers, data id)
inline constexpr std::size_t entry_fixed = 17;                         // term, index, type
inline constexpr std::size_t seal_bytes = 12 + 8;                      // a seal record: header, next sequence number

inline void put_u32(char* p, std::uint32_t v) { detail::store_le(p, v); }
inline void put_u64(char* p, std::uint64_t v) { detail::store_le(p, v); }
inline std::uint32_t get_u32(const char* p) { return detail::load_le<std::uint32_t>(p); }
inline std::uint64_t get_u64(const char* p) { return detail::load_le<std::uint64_t>(p); }
// Header bytes 9-11: the write number and the end-of-write flag.
inline std::uint32_t get_tag(const char* h) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(h[9])) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(h[10])) << 8 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(h[11])) << 16;
}
inline void put_tag(char* h, std::uint32_t tag) {
  h[9] = static_cast<char>(tag & 0xff);
  h[10] = static_cast<char>((tag >> 8) & 0xff);
  h[11] = static_cast<char>((tag >> 16) & 0xff);
}

// Where every record's CRC of a segment starts: the CRC32C of the data
// directory's id and the segment's sequence number. Bytes a client chose
// (a value inside an entry) can then never pass for a record of this log —
// the id is random and never leaves the node — nor a record of one segment
// for one of another.
inline std::uint32_t segment_seed(std::uint64_t data_id, std::uint64_t seq) {
  char b[16];
  detail::store_le(b, data_id);
  detail::store_le(b + 8, seq);
  return detail::crc32c(b, sizeof b);
}

// CRC over the length field, the type and write fields and the body:
// everything but the CRC itself, from the segment's seed.
inline std::uint32_t record_crc(std::uint32_t seed, const char* header, const char* body, std::size_t n) {
  std::uint32_t c = detail::crc32c_extend(seed, header, 4);
  c = detail::crc32c_extend(c, header + 8, 4);
  return detail::crc32c_extend(c, body, n);
}

inline bool all_zero(const char* p, std::size_t n) {
  return std::all_of(p, p + n, [](char c) { return c == 0; });
}

// Whether a whole, checksum-valid record header+body starts at `at` and
// ends by `end`.
inline bool valid_record_at(const std::vector<char>& buf, std::size_t at, std::size_t end, std::uint32_t seed) {
  if (end > buf.size() || at + wal::header_bytes > end) return false;
  const char* h = buf.data() + at;
  const std::uint32_t len = get_u32(h);
  const auto type = static_cast<std::uint8_t>(h[8]);
  if (type < rec_segment || type > rec_bootstrap) return false;
  if (len > end - at - wal::header_bytes) return false;
  return record_crc(seed, h, h + wal::header_bytes, len) == get_u32(h + 4);
}

inline bool parse_segment_name(const std::string& name, std::uint64_t& seq) {
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

}  // namespace coraft::wal_format
