// sim_test — the simulation runner tested: a handful of seeds pass, runs are
// deterministic, and every invariant checker fails on a fabricated broken
// history (a checker that cannot fail proves nothing).
//
// Invariants exercised: election safety [§5.2], log matching [§5.3],
// committed entries stable and durable [§5.4.2], leader completeness
// [§5.4.1], state machine safety [§5.4.3], monotonic term and commit [Fig. 2].
#define BOOST_TEST_MODULE sim_tests
#include <boost/test/unit_test.hpp>

#include <support/sim_cluster.hpp>

#include <sstream>
#include <string>
#include <vector>

namespace coraft::test {
namespace {

using core::role;

entry make_entry(term_t term, index_t index, std::string data) {
  return entry{term, index, entry_type::normal, std::move(data)};
}

// A core that recovered `log` from storage: the way to put a fabricated log
// in front of the checkers, which read logs through the core's accessors.
core::raft core_with_log(node_id id, term_t term, std::vector<entry> log) {
  core::options o;
  o.id = id;
  return core::raft(o, {1, 2, 3}, hard_state{term, no_node}, std::move(log));
}

bool names(const std::optional<violation>& v, const std::string& invariant) {
  return v.has_value() && v->invariant == invariant;
}

BOOST_AUTO_TEST_SUITE(runs)

BOOST_AUTO_TEST_CASE(a_handful_of_seeds_pass_with_three_and_five_nodes) {
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    for (int n : {3, 5}) {
      sim_config cfg;
      cfg.seed = seed;
      cfg.nodes = n;
      sim_cluster sim(cfg);
      const auto v = sim.run();
      BOOST_TEST(!v, "seed " << seed << " nodes " << n << ": " << (v ? v->what() : "") << "\n"
                             << sim.trace_text());
      // The run did something worth checking: leaders were elected and the
      // liveness phase committed its proposals.
      BOOST_TEST(!sim.checker().leaders().empty());
      BOOST_TEST(sim.checker().committed().size() >= 3u);
      BOOST_TEST(sim.stats().delivered > 0u);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_seed_replays_exactly) {
  // The printed replay command is only useful if a seed means one history.
  auto run_once = [](std::uint64_t seed) {
    std::ostringstream log;
    sim_config cfg;
    cfg.seed = seed;
    cfg.fault_ticks = 80;
    cfg.verbose = &log;
    sim_cluster sim(cfg);
    const auto v = sim.run();
    BOOST_TEST(!v);
    return log.str() + sim.stats().describe();
  };
  const std::string a = run_once(42);
  BOOST_TEST(a == run_once(42));
  BOOST_TEST(a != run_once(43));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(checkers_catch_broken_histories)

BOOST_AUTO_TEST_CASE(election_safety_catches_a_second_leader_in_one_term) {
  invariant_checker c(3);
  BOOST_TEST(!c.check_election_safety(1, 3, role::leader));
  BOOST_TEST(!c.check_election_safety(1, 3, role::leader));  // the same leader, seen again
  BOOST_TEST(!c.check_election_safety(2, 3, role::candidate));
  BOOST_TEST(!c.check_election_safety(2, 4, role::leader));  // a later term: fine
  const auto v = c.check_election_safety(2, 3, role::leader);
  BOOST_TEST(names(v, "election safety"));
  BOOST_TEST(v->detail.find("term 3") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(log_matching_catches_one_index_and_term_with_two_entries) {
  invariant_checker c(3);
  const auto a = core_with_log(1, 2, {make_entry(1, 1, "a"), make_entry(1, 2, "b")});
  const auto b = core_with_log(2, 2, {make_entry(1, 1, "a"), make_entry(2, 2, "c")});
  const auto bad = core_with_log(3, 2, {make_entry(1, 1, "x"), make_entry(1, 2, "b")});
  BOOST_TEST(!c.check_log_matching(1, 1, a));
  BOOST_TEST(!c.check_log_matching(2, 1, b));  // differ at index 2, but in different terms
  BOOST_TEST(names(c.check_log_matching(3, 1, bad), "log matching"));
}

BOOST_AUTO_TEST_CASE(log_matching_catches_logs_that_agree_at_an_entry_but_not_before) {
  invariant_checker c(3);
  const auto a = core_with_log(1, 2, {make_entry(1, 1, "a"), make_entry(1, 2, "b"), make_entry(2, 3, "z")});
  const auto b = core_with_log(2, 2, {make_entry(1, 1, "a"), make_entry(2, 2, "c"), make_entry(2, 3, "z")});
  BOOST_TEST(!c.check_log_matching(1, 1, a));
  const auto v = c.check_log_matching(2, 1, b);
  BOOST_TEST(names(v, "log matching"));
  BOOST_TEST(v->detail.find("differ before it") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(log_matching_sees_a_log_rewritten_in_place) {
  // The mirror diff must notice a changed entry below the end of the log.
  invariant_checker c(3);
  BOOST_TEST(!c.check_log_matching(1, 1, core_with_log(1, 1, {make_entry(1, 1, "a"), make_entry(1, 2, "b")})));
  const auto v = c.check_log_matching(1, 1, core_with_log(1, 1, {make_entry(1, 1, "q"), make_entry(1, 2, "b")}));
  BOOST_TEST(names(v, "log matching"));
}

BOOST_AUTO_TEST_CASE(a_changed_committed_entry_is_caught) {
  invariant_checker c(3);
  const auto a = core_with_log(1, 2, {make_entry(1, 1, "a"), make_entry(2, 2, "b")});
  const auto b = core_with_log(2, 3, {make_entry(1, 1, "a"), make_entry(3, 2, "other")});
  BOOST_TEST(!c.check_committed_stable(1, 1, 2, 2, a));
  BOOST_TEST(c.committed().size() == 2u);
  BOOST_TEST(!c.check_committed_stable(2, 1, 3, 1, b));  // b has committed only index 1: agrees
  const auto v = c.check_committed_stable(2, 1, 3, 2, b);
  BOOST_TEST(names(v, "committed entries"));
  BOOST_TEST(v->detail.find("index 2") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_committed_entry_rewritten_later_in_the_same_incarnation_is_caught) {
  // The incremental checks must not trust what they verified before once
  // check_log_matching has seen the log change below it.
  invariant_checker c(3);
  const auto before = core_with_log(1, 1, {make_entry(1, 1, "a"), make_entry(1, 2, "b")});
  BOOST_TEST(!c.check_log_matching(1, 1, before));
  BOOST_TEST(!c.check_committed_stable(1, 1, 1, 2, before));
  // Index 2 replaced by an entry of a later term: no log matching problem
  // on its own, but index 2 was committed.
  const auto after = core_with_log(1, 3, {make_entry(1, 1, "a"), make_entry(3, 2, "x")});
  BOOST_TEST(!c.check_log_matching(1, 1, after));
  BOOST_TEST(names(c.check_committed_stable(1, 1, 3, 2, after), "committed entries"));
}

BOOST_AUTO_TEST_CASE(a_leader_losing_a_committed_entry_while_leading_is_caught) {
  invariant_checker c(3);
  const auto follower = core_with_log(1, 1, {make_entry(1, 1, "a")});
  BOOST_TEST(!c.check_committed_stable(1, 1, 1, 1, follower));
  const auto leader = core_with_log(2, 2, {make_entry(1, 1, "a"), make_entry(2, 2, "b")});
  BOOST_TEST(!c.check_log_matching(2, 1, leader));
  BOOST_TEST(!c.check_leader_completeness(2, 1, 2, role::leader, leader));
  const auto shrunk = core_with_log(2, 2, {make_entry(2, 1, "z")});
  BOOST_TEST(!c.check_log_matching(2, 1, shrunk));
  BOOST_TEST(names(c.check_leader_completeness(2, 1, 2, role::leader, shrunk),
                   "leader completeness"));
}

BOOST_AUTO_TEST_CASE(a_commit_index_beyond_the_log_is_caught) {
  invariant_checker c(3);
  const auto a = core_with_log(1, 1, {make_entry(1, 1, "a")});
  BOOST_TEST(names(c.check_committed_stable(1, 1, 1, 2, a), "committed entries"));
}

BOOST_AUTO_TEST_CASE(a_committed_entry_durable_on_a_minority_is_caught) {
  invariant_checker c(3);
  BOOST_TEST(!c.check_committed_stable(1, 1, 1, 1, core_with_log(1, 1, {make_entry(1, 1, "a")})));
  durable_disk has, lacks, other;
  has.log = {make_entry(1, 1, "a")};
  other.log = {make_entry(1, 1, "not a")};
  BOOST_TEST(names(c.check_committed_durable({&has, &lacks, &other}, true), "committed entries"));
  BOOST_TEST(!c.check_committed_durable({&has, &lacks, &has}, true));
}

BOOST_AUTO_TEST_CASE(a_later_leader_missing_a_committed_entry_is_caught) {
  invariant_checker c(3);
  const auto a = core_with_log(1, 2, {make_entry(1, 1, "a"), make_entry(2, 2, "b")});
  BOOST_TEST(!c.check_committed_stable(1, 1, 2, 2, a));
  const auto lacking = core_with_log(2, 3, {make_entry(1, 1, "a")});
  // Leader of the same term as the observation: not "later", not checked.
  BOOST_TEST(!c.check_leader_completeness(2, 1, 2, role::leader, lacking));
  // A follower may lack it.
  BOOST_TEST(!c.check_leader_completeness(2, 1, 3, role::follower, lacking));
  const auto v = c.check_leader_completeness(2, 1, 3, role::leader, lacking);
  BOOST_TEST(names(v, "leader completeness"));
  const auto complete = core_with_log(3, 3, {make_entry(1, 1, "a"), make_entry(2, 2, "b")});
  BOOST_TEST(!c.check_leader_completeness(3, 1, 4, role::leader, complete));
}

BOOST_AUTO_TEST_CASE(state_machine_safety_catches_a_different_entry_at_an_applied_index) {
  invariant_checker c(3);
  const std::vector<entry> one = {make_entry(1, 1, "a"), make_entry(1, 2, "b")};
  const std::vector<entry> two = {make_entry(1, 1, "a"), make_entry(2, 2, "c")};
  BOOST_TEST(!c.check_state_machine_safety(1, 1, one, 2));
  BOOST_TEST(names(c.check_state_machine_safety(2, 1, two, 2), "state machine safety"));
}

BOOST_AUTO_TEST_CASE(state_machine_safety_compares_across_incarnations) {
  invariant_checker c(3);
  BOOST_TEST(!c.check_state_machine_safety(1, 1, {make_entry(1, 1, "a")}, 1));
  // A restarted node re-applies from index 1; the same entry is fine...
  BOOST_TEST(!c.check_state_machine_safety(1, 2, {make_entry(1, 1, "a")}, 1));
  // ...a different one is not.
  BOOST_TEST(names(c.check_state_machine_safety(1, 3, {make_entry(2, 1, "z")}, 1),
                   "state machine safety"));
}

BOOST_AUTO_TEST_CASE(state_machine_safety_catches_gaps_early_applies_and_strays) {
  {
    invariant_checker c(3);
    BOOST_TEST(names(c.check_state_machine_safety(1, 1, {make_entry(1, 1, "a")}, 0),
                     "state machine safety"));  // applied beyond commit
  }
  {
    invariant_checker c(3);
    BOOST_TEST(names(c.check_state_machine_safety(1, 1, {make_entry(1, 1, "a"), make_entry(1, 3, "c")}, 3),
                     "state machine safety"));  // skipped index 2
  }
  {
    invariant_checker c(3);
    c.note_proposed("a");
    BOOST_TEST(!c.check_state_machine_safety(1, 1, {make_entry(1, 1, "a")}, 1));
    BOOST_TEST(names(c.check_state_machine_safety(1, 1, {make_entry(1, 1, "a"), make_entry(1, 2, "a")}, 2),
                     "state machine safety"));  // applied twice
    BOOST_TEST(names(c.check_state_machine_safety(2, 1, {make_entry(1, 1, "a"), make_entry(1, 2, "never")}, 2),
                     "state machine safety"));  // never proposed
  }
}

BOOST_AUTO_TEST_CASE(term_and_commit_going_backwards_within_an_incarnation_are_caught) {
  invariant_checker c(3);
  BOOST_TEST(!c.check_monotonic(1, 1, 3, 5));
  BOOST_TEST(names(c.check_monotonic(1, 1, 2, 5), "monotonic term"));
  BOOST_TEST(names(c.check_monotonic(1, 1, 3, 4), "monotonic commit index"));
  // A new incarnation starts over: the commit index is volatile.
  BOOST_TEST(!c.check_monotonic(1, 2, 3, 0));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace coraft::test
