// test/core/fixtures.hpp — fixtures for the unit tests of the protocol core:
// one raft stepped by hand (one_core), and a cluster of core_nodes whose
// destructor fails the test on any safety violation (net_fixture). Like
// LogCabin's, every fixture runs the invariant checker when it is destroyed,
// so every unit test is also an invariant test.
#pragma once

#include "cluster.hpp"

#include <boost/test/unit_test.hpp>

#include <coraft/core/raft.hpp>
#include <coraft/messages.hpp>

#include <optional>
#include <ostream>
#include <vector>

namespace coraft {
// Printable forms so that BOOST_TEST shows values on failure.
inline std::ostream& operator<<(std::ostream& os, const log_id& id) {
  return os << "(" << id.term << "," << id.index << ")";
}
inline std::ostream& operator<<(std::ostream& os, const entry& e) {
  return os << "(" << e.term << "," << e.index << ")";
}
inline std::ostream& operator<<(std::ostream& os, const hard_state& s) {
  return os << "{term " << s.current_term << ", voted_for " << s.voted_for << "}";
}
inline std::ostream& operator<<(std::ostream& os, const message& m) { return os << describe(m); }
inline std::ostream& operator<<(std::ostream& os, const payload& p) { return os << '"' << p.view() << '"'; }
inline std::ostream& operator<<(std::ostream& os, entry_type t) {
  return os << (t == entry_type::normal ? "normal" : t == entry_type::noop ? "noop" : "config");
}
namespace core {
inline std::ostream& operator<<(std::ostream& os, role r) { return os << to_string(r); }
inline std::ostream& operator<<(std::ostream& os, const read_state& r) {
  return os << "{ctx " << r.ctx << ", index " << r.index << ", " << (r.ok ? "ok" : "failed") << "}";
}
inline std::ostream& operator<<(std::ostream& os, raft::transfer_result t) {
  return os << (t == raft::transfer_result::started      ? "started"
                : t == raft::transfer_result::not_leader ? "not_leader"
                                                         : "bad_target");
}
inline std::ostream& operator<<(std::ostream& os, propose_result::code c) {
  return os << (c == propose_result::code::accepted       ? "accepted"
                : c == propose_result::code::not_leader   ? "not_leader"
                : c == propose_result::code::transferring ? "transferring"
                                                          : "dropped");
}
}  // namespace core
}  // namespace coraft

// std::optional has no operator<<; print it as its value or "none".
namespace boost::test_tools::tt_detail {
template <class T>
struct print_log_value<std::optional<T>> {
  void operator()(std::ostream& os, const std::optional<T>& v) {
    if (v)
      os << *v;
    else
      os << "none";
  }
};
}  // namespace boost::test_tools::tt_detail

namespace coraft::test {

// Every message of a ready batch, whichever list it is in.
inline std::vector<message> all_sent(const core::ready& rd) {
  std::vector<message> out = rd.send_now;
  out.insert(out.end(), rd.send_after_sync.begin(), rd.send_after_sync.end());
  return out;
}

// One core with id 1 among voters {1, 2, 3} (by default), stepped by hand.
struct one_core {
  core::raft r;

  explicit one_core(core::options o = paper_options(), hard_state hs = {}, std::vector<entry> log = {},
                    std::vector<node_id> voters = {1, 2, 3})
      : r(with_id(o), std::move(voters), hs, std::move(log)) {}
  one_core(const one_core&) = delete;
  one_core& operator=(const one_core&) = delete;
  ~one_core() { r.check_invariants(); }

  core::ready take() {
    core::ready rd = r.take_ready();
    r.check_invariants();
    return rd;
  }

  // Steps a message from `from` carrying `term` and `body`.
  template <class Body>
  core::ready step(node_id from, term_t term, Body body) {
    r.step(message{from, r.id(), term, message_body{std::move(body)}});
    r.check_invariants();
    return take();
  }

  // Wins an election without pre-vote: campaign, then grants from `voters`.
  // Returns the batch holding the new leader's noop and first appends; the
  // noop is not yet synced.
  core::ready become_leader(std::vector<node_id> granting = {2}) {
    r.campaign();
    take();
    for (node_id v : granting) r.step(message{v, r.id(), r.term(), vote_response{true, false}});
    BOOST_TEST_REQUIRE(r.state() == core::role::leader);
    return take();
  }

 private:
  static core::options with_id(core::options o) {
    o.id = 1;
    return o;
  }
};

// A cluster whose destructor checks the invariants one last time and fails
// the test on every safety violation seen during it.
struct net_fixture {
  cluster net;
  explicit net_fixture(std::size_t n, core::options o = paper_options()) : net(n, o) {}
  ~net_fixture() {
    net.check();
    for (const auto& v : net.violations()) BOOST_ERROR("safety violation: " << v);
  }
  bool logs_match(std::vector<node_id> ids) {
    const auto first = net.log_of(ids.front());
    for (node_id id : ids)
      if (net.log_of(id) != first) return false;
    return true;
  }
};

// The default cluster of the paper's figures: three servers.
struct three_nodes : net_fixture {
  three_nodes() : net_fixture(3) {}
};

}  // namespace coraft::test

#include "full_cluster.hpp"

namespace coraft::test {

// A full_cluster (reads, snapshots, installs) whose destructor fails the
// test on every safety or contract violation seen during it.
struct full_fixture {
  full_cluster net;
  explicit full_fixture(std::size_t n, core::options o = paper_options()) : net(n, o) {}
  ~full_fixture() {
    net.check();
    for (const auto& v : net.violations()) BOOST_ERROR("violation: " << v);
  }
  // The read_states node `id` handed out with this ctx.
  std::vector<core::read_state> reads_of(node_id id, std::uint64_t ctx) {
    std::vector<core::read_state> out;
    for (const auto& r : net.node(id).reads)
      if (r.ctx == ctx) out.push_back(r);
    return out;
  }
};

}  // namespace coraft::test
