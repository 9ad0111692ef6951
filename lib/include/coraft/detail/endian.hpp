// coraft/detail/endian.hpp — little-endian loads and stores for the on-disk
// and wire formats (byte by byte: no alignment or host-order assumptions).
#pragma once

#include <cstdint>

namespace coraft::detail {

template <class T>
inline void store_le(char* p, T v) {
  for (unsigned i = 0; i < sizeof(T); ++i) p[i] = static_cast<char>(static_cast<std::uint64_t>(v) >> (8 * i));
}

template <class T>
inline T load_le(const char* p) {
  std::uint64_t v = 0;
  for (unsigned i = 0; i < sizeof(T); ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return static_cast<T>(v);
}

}  // namespace coraft::detail
