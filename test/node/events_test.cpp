// events_test.cpp — coraft::event_log (coraft/events.hpp): numbering, the
// bound on memory, paging with since/limit, truncation, the term stamp, and
// concurrent recording. (A node's own events — started, term, role,
// leader, membership, snapshots, peers — are checked end to end by the
// dashboard test against real nodes.)
#define BOOST_TEST_MODULE events
#include <boost/test/unit_test.hpp>

#include <coraft/events.hpp>

#include <limits>
#include <set>
#include <string>
#include <thread>
#include <vector>

using coraft::event_log;

BOOST_AUTO_TEST_CASE(events_are_numbered_from_one_and_stamped_with_the_term) {
  event_log log(10);
  BOOST_TEST(log.since(0, 100).events.empty());
  BOOST_TEST(log.since(0, 100).last_seq == 0u);
  log.record("started", "started");
  log.set_term(3);
  log.record("leader", "node 2 leads", {{"leader", "2"}});
  const auto p = log.since(0, 100);
  BOOST_TEST_REQUIRE(p.events.size() == 2u);
  BOOST_TEST(p.events[0].seq == 1u);
  BOOST_TEST(p.events[0].term == 0u);
  BOOST_TEST(p.events[1].seq == 2u);
  BOOST_TEST(p.events[1].term == 3u);
  BOOST_TEST(p.events[1].kind == "leader");
  BOOST_TEST_REQUIRE(p.events[1].fields.size() == 1u);
  BOOST_TEST(p.events[1].fields[0].second == "2");
  BOOST_TEST(p.last_seq == 2u);
  BOOST_TEST(!p.truncated);
  BOOST_TEST((p.events[0].time <= p.events[1].time));
}

BOOST_AUTO_TEST_CASE(since_and_limit_page_through_the_history) {
  event_log log(100);
  for (int i = 0; i < 7; ++i) log.record("k", std::to_string(i));
  auto p = log.since(2, 3);
  BOOST_TEST_REQUIRE(p.events.size() == 3u);
  BOOST_TEST(p.events.front().seq == 3u);
  BOOST_TEST(p.events.back().seq == 5u);
  BOOST_TEST(p.last_seq == 7u);
  p = log.since(5, 100);
  BOOST_TEST_REQUIRE(p.events.size() == 2u);
  BOOST_TEST(p.events.back().message == "6");
  BOOST_TEST(log.since(7, 100).events.empty());
  BOOST_TEST(log.since(1000, 100).events.empty());  // a reader ahead (of another incarnation) gets nothing
  const auto top = log.since(std::numeric_limits<std::uint64_t>::max(), 100);  // seq + 1 must not wrap to 0
  BOOST_TEST(top.events.empty());
  BOOST_TEST(!top.truncated);
  const auto newest = log.latest(2);
  BOOST_TEST_REQUIRE(newest.events.size() == 2u);
  BOOST_TEST(newest.events[0].seq == 6u);
  BOOST_TEST(newest.events[1].seq == 7u);
  BOOST_TEST(log.latest(100).events.size() == 7u);
}

BOOST_AUTO_TEST_CASE(memory_is_bounded_and_a_reader_that_fell_behind_is_told) {
  event_log log(4);
  for (int i = 1; i <= 10; ++i) log.record("k", std::to_string(i));
  auto p = log.since(0, 100);
  BOOST_TEST_REQUIRE(p.events.size() == 4u);  // 7..10 kept
  BOOST_TEST(p.events.front().seq == 7u);
  BOOST_TEST(p.truncated);
  p = log.since(6, 100);  // nothing after 6 was dropped
  BOOST_TEST(!p.truncated);
  BOOST_TEST(p.events.size() == 4u);
  p = log.since(5, 100);  // event 6 was
  BOOST_TEST(p.truncated);
}

BOOST_AUTO_TEST_CASE(a_flapping_peer_never_pushes_out_the_elections) {
  event_log log(8);  // at most 2 peer events held
  log.record("leader", "node 1 leads");
  for (int i = 0; i < 100; ++i) log.record(i % 2 ? "peer_lost" : "peer_connected", std::to_string(i));
  log.record("leader", "node 2 leads");
  const auto p = log.since(0, 100);
  BOOST_TEST_REQUIRE(p.events.size() == 4u);
  BOOST_TEST(p.events[0].message == "node 1 leads");
  BOOST_TEST(p.events[1].message == "98");
  BOOST_TEST(p.events[2].message == "99");
  BOOST_TEST(p.events[3].message == "node 2 leads");
  BOOST_TEST(!p.truncated);               // event 1 is still held: only peer events were dropped
  const auto after = log.since(50, 100);  // past the gap: the next held ones
  BOOST_TEST_REQUIRE(after.events.size() == 3u);
  BOOST_TEST(after.events[0].message == "98");
}

BOOST_AUTO_TEST_CASE(each_log_has_its_own_incarnation) {
  event_log a, b;
  BOOST_TEST(a.incarnation().size() == 16u);
  BOOST_TEST(a.incarnation() != b.incarnation());
}

BOOST_AUTO_TEST_CASE(threads_record_without_losing_or_repeating_a_number) {
  event_log log(100'000);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&log] {
      for (int i = 0; i < 2000; ++i) log.record("k", "m");
    });
  for (auto& t : threads) t.join();
  const auto p = log.since(0, 100'000);
  BOOST_TEST_REQUIRE(p.events.size() == 8000u);
  std::set<std::uint64_t> seqs;
  for (std::size_t i = 0; i < p.events.size(); ++i) {
    BOOST_TEST(p.events[i].seq == i + 1);
    seqs.insert(p.events[i].seq);
  }
  BOOST_TEST(seqs.size() == 8000u);
}
