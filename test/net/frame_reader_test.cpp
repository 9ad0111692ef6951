// frame_reader_test.cpp — the inbound connection's frame reader on bytes
// alone: any split of the stream gives the same frames, memory follows the
// bytes received, and a bad frame is an error before its body is buffered.
#include <boost/test/unit_test.hpp>

#include <coraft/net/frame_reader.hpp>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace coraft;
using coraft::net::frame_reader;
using coraft::net::frame_type;

coraft::message heartbeat(index_t commit) { return message{2, 1, 3, heartbeat_request{commit, 0}}; }

// Feeds `bytes` in chunks of `chunk` and returns the frames' types and the
// commit index of each message, in order.
std::vector<std::string> read_all(frame_reader& r, const std::vector<char>& bytes, std::size_t chunk) {
  std::vector<std::string> seen;
  std::size_t at = 0;
  while (true) {
    while (true) {
      auto f = r.next();
      BOOST_TEST_REQUIRE(f.has_value(), f.error().message());
      if (!*f) break;
      if ((*f)->type == frame_type::hello) {
        seen.push_back("hello " + net::decode_hello((*f)->body)->cluster_id);
      } else {
        const auto m = net::decode_message((*f)->body);
        BOOST_TEST_REQUIRE(m.has_value());
        seen.push_back("commit " + std::to_string(std::get<heartbeat_request>(m->body).commit));
      }
    }
    if (at == bytes.size()) return seen;
    const auto space = r.space();
    BOOST_TEST_REQUIRE(!space.empty());
    const std::size_t n = std::min({chunk, space.size(), bytes.size() - at});
    std::memcpy(space.data(), bytes.data() + at, n);
    r.received(n);
    at += n;
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(frame_reader_)

BOOST_AUTO_TEST_CASE(any_split_of_the_stream_gives_the_same_frames) {
  std::vector<char> bytes;
  net::encode_hello(net::hello{"c1", 2}, bytes);
  for (index_t i = 1; i <= 20; ++i) net::encode(heartbeat(i), bytes);
  std::vector<std::string> want{"hello c1"};
  for (int i = 1; i <= 20; ++i) want.push_back("commit " + std::to_string(i));
  for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{64}, bytes.size()}) {
    frame_reader r(net::default_max_frame_bytes, 32);
    BOOST_TEST(read_all(r, bytes, chunk) == want, boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(the_buffer_grows_for_a_big_frame_by_at_most_doubling_and_shrinks_once_drained) {
  std::vector<char> bytes;
  coraft::message big{2, 1, 3, append_request{}};
  auto& ar = std::get<append_request>(big.body);
  ar.entries.push_back(entry{3, 1, entry_type::normal, payload(std::string(5000, 'x'))});
  net::encode(big, bytes);
  frame_reader r(net::default_max_frame_bytes, 64);
  std::size_t at = 0, largest = 0;
  while (at < bytes.size()) {
    auto f = r.next();
    BOOST_TEST_REQUIRE(f.has_value());
    BOOST_TEST_REQUIRE(!f->has_value());
    const std::size_t before = r.buffer_bytes();
    const auto space = r.space();
    BOOST_TEST(r.buffer_bytes() <= 2 * before);
    largest = std::max(largest, r.buffer_bytes());
    const std::size_t n = std::min(space.size(), bytes.size() - at);
    std::memcpy(space.data(), bytes.data() + at, n);
    r.received(n);
    at += n;
  }
  auto f = r.next();
  BOOST_TEST_REQUIRE(f.has_value());
  BOOST_TEST_REQUIRE(f->has_value());
  BOOST_TEST((*f)->size == bytes.size());
  BOOST_TEST(largest >= bytes.size());
  BOOST_TEST(largest < 2 * bytes.size());
  (void)r.space();
  BOOST_TEST(r.buffer_bytes() == 64u);  // drained: back to the initial size
}

BOOST_AUTO_TEST_CASE(a_bad_checksum_or_an_oversized_header_is_an_error) {
  std::vector<char> bytes;
  net::encode(heartbeat(1), bytes);
  bytes.back() ^= 1;  // the body no longer matches its CRC32C
  frame_reader r(net::default_max_frame_bytes);
  const auto space = r.space();
  std::memcpy(space.data(), bytes.data(), bytes.size());
  r.received(bytes.size());
  auto f = r.next();
  BOOST_TEST_REQUIRE(!f.has_value());
  BOOST_TEST(f.error() == make_error_code(net::frame_errc::bad_checksum));

  // A header claiming more than the max frame size is refused at once,
  // from its 16 bytes, before any of the claimed body is buffered.
  std::vector<char> huge;
  net::encode(heartbeat(2), huge);
  frame_reader small(net::frame_header_bytes + 4);
  const auto s2 = small.space();
  std::memcpy(s2.data(), huge.data(), net::frame_header_bytes);
  small.received(net::frame_header_bytes);
  auto g = small.next();
  BOOST_TEST_REQUIRE(!g.has_value());
  BOOST_TEST(g.error() == make_error_code(net::frame_errc::too_large));
}

BOOST_AUTO_TEST_SUITE_END()
