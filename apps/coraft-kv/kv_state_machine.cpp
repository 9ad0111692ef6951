#include "kv_state_machine.hpp"

#include <cstring>
#include <stdexcept>

namespace coraft::kv {
namespace {

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>(v >> (8 * i));
}
void put_str(std::string& out, std::string_view s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}
bool get_u32(std::string_view& in, std::uint32_t& v) {
  if (in.size() < 4) return false;
  v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  in.remove_prefix(4);
  return true;
}
bool get_str(std::string_view& in, std::string& s) {
  std::uint32_t n = 0;
  if (!get_u32(in, n) || in.size() < n) return false;
  s.assign(in.substr(0, n));
  in.remove_prefix(n);
  return true;
}

}  // namespace

std::string encode(const command& c) {
  std::string out;
  out.reserve(2 + 12 + c.key.size() + c.value.size() + c.expect.size());
  out += static_cast<char>(c.kind);
  out += static_cast<char>(c.cond);
  put_str(out, c.key);
  put_str(out, c.value);
  put_str(out, c.expect);
  return out;
}

std::optional<command> decode_command(std::string_view in) {
  command c;
  if (in.size() < 2) return std::nullopt;
  c.kind = static_cast<op>(in[0]);
  c.cond = static_cast<condition>(in[1]);
  in.remove_prefix(2);
  if (!get_str(in, c.key) || !get_str(in, c.value) || !get_str(in, c.expect) || !in.empty()) return std::nullopt;
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
    if (it == map_.end())
      map_.emplace(c->key, c->value);
    else
      it->second = c->value;
    return encode(result{status::ok, {}});
  }
  if (it == map_.end()) return encode(result{status::not_found, {}});
  map_.erase(it);
  return encode(result{status::ok, {}});
}

void kv_state_machine::save_snapshot(snapshot_writer& out) {
  std::string buf;
  put_u32(buf, static_cast<std::uint32_t>(map_.size()));
  for (const auto& [k, v] : map_) {
    put_str(buf, k);
    put_str(buf, v);
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
  std::string_view v = all;
  std::uint32_t count = 0;
  if (!get_u32(v, count)) throw std::runtime_error("kv snapshot: truncated");
  std::map<std::string, std::string, std::less<>> m;
  for (std::uint32_t i = 0; i < count; ++i) {
    std::string k, val;
    if (!get_str(v, k) || !get_str(v, val)) throw std::runtime_error("kv snapshot: truncated entry");
    m.emplace(std::move(k), std::move(val));
  }
  map_ = std::move(m);
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
