// coraft/detail/crc32c.hpp — CRC32C (Castagnoli), the checksum of WAL
// records, snapshots and wire frames.
//
// crc32c() uses the CPU's crc32 instruction where it has one (x86-64 with
// SSE4.2, checked once at run time): about 20 times the speed of the
// table-driven Boost.CRC, which matters for a 14 MB snapshot captured on the
// node's strand (~33 ms → ~2 ms here) and for every record and frame.
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
