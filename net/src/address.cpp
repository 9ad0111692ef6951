// address.cpp — see coraft/net/address.hpp.
#include <coraft/net/address.hpp>

#include <boost/url/parse.hpp>

#include <charconv>
#include <stdexcept>

namespace coraft::net {

std::string host_port::str() const { return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port); }

host_port parse_host_port(std::string_view text, host_port_rules rules) {
  const auto bad = [&](const std::string& why) {
    return std::invalid_argument("address '" + std::string(text) + "' is not HOST:PORT: " + why);
  };
  const auto a = boost::urls::parse_authority(text);
  if (!a) throw bad(a.error().message());
  if (a->has_userinfo()) throw bad("it has user info ('@')");
  if (a->host_type() == boost::urls::host_type::none || a->encoded_host().empty()) throw bad("no host");
  if (a->host_type() == boost::urls::host_type::ipvfuture) throw bad("an IPvFuture literal");
  if (!a->has_port() || a->port().empty()) throw bad("no port");
  unsigned port = 0;
  const std::string_view p = a->port();
  const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (ec != std::errc() || end != p.data() + p.size() || port > 65535 || (port == 0 && !rules.allow_port_zero))
    throw bad(std::string("the port must be 1-65535") + (rules.allow_port_zero ? " or 0" : ""));
  host_port out;
  out.ipv6 = a->host_type() == boost::urls::host_type::ipv6;
  out.host = a->host_address();  // percent-decoded; IPv6 without brackets
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

std::optional<host_port> try_parse_host_port(std::string_view text, host_port_rules rules) {
  try {
    return parse_host_port(text, rules);
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
}

bool valid_host_port(std::string_view text) { return try_parse_host_port(text).has_value(); }

bool parse_u64(std::string_view text, std::uint64_t& out) {
  if (text.empty()) return false;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size();
}

}  // namespace coraft::net
