#include "kv_state_machine.hpp"

#include <coraft/detail/bytes.hpp>
#include <coraft/detail/endian.hpp>

#include <algorithm>
#include <span>

#include <cstring>
#include <stdexcept>

namespace coraft::kv {

std::string encode(const command& c) {
  std::string out;
  out.reserve(2 + 12 + c.key.size() + c.value.size() + c.expect.size());
  detail::byte_writer w(out);
  w.u8(static_cast<std::uint8_t>(c.kind));
  w.u8(static_cast<std::uint8_t>(c.cond));
  w.counted(c.key, "key");
  w.counted(c.value, "value");
  w.counted(c.expect, "expected value");
  return out;
}

std::optional<command> decode_command(std::string_view in) {
  detail::byte_reader r(in);
  command c;
  c.kind = static_cast<op>(r.u8());
  c.cond = static_cast<condition>(r.u8());
  c.key = r.counted();
  c.value = r.counted();
  c.expect = r.counted();
  if (!r.done()) return std::nullopt;
  if (c.kind != op::put && c.kind != op::del && c.kind != op::get) return std::nullopt;
  if (c.cond != condition::none && c.cond != condition::expect && c.cond != condition::absent) return std::nullopt;
  return c;
}

std::string encode(const result& r) {
  std::string out;
  out += static_cast<char>(r.code);
  out += r.value;
  return out;
}

result decode_result(std::string_view bytes) {
  result r;
  if (bytes.empty()) {
    r.code = status::bad_command;
    return r;
  }
  r.code = static_cast<status>(bytes[0]);
  r.value.assign(bytes.substr(1));
  return r;
}

std::string kv_state_machine::apply(index_t index, std::string_view bytes) {
  applied_ = index;
  const auto c = decode_command(bytes);
  if (!c) return encode(result{status::bad_command, {}});
  // An unconditional put needs no lookup of its own (insert_or_assign finds
  // the key on its way down): the most common command, on every node.
  const bool unconditional_put = c->kind == op::put && c->cond == condition::none;
  const payload* v = unconditional_put ? nullptr : map_.find(c->key);
  if (c->kind == op::get) {
    if (v == nullptr) return encode(result{status::not_found, {}});
    return encode(result{status::ok, v->str()});
  }
  if (c->cond == condition::expect && (v == nullptr || *v != c->expect))
    return encode(result{status::precondition_failed, {}});
  if (c->cond == condition::absent && v != nullptr) return encode(result{status::precondition_failed, {}});
  if (c->kind == op::put) {
    if (map_.insert_or_assign(c->key, payload(c->value))) keys_.store(map_.size(), std::memory_order_relaxed);
    return encode(result{status::ok, {}});
  }
  if (!map_.erase(c->key)) return encode(result{status::not_found, {}});
  keys_.store(map_.size(), std::memory_order_relaxed);
  return encode(result{status::ok, {}});
}

namespace {

// The snapshot format: a u32 key count, then each key and its value as a
// u32 length and the bytes, in key order. Written in pieces of about 1 MiB.
void write_map(const kv_map& map, snapshot_writer& out) {
  std::string buf;
  detail::byte_writer w(buf);
  w.u32(detail::checked_u32(map.size(), "key count"));
  map.for_each([&](std::string_view k, const payload& v) {
    w.counted(k, "key");
    w.counted(v, "value");
    if (buf.size() > (1u << 20)) {
      out.write(std::as_bytes(std::span(buf.data(), buf.size())));
      buf.clear();
    }
    return true;
  });
  out.write(std::as_bytes(std::span(buf.data(), buf.size())));
}

// The map as it was when captured (a copy: O(1)), written out later on the
// snapshot thread.
class kv_image final : public snapshot_image {
 public:
  explicit kv_image(const kv_map& map) : map_(map) {}
  void write(snapshot_writer& out) override { write_map(map_, out); }

 private:
  kv_map map_;
};

// Reads a snapshot stream in exact pieces, through a small buffer.
class stream_reader {
 public:
  explicit stream_reader(snapshot_reader& in) : in_(in) {}
  // Appends exactly n bytes to `out`; false at a premature end.
  bool take(std::size_t n, std::string& out) {
    while (n > 0) {
      if (at_ == end_) {
        end_ = in_.read(std::as_writable_bytes(std::span(buf_)));
        at_ = 0;
        if (end_ == 0) return false;
      }
      const std::size_t k = std::min(n, end_ - at_);
      out.append(buf_ + at_, k);
      at_ += k;
      n -= k;
    }
    return true;
  }
  bool u32(std::uint32_t& v) {
    scratch_.clear();
    if (!take(4, scratch_)) return false;
    v = detail::load_le<std::uint32_t>(scratch_.data());
    return true;
  }
  bool counted(std::string& out) {
    std::uint32_t n = 0;
    out.clear();
    return u32(n) && take(n, out);
  }
  bool at_end() {
    if (at_ < end_) return false;
    end_ = in_.read(std::as_writable_bytes(std::span(buf_)));
    at_ = 0;
    return end_ == 0;
  }

 private:
  snapshot_reader& in_;
  char buf_[65536];
  std::size_t at_ = 0, end_ = 0;
  std::string scratch_;
};

}  // namespace

void kv_state_machine::save_snapshot(snapshot_writer& out) { write_map(map_, out); }

std::unique_ptr<snapshot_image> kv_state_machine::capture() { return std::make_unique<kv_image>(map_); }

void kv_state_machine::restore_snapshot(snapshot_reader& in) {
  stream_reader r(in);
  std::uint32_t count = 0;
  if (!r.u32(count)) throw std::runtime_error("kv snapshot: truncated");
  kv_map m;
  std::string k, v;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (!r.counted(k) || !r.counted(v)) throw std::runtime_error("kv snapshot: truncated entry");
    m.insert_or_assign(k, payload(v));
  }
  if (!r.at_end()) throw std::runtime_error("kv snapshot: bytes after the last entry");
  map_ = std::move(m);
  keys_.store(map_.size(), std::memory_order_relaxed);
}

const payload* kv_state_machine::find(std::string_view key) const { return map_.find(key); }

std::vector<std::string> kv_state_machine::keys_with_prefix(const std::string& prefix, std::size_t limit) const {
  std::vector<std::string> out;
  map_.for_each_from(prefix, [&](std::string_view k, const payload&) {
    if (out.size() >= limit || !k.starts_with(prefix)) return false;
    out.emplace_back(k);
    return true;
  });
  return out;
}

}  // namespace coraft::kv
