// test/core/replication_test.cpp — unit tests of log replication in the
// core: the AppendEntries receiver rules of [Fig. 2] and [§5.3], fast
// backtracking, acks only once durable [thesis §3.8], the commit rule
// [§5.4.2] with the paper's Figure 8 story, the Figure 7 logs repaired by a
// new leader, the leader's own write counting only once synced
// [thesis §10.2.1], applying only what is committed and durable, batching,
// pipelining, heartbeats, and proposals on a follower.
#define BOOST_TEST_MODULE coraft_core_replication
#include <boost/test/unit_test.hpp>

#include "fixtures.hpp"

#include <map>
#include <memory>

namespace coraft::test {
namespace {

using core::role;

// A follower (node 1 of {1,2,3}) whose log is `terms` and whose current term
// is `term`, stepped by leader 2.
struct follower {
  one_core c;
  follower(std::initializer_list<term_t> terms, term_t term)
      : c(paper_options(), hard_state{term, no_node}, make_log(terms)) {}

  core::ready append(term_t term, log_id prev, std::vector<entry> entries, index_t commit = 0) {
    return c.step(2, term, append_request{prev, std::move(entries), commit});
  }
  std::vector<term_t> terms() const {
    std::vector<term_t> out;
    for (index_t i = 1; i <= c.r.last_log().index; ++i) out.push_back(*c.r.term_at(i));
    return out;
  }
};

entry e(term_t term, index_t index, std::string data = {}) {
  return entry{term, index, entry_type::normal, data.empty() ? "e" + std::to_string(index) : data};
}

std::optional<append_response> reply_in(const std::vector<message>& ms) {
  for (const auto& m : ms)
    if (const auto* r = body_of<append_response>(m)) return *r;
  return std::nullopt;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(append_entries_receiver)

BOOST_AUTO_TEST_CASE(stale_append_request_is_rejected) {
  // [Fig. 2 AppendEntries] "Reply false if term < currentTerm"; the reply
  // carries currentTerm "for leader to update itself".
  for (const bool extensions : {true, false}) {
    BOOST_TEST_CONTEXT((extensions ? "pre-vote and check-quorum on" : "paper options")) {
      core::options o = extensions ? core::options{} : paper_options();
      one_core c(o, hard_state{5, no_node}, make_log({1}));
      const auto rd = c.step(2, 3, append_request{{1, 1}, {e(3, 2)}, 1});
      BOOST_TEST(c.r.last_log() == (log_id{1, 1}), "the stale leader's entry is not appended");
      BOOST_TEST(c.r.term() == 5u);
      BOOST_TEST(c.r.leader() == no_node);
      const auto sent = all_sent(rd);
      BOOST_TEST_REQUIRE(to_node(sent, 2).size() == 1u, "the stale leader gets an answer");
      BOOST_TEST(sent[0].term == 5u);
      const auto r = reply_in(sent);
      BOOST_TEST(!(r && r->success), "the answer is not a success");
    }
  }
}

BOOST_AUTO_TEST_CASE(consistency_check_refuses_a_missing_or_different_prev_entry) {
  // [§5.3] "If the follower does not find an entry in its log with the same
  // index and term, then it refuses the new entries."
  follower f({1, 1, 2}, 2);
  auto r = reply_in(f.append(2, {2, 4}, {e(2, 5)}).send_after_sync);
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(!r->success, "no entry at index 4");
  BOOST_TEST(r->index == 4u);
  r = reply_in(f.append(2, {1, 3}, {e(2, 4)}).send_after_sync);
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(!r->success, "entry 3 has term 2, not 1");
  BOOST_TEST((f.terms() == std::vector<term_t>{1, 1, 2}), "the log is untouched");
  r = reply_in(f.append(2, {2, 3}, {e(2, 4)}).send_after_sync);
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->success);
  BOOST_TEST(r->index == 4u, "matches through prev + entries");
  BOOST_TEST((f.terms() == std::vector<term_t>{1, 1, 2, 2}));
}

BOOST_AUTO_TEST_CASE(conflicting_suffix_is_deleted) {
  // [Fig. 2] "If an existing entry conflicts with a new one (same index but
  // different terms), delete the existing entry and all that follow it."
  // [§5.3] "the leader handles inconsistencies by forcing the followers' logs
  // to duplicate its own."
  follower f({1, 1, 1, 1}, 1);
  const auto rd = f.append(3, {1, 2}, {e(3, 3)});
  BOOST_TEST((f.terms() == std::vector<term_t>{1, 1, 3}), "entries 3 and 4 of term 1 are gone");
  BOOST_TEST_REQUIRE(rd.persist_entries.size() == 1u, "storage is told to overwrite from index 3");
  BOOST_TEST(rd.persist_entries[0] == e(3, 3));
  const auto r = reply_in(rd.send_after_sync);
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->success);
  BOOST_TEST(r->index == 3u);
}

BOOST_AUTO_TEST_CASE(retransmitted_append_does_not_truncate_later_entries) {
  // [Fig. 2] "Append any new entries not already in the log": deletion is
  // only for conflicts. The story: the follower receives 2, then 3, then the
  // append carrying 2 again (a retransmission that the network delayed). It
  // must keep 3, which it may already have acknowledged.
  follower f({}, 1);
  f.append(1, {0, 0}, {e(1, 1), e(1, 2)});
  f.append(1, {1, 2}, {e(1, 3)});
  const auto rd = f.append(1, {1, 1}, {e(1, 2)});
  BOOST_TEST((f.terms() == std::vector<term_t>{1, 1, 1}));
  BOOST_TEST(rd.persist_entries.empty(), "nothing new to write");
  const auto r = reply_in(rd.send_after_sync);
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->success);
  BOOST_TEST(r->index == 2u, "acknowledges what this request proves, prev + entries");
}

BOOST_AUTO_TEST_CASE(follower_commit_is_min_of_leader_commit_and_last_new_entry) {
  // [Fig. 2] "If leaderCommit > commitIndex, set commitIndex =
  // min(leaderCommit, index of last new entry)."
  follower f({1, 1, 1}, 1);
  f.append(2, {1, 1}, {e(2, 2)}, 3);
  BOOST_TEST(f.c.r.commit_index() == 2u,
             "entry 3 was not vouched for by this request: it is not known to be the leader's");
  f.append(2, {2, 2}, {e(2, 3), e(2, 4)}, 3);
  BOOST_TEST(f.c.r.commit_index() == 3u);
}

BOOST_AUTO_TEST_CASE(append_ack_is_sent_only_after_the_entries_are_durable) {
  // [thesis §3.8] an acknowledgment promises the entries are on stable
  // storage: it is an after-sync message, beside the entries to persist.
  follower f({}, 1);
  const auto rd = f.append(1, {0, 0}, {e(1, 1), e(1, 2)});
  BOOST_TEST(of_type<append_response>(rd.send_now).empty());
  BOOST_TEST(reply_in(rd.send_after_sync).has_value());
  BOOST_TEST(rd.persist_entries.size() == 2u);
}

BOOST_AUTO_TEST_CASE(follower_applies_only_committed_and_durable_entries) {
  // [Fig. 2] "If commitIndex > lastApplied: ... apply log[lastApplied] to
  // state machine"; here also only once the entries are durable locally.
  follower f({}, 1);
  auto rd = f.append(1, {0, 0}, {e(1, 1), e(1, 2), e(1, 3)}, 2);
  BOOST_TEST(f.c.r.commit_index() == 2u);
  BOOST_TEST(rd.apply.empty(), "committed but not yet durable here");
  f.c.r.synced_to({1, 3});
  rd = f.c.take();
  BOOST_TEST_REQUIRE(rd.apply.size() == 2u, "applied up to the commit index, not beyond");
  BOOST_TEST(rd.apply[0].index == 1u);
  BOOST_TEST(rd.apply[1].index == 2u);
  rd = f.append(1, {1, 3}, {}, 3);
  BOOST_TEST_REQUIRE(rd.apply.size() == 1u, "each entry is handed out exactly once");
  BOOST_TEST(rd.apply[0].index == 3u);
}

BOOST_AUTO_TEST_CASE(append_before_the_follower_commit_is_answered_with_the_commit) {
  // A delayed append whose prev is below our commit index can only confirm
  // what is committed: answer success at the commit index (as etcd-io/raft).
  follower f({}, 1);
  f.append(1, {0, 0}, {e(1, 1), e(1, 2), e(1, 3)}, 3);
  BOOST_TEST_REQUIRE(f.c.r.commit_index() == 3u);
  const auto r = reply_in(f.append(1, {1, 1}, {e(1, 2)}, 3).send_after_sync);
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->success);
  BOOST_TEST(r->index == 3u);
  BOOST_TEST(f.c.r.last_log() == (log_id{1, 3}));
}

BOOST_AUTO_TEST_CASE(rejection_hint_names_an_entry_of_the_follower) {
  // [§5.3] "when rejecting an AppendEntries request, the follower can include
  // the term of the conflicting entry and the first index it stores for that
  // term" so the leader can skip past it. Whatever the exact hint, it must
  // point at or before the rejected index and describe the follower's log.
  {
    follower f({1, 1, 2}, 3);  // shorter than the leader's prev
    const auto r = reply_in(f.append(3, {3, 9}, {}).send_after_sync);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(!r->success);
    BOOST_TEST(r->hint == (log_id{2, 3}), "a short log hints its last entry");
  }
  {
    follower f({1, 1, 2, 2, 2, 2}, 3);  // a long run of term 2 the leader lacks
    const auto r = reply_in(f.append(3, {3, 6}, {}).send_after_sync);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(!r->success);
    BOOST_TEST(r->index == 6u);
    BOOST_TEST(r->hint.index <= 6u);
    BOOST_TEST(f.c.r.term_at(r->hint.index) == std::optional<term_t>(r->hint.term));
    BOOST_TEST(r->hint.term < 3u, "the hint skips the conflicting term");
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
// Figure 7: a new leader forces the followers' logs to match its own.

namespace {

// A network of bare cores whose disks sync at once: each ready batch is
// persisted, synced_to() is called and all its messages are delivered.
// Counts the rejections each follower sends.
struct lockstep {
  std::map<node_id, std::unique_ptr<core::raft>> nodes;
  std::map<node_id, int> rejections;
  std::vector<message> net;

  ~lockstep() {
    for (auto& [id, r] : nodes) r->check_invariants();
  }

  void add(node_id id, std::vector<node_id> voters, hard_state hs, std::vector<entry> log) {
    core::options o = paper_options();
    o.id = id;
    nodes.emplace(id, std::make_unique<core::raft>(o, std::move(voters), hs, std::move(log)));
  }

  void pump() {
    for (int round = 0; round < 1000; ++round) {
      bool any = false;
      for (auto& [id, r] : nodes) {
        while (r->has_ready()) {
          any = true;
          core::ready rd = r->take_ready();
          for (auto& m : rd.send_now) net.push_back(std::move(m));
          if (!rd.persist_entries.empty()) r->synced_to(rd.persist_entries.back().id());
          if (rd.persist_state) r->state_synced(rd.persist_state->current_term);
          for (auto& m : rd.send_after_sync) net.push_back(std::move(m));
        }
        r->check_invariants();
      }
      if (!any && net.empty()) return;
      auto batch = std::move(net);
      net.clear();
      for (const auto& m : batch) {
        if (const auto* a = body_of<append_response>(m); a && !a->success) ++rejections[m.from];
        nodes.at(m.to)->step(m);
      }
    }
    BOOST_ERROR("lockstep network did not quiesce");
  }

  std::vector<term_t> terms(node_id id) const {
    const core::raft& r = *nodes.at(id);
    std::vector<term_t> out;
    for (index_t i = 1; i <= r.last_log().index; ++i) out.push_back(*r.term_at(i));
    return out;
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(figure_7_followers_are_brought_to_match_the_new_leader) {
  // [§5.3, Fig. 7] "When the leader at the top comes to power, it is possible
  // that any of scenarios (a-f) could occur in follower logs. ... a follower
  // may be missing entries (a-b), may have extra uncommitted entries (c-d),
  // or both (e-f)." "the leader handles inconsistencies by forcing the
  // followers' logs to duplicate its own." With the hint, "one AppendEntries
  // RPC will be required for each term with conflicting entries, rather than
  // one RPC per entry."
  const std::vector<node_id> voters{1, 2, 3, 4, 5, 6, 7};
  struct follower_log {
    const char* name;
    node_id id;
    std::vector<entry> log;
    int max_rejections;
  };
  const std::vector<follower_log> followers{
      {"a", 2, make_log({1, 1, 1, 4, 4, 5, 5, 6, 6}), 1},
      {"b", 3, make_log({1, 1, 1, 4}), 1},
      {"c", 4, make_log({1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6}), 0},
      {"d", 5, make_log({1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7}), 0},
      {"e", 6, make_log({1, 1, 1, 4, 4, 4, 4}), 2},
      {"f", 7, make_log({1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3}), 3},
  };
  const auto leader_log = make_log({1, 1, 1, 4, 4, 5, 5, 6, 6, 6});
  lockstep net;
  net.add(1, voters, hard_state{7, no_node}, leader_log);
  for (const auto& f : followers) net.add(f.id, voters, hard_state{7, no_node}, f.log);

  net.nodes.at(1)->campaign();
  net.pump();
  core::raft& leader = *net.nodes.at(1);
  BOOST_TEST_REQUIRE(leader.state() == role::leader, "a, b, e and f vote for the leader of Fig. 7");
  BOOST_TEST(leader.term() == 8u);
  const std::vector<term_t> expected{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 8};
  BOOST_TEST(net.terms(1) == expected, "the leader's log plus its no-op of term 8");
  for (const auto& f : followers) {
    BOOST_TEST_CONTEXT("follower (" << f.name << ")") {
      BOOST_TEST(net.terms(f.id) == expected);
      for (index_t i = 1; i <= 10; ++i) BOOST_TEST(net.nodes.at(f.id)->entry_at(i)->data == leader.entry_at(i)->data);
      BOOST_TEST(net.rejections[f.id] <= f.max_rejections, "one rejection per conflicting term at most");
      if (f.max_rejections > 0) BOOST_TEST(net.rejections[f.id] >= 1, "the leader had to back up");
    }
  }
  BOOST_TEST(leader.commit_index() == 11u);
}

// ---------------------------------------------------------------------------
// The commit rule.

BOOST_AUTO_TEST_SUITE(commit)

BOOST_FIXTURE_TEST_CASE(leader_counts_its_own_entry_only_after_synced_to, three_nodes) {
  // [thesis §10.2.1] the leader writes its log in parallel with replication;
  // its own copy counts towards the majority only once it is durable.
  // [Fig. 2] "a majority of matchIndex[i] >= N ... set commitIndex = N".
  net.elect(1);
  net.run(1);
  const auto p = net.raft(1).propose("x");
  BOOST_TEST_REQUIRE(p.result == core::propose_result::code::accepted);
  net.take_all();
  net.deliver(from_to(1, 2));
  net.drop(from_to(1, 3));
  net.sync(2);
  net.deliver(from_to(2, 1));
  BOOST_TEST(net.raft(1).commit_index() < p.id.index,
             "node 2's copy alone is not a majority while the leader's write is pending");
  net.sync(1);
  BOOST_TEST(net.raft(1).commit_index() == p.id.index, "the leader's synced copy completes the majority");
}

BOOST_FIXTURE_TEST_CASE(leader_applies_only_after_its_own_write_is_durable, three_nodes) {
  // [thesis §10.2.1] "the leader can commit an entry once a majority of
  // followers have written it, even if the leader itself has not" — but it
  // applies (and answers the client) only once its own copy is durable too.
  net.elect(1);
  net.run(1);
  const auto p = net.raft(1).propose("y");
  net.take_all();
  net.deliver(from_to(1, no_node));
  net.sync(2);
  net.sync(3);
  net.deliver(from_to(no_node, 1));
  BOOST_TEST(net.raft(1).commit_index() == p.id.index);
  const auto applied = [&] {
    for (const auto& a : net.node(1).applied())
      if (a.index == p.id.index) return true;
    return false;
  };
  BOOST_TEST(!applied(), "not durable on the leader yet");
  net.sync(1);
  BOOST_TEST(applied());
}

namespace {

// Runs only the vote messages of an election of `id`, repeating campaigns
// (each a new term) until it wins or gives up. Other messages stay in flight.
bool win_election(cluster& net, node_id id, int attempts = 4) {
  const auto is_vote = [](const message& m) {
    return std::holds_alternative<vote_request>(m.body) || std::holds_alternative<vote_response>(m.body);
  };
  for (int a = 0; a < attempts && net.raft(id).state() != role::leader; ++a) {
    net.raft(id).campaign();
    net.take_all();
    for (int round = 0; round < 4 && net.raft(id).state() != role::leader; ++round) {
      net.sync_all();
      net.deliver(is_vote);
    }
  }
  return net.raft(id).state() == role::leader;
}

bool holds(cluster& net, node_id id, index_t index, const std::string& data) {
  const entry* en = net.raft(id).entry_at(index);
  return en != nullptr && en->data == data;
}

const auto everything = [](const message&) { return true; };

// Figure 8 (a)-(c), with terms 1, 2, 3 for the paper's 2, 3, 4, in a
// 5-node cluster sending one entry per append. Ends with S1 leader of term 3,
// entry x (term 1, index 2) stored on S1, S2 and S3, and S1's no-op of term 3
// (index 3) on S1 and S2 only — unless `noop_to_s3`, then on S3 as well.
void figure_8_through_c(net_fixture& f, bool noop_to_s3) {
  cluster& net = f.net;
  net.elect(1);
  net.run(1);
  BOOST_TEST_REQUIRE(net.raft(1).commit_index() == 1u);

  // (a) S1 is leader and partially replicates the entry at index 2.
  const auto x = net.raft(1).propose("x");
  BOOST_TEST_REQUIRE(x.id.index == 2u);
  net.take_all();
  net.deliver(from_to(1, 2));
  net.drop(everything);
  net.sync(1);
  net.sync(2);
  net.deliver(from_to(2, 1));
  BOOST_TEST(net.raft(1).commit_index() == 1u, "x is on 2 of 5 servers");

  // (b) S1 crashes; S5 is elected leader for term 2 with votes from S3, S4
  // and itself, and accepts a different entry at log index 2.
  net.crash(1);
  BOOST_TEST_REQUIRE(win_election(net, 5));
  BOOST_TEST_REQUIRE(net.raft(5).term() == 2u);
  net.drop(everything);
  net.sync(5);
  BOOST_TEST_REQUIRE(net.raft(5).last_log() == (log_id{2, 2}));
  net.crash(5);

  // (c) S5 crashes; S1 restarts, is elected leader, and continues replication.
  net.restart(1);
  BOOST_TEST_REQUIRE(win_election(net, 1));
  BOOST_TEST_REQUIRE(net.raft(1).term() == 3u);
  net.drop(from_to(1, 4));
  net.drop(from_to(1, 5));
  net.deliver(from_to(1, 2));  // S2 has x: the probe succeeds, S2 stores the no-op
  net.sync(2);
  net.deliver(from_to(2, 1));
  net.deliver(from_to(1, 3));  // S3 lacks x: rejected, then x alone is sent
  net.sync(3);
  net.deliver(from_to(3, 1));
  net.deliver(from_to(1, 3));
  net.sync(3);
  net.deliver(from_to(3, 1));
  if (noop_to_s3) {
    net.deliver(from_to(1, 3));
    net.sync(3);
    net.deliver(from_to(3, 1));
  } else {
    net.drop(from_to(1, 3));
  }
  net.sync(1);
  for (node_id id : {1, 2, 3}) BOOST_TEST(holds(net, id, 2, "x"), "x is stored on server " << id);
}

}  // namespace

BOOST_AUTO_TEST_CASE(figure_8_old_term_entry_on_a_majority_is_not_committed) {
  // [§5.4.2, Fig. 8] "a leader cannot immediately conclude that an entry from
  // a previous term is committed once it is stored on a majority of servers.
  // ... Raft never commits log entries from previous terms by counting
  // replicas. Only log entries from the leader's current term are committed
  // by counting replicas."
  net_fixture f(5, [] {
    core::options o = paper_options();
    o.max_append_entries = 1;
    return o;
  }());
  figure_8_through_c(f, false);
  cluster& net = f.net;
  BOOST_TEST(net.raft(1).commit_index() < 2u, "x (term 1) is on a majority but not committed in term 3");

  // (d) S1 crashes, S5 could be elected leader (with votes from S2, S3, and
  // S4) and overwrite the entry with its own entry from term 2 (paper: 3).
  net.crash(1);
  net.drop(everything);
  net.restart(5);
  BOOST_TEST_REQUIRE(win_election(net, 5, 6), "S5's log (2,2) is more up-to-date than (1,2)");
  net.stabilize();
  net.run(2);
  for (node_id id : {2, 3, 4, 5}) {
    BOOST_TEST_CONTEXT("server " << id) {
      BOOST_TEST(!holds(net, id, 2, "x"), "x was overwritten");
      BOOST_TEST(net.raft(id).term_at(2) == std::optional<term_t>(2u));
      for (const auto& a : net.node(id).applied()) BOOST_TEST(a.data != "x");
    }
  }
  BOOST_TEST(net.raft(5).commit_index() >= 3u);
}

BOOST_AUTO_TEST_CASE(figure_8_current_term_entry_commits_the_earlier_ones) {
  // [§5.4.2, Fig. 8 (e)] "if S1 replicates an entry from its current term on
  // a majority of the servers before crashing, ... then this entry is
  // committed (S5 cannot win an election)." "once an entry from the current
  // term has been committed in this way, then all prior entries are
  // committed indirectly because of the Log Matching Property."
  net_fixture f(5, [] {
    core::options o = paper_options();
    o.max_append_entries = 1;
    return o;
  }());
  figure_8_through_c(f, true);
  cluster& net = f.net;
  BOOST_TEST(net.raft(1).commit_index() == 3u);

  net.crash(1);
  net.drop(everything);
  net.restart(5);
  BOOST_TEST(!win_election(net, 5, 6), "S2 and S3 refuse S5: their logs end in term 3");
  net.stabilize();
  net.run(20 * 10);
  const auto l = net.leader();
  BOOST_TEST_REQUIRE(l.has_value());
  BOOST_TEST(*l != 5u);
  BOOST_TEST(holds(net, *l, 2, "x"));
  BOOST_TEST(net.raft(*l).commit_index() >= 3u);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
// Flow control, heartbeats and proposals.

BOOST_AUTO_TEST_SUITE(flow)

std::vector<message> appends_to(cluster& net, node_id to) {
  return to_node(of_type<append_request>(net.in_flight()), to);
}

BOOST_AUTO_TEST_CASE(many_proposals_go_out_in_one_append) {
  // Batching: proposals accumulated since the last ready batch are sent to
  // each follower as one AppendEntries [thesis §10.2.1].
  net_fixture f(3);
  f.net.elect(1);
  f.net.run(1);
  for (int i = 0; i < 100; ++i) f.net.raft(1).propose("p" + std::to_string(i));
  f.net.take_all();
  for (node_id id : {2, 3}) {
    const auto appends = appends_to(f.net, id);
    BOOST_TEST_REQUIRE(appends.size() == 1u);
    BOOST_TEST(body_of<append_request>(appends[0])->entries.size() == 100u);
  }
  f.net.stabilize();
  BOOST_TEST(f.net.raft(1).commit_index() == 101u);
}

BOOST_AUTO_TEST_CASE(batches_are_bounded_and_pipelined_up_to_max_inflight) {
  // Batching bounded by max_append_entries; pipelining: several appends in
  // flight to a follower, at most max_inflight, more as acks come back.
  core::options o = paper_options();
  o.max_append_entries = 10;
  o.max_inflight = 3;
  net_fixture f(3, o);
  f.net.elect(1);
  f.net.run(1);
  for (int i = 0; i < 100; ++i) f.net.raft(1).propose("p" + std::to_string(i));
  f.net.take_all();
  auto appends = appends_to(f.net, 2);
  BOOST_TEST_REQUIRE(appends.size() == 3u, "three appends in flight, no more");
  for (const auto& m : appends) BOOST_TEST(body_of<append_request>(m)->entries.size() == 10u);
  BOOST_TEST(body_of<append_request>(appends[1])->prev_log.index == 11u, "pipelined: the second follows the first");

  // Node 2 acknowledges the first: exactly one more append goes out.
  f.net.deliver([&](const message& m) { return m == appends[0]; });
  f.net.sync(2);
  f.net.deliver(from_to(2, 1));
  appends = appends_to(f.net, 2);
  BOOST_TEST(appends.size() == 3u);
  BOOST_TEST(body_of<append_request>(appends.back())->prev_log.index == 31u);

  f.net.stabilize();
  f.net.run(2);
  BOOST_TEST(f.net.raft(1).commit_index() == 101u);
  BOOST_TEST(f.logs_match({1, 2, 3}));
}

BOOST_AUTO_TEST_CASE(batches_are_bounded_by_bytes_but_carry_at_least_one_entry) {
  core::options o = paper_options();
  o.max_append_bytes = 2500;
  net_fixture f(3, o);
  f.net.elect(1);
  f.net.run(1);
  for (int i = 0; i < 6; ++i) f.net.raft(1).propose(std::string(1000, 'a'));
  f.net.raft(1).propose(std::string(4000, 'b'));  // bigger than the bound on its own
  f.net.take_all();
  std::size_t entries = 0;
  for (const auto& m : appends_to(f.net, 2)) {
    const auto& a = *body_of<append_request>(m);
    entries += a.entries.size();
    BOOST_TEST((payload_bytes(m) <= 2500u || a.entries.size() == 1u), describe(m));
    BOOST_TEST(!a.entries.empty());
  }
  BOOST_TEST(entries == 7u);
  BOOST_TEST(appends_to(f.net, 2).size() == 4u, "2+2+2 entries of 1000 bytes, then the big one alone");
  f.net.stabilize();
  BOOST_TEST(f.logs_match({1, 2, 3}));
}

BOOST_AUTO_TEST_CASE(leader_sends_heartbeats_every_heartbeat_ticks) {
  // [§5.2] "Leaders send periodic heartbeats ... to all followers in order to
  // maintain their authority."
  core::options o = paper_options();
  o.heartbeat_ticks = 3;
  net_fixture f(3, o);
  f.net.elect(1);
  f.net.in_flight().clear();
  for (int t = 1; t <= 6; ++t) {
    f.net.tick(1);
    const auto beats = of_type<heartbeat_request>(f.net.in_flight());
    BOOST_TEST_CONTEXT("tick " << t) { BOOST_TEST(beats.size() == (t % 3 == 0 ? 2u : 0u)); }
    f.net.in_flight().clear();
  }
}

BOOST_AUTO_TEST_CASE(heartbeats_keep_followers_from_starting_elections) {
  // [§5.2] "A server remains in follower state as long as it receives valid
  // RPCs from a leader or candidate."
  net_fixture f(3);
  f.net.elect(1);
  f.net.run(10 * 10);
  BOOST_TEST(f.net.raft(1).state() == role::leader);
  BOOST_TEST(f.net.raft(1).term() == 1u);
}

BOOST_AUTO_TEST_CASE(propose_on_a_follower_returns_not_leader_with_a_hint) {
  // [§8] "If the client's first choice is not the leader, that server will
  // reject the client's request and supply information about the most recent
  // leader it has heard from."
  net_fixture f(3);
  const auto none = f.net.raft(2).propose("early");
  BOOST_TEST(none.result == core::propose_result::code::not_leader);
  BOOST_TEST(none.leader_hint == no_node);
  f.net.elect(1);
  const auto p = f.net.raft(2).propose("x");
  BOOST_TEST(p.result == core::propose_result::code::not_leader);
  BOOST_TEST(p.leader_hint == 1u);
  BOOST_TEST(f.net.raft(2).last_log() == f.net.raft(1).last_log(), "nothing was appended on node 2");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace coraft::test
