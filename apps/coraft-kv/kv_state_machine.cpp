#include "kv_state_machine.hpp"

#include <coraft/detail/bytes.hpp>

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
  auto it = map_.find(c->key);
  if (c->kind == op::get) {
    if (it == map_.end()) return encode(result{status::not_found, {}});
    return encode(result{status::ok, it->second});
  }
  if (c->cond == condition::expect && (it == map_.end() || it->second != c->expect))
    return encode(result{status::precondition_failed, {}});
  if (c->cond == condition::absent && it != map_.end()) return encode(result{status::precondition_failed, {}});
  if (c->kind == op::put) {
    if (it == map_.end()) {
      map_.emplace(c->key, c->value);
      keys_.store(map_.size(), std::memory_order_relaxed);
    } else
      it->second = c->value;
    return encode(result{status::ok, {}});
  }
  if (it == map_.end()) return encode(result{status::not_found, {}});
  map_.erase(it);
  keys_.store(map_.size(), std::memory_order_relaxed);
  return encode(result{status::ok, {}});
}

void kv_state_machine::save_snapshot(snapshot_writer& out) {
  std::string buf;
  detail::byte_writer w(buf);
  w.u32(detail::checked_u32(map_.size(), "key count"));
  for (const auto& [k, v] : map_) {
    w.counted(k, "key");
    w.counted(v, "value");
    if (buf.size() > (1u << 20)) {
      out.write(std::as_bytes(std::span(buf.data(), buf.size())));
      buf.clear();
    }
  }
  out.write(std::as_bytes(std::span(buf.data(), buf.size())));
}

void kv_state_machine::restore_snapshot(snapshot_reader& in) {
  std::string all;
  std::byte chunk[65536];
  while (std::size_t n = in.read(chunk)) all.append(reinterpret_cast<const char*>(chunk), n);
  detail::byte_reader r(all);
  const std::uint32_t count = r.u32();
  if (!r.ok()) throw std::runtime_error("kv snapshot: truncated");
  std::map<std::string, std::string, std::less<>> m;
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::string_view k = r.counted();
    const std::string_view val = r.counted();
    if (!r.ok()) throw std::runtime_error("kv snapshot: truncated entry");
    m.emplace(std::string(k), std::string(val));
  }
  map_ = std::move(m);
  keys_.store(map_.size(), std::memory_order_relaxed);
}

const std::string* kv_state_machine::find(const std::string& key) const {
  auto it = map_.find(key);
  return it == map_.end() ? nullptr : &it->second;
}

std::vector<std::string> kv_state_machine::keys_with_prefix(const std::string& prefix, std::size_t limit) const {
  std::vector<std::string> out;
  for (auto it = map_.lower_bound(prefix); it != map_.end() && out.size() < limit; ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    out.push_back(it->first);
  }
  return out;
}

}  // namespace coraft::kv
