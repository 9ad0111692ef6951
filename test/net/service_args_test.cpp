// service_args_test.cpp — coraft::net::parse_service_args() (service.hpp):
// --log-format takes text or json (as --flag value or --flag=value), is
// left unset when not given, and a bad value is refused naming the flag.
#define BOOST_TEST_MODULE coraft_service_args
#include <boost/test/unit_test.hpp>

#include <coraft/net/service.hpp>

#include <stdexcept>
#include <string>
#include <vector>

using namespace coraft;

namespace {
net::service_options parse(std::vector<const char*> extra) {
  std::vector<const char*> argv{"svc",        "--id",       "1", "--cluster", "1=127.0.0.57:29700/127.0.0.57:29701",
                                "--data-dir", "/tmp/unused"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return net::parse_service_args(static_cast<int>(argv.size()), argv.data());
}
}  // namespace

BOOST_AUTO_TEST_CASE(log_format_is_text_json_or_left_as_the_process_set_it) {
  BOOST_TEST(!parse({}).log_format.has_value());
  BOOST_TEST((parse({"--log-format", "json"}).log_format == log_format::json));
  BOOST_TEST((parse({"--log-format=text"}).log_format == log_format::text));
}

BOOST_AUTO_TEST_CASE(a_bad_log_format_is_refused_naming_the_flag) {
  try {
    parse({"--log-format", "xml"});
    BOOST_FAIL("accepted --log-format xml");
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    BOOST_TEST(what.find("--log-format must be text or json, not 'xml'") != std::string::npos, what);
  }
}
