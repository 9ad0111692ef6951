// coraft/detail/crc32c.hpp — CRC32C (Castagnoli), the checksum of WAL
// records, snapshots and wire frames.
//
// crc32c() uses the CPU's crc32 instruction where it has one (x86-64 with
// SSE4.2, checked once at run time), eight bytes per instruction instead of
// Boost.CRC's table lookup per byte: it matters for every record and frame
// and for a snapshot checksummed as it is captured.
// crc32c_portable_extend() is Boost.CRC, the reference both paths must agree with.
#pragma once

#include <cstddef>
#include <cstdint>

namespace coraft::detail {

// The CRC32C of n bytes.
std::uint32_t crc32c(const void* data, std::size_t n);

// Continues a CRC: crc32c_extend(crc32c(a), b) == crc32c(a followed by b).
std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t n);

// Boost.CRC's table-driven CRC32C, whatever the CPU.
std::uint32_t crc32c_portable_extend(std::uint32_t crc, const void* data, std::size_t n);

// Whether crc32c() runs on the crc32 instruction.
bool crc32c_hardware();

}  // namespace coraft::detail
