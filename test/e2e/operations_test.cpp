// operations_test.cpp — issue 17's operator-facing surface, from outside:
// --version, the probes (/livez, /readyz), the write token and constant-
// time token checks, flags from the environment (flags > environment >
// --config file), and a member that moved (PUT /v1/members/{id}).
#include "e2e_harness.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <set>
#include <sstream>

namespace {

using namespace e2e;
namespace json = boost::json;

std::string error_code_of(const http_reply& r) {
  const json::value v = r.json();
  if (!v.is_object() || !v.as_object().contains("error") || !v.as_object().at("error").is_string()) return {};
  return std::string(v.as_object().at("error").as_string());
}

using header_list = std::vector<std::pair<std::string, std::string>>;
launch with_env(std::vector<std::string> env) {
  launch how;
  how.env = std::move(env);
  return how;
}

header_list bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

// Node `id`'s member entry as node `on` reports it: "raft http".
std::string member_address(const kv_cluster& c, int on, int id) {
  const auto s = c.status(on);
  if (!s) return {};
  for (const auto& m : s->raw.as_object().at("members").as_array())
    if (m.as_object().at("id").to_number<int>() == id)
      return std::string(m.as_object().at("raft").as_string()) + " " +
             std::string(m.as_object().at("http").as_string());
  return {};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(e2e_operations)

BOOST_AUTO_TEST_CASE(version_probes_and_tokens) {
  const run_result v = run_to_exit({"--version"}, 10s);
  BOOST_TEST(v.exit_code == 0, v.output);
  BOOST_TEST(v.output.starts_with("coraft-kv 0."), v.output);

  kv_cluster c(/*slot=*/41, 3, {"--admin-token", "admin-secret", "--write-token", "write-secret"});
  c.start_all();
  const auto leader = c.wait_for_agreement(10s);
  BOOST_REQUIRE_MESSAGE(leader, "no agreed leader within 10 s\n" << c.logs());

  // /livez: the process serves; /readyz: a member that knows a leader and
  // has applied through its commit index. Neither needs a token.
  for (int id : c.ids()) {
    const http_reply live = c.call(id, "GET", "/livez");
    BOOST_TEST(live.status == 200, "node " << id << ": " << live.brief());
    BOOST_TEST(live.body.find("\"ok\"") != std::string::npos, live.brief());
    http_reply ready;
    BOOST_TEST(kv_cluster::eventually(10s, [&] { return (ready = c.call(id, "GET", "/readyz")).status == 200; }),
               "node " << id << ": " << ready.brief());
  }

  // KV writes need the write token (or the admin token); reads need none.
  const int l = *leader;
  BOOST_TEST(c.call(l, "PUT", "/v1/kv/k", "none").status == 401);
  const http_reply denied = c.call(l, "PUT", "/v1/kv/k", "wrong", bearer("write-secreT"));
  BOOST_TEST(denied.status == 401, denied.brief());
  BOOST_TEST(error_code_of(denied) == "unauthorized", denied.brief());
  BOOST_TEST(denied.header("www-authenticate") == "Bearer", denied.brief());
  for (const std::string& near : {std::string("write-secre"), std::string("write-secretx"), std::string(""),
                                  std::string("write-secretwrite-secret")})
    BOOST_TEST(c.call(l, "PUT", "/v1/kv/k", "near", bearer(near)).status == 401, "token '" << near << "'");
  BOOST_TEST(c.call(l, "PUT", "/v1/kv/k", "basic", {{"Authorization", "Basic write-secret"}}).status == 401);
  BOOST_TEST(c.call(l, "DELETE", "/v1/kv/k", "", bearer("wrong")).status == 401);
  BOOST_TEST(c.call(l, "PUT", "/v1/kv/k", "w", bearer("write-secret")).status == 200);
  BOOST_TEST(c.call(l, "PUT", "/v1/kv/k2", "a", bearer("admin-secret")).status == 200, "the admin token writes too");
  BOOST_TEST(c.call(l, "DELETE", "/v1/kv/k2", "", bearer("write-secret")).status == 200);
  BOOST_TEST(c.call(l, "GET", "/v1/kv/k").body == "w", "reads need no token");
  // The write token is no admin token.
  BOOST_TEST(c.call(l, "POST", "/v1/snapshot", "", bearer("write-secret")).status == 401);
  BOOST_TEST(c.call(l, "POST", "/v1/snapshot", "", bearer("admin-secret")).status == 200);
  // Nothing refused was written.
  BOOST_TEST(c.call(l, "GET", "/v1/kv/k2").status == 404);

  // A node alone: alive, not ready (no leader once check-quorum deposes it).
  std::vector<int> others;
  for (int id : c.ids())
    if (id != l) others.push_back(id);
  for (int id : others) BOOST_TEST(c.terminate(id) == 0, "node " << id);
  http_reply lone;
  BOOST_TEST(kv_cluster::eventually(10s, [&] { return (lone = c.call(l, "GET", "/readyz")).status == 503; }),
             lone.brief());
  BOOST_TEST(error_code_of(lone) == "not_ready", lone.brief());
  BOOST_TEST(c.call(l, "GET", "/livez").status == 200, "a node without quorum is still alive");
  BOOST_TEST(c.terminate(l) == 0);
}

BOOST_AUTO_TEST_CASE(flags_come_from_the_environment_and_the_config_file_flags_first) {
  kv_cluster c(/*slot=*/42, 1);
  const auto snapshot_with = [&](const std::string& token) {
    return c.call(1, "POST", "/v1/snapshot", "", bearer(token)).status;
  };
  const auto wait_leader = [&] { return c.wait_for_leader(10s).has_value(); };

  // The environment alone.
  c.start(1, {}, with_env({"CORAFT_ADMIN_TOKEN=from-env"}));
  BOOST_TEST_REQUIRE(wait_leader());
  BOOST_TEST(snapshot_with("from-env") == 200);
  BOOST_TEST(snapshot_with("from-flag") == 401);
  BOOST_TEST(c.terminate(1) == 0);

  // A flag wins over the environment.
  c.start(1, {"--admin-token", "from-flag"}, with_env({"CORAFT_ADMIN_TOKEN=from-env"}));
  BOOST_TEST_REQUIRE(wait_leader());
  BOOST_TEST(snapshot_with("from-flag") == 200);
  BOOST_TEST(snapshot_with("from-env") == 401);
  BOOST_TEST(c.terminate(1) == 0);

  // The environment wins over --config's file; the file fills in the rest.
  const auto file = c.temp_dir() / "coraft.json";
  std::ofstream(file) << R"({"admin_token": "from-file", "write-token": "write-from-file"})";
  c.start(1, {"--config", file.string()}, with_env({"CORAFT_ADMIN_TOKEN=from-env"}));
  BOOST_TEST_REQUIRE(wait_leader());
  BOOST_TEST(snapshot_with("from-env") == 200);
  BOOST_TEST(snapshot_with("from-file") == 401);
  BOOST_TEST(c.call(1, "PUT", "/v1/kv/a", "1").status == 401, "the file's write token is in force");
  BOOST_TEST(c.call(1, "PUT", "/v1/kv/a", "1", bearer("write-from-file")).status == 200);
  BOOST_TEST(c.terminate(1) == 0);

  // An empty variable is unset: a compose file's "${UNSET}" must not drop
  // the file's token (found by review).
  c.start(1, {"--config", file.string()}, with_env({"CORAFT_ADMIN_TOKEN=", "CORAFT_WRITE_TOKEN="}));
  BOOST_TEST_REQUIRE(wait_leader());
  BOOST_TEST(snapshot_with("from-file") == 200);
  BOOST_TEST(c.call(1, "POST", "/v1/snapshot").status == 401);
  BOOST_TEST(c.terminate(1) == 0);

  // A bad value from the environment is refused like a bad flag, by the
  // flag's name; CORAFT_ variables that name no flag are someone else's.
  const std::string cl = c.cluster_flag();
  const std::string dir = (c.temp_dir() / "env-only").string();
  const run_result bad =
      run_to_exit({"--id", "1", "--cluster", cl}, 10s, with_env({"CORAFT_DATA_DIR=" + dir, "CORAFT_TICK_MS=0"}));
  BOOST_TEST(bad.exit_code == 2, bad.output);
  BOOST_TEST(bad.output.find("--tick-ms") != std::string::npos, "CORAFT_DATA_DIR was taken, then: " << bad.output);
  const run_result id = run_to_exit({"--cluster", cl, "--data-dir", dir}, 10s, with_env({"CORAFT_ID=one"}));
  BOOST_TEST(id.exit_code == 2, id.output);
  BOOST_TEST(id.output.find("CORAFT_ID") != std::string::npos, id.output);
  BOOST_TEST(id.output.find("--id") != std::string::npos, id.output);
  const run_result help = run_to_exit({"--help"}, 10s, with_env({"CORAFT_NOT_A_FLAG=1", "CORAFT_HELP=1"}));
  BOOST_TEST(help.exit_code == 0, help.output);
  BOOST_TEST(help.output.find("CORAFT_DATA_DIR") != std::string::npos, "--help tells of the variables");
}

BOOST_AUTO_TEST_CASE(a_member_that_moved_gets_its_new_address_through_the_log) {
  kv_cluster c(/*slot=*/43);
  c.start_all();
  const auto leader = c.wait_for_agreement(10s);
  BOOST_REQUIRE_MESSAGE(leader, "no agreed leader within 10 s\n" << c.logs());
  int moved = 0;
  for (int id : c.ids())
    if (id != *leader) moved = id;
  const std::string old_address = c.raft_addr(moved) + " " + c.http_addr(moved);
  BOOST_TEST_REQUIRE(member_address(c, *leader, moved) == old_address);

  // Bad input first: nothing changes.
  const auto put = [&](int on, int id, const std::string& body) {
    return c.call(on, "PUT", "/v1/members/" + std::to_string(id), body);
  };
  const std::string elsewhere = R"({"raft":"127.0.0.99:7001","http":"127.0.0.99:8001"})";
  BOOST_TEST(put(*leader, 9, elsewhere).status == 404, "not a member");
  BOOST_TEST(c.call(*leader, "PUT", "/v1/members/x", elsewhere).status == 404);
  for (const std::string& body : {std::string(""), std::string("[]"), std::string(R"({"raft":"127.0.0.99:7001"})"),
                                  std::string(R"({"raft":"nohost","http":"127.0.0.99:8001"})"),
                                  std::string(R"({"raft":"127.0.0.99:0","http":"127.0.0.99:8001"})")})
    BOOST_TEST(put(*leader, moved, body).status == 400, "body " << body);
  const http_reply same =
      put(*leader, moved, R"({"raft":")" + c.raft_addr(moved) + R"(","http":")" + c.http_addr(moved) + R"("})");
  BOOST_TEST(same.status == 409, "the address it has: " << same.brief());
  BOOST_TEST(put(moved, moved, elsewhere).status == 307, "a follower sends it to the leader");
  // Onto another member's address: both would be cut off (found by review).
  const http_reply taken =
      put(*leader, moved, R"({"raft":")" + c.raft_addr(*leader) + R"(","http":"127.0.0.99:8001"})");
  BOOST_TEST(taken.status == 409, taken.brief());
  BOOST_TEST(error_code_of(taken) == "bad_member", taken.brief());
  const http_reply added = c.call(*leader, "POST", "/v1/members",
                                  R"({"id":7,"raft":"127.0.0.98:7001","http":")" + c.http_addr(*leader) + R"("})");
  BOOST_TEST(added.status == 409, "a new member on the leader's HTTP address: " << added.brief());
  BOOST_TEST(put(*leader, moved, R"({"raft":"0.0.0.0:7001","http":"127.0.0.99:8001"})").status == 400,
             "'any address' is where to listen, never where to reach");

  // The move commits through the log: every member learns it, the quorum
  // is unchanged (the moved node is now unreachable, the other two commit).
  const http_reply ok = put(*leader, moved, elsewhere);
  BOOST_TEST_REQUIRE(ok.status == 200, ok.brief());
  for (int id : c.ids()) {
    std::string seen;
    BOOST_TEST(kv_cluster::eventually(
                   5s, [&] { return (seen = member_address(c, id, moved)) == "127.0.0.99:7001 127.0.0.99:8001"; }),
               "node " << id << " says " << seen);
  }
  BOOST_TEST(c.call(*leader, "PUT", "/v1/kv/while-moved", "1").status == 200);
  BOOST_TEST(kv_cluster::eventually(5s, [&] { return c.log_of(moved).find("If it moved") != std::string::npos; }),
             "the moved node says its configured address is not where it listens");

  // Back again: the leader's transport follows, and the node catches up.
  const http_reply back =
      put(*leader, moved, R"({"raft":")" + c.raft_addr(moved) + R"(","http":")" + c.http_addr(moved) + R"("})");
  BOOST_TEST_REQUIRE(back.status == 200, back.brief());
  BOOST_TEST(c.call(*leader, "PUT", "/v1/kv/after-move", "2").status == 200);
  http_reply r;
  BOOST_TEST(
      kv_cluster::eventually(10s, [&] { return (r = c.call(moved, "GET", "/v1/kv/after-move?stale")).body == "2"; }),
      r.brief());
  BOOST_TEST(c.call(moved, "GET", "/v1/kv/while-moved?stale").body == "1");
  for (const auto& [id, status] : c.terminate_all()) BOOST_TEST(status == 0, "node " << id);
}

BOOST_AUTO_TEST_CASE(metrics_alias_route_patterns_and_histograms) {
  // Issue 20: /metrics is /v1/metrics (Prometheus' default path); request
  // durations are labelled by the route's pattern, never the raw path (one
  // series per key would grow without bound); the new histograms and the
  // transport's, the HTTP server's and the data directory's metrics are
  // exported.
  kv_cluster c(/*slot=*/61, 3);
  c.start_all();
  const auto leader = c.wait_for_agreement(10s);
  BOOST_REQUIRE_MESSAGE(leader, "no agreed leader within 10 s\n" << c.logs());
  BOOST_TEST_REQUIRE(c.call(*leader, "PUT", "/v1/kv/foo", "bar").status == 200);
  BOOST_TEST(c.call(*leader, "GET", "/v1/kv/foo").body == "bar");
  BOOST_TEST(c.call(*leader, "GET", "/no/such/route").status == 404);

  const http_reply v1 = c.call(*leader, "GET", "/v1/metrics");
  const http_reply alias = c.call(*leader, "GET", "/metrics");
  BOOST_TEST_REQUIRE(v1.status == 200, v1.brief());
  BOOST_TEST_REQUIRE(alias.status == 200, alias.brief());
  BOOST_TEST(alias.header("content-type") == v1.header("content-type"));
  BOOST_TEST(alias.header("content-type").starts_with("text/plain; version=0.0.4"));
  // Same families (the values move between the two calls).
  auto families = [](const std::string& body) {
    std::set<std::string> out;
    std::istringstream in(body);
    for (std::string line; std::getline(in, line);)
      if (line.starts_with("# TYPE ")) out.insert(line);
    return out;
  };
  BOOST_TEST((families(alias.body) == families(v1.body)));

  const std::string& m = alias.body;
  auto has = [&m](const std::string& text) { return m.find(text) != std::string::npos; };
  BOOST_TEST(has(R"(coraft_http_request_duration_seconds_count{node=")" + std::to_string(*leader) +
                 R"(",method="GET",route="/v1/kv/{key}",code="2xx"} )"),
             m);
  BOOST_TEST(has(R"(method="PUT",route="/v1/kv/{key}",code="2xx")"));
  BOOST_TEST(has(R"(route="unmatched",code="4xx")"));
  BOOST_TEST(has(R"(route="/v1/metrics")"));
  BOOST_TEST(!has("/v1/kv/foo"), "a raw path in a label");
  for (const char* name : {"# TYPE coraft_propose_commit_seconds histogram",
                           "# TYPE coraft_commit_apply_seconds histogram",
                           "# TYPE coraft_snapshot_install_seconds histogram",
                           "# TYPE coraft_commit_latency_seconds histogram",
                           "# TYPE coraft_wal_sync_latency_seconds histogram",
                           "# TYPE coraft_snapshot_capture_seconds histogram",
                           "# TYPE coraft_append_rtt_seconds histogram",
                           "coraft_net_sent_bytes_total{",
                           "coraft_net_dropped_total{node=\"",
                           "cause=\"queue_full\"}",
                           "coraft_net_connects_total{",
                           "coraft_http_responses_total{",
                           "coraft_http_connections_accepted_total{",
                           "coraft_net_frames_sent_total{",
                           "coraft_net_peers_connected{",
                           "coraft_http_requests_total{",
                           "coraft_http_connections_open{",
                           "coraft_data_dir_free_bytes{",
                           "coraft_data_dir_capacity_bytes{",
                           "coraft_kv_keys{"})
    BOOST_TEST(has(name), name);
  for (int id : c.ids())
    if (id != *leader)
      BOOST_TEST(has(R"(coraft_append_rtt_seconds_count{node=")" + std::to_string(*leader) + R"(",peer=")" +
                     std::to_string(id) + "\"}"),
                 "no round trips to follower " << id);
  for (const auto& [id, status] : c.terminate_all()) BOOST_TEST(status == 0, "node " << id);
}

BOOST_AUTO_TEST_SUITE_END()
