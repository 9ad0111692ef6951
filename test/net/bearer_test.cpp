// bearer_test.cpp — the Authorization header's bearer token: the one
// parser behind the admin and write tokens' checks and the dashboard's
// forwarding (which passes on a bearer token only).
#include <boost/test/unit_test.hpp>

#include <coraft/net/admin_api.hpp>

using coraft::net::bearer_matches;
using coraft::net::bearer_token;

BOOST_AUTO_TEST_SUITE(bearer)

BOOST_AUTO_TEST_CASE(only_the_bearer_scheme_gives_a_token_in_any_case) {
  BOOST_TEST(bearer_token("Bearer T").value_or("-") == "T");
  BOOST_TEST(bearer_token("bEaReR T").value_or("-") == "T");
  BOOST_TEST(!bearer_token("Bogus1 T").has_value());  // was forwarded as "T" once
  BOOST_TEST(!bearer_token("Basic dXNlcjpw").has_value());
  BOOST_TEST(!bearer_token("Bearer").has_value());
  BOOST_TEST(!bearer_token("").has_value());
}

BOOST_AUTO_TEST_CASE(a_token_matches_only_itself) {
  BOOST_TEST(bearer_matches("Bearer s3cret", "s3cret"));
  BOOST_TEST(bearer_matches("bearer s3cret", "s3cret"));
  BOOST_TEST(!bearer_matches("Bearer s3cre", "s3cret"));
  BOOST_TEST(!bearer_matches("Bearer s3cret!", "s3cret"));
  BOOST_TEST(!bearer_matches("Bogus1 s3cret", "s3cret"));
  BOOST_TEST(!bearer_matches("Bearer ", ""));  // no token configured: nothing matches
}

BOOST_AUTO_TEST_SUITE_END()
