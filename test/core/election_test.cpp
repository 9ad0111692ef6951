// test/core/election_test.cpp — unit tests of leader election in the core:
// the term rules of [Fig. 2], one vote per term [§5.2], the election
// restriction [§5.4.1], votes sent only once durable [thesis §3.8],
// randomized timeouts resolving split votes [§5.2], the no-op of a new
// leader [§8], pre-vote [thesis §9.6], check-quorum and leader leases
// [thesis §6.2, §4.2.3].
#define BOOST_TEST_MODULE coraft_core_election
#include <boost/test/unit_test.hpp>

#include "fixtures.hpp"

namespace coraft::test {
namespace {

using core::role;

vote_request vote_for(log_id last) { return vote_request{last, false, false}; }

std::optional<bool> granted_in(const std::vector<message>& ms, node_id to) {
  for (const auto& m : ms)
    if (const auto* r = body_of<vote_response>(m); r && m.to == to) return r->granted;
  return std::nullopt;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(terms)

BOOST_AUTO_TEST_CASE(stale_vote_request_is_rejected) {
  // [Fig. 2 RequestVote] "Reply false if term < currentTerm."
  one_core c(paper_options(), hard_state{5, no_node});
  const auto rd = c.step(2, 3, vote_for({3, 10}));
  BOOST_TEST(c.r.term() == 5u);
  BOOST_TEST(c.r.get_status().voted_for == no_node);
  const auto replies = of_type<vote_response>(all_sent(rd));
  BOOST_TEST_REQUIRE(replies.size() == 1u, "the stale candidate gets an answer");
  BOOST_TEST(!body_of<vote_response>(replies[0])->granted);
  BOOST_TEST(replies[0].term == 5u, "the answer carries our term so the candidate updates itself");
}

BOOST_AUTO_TEST_CASE(leader_that_sees_a_higher_term_becomes_follower) {
  // [§5.1] "If a candidate or leader discovers that its term is out of date,
  // it immediately reverts to follower state."
  // [Fig. 2] "If RPC request or response contains term T > currentTerm:
  // set currentTerm = T, convert to follower."
  one_core c;
  c.become_leader();
  BOOST_TEST_REQUIRE(c.r.term() == 1u);
  const auto rd = c.step(3, 7, heartbeat_response{});
  BOOST_TEST(c.r.state() == role::follower);
  BOOST_TEST(c.r.term() == 7u);
  BOOST_TEST_REQUIRE(rd.persist_state.has_value(), "the new term is persisted");
  BOOST_TEST(*rd.persist_state == (hard_state{7, no_node}));
}

BOOST_AUTO_TEST_CASE(a_term_past_max_term_is_dropped_and_terms_never_wrap) {
  // [issue 15 review] A heartbeat of term 2^64-1 from a hostile or broken
  // peer was adopted (and persisted), after which current_term + 1 wrapped:
  // no node could campaign again, not even after a restart. Such a message
  // is dropped; and a node at the last usable term does not campaign.
  one_core c;
  c.become_leader();
  const auto rd = c.step(2, ~term_t{0}, heartbeat_request{0, 0});
  BOOST_TEST(c.r.term() == 1u, "the term is not taken");
  BOOST_TEST(c.r.state() == role::leader);
  BOOST_TEST(!rd.persist_state.has_value());
  (void)c.step(2, max_term, heartbeat_request{0, 0});
  BOOST_TEST(c.r.term() == 1u);
  one_core d(paper_options(), hard_state{max_term - 1, no_node});
  d.r.campaign();
  BOOST_TEST(d.r.term() == max_term - 1, "no term to campaign in: stays put");
  BOOST_TEST(d.r.state() == role::follower);
}

BOOST_AUTO_TEST_CASE(follower_adopts_higher_term_even_when_refusing_the_vote) {
  // [Fig. 2] "If RPC request or response contains term T > currentTerm:
  // set currentTerm = T, convert to follower" — whatever the request's outcome.
  one_core c(paper_options(), hard_state{2, 3}, make_log({1, 2, 2}));
  const auto rd = c.step(2, 4, vote_for({1, 9}));  // candidate's log is behind ours
  BOOST_TEST(c.r.term() == 4u);
  BOOST_TEST(granted_in(rd.send_after_sync, 2) == std::optional<bool>(false));
  BOOST_TEST_REQUIRE(rd.persist_state.has_value());
  BOOST_TEST(*rd.persist_state == (hard_state{4, no_node}), "the old vote belongs to term 2");
}

BOOST_AUTO_TEST_CASE(candidate_recognizes_leader_of_its_term) {
  // [§5.2] "If the leader's term (included in its RPC) is at least as large
  // as the candidate's current term, then the candidate recognizes the leader
  // as legitimate and returns to follower state."
  one_core c;
  c.r.campaign();
  c.take();
  BOOST_TEST_REQUIRE(c.r.state() == role::candidate);
  const term_t t = c.r.term();
  c.step(3, t, append_request{{0, 0}, {}, 0});
  BOOST_TEST(c.r.state() == role::follower);
  BOOST_TEST(c.r.term() == t);
  BOOST_TEST(c.r.leader() == 3u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(votes)

BOOST_AUTO_TEST_CASE(one_vote_per_term_first_come_first_served) {
  // [§5.2] "Each server will vote for at most one candidate in a given term,
  // on a first-come-first-served basis."
  // [Fig. 2] "If votedFor is null or candidateId ... grant vote."
  one_core c;
  auto rd = c.step(2, 2, vote_for({0, 0}));
  BOOST_TEST(granted_in(rd.send_after_sync, 2) == std::optional<bool>(true));
  rd = c.step(3, 2, vote_for({0, 0}));
  BOOST_TEST(granted_in(rd.send_after_sync, 3) == std::optional<bool>(false),
             "a second candidate of the same term is refused");
  rd = c.step(2, 2, vote_for({0, 0}));
  BOOST_TEST(granted_in(rd.send_after_sync, 2) == std::optional<bool>(true),
             "a retransmitted request of the same candidate is granted again");
  BOOST_TEST(c.r.get_status().voted_for == 2u);
  rd = c.step(3, 3, vote_for({0, 0}));
  BOOST_TEST(granted_in(rd.send_after_sync, 3) == std::optional<bool>(true), "a new term brings a new vote");
}

BOOST_AUTO_TEST_CASE(vote_only_for_an_up_to_date_candidate) {
  // [§5.4.1] "the voter denies its vote if its own log is more up-to-date
  // than that of the candidate. ... If the logs have last entries with
  // different terms, then the log with the later term is more up-to-date. If
  // the logs end with the same term, then whichever log is longer is more
  // up-to-date."
  struct row {
    log_id candidate_last;
    bool granted;
    const char* why;
  };
  // The voter's log ends at (2,3).
  const row rows[] = {
      {{1, 5}, false, "earlier last term, longer log"}, {{2, 2}, false, "same last term, shorter log"},
      {{2, 3}, true, "identical last entry"},           {{2, 4}, true, "same last term, longer log"},
      {{3, 1}, true, "later last term, shorter log"},
  };
  for (const row& r : rows) {
    BOOST_TEST_CONTEXT(r.why) {
      one_core c(paper_options(), hard_state{2, no_node}, make_log({1, 2, 2}));
      const auto rd = c.step(2, 5, vote_for(r.candidate_last));
      BOOST_TEST(granted_in(rd.send_after_sync, 2) == std::optional<bool>(r.granted));
      BOOST_TEST(c.r.get_status().voted_for == (r.granted ? node_id{2} : no_node));
    }
  }
}

BOOST_AUTO_TEST_CASE(vote_is_sent_only_after_the_vote_is_durable) {
  // [thesis §3.8] "servers ... must persist [currentTerm and votedFor] to
  // stable storage before responding to RPCs": the grant is an after-sync
  // message and its hard state is in the same ready batch.
  one_core c;
  const auto rd = c.step(2, 4, vote_for({0, 0}));
  BOOST_TEST(of_type<vote_response>(rd.send_now).empty());
  BOOST_TEST(granted_in(rd.send_after_sync, 2) == std::optional<bool>(true));
  BOOST_TEST_REQUIRE(rd.persist_state.has_value());
  BOOST_TEST(*rd.persist_state == (hard_state{4, 2}));
}

BOOST_AUTO_TEST_CASE(candidate_requests_votes_only_after_its_own_vote_is_durable) {
  // [§5.2] "a follower increments its current term ... votes for itself and
  // issues RequestVote RPCs"; the request promises that self-vote, so it
  // waits for the disk [thesis §3.8]. A crash before the sync loses nothing
  // that anyone was told.
  net_fixture f(3);
  f.net.raft(1).campaign();
  f.net.take_all();
  BOOST_TEST(f.net.in_flight().empty(), "no vote request before the self-vote is durable");
  BOOST_TEST(f.net.node(1).disk().state.current_term == 0u);
  f.net.sync(1);
  BOOST_TEST(f.net.node(1).disk().state == (hard_state{1, 1}));
  BOOST_TEST(of_type<vote_request>(f.net.in_flight()).size() == 2u);

  // The same story with a crash before the sync: nothing went out.
  net_fixture g(3);
  g.net.raft(2).campaign();
  g.net.take_all();
  g.net.crash(2);
  g.net.restart(2);
  BOOST_TEST(g.net.in_flight().empty());
  BOOST_TEST(g.net.raft(2).term() == 0u);
  BOOST_TEST(g.net.raft(2).state() == role::follower);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(elections)

BOOST_AUTO_TEST_CASE(candidate_with_majority_becomes_leader_and_commits_a_noop) {
  // [§5.2] "A candidate wins an election if it receives votes from a majority
  // of the servers in the full cluster for the same term."
  // [§8] "Raft handles this by having each leader commit a blank no-op entry
  // into the log at the start of its term."
  net_fixture f(3);
  f.net.elect(1);
  BOOST_TEST_REQUIRE(f.net.raft(1).state() == role::leader);
  BOOST_TEST(f.net.raft(2).leader() == 1u);
  const entry* noop = f.net.raft(1).entry_at(1);
  BOOST_TEST_REQUIRE(noop != nullptr);
  BOOST_TEST(noop->type == entry_type::noop);
  BOOST_TEST(noop->term == f.net.raft(1).term());
  BOOST_TEST(f.net.raft(1).commit_index() == 1u);
  // Followers learn the commit index with the next heartbeat and apply.
  f.net.run(1);
  for (node_id id : {1, 2, 3}) {
    BOOST_TEST_CONTEXT("node " << id) {
      BOOST_TEST(f.net.raft(id).commit_index() == 1u);
      BOOST_TEST_REQUIRE(f.net.node(id).applied().size() == 1u);
      BOOST_TEST(f.net.node(id).applied()[0].type == entry_type::noop);
    }
  }
}

BOOST_AUTO_TEST_CASE(new_leader_sends_its_noop_in_parallel_with_its_own_write) {
  // [thesis §10.2.1] "The leader ... can write to its disk in parallel" with
  // replication: the appends are in send_now, beside persist_entries.
  one_core c;
  const auto rd = c.become_leader();
  BOOST_TEST_REQUIRE(rd.persist_entries.size() == 1u);
  BOOST_TEST(rd.persist_entries[0].type == entry_type::noop);
  const auto appends = of_type<append_request>(rd.send_now);
  BOOST_TEST(appends.size() == 2u);
  for (const auto& m : appends) BOOST_TEST(body_of<append_request>(m)->entries.size() == 1u);
}

// Runs the cluster one tick at a time until one leader is known to all;
// returns the number of ticks it took, or -1.
int ticks_until_agreed_leader(cluster& net, int limit) {
  for (int t = 0; t < limit; ++t) {
    net.run(1);
    auto l = net.leader();
    if (!l) continue;
    bool all_follow = true;
    for (node_id id : net.ids()) all_follow &= net.raft(id).leader() == *l;
    if (all_follow) return t + 1;
  }
  return -1;
}

BOOST_AUTO_TEST_CASE(split_votes_are_resolved_by_randomized_timeouts) {
  // [§5.2] "Raft uses randomized election timeouts to ensure that split votes
  // are rare and that they are resolved quickly."
  for (std::size_t n : {3u, 5u}) {
    for (std::uint64_t seed : {1u, 2u, 3u, 42u}) {
      BOOST_TEST_CONTEXT(n << " nodes, seed " << seed) {
        core::options o = paper_options();
        o.seed = seed;
        net_fixture f(n, o);
        // Everyone campaigns at the same moment: each votes for itself, so
        // nobody can win term 1.
        for (node_id id : f.net.ids()) f.net.raft(id).campaign();
        f.net.stabilize();
        BOOST_TEST(!f.net.leader().has_value(), "a split vote");
        for (node_id id : f.net.ids()) BOOST_TEST(f.net.raft(id).term() == 1u);
        const int ticks = ticks_until_agreed_leader(f.net, 10 * 2 * o.election_ticks);
        BOOST_TEST(ticks > 0, "a leader is elected");
        BOOST_TEST(f.net.raft(*f.net.leader()).term() >= 2u);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(simultaneous_pre_candidates_still_elect_one_leader) {
  // [§5.2] with pre-vote [thesis §9.6] on (the default).
  for (std::size_t n : {3u, 5u}) {
    BOOST_TEST_CONTEXT(n << " nodes") {
      net_fixture f(n, core::options{});
      for (node_id id : f.net.ids()) f.net.raft(id).campaign();
      f.net.stabilize();
      const int ticks = ticks_until_agreed_leader(f.net, 10 * 2 * 10);
      BOOST_TEST(ticks >= 0, "a leader is elected");
    }
  }
}

BOOST_AUTO_TEST_CASE(election_timeout_starts_an_election) {
  // [§5.2] "If a follower receives no communication over a period of time
  // called the election timeout, then it assumes there is no viable leader
  // and begins an election"; timeouts are drawn from [T, 2T).
  net_fixture f(3, core::options{});
  const int t = ticks_until_agreed_leader(f.net, 2 * 10 + 5);
  BOOST_TEST(t >= 10, "no election before the minimum timeout");
  BOOST_TEST(t > 0);
}

BOOST_AUTO_TEST_CASE(a_single_voter_leads_only_once_its_own_vote_is_durable) {
  // [thesis §3.8] A vote is acted on only once durable — our own too. A
  // single voter that led on an unsynced self-vote could, after a crash,
  // vote again in the same term (for a removed server still finishing its
  // removal, or for itself with a different log): two leaders of one term.
  one_core c(paper_options(), hard_state{}, {}, std::vector<node_id>{1});
  c.r.campaign();
  const auto rd = c.take();
  BOOST_TEST(c.r.state() == role::candidate, "not yet: its vote is not durable");
  BOOST_TEST_REQUIRE(rd.persist_state.has_value());
  BOOST_TEST(*rd.persist_state == (hard_state{1, 1}));
  BOOST_TEST(rd.persist_entries.empty(), "no no-op before it leads");
  c.r.state_synced(0);
  BOOST_TEST(c.r.state() == role::candidate, "an older state's sync says nothing");
  c.r.state_synced(1);
  BOOST_TEST(c.r.state() == role::leader);
  const auto after = c.take();
  BOOST_TEST_REQUIRE(after.persist_entries.size() == 1u);
  BOOST_TEST(after.persist_entries[0].id() == (log_id{1, 1}), "its term's no-op [§8]");
}

BOOST_AUTO_TEST_CASE(a_single_voter_that_moved_on_before_its_vote_was_durable_does_not_lead) {
  one_core c(paper_options(), hard_state{}, {}, std::vector<node_id>{1});
  c.r.campaign();
  c.take();
  c.step(2, 5, heartbeat_request{0, 0});  // a newer term's leader (e.g. of a later config)
  BOOST_TEST_REQUIRE(c.r.term() == 5u);
  c.r.state_synced(1);
  BOOST_TEST(c.r.state() == role::follower);
  c.r.state_synced(5);
  BOOST_TEST(c.r.state() == role::follower, "it never campaigned in term 5");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(pre_vote_and_check_quorum)

// The story of [thesis §9.6]: node 3 is cut off from a healthy cluster for
// many election timeouts, then rejoins. Returns the highest term afterwards.
term_t term_after_node_3_rejoins(net_fixture& f) {
  f.net.elect(1);
  f.net.run(3);
  BOOST_TEST_REQUIRE(f.net.raft(1).term() == 1u);
  f.net.isolate(3);
  f.net.run(5 * 2 * 10);
  f.net.heal();
  f.net.run(3 * 10);
  term_t highest = 0;
  for (node_id id : f.net.ids()) highest = std::max(highest, f.net.raft(id).term());
  return highest;
}

BOOST_AUTO_TEST_CASE(pre_vote_keeps_a_rejoining_node_from_raising_the_term) {
  // [thesis §9.6] "a candidate would first ask other servers whether its log
  // was up-to-date enough to get their vote. Only if the candidate believed
  // it could get votes from a majority of the cluster would it increment its
  // term and start a normal election."
  net_fixture f(3, core::options{});
  BOOST_TEST(term_after_node_3_rejoins(f) == 1u, "the cluster's term is unchanged");
  BOOST_TEST(f.net.raft(1).state() == role::leader, "the leader was not disrupted");
  BOOST_TEST(f.net.raft(3).leader() == 1u);
  BOOST_TEST(f.logs_match({1, 2, 3}));
}

BOOST_AUTO_TEST_CASE(without_pre_vote_the_same_rejoin_disrupts_the_cluster) {
  // The control for the test above: the isolated node's repeated elections
  // inflate its term, and rejoining forces the cluster to that term.
  core::options o;
  o.pre_vote = false;
  net_fixture f(3, o);
  BOOST_TEST(term_after_node_3_rejoins(f) > 1u);
}

BOOST_AUTO_TEST_CASE(isolated_leader_steps_down_within_two_election_timeouts) {
  // [thesis §6.2] "a leader steps down if an election timeout elapses without
  // a successful round of heartbeats to a majority of its cluster".
  net_fixture f(3, core::options{});
  f.net.elect(1);
  f.net.run(3);
  f.net.isolate(1);
  const auto proposed = f.net.raft(1).propose("lost");
  BOOST_TEST_REQUIRE(proposed.result == core::propose_result::code::accepted);
  int stepped_down_after = -1;
  for (int t = 1; t <= 2 * 10; ++t) {
    f.net.run(1);
    if (f.net.raft(1).state() != role::leader) {
      stepped_down_after = t;
      break;
    }
  }
  BOOST_TEST(stepped_down_after > 0, "node 1 stepped down");
  BOOST_TEST(f.net.raft(1).commit_index() < proposed.id.index, "the minority never commits");
  f.net.run(2 * 10);
  const auto l = f.net.leader();
  BOOST_TEST_REQUIRE(l.has_value());
  BOOST_TEST((*l == 2u || *l == 3u), "the majority elects a new leader");
}

BOOST_AUTO_TEST_CASE(follower_in_lease_ignores_a_higher_term_vote_request) {
  // [thesis §4.2.3] "if a server receives a RequestVote request within the
  // minimum election timeout of hearing from a current leader, it does not
  // update its term or grant its vote."
  one_core c{core::options{}};
  c.step(2, 1, heartbeat_request{0});
  BOOST_TEST_REQUIRE(c.r.leader() == 2u);
  auto rd = c.step(3, 2, vote_for({0, 0}));
  BOOST_TEST(c.r.term() == 1u, "the term is not updated");
  BOOST_TEST(!granted_in(all_sent(rd), 3).value_or(false), "the vote is not granted");
  BOOST_TEST(c.r.leader() == 2u);
  // Once a full election timeout passes without the leader, the lease is
  // over and the same request wins the vote.
  for (int i = 0; i < 10; ++i) {
    c.r.tick();
    c.take();
  }
  rd = c.step(3, 2, vote_for({0, 0}));
  BOOST_TEST(c.r.term() == 2u);
  BOOST_TEST(granted_in(rd.send_after_sync, 3) == std::optional<bool>(true));
}

BOOST_AUTO_TEST_CASE(without_check_quorum_a_follower_grants_that_vote_at_once) {
  // The control for the lease test: the lease comes from check-quorum.
  core::options o;
  o.check_quorum = false;
  one_core c{o};
  c.step(2, 1, heartbeat_request{0});
  const auto rd = c.step(3, 2, vote_for({0, 0}));
  BOOST_TEST(c.r.term() == 2u);
  BOOST_TEST(granted_in(rd.send_after_sync, 3) == std::optional<bool>(true));
}

BOOST_AUTO_TEST_CASE(pre_vote_changes_neither_term_nor_vote) {
  // [thesis §9.6] A pre-vote is a question, not a vote: the receiver neither
  // updates its term nor records a vote, and answers at once.
  one_core c{core::options{}, hard_state{3, no_node}};
  const auto rd = c.step(2, 4, vote_request{{0, 0}, true, false});
  BOOST_TEST(c.r.term() == 3u);
  BOOST_TEST(c.r.get_status().voted_for == no_node);
  BOOST_TEST(!rd.persist_state.has_value());
  const auto replies = of_type<vote_response>(rd.send_now);
  BOOST_TEST_REQUIRE(replies.size() == 1u);
  BOOST_TEST(body_of<vote_response>(replies[0])->granted);
  BOOST_TEST(body_of<vote_response>(replies[0])->pre_vote);
}

BOOST_AUTO_TEST_CASE(campaign_with_pre_vote_does_not_bump_the_term_until_it_could_win) {
  // [thesis §9.6] "Only if the candidate believed it could get votes from a
  // majority of the cluster would it increment its term".
  one_core c{core::options{}, hard_state{3, no_node}};
  c.r.campaign();
  auto rd = c.take();
  BOOST_TEST(c.r.state() == role::pre_candidate);
  BOOST_TEST(c.r.term() == 3u);
  const auto asks = of_type<vote_request>(all_sent(rd));
  BOOST_TEST_REQUIRE(asks.size() == 2u);
  for (const auto& m : asks) {
    BOOST_TEST(body_of<vote_request>(m)->pre_vote);
    BOOST_TEST(m.term == 4u, "asks about the term it would campaign in");
  }
  rd = c.step(2, 4, vote_response{true, true});
  BOOST_TEST(c.r.state() == role::candidate);
  BOOST_TEST(c.r.term() == 4u);
  BOOST_TEST_REQUIRE(rd.persist_state.has_value());
  BOOST_TEST(*rd.persist_state == (hard_state{4, 1}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace coraft::test
