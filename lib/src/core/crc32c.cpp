// crc32c.cpp — CRC32C with the x86-64 SSE4.2 crc32 instruction when the CPU
// has it, else Boost.CRC. The choice is made once, on first use (a
// function-local static, so a checksum taken during another translation
// unit's static initialization is still right); after that a call costs a
// guard check and one indirect call.
#include <coraft/detail/crc32c.hpp>

#include <boost/crc.hpp>

#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define CORAFT_CRC32C_X86 1
#endif

namespace coraft::detail {
namespace {

using extend_fn = std::uint32_t (*)(std::uint32_t, const void*, std::size_t);

std::uint32_t bit_reverse(std::uint32_t v) {
  std::uint32_t r = 0;
  for (int i = 0; i < 32; ++i, v >>= 1) r = (r << 1) | (v & 1u);
  return r;
}

// A finished CRC continues from the register it came from: the complement
// (undoing the final XOR). Boost.CRC takes an initial remainder unreflected
// and reflects it itself, so it gets the register bit-reversed.
std::uint32_t portable_extend(std::uint32_t crc, const void* data, std::size_t n) {
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> c(bit_reverse(~crc));
  c.process_bytes(data, n);
  return c.checksum();
}

#ifdef CORAFT_CRC32C_X86
// The instruction computes the same reflected CRC32C register update; eight
// bytes per step, then the tail byte by byte.
__attribute__((target("sse4.2"))) std::uint32_t hardware_extend(std::uint32_t crc, const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t c = ~crc;
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    c = _mm_crc32_u64(c, w);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (n > 0) {
    c32 = _mm_crc32_u8(c32, *p++);
    --n;
  }
  return ~c32;
}

extend_fn choose() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2") ? &hardware_extend : &portable_extend;
}
#else
extend_fn choose() { return &portable_extend; }
#endif

extend_fn chosen() {
  static const extend_fn fn = choose();
  return fn;
}

}  // namespace

std::uint32_t crc32c(const void* data, std::size_t n) { return chosen()(0, data, n); }

std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t n) { return chosen()(crc, data, n); }

std::uint32_t crc32c_portable_extend(std::uint32_t crc, const void* data, std::size_t n) {
  return portable_extend(crc, data, n);
}

bool crc32c_hardware() { return chosen() != &portable_extend; }

}  // namespace coraft::detail
