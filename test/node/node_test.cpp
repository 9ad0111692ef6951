// node_test.cpp — the `node` layer: the coroutine runtime (lib/src/node/node.cpp)
// with three nodes on one io_context, the in-memory transport and the
// in-memory storage, in real time.
//
// Each test is a story run by cluster::run(): one coroutine (a free function
// taking the cluster and what the test body owns, by reference) drives the
// nodes; afterwards every node is stopped and the io_context must run out of
// work within a bound (no task outlives its node). Waits poll a condition on
// a steady_timer up to a generous limit; a fixed pause is only used to let
// the cluster settle, never as the reason an assertion holds.
//
// The fixture's destructor checks the invariants every story must keep:
//   - State Machine Safety [§5.3]: of any two state machines (including
//     those of earlier incarnations of a node), one's applied sequence is a
//     prefix of the other's;
//   - each state machine saw strictly increasing indexes (exactly once, in
//     log order: state_machine.hpp);
//   - Election Safety [§5.2]: no two nodes were seen leading the same term.
#define BOOST_TEST_MODULE coraft_node
#include <boost/test/unit_test.hpp>

#include <coraft/memory_storage.hpp>
#include <coraft/memory_transport.hpp>
#include <coraft/node.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

// Lets BOOST_TEST print a role when a comparison fails.
namespace coraft::core {
inline std::ostream& boost_test_print_type(std::ostream& os, role r) { return os << to_string(r); }
}  // namespace coraft::core

namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using coraft::errc;
using coraft::index_t;
using coraft::node_id;
using coraft::node_options;
using coraft::node_status;
using propose_outcome = coraft::node_result<coraft::applied_command>;
using coraft::core::role;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// ---- a state machine that remembers everything ------------------------------

struct applied_entry {
  index_t index = 0;
  std::string command;
  std::string result;  // what apply() returned for it
  friend bool operator==(const applied_entry&, const applied_entry&) = default;
};

// Records every (index, command) it is given. Its result depends on the
// state (how many commands came before), so replicas that apply the same
// sequence return the same results and a reordering would show.
class recording_state_machine final : public coraft::state_machine {
 public:
  // A deliberately slow state machine: each apply and each capture take
  // this long (on the state machine's thread).
  std::chrono::microseconds apply_cost{0};
  std::chrono::milliseconds capture_cost{0};
  std::atomic<int> captures{0};

  std::string apply(index_t index, std::string_view command) override {
    if (apply_cost.count() > 0) std::this_thread::sleep_for(apply_cost);
    std::string result = "#" + std::to_string(applied_.size() + 1) + " " + std::string(command);
    applied_.push_back({index, std::string(command), result});
    return result;
  }
  void save_snapshot(coraft::snapshot_writer&) override {
    if (capture_cost.count() > 0) std::this_thread::sleep_for(capture_cost);
    ++captures;
  }
  // Its snapshot is empty: a restore keeps what it applied (nothing of the
  // state comes with it) and is counted, so that the checks compare it with
  // the others only where both applied an index.
  void restore_snapshot(coraft::snapshot_reader&) override { ++restores; }
  std::atomic<int> restores{0};

  const std::vector<applied_entry>& applied() const { return applied_; }
  const applied_entry* at(index_t index) const {
    auto it = std::lower_bound(applied_.begin(), applied_.end(), index,
                               [](const applied_entry& e, index_t i) { return e.index < i; });
    return it != applied_.end() && it->index == index ? &*it : nullptr;
  }

 private:
  std::vector<applied_entry> applied_;
};

bool is_prefix(const std::vector<applied_entry>& a, const std::vector<applied_entry>& b) {
  return a.size() <= b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// The same command wherever both applied an index (a state machine that
// restored a snapshot skipped the indexes it covers).
bool agree_where_both_applied(const std::vector<applied_entry>& a, const std::vector<applied_entry>& b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i].index < b[j].index)
      ++i;
    else if (b[j].index < a[i].index)
      ++j;
    else if (a[i++].command != b[j++].command)
      return false;
  }
  return true;
}

// One proposal and how it ended.
struct proposal {
  std::string command;
  propose_outcome outcome;
};

// ---- the fixture ------------------------------------------------------------

// Owns the io_context, the network, and per node its storage, state machine
// and node. Node i (1-based id) lives at slot i-1. Members are declared so
// that nodes are destroyed first and the io_context last.
class cluster {
 public:
  static constexpr std::size_t size = 3;

  cluster() {
    for (std::size_t i = 1; i <= size; ++i) ids_.push_back(static_cast<node_id>(i));
  }

  ~cluster() {
    if (hung_) {
      // Handlers still reference the nodes: keep them (and what they point
      // to) alive rather than destroy them under the io_context's feet.
      for (auto& n : nodes_) (void)n.release();
      for (auto& s : stores_) (void)s.release();
      for (auto& m : sms_) (void)m.release();
      return;
    }
    check_invariants();
  }

  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  // Creates the nodes (not started). `base` supplies everything but the id,
  // seed and voters.
  void build(node_options base = {}) {
    base_ = base;
    for (node_id id : ids_) {
      stores_.push_back(std::make_unique<coraft::memory_storage>());
      sms_.push_back(std::make_unique<recording_state_machine>());
      make_node(id);
    }
  }

  // A crash and restart of every node: new nodes and fresh state machines
  // over what each storage had made durable. Only between two run()s.
  void restart_from_durable() {
    BOOST_REQUIRE(all_stopped_);
    for (std::size_t i = 0; i < size; ++i) {
      coraft::recovered_state durable = stores_[i]->durable();
      retired_sms_.push_back(std::move(sms_[i]));
      nodes_[i].reset();
      stores_[i] = std::make_unique<coraft::memory_storage>(std::move(durable));
      sms_[i] = std::make_unique<recording_state_machine>();
    }
    nodes_.clear();
    for (node_id id : ids_) make_node(id);
    all_stopped_ = false;
    ctx_.restart();
  }

  // Runs `story` on `threads` threads, then stops every node; the io_context
  // must then run out of work within `limit`. Rethrows the story's failure.
  void run(awaitable<void> story, int threads = 1, clock_type::duration limit = 60s) {
    asio::co_spawn(ctx_, main_task(std::move(story)), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
    const auto deadline = clock_type::now() + limit;
    std::vector<std::exception_ptr> failures(static_cast<std::size_t>(threads));
    auto run_until_done = [this, deadline](std::exception_ptr& failure) {
      while (!ctx_.stopped() && clock_type::now() < deadline) {
        try {
          ctx_.run_until(deadline);
        } catch (...) {
          if (!failure) failure = std::current_exception();
        }
      }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t)
      pool.emplace_back(run_until_done, std::ref(failures[static_cast<std::size_t>(t)]));
    run_until_done(failures[0]);
    for (auto& th : pool) th.join();
    if (!ctx_.stopped()) {
      hung_ = true;
      BOOST_FAIL("the io_context still had work " << std::chrono::duration_cast<std::chrono::seconds>(limit).count()
                                                  << " s after the story began: a task hung or outlived its node");
    }
    for (auto& f : failures)
      if (f) std::rethrow_exception(f);
  }

  // ---- access -------------------------------------------------------------

  coraft::node& node(node_id id) { return *nodes_.at(id - 1); }
  recording_state_machine& sm(node_id id) { return *sms_.at(id - 1); }
  coraft::memory_network& net() { return net_; }
  const std::vector<node_id>& ids() const { return ids_; }
  std::vector<node_id> all_but(node_id excluded) const {
    std::vector<node_id> out;
    for (node_id id : ids_)
      if (id != excluded) out.push_back(id);
    return out;
  }

  // ---- coroutines run by stories ------------------------------------------

  awaitable<void> start_all() {
    for (auto& n : nodes_) co_await n->start();
  }

  awaitable<void> stop_all() {
    for (auto& n : nodes_) {
      co_await n->stop();
      net_.detach(n->id());
    }
    all_stopped_ = true;
  }

  static awaitable<void> pause(clock_type::duration d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(use_awaitable);
  }

  // The status of each of `among`, in order. Every leader seen is recorded
  // for the Election Safety check.
  awaitable<std::vector<node_status>> statuses(std::vector<node_id> among) {
    std::vector<node_status> out;
    for (node_id id : among) {
      out.push_back(co_await node(id).status());
      const node_status& s = out.back();
      if (s.state == role::leader) {
        auto [it, fresh] = leader_of_term_.emplace(s.term, s.id);
        if (!fresh && it->second != s.id) two_leaders_in_a_term_ = true;
      }
    }
    co_return out;
  }

  // Waits until exactly one of `among` is leader and all of `among` agree
  // on its term and identity; returns the leader's status.
  awaitable<std::optional<node_status>> wait_for_leader(std::vector<node_id> among, clock_type::duration limit = 10s) {
    const auto deadline = clock_type::now() + limit;
    while (true) {
      const std::vector<node_status> ss = co_await statuses(among);
      const auto leaders =
          std::count_if(ss.begin(), ss.end(), [](const node_status& s) { return s.state == role::leader; });
      if (leaders == 1) {
        const node_status leader =
            *std::find_if(ss.begin(), ss.end(), [](const node_status& s) { return s.state == role::leader; });
        if (std::all_of(ss.begin(), ss.end(),
                        [&](const node_status& s) { return s.term == leader.term && s.leader == leader.id; }))
          co_return leader;
      }
      if (clock_type::now() >= deadline) co_return std::nullopt;
      co_await pause(10ms);
    }
  }

  // Waits until all of `among` have applied everything they know committed,
  // agree on the commit index, and it is at least `at_least`.
  awaitable<bool> wait_converged(std::vector<node_id> among, index_t at_least, clock_type::duration limit = 10s) {
    const auto deadline = clock_type::now() + limit;
    while (true) {
      const std::vector<node_status> ss = co_await statuses(among);
      const index_t commit = ss.front().commit_index;
      if (commit >= at_least && std::all_of(ss.begin(), ss.end(), [&](const node_status& s) {
            return s.commit_index == commit && s.applied_index == commit;
          }))
        co_return true;
      if (clock_type::now() >= deadline) co_return false;
      co_await pause(10ms);
    }
  }

  // Waits until `done()` holds (a condition on state the story owns).
  static awaitable<bool> wait_until(std::function<bool()> done, clock_type::duration limit = 10s) {
    const auto deadline = clock_type::now() + limit;
    while (!done()) {
      if (clock_type::now() >= deadline) co_return false;
      co_await pause(5ms);
    }
    co_return true;
  }

  // ---- invariants -----------------------------------------------------------

  void check_invariants() const {
    BOOST_TEST(!two_leaders_in_a_term_, "Election Safety [§5.2]: two leaders were seen in one term");
    std::vector<const recording_state_machine*> all;
    for (const auto& m : sms_)
      if (m) all.push_back(m.get());
    for (const auto& m : retired_sms_) all.push_back(m.get());
    for (const auto* m : all) {
      const auto& seq = m->applied();
      BOOST_TEST((std::adjacent_find(
                      seq.begin(), seq.end(),
                      [](const applied_entry& a, const applied_entry& b) { return a.index >= b.index; }) == seq.end()),
                 "a state machine was given indexes out of order or twice");
    }
    for (std::size_t i = 0; i < all.size(); ++i)
      for (std::size_t j = i + 1; j < all.size(); ++j)
        BOOST_TEST(
            (all[i]->restores > 0 || all[j]->restores > 0
                 ? agree_where_both_applied(all[i]->applied(), all[j]->applied())
                 : is_prefix(all[i]->applied(), all[j]->applied()) || is_prefix(all[j]->applied(), all[i]->applied())),
            "State Machine Safety [§5.3]: state machines " << i << " and " << j << " applied diverging sequences");
  }

 private:
  void make_node(node_id id) {
    node_options o = base_;
    o.raft.id = id;
    o.raft.seed = id;
    o.voters = ids_;
    auto& slot = id - 1 < nodes_.size() ? nodes_[id - 1] : nodes_.emplace_back();
    slot = std::make_unique<coraft::node>(ctx_.get_executor(), o, *stores_[id - 1], net_.endpoint(id), *sms_[id - 1]);
    net_.attach(*slot);
  }

  // The story, then (whatever happened) stop every node, then the verdict.
  awaitable<void> main_task(awaitable<void> story) {
    std::exception_ptr failure;
    try {
      co_await std::move(story);
    } catch (...) {
      failure = std::current_exception();
    }
    co_await stop_all();
    if (failure) std::rethrow_exception(failure);
  }

  asio::io_context ctx_;
  coraft::memory_network net_{ctx_.get_executor()};
  std::vector<node_id> ids_;
  node_options base_;
  std::vector<std::unique_ptr<recording_state_machine>> retired_sms_;  // earlier incarnations
  std::vector<std::unique_ptr<coraft::memory_storage>> stores_;
  std::vector<std::unique_ptr<recording_state_machine>> sms_;
  std::vector<std::unique_ptr<coraft::node>> nodes_;
  std::map<coraft::term_t, node_id> leader_of_term_;
  bool two_leaders_in_a_term_ = false;
  bool all_stopped_ = false;
  bool hung_ = false;
};

// ---- proposers ----------------------------------------------------------------

// Proposes `count` commands "<prefix>/<k>" one after another on `n`,
// recording each outcome in `out`. Gives up after a timeout: the cluster is
// not making progress, and each further proposal would wait as long again.
awaitable<void> propose_in_turn(coraft::node& n, std::string prefix, int count, std::vector<proposal>& out) {
  for (int k = 0; k < count; ++k) {
    proposal p;
    p.command = prefix + "/" + std::to_string(k);
    p.outcome = co_await n.propose(p.command);
    const bool timed_out = p.outcome.error().code == make_error_code(errc::timeout);
    out.push_back(std::move(p));
    if (timed_out) co_return;
  }
}

// `proposers` coroutines, each proposing `per_proposer` commands in turn on
// `n`, spawned on the story's executor; `running` counts those not done.
struct load {
  std::vector<std::vector<proposal>> results;
  std::atomic<int> running{0};

  bool done() const { return running.load() == 0; }
  std::vector<const proposal*> all() const {
    std::vector<const proposal*> out;
    for (const auto& r : results)
      for (const auto& p : r) out.push_back(&p);
    return out;
  }
};

awaitable<void> spawn_load(coraft::node& n, std::string tag, int proposers, int per_proposer, load& l) {
  auto ex = co_await asio::this_coro::executor;
  l.results.assign(static_cast<std::size_t>(proposers), {});
  l.running = proposers;
  for (int i = 0; i < proposers; ++i) {
    asio::co_spawn(ex,
                   propose_in_turn(n, tag + std::to_string(i), per_proposer, l.results[static_cast<std::size_t>(i)]),
                   [&l](std::exception_ptr e) {
                     --l.running;
                     if (e) std::rethrow_exception(e);
                   });
  }
}

std::string describe(const propose_outcome& o) { return o ? "ok" : o.error().code.message(); }

// ---- 1. election --------------------------------------------------------------

awaitable<void> elect_story(cluster& c) {
  co_await c.start_all();
  // No campaign(): the election timeouts alone must produce a leader [§5.2].
  const auto leader = co_await c.wait_for_leader(c.ids());
  BOOST_REQUIRE_MESSAGE(leader, "no single leader that all three agree on within 10 s");
  BOOST_TEST(leader->term >= 1u);
  const auto ss = co_await c.statuses(c.ids());
  for (const auto& s : ss) {
    BOOST_TEST(s.term == leader->term);
    BOOST_TEST(s.leader == leader->id);
    BOOST_TEST((s.id == leader->id) == (s.state == role::leader));
  }
}

BOOST_FIXTURE_TEST_CASE(three_nodes_elect_exactly_one_leader, cluster) {
  // [§5.2] "Raft uses randomized election timeouts to ensure that split
  // votes are rare": three nodes started together settle on one leader.
  build();
  run(elect_story(*this));
}

// ---- 2. many concurrent proposers ----------------------------------------------

awaitable<void> many_proposers_story(cluster& c, load& l) {
  co_await c.start_all();
  const auto leader = co_await c.wait_for_leader(c.ids());
  BOOST_REQUIRE(leader);
  co_await spawn_load(c.node(leader->id), "p", 200, 20, l);
  BOOST_REQUIRE_MESSAGE(co_await cluster::wait_until([&l] { return l.done(); }, 30s),
                        "200 proposers x 20 proposals not done within 30 s");

  std::set<index_t> indexes;
  index_t last = 0;
  for (const proposal* p : l.all()) {
    BOOST_TEST_REQUIRE(static_cast<bool>(p->outcome), p->command << ": " << describe(p->outcome));
    indexes.insert(p->outcome->index);
    last = std::max(last, p->outcome->index);
    // The result is what the leader's state machine returned for that entry.
    const applied_entry* e = c.sm(leader->id).at(p->outcome->index);
    BOOST_TEST_REQUIRE(e != nullptr);
    BOOST_TEST(e->command == p->command);
    BOOST_TEST(e->result == p->outcome->result);
  }
  BOOST_TEST(indexes.size() == 200u * 20u, "every proposal got its own index");
  // One proposer's proposals were made in turn: their indexes ascend.
  for (const auto& r : l.results)
    for (std::size_t k = 1; k < r.size(); ++k) BOOST_TEST(r[k - 1].outcome->index < r[k].outcome->index);

  BOOST_REQUIRE_MESSAGE(co_await c.wait_converged(c.ids(), last), "followers did not catch up within 10 s");
  const auto& reference = c.sm(leader->id).applied();
  BOOST_TEST(reference.size() == 200u * 20u);
  for (node_id id : c.ids())
    BOOST_TEST((c.sm(id).applied() == reference), "node " << id << " applied another sequence");
}

BOOST_FIXTURE_TEST_CASE(concurrent_proposals_commit_once_in_one_order, cluster) {
  // [§5.3] Every proposal is appended once, at its own index; all replicas
  // apply the same commands in the same order, and propose() hands back
  // exactly what apply() returned.
  build();
  load l;
  run(many_proposers_story(*this, l));
}

// ---- 3. proposing on a follower -------------------------------------------------

awaitable<void> follower_story(cluster& c) {
  co_await c.start_all();
  const auto leader = co_await c.wait_for_leader(c.ids());
  BOOST_REQUIRE(leader);
  for (node_id id : c.all_but(leader->id)) {
    const propose_outcome o = co_await c.node(id).propose("to a follower");
    BOOST_TEST(o.error().code == make_error_code(errc::not_leader), "node " << id << ": " << describe(o));
    BOOST_TEST(o.error().leader_hint == leader->id);
  }
  for (node_id id : c.ids()) BOOST_TEST(c.sm(id).applied().empty(), "a rejected proposal was applied");
}

BOOST_FIXTURE_TEST_CASE(follower_answers_not_leader_with_hint, cluster) {
  // [§8] "If the client contacts a follower, the follower rejects the
  // request and supplies information about the most recent leader".
  build();
  run(follower_story(*this));
}

// ---- 4. too large ----------------------------------------------------------------

awaitable<void> too_large_story(cluster& c) {
  co_await c.start_all();
  const auto leader = co_await c.wait_for_leader(c.ids());
  BOOST_REQUIRE(leader);
  coraft::node& n = c.node(leader->id);
  const propose_outcome big = co_await n.propose(std::string(17, 'x'));
  BOOST_TEST(big.error().code == make_error_code(errc::too_large), describe(big));
  const propose_outcome fits = co_await n.propose(std::string(16, 'y'));
  BOOST_TEST(static_cast<bool>(fits), "a command of exactly max_command_bytes: " << describe(fits));
  BOOST_REQUIRE(co_await c.wait_converged(c.ids(), fits->index));
  for (node_id id : c.ids()) {
    BOOST_TEST(c.sm(id).applied().size() == 1u);
    for (const auto& e : c.sm(id).applied()) BOOST_TEST(e.command.size() <= 16u, "the too-large command was applied");
  }
}

BOOST_FIXTURE_TEST_CASE(too_large_command_is_refused, cluster) {
  node_options o;
  o.max_command_bytes = 16;
  build(o);
  run(too_large_story(*this));
}

// ---- 4b. latency histograms ------------------------------------------------------

struct latency_findings {
  node_id leader = coraft::no_node;
  std::vector<node_status> statuses;  // every node, after the proposals converged
};

awaitable<void> latency_story(cluster& c, latency_findings& f) {
  co_await c.start_all();
  const auto leader = co_await c.wait_for_leader(c.ids());
  BOOST_REQUIRE(leader);
  f.leader = leader->id;
  std::vector<proposal> out;
  co_await propose_in_turn(c.node(leader->id), "timed", 20, out);
  BOOST_REQUIRE_EQUAL(out.size(), 20u);
  BOOST_REQUIRE(static_cast<bool>(out.back().outcome));
  BOOST_REQUIRE(co_await c.wait_converged(c.ids(), out.back().outcome->index));
  f.statuses = co_await c.statuses(c.ids());
}

BOOST_FIXTURE_TEST_CASE(proposals_fill_the_latency_histograms_on_leader_and_followers, cluster) {
  // Issue 20: each proposal is timed from accepted to committed and to
  // applied on the leader; every node times commit to apply; the leader
  // times each follower's append round trips.
  build();
  latency_findings f;
  run(latency_story(*this, f));
  for (const node_status& s : f.statuses) {
    const coraft::node_metrics& m = s.metrics;
    BOOST_TEST(m.commit_apply_latency.count >= 1u, "node " << s.id << " timed no commit -> apply");
    if (s.id != f.leader) continue;
    BOOST_TEST(m.propose_commit_latency.count == 20u);
    BOOST_TEST(m.commit_latency.count == 20u);
    BOOST_TEST(m.propose_commit_latency.sum <= m.commit_latency.sum, "committed after applied?");
    for (node_id peer : all_but(f.leader)) {
      const auto rtt = m.append_rtt.find(peer);
      BOOST_TEST_REQUIRE((rtt != m.append_rtt.end()), "no round trips to follower " << peer);
      // At least one answered append per proposal made in turn (each
      // waited for its commit, so for a majority's answers).
      BOOST_TEST(rtt->second.count >= 1u);
    }
    BOOST_TEST(m.append_rtt.count(f.leader) == 0u);
  }
}

BOOST_FIXTURE_TEST_CASE(latency_histograms_off_leaves_them_empty, cluster) {
  node_options o;
  o.latency_histograms = false;
  build(o);
  latency_findings f;
  run(latency_story(*this, f));
  for (const node_status& s : f.statuses) {
    const coraft::node_metrics& m = s.metrics;
    BOOST_TEST(m.commit_latency.count == 0u);
    BOOST_TEST(m.propose_commit_latency.count == 0u);
    BOOST_TEST(m.commit_apply_latency.count == 0u);
    BOOST_TEST(m.apply_batch_latency.count == 0u);
    BOOST_TEST(m.append_rtt.empty());
    if (s.id == f.leader) BOOST_TEST(m.proposals_ok == 20u, "the counters are kept");
  }
}

// ---- 5. leader failure -------------------------------------------------------------

awaitable<void> failover_story(cluster& c, load& stranded) {
  co_await c.start_all();
  const auto first = co_await c.wait_for_leader(c.ids());
  BOOST_REQUIRE(first);
  const node_id old_id = first->id;
  std::vector<proposal> before;
  co_await propose_in_turn(c.node(old_id), "before", 10, before);
  for (const auto& p : before) BOOST_TEST_REQUIRE(static_cast<bool>(p.outcome), describe(p.outcome));

  // The old leader is cut off. A proposal it may still accept can never
  // commit: nobody else will ever see it. (Not awaited here: it ends when
  // the old leader learns that a newer leader replaced that entry.)
  c.net().isolate(old_id);
  co_await spawn_load(c.node(old_id), "stranded", 1, 1, stranded);

  const auto second = co_await c.wait_for_leader(c.all_but(old_id));
  BOOST_REQUIRE_MESSAGE(second, "the two connected nodes elected no leader within 10 s");
  BOOST_TEST(second->id != old_id);
  BOOST_TEST(second->term > first->term);
  std::vector<proposal> after;
  co_await propose_in_turn(c.node(second->id), "after", 10, after);
  for (const auto& p : after) BOOST_TEST_REQUIRE(static_cast<bool>(p.outcome), describe(p.outcome));

  // The old leader comes back, follows the new one and catches up.
  c.net().heal();
  BOOST_REQUIRE_MESSAGE(co_await c.wait_for_leader(c.ids()), "no agreed leader after heal within 10 s");
  BOOST_REQUIRE_MESSAGE(co_await c.wait_converged(c.ids(), after.back().outcome->index),
                        "the old leader did not catch up within 10 s");
  const auto ss = co_await c.statuses(c.ids());
  // [thesis §9.6] Pre-vote: while cut off, the old leader could not raise
  // its term, so rejoining did not depose the new leader.
  BOOST_TEST(ss[old_id - 1].state == role::follower);
  BOOST_TEST(ss[old_id - 1].leader == second->id);
  BOOST_TEST(ss[old_id - 1].term == second->term);
  const auto& reference = c.sm(second->id).applied();
  BOOST_TEST(reference.size() == 20u);
  for (node_id id : c.ids())
    BOOST_TEST((c.sm(id).applied() == reference), "node " << id << " applied another sequence");
  BOOST_REQUIRE_MESSAGE(co_await cluster::wait_until([&stranded] { return stranded.done(); }),
                        "the stranded proposal did not complete within 10 s");
}

BOOST_FIXTURE_TEST_CASE(new_leader_after_leader_is_cut_off_and_old_leader_rejoins, cluster) {
  // [§5.2, §5.3] The two connected nodes elect a new leader that accepts
  // proposals; when the network heals, the old leader becomes a follower
  // and its log is made to match the new leader's.
  build();
  load stranded;
  run(failover_story(*this, stranded));
  const auto all = stranded.all();
  BOOST_REQUIRE(all.size() == 1u);
  // not_leader if it had already stepped down; dropped when the new leader's
  // entry replaced it [§5.3]; timeout if that took longer than 5 s. Never ok.
  const propose_outcome& o = all.front()->outcome;
  BOOST_TEST((o.error().code == make_error_code(errc::not_leader) || o.error().code == make_error_code(errc::dropped) ||
              o.error().code == make_error_code(errc::timeout)),
             "the stranded proposal ended with " << describe(o));
  BOOST_TEST_MESSAGE("the stranded proposal ended with " << describe(o));
}

// ---- 6. stop with proposals in flight --------------------------------------------

awaitable<void> stop_in_flight_story(cluster& c, load& l, std::vector<proposal>& after_stop) {
  co_await c.start_all();
  c.node(1).campaign();
  const auto leader = co_await c.wait_for_leader(c.ids());
  BOOST_REQUIRE(leader);
  coraft::node& n = c.node(leader->id);

  // Nothing can commit once the leader is alone: 50 proposals stay pending.
  c.net().isolate(leader->id);
  co_await spawn_load(n, "inflight", 50, 1, l);
  std::size_t pending = 0;
  const auto deadline = clock_type::now() + 10s;
  while (pending < 50 && clock_type::now() < deadline) {
    pending = (co_await n.status()).pending_proposals;
    if (pending < 50) co_await cluster::pause(5ms);
  }
  BOOST_REQUIRE_MESSAGE(pending == 50u, "only " << pending << " of 50 proposals became pending");

  co_await n.stop();
  BOOST_REQUIRE_MESSAGE(co_await cluster::wait_until([&l] { return l.done(); }),
                        "a proposal pending at stop() did not complete within 10 s");
  for (const proposal* p : l.all())
    BOOST_TEST(p->outcome.error().code == make_error_code(errc::interrupted),
               p->command << ": " << describe(p->outcome));
  const node_status s = co_await n.status();
  BOOST_TEST(s.stopped);
  BOOST_TEST(s.pending_proposals == 0u);
  co_await n.stop();  // idempotent
  co_await propose_in_turn(n, "after-stop", 3, after_stop);
  for (const auto& p : after_stop)
    BOOST_TEST(p.outcome.error().code == make_error_code(errc::stopped), describe(p.outcome));
}

BOOST_FIXTURE_TEST_CASE(stop_completes_every_pending_proposal_as_interrupted, cluster) {
  // node.hpp: stop() "completes pending proposals with `interrupted`, cancels
  // every task and waits for all of them": nothing hangs, nothing leaks, and
  // run() returns (cluster::run fails if the io_context keeps work).
  node_options o;
  // A 1-2 s election timeout: the isolated leader keeps leading (check-quorum
  // needs a whole timeout to depose it) while the test fills its queue.
  o.raft.election_ticks = 100;
  build(o);
  load l;
  std::vector<proposal> after_stop;
  run(stop_in_flight_story(*this, l, after_stop));
  BOOST_TEST(after_stop.size() == 3u);
}

// ---- 7. crash and restart from durable state -----------------------------------

awaitable<void> before_crash_story(cluster& c, std::vector<proposal>& acked, std::vector<applied_entry>& seen) {
  co_await c.start_all();
  const auto leader = co_await c.wait_for_leader(c.ids());
  BOOST_REQUIRE(leader);
  co_await propose_in_turn(c.node(leader->id), "kept", 100, acked);
  for (const auto& p : acked) BOOST_TEST_REQUIRE(static_cast<bool>(p.outcome), describe(p.outcome));
  seen = c.sm(leader->id).applied();
  // No waiting for the followers: the crash comes right after the last
  // acknowledgement (the story ends; every node stops).
}

awaitable<void> after_restart_story(cluster& c, const std::vector<proposal>& acked,
                                    const std::vector<applied_entry>& seen) {
  for (node_id id : c.ids()) BOOST_TEST(c.sm(id).applied().empty());
  co_await c.start_all();
  const auto leader = co_await c.wait_for_leader(c.ids());
  BOOST_REQUIRE_MESSAGE(leader, "no leader after restart within 10 s");
  // The commit index is not persisted: the new leader's no-op commits the
  // old entries [§5.4.2], and every node applies them again from the start.
  BOOST_REQUIRE_MESSAGE(co_await c.wait_converged(c.ids(), acked.back().outcome->index),
                        "the acknowledged entries were not re-applied everywhere within 10 s");
  for (node_id id : c.ids()) {
    const auto& seq = c.sm(id).applied();
    BOOST_TEST((seq == seen), "node " << id << " re-applied another sequence (" << seq.size() << " entries, "
                                      << seen.size() << " before the crash)");
    for (const auto& p : acked) {
      const applied_entry* e = c.sm(id).at(p.outcome->index);
      BOOST_TEST_REQUIRE(e != nullptr, "node " << id << " lost acknowledged " << p.command);
      BOOST_TEST(e->command == p.command);
      BOOST_TEST(e->result == p.outcome->result);
    }
  }
}

BOOST_FIXTURE_TEST_CASE(restart_from_durable_state_loses_nothing_acknowledged, cluster) {
  // [§5.4] An acknowledged entry is durable on a majority, so after every
  // node crashes and restarts from what its storage made durable, the new
  // leader has it and every state machine receives it again, in order.
  build();
  std::vector<proposal> acked;
  std::vector<applied_entry> seen;
  run(before_crash_story(*this, acked, seen));
  BOOST_REQUIRE(acked.size() == 100u);
  restart_from_durable();
  run(after_restart_story(*this, acked, seen));
}

// ---- 8. manual ticks ----------------------------------------------------------------

awaitable<void> tick_all(cluster& c) {
  for (node_id id : c.ids()) c.node(id).tick();
  // Let the messages a tick caused travel (settling only: every assertion
  // below holds however long this takes).
  co_await cluster::pause(2ms);
}

awaitable<bool> any_leader(cluster& c) {
  for (const auto& s : co_await c.statuses(c.ids()))
    if (s.state == role::leader) co_return true;
  co_return false;
}

awaitable<void> manual_ticks_story(cluster& c, int election_ticks, int& rounds) {
  co_await c.start_all();
  // Without ticks time does not pass for the protocol: nobody campaigns.
  co_await cluster::pause(300ms);
  for (const auto& s : co_await c.statuses(c.ids())) {
    BOOST_TEST(s.term == 0u);
    BOOST_TEST(s.state == role::follower);
  }
  // [§5.2] Election timeouts are drawn from [election_ticks, 2*election_ticks):
  // one tick short of the minimum, still nobody has campaigned.
  for (rounds = 1; rounds < election_ticks; ++rounds) co_await tick_all(c);
  rounds = election_ticks - 1;
  for (const auto& s : co_await c.statuses(c.ids())) {
    BOOST_TEST(s.term == 0u);
    BOOST_TEST(s.state == role::follower);
    BOOST_TEST(s.voted_for == coraft::no_node);
  }
  while (rounds < 10 * election_ticks && !co_await any_leader(c)) {
    co_await tick_all(c);
    ++rounds;
  }
  const auto leader = co_await c.wait_for_leader(c.ids(), 5s);
  BOOST_REQUIRE_MESSAGE(leader, "no agreed leader after " << rounds << " tick rounds");
  BOOST_TEST(rounds >= election_ticks);
  BOOST_TEST(rounds < 10 * election_ticks);
  BOOST_TEST_MESSAGE("leader " << leader->id << " elected in term " << leader->term << " after " << rounds
                               << " tick rounds");
  const propose_outcome o = co_await c.node(leader->id).propose("ticked");
  BOOST_TEST(static_cast<bool>(o), describe(o));
}

BOOST_FIXTURE_TEST_CASE(manual_ticks_drive_the_election, cluster) {
  // node_options::tick_interval = 0: no ticker; the owner calls tick().
  node_options o;
  o.tick_interval = 0ms;
  build(o);
  int rounds = 0;
  run(manual_ticks_story(*this, o.raft.election_ticks, rounds));
}

// ---- 9. proposal timeout -------------------------------------------------------------

awaitable<void> timeout_story(cluster& c, load& l) {
  co_await c.start_all();
  c.node(1).campaign();
  const auto leader = co_await c.wait_for_leader(c.ids());
  BOOST_REQUIRE(leader);
  coraft::node& n = c.node(leader->id);

  c.net().isolate(leader->id);
  const auto t0 = clock_type::now();
  co_await spawn_load(n, "doomed", 5, 1, l);
  BOOST_REQUIRE_MESSAGE(co_await cluster::wait_until([&l] { return l.done(); }),
                        "proposals on an isolated leader did not time out within 10 s");
  const auto elapsed = clock_type::now() - t0;
  for (const proposal* p : l.all())
    BOOST_TEST(p->outcome.error().code == make_error_code(errc::timeout), p->command << ": " << describe(p->outcome));
  // 10 ticks of 10 ms: not before (allowing for late ticks).
  BOOST_TEST(elapsed >= 40ms);
  BOOST_TEST((co_await n.status()).pending_proposals == 0u);

  c.net().heal();
  const auto again = co_await c.wait_for_leader(c.ids());
  BOOST_REQUIRE_MESSAGE(again, "no agreed leader after heal within 10 s");
  const propose_outcome o = co_await c.node(again->id).propose("after heal");
  BOOST_TEST(static_cast<bool>(o), describe(o));
}

BOOST_FIXTURE_TEST_CASE(proposal_on_isolated_leader_times_out, cluster) {
  // node.hpp: `timeout` after propose_timeout_ticks without a commit; the
  // outcome is unknown, and the node forgets the waiter.
  node_options o;
  o.propose_timeout_ticks = 10;
  // The isolated leader keeps leading for at least 0.5 s (check-quorum),
  // well past the 0.1 s proposal timeout.
  o.raft.election_ticks = 50;
  build(o);
  load l;
  run(timeout_story(*this, l));
}

// ---- 10. two threads -----------------------------------------------------------------

// Boost.Test's assertions are not thread-safe: this story only records, and
// the test body asserts once run() has returned.
struct two_thread_findings {
  std::optional<node_status> leader;
  bool proposers_done = false;
  bool converged = false;
};

awaitable<void> two_threads_story(cluster& c, load& l, two_thread_findings& f) {
  co_await c.start_all();
  f.leader = co_await c.wait_for_leader(c.ids());
  if (!f.leader) co_return;
  co_await spawn_load(c.node(f.leader->id), "mt", 64, 50, l);
  f.proposers_done = co_await cluster::wait_until([&l] { return l.done(); }, 30s);
  if (!f.proposers_done) co_return;
  index_t last = 0;
  for (const proposal* p : l.all()) last = std::max(last, p->outcome->index);
  f.converged = co_await c.wait_converged(c.ids(), last);
}

BOOST_FIXTURE_TEST_CASE(two_threads_sixty_four_proposers_consistent_logs, cluster) {
  // The same guarantees with the io_context run by two threads (the node's
  // strand serialises it; TSan builds check that nothing else is shared).
  build();
  load l;
  two_thread_findings f;
  run(two_threads_story(*this, l, f), 2);
  BOOST_REQUIRE_MESSAGE(f.leader, "no agreed leader within 10 s");
  BOOST_REQUIRE_MESSAGE(f.proposers_done, "64 proposers x 50 proposals not done within 30 s");
  BOOST_REQUIRE_MESSAGE(f.converged, "nodes did not converge within 10 s");
  std::set<index_t> indexes;
  const recording_state_machine& leader_sm = sm(f.leader->id);
  for (const proposal* p : l.all()) {
    BOOST_TEST_REQUIRE(static_cast<bool>(p->outcome), p->command << ": " << describe(p->outcome));
    indexes.insert(p->outcome->index);
    const applied_entry* e = leader_sm.at(p->outcome->index);
    BOOST_TEST_REQUIRE(e != nullptr);
    BOOST_TEST(e->command == p->command);
    BOOST_TEST(e->result == p->outcome->result);
  }
  BOOST_TEST(indexes.size() == 64u * 50u);
  BOOST_TEST(leader_sm.applied().size() == 64u * 50u);
  for (node_id id : ids())
    BOOST_TEST((sm(id).applied() == leader_sm.applied()), "node " << id << " applied another sequence");
}

// ---- 11. a slow state machine -------------------------------------------------

// Recorded by the story, asserted after run() (Boost.Test's assertions are
// not thread-safe).
struct slow_findings {
  std::optional<node_status> leader;
  std::vector<node_status> before, after;
  bool proposers_done = false;
};

awaitable<void> slow_state_machine_story(cluster& c, load& l, slow_findings& f) {
  co_await c.start_all();
  f.leader = co_await c.wait_for_leader(c.ids());
  if (!f.leader) co_return;
  f.before = co_await c.statuses(c.ids());
  co_await spawn_load(c.node(f.leader->id), "slow", 8, 150, l);
  f.proposers_done = co_await cluster::wait_until([&l] { return l.done(); }, 60s);
  f.after = co_await c.statuses(c.ids());
}

BOOST_FIXTURE_TEST_CASE(a_slow_state_machine_costs_no_leadership, cluster) {
  // Issue 21, on real time with the default 150-300 ms election timeout:
  // 1 ms per apply and 500 ms per snapshot capture, with snapshots every
  // 300 entries on every node. The state machine runs on its own thread, so
  // the heartbeats go on: the term does not move and no node's election
  // timer runs out.
  node_options o;
  o.snapshot_entries = 300;
  o.snapshot_trailing_entries = 50;
  build(o);
  for (node_id id : ids()) {
    sm(id).apply_cost = 1ms;
    sm(id).capture_cost = 500ms;
  }
  load l;
  slow_findings f;
  // Three threads: a node whose strand stalls must not stall the others'
  // timers (one thread would stall all three alike, and hide the stall).
  run(slow_state_machine_story(*this, l, f), 3);
  BOOST_REQUIRE_MESSAGE(f.leader, "no agreed leader within 10 s");
  BOOST_REQUIRE_MESSAGE(f.proposers_done, "8 proposers x 150 proposals not done within 60 s");
  for (const proposal* p : l.all())
    BOOST_TEST_REQUIRE(static_cast<bool>(p->outcome), p->command << ": " << describe(p->outcome));
  BOOST_REQUIRE(f.before.size() == f.after.size());
  for (std::size_t i = 0; i < f.after.size(); ++i) {
    const node_status& a = f.after[i];
    BOOST_TEST(a.term == f.leader->term, "node " << a.id << " moved to term " << a.term);
    BOOST_TEST(a.elections.timer == f.before[i].elections.timer, "node " << a.id << "'s election timer ran out");
    BOOST_TEST(a.leader == f.leader->id);
    BOOST_TEST(a.metrics.snapshots_taken >= 1u, "node " << a.id << " took no snapshot: the capture cost was not paid");
  }
  for (node_id id : ids()) BOOST_TEST(sm(id).captures.load() >= 1);
}

}  // namespace

namespace {

// ---- 12. a follower behind the compacted log gets the snapshot ----------------

struct catch_up_findings {
  bool leader = false;
  bool caught_up = false;
  std::uint64_t installed = 0;
  std::uint64_t install_timed = 0;  // snapshot_install_latency's count
};

awaitable<void> catch_up_by_snapshot_story(cluster& c, catch_up_findings& f) {
  co_await c.start_all();
  c.node(1).campaign();
  const auto leader = co_await c.wait_for_leader(c.ids());
  if (!leader) co_return;
  f.leader = true;
  const node_id behind = leader->id == 3 ? 2 : 3;
  c.net().isolate(behind);
  coraft::node& n = c.node(leader->id);
  std::vector<proposal> out;
  co_await propose_in_turn(n, "while-away", 20, out);
  // Compacted through the last entry: the follower can only get the snapshot.
  (void)co_await n.snapshot();
  c.net().heal();
  co_await propose_in_turn(n, "back", 1, out);
  const index_t target = (co_await n.status()).commit_index;
  for (int i = 0; i < 1000 && !f.caught_up; ++i) {
    const node_status s = co_await c.node(behind).status();
    f.caught_up = s.applied_index >= target;
    f.installed = s.metrics.snapshots_installed;
    f.install_timed = s.metrics.snapshot_install_latency.count;
    if (!f.caught_up) co_await cluster::pause(10ms);
  }
}

BOOST_FIXTURE_TEST_CASE(a_follower_behind_the_compacted_log_installs_an_empty_snapshot, cluster) {
  // Issue 19: this state machine's snapshot is empty (zero bytes). A
  // follower cut off while the leader compacted its whole log gets it as
  // one empty chunk, which storage must still receive and put in place.
  node_options o;
  o.snapshot_entries = 0;
  o.snapshot_trailing_entries = 0;
  build(o);
  catch_up_findings f;
  run(catch_up_by_snapshot_story(*this, f));
  BOOST_REQUIRE(f.leader);
  BOOST_TEST(f.caught_up, "the follower never caught up");
  BOOST_TEST(f.installed == 1u);
  BOOST_TEST(f.install_timed == 1u, "the install was not timed from its first chunk to the restore");
}

}  // namespace
