// address_test.cpp — the one host:port parser (Boost.URL's authority).
#include <boost/test/unit_test.hpp>

#include <coraft/net/address.hpp>
#include <coraft/net/cluster_spec.hpp>

#include <stdexcept>
#include <string>

using coraft::net::parse_host_port;
using coraft::net::try_parse_host_port;

BOOST_AUTO_TEST_SUITE(address)

BOOST_AUTO_TEST_CASE(ipv4_names_and_bracketed_ipv6_parse_and_print_back) {
  const auto a = parse_host_port("127.0.0.11:7001");
  BOOST_TEST(a.host == "127.0.0.11");
  BOOST_TEST(a.port == 7001);
  BOOST_TEST(a.str() == "127.0.0.11:7001");
  const auto n = parse_host_port("node-1.example:8001");
  BOOST_TEST(n.host == "node-1.example");
  BOOST_TEST(n.port == 8001);
  const auto v6 = parse_host_port("[::1]:65535");
  BOOST_TEST(v6.host == "::1");
  BOOST_TEST(v6.ipv6);
  BOOST_TEST(v6.port == 65535);
  BOOST_TEST(v6.str() == "[::1]:65535");
}

BOOST_AUTO_TEST_CASE(what_is_not_host_colon_port_is_refused_with_the_address_named) {
  for (const char* bad :
       {"", "7001", ":7001", "host:", "host", "host:0", "host:65536", "host:70000", "host:7o01", "user@host:7001",
        "host:7001/path", "[::1]", "host:-1", "host:+7", "1:2:7001", "[::1]:", "[fe80::1%]:7001", "[not-v6]:7001"}) {
    BOOST_TEST(!try_parse_host_port(bad).has_value(), "'" << bad << "' was accepted");
  }
  try {
    parse_host_port("host:99999");
    BOOST_FAIL("accepted host:99999");
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string(e.what()).find("'host:99999'") != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_CASE(ipv6_without_brackets_and_with_a_zone_as_earlier_versions_stored_it) {
  // Split at the last colon, as versions before the Boost.URL parser did:
  // configurations they wrote into the log hold such addresses, and a node
  // that could not read them would lose its peers (and its leader).
  const auto legacy = parse_host_port("::1:29111");
  BOOST_TEST(legacy.host == "::1");
  BOOST_TEST(legacy.port == 29111);
  BOOST_TEST(legacy.ipv6);
  BOOST_TEST(legacy.str() == "[::1]:29111");
  const auto zoned = parse_host_port("fe80::1%eth0:7001");
  BOOST_TEST(zoned.host == "fe80::1%eth0");
  BOOST_TEST(zoned.port == 7001);
  const auto rfc6874 = parse_host_port("[fe80::1%25eth0]:7001");  // the zone as RFC 6874 spells it
  BOOST_TEST(rfc6874.host == "fe80::1%eth0");
  BOOST_TEST(parse_host_port(rfc6874.str()).host == "fe80::1%eth0");
  try {
    parse_host_port("1:2:7001");
    BOOST_FAIL("accepted 1:2:7001");
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string(e.what()).find("[ADDRESS]:PORT") != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_CASE(member_addresses_stored_by_earlier_versions_still_decode) {
  // A configuration entry written before the Boost.URL parser, with
  // unbracketed IPv6: a node that dropped it would lose its peers for good.
  const auto m = coraft::net::decode_member_address(2, "::1:29112 ::1:29212");
  BOOST_TEST_REQUIRE(m.has_value());
  BOOST_TEST(m->raft == "::1:29112");
  BOOST_TEST(m->http == "::1:29212");
  const auto spec = coraft::net::parse_cluster("1=::1:29111/::1:29211,2=[::1]:29112/[::1]:29212");
  BOOST_TEST(spec.size() == 2u);
  BOOST_TEST(coraft::net::member_address_problem({3, "h:1", std::string(2000, 'x') + ":1", true}).find("1024") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(port_zero_only_where_allowed) {
  BOOST_TEST(!try_parse_host_port("127.0.0.1:0").has_value());
  const auto l = try_parse_host_port("127.0.0.1:0", {.allow_port_zero = true});
  BOOST_TEST_REQUIRE(l.has_value());
  BOOST_TEST(l->port == 0);
}

BOOST_AUTO_TEST_SUITE_END()
