// test/core/read_index_test.cpp — linearizable reads without the log
// [thesis §6.4]: the leader answers a read only once a heartbeat round sent
// after the read reached a majority and an entry of its term is committed;
// concurrent reads share a round; reads fail when leadership is lost; a
// follower read returns the leader's commit index; a single voter answers at
// once; a stale leader never confirms a read.
#define BOOST_TEST_MODULE coraft_core_read_index
#include <boost/test/unit_test.hpp>

#include "fixtures.hpp"

namespace coraft::test {
namespace {

using core::read_state;
using core::role;

std::vector<std::uint64_t> rounds_in(const std::vector<message>& ms) {
  std::vector<std::uint64_t> out;
  for (const auto& m : ms)
    if (const auto* h = body_of<heartbeat_request>(m)) out.push_back(h->read_seq);
  return out;
}

// Elects node 1 in a 3-node cluster and commits "a" everywhere.
struct three_with_leader : full_fixture {
  explicit three_with_leader(core::options o = paper_options()) : full_fixture(3, o) {
    net.elect(1);
    net.propose(1, "a");
    net.stabilize();
    net.run(1);
    BOOST_TEST_REQUIRE(net.raft(1).state() == role::leader);
    BOOST_TEST_REQUIRE(net.raft(1).commit_index() == 2u);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(leader_reads)

BOOST_FIXTURE_TEST_CASE(answered_only_after_a_round_reaches_a_majority, three_with_leader) {
  // [thesis §6.4] "the leader ... sends a new round of heartbeats, and waits
  // for their acknowledgments from a majority of the cluster".
  net.raft(1).read_index(7);
  net.take_all();
  BOOST_TEST(net.node(1).reads.empty(), "no answer before any heartbeat is acknowledged");
  const auto hb = of_type<heartbeat_request>(net.in_flight());
  BOOST_TEST_REQUIRE(hb.size() == 2u, "one round: a heartbeat to each follower");
  BOOST_TEST(body_of<heartbeat_request>(hb[0])->read_seq > 0u);
  net.drop(from_to(1, 3));
  net.deliver(from_to(1, 2));  // node 2 echoes the round
  BOOST_TEST(net.node(1).reads.empty(), "the echo is still in flight");
  net.deliver(from_to(2, 1));
  BOOST_TEST_REQUIRE(reads_of(1, 7).size() == 1u, "leader + node 2 are a majority");
  BOOST_TEST(reads_of(1, 7)[0] == (read_state{7, 2, true}));
  BOOST_TEST(net.raft(1).get_status().pending_reads == 0u);
}

BOOST_FIXTURE_TEST_CASE(not_answered_while_the_majority_is_cut_off, three_with_leader) {
  // Only the leader ticks (the others are cut off and do not time out): no
  // round reaches anyone, so the read waits however long it takes.
  net.isolate(1);
  net.raft(1).read_index(8);
  for (int i = 0; i < 50; ++i) {
    net.tick(1);
    net.stabilize();
  }
  BOOST_TEST(net.node(1).reads.empty());
  BOOST_TEST(net.raft(1).get_status().pending_reads == 1u);
  net.heal();
  net.tick(1);
  net.stabilize();
  BOOST_TEST_REQUIRE(reads_of(1, 8).size() == 1u, "answered by the first round after the heal");
  BOOST_TEST(reads_of(1, 8)[0] == (read_state{8, 2, true}));
}

BOOST_FIXTURE_TEST_CASE(concurrent_reads_share_one_round_and_a_later_read_waits_for_the_next, three_with_leader) {
  for (std::uint64_t ctx = 1; ctx <= 3; ++ctx) net.raft(1).read_index(ctx);
  net.take_all();
  const auto first = rounds_in(net.in_flight());
  BOOST_TEST_REQUIRE(first.size() == 2u, "three reads, one heartbeat per follower");
  BOOST_TEST(first[0] == first[1]);
  // A read arriving after that round was sent must not be confirmed by it:
  // the round might have been answered before the read began.
  net.raft(1).read_index(4);
  net.take_all();
  const auto both = rounds_in(net.in_flight());
  BOOST_TEST_REQUIRE(both.size() == 4u);
  const std::uint64_t r1 = first[0];
  auto in_round = [&](std::uint64_t seq) {
    return [seq](const message& m) {
      const auto* h = body_of<heartbeat_request>(m);
      const auto* a = body_of<heartbeat_response>(m);
      return (h && h->read_seq == seq) || (a && a->read_seq == seq);
    };
  };
  net.deliver(in_round(r1));  // heartbeats of round 1
  net.deliver(in_round(r1));  // their echoes
  for (std::uint64_t ctx = 1; ctx <= 3; ++ctx) {
    BOOST_TEST_CONTEXT("read " << ctx) {
      BOOST_TEST_REQUIRE(reads_of(1, ctx).size() == 1u);
      BOOST_TEST(reads_of(1, ctx)[0] == (read_state{ctx, 2, true}));
    }
  }
  BOOST_TEST(reads_of(1, 4).empty(), "read 4 began after round 1 was sent");
  net.stabilize();
  BOOST_TEST_REQUIRE(reads_of(1, 4).size() == 1u);
  BOOST_TEST(reads_of(1, 4)[0].ok);
}

BOOST_AUTO_TEST_CASE(new_leader_answers_only_after_committing_its_noop) {
  // [thesis §6.4 step 1] A new leader may not know the commit index: node 2
  // holds "a" at index 2 but never heard it was committed. Answering with
  // its own commit index (1) would let a read miss the acknowledged write.
  full_fixture f(3);
  f.net.elect(1);
  f.net.run(1);
  f.net.propose(1, "a");
  f.net.sync(1);
  f.net.deliver(from_to(1, no_node));  // appends to 2 and 3
  f.net.sync_all();
  f.net.deliver(from_to(no_node, 1));  // acks: index 2 committed on the leader
  BOOST_TEST_REQUIRE(f.net.raft(1).commit_index() == 2u);
  BOOST_TEST_REQUIRE(f.net.raft(2).commit_index() == 1u);
  f.net.crash(1);
  f.net.in_flight().clear();
  f.net.raft(2).campaign();
  f.net.sync(2);
  f.net.deliver(from_to(2, 3));  // vote request
  f.net.sync(3);
  f.net.deliver(from_to(3, 2));  // vote
  BOOST_TEST_REQUIRE(f.net.raft(2).state() == role::leader);
  BOOST_TEST_REQUIRE(f.net.raft(2).commit_index() == 1u);
  f.net.raft(2).read_index(5);
  f.net.take_all();
  BOOST_TEST(f.reads_of(2, 5).empty());
  BOOST_TEST(rounds_in(f.net.in_flight()).empty(), "no read round before the no-op commits");
  BOOST_TEST(f.net.raft(2).get_status().pending_reads == 1u);
  f.net.stabilize();
  BOOST_TEST_REQUIRE(f.reads_of(2, 5).size() == 1u);
  BOOST_TEST(f.reads_of(2, 5)[0].ok);
  BOOST_TEST(f.reads_of(2, 5)[0].index >= 3u, "at least the no-op of term 2, after the write");
}

BOOST_AUTO_TEST_CASE(single_voter_answers_at_once) {
  full_fixture f(1);
  f.net.elect(1);
  BOOST_TEST_REQUIRE(f.net.raft(1).state() == role::leader);
  BOOST_TEST_REQUIRE(f.net.raft(1).commit_index() == 1u);
  f.net.raft(1).read_index(3);
  f.net.take_all();
  BOOST_TEST(f.net.in_flight().empty());
  BOOST_TEST_REQUIRE(f.reads_of(1, 3).size() == 1u, "its own majority: answered in the same batch");
  BOOST_TEST(f.reads_of(1, 3)[0] == (read_state{3, 1, true}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(losing_leadership)

BOOST_AUTO_TEST_CASE(pending_reads_fail_when_the_leader_steps_down) {
  // A leader's own read and a follower's read wait on leader 1; node 3
  // starts an election in a higher term and 1 steps down: both reads are
  // answered ok=false (retry elsewhere), never left hanging nor confirmed.
  three_with_leader f;
  f.net.raft(1).read_index(1);
  f.net.raft(2).read_index(9);
  f.net.take_all();
  f.net.deliver(from_to(2, 1));     // the follower's read_index_request
  f.net.drop(from_to(1, no_node));  // every heartbeat round is lost
  BOOST_TEST(f.net.raft(1).get_status().pending_reads == 2u);
  f.net.raft(3).campaign();
  f.net.sync(3);
  f.net.deliver(from_to(3, 1));
  BOOST_TEST(f.net.raft(1).state() == role::follower);
  BOOST_TEST_REQUIRE(f.reads_of(1, 1).size() == 1u);
  BOOST_TEST(!f.reads_of(1, 1)[0].ok);
  f.net.deliver(from_to(1, 2));  // the failure answer to the follower
  BOOST_TEST_REQUIRE(f.reads_of(2, 9).size() == 1u);
  BOOST_TEST(!f.reads_of(2, 9)[0].ok);
  f.net.stabilize();
  BOOST_TEST(f.reads_of(1, 1).size() == 1u);
  BOOST_TEST(f.reads_of(2, 9).size() == 1u);
}

BOOST_AUTO_TEST_CASE(check_quorum_step_down_fails_pending_reads) {
  // [thesis §6.2] with check-quorum on, a leader cut off from its majority
  // steps down after an election timeout, and its reads fail.
  core::options o = paper_options();
  o.check_quorum = true;
  three_with_leader f(o);
  f.net.isolate(1);
  f.net.raft(1).read_index(4);
  for (int i = 0; i < 2 * o.election_ticks && f.net.raft(1).state() == role::leader; ++i) f.net.tick(1);
  BOOST_TEST(f.net.raft(1).state() == role::follower);
  BOOST_TEST_REQUIRE(f.reads_of(1, 4).size() == 1u);
  BOOST_TEST(!f.reads_of(1, 4)[0].ok);
}

BOOST_AUTO_TEST_CASE(stale_leader_never_confirms_a_read) {
  // [thesis §6.4] Without check-quorum, leader 1 of term 1 is cut off and
  // 2 is elected in term 2 with 3, and commits "b". A read on 1 must not be
  // served: 1's commit index would miss "b".
  three_with_leader f;
  f.net.isolate(1);
  f.net.elect(2);
  BOOST_TEST_REQUIRE(f.net.raft(2).state() == role::leader);
  f.net.propose(2, "b");
  f.net.stabilize();
  BOOST_TEST_REQUIRE(f.net.raft(1).state() == role::leader, "1 has not heard of term 2");
  f.net.raft(1).read_index(6);
  for (int i = 0; i < 30; ++i) {
    f.net.tick(1);
    f.net.stabilize();
  }
  BOOST_TEST(f.reads_of(1, 6).empty());
  // The cut heals towards node 3 only: 3 answers 1's heartbeat with term 2.
  f.net.heal();
  f.net.cut(1, 2);
  f.net.tick(1);
  f.net.stabilize();
  BOOST_TEST(f.net.raft(1).state() == role::follower);
  BOOST_TEST_REQUIRE(f.reads_of(1, 6).size() == 1u);
  BOOST_TEST(!f.reads_of(1, 6)[0].ok, "never confirmed by a cluster that moved on");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(follower_reads)

BOOST_AUTO_TEST_CASE(a_follower_read_returns_the_leaders_commit_index) {
  // [thesis §6.4] "the follower ... requests the current readIndex from the
  // leader"; node 3 missed "b" and "c", so its own commit index is older.
  three_with_leader f;
  f.net.cut(1, 3);
  f.net.propose(1, "b");
  f.net.propose(1, "c");
  f.net.stabilize();
  f.net.heal();
  const index_t leader_commit = f.net.raft(1).commit_index();
  BOOST_TEST_REQUIRE(leader_commit == 4u);
  BOOST_TEST_REQUIRE(f.net.raft(3).commit_index() < leader_commit);
  f.net.raft(3).read_index(11);
  f.net.take_all();
  const auto req = of_type<read_index_request>(f.net.in_flight());
  BOOST_TEST_REQUIRE(req.size() == 1u);
  BOOST_TEST(req[0].to == 1u);
  f.net.stabilize();
  BOOST_TEST_REQUIRE(f.reads_of(3, 11).size() == 1u);
  BOOST_TEST(f.reads_of(3, 11)[0] == (read_state{11, leader_commit, true}));
  BOOST_TEST(f.reads_of(1, 11).empty(), "the leader answers the follower, not itself");
}

BOOST_AUTO_TEST_CASE(a_read_without_a_known_leader_fails_at_once) {
  full_fixture f(3);
  f.net.raft(2).read_index(5);
  f.net.take_all();
  BOOST_TEST(f.net.in_flight().empty());
  BOOST_TEST_REQUIRE(f.reads_of(2, 5).size() == 1u);
  BOOST_TEST(!f.reads_of(2, 5)[0].ok);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace coraft::test
