// test/core/membership_test.cpp — membership changes one server at a time
// with learners [thesis §4.1-4.4]: the configuration encoding; a learner gets
// and applies the log but never campaigns, and its votes, acks and heartbeat
// echoes count towards no election, commit or read; a caught-up learner is promoted [thesis §4.2.1] and then counts;
// changes are refused while the leader's term has nothing committed or while
// the previous change is uncommitted (busy), or when they make no sense
// (bad_member); a removed follower stops getting appends once the change
// commits; a leader that removes itself leads until the change commits, then
// hands over with TimeoutNow [thesis §4.2.2]; a configuration is in force
// from its append and reverts when its entry is truncated; snapshots and
// restarts keep the configuration in force.
//
// Every test runs on a full_cluster: each core's check_invariants() runs
// after every step, and the fixture's destructor fails the test on any
// safety violation (two leaders in a term, different entries applied).
#define BOOST_TEST_MODULE coraft_core_membership
#include <boost/test/unit_test.hpp>

#include "fixtures.hpp"

#include <algorithm>
#include <random>

namespace coraft {
inline std::ostream& operator<<(std::ostream& os, const membership& m) {
  os << "{voters";
  for (node_id id : m.voters) os << ' ' << id;
  os << ", learners";
  for (node_id id : m.learners) os << ' ' << id;
  os << ", addresses " << m.addresses.size() << "}";
  return os;
}
namespace core {
inline std::ostream& operator<<(std::ostream& os, config_result::code c) {
  switch (c) {
    case config_result::code::accepted: return os << "accepted";
    case config_result::code::not_leader: return os << "not_leader";
    case config_result::code::transferring: return os << "transferring";
    case config_result::code::busy: return os << "busy";
    case config_result::code::bad_member: return os << "bad_member";
    case config_result::code::not_caught_up: return os << "not_caught_up";
  }
  return os << "?";
}
}  // namespace core
}  // namespace coraft

namespace coraft::test {
namespace {

using core::config_change;
using core::role;
using kind = config_change::kind;
using code = core::config_result::code;
using ids = std::vector<node_id>;

// Pre-vote and check-quorum on (the defaults): what a deployment runs.
core::options production_options() {
  core::options o;
  o.election_ticks = 10;
  return o;
}

std::string address_of(node_id id) { return "10.0.0." + std::to_string(id) + ":7000 http:" + std::to_string(id); }

bool sent_by(const std::vector<message>& ms, node_id from, const char* type) {
  return std::any_of(ms.begin(), ms.end(),
                     [&](const message& m) { return m.from == from && std::string(type_name(m)) == type; });
}
bool sent_to(const std::vector<message>& ms, node_id from, node_id to) {
  return std::any_of(ms.begin(), ms.end(), [&](const message& m) { return m.from == from && m.to == to; });
}

struct membership_fixture : full_fixture {
  explicit membership_fixture(std::size_t n, core::options o = paper_options()) : full_fixture(n, o) {}

  // Asks `on` for a change (an add carries the member's address).
  core::config_result change(node_id on, kind k, node_id id) {
    const auto res = net.raft(on).propose_config({k, id, address_of(id)});
    net.take_all();
    return res;
  }
  // stabilize() that returns every message taken off the network (sent),
  // whether or not a link let it through.
  std::vector<message> stabilize_seen() {
    std::vector<message> seen;
    net.take_all();
    for (int round = 0; round < 10000; ++round) {
      const bool synced = net.sync_all();
      if (net.in_flight().empty() && !synced) return seen;
      seen.insert(seen.end(), net.in_flight().begin(), net.in_flight().end());
      net.deliver();
    }
    BOOST_ERROR("stabilize_seen: still busy after 10000 rounds");
    return seen;
  }
  // run(n) that returns every message sent meanwhile.
  std::vector<message> run_seen(int n) {
    std::vector<message> seen;
    for (int i = 0; i < n; ++i) {
      net.tick_all();
      auto s = stabilize_seen();
      seen.insert(seen.end(), s.begin(), s.end());
    }
    return seen;
  }
  // The leader's view of `id`, if it keeps one.
  std::optional<core::peer_status> peer(node_id leader, node_id id) {
    for (const auto& p : net.raft(leader).get_status().progress)
      if (p.id == id) return p;
    return std::nullopt;
  }
};

membership three_and_learner_four() {
  membership m;
  m.voters = {1, 2, 3};
  m.learners = {4};
  m.addresses[4] = address_of(4);
  return m;
}

}  // namespace

// --- the encoding ----------------------------------------------------------

BOOST_AUTO_TEST_SUITE(encoding)

BOOST_AUTO_TEST_CASE(round_trips_voters_learners_and_addresses) {
  membership m;
  m.voters = {1, 2, 7};
  m.learners = {9, 1ull << 60};
  m.addresses = {{1, "a:1 b:2"}, {2, ""}, {7, std::string("\0\xff bin\n", 7)}, {9, std::string(1024, 'x')}};
  const auto back = decode_membership(encode_membership(m));
  BOOST_TEST_REQUIRE(back.has_value());
  BOOST_TEST(*back == m);

  const auto empty = decode_membership(encode_membership(membership{}));
  BOOST_TEST_REQUIRE(empty.has_value());
  BOOST_TEST(*empty == membership{});
  BOOST_TEST(encode_membership(membership{}).size() == 12u, "three zero counts");

  membership full;  // exactly the limit: 1024 members
  for (node_id id = 1; id <= 1024; ++id) full.voters.push_back(id);
  const auto full_back = decode_membership(encode_membership(full));
  BOOST_TEST_REQUIRE(full_back.has_value());
  BOOST_TEST(full_back->voters.size() == 1024u);
}

BOOST_AUTO_TEST_CASE(addresses_out_of_order_or_repeated_are_refused) {
  // The encoding is canonical: addresses in ascending id order, each id
  // once (what encode_membership writes from its map). Bytes that name an
  // id twice decoded to a map that kept the second and re-encoded shorter:
  // the frame fuzzer's round trip found it (CI, issue 21's run).
  membership m;
  m.addresses = {{1, "a"}, {2, "b"}};
  std::string bytes = encode_membership(m);
  BOOST_TEST_REQUIRE(decode_membership(bytes).has_value());
  // Layout: u32 voters (0), u32 learners (0), u32 addresses (2), then per
  // address u64 id, u32 length, bytes; the second id sits after the first
  // address (8 + 4 + 1 bytes).
  const std::size_t second_id = 12 + 8 + 4 + 1;
  std::string twice = bytes;
  twice[second_id] = 1;  // id 1 again
  BOOST_TEST(!decode_membership(twice).has_value(), "an id named twice");
  std::string backwards = bytes;
  backwards[12] = 3;  // 3, then 2
  BOOST_TEST(!decode_membership(backwards).has_value(), "ids out of order");
}

BOOST_AUTO_TEST_CASE(truncated_oversized_and_garbage_bytes_are_refused_without_throwing) {
  membership m;
  m.voters = {1, 2, 3};
  m.learners = {4};
  m.addresses = {{1, "one"}, {4, "four"}};
  const std::string bytes = encode_membership(m);
  // Every proper prefix is missing some field.
  for (std::size_t n = 0; n < bytes.size(); ++n)
    BOOST_TEST(!decode_membership(std::string_view(bytes).substr(0, n)).has_value(), "prefix of " << n);
  BOOST_TEST(!decode_membership(bytes + '\0').has_value(), "trailing byte");

  // Over the limits.
  membership many_voters;
  for (node_id id = 1; id <= 1025; ++id) many_voters.voters.push_back(id);
  BOOST_TEST(!decode_membership(encode_membership(many_voters)).has_value(), "1025 voters");
  membership many_learners;
  for (node_id id = 1; id <= 1025; ++id) many_learners.learners.push_back(id);
  BOOST_TEST(!decode_membership(encode_membership(many_learners)).has_value(), "1025 learners");
  membership many_addresses;
  for (node_id id = 1; id <= 1025; ++id) many_addresses.addresses[id] = "a";
  BOOST_TEST(!decode_membership(encode_membership(many_addresses)).has_value(), "1025 addresses");
  membership long_address;
  long_address.voters = {1};
  long_address.addresses[1] = std::string(1025, 'x');
  BOOST_TEST(!decode_membership(encode_membership(long_address)).has_value(), "an address of 1025 bytes");

  // A huge count with nothing behind it (must not try to reserve it).
  BOOST_TEST(!decode_membership(std::string("\xff\xff\xff\xff", 4)).has_value());
  BOOST_TEST(!decode_membership(std::string("\x00\x04\x00\x00", 4)).has_value(), "1024 voters announced, none sent");
  // An address length that runs past the end.
  std::string lying = encode_membership(membership{});
  lying.replace(8, 4, std::string("\x01\x00\x00\x00", 4));  // one address
  lying += std::string("\x01\x00\x00\x00\x00\x00\x00\x00", 8) + std::string("\x10\x00\x00\x00", 4) + "short";
  BOOST_TEST(!decode_membership(lying).has_value());

  // Garbage: random strings and every single-byte corruption of a valid
  // encoding. Whatever they decode to, nothing throws.
  std::mt19937_64 rng(20240611);
  for (int i = 0; i < 5000; ++i) {
    std::string g(rng() % 80, '\0');
    for (char& c : g) c = static_cast<char>(rng());
    BOOST_CHECK_NO_THROW(decode_membership(g));
  }
  for (std::size_t at = 0; at < bytes.size(); ++at) {
    for (int v : {0x00, 0x01, 0x7f, 0x80, 0xff}) {
      std::string c = bytes;
      c[at] = static_cast<char>(v);
      BOOST_CHECK_NO_THROW(decode_membership(c));
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

// --- learners --------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(learners)

BOOST_AUTO_TEST_CASE(a_joiner_with_an_empty_configuration_never_campaigns) {
  membership_fixture f(3, production_options());
  f.net.elect(1);
  f.net.add_node(4);
  f.net.isolate(4);
  const auto seen = f.run_seen(100);
  BOOST_TEST(f.net.raft(4).state() == role::follower);
  BOOST_TEST(f.net.raft(4).term() == 0u);
  BOOST_TEST(!sent_by(seen, 4, "vote_request"));
  BOOST_TEST(f.net.raft(4).get_status().voters.empty());
}

BOOST_AUTO_TEST_CASE(a_learner_applies_the_log_but_never_counts_votes_or_campaigns) {
  // [thesis §4.2.1] "new servers join the cluster as non-voting members (the
  // leader replicates log entries to them, but they are not considered for
  // majorities)".
  membership_fixture f(3, production_options());
  f.net.elect(1);
  f.net.run(1);
  f.net.add_node(4);
  const auto res = f.change(1, kind::add_learner, 4);
  BOOST_TEST_REQUIRE(res.result == code::accepted);
  BOOST_TEST(res.id == f.net.raft(1).last_log());
  const core::status before = f.net.raft(1).get_status();
  BOOST_TEST(before.config_pending, "appended, in force, not committed");
  BOOST_TEST(before.config_index == res.id.index);
  BOOST_TEST(before.learners == (ids{4}));
  f.net.propose(1, "a");
  f.net.propose(1, "b");
  f.net.stabilize();
  f.net.run(1);
  for (node_id id : {1, 2, 3, 4}) {
    BOOST_TEST(f.net.raft(id).config() == three_and_learner_four(), "node " << id);
    BOOST_TEST(!f.net.raft(id).get_status().config_pending, "node " << id);
  }
  BOOST_TEST(f.net.node(4).sm == f.net.node(1).sm, "the learner applied the same log");
  BOOST_TEST(f.net.node(4).sm.find("=b;") != std::string::npos);
  const auto& applied = f.net.node(4).applied;
  BOOST_TEST(std::any_of(applied.begin(), applied.end(),
                         [&](const entry& e) { return e.type == entry_type::config && e.index == res.id.index; }),
             "the learner applied its own config entry too");
  const auto p4 = f.peer(1, 4);
  BOOST_TEST_REQUIRE(p4.has_value());
  BOOST_TEST(!p4->voter);
  BOOST_TEST(p4->match_index == f.net.raft(1).last_log().index);
  BOOST_TEST(f.net.raft(1).transfer_leadership(4) == core::raft::transfer_result::bad_target,
             "leadership goes to voters only");

  // Two of the three voters still commit.
  f.net.isolate(3);
  const index_t c = f.net.propose(1, "c");
  f.net.stabilize();
  BOOST_TEST(f.net.raft(1).commit_index() >= c);

  // The leader and the learner are not a majority: the learner holds the
  // entry, it does not commit; nor does a read get confirmed.
  f.net.isolate(2);
  const index_t d = f.net.propose(1, "d");
  f.net.raft(1).read_index(7);
  f.net.stabilize();
  for (int i = 0; i < 3; ++i) {  // a few heartbeat rounds, short of check-quorum
    f.net.tick(1);
    f.net.stabilize();
  }
  BOOST_TEST(f.net.raft(4).last_log().index >= d, "the learner has it");
  BOOST_TEST(f.net.raft(1).commit_index() < d, "a learner's ack does not count");
  BOOST_TEST(f.reads_of(1, 7).empty(), "a learner's heartbeat echo does not confirm a read");
  f.net.heal();
  for (int i = 0; i < 3; ++i) {
    f.net.tick(1);
    f.net.stabilize();
  }
  BOOST_TEST(f.net.raft(1).commit_index() >= d, "the voters are back");
  BOOST_TEST_REQUIRE(f.reads_of(1, 7).size() == 1u);
  BOOST_TEST(f.reads_of(1, 7)[0].ok);

  // Isolated far longer than any election timeout, the learner never
  // campaigns (not even a pre-vote).
  f.net.isolate(4);
  const term_t t4 = f.net.raft(4).term();
  const auto seen = f.run_seen(100);
  BOOST_TEST(f.net.raft(4).state() == role::follower);
  BOOST_TEST(f.net.raft(4).term() == t4);
  BOOST_TEST(!sent_by(seen, 4, "vote_request"));
  BOOST_TEST(f.net.raft(1).state() == role::leader, "the voters never noticed");

  // Nor does its vote count: with the leader gone and node 3 cut off, node
  // 2 cannot win, even with a grant from the learner.
  f.net.heal();
  f.net.crash(1);
  f.net.isolate(3);
  f.net.raft(2).campaign();
  f.net.take_all();
  BOOST_TEST_REQUIRE(f.net.raft(2).state() == role::pre_candidate);
  f.net.raft(2).step(message{4, 2, f.net.raft(2).term() + 1, vote_response{true, true}});
  f.net.take_all();
  BOOST_TEST(f.net.raft(2).state() == role::pre_candidate, "a learner's grant is no vote");
  f.net.run(5 * production_options().election_ticks);
  for (node_id id : {2, 3, 4}) BOOST_TEST(f.net.raft(id).state() != role::leader, "node " << id);
}

BOOST_AUTO_TEST_CASE(promote_waits_for_the_learner_to_catch_up_then_the_majority_grows) {
  // [thesis §4.2.1] a new server that is far behind would make the cluster
  // unavailable until it caught up: promote only one within a batch.
  core::options o = paper_options();
  o.max_append_entries = 2;
  membership_fixture f(2, o);
  f.net.elect(1);
  f.net.run(1);
  f.net.add_node(3);
  f.net.cut(1, 3);  // the learner hears nothing for now
  BOOST_TEST_REQUIRE(f.change(1, kind::add_learner, 3).result == code::accepted);
  f.net.stabilize();
  for (int i = 0; i < 10; ++i) f.net.propose(1, "v" + std::to_string(i));
  f.net.stabilize();
  const log_id last = f.net.raft(1).last_log();
  BOOST_TEST_REQUIRE(f.net.raft(1).commit_index() == last.index, "two voters commit without the learner");

  BOOST_TEST(f.change(1, kind::promote, 3).result == code::not_caught_up);
  BOOST_TEST(f.net.raft(1).last_log() == last, "nothing appended");
  BOOST_TEST(f.net.raft(1).config().learners == (ids{3}));

  f.net.heal();
  for (int i = 0; i < 50 && f.net.raft(3).last_log() != last; ++i) {
    f.net.tick(1);
    f.net.stabilize();
  }
  BOOST_TEST_REQUIRE(f.net.raft(3).last_log() == last);
  const auto res = f.change(1, kind::promote, 3);
  BOOST_TEST_REQUIRE(res.result == code::accepted);
  BOOST_TEST(f.net.raft(1).get_status().voters == (ids{1, 2, 3}), "in force on append");
  BOOST_TEST(f.net.raft(1).get_status().learners.empty());
  f.net.stabilize();
  f.net.run(1);
  BOOST_TEST(f.net.raft(1).commit_index() >= res.id.index);
  for (node_id id : {1, 2, 3}) BOOST_TEST(f.net.raft(id).get_status().voters == (ids{1, 2, 3}), "node " << id);
  const auto p3 = f.peer(1, 3);
  BOOST_TEST_REQUIRE(p3.has_value());
  BOOST_TEST(p3->voter);

  // Node 3 now counts: with node 2 gone, leader + 3 are two of three.
  f.net.isolate(2);
  const index_t a = f.net.propose(1, "with-3");
  f.net.stabilize();
  BOOST_TEST(f.net.raft(1).commit_index() >= a);
  // And a majority is now two of three: the leader alone commits nothing.
  f.net.isolate(3);
  const index_t b = f.net.propose(1, "alone");
  f.net.stabilize();
  BOOST_TEST(f.net.raft(1).commit_index() < b);
  BOOST_TEST(f.net.raft(1).commit_index() >= a);
}

// A learner whose promotion was committed by the others before it received
// the entry still thinks it is a learner; it must still answer the vote
// (and pre-vote) requests of the only candidate that can win, or a live
// majority of the committed configuration {1, 2, 3} never elects a leader
// [thesis §4.1]. Answering is safe: a candidate counts grants only from its
// own voters. (This test found the bug: the core used to ignore vote
// requests when not a voter itself; etcd-io/raft lets learners vote for the
// same reason.)
BOOST_AUTO_TEST_CASE(a_learner_that_missed_its_promotion_still_votes) {
  membership_fixture f(2, production_options());
  f.net.elect(1);
  f.net.run(1);
  f.net.add_node(3);
  BOOST_TEST_REQUIRE(f.change(1, kind::add_learner, 3).result == code::accepted);
  f.net.stabilize();
  f.net.run(1);
  BOOST_TEST_REQUIRE(f.net.raft(3).last_log() == f.net.raft(1).last_log());
  // The promotion commits on {1, 2}, a majority of {1, 2, 3}; node 3 misses it.
  f.net.cut(1, 3);
  const auto res = f.change(1, kind::promote, 3);
  BOOST_TEST_REQUIRE(res.result == code::accepted);
  f.net.stabilize();
  BOOST_TEST_REQUIRE(f.net.raft(1).commit_index() >= res.id.index);
  BOOST_TEST_REQUIRE(f.net.raft(3).get_status().learners == (ids{3}), "node 3 does not know");
  // The leader dies; 2 and 3 are a majority of the committed configuration.
  // Only node 2 can win (its log holds the committed promotion) and it needs
  // node 3's vote.
  f.net.crash(1);
  f.net.heal();
  const auto seen = f.run_seen(10 * production_options().election_ticks);
  BOOST_TEST(sent_by(seen, 2, "vote_request"), "node 2 campaigns");
  BOOST_TEST(sent_by(seen, 3, "vote_response"), "node 3 answers it");
  BOOST_TEST(f.net.raft(2).state() == role::leader);
}

BOOST_AUTO_TEST_SUITE_END()

// --- refusals --------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(refusals)

BOOST_AUTO_TEST_CASE(busy_until_the_term_commits_and_while_a_change_is_uncommitted) {
  membership_fixture f(3);
  // Win the election by hand, without letting the noop commit.
  f.net.raft(1).campaign();
  f.net.sync(1);
  f.net.deliver();  // vote requests
  f.net.sync(2);
  f.net.sync(3);
  f.net.deliver();  // votes
  BOOST_TEST_REQUIRE(f.net.raft(1).state() == role::leader);
  BOOST_TEST_REQUIRE(f.net.raft(1).commit_index() < f.net.raft(1).last_log().index);
  // [thesis §4.1, errata] a leader may not change the configuration until
  // an entry of its own term has committed.
  const log_id before = f.net.raft(1).last_log();
  BOOST_TEST(f.change(1, kind::add_learner, 4).result == code::busy);
  BOOST_TEST(f.net.raft(1).last_log() == before);
  f.net.stabilize();
  BOOST_TEST_REQUIRE(f.net.raft(1).commit_index() == f.net.raft(1).last_log().index);
  const auto on_follower = f.change(2, kind::add_learner, 4);
  BOOST_TEST(on_follower.result == code::not_leader);
  BOOST_TEST(on_follower.leader_hint == 1u);

  // One change at a time: with the voters cut off, it stays uncommitted.
  f.net.isolate(1);
  const auto first = f.change(1, kind::add_learner, 4);
  BOOST_TEST_REQUIRE(first.result == code::accepted);
  f.net.stabilize();
  BOOST_TEST(f.net.raft(1).get_status().config_pending);
  BOOST_TEST(f.change(1, kind::add_learner, 5).result == code::busy);
  BOOST_TEST(f.change(1, kind::remove, 4).result == code::busy);
  BOOST_TEST(f.change(1, kind::remove, 3).result == code::busy);
  BOOST_TEST(f.net.raft(1).propose(payload("still-fine")).result == core::propose_result::code::accepted,
             "ordinary proposals are not held up");
  f.net.take_all();
  f.net.heal();
  for (int i = 0; i < 5 && f.net.raft(1).get_status().config_pending; ++i) f.net.run(1);
  BOOST_TEST_REQUIRE(!f.net.raft(1).get_status().config_pending);
  BOOST_TEST(f.net.raft(1).commit_index() >= first.id.index);
  BOOST_TEST(f.change(1, kind::add_learner, 5).result == code::accepted);
  BOOST_TEST(f.net.raft(1).config().learners == (ids{4, 5}));
}

BOOST_AUTO_TEST_CASE(changes_that_name_the_wrong_member_are_bad_member) {
  membership_fixture f(3);
  f.net.elect(1);
  f.net.run(1);
  const log_id last = f.net.raft(1).last_log();
  const membership cfg = f.net.raft(1).config();
  BOOST_TEST(f.change(1, kind::add_learner, 2).result == code::bad_member, "2 is a voter already");
  BOOST_TEST(f.change(1, kind::add_voter, 3).result == code::bad_member, "3 is a voter already");
  BOOST_TEST(f.change(1, kind::add_learner, no_node).result == code::bad_member, "id 0 is no one");
  BOOST_TEST(f.change(1, kind::add_voter, no_node).result == code::bad_member, "id 0 is no one");
  BOOST_TEST(f.change(1, kind::promote, 2).result == code::bad_member, "not a learner");
  BOOST_TEST(f.change(1, kind::promote, 9).result == code::bad_member, "not a member");
  BOOST_TEST(f.change(1, kind::remove, 9).result == code::bad_member, "not a member");
  BOOST_TEST(f.net.raft(1).last_log() == last, "nothing appended");
  BOOST_TEST(f.net.raft(1).config() == cfg);

  BOOST_TEST_REQUIRE(f.change(1, kind::add_learner, 4).result == code::accepted);
  f.net.stabilize();  // node 4 does not exist: learners do not count
  BOOST_TEST_REQUIRE(!f.net.raft(1).get_status().config_pending);
  BOOST_TEST(f.change(1, kind::add_learner, 4).result == code::bad_member, "added twice");
  BOOST_TEST(f.change(1, kind::add_voter, 4).result == code::bad_member, "a learner is promoted, not added");
  BOOST_TEST(f.change(1, kind::remove, 4).result == code::accepted, "a learner can be removed");
  BOOST_TEST(f.net.raft(1).config().learners.empty());
  BOOST_TEST(!f.net.raft(1).config().addresses.contains(4), "its address goes with it");
}

BOOST_AUTO_TEST_CASE(a_member_that_moved_gets_its_new_address_through_the_log) {
  // issue 17: a node that restarts elsewhere (a new IP or host name) keeps
  // its id, vote and log; its address changes like any configuration.
  membership_fixture f(3);
  f.net.elect(1);
  f.net.run(1);
  const membership before = f.net.raft(1).config();
  const auto moved = f.net.raft(1).propose_config({kind::set_address, 3, "node3.moved:7001 node3.moved:8001"});
  f.net.take_all();
  BOOST_TEST_REQUIRE(moved.result == code::accepted);
  f.net.stabilize();
  BOOST_TEST(!f.net.raft(1).get_status().config_pending);
  for (node_id id : {1, 2, 3}) {
    const membership c = f.net.raft(id).config();
    BOOST_TEST(c.voters == before.voters, "the quorum is unchanged on " << id);
    BOOST_TEST(c.learners == before.learners);
    BOOST_TEST_REQUIRE(c.addresses.contains(3));
    BOOST_TEST(c.addresses.at(3) == "node3.moved:7001 node3.moved:8001", "node " << id << " learned it");
    BOOST_TEST(c.addresses.contains(2) == before.addresses.contains(2), "the others' are untouched");
  }
  const log_id last = f.net.raft(1).last_log();
  BOOST_TEST(f.net.raft(1).propose_config({kind::set_address, 9, "x:1 x:2"}).result == code::bad_member,
             "not a member");
  BOOST_TEST(f.net.raft(1).propose_config({kind::set_address, 2, ""}).result == code::bad_member, "no address");
  BOOST_TEST(f.net.raft(1).propose_config({kind::set_address, 3, "node3.moved:7001 node3.moved:8001"}).result ==
                 code::bad_member,
             "the address it has already");
  BOOST_TEST(f.net.raft(1).last_log() == last, "nothing appended");
}

BOOST_AUTO_TEST_CASE(a_voter_that_holds_none_of_the_log_is_not_added) {
  // [thesis §4.2.1] A new voter counts towards every majority from its
  // entry's append on. Added to a one-voter cluster, a server that never
  // started leaves no majority: the entry can never commit and
  // check-quorum deposes the leader for good. It joins as a learner and is
  // promoted once caught up (issue 15: found adding node 2, never started,
  // to a one-voter cluster).
  membership_fixture f(1);
  f.net.elect(1);
  f.net.run(1);
  const log_id last = f.net.raft(1).last_log();
  BOOST_TEST(f.change(1, kind::add_voter, 2).result == code::not_caught_up);
  BOOST_TEST(f.net.raft(1).last_log() == last, "nothing appended");
  BOOST_TEST(f.net.raft(1).config().voters == (ids{1}));
  f.net.stabilize();
  f.net.tick_all(40);
  BOOST_TEST(f.net.raft(1).state() == role::leader, "the one voter still leads");
  // The way in: a learner first (it changes no majority), promoted once it
  // holds the log.
  BOOST_TEST_REQUIRE(f.change(1, kind::add_learner, 2).result == code::accepted);
  f.net.stabilize();
  BOOST_TEST(!f.net.raft(1).get_status().config_pending, "a learner's entry commits on the one voter");
  BOOST_TEST(f.change(1, kind::promote, 2).result == code::not_caught_up, "node 2 never answered");
  BOOST_TEST(f.change(1, kind::add_voter, 3).result == code::not_caught_up);
}

BOOST_AUTO_TEST_CASE(the_last_voter_cannot_be_removed) {
  membership_fixture f(1);
  f.net.elect(1);
  BOOST_TEST_REQUIRE(f.net.raft(1).state() == role::leader);
  f.net.stabilize();
  BOOST_TEST(f.change(1, kind::remove, 1).result == code::bad_member);
  BOOST_TEST_REQUIRE(f.change(1, kind::add_learner, 2).result == code::accepted);
  f.net.stabilize();
  BOOST_TEST_REQUIRE(!f.net.raft(1).get_status().config_pending);
  BOOST_TEST(f.change(1, kind::remove, 1).result == code::bad_member, "a learner is no voter");
  BOOST_TEST(f.change(1, kind::remove, 2).result == code::accepted);
  f.net.stabilize();
  BOOST_TEST(f.net.raft(1).state() == role::leader);
  BOOST_TEST(f.net.raft(1).get_status().voters == (ids{1}));
}

BOOST_AUTO_TEST_SUITE_END()

// --- removals --------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(removals)

BOOST_AUTO_TEST_CASE(a_removed_follower_learns_it_then_gets_nothing_and_never_campaigns) {
  membership_fixture f(3);
  f.net.elect(1);
  f.net.run(1);
  const auto res = f.change(1, kind::remove, 3);
  BOOST_TEST_REQUIRE(res.result == code::accepted);
  BOOST_TEST(f.net.raft(1).get_status().voters == (ids{1, 2}));
  // Until the change commits the departing server still gets the log, so
  // it learns of its removal.
  const auto to3 = to_node(of_type<append_request>(f.net.in_flight()), 3);
  BOOST_TEST_REQUIRE(to3.size() == 1u);
  BOOST_TEST(body_of<append_request>(to3[0])->entries.back().id() == res.id);
  BOOST_TEST(f.peer(1, 3).has_value(), "progress kept until the change commits");
  f.net.stabilize();
  f.net.run(1);
  BOOST_TEST_REQUIRE(f.net.raft(1).commit_index() >= res.id.index);
  BOOST_TEST(!f.peer(1, 3).has_value(), "dropped once the change committed");
  BOOST_TEST(f.net.raft(3).get_status().voters == (ids{1, 2}), "node 3 knows it left");
  BOOST_TEST(f.net.raft(3).last_log().index >= res.id.index);
  BOOST_TEST(f.net.raft(3).commit_index() >= res.id.index, "and that its removal committed");

  // Nothing more goes to node 3, which never campaigns although it hears
  // nothing for many election timeouts.
  const term_t t3 = f.net.raft(3).term();
  f.net.propose(1, "after");
  auto seen = f.stabilize_seen();
  const auto more = f.run_seen(60);
  seen.insert(seen.end(), more.begin(), more.end());
  BOOST_TEST(!sent_to(seen, 1, 3), "no append or heartbeat to a removed server");
  BOOST_TEST(!sent_by(seen, 3, "vote_request"));
  BOOST_TEST(f.net.raft(3).state() == role::follower);
  BOOST_TEST(f.net.raft(3).term() == t3);
  BOOST_TEST(f.net.raft(1).state() == role::leader);

  // The remaining two commit without it...
  f.net.crash(3);
  const index_t a = f.net.propose(1, "without-3");
  f.net.stabilize();
  f.net.run(1);
  BOOST_TEST(f.net.raft(1).commit_index() >= a);
  BOOST_TEST(f.net.node(2).sm == f.net.node(1).sm);
  // ...and need each other: a majority of {1, 2} is both.
  f.net.isolate(2);
  const index_t b = f.net.propose(1, "alone");
  f.net.stabilize();
  BOOST_TEST(f.net.raft(1).commit_index() < b);
}

BOOST_AUTO_TEST_CASE(a_leader_that_removes_itself_leads_until_commit_then_hands_over) {
  // [thesis §4.2.2] "the leader steps down once the C_new entry is
  // committed"; it hands over with TimeoutNow so nobody waits for a timeout.
  membership_fixture f(3, production_options());
  const int election_ticks = production_options().election_ticks;
  f.net.elect(1);
  f.net.run(1);
  const term_t term = f.net.raft(1).term();
  f.net.cut(1, 3);
  const auto res = f.change(1, kind::remove, 1);
  BOOST_TEST_REQUIRE(res.result == code::accepted);
  f.net.stabilize();
  // C_new = {2, 3} must commit on a majority of C_new: node 2 alone is not.
  BOOST_TEST(f.net.raft(1).state() == role::leader, "leads until the change commits");
  BOOST_TEST(f.net.raft(1).get_status().voters == (ids{2, 3}));
  BOOST_TEST(f.net.raft(1).commit_index() < res.id.index);
  BOOST_TEST(f.net.raft(1).get_status().config_pending);
  // It takes no new commands meanwhile, so that a voter holds its whole log
  // when the removal commits and can take over at once.
  BOOST_TEST((f.net.raft(1).propose(payload("still-leading")).result == core::propose_result::code::transferring));

  f.net.heal();
  std::vector<message> seen;
  int ticks = 0;
  auto new_leader = [&]() -> node_id {
    for (node_id id : {2, 3})
      if (f.net.raft(id).state() == role::leader) return id;
    return no_node;
  };
  // Only node 1 ticks: nodes 2 and 3 cannot time out, only be told to.
  for (; new_leader() == no_node && ticks <= 2 * election_ticks; ++ticks) {
    f.net.tick(1);
    const auto s = f.stabilize_seen();
    seen.insert(seen.end(), s.begin(), s.end());
  }
  const node_id next = new_leader();
  BOOST_TEST_REQUIRE(next != no_node);
  BOOST_TEST(ticks < election_ticks, "handed over, not timed out: " << ticks << " ticks");
  const auto tn = of_type<timeout_now>(seen);
  BOOST_TEST_REQUIRE(tn.size() == 1u);
  BOOST_TEST(tn[0].from == 1u);
  BOOST_TEST(tn[0].to == next);
  BOOST_TEST(f.net.raft(1).state() == role::follower);
  BOOST_TEST(f.net.raft(next).term() == term + 1);
  BOOST_TEST(f.net.raft(next).commit_index() >= res.id.index, "the change committed");
  BOOST_TEST(f.net.raft(next).get_status().voters == (ids{2, 3}));
  BOOST_TEST(!f.peer(next, 1).has_value(), "the new leader does not replicate to the old one");

  // The old leader is no voter: it never campaigns, however long it waits.
  const auto later = f.run_seen(6 * election_ticks);
  BOOST_TEST(!sent_by(later, 1, "vote_request"));
  BOOST_TEST(f.net.raft(1).state() == role::follower);
  BOOST_TEST(f.net.raft(next).state() == role::leader, "undisturbed");
  BOOST_TEST(f.net.raft(next).term() == term + 1);
  const index_t a = f.net.propose(next, "after");
  f.net.stabilize();
  BOOST_TEST(f.net.raft(next).commit_index() >= a);
}

BOOST_AUTO_TEST_CASE(a_removed_server_that_never_learned_it_cannot_disrupt) {
  // [thesis §4.2.3] "removed servers (those not in C_new) can disrupt the
  // cluster": this one misses the entry that removes it, still believes it
  // is a voter and keeps timing out; pre-vote and leases keep it harmless.
  membership_fixture f(3, production_options());
  f.net.elect(1);
  f.net.run(1);
  f.net.isolate(3);
  const auto res = f.change(1, kind::remove, 3);
  BOOST_TEST_REQUIRE(res.result == code::accepted);
  f.net.stabilize();
  f.net.run(1);
  BOOST_TEST_REQUIRE(f.net.raft(1).commit_index() >= res.id.index, "{1, 2} commit the removal");
  // The leader keeps offering node 3 the entry for up to an election
  // timeout, then lets it go.
  f.net.run(production_options().election_ticks + 1);
  BOOST_TEST_REQUIRE(!f.peer(1, 3).has_value());
  BOOST_TEST_REQUIRE(f.net.raft(3).get_status().voters == (ids{1, 2, 3}), "node 3 never heard of it");
  f.net.heal();
  const term_t term = f.net.raft(1).term();
  const auto seen = f.run_seen(10 * production_options().election_ticks);
  BOOST_TEST(sent_by(seen, 3, "vote_request"), "node 3 keeps trying");
  BOOST_TEST(f.net.raft(1).state() == role::leader);
  BOOST_TEST(f.net.raft(1).term() == term, "no term was disrupted");
  BOOST_TEST(f.net.raft(2).term() == term);
  BOOST_TEST(!sent_to(seen, 1, 3));
}

BOOST_AUTO_TEST_CASE(a_leader_removing_itself_from_two_voters_hands_over_to_the_last_one) {
  // C_new = {2}: it commits on node 2's ack alone (the leader does not
  // count itself), and node 2 is a majority of one after TimeoutNow.
  membership_fixture f(2, production_options());
  f.net.elect(1);
  f.net.run(1);
  const term_t term = f.net.raft(1).term();
  const auto res = f.change(1, kind::remove, 1);
  BOOST_TEST_REQUIRE(res.result == code::accepted);
  const auto seen = f.stabilize_seen();
  BOOST_TEST(f.net.raft(2).state() == role::leader, "no tick needed");
  BOOST_TEST(f.net.raft(2).term() == term + 1);
  BOOST_TEST(of_type<timeout_now>(seen).size() == 1u);
  BOOST_TEST(f.net.raft(1).state() == role::follower);
  BOOST_TEST(f.net.raft(2).get_status().voters == (ids{2}));
  const index_t a = f.net.propose(2, "alone");
  f.net.stabilize();
  BOOST_TEST(f.net.raft(2).commit_index() >= a, "a single voter commits alone");
  f.net.run(30);
  BOOST_TEST(f.net.raft(2).state() == role::leader);
  BOOST_TEST(f.net.raft(1).state() == role::follower);
}

BOOST_AUTO_TEST_CASE(a_leader_that_lost_leadership_with_its_removal_uncommitted_finishes_it) {
  // C_old = {1, 2}, C_new = {2}; the entry reaches only the leader, which
  // then loses leadership. Node 2 (C_old in force) needs node 1's vote but
  // node 1's log is longer; so node 1 — not a voter of its C_new, but its
  // removal is not known to be committed — campaigns, counting only node
  // 2's vote [thesis §4.2.2: "it may still time out and become leader
  // again"], commits C_new and hands over to node 2.
  membership_fixture f(2, production_options());
  f.net.elect(1);
  f.net.run(1);
  f.net.isolate(1);
  const auto res = f.change(1, kind::remove, 1);
  BOOST_TEST_REQUIRE(res.result == code::accepted);
  f.net.run(2 * production_options().election_ticks);
  BOOST_TEST_REQUIRE(f.net.raft(1).state() != role::leader, "check-quorum: it stepped down");
  BOOST_TEST_REQUIRE(f.net.raft(2).get_status().voters == (ids{1, 2}));
  f.net.heal();
  f.net.run(10 * production_options().election_ticks);
  BOOST_TEST(f.net.raft(2).state() == role::leader);
  BOOST_TEST(f.net.raft(2).get_status().voters == (ids{2}));
  BOOST_TEST(f.net.raft(2).commit_index() >= res.id.index, "the removal committed");
  BOOST_TEST(f.net.raft(1).state() == role::follower);
  const index_t a = f.net.propose(2, "alone");
  f.net.stabilize();
  BOOST_TEST(f.net.raft(2).commit_index() >= a);
}

BOOST_AUTO_TEST_SUITE_END()

// --- the configuration in force --------------------------------------------

BOOST_AUTO_TEST_SUITE(configuration_in_force)

BOOST_AUTO_TEST_CASE(a_truncated_config_entry_takes_its_configuration_with_it) {
  // [thesis §4.1] a server uses the latest configuration in its log, so
  // when a new leader overwrites that entry the one before comes back.
  membership_fixture f(5);
  f.net.elect(1);
  f.net.run(1);
  f.net.cut(1, 3);
  f.net.cut(1, 4);
  f.net.cut(1, 5);
  const auto res = f.change(1, kind::remove, 5);
  BOOST_TEST_REQUIRE(res.result == code::accepted);
  f.net.stabilize();  // only node 2 gets it: 2 of 4 voters commit nothing
  const core::status s2 = f.net.raft(2).get_status();
  BOOST_TEST(s2.voters == (ids{1, 2, 3, 4}), "in force on a follower from its append");
  BOOST_TEST(s2.config_index == res.id.index);
  BOOST_TEST(s2.config_pending);
  BOOST_TEST(f.net.raft(1).commit_index() < res.id.index);

  // Nodes 3, 4, 5 elect 3 (node 2's log is longer: it refuses), whose noop
  // overwrites the config entry on node 2.
  f.net.isolate(1);
  f.net.elect(3);
  BOOST_TEST_REQUIRE(f.net.raft(3).state() == role::leader);
  f.net.run(1);
  const core::status after = f.net.raft(2).get_status();
  BOOST_TEST(after.voters == (ids{1, 2, 3, 4, 5}));
  BOOST_TEST(after.config_index == 0u, "back to the bootstrap configuration");
  BOOST_TEST(!after.config_pending);
  BOOST_TEST_REQUIRE(f.net.raft(2).entry_at(res.id.index) != nullptr);
  BOOST_TEST(f.net.raft(2).entry_at(res.id.index)->type == entry_type::noop);
  BOOST_TEST(f.net.raft(2).config_at(res.id.index).voters == (ids{1, 2, 3, 4, 5}));

  // The old leader too, once it hears from the new one.
  f.net.heal();
  f.net.run(2);
  BOOST_TEST(f.net.raft(1).state() == role::follower);
  BOOST_TEST(f.net.raft(1).get_status().voters == (ids{1, 2, 3, 4, 5}));
  BOOST_TEST(f.net.raft(1).get_status().config_index == 0u);
  const index_t a = f.net.propose(3, "after");
  f.net.stabilize();
  f.net.run(1);
  for (node_id id : {1, 2, 3, 4, 5}) BOOST_TEST(f.net.raft(id).commit_index() >= a, "node " << id);
}

BOOST_AUTO_TEST_CASE(snapshots_carry_the_configuration_to_wiped_and_new_servers) {
  // [thesis §5.1] a snapshot records the latest configuration as of its
  // last included index.
  membership_fixture f(3);
  f.net.elect(1);
  f.net.run(1);
  f.net.add_node(4);
  BOOST_TEST_REQUIRE(f.change(1, kind::add_learner, 4).result == code::accepted);
  f.net.stabilize();
  for (int i = 0; i < 5; ++i) f.net.propose(1, "v" + std::to_string(i));
  f.net.stabilize();
  f.net.run(1);
  const snapshot s = f.net.take_snapshot(1, f.net.raft(1).commit_index());
  BOOST_TEST(s.meta.config == three_and_learner_four());
  BOOST_TEST_REQUIRE(f.net.raft(1).first_index() == s.meta.last.index + 1, "the config entry is compacted");
  BOOST_TEST(f.net.raft(1).config() == three_and_learner_four(), "compaction keeps the config in force");
  BOOST_TEST(f.net.raft(1).config_at(s.meta.last.index) == three_and_learner_four());

  // Node 4's disk is wiped: it comes back knowing nothing and is sent the
  // snapshot, which names it.
  f.net.add_node(4);
  BOOST_TEST_REQUIRE(f.net.raft(4).get_status().learners.empty());
  f.net.propose(1, "after-wipe");
  for (int i = 0; i < 20 && f.net.node(4).installed.empty(); ++i) f.net.run(1);
  f.net.run(2);
  BOOST_TEST_REQUIRE(f.net.node(4).installed.size() == 1u);
  BOOST_TEST(f.net.node(4).installed[0].config == three_and_learner_four());
  BOOST_TEST(f.net.raft(4).config() == three_and_learner_four());
  BOOST_TEST(f.net.raft(4).get_status().config_index == s.meta.last.index);
  BOOST_TEST(f.net.node(4).sm == f.net.node(1).sm);

  // A brand-new node 5 joins after the snapshot: the snapshot brings the
  // configuration before it, the log the entry that adds it. While it is
  // still installing, it is not caught up.
  f.net.add_node(5);
  f.net.hold_installs = true;
  const auto add5 = f.change(1, kind::add_learner, 5);
  BOOST_TEST_REQUIRE(add5.result == code::accepted);
  f.net.stabilize();
  for (int i = 0; i < 20 && f.net.node(5).installed.empty(); ++i) f.net.run(1);
  BOOST_TEST_REQUIRE(f.net.node(5).installed.size() == 1u, "the snapshot arrived; the install is held");
  const auto p5 = f.peer(1, 5);
  BOOST_TEST_REQUIRE(p5.has_value());
  BOOST_TEST(p5->snapshotting);
  BOOST_TEST(f.change(1, kind::promote, 5).result == code::not_caught_up);
  f.net.hold_installs = false;
  f.net.raft(5).snapshot_installed(s.meta.last);
  f.net.stabilize();
  f.net.run(2);
  BOOST_TEST(f.net.raft(5).config_at(s.meta.last.index) == s.meta.config);
  BOOST_TEST(f.net.raft(5).config().learners == (ids{4, 5}));
  BOOST_TEST(f.net.raft(5).config().addresses.at(5) == address_of(5));
  BOOST_TEST(f.net.raft(5).last_log() == f.net.raft(1).last_log());
  BOOST_TEST(f.change(1, kind::promote, 5).result == code::accepted);
  f.net.stabilize();
  f.net.run(1);
  BOOST_TEST(f.net.raft(5).get_status().voters == (ids{1, 2, 3, 5}));
  BOOST_TEST(f.net.node(5).sm == f.net.node(1).sm);

  // The leader restarts from its snapshot and log: same configuration.
  const membership now = f.net.raft(1).config();
  f.net.crash(1);
  f.net.restart(1);
  BOOST_TEST(f.net.raft(1).config() == now);
}

BOOST_AUTO_TEST_CASE(a_restart_recovers_the_newest_configuration_from_the_log) {
  membership_fixture f(3);
  f.net.elect(1);
  f.net.run(1);
  f.net.add_node(4);
  BOOST_TEST_REQUIRE(f.change(1, kind::add_learner, 4).result == code::accepted);
  f.net.stabilize();
  BOOST_TEST_REQUIRE(f.change(1, kind::remove, 3).result == code::accepted);
  f.net.stabilize();
  f.net.run(1);
  const membership expected = f.net.raft(1).config();
  BOOST_TEST_REQUIRE(expected.voters == (ids{1, 2}));
  BOOST_TEST_REQUIRE(expected.learners == (ids{4}));
  const index_t config_index = f.net.raft(1).get_status().config_index;

  // Node 2 was bootstrapped with {1, 2, 3}; its log says otherwise.
  f.net.crash(2);
  f.net.restart(2);
  BOOST_TEST(f.net.raft(2).config() == expected);
  BOOST_TEST(f.net.raft(2).get_status().config_index == config_index);
  // Node 4 joined with an empty configuration; its log names it a learner,
  // and it still never campaigns.
  f.net.crash(4);
  f.net.restart(4);
  BOOST_TEST(f.net.raft(4).config() == expected);
  f.net.isolate(4);
  const auto seen = f.run_seen(60);
  BOOST_TEST(!sent_by(seen, 4, "vote_request"));
  f.net.heal();
  f.net.run(2);

  // An uncommitted config entry is in force after a restart too: node 2
  // persisted it, its ack was lost.
  const auto add5 = f.change(1, kind::add_learner, 5);
  BOOST_TEST_REQUIRE(add5.result == code::accepted);
  f.net.deliver(from_to(1, 2));
  f.net.sync(2);
  BOOST_TEST_REQUIRE(!f.net.drop(from_to(2, 1)).empty());
  f.net.in_flight().clear();
  BOOST_TEST_REQUIRE(f.net.raft(1).commit_index() < add5.id.index);
  f.net.crash(2);
  f.net.restart(2);
  BOOST_TEST(f.net.raft(2).config().learners == (ids{4, 5}));
  BOOST_TEST(f.net.raft(2).get_status().config_index == add5.id.index);
  BOOST_TEST(f.net.raft(2).get_status().config_pending);
  f.net.run(3);
  BOOST_TEST(f.net.raft(1).commit_index() >= add5.id.index);
  BOOST_TEST(!f.net.raft(2).get_status().config_pending);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace coraft::test
