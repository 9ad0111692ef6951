// bytes_test.cpp — the one byte writer and reader: fields round-trip in
// little-endian order, and a short input fails every later read.
#define BOOST_TEST_MODULE coraft_bytes
#include <boost/test/unit_test.hpp>

#include <coraft/detail/bytes.hpp>

#include <string>
#include <vector>

using coraft::detail::byte_reader;
using coraft::detail::byte_writer;

BOOST_AUTO_TEST_SUITE(bytes)

BOOST_AUTO_TEST_CASE(fields_round_trip_little_endian) {
  std::string s;
  byte_writer w(s);
  w.u8(0xab);
  w.u16(0x0102);
  w.u32(0x03040506);
  w.u64(0x0708090a0b0c0d0eull);
  w.counted("key", "test");
  w.u32(0);
  w.patch_u32(s.size() - 4, 0xdeadbeef);
  BOOST_TEST(s.substr(0, 3) == std::string("\xab\x02\x01", 3));
  byte_reader r(s);
  BOOST_TEST(r.u8() == 0xab);
  BOOST_TEST(r.u16() == 0x0102);
  BOOST_TEST(r.u32() == 0x03040506u);
  BOOST_TEST(r.u64() == 0x0708090a0b0c0d0eull);
  BOOST_TEST(r.counted() == "key");
  BOOST_TEST(r.u32() == 0xdeadbeefu);
  BOOST_TEST(r.done());
}

BOOST_AUTO_TEST_CASE(a_short_input_fails_every_later_read) {
  std::vector<char> v;
  byte_writer w(v);
  w.u32(10);  // claims 10 bytes
  w.bytes("abc");
  byte_reader r(std::span<const char>(v.data(), v.size()));
  BOOST_TEST(r.counted().empty());
  BOOST_TEST(!r.ok());
  BOOST_TEST(r.u8() == 0);  // and stays failed
  BOOST_TEST(!r.done());
  byte_reader bounded(std::span<const char>(v.data(), v.size()));
  BOOST_TEST(bounded.counted(2).empty());  // over its bound: refused before reading
  BOOST_TEST(!bounded.ok());
}

BOOST_AUTO_TEST_SUITE_END()
