// log_test.cpp — coraft/log.hpp: the text format stays as it was (fields
// appended as key=value), json lines parse with their fixed keys in order
// and stay valid JSON and UTF-8 whatever the message holds, and a hook gets
// every enabled record's parts (fields included) instead of the sink, one
// at a time, even when many threads log.
#define BOOST_TEST_MODULE coraft_log
#include <boost/test/unit_test.hpp>

#include <coraft/log.hpp>

#include <boost/json.hpp>

#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace json = boost::json;
using namespace coraft;

namespace {

// Captures lines through the sink; restores the logger's settings after.
struct captured_log {
  std::vector<std::string> lines;
  captured_log() {
    set_log_level(log_level::info);
    set_log_format(log_format::text);
    set_log_hook({});
    set_log_sink([this](const std::string& l) { lines.push_back(l); });
  }
  ~captured_log() {
    set_log_hook({});
    set_log_sink({});
    set_log_format(log_format::text);
    set_log_level(log_level::info);
    clear_log_context(7);
  }
  json::object last_json() const {
    BOOST_REQUIRE(!lines.empty());
    json::value v = json::parse(lines.back());  // throws on invalid JSON or UTF-8
    BOOST_REQUIRE(v.is_object());
    return v.as_object();
  }
};

const std::regex rfc3339_ms(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");

}  // namespace

BOOST_FIXTURE_TEST_SUITE(logger, captured_log)

BOOST_AUTO_TEST_CASE(text_lines_keep_their_format_and_append_fields_as_key_value) {
  log_line(log_level::info, 7, "net", "connected to node 2");
  set_log_context(7, 3, "leader");
  log_line(log_level::warn, 7, "net", "connection lost", {{"peer", "2"}, {"reason", "timed out"}, {"empty", ""}});
  BOOST_REQUIRE_EQUAL(lines.size(), 2u);
  const std::string ts = R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)";
  BOOST_TEST(std::regex_match(lines[0], std::regex(ts + " INFO node=7 net: connected to node 2")), lines[0]);
  // A value with a space (or quote, '=', control byte) is quoted, so the pairs split unambiguously.
  BOOST_TEST(std::regex_match(lines[1], std::regex(ts + R"( WARN node=7 term=3 role=leader net: connection lost )"
                                                        R"(peer=2 reason="timed out" empty="")")),
             lines[1]);
}

BOOST_AUTO_TEST_CASE(json_lines_have_the_fixed_keys_in_order) {
  set_log_format(log_format::json);
  log_line(log_level::info, 7, "raft", "no context yet");
  json::object o = last_json();
  const std::vector<std::string> keys{"time", "level", "node", "term", "role", "component", "message", "fields"};
  std::vector<std::string> got;
  for (const auto& kv : o) got.emplace_back(kv.key());
  BOOST_TEST(got == keys, boost::test_tools::per_element());
  BOOST_TEST(std::regex_match(std::string(o["time"].as_string()), rfc3339_ms));
  BOOST_TEST(o["level"].as_string() == "info");
  BOOST_TEST(o["node"].to_number<std::uint64_t>() == 7u);
  BOOST_TEST(o["term"].is_null());  // unknown until the node reports it
  BOOST_TEST(o["role"].is_null());
  BOOST_TEST(o["component"].as_string() == "raft");
  BOOST_TEST(o["message"].as_string() == "no context yet");
  BOOST_TEST(o["fields"].is_object());
  BOOST_TEST(o["fields"].as_object().empty());

  set_log_context(7, 5, "follower");
  log_line(log_level::error, 7, "wal", "sync failed", {{"segment", "00000003.wal"}, {"errno", "5"}});
  o = last_json();
  got.clear();
  for (const auto& kv : o) got.emplace_back(kv.key());
  BOOST_TEST(got == keys, boost::test_tools::per_element());
  BOOST_TEST(o["level"].as_string() == "error");
  BOOST_TEST(o["term"].to_number<std::uint64_t>() == 5u);
  BOOST_TEST(o["role"].as_string() == "follower");
  const json::object& f = o["fields"].as_object();
  BOOST_REQUIRE_EQUAL(f.size(), 2u);
  BOOST_TEST(f.begin()->key() == "segment");  // in the order given
  BOOST_TEST(f.at("segment").as_string() == "00000003.wal");
  BOOST_TEST(f.at("errno").as_string() == "5");
}

BOOST_AUTO_TEST_CASE(json_escapes_quotes_backslashes_control_characters_and_invalid_utf8) {
  set_log_format(log_format::json);
  const std::string message =
      "say \"hi\" C:\\dir\nnext\tline\r\b\f\x01\x1f\x7f"
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";  // é, €, 😀: valid, kept as they are
  log_line(log_level::info, 7, "http", message, {{"path\"\n", "\x02\\"}});
  const std::string& raw = lines.back();
  for (const char c : raw) BOOST_TEST(static_cast<unsigned char>(c) >= 0x20, "raw control byte in " << raw);
  BOOST_TEST(raw.find(R"(say \"hi\" C:\\dir\nnext\tline\r\b\f\u0001\u001f)") != std::string::npos, raw);
  json::object o = last_json();
  BOOST_TEST(o["message"].as_string() == message);
  BOOST_TEST(o["fields"].as_object().at("path\"\n").as_string() == "\x02\\");

  // Each byte that is not part of a well-formed sequence becomes U+FFFD.
  const std::string fffd = "\xef\xbf\xbd";
  const std::vector<std::pair<std::string, std::string>> invalid{
      {"a\xff"
       "b",
       "a" + fffd + "b"},                               // never valid in UTF-8
      {"\x80", fffd},                                   // a lone continuation byte
      {"\xc0\xaf", fffd + fffd},                        // an overlong '/'
      {"\xed\xa0\x80", fffd + fffd + fffd},             // a surrogate (U+D800)
      {"\xf4\x90\x80\x80", fffd + fffd + fffd + fffd},  // above U+10FFFF
      {"\xe2\x82x", fffd + fffd + "x"},                 // cut short
      {"end\xe2\x82", "end" + fffd + fffd},             // cut short by the end
  };
  for (const auto& [in, out] : invalid) {
    log_line(log_level::info, 7, "http", in);
    BOOST_TEST(last_json()["message"].as_string() == out, lines.back());
  }
}

BOOST_AUTO_TEST_CASE(a_hook_gets_every_enabled_record_with_its_fields_instead_of_the_sink) {
  struct seen {
    log_level level;
    node_id node;
    std::optional<term_t> term;
    std::string role, component, message;
    log_fields fields;
    std::chrono::system_clock::time_point time;
  };
  std::vector<seen> records;
  set_log_hook([&records](const log_record& r) {
    records.push_back({r.level, r.node, r.term, std::string(r.role), std::string(r.component), std::string(r.message),
                       log_fields(r.fields.begin(), r.fields.end()), r.time});
  });
  const auto before = std::chrono::system_clock::now();
  log_line(log_level::info, 7, "net", "connected", {{"peer", "2"}, {"address", "127.0.0.12:7001"}});
  log_line(log_level::debug, 7, "net", "below the level: never delivered");
  set_log_context(7, 4, "candidate");
  log_line(log_level::warn, 7, "raft", "no fields");
  const auto after = std::chrono::system_clock::now();

  BOOST_TEST(lines.empty());  // the sink got nothing while the hook was set
  BOOST_REQUIRE_EQUAL(records.size(), 2u);
  BOOST_TEST((records[0].level == log_level::info));
  BOOST_TEST(records[0].node == 7u);
  BOOST_TEST(!records[0].term.has_value());
  BOOST_TEST(records[0].role.empty());
  BOOST_TEST(records[0].component == "net");
  BOOST_TEST(records[0].message == "connected");
  BOOST_TEST((records[0].fields == log_fields{{"peer", "2"}, {"address", "127.0.0.12:7001"}}));
  BOOST_TEST((records[0].time >= before && records[0].time <= after));
  BOOST_TEST((records[1].level == log_level::warn));
  BOOST_TEST((records[1].term == std::optional<term_t>(4)));
  BOOST_TEST(records[1].role == "candidate");
  BOOST_TEST(records[1].fields.empty());

  set_log_hook({});  // back to the sink
  log_line(log_level::info, 7, "net", "to the sink again");
  BOOST_TEST(records.size() == 2u);
  BOOST_REQUIRE_EQUAL(lines.size(), 1u);
  BOOST_TEST(lines[0].ends_with("net: to the sink again"));
}

BOOST_AUTO_TEST_CASE(hook_calls_are_serialized_across_threads_and_may_log_themselves) {
  // The hook keeps a plain counter: calls one at a time make it exact (and
  // TSan quiet). It logs from inside itself once: that line goes to stderr
  // instead of deadlocking.
  long calls = 0;
  set_log_hook([&calls](const log_record& r) {
    if (++calls == 1) log_line(log_level::info, r.node, "test", "logged from inside the hook (expected on stderr)");
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t] {
      for (int i = 0; i < 1000; ++i) log_line(log_level::info, 7, "test", "line", {{"thread", std::to_string(t)}});
    });
  for (auto& th : threads) th.join();
  set_log_hook({});
  BOOST_TEST(calls == 4000);
}

BOOST_AUTO_TEST_CASE(a_hook_that_throws_does_not_throw_into_the_code_that_logged) {
  set_log_hook([](const log_record&) { throw std::runtime_error("hook failed"); });
  BOOST_CHECK_NO_THROW(log_line(log_level::warn, 7, "test", "to stderr instead (expected there)"));
  set_log_hook({});
  log_line(log_level::info, 7, "test", "the sink again");
  BOOST_TEST(lines.size() == 1u);
}

BOOST_AUTO_TEST_CASE(format_names_parse_and_a_record_formats_as_the_sink_would_get_it) {
  log_format f = log_format::text;
  BOOST_TEST(parse_log_format("json", f));
  BOOST_TEST((f == log_format::json));
  BOOST_TEST(parse_log_format("text", f));
  BOOST_TEST((f == log_format::text));
  BOOST_TEST(!parse_log_format("JSON", f));
  BOOST_TEST(!parse_log_format("", f));
  BOOST_TEST((f == log_format::text));

  const log_fields fields{{"k", "v"}};
  const log_record r{std::chrono::system_clock::time_point{std::chrono::milliseconds(1'764'287'941'123)},
                     log_level::warn,
                     3,
                     term_t{2},
                     "leader",
                     "net",
                     "hello",
                     fields};
  BOOST_TEST(format_log_record(r, log_format::text) ==
             "2025-11-27T23:59:01.123Z WARN node=3 term=2 role=leader net: hello k=v");
  BOOST_TEST(format_log_record(r, log_format::json) ==
             R"({"time":"2025-11-27T23:59:01.123Z","level":"warn","node":3,"term":2,"role":"leader",)"
             R"("component":"net","message":"hello","fields":{"k":"v"}})");
}

BOOST_AUTO_TEST_SUITE_END()
