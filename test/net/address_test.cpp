// address_test.cpp — the one host:port parser (Boost.URL's authority).
#include <boost/test/unit_test.hpp>

#include <coraft/net/address.hpp>

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
  for (const char* bad : {"", "7001", ":7001", "host:", "host", "host:0", "host:65536", "host:70000", "host:7o01",
                          "user@host:7001", "host:7001/path", "::1:7001", "[::1]", "host:-1", "host:+7"}) {
    BOOST_TEST(!try_parse_host_port(bad).has_value(), "'" << bad << "' was accepted");
  }
  try {
    parse_host_port("host:99999");
    BOOST_FAIL("accepted host:99999");
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string(e.what()).find("'host:99999'") != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_CASE(port_zero_only_where_allowed) {
  BOOST_TEST(!try_parse_host_port("127.0.0.1:0").has_value());
  const auto l = try_parse_host_port("127.0.0.1:0", {.allow_port_zero = true});
  BOOST_TEST_REQUIRE(l.has_value());
  BOOST_TEST(l->port == 0);
}

BOOST_AUTO_TEST_SUITE_END()
