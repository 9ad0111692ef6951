// frame.cpp — encoding and validating decoding of raft-port frames (layout
// in coraft/net/frame.hpp).
#include <coraft/net/frame.hpp>

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

void put_u8(std::vector<char>& out, std::uint8_t v) { out.push_back(static_cast<char>(v)); }
void put_u16(std::vector<char>& out, std::uint16_t v) {
  for (int i = 0; i < 2; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_u32(std::vector<char>& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_u64(std::vector<char>& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void patch_u32(std::vector<char>& out, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out[at + static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
std::uint32_t checked_u32(std::size_t n, const char* what) {
  if (n > std::numeric_limits<std::uint32_t>::max())
    throw std::length_error(std::string("coraft frame: ") + what + " does not fit a u32 length");
  return static_cast<std::uint32_t>(n);
}

void put_body(std::vector<char>& out, const vote_request& b) {
  put_u8(out, static_cast<std::uint8_t>(tag::vote_request));
  put_u64(out, b.last_log.term);
  put_u64(out, b.last_log.index);
  put_u8(out, static_cast<std::uint8_t>((b.pre_vote ? 1 : 0) | (b.transfer ? 2 : 0)));
}
void put_body(std::vector<char>& out, const vote_response& b) {
  put_u8(out, static_cast<std::uint8_t>(tag::vote_response));
  put_u8(out, static_cast<std::uint8_t>((b.granted ? 1 : 0) | (b.pre_vote ? 2 : 0)));
}
void put_body(std::vector<char>& out, const append_request& b) {
  put_u8(out, static_cast<std::uint8_t>(tag::append_request));
  put_u64(out, b.prev_log.term);
  put_u64(out, b.prev_log.index);
  put_u64(out, b.leader_commit);
  put_u32(out, checked_u32(b.entries.size(), "entry count"));
  for (const entry& e : b.entries) {
    put_u64(out, e.term);
    put_u64(out, e.index);
    put_u8(out, static_cast<std::uint8_t>(e.type));
    put_u32(out, checked_u32(e.data.size(), "entry data"));
    out.insert(out.end(), e.data.data(), e.data.data() + e.data.size());
  }
}
void put_body(std::vector<char>& out, const append_response& b) {
  put_u8(out, static_cast<std::uint8_t>(tag::append_response));
  put_u8(out, b.success ? 1 : 0);
  put_u64(out, b.index);
  put_u64(out, b.hint.term);
  put_u64(out, b.hint.index);
}
void put_body(std::vector<char>& out, const heartbeat_request& b) {
  put_u8(out, static_cast<std::uint8_t>(tag::heartbeat_request));
  put_u64(out, b.commit);
  put_u64(out, b.read_seq);
}
void put_body(std::vector<char>& out, const heartbeat_response& b) {
  put_u8(out, static_cast<std::uint8_t>(tag::heartbeat_response));
  put_u64(out, b.read_seq);
}
void put_body(std::vector<char>& out, const read_index_request& b) {
  put_u8(out, static_cast<std::uint8_t>(tag::read_index_request));
  put_u64(out, b.ctx);
}
void put_body(std::vector<char>& out, const read_index_response& b) {
  put_u8(out, static_cast<std::uint8_t>(tag::read_index_response));
  put_u8(out, b.ok ? 1 : 0);
  put_u64(out, b.ctx);
  put_u64(out, b.index);
}
void put_body(std::vector<char>& out, const install_snapshot_request& b) {
  put_u8(out, static_cast<std::uint8_t>(tag::install_snapshot_request));
  put_u8(out, b.done ? 1 : 0);
  put_u64(out, b.meta.last.term);
  put_u64(out, b.meta.last.index);
  // The configuration in its one binary form (coraft/types.hpp).
  const std::string config = encode_membership(b.meta.config);
  put_u32(out, checked_u32(config.size(), "snapshot configuration"));
  out.insert(out.end(), config.begin(), config.end());
  put_u64(out, b.meta.size);
  put_u32(out, b.meta.crc);
  put_u64(out, b.offset);
  put_u32(out, checked_u32(b.data.size(), "snapshot chunk"));
  out.insert(out.end(), b.data.data(), b.data.data() + b.data.size());
}
void put_body(std::vector<char>& out, const install_snapshot_response& b) {
  put_u8(out, static_cast<std::uint8_t>(tag::install_snapshot_response));
  put_u8(out, b.installed ? 1 : 0);
  put_u64(out, b.index);
  put_u64(out, b.next_offset);
}
void put_body(std::vector<char>& out, const timeout_now&) { put_u8(out, static_cast<std::uint8_t>(tag::timeout_now)); }

// Writes a header with a placeholder length and checksum, calls
// `write_body`, then patches both. Returns the frame's size.
template <class F>
std::size_t put_frame(std::vector<char>& out, frame_type type, F write_body) {
  const std::size_t start = out.size();
  put_u32(out, frame_magic);
  put_u8(out, frame_version);
  put_u8(out, static_cast<std::uint8_t>(type));
  put_u16(out, 0);
  put_u32(out, 0);  // body length, patched below
  put_u32(out, 0);  // checksum, patched below
  const std::size_t body_start = out.size();
  try {
    write_body(out);
  } catch (...) {
    out.resize(start);  // leave `out` as it was
    throw;
  }
  const std::span<const char> body(out.data() + body_start, out.size() - body_start);
  std::uint32_t length = 0;
  try {
    length = checked_u32(body.size(), "frame body");
  } catch (...) {
    out.resize(start);
    throw;
  }
  patch_u32(out, start + 8, length);
  patch_u32(out, start + 12, checksum_of(body));
  return out.size() - start;
}

// ---- reading ----------------------------------------------------------------

// Reads fields from a span; any read past its end clears ok() and returns
// zeros. Callers check ok() once at the end (or before allocating).
class cursor {
 public:
  explicit cursor(std::span<const char> bytes) : bytes_(bytes) {}

  bool ok() const { return ok_; }
  // A term (see max_term): one at or above it makes the frame malformed.
  term_t term() {
    const std::uint64_t v = u64();
    if (v >= max_term) ok_ = false;
    return v;
  }
  std::size_t remaining() const { return bytes_.size() - pos_; }
  bool at_end() const { return pos_ == bytes_.size(); }

  std::uint8_t u8() { return static_cast<std::uint8_t>(little(1)); }
  std::uint16_t u16() { return static_cast<std::uint16_t>(little(2)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(little(4)); }
  std::uint64_t u64() { return little(8); }
  std::string_view bytes(std::size_t n) {
    if (!ok_ || n > remaining()) {
      ok_ = false;
      return {};
    }
    std::string_view v(bytes_.data() + pos_, n);
    pos_ += n;
    return v;
  }

 private:
  std::uint64_t little(std::size_t n) {
    if (!ok_ || n > remaining()) {
      ok_ = false;
      return 0;
    }
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i)
      v |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes_[pos_ + i])) << (8 * i);
    pos_ += n;
    return v;
  }

  std::span<const char> bytes_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

// Flags with only `allowed` bits; anything else is malformed.
bool flags_ok(std::uint8_t flags, std::uint8_t allowed) { return (flags & ~allowed) == 0; }

bool read_body(cursor& c, tag t, message_body& out) {
  switch (t) {
    case tag::vote_request: {
      vote_request b;
      b.last_log.term = c.term();
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
      b.prev_log.term = c.term();
      b.prev_log.index = c.u64();
      b.leader_commit = c.u64();
      const std::uint32_t count = c.u32();
      // Bounded by the bytes left, so a lying count cannot make us reserve
      // more than the body could hold.
      if (!c.ok() || count > c.remaining() / min_entry_bytes) return false;
      b.entries.reserve(count);
      for (std::uint32_t i = 0; i < count; ++i) {
        entry e;
        e.term = c.term();
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
      b.hint.term = c.term();
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
      b.meta.last.term = c.term();
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
      if (!flags_ok(f, 0x1)) return false;
      b.installed = (f & 1) != 0;
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
  return put_frame(out, frame_type::raft_message, [&m](std::vector<char>& o) {
    put_u64(o, m.from);
    put_u64(o, m.to);
    put_u64(o, m.term);
    std::visit([&o](const auto& b) { put_body(o, b); }, m.body);
  });
}

std::size_t encode_hello(const hello& h, std::vector<char>& out) {
  if (h.cluster_id.size() > max_cluster_id_bytes)
    throw std::length_error("coraft frame: cluster id longer than 256 bytes");
  return put_frame(out, frame_type::hello, [&h](std::vector<char>& o) {
    put_u16(o, static_cast<std::uint16_t>(h.cluster_id.size()));
    o.insert(o.end(), h.cluster_id.begin(), h.cluster_id.end());
    put_u64(o, h.id);
  });
}

boost::system::result<frame_header> decode_header(std::span<const char> bytes, std::size_t max_frame_bytes) {
  if (bytes.size() < frame_header_bytes) return frame_errc::truncated;
  cursor c(bytes.first(frame_header_bytes));
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
  cursor c(body);
  message m;
  m.from = c.u64();
  m.to = c.u64();
  m.term = c.u64();
  const std::uint8_t t = c.u8();
  if (!c.ok() || m.term >= max_term) return frame_errc::malformed;
  if (!read_body(c, static_cast<tag>(t), m.body) || !c.ok() || !c.at_end()) return frame_errc::malformed;
  return m;
}

boost::system::result<hello> decode_hello(std::span<const char> body) {
  cursor c(body);
  hello h;
  const std::uint16_t len = c.u16();
  if (len > max_cluster_id_bytes) return frame_errc::malformed;
  h.cluster_id = std::string(c.bytes(len));
  h.id = c.u64();
  if (!c.ok() || !c.at_end()) return frame_errc::malformed;
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
