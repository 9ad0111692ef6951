// frame_test.cpp — the raft-port frame codec (net/src/frame.cpp): every
// message type survives a round trip, and hostile bytes — truncated, bit
// flipped, lying about lengths, random — are rejected without reading out of
// bounds or allocating more than the input justifies.
#define BOOST_TEST_MODULE coraft_net
#include <boost/test/unit_test.hpp>

#include <coraft/net/frame.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <ostream>
#include <random>
#include <string>
#include <vector>

// ---- allocation accounting ----------------------------------------------------
// The largest single allocation made while `tracking` is set: decoding must
// never allocate more than the bytes it was given justify.
namespace {
std::atomic<bool> tracking{false};
std::atomic<std::size_t> largest_allocation{0};
}  // namespace

void* operator new(std::size_t n) {
  if (tracking.load(std::memory_order_relaxed)) {
    std::size_t seen = largest_allocation.load(std::memory_order_relaxed);
    while (n > seen && !largest_allocation.compare_exchange_weak(seen, n)) {
    }
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

// Lets BOOST_TEST print a frame error when a comparison fails.
namespace coraft::net {
inline std::ostream& boost_test_print_type(std::ostream& os, frame_errc e) {
  return os << make_error_code(e).message();
}
}  // namespace coraft::net

namespace {

using namespace coraft;
using coraft::net::decode_frame;
using coraft::net::frame_errc;

struct allocation_probe {
  allocation_probe() {
    largest_allocation = 0;
    tracking = true;
  }
  ~allocation_probe() { tracking = false; }
  std::size_t largest() const { return largest_allocation.load(); }
};

entry make_entry(term_t term, index_t index, std::string data, entry_type type = entry_type::normal) {
  entry e;
  e.term = term;
  e.index = index;
  e.type = type;
  e.data = payload(data);
  return e;
}

message make(message_body body) {
  message m;
  m.from = 0x0102030405060708ull;
  m.to = 3;
  m.term = max_term - 1;  // the highest term a frame may carry (see max_term)
  m.body = std::move(body);
  return m;
}

// One message of every type, with every field away from its default, plus
// the append shapes that matter: empty, many entries, empty data, big data.
std::vector<message> samples() {
  std::vector<message> out;
  out.push_back(make(vote_request{{7, 42}, true, true}));
  out.push_back(make(vote_request{{0, 0}, false, false}));
  out.push_back(make(vote_response{true, true}));
  out.push_back(make(vote_response{false, false}));
  out.push_back(make(append_request{{5, 9}, {}, 8}));
  append_request few;
  few.prev_log = {2, 3};
  few.leader_commit = 4;
  few.entries = {make_entry(2, 4, "set x 1"), make_entry(3, 5, "", entry_type::noop),
                 make_entry(3, 6, std::string("\0\xff\x01", 3), entry_type::config)};
  out.push_back(make(few));
  append_request many;
  many.prev_log = {1, 100};
  for (index_t i = 101; i <= 1100; ++i) many.entries.push_back(make_entry(1, i, "cmd-" + std::to_string(i)));
  out.push_back(make(many));
  append_request big;
  big.entries = {make_entry(9, 1, std::string(3u << 20, 'x')), make_entry(9, 2, "")};
  out.push_back(make(big));
  out.push_back(make(append_response{true, 77, {6, 70}}));
  out.push_back(make(append_response{false, 0, {0, 0}}));
  out.push_back(make(heartbeat_request{123456789}));
  out.push_back(make(heartbeat_request{5, 77}));
  out.push_back(make(heartbeat_response{}));
  out.push_back(make(heartbeat_response{1ull << 40}));
  out.push_back(make(timeout_now{}));
  out.push_back(make(read_index_request{42}));
  out.push_back(make(read_index_response{42, 1000, true}));
  out.push_back(make(read_index_response{43, 0, false}));
  install_snapshot_request snap;
  snap.meta = {
      {3, 900}, {{1, 2, 3}, {4}, {{1, "127.0.0.11:7001 127.0.0.11:8001"}, {4, "h4:1 h4:2"}}}, 5000, 0xDEADBEEF};
  snap.offset = 4096;
  snap.data = payload(std::string(904, 's'));
  snap.done = true;
  out.push_back(make(snap));
  out.push_back(make(install_snapshot_request{}));
  out.push_back(make(install_snapshot_response{900, 4096, false}));
  out.push_back(make(install_snapshot_response{900, 5000, true}));
  out.push_back(make(install_snapshot_response{900, 0, false, true}));
  return out;
}

std::vector<char> encoded(const message& m) {
  std::vector<char> out;
  net::encode(m, out);
  return out;
}

std::vector<char> encoded_hello(const net::hello& h) {
  std::vector<char> out;
  net::encode_hello(h, out);
  return out;
}

// The body of an encoded frame (what decode_message takes).
std::span<const char> body_of(const std::vector<char>& frame) {
  return std::span<const char>(frame).subspan(net::frame_header_bytes);
}

// Rewrites the header's body length and checksum after a test edited the body.
void reseal(std::vector<char>& frame) {
  std::vector<char> body(frame.begin() + net::frame_header_bytes, frame.end());
  // CRC32C, bit by bit (an independent check of the codec's table-driven one).
  std::uint32_t crc = 0xFFFFFFFF;
  for (char ch : body) {
    crc ^= static_cast<unsigned char>(ch);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  crc ^= 0xFFFFFFFF;
  const auto len = static_cast<std::uint32_t>(body.size());
  for (int i = 0; i < 4; ++i) {
    frame[8 + static_cast<std::size_t>(i)] = static_cast<char>((len >> (8 * i)) & 0xFF);
    frame[12 + static_cast<std::size_t>(i)] = static_cast<char>((crc >> (8 * i)) & 0xFF);
  }
}

bool decodes(std::span<const char> bytes) { return decode_frame(bytes).has_value(); }

}  // namespace

BOOST_AUTO_TEST_SUITE(frame_codec)

BOOST_AUTO_TEST_CASE(every_message_type_round_trips) {
  for (const message& m : samples()) {
    const std::vector<char> frame = encoded(m);
    auto d = decode_frame(frame);
    BOOST_REQUIRE_MESSAGE(d, describe(m) << ": " << d.error().message());
    BOOST_TEST(d->size == frame.size());
    BOOST_REQUIRE(std::holds_alternative<message>(d->content));
    BOOST_TEST((std::get<message>(d->content) == m), describe(m));
    // The body decoder alone agrees.
    auto body = net::decode_message(body_of(frame));
    BOOST_REQUIRE(body);
    BOOST_TEST((*body == m));
  }
}

BOOST_AUTO_TEST_CASE(terms_past_max_term_are_malformed) {
  // [issue 15 review] One frame whose term is 2^64-1 stopped a whole cluster
  // for good: every node took the term (and persisted it), and no election
  // could follow (current_term + 1 wrapped). Every term a frame carries —
  // the message's, a log position's, an entry's, a hint's, a snapshot's — is
  // below max_term, or the frame is malformed (its connection is closed).
  const term_t bad = max_term;
  std::vector<message> frames;
  message m = make(heartbeat_request{5, 1});
  m.term = bad;
  frames.push_back(m);
  frames.push_back(make(vote_request{{bad, 42}, false, false}));
  append_request a;
  a.prev_log = {bad, 3};
  frames.push_back(make(a));
  append_request e;
  e.prev_log = {1, 3};
  e.entries = {make_entry(bad, 4, "x")};
  frames.push_back(make(e));
  frames.push_back(make(append_response{false, 9, {bad, 9}}));
  install_snapshot_request snap;
  snap.meta.last = {bad, 10};
  frames.push_back(make(snap));
  for (const message& f : frames) {
    const std::vector<char> frame = encoded(f);
    const auto d = decode_frame(frame);
    BOOST_TEST(!d.has_value(), describe(f) << " decoded");
    if (!d) BOOST_TEST((d.error() == net::frame_errc::malformed), describe(f));
  }
  // One below is a term like any other.
  message ok = make(heartbeat_request{5, 1});
  ok.term = bad - 1;
  BOOST_TEST(decode_frame(encoded(ok)).has_value());
}

BOOST_AUTO_TEST_CASE(hello_round_trips) {
  for (const net::hello& h :
       {net::hello{"", 1}, net::hello{"prod-eu", 0xFFFFFFFFFFFFFFFFull}, net::hello{std::string(256, 'c'), 7}}) {
    const auto frame = encoded_hello(h);
    auto d = decode_frame(frame);
    BOOST_REQUIRE(d);
    BOOST_REQUIRE(std::holds_alternative<net::hello>(d->content));
    BOOST_TEST((std::get<net::hello>(d->content) == h));
  }
  std::vector<char> out;
  BOOST_CHECK_THROW(net::encode_hello({std::string(257, 'c'), 1}, out), std::length_error);
  BOOST_TEST(out.empty());
}

BOOST_AUTO_TEST_CASE(header_layout_is_little_endian_and_sixteen_bytes) {
  const auto frame = encoded(make(heartbeat_response{}));
  BOOST_REQUIRE(frame.size() == 16u + 33u);  // from, to, term, tag, read_seq
  BOOST_TEST(std::string(frame.data(), 4) == "CRFT");
  BOOST_TEST(frame[4] == 3);  // version
  BOOST_TEST(frame[5] == 2);  // raft message
  BOOST_TEST(frame[6] == 0);  // reserved
  BOOST_TEST(frame[7] == 0);
  BOOST_TEST(frame[8] == 33);  // body length, LE
  BOOST_TEST(frame[9] == 0);
  BOOST_TEST(frame[16] == 8);  // from = 0x0102030405060708, LE: low byte first
  BOOST_TEST(frame[23] == 1);
}

BOOST_AUTO_TEST_CASE(frames_follow_each_other_in_a_stream) {
  std::vector<char> stream;
  const auto ms = samples();
  for (const auto& m : ms) net::encode(m, stream);
  std::span<const char> rest(stream);
  for (const auto& m : ms) {
    auto d = decode_frame(rest);
    BOOST_REQUIRE(d);
    BOOST_TEST((std::get<message>(d->content) == m));
    rest = rest.subspan(d->size);
  }
  BOOST_TEST(rest.empty());
}

BOOST_AUTO_TEST_CASE(every_truncation_is_rejected) {
  for (const message& m : samples()) {
    const auto frame = encoded(m);
    // Whole-frame decoding: cheap per prefix (the length is checked before the CRC).
    for (std::size_t n = 0; n < frame.size(); ++n) {
      auto d = decode_frame(std::span<const char>(frame.data(), n));
      BOOST_REQUIRE(!d);
      BOOST_REQUIRE(d.error() == frame_errc::truncated);
    }
    // Body decoding of every shorter body (skipping the big ones: quadratic).
    if (frame.size() > 64 * 1024) continue;
    const auto body = body_of(frame);
    for (std::size_t n = 0; n < body.size(); ++n) {
      auto d = net::decode_message(body.first(n));
      BOOST_REQUIRE_MESSAGE(!d, describe(m) << " decoded from " << n << " of " << body.size() << " bytes");
      BOOST_REQUIRE(d.error() == frame_errc::malformed);
    }
  }
  const auto hello = encoded_hello({"cluster", 4});
  for (std::size_t n = 0; n < hello.size() - net::frame_header_bytes; ++n)
    BOOST_TEST(!net::decode_hello(body_of(hello).first(n)));
}

BOOST_AUTO_TEST_CASE(every_single_bit_flip_is_detected) {
  append_request three;
  three.prev_log = {1, 1};
  three.leader_commit = 1;
  three.entries = {make_entry(1, 2, "a"), make_entry(1, 3, "bb"), make_entry(2, 4, "ccc")};
  std::vector<std::vector<char>> frames = {encoded(make(vote_request{{3, 4}, true, false})), encoded(make(three)),
                                           encoded(make(append_response{true, 4, {1, 2}})),
                                           encoded(make(timeout_now{})), encoded_hello({"cluster-a", 2})};
  for (auto& frame : frames) {
    for (std::size_t bit = 0; bit < frame.size() * 8; ++bit) {
      frame[bit / 8] = static_cast<char>(frame[bit / 8] ^ (1 << (bit % 8)));
      BOOST_REQUIRE_MESSAGE(!decodes(frame), "flipping bit " << bit << " went unnoticed");
      frame[bit / 8] = static_cast<char>(frame[bit / 8] ^ (1 << (bit % 8)));
    }
    BOOST_TEST(decodes(frame));
  }
}

BOOST_AUTO_TEST_CASE(header_fields_are_checked) {
  const auto good = encoded(make(heartbeat_request{5}));
  auto with = [&good](std::size_t at, char v) {
    auto f = good;
    f[at] = v;
    return f;
  };
  BOOST_TEST(decode_frame(with(0, 'X')).error() == frame_errc::bad_magic);
  BOOST_TEST(decode_frame(with(4, 1)).error() == frame_errc::bad_version);  // the version before chunk CRCs
  BOOST_TEST(decode_frame(with(4, 2)).error() == frame_errc::bad_version);  // before whole_failed
  BOOST_TEST(decode_frame(with(4, 4)).error() == frame_errc::bad_version);
  BOOST_TEST(decode_frame(with(5, 0)).error() == frame_errc::bad_type);
  BOOST_TEST(decode_frame(with(5, 3)).error() == frame_errc::bad_type);
  BOOST_TEST(decode_frame(with(7, 1)).error() == frame_errc::bad_reserved);
  BOOST_TEST(decode_frame(with(12, static_cast<char>(good[12] ^ 0x10))).error() == frame_errc::bad_checksum);
  // A hello-typed header over a message body: the body is checked as a hello.
  BOOST_TEST(!decode_frame(with(5, 1)));
  BOOST_TEST(net::make_error_code(frame_errc::bad_magic).category().name() == std::string("coraft.frame"));
}

BOOST_AUTO_TEST_CASE(oversize_length_prefix_is_rejected_without_allocating) {
  auto frame = encoded(make(heartbeat_response{}));
  frame.resize(net::frame_header_bytes);
  for (std::uint32_t len : {0xFFFFFFFFu, 0x04000000u /* 64 MiB: header + body exceeds it */}) {
    for (int i = 0; i < 4; ++i) frame[8 + static_cast<std::size_t>(i)] = static_cast<char>((len >> (8 * i)) & 0xFF);
    allocation_probe probe;
    auto h = net::decode_header(frame);
    auto d = decode_frame(frame);
    BOOST_TEST(probe.largest() == 0u);
    BOOST_REQUIRE(!h);
    BOOST_TEST(h.error() == frame_errc::too_large);
    BOOST_TEST(d.error() == frame_errc::too_large);
  }
  // The limit is configurable: 1 KiB refuses a 2 KiB body, admits a 1000-byte one.
  std::vector<char> big;
  net::encode(make(append_request{{}, {make_entry(1, 1, std::string(2048, 'y'))}, 0}), big);
  BOOST_TEST(net::decode_header(big, 1024).error() == frame_errc::too_large);
  BOOST_TEST(decode_frame(big, 1024).error() == frame_errc::too_large);
  std::vector<char> small;
  net::encode(make(append_request{{}, {make_entry(1, 1, std::string(900, 'y'))}, 0}), small);
  BOOST_TEST(decode_frame(small, 1024).has_value());
}

BOOST_AUTO_TEST_CASE(lying_lengths_and_counts_are_malformed_and_allocate_little) {
  // An append whose entry count claims four billion entries.
  auto frame = encoded(make(append_request{{1, 1}, {make_entry(1, 2, "abc")}, 1}));
  const std::size_t count_at = net::frame_header_bytes + 25 + 24;  // after prefix and tag, prev_log, commit
  for (int i = 0; i < 4; ++i) frame[count_at + static_cast<std::size_t>(i)] = static_cast<char>(0xFF);
  reseal(frame);
  {
    allocation_probe probe;
    auto d = decode_frame(frame);
    BOOST_TEST(probe.largest() <= frame.size());
    BOOST_REQUIRE(!d);
    BOOST_TEST(d.error() == frame_errc::malformed);
  }
  // An entry whose data length runs past the body.
  frame = encoded(make(append_request{{1, 1}, {make_entry(1, 2, "abc")}, 1}));
  const std::size_t len_at = count_at + 4 + 17;
  frame[len_at] = static_cast<char>(0xF0);
  frame[len_at + 3] = static_cast<char>(0x7F);
  reseal(frame);
  {
    allocation_probe probe;
    auto d = decode_frame(frame);
    BOOST_TEST(probe.largest() <= frame.size());
    BOOST_TEST(d.error() == frame_errc::malformed);
  }
  // Unknown tag, flag bits, entry type; a byte left over; a long cluster id.
  auto edit = [](std::vector<char> f, std::size_t at, char v) {
    f[at] = v;
    reseal(f);
    return f;
  };
  const std::size_t tag_at = net::frame_header_bytes + 24;
  BOOST_TEST(decode_frame(edit(encoded(make(timeout_now{})), tag_at, 12)).error() == frame_errc::malformed);
  BOOST_TEST(decode_frame(edit(encoded(make(timeout_now{})), tag_at, 0)).error() == frame_errc::malformed);
  BOOST_TEST(decode_frame(edit(encoded(make(vote_response{})), tag_at + 1, 4)).error() == frame_errc::malformed);
  BOOST_TEST(decode_frame(edit(encoded(make(append_response{})), tag_at + 1, 2)).error() == frame_errc::malformed);
  BOOST_TEST(decode_frame(edit(encoded(make(vote_request{})), tag_at + 17, 4)).error() == frame_errc::malformed);
  BOOST_TEST(
      decode_frame(edit(encoded(make(append_request{{}, {make_entry(1, 1, "")}, 0})), count_at + 4 + 16, 3)).error() ==
      frame_errc::malformed);
  // A snapshot chunk claiming more members than the body holds.
  BOOST_TEST(decode_frame(edit(encoded(make(install_snapshot_request{})), tag_at + 18, 100)).error() ==
             frame_errc::malformed);
  BOOST_TEST(decode_frame(edit(encoded(make(read_index_response{})), tag_at + 1, 2)).error() == frame_errc::malformed);
  auto trailing = encoded(make(heartbeat_response{}));
  trailing.push_back(0);
  reseal(trailing);
  BOOST_TEST(decode_frame(trailing).error() == frame_errc::malformed);
  auto long_id = encoded_hello({std::string(256, 'c'), 1});
  long_id[net::frame_header_bytes] = 1;  // 257
  long_id[net::frame_header_bytes + 1] = 1;
  long_id.push_back('c');
  reseal(long_id);
  BOOST_TEST(decode_frame(long_id).error() == frame_errc::malformed);
}

BOOST_AUTO_TEST_CASE(random_garbage_never_crashes) {
  std::mt19937_64 rng(20261128);
  std::uniform_int_distribution<int> byte(0, 255);
  const auto templates = [] {
    std::vector<std::vector<char>> t;
    for (const auto& m : samples())
      if (payload_bytes(m) < 4096) t.push_back(encoded(m));
    t.push_back(encoded_hello({"c", 1}));
    return t;
  }();
  std::size_t accepted = 0;
  for (int round = 0; round < 30000; ++round) {
    std::vector<char> input;
    switch (round % 3) {
      case 0: {  // pure noise, sometimes behind a valid header prefix
        input.resize(static_cast<std::size_t>(rng() % 300));
        for (char& c : input) c = static_cast<char>(byte(rng));
        if (rng() % 2 == 0 && input.size() >= 8) std::copy_n("CRFT\x01\x02\x00\x00", 8, input.begin());
        break;
      }
      default: {  // a valid frame with a few bytes changed, resealed half the time
        input = templates[rng() % templates.size()];
        const int edits = 1 + static_cast<int>(rng() % 4);
        for (int e = 0; e < edits; ++e) input[rng() % input.size()] = static_cast<char>(byte(rng));
        if (rng() % 3 == 0) input.resize(rng() % (input.size() + 1));
        if (input.size() >= net::frame_header_bytes && rng() % 2 == 0) reseal(input);
        break;
      }
    }
    allocation_probe probe;
    auto d = decode_frame(input);
    if (input.size() >= net::frame_header_bytes) {
      (void)net::decode_message(body_of(input));
      (void)net::decode_hello(body_of(input));
    }
    // Decoded payloads are at most the input; allow container overheads.
    BOOST_REQUIRE(probe.largest() <= 64 + 2 * input.size());
    if (d) {
      ++accepted;
      BOOST_REQUIRE(d->size <= input.size());
    }
  }
  BOOST_TEST_MESSAGE("random inputs accepted as valid frames: " << accepted);
}

BOOST_AUTO_TEST_SUITE_END()
