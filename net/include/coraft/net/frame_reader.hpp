// coraft/net/frame_reader.hpp — the frames in the byte stream of one inbound
// connection, independent of sockets (tested on bytes alone).
//
// The connection reads into space(), reports the bytes with received(),
// then takes every complete frame with next() until it says "need more".
// A frame is verified (header, size bound, CRC32C) before it is handed
// out; a bad one is an error, and the connection must close (DESIGN.md:
// a malformed frame closes one connection).
//
// Memory follows the bytes actually received, whatever length a header
// claims: the buffer grows only for a frame that is arriving and does not
// fit, by at most doubling, and shrinks back once drained.
#pragma once

#include <coraft/net/frame.hpp>

#include <boost/system/result.hpp>

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

namespace coraft::net {

class frame_reader {
 public:
  static constexpr std::size_t initial_buffer_bytes = 64 * 1024;

  explicit frame_reader(std::size_t max_frame_bytes, std::size_t buffer_bytes = initial_buffer_bytes)
      : max_frame_bytes_(max_frame_bytes), initial_(buffer_bytes), buf_(buffer_bytes) {}

  // A verified frame. `body` stays valid until the next call to space().
  struct frame {
    frame_type type;
    std::span<const char> body;
    std::size_t size = 0;  // header and body
  };

  // The next complete frame; nullopt when more bytes are needed; an error
  // (frame_errc) when the stream is not a valid frame sequence.
  boost::system::result<std::optional<frame>> next();
  // Where the next read may put bytes (never empty).
  std::span<char> space();
  void received(std::size_t n) { end_ += n; }
  std::size_t buffer_bytes() const { return buf_.size(); }

 private:
  std::size_t max_frame_bytes_;
  std::size_t initial_;
  std::vector<char> buf_;
  std::size_t begin_ = 0;  // [begin_, end_) holds bytes not yet decoded
  std::size_t end_ = 0;
  std::size_t pending_ = 0;  // size of the incomplete frame at begin_, when known
};

}  // namespace coraft::net
