// sim_test — the simulation runner tested: a handful of seeds pass, runs are
// deterministic, and every invariant checker fails on a fabricated broken
// history (a checker that cannot fail proves nothing).
//
// Invariants exercised: election safety [§5.2], log matching [§5.3],
// committed entries stable and durable [§5.4.2], leader completeness
// [§5.4.1], state machine safety [§5.4.3] (also from restored snapshots
// [§7]), monotonic term and commit [Fig. 2], linearizable reads [thesis §6.4].
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
      BOOST_TEST(!v, "seed " << seed << " nodes " << n << ": " << (v ? v->what() : "") << "\n" << sim.trace_text());
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

BOOST_AUTO_TEST_CASE(focused_seeds_snapshot_install_read_and_transfer) {
  // The operations the checkers watch really happen: with each one focused,
  // a few seeds take snapshots and install them on lagging followers, serve
  // reads, and start transfers that send TimeoutNow.
  sim_stats total;
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    sim_config cfg;
    cfg.seed = seed;
    cfg.focused = true;
    sim_cluster sim(cfg);
    const auto v = sim.run();
    BOOST_TEST(!v, "seed " << seed << ": " << (v ? v->what() : "") << "\n" << sim.trace_text());
    total.snapshots += sim.stats().snapshots;
    total.installs += sim.stats().installs;
    total.reads_served += sim.stats().reads_served;
    total.timeout_nows += sim.stats().timeout_nows;
  }
  BOOST_TEST(total.snapshots > 0u);
  BOOST_TEST(total.installs > 0u);
  BOOST_TEST(total.reads_served > 0u);
  BOOST_TEST(total.timeout_nows > 0u);
}

BOOST_AUTO_TEST_CASE(the_model_state_round_trips_through_a_snapshot) {
  model_state m;
  for (index_t i = 1; i <= 40; ++i)
    m.apply(i % 7 == 0 ? entry{2, i, entry_type::noop, {}} : make_entry(2, i, "c" + std::to_string(i)));
  const auto back = model_state::decode(m.encode());
  BOOST_TEST_REQUIRE(back.has_value());
  BOOST_TEST((*back == m));
  BOOST_TEST(!model_state::decode(m.encode().substr(1)).has_value());
  BOOST_TEST(!model_state::decode(m.encode() + "x").has_value());
}

BOOST_AUTO_TEST_CASE(the_disk_model_refuses_a_hole_and_keeps_its_base) {
  durable_disk d;
  BOOST_TEST(!d.write(disk_write{{}, {make_entry(1, 1, "a"), make_entry(1, 2, "b")}, {}, {}}));
  BOOST_TEST(!d.write(disk_write{{}, {}, {}, log_id{1, 1}}));  // compact through 1
  BOOST_TEST(d.base == 1u);
  BOOST_TEST(d.at(1) == nullptr);
  BOOST_TEST(d.at(2)->data.view() == "b");
  BOOST_TEST(d.write(disk_write{{}, {make_entry(1, 4, "d")}, {}, {}}).has_value());  // a hole
  BOOST_TEST(!d.write(disk_write{{}, {}, log_id{3, 9}, {}}));                        // reset by a snapshot
  BOOST_TEST(d.log.empty());
  BOOST_TEST(d.last_index() == 9u);
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
  BOOST_TEST(names(c.check_leader_completeness(2, 1, 2, role::leader, shrunk), "leader completeness"));
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

BOOST_AUTO_TEST_CASE(an_entry_after_the_newest_committed_configuration_is_checked_too) {
  // [issue 15] The check used to stop at the newest committed configuration
  // C: an entry after it was looked at only when its leader counted it.
  // Now it must be durable on a majority of C, or of a change in flight
  // after C (a majority of that smaller or larger set counted it).
  invariant_checker c(4);
  entry conf{1, 1, entry_type::config, payload(encode_membership(membership{{1, 2, 3, 4}, {}, {}}))};
  const auto log = core_with_log(1, 1, {conf, make_entry(1, 2, "a")});
  BOOST_TEST(!c.check_log_matching(1, 1, log));
  BOOST_TEST(!c.check_committed_stable(1, 1, 1, 2, log));
  BOOST_TEST(c.committed_config_index() == 1u);
  durable_disk both, only_conf;
  both.log = {conf, make_entry(1, 2, "a")};
  only_conf.log = {conf};
  const std::map<node_id, const durable_disk*> disks{{1, &both}, {2, &both}, {3, &only_conf}, {4, &only_conf}};
  // Entry 2 is on 2 of C's 4 voters: not a majority, and no change in flight.
  const auto v = c.check_committed_durable(disks, true);
  BOOST_TEST(names(v, "committed entries"));
  BOOST_TEST(v->detail.find("after the newest committed configuration") != std::string::npos, v->detail);
  // With C' = {1,2,3} in flight (removing 4), 2 of 3 is a majority of C'.
  BOOST_TEST(!c.check_committed_durable(disks, true, {membership{{1, 2, 3}, {}, {}}}));
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
  BOOST_TEST(names(c.check_state_machine_safety(1, 3, {make_entry(2, 1, "z")}, 1), "state machine safety"));
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

BOOST_AUTO_TEST_CASE(a_state_restored_from_a_snapshot_must_be_the_applied_one) {
  invariant_checker c(3);
  const std::vector<entry> log = {make_entry(1, 1, "a"), make_entry(1, 2, "b"), make_entry(1, 3, "c")};
  BOOST_TEST(!c.check_state_machine_safety(1, 1, model_state{}, log, 3));
  model_state at2;
  at2.apply(log[0]);
  at2.apply(log[1]);
  // A follower restored at 2 then applies 3: fine.
  BOOST_TEST(!c.check_state_machine_safety(2, 1, at2, {log[2]}, 3));
  // Restored at 2 but applies 4 next: a gap.
  BOOST_TEST(names(c.check_state_machine_safety(3, 1, at2, {make_entry(1, 4, "d")}, 4), "state machine safety"));
  // A state at 2 built from other entries.
  model_state wrong;
  wrong.apply(log[0]);
  wrong.apply(make_entry(1, 2, "not b"));
  BOOST_TEST(names(c.check_state_machine_safety(3, 2, wrong, {}, 2), "state machine safety"));
  // A state beyond what anyone applied.
  model_state ahead = at2;
  ahead.apply(log[2]);
  ahead.apply(make_entry(1, 4, "d"));
  BOOST_TEST(names(c.check_state_machine_safety(3, 3, ahead, {}, 4), "state machine safety"));
}

BOOST_AUTO_TEST_CASE(a_snapshot_that_is_not_the_applied_state_is_caught) {
  invariant_checker c(3);
  const std::vector<entry> log = {make_entry(1, 1, "a"), make_entry(1, 2, "b")};
  BOOST_TEST(!c.check_state_machine_safety(1, 1, model_state{}, log, 2));
  const auto snap_of = [](const model_state& m) {
    snapshot s;
    const std::string data = m.encode();
    s.meta.last = {m.term, m.index};
    s.meta.size = data.size();
    s.meta.crc = detail::crc32c(data.data(), data.size());
    s.data = snapshot_bytes(payload(data));
    return s;
  };
  model_state good;
  good.apply(log[0]);
  good.apply(log[1]);
  BOOST_TEST(!c.check_snapshot(1, snap_of(good)));
  model_state bad;
  bad.apply(log[0]);
  bad.apply(make_entry(1, 2, "x"));
  BOOST_TEST(names(c.check_snapshot(2, snap_of(bad)), "state machine safety"));
  snapshot torn = snap_of(good);
  torn.meta.crc ^= 1;
  BOOST_TEST(names(c.check_snapshot(3, torn), "snapshots"));
}

BOOST_AUTO_TEST_CASE(a_stale_read_is_caught) {
  // [thesis §6.4] A read that began after index 2 was applied must not
  // return an older state, nor a state that is not the applied one.
  invariant_checker c(3);
  const std::vector<entry> log = {make_entry(1, 1, "a"), make_entry(1, 2, "b")};
  BOOST_TEST(!c.check_state_machine_safety(1, 1, model_state{}, log, 2));
  const index_t began = c.read_began();
  BOOST_TEST(began == 2u);
  model_state at1, at2;
  at1.apply(log[0]);
  at2 = at1;
  at2.apply(log[1]);
  BOOST_TEST(!c.check_read(2, 7, began, served_read{7, true, 2, 2, at2.hash}));
  BOOST_TEST(names(c.check_read(2, 8, began, served_read{8, true, 1, 2, at2.hash}),
                   "linearizable reads"));  // read index behind
  BOOST_TEST(names(c.check_read(2, 9, began, served_read{9, true, 2, 1, at1.hash}),
                   "linearizable reads"));  // served before applying its index
  BOOST_TEST(names(c.check_read(2, 10, began, served_read{10, true, 2, 2, at1.hash}),
                   "state machine safety"));  // a state that is not the applied one
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
