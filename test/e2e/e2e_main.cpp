// e2e_main.cpp — the e2e test module (label `e2e`): every story starts its
// own coraft-kv processes; see e2e_harness.hpp.
#define BOOST_TEST_MODULE coraft_e2e
#include <boost/test/unit_test.hpp>
