// planted_main.cpp — node_restart_test.cpp built against coraft_raft_planted:
// the environment variable CORAFT_PLANT names the bug to switch back on
// (coraft/detail/planted.hpp), so that ctest can show each story fails
// with the bug it was written for (test/node/CMakeLists.txt).
#define BOOST_TEST_MODULE coraft_node_planted
#include <boost/test/unit_test.hpp>

#include "support/planted.hpp"

#include <cstdlib>
#include <stdexcept>

namespace {
struct plant_from_environment {
  plant_from_environment() {
    const char* name = std::getenv("CORAFT_PLANT");
    if (name == nullptr) return;
    const auto bug = coraft::test::planted_bug_named(name);
    if (!bug)
      throw std::runtime_error(std::string("CORAFT_PLANT: no bug named '") + name + "' (" +
                               coraft::test::planted_bug_list() + ")");
    coraft::detail::planted = *bug;
  }
};
}  // namespace

BOOST_TEST_GLOBAL_FIXTURE(plant_from_environment);
