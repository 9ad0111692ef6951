// kv_api_test.cpp — story 1: a healthy three-node coraft-kv cluster serves
// HTTP API v1 as DESIGN.md promises, through any node.
#include "e2e_harness.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <set>

namespace {

using namespace e2e;
namespace json = boost::json;

std::uint64_t index_of(const http_reply& r) {
  const json::value v = r.json();
  if (!v.is_object() || !v.as_object().contains("index")) return 0;
  return v.as_object().at("index").to_number<std::uint64_t>();
}

std::string error_code_of(const http_reply& r) {
  const json::value v = r.json();
  if (!v.is_object() || !v.as_object().contains("error") || !v.as_object().at("error").is_string()) return {};
  return std::string(v.as_object().at("error").as_string());
}

std::set<std::string> keys_of(const http_reply& r) {
  std::set<std::string> out;
  const json::value v = r.json();
  if (!v.is_object() || !v.as_object().contains("keys")) return out;
  for (const auto& k : v.as_object().at("keys").as_array()) out.insert(std::string(k.as_string()));
  return out;
}

struct three_nodes : kv_cluster {
  three_nodes() : kv_cluster(/*slot=*/0) {}
};

}  // namespace

BOOST_AUTO_TEST_SUITE(e2e_api)

BOOST_FIXTURE_TEST_CASE(a_three_node_cluster_serves_the_v1_api, three_nodes) {
  start_all();

  // A leader is elected, and every node knows it.
  const auto leader_or = wait_for_agreement(10s);
  BOOST_REQUIRE_MESSAGE(leader_or, "no leader that all three nodes agree on within 10 s");
  const int leader = *leader_or;
  const int follower = leader == 1 ? 2 : 1;
  const int other = 6 - leader - follower;
  BOOST_TEST_MESSAGE("leader: node " << leader);

  // PUT on the leader: 200 {"index":N}.
  const http_reply put = call(leader, "PUT", "/v1/kv/greeting", "hello");
  BOOST_TEST_REQUIRE(put.status == 200, put.brief());
  BOOST_TEST(put.header("content-type").find("application/json") == 0);
  const std::uint64_t put_index = index_of(put);
  BOOST_TEST(put_index > 0, put.brief());

  // PUT on a follower: 307 to the same target on the leader's HTTP address,
  // with a JSON body naming the leader; following it works (curl -L).
  const http_reply redirected = call(follower, "PUT", "/v1/kv/via-follower?absent", "v1");
  BOOST_TEST_REQUIRE(redirected.status == 307, redirected.brief());
  BOOST_TEST(redirected.header("location") == "http://" + http_addr(leader) + "/v1/kv/via-follower?absent");
  const json::value body = redirected.json();
  BOOST_TEST_REQUIRE(body.is_object(), redirected.brief());
  BOOST_TEST(error_code_of(redirected) == "not_leader");
  BOOST_TEST(body.at("leader").at("id").to_number<int>() == leader);
  BOOST_TEST(std::string(body.at("leader").at("http").as_string()) == http_addr(leader));
  const auto loc = split_location(redirected.header("location"));
  BOOST_TEST_REQUIRE(loc.has_value());
  const http_reply followed = http_call(loc->first, "PUT", loc->second, "v1");
  BOOST_TEST(followed.status == 200, followed.brief());
  BOOST_TEST(index_of(followed) > put_index);

  // A linearizable GET answers the value with X-Raft-Index, at least the
  // index of the write it follows.
  const http_reply got = call(leader, "GET", "/v1/kv/greeting");
  BOOST_TEST_REQUIRE(got.status == 200, got.brief());
  BOOST_TEST(got.body == "hello");
  BOOST_TEST_REQUIRE(!got.header("x-raft-index").empty());
  BOOST_TEST(std::stoull(got.header("x-raft-index")) >= put_index);
  // ... also asked of a follower, by following its redirect.
  const http_reply got_via = call_following(other, "GET", "/v1/kv/via-follower");
  BOOST_TEST(got_via.status == 200, got_via.brief());
  BOOST_TEST(got_via.body == "v1");

  // A stale GET on a follower eventually sees the write, from local state.
  http_reply stale;
  const bool seen = eventually(5s, [&] {
    stale = call(follower, "GET", "/v1/kv/greeting?stale");
    return stale.status == 200;
  });
  BOOST_TEST(seen, "stale read on follower " << follower << " never saw the write: " << stale.brief());
  BOOST_TEST(stale.body == "hello");
  BOOST_TEST(!stale.header("x-raft-index").empty());

  // Compare-and-set: ?expect= the current value succeeds, a wrong one is 409.
  const http_reply cas_ok = call(leader, "PUT", "/v1/kv/greeting?expect=hello", "bonjour");
  BOOST_TEST(cas_ok.status == 200, cas_ok.brief());
  const http_reply cas_stale = call(leader, "PUT", "/v1/kv/greeting?expect=hello", "hola");
  BOOST_TEST(cas_stale.status == 409, cas_stale.brief());
  BOOST_TEST(error_code_of(cas_stale) == "precondition_failed");
  const http_reply cas_missing = call(leader, "PUT", "/v1/kv/never-written?expect=x", "y");
  BOOST_TEST(cas_missing.status == 409, cas_missing.brief());
  BOOST_TEST(call(leader, "GET", "/v1/kv/greeting").body == "bonjour");
  // ?absent: create-only, 409 when present.
  const http_reply create_again = call(leader, "PUT", "/v1/kv/greeting?absent", "again");
  BOOST_TEST(create_again.status == 409, create_again.brief());
  BOOST_TEST(error_code_of(create_again) == "precondition_failed");
  BOOST_TEST(call(leader, "PUT", "/v1/kv/fresh?absent", "new").status == 200);

  // DELETE, then GET: 404 with a JSON error.
  const http_reply del = call(leader, "DELETE", "/v1/kv/fresh");
  BOOST_TEST(del.status == 200, del.brief());
  BOOST_TEST(index_of(del) > 0);
  const http_reply gone = call(leader, "GET", "/v1/kv/fresh");
  BOOST_TEST(gone.status == 404, gone.brief());
  BOOST_TEST(error_code_of(gone) == "not_found");
  const http_reply del_again = call(leader, "DELETE", "/v1/kv/fresh");
  BOOST_TEST(del_again.status == 404, del_again.brief());

  // Prefix listing (keys with a '/' and a percent-encoded byte included).
  for (const std::string k : {"fruit/apple", "fruit/banana", "fruit/cherry pie", "veg/carrot"})
    BOOST_TEST_REQUIRE(call(leader, "PUT", "/v1/kv/" + url_encode(k), "x").status == 200);
  const http_reply fruit = call(leader, "GET", "/v1/kv?prefix=fruit/");
  BOOST_TEST_REQUIRE(fruit.status == 200, fruit.brief());
  BOOST_TEST((keys_of(fruit) == std::set<std::string>{"fruit/apple", "fruit/banana", "fruit/cherry pie"}),
             fruit.brief());
  const http_reply one = call(leader, "GET", "/v1/kv?prefix=fruit/&limit=1");
  BOOST_TEST((keys_of(one) == std::set<std::string>{"fruit/apple"}), one.brief());
  BOOST_TEST(call(leader, "GET", "/v1/kv?prefix=fruit/&limit=0").status == 400);

  // /v1/status agrees across nodes: term, leader, members.
  const std::uint64_t leader_commit = status(leader)->commit_index;
  for (int id : ids()) BOOST_TEST(wait_applied(id, leader_commit, 5s), "node " << id << " did not catch up");
  std::vector<node_status> all;
  for (int id : ids()) {
    auto s = status(id);
    BOOST_TEST_REQUIRE(s.has_value(), "GET /v1/status on node " << id);
    all.push_back(*s);
  }
  for (const auto& s : all) {
    BOOST_TEST_CONTEXT("node " << s.id) {
      BOOST_TEST(s.term == all[0].term);
      BOOST_TEST(s.leader == leader);
      BOOST_TEST(s.role == (s.id == leader ? "leader" : "follower"));
      BOOST_TEST(s.commit_index >= leader_commit);
      BOOST_TEST(s.applied_index <= s.commit_index);
      BOOST_TEST(s.last_log_index >= s.commit_index);
      const auto& o = s.raw.as_object();
      for (const char* field : {"last_log_term", "snapshot_index", "members"})
        BOOST_TEST(o.contains(field), "status lacks " << field);
      const auto& members = o.at("members").as_array();
      BOOST_TEST_REQUIRE(members.size() == 3u);
      for (std::size_t i = 0; i < 3; ++i) {
        const auto& m = members[i].as_object();
        const int mid = static_cast<int>(i + 1);
        BOOST_TEST(m.at("id").to_number<int>() == mid);
        BOOST_TEST(std::string(m.at("raft").as_string()) == raft_addr(mid));
        BOOST_TEST(std::string(m.at("http").as_string()) == http_addr(mid));
        BOOST_TEST(m.at("voter").as_bool());
        if (s.id == leader) {
          BOOST_TEST(m.contains("match_index"), "leader's member " << mid << " lacks match_index");
          BOOST_TEST(m.contains("next_index"), "leader's member " << mid << " lacks next_index");
          if (mid != leader) BOOST_TEST(m.contains("last_contact_ms"), "member " << mid << " lacks last_contact_ms");
        }
      }
    }
  }

  // /v1/health: 200 on every node of a healthy cluster.
  for (int id : ids()) {
    http_reply h;
    BOOST_TEST(eventually(5s, [&] { return (h = call(id, "GET", "/v1/health")).status == 200; }),
               "node " << id << " health: " << h.brief());
  }

  // /v1/metrics: Prometheus text with the term and the commit latency.
  const http_reply metrics = call(leader, "GET", "/v1/metrics");
  BOOST_TEST_REQUIRE(metrics.status == 200, metrics.brief());
  BOOST_TEST(metrics.header("content-type").find("text/plain") == 0);
  BOOST_TEST(metrics.body.find("\ncoraft_term{node=\"" + std::to_string(leader) + "\"} " + std::to_string(all[0].term) +
                               "\n") != std::string::npos);
  BOOST_TEST(metrics.body.find("\ncoraft_commit_latency_seconds_count{") != std::string::npos);
  BOOST_TEST(metrics.body.find("\ncoraft_commit_latency_seconds_count{node=\"" + std::to_string(leader) + "\"} 0\n") ==
                 std::string::npos,
             "the leader committed writes but counts no commit latency");
  // Issue 21: how late ticks ran, elections by reason, the leader's longest
  // silence towards each follower.
  const std::string me = "node=\"" + std::to_string(leader) + "\"";
  BOOST_TEST(metrics.body.find("\ncoraft_tick_lag_seconds_count{" + me + "} ") != std::string::npos);
  BOOST_TEST(metrics.body.find("\ncoraft_tick_lag_seconds_count{" + me + "} 0\n") == std::string::npos,
             "the leader ticked but counts no tick lag");
  for (const char* reason : {"timer", "transfer", "pre_vote_granted", "requested"})
    BOOST_TEST(
        metrics.body.find("\ncoraft_elections_total{" + me + ",reason=\"" + reason + "\"} ") != std::string::npos,
        reason);
  BOOST_TEST(metrics.body.find("\ncoraft_heartbeat_gap_max_seconds{" + me + ",peer=\"" + std::to_string(follower) +
                               "\"} ") != std::string::npos);

  // /v1/log lists the entries: consecutive indexes from 1, our writes as
  // "normal" entries.
  const http_reply log = call(follower, "GET", "/v1/log?from=1&limit=1000");
  BOOST_TEST_REQUIRE(log.status == 200, log.brief());
  const auto entries = log.json().at("entries").as_array();
  BOOST_TEST_REQUIRE(!entries.empty());
  std::uint64_t expect = 1;
  int normal = 0;
  for (const auto& e : entries) {
    BOOST_TEST(e.at("index").to_number<std::uint64_t>() == expect++);
    BOOST_TEST(e.at("term").to_number<std::uint64_t>() >= 1u);
    const std::string type(e.at("type").as_string());
    BOOST_TEST((type == "normal" || type == "noop" || type == "config"), type);
    normal += type == "normal";
    BOOST_TEST(e.as_object().contains("size"));
  }
  BOOST_TEST(normal >= 8, "normal entries: " << normal);
  BOOST_TEST(entries.size() >= put_index);
  const http_reply tail = call(follower, "GET", "/v1/log?from=2&limit=1");
  BOOST_TEST_REQUIRE(tail.status == 200, tail.brief());
  BOOST_TEST(tail.json().at("entries").as_array().size() == 1u);
  BOOST_TEST(tail.json().at("entries").as_array()[0].at("index").to_number<int>() == 2);
}

BOOST_AUTO_TEST_SUITE_END()
