// nemesis.cpp — see nemesis.hpp.
#include "nemesis.hpp"

#include "http_client.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <thread>

namespace coraft::chaos {

using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

struct kind_name {
  fault_kind kind;
  std::string_view name;
};
constexpr kind_name kind_names[] = {
    {fault_kind::kill, "kill"},
    {fault_kind::pause, "pause"},
    {fault_kind::partition_halves, "partition-halves"},
    {fault_kind::partition_leader, "partition-leader"},
    {fault_kind::partition_oneway, "partition-oneway"},
    {fault_kind::partition_bridge, "partition-bridge"},
    {fault_kind::clock, "clock"},
    {fault_kind::disk, "disk"},
    {fault_kind::membership, "membership"},
    {fault_kind::transfer, "transfer"},
};

bool node_fault(fault_kind k) {
  return k == fault_kind::kill || k == fault_kind::pause || k == fault_kind::clock || k == fault_kind::disk ||
         k == fault_kind::membership;
}

std::string list(const std::vector<int>& ids) {
  std::string s;
  for (int id : ids) s += (s.empty() ? "n" : ",n") + std::to_string(id);
  return s;
}

}  // namespace

std::string_view to_string(fault_kind k) {
  for (const auto& n : kind_names)
    if (n.kind == k) return n.name;
  return "?";
}

std::optional<fault_kind> fault_from_string(std::string_view s) {
  for (const auto& n : kind_names)
    if (n.name == s) return n.kind;
  return std::nullopt;
}

const std::vector<fault_kind>& all_faults() {
  static const std::vector<fault_kind> all = [] {
    std::vector<fault_kind> v;
    for (const auto& n : kind_names) v.push_back(n.kind);
    return v;
  }();
  return all;
}

bool needs_namespaces(fault_kind k) {
  return k == fault_kind::partition_halves || k == fault_kind::partition_leader || k == fault_kind::partition_oneway ||
         k == fault_kind::partition_bridge;
}

nemesis::nemesis(cluster& c, nemesis_config cfg, const run_clock& clock, const std::filesystem::path& log)
    : cluster_(c), cfg_(std::move(cfg)), clock_(clock), log_(log), rng_(cfg_.seed) {}

void nemesis::note(const std::string& line) {
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "%9.3f s  ", clock_.now_s());
  log_ << stamp << line << std::endl;
}

std::map<std::string, int> nemesis::counts() const {
  std::map<std::string, int> out;
  for (const auto& r : records_) ++out[std::string(to_string(r.kind))];
  return out;
}

int nemesis::find_leader() {
  // The leader with the highest term among those that say they lead.
  int leader = 0;
  std::uint64_t best = 0;
  for (int id : cluster_.ids()) {
    const node_info& n = cluster_.node(id);
    if (n.pid <= 0 || n.paused) continue;
    const auto st = status_of(n.http, 500ms);
    if (!st) continue;
    const json::value* role = st->if_contains("role");
    const json::value* term = st->if_contains("term");
    if (role == nullptr || term == nullptr || !role->is_string() || role->as_string() != "leader") continue;
    const auto t = json::value_to<std::uint64_t>(*term);
    if (t >= best) {
      best = t;
      leader = id;
    }
  }
  return leader;
}

nemesis::membership_of nemesis::member(int id) {
  const int l = find_leader();
  if (l == 0) return membership_of::unknown;
  const auto st = status_of(cluster_.node(l).http);
  // A configuration not yet committed is no answer: the change in it may
  // still be undone (thesis §4.1), and wiping a node on its word could
  // wipe a voter.
  if (!st || !st->contains("members") || st->contains("config_pending")) return membership_of::unknown;
  for (const auto& m : st->at("members").as_array())
    if (json::value_to<std::int64_t>(m.at("id")) == id)
      return m.at("voter").as_bool() ? membership_of::voter : membership_of::learner;
  return membership_of::none;
}

std::vector<int> nemesis::free_nodes() const {
  std::vector<int> out;
  for (int id : cluster_.ids()) {
    bool held = false;
    for (const auto& a : active_)
      if (!a.partition && std::find(a.nodes.begin(), a.nodes.end(), id) != a.nodes.end()) held = true;
    if (!held) out.push_back(id);
  }
  return out;
}

int nemesis::pick_node(const std::vector<int>& candidates, bool prefer_leader) {
  if (candidates.empty()) return 0;
  if (prefer_leader && std::uniform_int_distribution<int>(0, 1)(rng_) == 0) {
    const int l = find_leader();
    if (std::find(candidates.begin(), candidates.end(), l) != candidates.end()) return l;
  }
  return candidates[std::uniform_int_distribution<std::size_t>(0, candidates.size() - 1)(rng_)];
}

// Node `id` (not a member, or about to stop being one) starts over: stopped,
// its data directory wiped, and started empty with --join through another
// node, which asks the leader to add it as a learner.
void nemesis::rejoin(int id) {
  cluster_.terminate(id, 5s);
  cluster_.wipe(id);
  int via = find_leader();
  if (via == 0 || via == id)
    for (int other : cluster_.ids())
      if (other != id) via = other;
  cluster_.start(id, launch_options::joining(cluster_.node(via).http));
}

void nemesis::restart_plain(int id) {
  cluster_.terminate(id, 5s);
  cluster_.start(id);
}

// A membership change through whichever node answers (following redirects
// to the leader), retried while the cluster is busy, leaderless or slow.
// `bad_member` ends it too (a retried removal that had committed, or a
// promotion of a node that is a voter already); callers that act on the
// outcome ask the committed configuration (member()).
bool nemesis::change(const std::string& method, const std::string& target, std::chrono::seconds bound,
                     std::string* last) {
  const auto deadline = clock_type::now() + bound;
  std::size_t turn = 0;
  const std::vector<int> ids = cluster_.ids();
  while (clock_type::now() < deadline) {
    const node_info& n = cluster_.node(ids[turn++ % ids.size()]);
    if (n.pid <= 0 || n.paused) continue;
    const http_answer a = http_call(n.http, method, target, {}, 3s);
    if (last != nullptr) *last = a.status != 0 ? std::to_string(a.status) + " " + a.error : a.failure;
    if (a.status == 200 || (a.status == 409 && a.error == "bad_member")) return true;
    if (a.status != 0 && a.status < 500 && a.status != 409) return false;
    wait_a_little();
  }
  return false;
}

// A pause inside a step that waits for the cluster (a membership change):
// other faults still heal on time meanwhile, or a partition could outlast
// its length by as long as the wait, and keep the wait from ending.
void nemesis::wait_a_little() {
  std::this_thread::sleep_for(200ms);
  heal_due();
}

void nemesis::watch_exits() {
  for (int id : cluster_.reap_exited()) {
    const auto code = cluster_.node(id).last_exit.value_or(0);
    const active_fault* holder = nullptr;
    for (const auto& a : active_)
      if (!a.partition && std::find(a.nodes.begin(), a.nodes.end(), id) != a.nodes.end()) holder = &a;
    if (holder != nullptr && (holder->kind == fault_kind::disk || holder->kind == fault_kind::membership)) {
      note("n" + std::to_string(id) + " exited (status " + std::to_string(code) + ") under fault #" +
           std::to_string(holder->no) + " " + std::string(to_string(holder->kind)));
      continue;
    }
    // No fault of ours explains it: a supervisor would restart it; count it.
    ++unexpected_exits_;
    note("n" + std::to_string(id) + " exited unexpectedly (status " + std::to_string(code) + "): restarting; see " +
         cluster_.log_path(id).string());
    cluster_.start(id);
  }
}

bool nemesis::start_one() {
  const bool partition_active =
      std::any_of(active_.begin(), active_.end(), [](const active_fault& a) { return a.partition; });
  const bool membership_active = std::any_of(active_.begin(), active_.end(),
                                             [](const active_fault& a) { return a.kind == fault_kind::membership; });
  const std::vector<int> free = free_nodes();
  // Node faults hold at most a minority of the nodes at once, so that the
  // cluster can make progress between partitions (which may overlap them).
  const std::size_t held = cluster_.ids().size() - free.size();
  const bool node_room = !free.empty() && held < (cluster_.ids().size() - 1) / 2;
  std::vector<fault_kind> choices;
  for (fault_kind k : cfg_.kinds) {
    if (needs_namespaces(k) && (partition_active || !cluster_.namespaces())) continue;
    if (node_fault(k) && !node_room) continue;
    if (k == fault_kind::membership && membership_active) continue;
    if (k == fault_kind::clock && cfg_.faketime_lib.empty()) continue;
    if (k == fault_kind::disk && !cfg_.failpoints) continue;
    choices.push_back(k);
  }
  if (choices.empty()) return false;
  const fault_kind kind = choices[std::uniform_int_distribution<std::size_t>(0, choices.size() - 1)(rng_)];
  active_fault a;
  a.no = next_fault_;
  a.kind = kind;
  a.partition = needs_namespaces(kind);
  const double length = std::uniform_real_distribution<double>(cfg_.length_min_s, cfg_.length_max_s)(rng_);
  std::string what;
  std::vector<int> ids = cluster_.ids();
  std::shuffle(ids.begin(), ids.end(), rng_);
  auto cut_both = [this](const std::vector<int>& x, const std::vector<int>& y) {
    for (int p : x)
      for (int q : y) {
        cluster_.cut(p, q);
        cluster_.cut(q, p);
      }
  };
  switch (kind) {
    case fault_kind::kill: {
      const int t = pick_node(free, true);
      cluster_.kill(t);
      a.nodes = {t};
      what = "SIGKILL n" + std::to_string(t);
      break;
    }
    case fault_kind::pause: {
      const int t = pick_node(free, true);
      cluster_.pause(t);
      a.nodes = {t};
      what = "SIGSTOP n" + std::to_string(t);
      break;
    }
    case fault_kind::clock: {
      const int t = pick_node(free, true);
      static constexpr const char* rates[] = {"0.5", "0.75", "1.25", "1.5", "2.0"};
      const int offset = std::uniform_int_distribution<int>(-300, 300)(rng_);
      const char* rate = rates[std::uniform_int_distribution<int>(0, 4)(rng_)];
      a.env = std::string(offset < 0 ? "-" : "+") + std::to_string(std::abs(offset)) + " x" + rate;
      cluster_.terminate(t, 5s);
      cluster_.start(t, launch_options::with_env({"LD_PRELOAD=" + cfg_.faketime_lib, "FAKETIME=" + a.env}));
      a.nodes = {t};
      what = "n" + std::to_string(t) + " restarted under faketime '" + a.env + "'";
      break;
    }
    case fault_kind::disk: {
      const int t = pick_node(free, true);
      const int which = std::uniform_int_distribution<int>(0, 2)(rng_);
      const int after = std::uniform_int_distribution<int>(5, 400)(rng_);
      if (which == 0)
        a.env = "sync=eio:after=" + std::to_string(after);
      else if (which == 1)
        a.env = "write=enospc:after=" + std::to_string(after) + ":file=wal";
      else
        a.env = "sync=slow:ms=" + std::to_string(std::uniform_int_distribution<int>(20, 400)(rng_));
      cluster_.terminate(t, 5s);
      cluster_.start(t, launch_options::with_env({"CORAFT_FAILPOINTS=" + a.env}));
      a.nodes = {t};
      what = "n" + std::to_string(t) + " restarted with CORAFT_FAILPOINTS=" + a.env;
      break;
    }
    case fault_kind::membership: {
      const int t = pick_node(free, true);
      std::string last;
      // Whatever the answer said (a lost answer may hide a removal that
      // committed; a 409 bad_member from a new leader may name one that
      // has not), the leader's committed configuration decides. The node is
      // wiped only once it is known not to be a member: wiping a voter
      // would be an operator's error, not a fault of the system.
      (void)change("DELETE", "/v1/members/" + std::to_string(t), 5s, &last);
      membership_of m = member(t);
      for (int i = 0; i < 25 && m == membership_of::unknown; ++i) {
        wait_a_little();
        m = member(t);
      }
      if (m == membership_of::voter || m == membership_of::learner) {
        note("membership: removing n" + std::to_string(t) + " was refused (" + last + "); skipped");
        return false;
      }
      if (m == membership_of::none) rejoin(t);
      a.nodes = {t};
      what = m == membership_of::none ? "n" + std::to_string(t) + " removed, wiped, rejoining as a learner"
                                      : "n" + std::to_string(t) + " removal's outcome unknown (" + last + ")";
      break;
    }
    case fault_kind::transfer: {
      const int l = find_leader();
      if (l == 0) return false;
      std::vector<int> others;
      for (int id : cluster_.ids())
        if (id != l) others.push_back(id);
      const int to = others[std::uniform_int_distribution<std::size_t>(0, others.size() - 1)(rng_)];
      const http_answer r =
          http_call(cluster_.node(l).http, "POST", "/v1/leader/transfer", "{\"to\":" + std::to_string(to) + "}", 3s);
      what = "leadership n" + std::to_string(l) + " -> n" + std::to_string(to) + ": " +
             (r.status != 0 ? std::to_string(r.status) + (r.error.empty() ? "" : " " + r.error) : r.failure);
      records_.push_back({kind, clock_.now_s(), clock_.now_s(), what});
      note("#" + std::to_string(next_fault_++) + " transfer: " + what);
      return true;
    }
    case fault_kind::partition_halves: {
      const std::size_t half = ids.size() / 2;
      const std::vector<int> x(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(half));
      const std::vector<int> y(ids.begin() + static_cast<std::ptrdiff_t>(half), ids.end());
      cut_both(x, y);
      a.nodes = ids;
      what = list(x) + " | " + list(y);
      break;
    }
    case fault_kind::partition_leader: {
      int l = find_leader();
      if (l == 0) l = ids.front();
      std::vector<int> rest;
      for (int id : ids)
        if (id != l) rest.push_back(id);
      cut_both({l}, rest);
      a.nodes = ids;
      what = "n" + std::to_string(l) + " (leader) | " + list(rest);
      break;
    }
    case fault_kind::partition_oneway: {
      const int from = pick_node(ids, true);
      int to = ids.front() == from ? ids[1] : ids.front();
      cluster_.cut(to, from);
      a.nodes = ids;
      what = "n" + std::to_string(to) + " stops hearing n" + std::to_string(from);
      break;
    }
    case fault_kind::partition_bridge: {
      const int middle = ids.front();
      const std::vector<int> rest(ids.begin() + 1, ids.end());
      const std::size_t half = rest.size() / 2;
      const std::vector<int> x(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(half));
      const std::vector<int> y(rest.begin() + static_cast<std::ptrdiff_t>(half), rest.end());
      cut_both(x, y);
      a.nodes = ids;
      what = list(x) + " | " + list(y) + ", both see n" + std::to_string(middle);
      break;
    }
  }
  a.heal_at_s = clock_.now_s() + length;
  a.record = records_.size();
  records_.push_back({kind, clock_.now_s(), 0, what});
  note("#" + std::to_string(a.no) + " " + std::string(to_string(kind)) + ": " + what);
  ++next_fault_;
  active_.push_back(std::move(a));
  return true;
}

void nemesis::heal(active_fault& a) {
  const int t = a.nodes.empty() ? 0 : a.nodes.front();
  std::string how;
  switch (a.kind) {
    case fault_kind::kill:
      cluster_.start(t);
      how = "n" + std::to_string(t) + " restarted";
      break;
    case fault_kind::pause:
      cluster_.resume(t);
      how = "SIGCONT n" + std::to_string(t);
      break;
    case fault_kind::clock:
    case fault_kind::disk:
      restart_plain(t);
      how = "n" + std::to_string(t) + " restarted plain";
      break;
    case fault_kind::membership: {
      // The removal may or may not have committed, the join may have
      // failed (its node exited): whatever happened, end with a voter.
      const auto deadline = clock_type::now() + 20s;
      std::string last;
      bool done = false;
      while (!done && clock_type::now() < deadline) {
        const membership_of m = member(t);
        if (m == membership_of::voter) {
          done = true;
        } else if (m == membership_of::none && !(cluster_.node(t).joining && cluster_.running(t))) {
          rejoin(t);  // removed, and not (or no longer) asking to join
        } else if (m == membership_of::learner) {
          done = change("POST", "/v1/members/" + std::to_string(t) + "/promote", 3s, &last) &&
                 member(t) == membership_of::voter;
        }
        if (!done) wait_a_little();
      }
      how = "n" + std::to_string(t) + (done ? " a voter again" : " not a voter after 20 s (" + last + ")");
      break;
    }
    case fault_kind::partition_halves:
    case fault_kind::partition_leader:
    case fault_kind::partition_oneway:
    case fault_kind::partition_bridge:
      cluster_.heal();
      how = "firewalls flushed";
      break;
    case fault_kind::transfer: break;
  }
  records_[a.record].end_s = clock_.now_s();
  note("#" + std::to_string(a.no) + " healed: " + how);
}

void nemesis::heal_due() {
  watch_exits();
  // Out of active_ first: heal() may wait, and heals what falls due
  // meanwhile through this same function.
  std::vector<active_fault> due;
  for (auto it = active_.begin(); it != active_.end();) {
    if (it->heal_at_s <= clock_.now_s()) {
      due.push_back(std::move(*it));
      it = active_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& a : due) heal(a);
}

void nemesis::run(double until_s, const std::atomic<bool>& stop) {
  std::uniform_real_distribution<double> gap(cfg_.gap_min_s, cfg_.gap_max_s);
  double next_start = clock_.now_s() + gap(rng_);
  while (!stop && clock_.now_s() < until_s) {
    heal_due();
    if (clock_.now_s() >= next_start && static_cast<int>(active_.size()) < cfg_.max_active) {
      start_one();
      next_start = clock_.now_s() + gap(rng_);
    }
    std::this_thread::sleep_for(50ms);
  }
}

bool nemesis::heal_all(std::chrono::seconds bound) {
  const auto deadline = clock_type::now() + bound;
  for (auto& a : active_) a.heal_at_s = 0;  // all due now
  heal_due();
  cluster_.heal();
  for (int id : cluster_.ids()) {
    cluster_.resume(id);
    if (!cluster_.running(id)) {
      note("n" + std::to_string(id) + " was down at the end: restarted");
      cluster_.start(id);
    }
  }
  // Every node a voter again: a learner left by a promotion that failed
  // is promoted now.
  while (clock_type::now() < deadline) {
    const int l = find_leader();
    if (l == 0) {
      std::this_thread::sleep_for(200ms);
      continue;
    }
    const auto st = status_of(cluster_.node(l).http);
    if (!st || !st->contains("members") || st->contains("config_pending")) {
      std::this_thread::sleep_for(200ms);
      continue;
    }
    std::vector<int> voters;
    std::vector<int> learners;
    for (const auto& m : st->at("members").as_array()) {
      const int id = static_cast<int>(json::value_to<std::int64_t>(m.at("id")));
      (m.at("voter").as_bool() ? voters : learners).push_back(id);
    }
    if (voters.size() == cluster_.ids().size()) return true;
    for (int id : learners) change("POST", "/v1/members/" + std::to_string(id) + "/promote", 5s);
    for (int id : cluster_.ids()) {
      const bool is_member = std::find(voters.begin(), voters.end(), id) != voters.end() ||
                             std::find(learners.begin(), learners.end(), id) != learners.end();
      if (!is_member && (!cluster_.node(id).joining || !cluster_.running(id))) {
        // Removed (a change whose answer was lost) and never re-added, or
        // a join that ended with its process.
        note("n" + std::to_string(id) + " is not a member: wiped, rejoining");
        rejoin(id);
      }
    }
    std::this_thread::sleep_for(300ms);
  }
  note("heal: the cluster is not whole again after " + std::to_string(bound.count()) + " s");
  return false;
}

}  // namespace coraft::chaos
