// coraft/detail/crc32c.hpp — CRC32C (Castagnoli), the checksum of WAL
// records and wire frames, from Boost.CRC.
#pragma once

#include <boost/crc.hpp>

#include <cstddef>
#include <cstdint>

namespace coraft::detail {

using crc32c_state = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;

inline std::uint32_t crc32c(const void* data, std::size_t n) {
  crc32c_state c;
  c.process_bytes(data, n);
  return c.checksum();
}

}  // namespace coraft::detail
