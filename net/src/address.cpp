// address.cpp — see coraft/net/address.hpp.
#include <coraft/net/address.hpp>

#include <boost/url/ipv6_address.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <charconv>
#include <functional>
#include <stdexcept>

namespace coraft::net {

std::string host_port::str() const { return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port); }

namespace {

// An IPv6 literal, optionally with a zone ("fe80::1%eth0", or "%25eth0" as
// RFC 6874 spells it inside brackets): the address without its zone must
// parse. Returns the host as the resolver takes it ("fe80::1%eth0").
std::optional<std::string> ipv6_host(std::string_view h) {
  std::string host(h);
  if (const auto pct = host.find('%'); pct != std::string::npos) {
    if (host.compare(pct, 3, "%25") == 0) host.erase(pct + 1, 2);
    if (pct + 1 >= host.size()) return std::nullopt;  // an empty zone
  }
  if (!boost::urls::parse_ipv6_address(std::string_view(host).substr(0, host.find('%')))) return std::nullopt;
  return host;
}

std::uint16_t port_of(std::string_view p, host_port_rules rules,
                      const std::function<std::invalid_argument(const std::string&)>& bad) {
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (p.empty() || ec != std::errc() || end != p.data() + p.size() || port > 65535 ||
      (port == 0 && !rules.allow_port_zero))
    throw bad(std::string("the port must be 1-65535") + (rules.allow_port_zero ? " or 0" : ""));
  return static_cast<std::uint16_t>(port);
}

}  // namespace

host_port parse_host_port(std::string_view text, host_port_rules rules) {
  const std::function<std::invalid_argument(const std::string&)> bad = [&](const std::string& why) {
    return std::invalid_argument("address '" + std::string(text) + "' is not HOST:PORT: " + why);
  };
  host_port out;
  // IPv6: "[::1]:7001" (with an optional zone), or — as earlier versions
  // accepted, and as configurations stored by them still hold — without
  // brackets, split at the last colon: "::1:7001".
  if (text.starts_with('[') || std::count(text.begin(), text.end(), ':') >= 2) {
    std::string_view host_part, port_part;
    if (text.starts_with('[')) {
      const auto close = text.find("]:");
      if (close == std::string_view::npos) throw bad("an IPv6 address in brackets must be followed by :PORT");
      host_part = text.substr(1, close - 1);
      port_part = text.substr(close + 2);
    } else {
      const auto colon = text.rfind(':');
      host_part = text.substr(0, colon);
      port_part = text.substr(colon + 1);
    }
    const auto host = ipv6_host(host_part);
    if (!host) throw bad("'" + std::string(host_part) + "' is not an IPv6 address (write IPv6 as [ADDRESS]:PORT)");
    out.host = *host;
    out.ipv6 = true;
    out.port = port_of(port_part, rules, bad);
    return out;
  }
  const auto a = boost::urls::parse_authority(text);
  if (!a) throw bad(a.error().message());
  if (a->has_userinfo()) throw bad("it has user info ('@')");
  if (a->host_type() == boost::urls::host_type::none || a->encoded_host().empty()) throw bad("no host");
  if (!a->has_port() || a->port().empty()) throw bad("no port");
  out.host = a->host_address();  // percent-decoded
  out.port = port_of(a->port(), rules, bad);
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
