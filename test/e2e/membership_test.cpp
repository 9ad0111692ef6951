// membership_test.cpp — membership changes on real processes [thesis §4]:
// a 4th node joins with --join as a learner, catches up, is promoted, and an
// original follower is removed while a client keeps writing; a leader removes
// itself and hands over; the admin routes refuse bad input with JSON errors.
// Afterwards every write answered 200 is readable through the new
// configuration, and removed nodes stay harmless: they say role "none", do
// not campaign, and the remaining cluster's term stays put.
//
// Addresses: slots 21-23 (ports 30100-30302), nodes on 127.0.0.11-14.
//
// Checks of coraft behaviour beyond the HTTP contract carry a grep-able
// "MEMBERSHIP CHECK <name>" in their failure message:
//   removed-follower-learns, removed-follower-harmless,
//   removed-leader-learns, removed-leader-quiet, self-removal-handover.
#include "e2e_clients.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <iomanip>
#include <list>
#include <mutex>
#include <sstream>
#include <thread>

namespace {

using namespace e2e;
namespace json = boost::json;

// The members a status lists: id -> voter.
std::map<int, bool> members_of(const node_status& s) {
  std::map<int, bool> out;
  if (!s.raw.is_object() || !s.raw.as_object().contains("members") || !s.raw.at("members").is_array()) return out;
  for (const auto& m : s.raw.at("members").as_array())
    out[static_cast<int>(m.at("id").to_number<std::int64_t>())] = m.at("voter").as_bool();
  return out;
}

std::map<int, bool> voters(const std::vector<int>& ids) {
  std::map<int, bool> out;
  for (int id : ids) out[id] = true;
  return out;
}

std::string describe(const std::map<int, bool>& ms) {
  std::ostringstream os;
  for (const auto& [id, voter] : ms) os << id << (voter ? "" : "(learner)") << " ";
  return os.str();
}

// Writes paced so that they last through every step of a story.
const writer_options paced{.max_writes = 6000, .max_time = 120s, .pause = 3ms};

long long ms_since(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t).count();
}

// Polls GET /v1/status of some nodes on its own thread until stopped, and
// keeps for each the sequence of roles it reported (each change once) and
// the highest term. Never touches Boost.Test.
class watcher {
 public:
  watcher(const kv_cluster& c, const std::vector<int>& ids) {
    for (int id : ids) addrs_[id] = c.http_addr(id);
    thread_ = std::thread([this] { run(); });
  }
  ~watcher() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::uint64_t max_term(int id) const {
    std::lock_guard lock(mutex_);
    auto it = max_term_.find(id);
    return it == max_term_.end() ? 0 : it->second;
  }
  std::vector<std::string> roles(int id) const {
    std::lock_guard lock(mutex_);
    auto it = roles_.find(id);
    return it == roles_.end() ? std::vector<std::string>{} : it->second;
  }
  std::string roles_text(int id) const {
    std::string out;
    for (const auto& r : roles(id)) out += (out.empty() ? "" : " -> ") + r;
    return out;
  }
  // It said "none" and nothing else after that: a removed node stays out.
  bool stayed_out_after_none(int id) const {
    const auto rs = roles(id);
    const auto at = std::find(rs.begin(), rs.end(), "none");
    return at != rs.end() && at + 1 == rs.end();
  }

 private:
  void run() {
    while (!stop_) {
      for (const auto& [id, addr] : addrs_) {
        const http_reply r = http_call(addr, "GET", "/v1/status", {}, {}, 1000ms);
        if (r.status != 200) continue;
        const json::value v = r.json();
        if (!v.is_object() || !v.as_object().contains("role") || !v.at("role").is_string()) continue;
        std::lock_guard lock(mutex_);
        auto& seen = roles_[id];
        const std::string role(v.at("role").as_string());
        if (seen.empty() || seen.back() != role) seen.push_back(role);
        max_term_[id] = std::max(max_term_[id], number(v, "term"));
      }
      std::this_thread::sleep_for(20ms);
    }
  }

  std::map<int, std::string> addrs_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::map<int, std::vector<std::string>> roles_;
  std::map<int, std::uint64_t> max_term_;
  std::thread thread_;
};

std::uint64_t max_term_among(const kv_cluster& c, const std::vector<int>& ids) {
  std::uint64_t t = 0;
  for (int id : ids)
    if (auto s = c.status(id)) t = std::max(t, s->term);
  return t;
}

// How often `text` occurs in `log`.
std::size_t occurrences(const std::string& log, const std::string& text) {
  std::size_t n = 0;
  for (auto at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
  return n;
}

// Departed members stay reachable for 10 s after a change (coraft-kv keeps
// sending them the log until they learn of their removal); watching a
// removed node for longer shows it stays quiet once nobody talks to it.
constexpr auto quiet_window = 12s;

}  // namespace

BOOST_AUTO_TEST_SUITE(e2e_membership)

BOOST_AUTO_TEST_CASE(a_node_joins_as_a_learner_is_promoted_and_an_original_node_is_removed_while_clients_write) {
  kv_cluster c(/*slot=*/21);
  const int joiner = c.add_joiner();  // node 4
  c.start_all();
  const auto leader = leader_among(c, {1, 2, 3}, 10s);
  BOOST_REQUIRE_MESSAGE(leader, "no agreed leader within 10 s");
  std::vector<int> followers;
  for (int id : {1, 2, 3})
    if (id != *leader) followers.push_back(id);
  const int contact = followers[0];  // --join points here: a follower
  const int gone = followers[1];     // removed later

  writer w(c, "m-", paced);
  BOOST_REQUIRE_MESSAGE(w.wait_more(20, 10s), "the writer got no 20 acknowledgements within 10 s:\n" << w.outcomes());

  // [thesis §4.2.1] A new server joins as a learner (non-voting) and catches
  // up before it counts for any majority.
  const std::vector<std::string> join_flags{"--join", c.http_addr(contact)};
  c.start(joiner, join_flags);
  std::optional<node_status> js;
  BOOST_TEST_REQUIRE(
      kv_cluster::eventually(15s,
                             [&] {
                               js = c.status(joiner);
                               return js && js->role == "learner";
                             }),
      "node 4 did not report role learner within 15 s; last status: " << (js ? json::serialize(js->raw) : "none"));
  BOOST_TEST(c.log_of(joiner).find("asking the cluster at " + c.http_addr(contact)) != std::string::npos);
  {
    const auto ls = c.status(*leader);
    BOOST_REQUIRE(ls);
    const auto ms = members_of(*ls);
    BOOST_TEST((ms.count(joiner) == 1 && !ms.at(joiner)), "leader's members: " << describe(ms));
    BOOST_TEST(ms.size() == 4u, "leader's members: " << describe(ms));
    BOOST_TEST(number(ls->raw, "config_index") > 0u);
    // Caught up: node 4 applies what the leader had committed by now.
    BOOST_TEST_REQUIRE(c.wait_applied(joiner, ls->commit_index, 20s),
                       "node 4 did not apply the leader's commit index " << ls->commit_index << " within 20 s");
  }
  // The learner serves a linearizable read of an acknowledged write.
  BOOST_REQUIRE(w.wait_more(5, 10s));
  {
    const ack a = w.acks().back();
    const http_reply r = c.call(joiner, "GET", "/v1/kv/" + a.key);
    BOOST_TEST(r.status == 200, "learner's linearizable GET " << a.key << ": " << r.brief());
    BOOST_TEST(r.body == a.value);
  }

  // Promote, asking a follower: it redirects to the leader.
  const http_reply redirect = c.call(contact, "POST", "/v1/members/4/promote");
  BOOST_TEST(redirect.status == 307, redirect.brief());
  BOOST_TEST(redirect.header("location") == "http://" + c.http_addr(*leader) + "/v1/members/4/promote");
  BOOST_TEST(error_code(redirect) == "not_leader");
  const http_reply promoted = change_membership(c, contact, "POST", "/v1/members/4/promote");
  BOOST_TEST_REQUIRE(promoted.status == 200, "promote node 4: " << promoted.brief());
  BOOST_TEST(number(promoted.json(), "index") > 0u);
  {
    const auto ls = c.status(*leader);
    BOOST_REQUIRE(ls);
    BOOST_TEST(members_of(*ls) == voters({1, 2, 3, 4}), "leader's members: " << describe(members_of(*ls)));
  }
  BOOST_TEST(kv_cluster::eventually(10s,
                                    [&] {
                                      auto s = c.status(joiner);
                                      return s && s->role == "follower";
                                    }),
             "node 4 did not report role follower within 10 s of its promotion");
  BOOST_TEST(w.wait_more(20, 10s), "writes stalled after the promotion:\n" << w.outcomes());

  // Remove an original follower, asking the new voter (redirected).
  const std::vector<int> remaining{*leader, contact, joiner};
  const http_reply removed = change_membership(c, joiner, "DELETE", "/v1/members/" + std::to_string(gone));
  BOOST_TEST_REQUIRE(removed.status == 200, "remove node " << gone << ": " << removed.brief());
  const auto removed_at = clock_type::now();
  const std::uint64_t term_after_removal = max_term_among(c, remaining);
  watcher watch(c, {1, 2, 3, 4});

  std::string last_seen;
  BOOST_TEST(
      kv_cluster::eventually(15s,
                             [&] {
                               for (int id : remaining) {
                                 auto s = c.status(id);
                                 if (!s || members_of(*s) != voters(remaining)) {
                                   last_seen = "node " + std::to_string(id) + ": " +
                                               (s ? json::serialize(s->raw) : "no status");
                                   return false;
                                 }
                               }
                               return true;
                             }),
      "the remaining nodes did not all list exactly " << describe(voters(remaining)) << "within 15 s; " << last_seen);
  // MEMBERSHIP CHECK removed-follower-learns: the removed node hears of the
  // committed removal (the leader keeps sending it the log until then).
  std::optional<node_status> gs;
  BOOST_TEST(kv_cluster::eventually(15s,
                                    [&] {
                                      gs = c.status(gone);
                                      return gs && gs->role == "none";
                                    }),
             "MEMBERSHIP CHECK removed-follower-learns: node "
                 << gone
                 << " did not report role none within 15 s; last: " << (gs ? json::serialize(gs->raw) : "no status"));
  BOOST_TEST(w.wait_more(50, 15s), "writes stalled after the removal:\n" << w.outcomes());

  // A promoted node restarts from its data directory: same flags, --join
  // included, which it now ignores; it comes back as a voter.
  BOOST_TEST(c.terminate(joiner) == 0);
  c.start(joiner, join_flags);
  BOOST_TEST(kv_cluster::eventually(5s, [&] { return c.log_of(joiner).find("--join ignored") != std::string::npos; }),
             "node 4's restart did not log that it ignored --join");
  const std::size_t asks = occurrences(c.log_of(joiner), "asking the cluster at");
  BOOST_TEST(asks == 1u, "node 4 asked to join " << asks << " times");
  std::optional<node_status> rs;
  BOOST_TEST(
      kv_cluster::eventually(15s,
                             [&] {
                               rs = c.status(joiner);
                               return rs && (rs->role == "follower" || rs->role == "leader") &&
                                      members_of(*rs) == voters(remaining);
                             }),
      "restarted node 4 is not a voting member within 15 s; last: " << (rs ? json::serialize(rs->raw) : "no status"));
  BOOST_TEST(w.wait_more(20, 10s), "writes stalled after node 4's restart:\n" << w.outcomes());

  // Let the removed node sit unattended past the time its peers keep it
  // reachable, with writes going on: an observation window, not a pause.
  kv_cluster::eventually(
      quiet_window + 1s, [&] { return clock_type::now() - removed_at >= quiet_window; }, 100ms);
  w.stop();
  watch.stop();
  const auto acks = w.acks();
  BOOST_TEST_MESSAGE("membership story: " << acks.size() << " writes acknowledged; outcomes:\n" << w.outcomes());

  // MEMBERSHIP CHECK removed-follower-harmless: it never campaigned or led,
  // and the remaining cluster's term stayed put. Slack of one term: a
  // legitimate election among the remaining nodes (a slow fsync on a loaded
  // machine delaying heartbeats) is no disruption; a removed node that
  // kept campaigning would push the term up again and again.
  // ("candidate" covers a pre-vote round too.)
  const auto gone_roles = watch.roles(gone);
  BOOST_TEST(
      (std::count(gone_roles.begin(), gone_roles.end(), "candidate") == 0 &&
       std::count(gone_roles.begin(), gone_roles.end(), "leader") == 0 && watch.stayed_out_after_none(gone)),
      "MEMBERSHIP CHECK removed-follower-harmless: node " << gone << " reported roles " << watch.roles_text(gone));
  std::uint64_t term_end = max_term_among(c, remaining);
  for (int id : remaining) term_end = std::max(term_end, watch.max_term(id));
  BOOST_TEST(term_end <= term_after_removal + 1,
             "MEMBERSHIP CHECK removed-follower-harmless: the remaining cluster's term rose from "
                 << term_after_removal << " to " << term_end << " after node " << gone << " was removed");
  BOOST_TEST(watch.max_term(gone) <= term_end,
             "MEMBERSHIP CHECK removed-follower-harmless: node " << gone << " reached term " << watch.max_term(gone));

  // Every acknowledged write survives the change of configuration.
  const auto now_leader = leader_among(c, remaining, 10s);
  BOOST_REQUIRE_MESSAGE(now_leader, "the remaining nodes agree on no leader within 10 s");
  check_every_ack_is_readable(c, joiner, remaining, acks);
}

BOOST_AUTO_TEST_CASE(a_leader_that_removes_itself_hands_over_and_stays_quiet) {
  kv_cluster c(/*slot=*/22);
  c.start_all();
  const auto leader = leader_among(c, {1, 2, 3}, 10s);
  BOOST_REQUIRE_MESSAGE(leader, "no agreed leader within 10 s");
  std::vector<int> rest;
  for (int id : c.ids())
    if (id != *leader) rest.push_back(id);
  std::list<writer> writers;
  for (const char* prefix : {"s-a-", "s-b-"}) writers.emplace_back(c, prefix, paced);
  const auto wait_writes = [&](std::size_t more, std::chrono::milliseconds within) {
    bool all = true;
    for (const auto& w : writers) all = w.wait_more(more, within) && all;
    return all;
  };
  const auto outcomes = [&] {
    std::string out;
    for (const auto& w : writers) out += w.outcomes();
    return out;
  };
  BOOST_REQUIRE_MESSAGE(wait_writes(20, 10s), "the writers got no 20 acknowledgements each within 10 s:\n"
                                                  << outcomes());
  const auto before = c.status(*leader);
  BOOST_REQUIRE(before);
  std::map<int, std::size_t> pre_votes_before;
  for (int id : rest) pre_votes_before[id] = occurrences(c.log_of(id), "now pre_candidate");

  // A burst of unpaced clients for the moment of the removal, so that the
  // leader has writes in flight (appended, not yet acknowledged) when the
  // configuration without it commits.
  std::list<writer> burst;
  for (const char* prefix :
       {"s-burst-a-", "s-burst-b-", "s-burst-c-", "s-burst-d-", "s-burst-e-", "s-burst-f-", "s-burst-g-", "s-burst-h-"})
    burst.emplace_back(c, prefix, writer_options{.max_writes = 1000, .max_time = 2000ms});
  BOOST_REQUIRE(kv_cluster::eventually(
      5s,
      [&] {
        for (const auto& w : burst)
          if (w.acked() < 5) return false;
        return true;
      },
      5ms));

  // [thesis §4.2.2] The leader steps down once the configuration without it
  // commits; coraft hands over with TimeoutNow.
  const auto asked_at = clock_type::now();
  const http_reply r = change_membership(c, *leader, "DELETE", "/v1/members/" + std::to_string(*leader));
  BOOST_TEST_REQUIRE(r.status == 200, "the leader removing itself: " << r.brief());
  BOOST_TEST_MESSAGE("DELETE of the leader itself answered after " << ms_since(asked_at) << " ms");
  const auto removed_at = clock_type::now();
  watcher watch(c, c.ids());

  const auto next = leader_among(c, rest, 10s);
  BOOST_TEST_REQUIRE(next.has_value(),
                     "nodes " << rest[0] << " and " << rest[1] << " agree on no leader among them within 10 s");
  BOOST_TEST_MESSAGE("node " << *next << " leads " << ms_since(removed_at) << " ms after the old leader's removal");
  const auto ns = c.status(*next);
  BOOST_REQUIRE(ns);
  BOOST_TEST(members_of(*ns) == voters(rest), "new leader's members: " << describe(members_of(*ns)));
  BOOST_TEST(ns->term <= before->term + 2, "term " << before->term << " -> " << ns->term);
  const std::uint64_t term_after_handover = ns->term;
  std::optional<node_status> os;
  BOOST_TEST(kv_cluster::eventually(10s,
                                    [&] {
                                      os = c.status(*leader);
                                      return os && os->role == "none";
                                    }),
             "MEMBERSHIP CHECK removed-leader-learns: old leader "
                 << *leader
                 << " did not report role none within 10 s; last: " << (os ? json::serialize(os->raw) : "no status"));
  const std::uint64_t old_term = os ? os->term : 0;
  // MEMBERSHIP CHECK self-removal-handover: handed over with TimeoutNow,
  // the new leader campaigned at once, skipping pre-vote; after an election
  // timeout it would have run a pre-vote round first.
  for (int id : rest) {
    const std::size_t pre_votes = occurrences(c.log_of(id), "now pre_candidate");
    BOOST_TEST(pre_votes == pre_votes_before[id],
               "MEMBERSHIP CHECK self-removal-handover: node "
                   << id << " ran " << pre_votes - pre_votes_before[id] << " pre-vote round(s) after leader " << *leader
                   << " removed itself: no TimeoutNow handover, the cluster waited an election timeout (the old "
                   << "leader's log ends at " << (os ? os->last_log_index : 0) << ", its removal is entry "
                   << (os ? number(os->raw, "config_index") : 0) << ")");
  }

  BOOST_TEST(wait_writes(50, 15s), "writes stalled after the leader removed itself:\n" << outcomes());

  kv_cluster::eventually(
      quiet_window + 1s, [&] { return clock_type::now() - removed_at >= quiet_window; }, 100ms);
  BOOST_TEST(wait_writes(20, 10s), "writes stalled after the quiet window:\n" << outcomes());
  std::vector<ack> acks;
  writers.splice(writers.end(), burst);
  for (auto& w : writers) {
    w.stop();
    const auto a = w.acks();
    acks.insert(acks.end(), a.begin(), a.end());
  }
  watch.stop();
  BOOST_TEST_MESSAGE("self-removal story: " << acks.size() << " writes acknowledged; outcomes:\n" << outcomes());

  // MEMBERSHIP CHECK removed-leader-quiet: the old leader never campaigns
  // ("candidate" covers a pre-vote round too) and stays out. Hearing of the
  // new term is no campaign, so its term may reach the new leader's, never
  // beyond.
  const auto old_roles = watch.roles(*leader);
  BOOST_TEST((std::count(old_roles.begin(), old_roles.end(), "candidate") == 0 && watch.stayed_out_after_none(*leader)),
             "MEMBERSHIP CHECK removed-leader-quiet: old leader " << *leader << " reported roles "
                                                                  << watch.roles_text(*leader));
  BOOST_TEST(watch.max_term(*leader) <= std::max(old_term, term_after_handover),
             "MEMBERSHIP CHECK removed-leader-quiet: old leader's term went from "
                 << old_term << " to " << watch.max_term(*leader) << " (the new leader's: " << term_after_handover
                 << ")");
  if (auto s = c.status(*leader)) BOOST_TEST(s->role == "none", "old leader now: " << json::serialize(s->raw));
  std::uint64_t term_end = max_term_among(c, rest);
  for (int id : rest) term_end = std::max(term_end, watch.max_term(id));
  BOOST_TEST(term_end <= term_after_handover + 1, "MEMBERSHIP CHECK removed-leader-quiet: the remaining term rose from "
                                                      << term_after_handover << " to " << term_end);

  const auto final_leader = leader_among(c, rest, 10s);
  BOOST_REQUIRE(final_leader);
  check_every_ack_is_readable(c, *final_leader, rest, acks);
}

BOOST_AUTO_TEST_CASE(membership_routes_refuse_bad_input_with_json_errors) {
  kv_cluster c(/*slot=*/23);
  c.start_all();
  const auto leader = leader_among(c, {1, 2, 3}, 10s);
  BOOST_REQUIRE_MESSAGE(leader, "no agreed leader within 10 s");
  std::vector<int> followers;
  for (int id : c.ids())
    if (id != *leader) followers.push_back(id);
  BOOST_TEST_REQUIRE(c.call(*leader, "PUT", "/v1/kv/before", "1").status == 200);

  const auto expect_error = [&](int id, const std::string& method, const std::string& target, const std::string& body,
                                int status, const std::string& code) {
    const http_reply r = c.call(id, method, target, body);
    BOOST_TEST(r.status == status, method << " " << target << " " << body << " on node " << id << ": " << r.brief());
    BOOST_TEST(r.header("content-type").find("application/json") != std::string::npos, r.brief());
    if (!code.empty())
      BOOST_TEST(error_code(r) == code, method << " " << target << " " << body << ": " << r.brief());
    else
      BOOST_TEST(!error_code(r).empty(), method << " " << target << " " << body << ": " << r.brief());
  };
  const std::string spare_raft = "127.0.0.15:" + std::to_string(28000 + 100 * 23 + 1);
  const std::string spare_http = "127.0.0.15:" + std::to_string(28000 + 100 * 23 + 2);
  const auto member_body = [&](const std::string& id, const std::string& raft, const std::string& http,
                               const std::string& voter) {
    std::string b = "{\"id\":" + id + ",\"raft\":" + raft + ",\"http\":" + http;
    if (!voter.empty()) b += ",\"voter\":" + voter;
    return b + "}";
  };
  const std::string q_raft = "\"" + spare_raft + "\"", q_http = "\"" + spare_http + "\"";

  // Malformed bodies: 400 bad_request, on the leader and on a follower alike
  // (the body is checked before any redirect).
  for (int id : {*leader, followers[0]}) {
    for (const std::string& body :
         {std::string(""), std::string("not json"), std::string("[]"), std::string("{}"), std::string("{\"id\":5"),
          member_body("0", q_raft, q_http, ""), member_body("-3", q_raft, q_http, ""),
          member_body("\"5\"", q_raft, q_http, ""), member_body("5.5", q_raft, q_http, ""),
          std::string("{\"id\":5,\"http\":" + q_http + "}"), std::string("{\"id\":5,\"raft\":" + q_raft + "}"),
          member_body("5", "7", q_http, ""), member_body("5", "\"nohost\"", q_http, ""),
          member_body("5", q_raft, "\"127.0.0.15:0\"", ""), member_body("5", q_raft, "\"127.0.0.15:65536\"", ""),
          member_body("5", q_raft, "\"127.0.0.15:x\"", ""), member_body("5", q_raft, q_http, "\"no\""),
          member_body("5", q_raft, q_http, "1"),
          // Longer than a configuration keeps per member: it was accepted
          // (200) and then silently not added.
          member_body("5", "\"" + std::string(1100, 'h') + ".example:7001\"", q_http, "")})
      expect_error(id, "POST", "/v1/members", body, 400, "bad_request");
  }
  // An existing id, as learner or voter: 409 bad_member.
  for (int id : c.ids()) {
    const std::string addr = "\"127.0.0.99:1\"";
    expect_error(*leader, "POST", "/v1/members", member_body(std::to_string(id), addr, addr, "false"), 409,
                 "bad_member");
    expect_error(*leader, "POST", "/v1/members", member_body(std::to_string(id), addr, addr, "true"), 409,
                 "bad_member");
  }
  // Not a member: 404 (a follower first redirects to the leader).
  expect_error(*leader, "DELETE", "/v1/members/9", "", 404, "not_found");
  expect_error(*leader, "POST", "/v1/members/9/promote", "", 404, "not_found");
  expect_error(*leader, "DELETE", "/v1/members/abc", "", 404, "");
  expect_error(*leader, "POST", "/v1/members/x/promote", "", 404, "");
  expect_error(followers[0], "DELETE", "/v1/members/9", "", 307, "not_leader");
  BOOST_TEST(c.call_following(followers[0], "DELETE", "/v1/members/9").status == 404);
  // Promoting a voter: 409 bad_member.
  for (int id : c.ids())
    expect_error(*leader, "POST", "/v1/members/" + std::to_string(id) + "/promote", "", 409, "bad_member");

  // Nothing changed: still the original three voters, and writes work.
  const auto unchanged = c.status(*leader);
  BOOST_REQUIRE(unchanged);
  BOOST_TEST(members_of(*unchanged) == voters({1, 2, 3}), describe(members_of(*unchanged)));
  BOOST_TEST(c.call(*leader, "PUT", "/v1/kv/after-bad-input", "2").status == 200);

  // A learner whose process never starts is harmless (it counts for no
  // majority) and can be removed again.
  const http_reply added =
      change_membership(c, *leader, "POST", "/v1/members", member_body("5", q_raft, q_http, "false"));
  BOOST_TEST_REQUIRE(added.status == 200, added.brief());
  BOOST_TEST(c.call(*leader, "PUT", "/v1/kv/with-a-dead-learner", "3").status == 200);
  const http_reply dropped = change_membership(c, *leader, "DELETE", "/v1/members/5");
  BOOST_TEST(dropped.status == 200, dropped.brief());

  // Down to one voter, which cannot remove itself: 409 bad_member.
  for (int id : followers) {
    const http_reply r = change_membership(c, *leader, "DELETE", "/v1/members/" + std::to_string(id));
    BOOST_TEST_REQUIRE(r.status == 200, "remove node " << id << ": " << r.brief());
  }
  const auto alone = c.status(*leader);
  BOOST_REQUIRE(alone);
  BOOST_TEST(members_of(*alone) == voters({*leader}), describe(members_of(*alone)));
  expect_error(*leader, "DELETE", "/v1/members/" + std::to_string(*leader), "", 409, "bad_member");
  // The single voter still commits on its own.
  const http_reply solo = c.call(*leader, "PUT", "/v1/kv/alone", "4");
  BOOST_TEST(solo.status == 200, solo.brief());
  BOOST_TEST(c.call(*leader, "GET", "/v1/kv/before").body == "1");
}

BOOST_AUTO_TEST_SUITE_END()
