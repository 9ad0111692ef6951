// frame_fuzz.cpp — libFuzzer target for the raft-port frame decoder.
//
// Feeds arbitrary bytes to every decoding entry point. Properties checked
// beyond "no crash, no sanitizer report": a frame that decodes re-encodes
// to exactly the bytes it was decoded from (the format is canonical), and a
// body that decodes as a message round-trips too.
// Build and run: net/fuzz/run.sh SECONDS (clang, CORAFT_FUZZ=ON).
#include <coraft/net/frame.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace net = coraft::net;
  const std::span<const char> bytes(reinterpret_cast<const char*>(data), size);

  // A stream of frames, as a reader would see it (small max frame size so
  // that the size limit is reachable).
  std::span<const char> rest = bytes;
  while (true) {
    auto d = net::decode_frame(rest, 1u << 20);
    if (!d) break;
    check(d->size >= net::frame_header_bytes && d->size <= rest.size());
    std::vector<char> again;
    if (const auto* m = std::get_if<coraft::message>(&d->content))
      net::encode(*m, again);
    else
      net::encode_hello(std::get<net::hello>(d->content), again);
    check(again.size() == d->size && std::memcmp(again.data(), rest.data(), d->size) == 0);
    rest = rest.subspan(d->size);
  }

  // The body decoders on raw bytes (no checksum in the way).
  if (auto m = net::decode_message(bytes)) {
    std::vector<char> frame;
    net::encode(*m, frame);
    auto back = net::decode_frame(frame);
    check(back.has_value() && std::get<coraft::message>(back->content) == *m);
    check(frame.size() == net::frame_header_bytes + size &&
          std::memcmp(frame.data() + net::frame_header_bytes, data, size) == 0);
  }
  if (auto h = net::decode_hello(bytes)) {
    std::vector<char> frame;
    net::encode_hello(*h, frame);
    check(frame.size() == net::frame_header_bytes + size);
  }
  (void)net::decode_header(bytes);
  return 0;
}
