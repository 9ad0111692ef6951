// coraft/net/address.hpp — the one parser of "host:port" addresses (peer
// and HTTP addresses in --cluster, --join, membership bodies, listen
// addresses), on Boost.URL's authority grammar [RFC 3986 §3.2].
//
// Accepted: "10.0.0.1:7001", "node1.example:7001", "[::1]:7001",
// "[fe80::1%25eth0]:7001" (a zone, RFC 6874), and IPv6 without brackets
// split at the last colon ("::1:7001"), as earlier versions accepted — the
// configurations they stored in the log hold such addresses. The port is
// required, 1-65535 (0, "any port", only where allow_port_zero says so: a
// listener in a test). No user info, path, query or fragment.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace coraft::net {

struct host_port {
  std::string host;  // an IPv6 literal without its brackets (a zone as "%eth0")
  std::uint16_t port = 0;
  bool ipv6 = false;
  // Back to the text form ("[::1]:7001" for IPv6).
  std::string str() const;
};

struct host_port_rules {
  bool allow_port_zero = false;
};

// Throws std::invalid_argument naming the address and what is wrong.
host_port parse_host_port(std::string_view text, host_port_rules rules = {});
// nullopt instead of throwing.
std::optional<host_port> try_parse_host_port(std::string_view text, host_port_rules rules = {});
bool valid_host_port(std::string_view text);

// A whole decimal number (member ids, ports, query parameters): no sign, no
// spaces, no leftovers, no overflow.
bool parse_u64(std::string_view text, std::uint64_t& out);

}  // namespace coraft::net
