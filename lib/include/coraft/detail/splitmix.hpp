// coraft/detail/splitmix.hpp — splitmix64, the deterministic generator used
// wherever coraft needs randomness that a seed must reproduce (election
// timeouts, simulated faults): tiny and identical on every platform.
#pragma once

#include <cstdint>

namespace coraft::detail {

inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace coraft::detail
