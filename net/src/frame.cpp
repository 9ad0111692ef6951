// frame.cpp — encoding and validating decoding of raft-port frames (layout
// in coraft/net/frame.hpp).
#include <coraft/net/frame.hpp>

#include <coraft/detail/bytes.hpp>
#include <coraft/detail/crc32c.hpp>

#include <limits>
#include <stdexcept>
#include <string_view>

namespace coraft::net {

// The codec below has a tag per alternative: a new message type must get one.
static_assert(std::variant_size_v<message_body> == 11, "a new message type needs a frame body tag");

namespace {

std::uint32_t checksum_of(std::span<const char> body) { return detail::crc32c(body.data(), body.size()); }

class category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "coraft.frame"; }
  std::string message(int ev) const override {
    switch (static_cast<frame_errc>(ev)) {
      case frame_errc::truncated: return "truncated frame";
      case frame_errc::bad_magic: return "bad frame magic";
      case frame_errc::bad_version: return "unsupported frame version";
      case frame_errc::bad_type: return "unexpected frame type";
      case frame_errc::bad_reserved: return "reserved frame header bits set";
      case frame_errc::too_large: return "frame exceeds the maximum size";
      case frame_errc::bad_checksum: return "frame checksum mismatch";
      case frame_errc::malformed: return "malformed frame body";
    }
    return "unknown frame error";
  }
};

// Body tags on the wire. Fixed forever for version 1: never renumber.
enum class tag : std::uint8_t {
  vote_request = 1,
  vote_response = 2,
  append_request = 3,
  append_response = 4,
  heartbeat_request = 5,
  heartbeat_response = 6,
  timeout_now = 7,
  read_index_request = 8,
  read_index_response = 9,
  install_snapshot_request = 10,
  install_snapshot_response = 11,
};

// Members of one configuration on the wire (a u32 count each); more than
// this is malformed.

// The smallest entry on the wire: term, index, type, data length.
constexpr std::size_t min_entry_bytes = 8 + 8 + 1 + 4;

// ---- writing ----------------------------------------------------------------

using writer = detail::byte_writer<std::vector<char>>;
using detail::checked_u32;

void put_body(writer& w, const vote_request& b) {
  w.u8(static_cast<std::uint8_t>(tag::vote_request));
  w.u64(b.last_log.term);
  w.u64(b.last_log.index);
  w.u8(static_cast<std::uint8_t>((b.pre_vote ? 1 : 0) | (b.transfer ? 2 : 0)));
}
void put_body(writer& w, const vote_response& b) {
  w.u8(static_cast<std::uint8_t>(tag::vote_response));
  w.u8(static_cast<std::uint8_t>((b.granted ? 1 : 0) | (b.pre_vote ? 2 : 0)));
}
void put_body(writer& w, const append_request& b) {
  w.u8(static_cast<std::uint8_t>(tag::append_request));
  w.u64(b.prev_log.term);
  w.u64(b.prev_log.index);
  w.u64(b.leader_commit);
  w.u32(checked_u32(b.entries.size(), "entry count"));
  for (const entry& e : b.entries) {
    w.u64(e.term);
    w.u64(e.index);
    w.u8(static_cast<std::uint8_t>(e.type));
    w.counted(e.data.view(), "entry data");
  }
}
void put_body(writer& w, const append_response& b) {
  w.u8(static_cast<std::uint8_t>(tag::append_response));
  w.u8(b.success ? 1 : 0);
  w.u64(b.index);
  w.u64(b.hint.term);
  w.u64(b.hint.index);
}
void put_body(writer& w, const heartbeat_request& b) {
  w.u8(static_cast<std::uint8_t>(tag::heartbeat_request));
  w.u64(b.commit);
  w.u64(b.read_seq);
}
void put_body(writer& w, const heartbeat_response& b) {
  w.u8(static_cast<std::uint8_t>(tag::heartbeat_response));
  w.u64(b.read_seq);
}
void put_body(writer& w, const read_index_request& b) {
  w.u8(static_cast<std::uint8_t>(tag::read_index_request));
  w.u64(b.ctx);
}
void put_body(writer& w, const read_index_response& b) {
  w.u8(static_cast<std::uint8_t>(tag::read_index_response));
  w.u8(b.ok ? 1 : 0);
  w.u64(b.ctx);
  w.u64(b.index);
}
void put_body(writer& w, const install_snapshot_request& b) {
  if (b.source) throw std::logic_error("coraft: a snapshot chunk sent before fill_snapshot_chunk()");
  w.u8(static_cast<std::uint8_t>(tag::install_snapshot_request));
  w.u8(b.done ? 1 : 0);
  w.u64(b.meta.last.term);
  w.u64(b.meta.last.index);
  // The configuration in its one binary form (coraft/types.hpp).
  w.counted(encode_membership(b.meta.config), "snapshot configuration");
  w.u64(b.meta.size);
  w.u32(b.meta.crc);
  w.u64(b.offset);
  w.u32(b.crc);
  w.counted(b.data.view(), "snapshot chunk");
}
void put_body(writer& w, const install_snapshot_response& b) {
  w.u8(static_cast<std::uint8_t>(tag::install_snapshot_response));
  w.u8(static_cast<std::uint8_t>((b.installed ? 1 : 0) | (b.whole_failed ? 2 : 0)));
  w.u64(b.index);
  w.u64(b.next_offset);
}
void put_body(writer& w, const timeout_now&) { w.u8(static_cast<std::uint8_t>(tag::timeout_now)); }

// Writes a header with a placeholder length and checksum, calls
// `write_body`, then patches both. Returns the frame's size.
template <class F>
std::size_t put_frame(std::vector<char>& out, frame_type type, F write_body) {
  const std::size_t start = out.size();
  writer w(out);
  w.u32(frame_magic);
  w.u8(frame_version);
  w.u8(static_cast<std::uint8_t>(type));
  w.u16(0);
  w.u32(0);  // body length, patched below
  w.u32(0);  // checksum, patched below
  const std::size_t body_start = out.size();
  std::uint32_t length = 0;
  try {
    write_body(w);
    length = checked_u32(out.size() - body_start, "frame body");
  } catch (...) {
    out.resize(start);  // leave `out` as it was
    throw;
  }
  const std::span<const char> body(out.data() + body_start, out.size() - body_start);
  w.patch_u32(start + 8, length);
  w.patch_u32(start + 12, checksum_of(body));
  return out.size() - start;
}

// ---- reading ----------------------------------------------------------------

using detail::byte_reader;

// A term (see max_term): one at or above it makes the frame malformed.
term_t read_term(byte_reader& c) {
  const std::uint64_t v = c.u64();
  if (v >= max_term) c.fail();
  return v;
}

// Flags with only `allowed` bits; anything else is malformed.
bool flags_ok(std::uint8_t flags, std::uint8_t allowed) { return (flags & ~allowed) == 0; }

bool read_body(byte_reader& c, tag t, message_body& out) {
  switch (t) {
    case tag::vote_request: {
      vote_request b;
      b.last_log.term = read_term(c);
      b.last_log.index = c.u64();
      const std::uint8_t f = c.u8();
      if (!flags_ok(f, 0x3)) return false;
      b.pre_vote = (f & 1) != 0;
      b.transfer = (f & 2) != 0;
      out = b;
      return true;
    }
    case tag::vote_response: {
      vote_response b;
      const std::uint8_t f = c.u8();
      if (!flags_ok(f, 0x3)) return false;
      b.granted = (f & 1) != 0;
      b.pre_vote = (f & 2) != 0;
      out = b;
      return true;
    }
    case tag::append_request: {
      append_request b;
      b.prev_log.term = read_term(c);
      b.prev_log.index = c.u64();
      b.leader_commit = c.u64();
      const std::uint32_t count = c.u32();
      // Bounded by the bytes left, so a lying count cannot make us reserve
      // more than the body could hold.
      if (!c.ok() || count > c.remaining() / min_entry_bytes) return false;
      b.entries.reserve(count);
      for (std::uint32_t i = 0; i < count; ++i) {
        entry e;
        e.term = read_term(c);
        e.index = c.u64();
        const std::uint8_t type = c.u8();
        if (type > static_cast<std::uint8_t>(entry_type::config)) return false;
        e.type = static_cast<entry_type>(type);
        const std::uint32_t len = c.u32();
        const std::string_view data = c.bytes(len);  // checks len against what remains
        if (!c.ok()) return false;
        e.data = payload(data);
        b.entries.push_back(std::move(e));
      }
      out = std::move(b);
      return true;
    }
    case tag::append_response: {
      append_response b;
      const std::uint8_t f = c.u8();
      if (!flags_ok(f, 0x1)) return false;
      b.success = (f & 1) != 0;
      b.index = c.u64();
      b.hint.term = read_term(c);
      b.hint.index = c.u64();
      out = b;
      return true;
    }
    case tag::heartbeat_request: {
      heartbeat_request b;
      b.commit = c.u64();
      b.read_seq = c.u64();
      out = b;
      return true;
    }
    case tag::heartbeat_response: {
      heartbeat_response b;
      b.read_seq = c.u64();
      out = b;
      return true;
    }
    case tag::read_index_request: {
      read_index_request b;
      b.ctx = c.u64();
      out = b;
      return true;
    }
    case tag::read_index_response: {
      read_index_response b;
      const std::uint8_t f = c.u8();
      if (!flags_ok(f, 0x1)) return false;
      b.ok = (f & 1) != 0;
      b.ctx = c.u64();
      b.index = c.u64();
      out = b;
      return true;
    }
    case tag::install_snapshot_request: {
      install_snapshot_request b;
      const std::uint8_t f = c.u8();
      if (!flags_ok(f, 0x1)) return false;
      b.done = (f & 1) != 0;
      b.meta.last.term = read_term(c);
      b.meta.last.index = c.u64();
      const std::uint32_t config_len = c.u32();
      const std::string_view config = c.bytes(config_len);
      if (!c.ok()) return false;
      auto m = decode_membership(config);
      if (!m) return false;
      b.meta.config = std::move(*m);
      b.meta.size = c.u64();
      b.meta.crc = c.u32();
      b.offset = c.u64();
      b.crc = c.u32();
      const std::uint32_t len = c.u32();
      const std::string_view data = c.bytes(len);
      if (!c.ok()) return false;
      b.data = payload(data);
      out = std::move(b);
      return true;
    }
    case tag::install_snapshot_response: {
      install_snapshot_response b;
      const std::uint8_t f = c.u8();
      if (!flags_ok(f, 0x3)) return false;
      b.installed = (f & 1) != 0;
      b.whole_failed = (f & 2) != 0;
      b.index = c.u64();
      b.next_offset = c.u64();
      out = b;
      return true;
    }
    case tag::timeout_now: out = timeout_now{}; return true;
  }
  return false;  // unknown tag
}

}  // namespace

const boost::system::error_category& frame_category() noexcept {
  static const category c;
  return c;
}

std::size_t encode(const message& m, std::vector<char>& out) {
  return put_frame(out, frame_type::raft_message, [&m](writer& w) {
    w.u64(m.from);
    w.u64(m.to);
    w.u64(m.term);
    std::visit([&w](const auto& b) { put_body(w, b); }, m.body);
  });
}

std::size_t encode_hello(const hello& h, std::vector<char>& out) {
  if (h.cluster_id.size() > max_cluster_id_bytes)
    throw std::length_error("coraft frame: cluster id longer than 256 bytes");
  return put_frame(out, frame_type::hello, [&h](writer& w) {
    w.u16(static_cast<std::uint16_t>(h.cluster_id.size()));
    w.bytes(h.cluster_id);
    w.u64(h.id);
  });
}

boost::system::result<frame_header> decode_header(std::span<const char> bytes, std::size_t max_frame_bytes) {
  if (bytes.size() < frame_header_bytes) return frame_errc::truncated;
  byte_reader c(bytes.first(frame_header_bytes));
  if (c.u32() != frame_magic) return frame_errc::bad_magic;
  if (c.u8() != frame_version) return frame_errc::bad_version;
  const std::uint8_t type = c.u8();
  if (type != static_cast<std::uint8_t>(frame_type::hello) &&
      type != static_cast<std::uint8_t>(frame_type::raft_message))
    return frame_errc::bad_type;
  if (c.u16() != 0) return frame_errc::bad_reserved;
  frame_header h;
  h.type = static_cast<frame_type>(type);
  h.body_length = c.u32();
  h.checksum = c.u32();
  if (max_frame_bytes < frame_header_bytes || h.body_length > max_frame_bytes - frame_header_bytes)
    return frame_errc::too_large;
  return h;
}

boost::system::error_code verify_body(const frame_header& h, std::span<const char> body) {
  if (body.size() != h.body_length) return frame_errc::truncated;
  if (checksum_of(body) != h.checksum) return frame_errc::bad_checksum;
  return {};
}

boost::system::result<message> decode_message(std::span<const char> body) {
  byte_reader c(body);
  message m;
  m.from = c.u64();
  m.to = c.u64();
  m.term = c.u64();
  const std::uint8_t t = c.u8();
  if (!c.ok() || m.term >= max_term) return frame_errc::malformed;
  if (!read_body(c, static_cast<tag>(t), m.body) || !c.ok() || !c.done()) return frame_errc::malformed;
  return m;
}

boost::system::result<hello> decode_hello(std::span<const char> body) {
  byte_reader c(body);
  hello h;
  const std::uint16_t len = c.u16();
  if (len > max_cluster_id_bytes) return frame_errc::malformed;
  h.cluster_id = std::string(c.bytes(len));
  h.id = c.u64();
  if (!c.ok() || !c.done()) return frame_errc::malformed;
  return h;
}

boost::system::result<decoded_frame> decode_frame(std::span<const char> bytes, std::size_t max_frame_bytes) {
  auto h = decode_header(bytes, max_frame_bytes);
  if (!h) return h.error();
  if (bytes.size() - frame_header_bytes < h->body_length) return frame_errc::truncated;
  const std::span<const char> body = bytes.subspan(frame_header_bytes, h->body_length);
  if (auto ec = verify_body(*h, body)) return ec;
  decoded_frame out;
  out.size = frame_header_bytes + h->body_length;
  if (h->type == frame_type::hello) {
    auto v = decode_hello(body);
    if (!v) return v.error();
    out.content = std::move(*v);
  } else {
    auto v = decode_message(body);
    if (!v) return v.error();
    out.content = std::move(*v);
  }
  return out;
}

}  // namespace coraft::net
