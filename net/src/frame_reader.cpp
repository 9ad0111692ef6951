// frame_reader.cpp — see coraft/net/frame_reader.hpp.
#include <coraft/net/frame_reader.hpp>

#include <algorithm>
#include <cstring>

namespace coraft::net {

boost::system::result<std::optional<frame_reader::frame>> frame_reader::next() {
  pending_ = 0;
  const std::span<const char> avail(buf_.data() + begin_, end_ - begin_);
  auto h = decode_header(avail, max_frame_bytes_);
  if (!h) {
    if (h.error() == frame_errc::truncated) return std::optional<frame>();
    return h.error();
  }
  const std::size_t size = frame_header_bytes + h->body_length;
  if (avail.size() < size) {
    pending_ = size;
    return std::optional<frame>();
  }
  const auto body = avail.subspan(frame_header_bytes, h->body_length);
  if (const boost::system::error_code bad = verify_body(*h, body)) return bad;
  begin_ += size;
  return std::optional<frame>(frame{h->type, body, size});
}

std::span<char> frame_reader::space() {
  if (begin_ == end_) {
    begin_ = end_ = 0;
    if (buf_.size() > initial_) std::vector<char>(initial_).swap(buf_);
  } else if (end_ == buf_.size()) {
    if (begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    } else {
      buf_.resize(std::min(buf_.size() * 2, std::max(pending_, buf_.size() + 1)));
    }
  }
  return {buf_.data() + end_, buf_.size() - end_};
}

}  // namespace coraft::net
