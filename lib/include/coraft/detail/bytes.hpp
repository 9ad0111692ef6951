// coraft/detail/bytes.hpp — the one little-endian byte writer and reader of
// coraft's formats: frames on the wire, snapshot files, the binary form of a
// configuration, coraft-kv's commands and snapshots. Pure (no I/O): usable
// by the protocol core. (The WAL writes fixed-position records with the
// store_le/load_le of endian.hpp underneath these.)
//
// byte_reader invariant: once a read would pass the end, ok() is false for
// good and every later read returns zero or empty — so a parser reads
// field after field and checks ok() once, at the end or before it trusts a
// value (a count it is about to reserve for).
#pragma once

#include <coraft/detail/endian.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace coraft::detail {

// `n` as a u32 length field; std::length_error naming `what` when it does
// not fit.
inline std::uint32_t checked_u32(std::size_t n, const char* what) {
  if (n > std::numeric_limits<std::uint32_t>::max())
    throw std::length_error(std::string("coraft: ") + what + " does not fit a u32 length");
  return static_cast<std::uint32_t>(n);
}

// Appends fields to `out`: a std::string or a std::vector<char>.
template <class Buffer>
class byte_writer {
 public:
  explicit byte_writer(Buffer& out) : out_(out) {}

  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(std::uint16_t v) { put(v); }
  void u32(std::uint32_t v) { put(v); }
  void u64(std::uint64_t v) { put(v); }
  void bytes(std::string_view b) { out_.insert(out_.end(), b.begin(), b.end()); }
  // A u32 length, then the bytes.
  void counted(std::string_view b, const char* what) {
    u32(checked_u32(b.size(), what));
    bytes(b);
  }
  // Overwrites the u32 written at offset `at` (a length or checksum known
  // only once what follows is written).
  void patch_u32(std::size_t at, std::uint32_t v) { store_le(out_.data() + at, v); }

 private:
  template <class T>
  void put(T v) {
    char b[sizeof(T)];
    store_le(b, v);
    out_.insert(out_.end(), b, b + sizeof(T));
  }
  Buffer& out_;
};

class byte_reader {
 public:
  explicit byte_reader(std::string_view in) : in_(in) {}
  explicit byte_reader(std::span<const char> in) : in_(in.data(), in.size()) {}
  explicit byte_reader(const std::string& in) : in_(in) {}

  bool ok() const { return ok_; }
  // Whether every byte was read, and nothing past them.
  bool done() const { return ok_ && at_ == in_.size(); }
  std::size_t remaining() const { return in_.size() - at_; }
  std::size_t offset() const { return at_; }
  // Marks the input bad (a value out of range): every later read fails.
  void fail() { ok_ = false; }

  std::uint8_t u8() { return get<std::uint8_t>(); }
  std::uint16_t u16() { return get<std::uint16_t>(); }
  std::uint32_t u32() { return get<std::uint32_t>(); }
  std::uint64_t u64() { return get<std::uint64_t>(); }
  std::string_view bytes(std::size_t n) {
    if (!ok_ || n > remaining()) {
      ok_ = false;
      return {};
    }
    const std::string_view v = in_.substr(at_, n);
    at_ += n;
    return v;
  }
  // A u32 length (at most `max`), then that many bytes.
  std::string_view counted(std::uint32_t max = std::numeric_limits<std::uint32_t>::max()) {
    const std::uint32_t n = u32();
    if (n > max) ok_ = false;
    return bytes(n);
  }

 private:
  template <class T>
  T get() {
    if (!ok_ || sizeof(T) > remaining()) {
      ok_ = false;
      return 0;
    }
    const T v = load_le<T>(in_.data() + at_);
    at_ += sizeof(T);
    return v;
  }

  std::string_view in_;
  std::size_t at_ = 0;
  bool ok_ = true;
};

}  // namespace coraft::detail
