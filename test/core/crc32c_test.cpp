// crc32c_test.cpp — the CRC32C every record, frame and snapshot carries:
// the published check value, agreement of the hardware path with Boost.CRC
// on every length and alignment around the 8-byte steps, and extend()
// continuing a finished CRC exactly as one pass over the joined bytes would.
#define BOOST_TEST_MODULE coraft_crc32c
#include <boost/test/unit_test.hpp>

#include <coraft/detail/crc32c.hpp>

#include <random>
#include <string>
#include <vector>

using namespace coraft::detail;

BOOST_AUTO_TEST_CASE(known_answers) {
  // The CRC-32C check value (RFC 3720 appendix B.4 and the CRC catalogue).
  BOOST_TEST(crc32c("123456789", 9) == 0xE3069283u);
  BOOST_TEST(crc32c_portable_extend(0, "123456789", 9) == 0xE3069283u);
  BOOST_TEST(crc32c("", 0) == 0u);
  // RFC 3720 B.4: 32 bytes of zeros, and 32 bytes of 0xFF.
  const std::vector<unsigned char> zeros(32, 0), ones(32, 0xFF);
  BOOST_TEST(crc32c(zeros.data(), zeros.size()) == 0x8A9136AAu);
  BOOST_TEST(crc32c(ones.data(), ones.size()) == 0x62A8AB43u);
  BOOST_TEST_MESSAGE("crc32c on the crc32 instruction: " << (crc32c_hardware() ? "yes" : "no"));
}

#if defined(__x86_64__)
// Where the CPU has the instruction it is used, so that the comparisons
// below test two implementations and not one against itself.
BOOST_AUTO_TEST_CASE(the_instruction_is_used_where_the_cpu_has_it) {
  __builtin_cpu_init();
  BOOST_TEST(crc32c_hardware() == static_cast<bool>(__builtin_cpu_supports("sse4.2")));
}
#endif

BOOST_AUTO_TEST_CASE(every_length_and_alignment_matches_boost_crc) {
  std::mt19937_64 rng(11);
  std::vector<unsigned char> buf(4096 + 16);
  for (auto& b : buf) b = static_cast<unsigned char>(rng());
  for (std::size_t off = 0; off < 16; ++off)
    for (std::size_t n = 0; n <= 300; ++n)
      BOOST_TEST_REQUIRE(crc32c(buf.data() + off, n) == crc32c_portable_extend(0, buf.data() + off, n),
                         "offset " << off << " length " << n);
  BOOST_TEST(crc32c(buf.data(), 4096) == crc32c_portable_extend(0, buf.data(), 4096));
}

BOOST_AUTO_TEST_CASE(extend_continues_a_finished_crc) {
  std::mt19937_64 rng(5);
  for (int t = 0; t < 500; ++t) {
    std::string a(rng() % 100, '\0'), b(rng() % 100, '\0');
    for (auto& c : a) c = static_cast<char>(rng());
    for (auto& c : b) c = static_cast<char>(rng());
    const std::string ab = a + b;
    const std::uint32_t whole = crc32c(ab.data(), ab.size());
    BOOST_TEST_REQUIRE(crc32c_extend(crc32c(a.data(), a.size()), b.data(), b.size()) == whole);
    BOOST_TEST_REQUIRE(crc32c_portable_extend(crc32c_portable_extend(0, a.data(), a.size()), b.data(), b.size()) ==
                       whole);
  }
}
