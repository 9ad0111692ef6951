// coraft/net/frame.hpp — the wire format of the raft port: versioned,
// length-prefixed, checksummed frames.
//
// Every integer is little-endian. A frame is a 16-byte header and a body:
//
//   offset size  field
//        0    4  magic        "CRFT" (bytes 'C' 'R' 'F' 'T')
//        4    1  version      1
//        5    1  type         1 = hello, 2 = raft message
//        6    2  reserved     must be 0
//        8    4  body length  header + body <= the receiver's max frame size
//       12    4  CRC32C of the body (Castagnoli, as in iSCSI and ext4)
//
// Hello body (the first frame on every connection, sender -> acceptor):
//   cluster id: u16 length (<= 256) + bytes; node id: u64.
// Raft message body: from u64, to u64, term u64, body tag u8, then per tag:
//   1 vote_request       last_log.term u64, last_log.index u64,
//                        flags u8 (bit 0 pre_vote, bit 1 transfer)
//   2 vote_response      flags u8 (bit 0 granted, bit 1 pre_vote)
//   3 append_request     prev_log.term u64, prev_log.index u64,
//                        leader_commit u64, entry count u32, then per entry:
//                        term u64, index u64, type u8 (entry_type),
//                        data length u32 + data bytes
//   4 append_response    flags u8 (bit 0 success), index u64,
//                        hint.term u64, hint.index u64
//   5 heartbeat_request  commit u64
//   6 heartbeat_response (nothing)
//   7 timeout_now        (nothing)
// Unknown tags, entry types or flag bits, and bytes left over after the
// body's last field, are malformed: a frame means exactly one thing.
//
// Decoding is meant for hostile input (DESIGN.md "Rules for bad input"): it
// never reads outside the given span, validates the header before anyone
// allocates room for the body, and allocates no more than the body's length
// justifies (an entry count is checked against the bytes that remain).
// Changing a field's meaning or layout means a new version number.
#pragma once

#include <coraft/messages.hpp>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace coraft::net {

inline constexpr std::uint32_t frame_magic = 0x54465243;  // "CRFT" read as little-endian u32
// 2: snapshot chunks carry their CRC32C; 3: a snapshot response says when
// the whole did not verify.
inline constexpr std::uint8_t frame_version = 3;
inline constexpr std::size_t frame_header_bytes = 16;
inline constexpr std::size_t default_max_frame_bytes = std::size_t{64} << 20;  // 64 MiB
inline constexpr std::size_t max_cluster_id_bytes = 256;

enum class frame_type : std::uint8_t {
  hello = 1,
  raft_message = 2,
};

// What decode_header() read. Invariant (once decoded): type is known and
// frame_header_bytes + body_length <= the max frame size it was checked against.
struct frame_header {
  frame_type type = frame_type::raft_message;
  std::uint32_t body_length = 0;
  std::uint32_t checksum = 0;  // CRC32C of the body
};

// The first frame on a connection: who is calling, from which cluster.
struct hello {
  std::string cluster_id;
  node_id id = no_node;
  friend bool operator==(const hello&, const hello&) = default;
};

enum class frame_errc {
  truncated = 1,  // fewer bytes than the header or its body need (not an error mid-stream)
  bad_magic,      // not a coraft frame (or the stream lost its framing)
  bad_version,    // a version this build does not speak
  bad_type,       // unknown frame type, or a type not expected here
  bad_reserved,   // reserved header bits set
  too_large,      // the body length exceeds the max frame size
  bad_checksum,   // the body's CRC32C does not match the header's
  malformed,      // the body does not decode: bad tag, length, flag, leftovers
};

const boost::system::error_category& frame_category() noexcept;

inline boost::system::error_code make_error_code(frame_errc e) noexcept {
  return {static_cast<int>(e), frame_category()};
}

// ---- encoding ---------------------------------------------------------------

// Appends one whole frame (header + body) to `out` and returns its size.
// Throws std::length_error when the body or an entry would not fit its u32
// length field (the node's own limits keep messages far below that).
std::size_t encode(const message& m, std::vector<char>& out);
std::size_t encode_hello(const hello& h, std::vector<char>& out);

// ---- decoding, one step at a time (what a stream reader does) ---------------

// Reads and validates the header at the front of `bytes` (which may hold
// more). `max_frame_bytes` bounds header + body.
boost::system::result<frame_header> decode_header(std::span<const char> bytes,
                                                  std::size_t max_frame_bytes = default_max_frame_bytes);
// Checks that `body` has the header's length and checksum.
boost::system::error_code verify_body(const frame_header& h, std::span<const char> body);
// Decodes a body that verify_body() accepted (or any bytes: the decoders
// validate everything themselves; the checksum only catches corruption).
boost::system::result<message> decode_message(std::span<const char> body);
boost::system::result<hello> decode_hello(std::span<const char> body);

// ---- decoding a whole frame from contiguous bytes ---------------------------

struct decoded_frame {
  std::variant<hello, message> content;
  std::size_t size = 0;  // header + body: bytes consumed from the front
};

// Decodes the frame at the front of `bytes`; `truncated` when it is not
// all there yet. Header, checksum and body are all checked.
boost::system::result<decoded_frame> decode_frame(std::span<const char> bytes,
                                                  std::size_t max_frame_bytes = default_max_frame_bytes);

}  // namespace coraft::net

template <>
struct boost::system::is_error_code_enum<coraft::net::frame_errc> : std::true_type {};
