// bad_input_test.cpp — stories 5 and 6: DESIGN.md "Rules for bad input".
// Hostile bytes on the HTTP and raft ports get a 4xx JSON error or a closed
// connection, never a crash, and the cluster keeps committing; bad flags
// stop the program at start with a message naming the flag.
#include "e2e_harness.hpp"

#include <coraft/net/frame.hpp>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <random>

namespace {

using namespace e2e;
namespace json = boost::json;

const std::string admin_token = "s3cret-token";
constexpr int max_value_bytes = 4096;  // the HTTP body limit is this + 4096

// The reply is `status` with a JSON body {"error": code, "message": ...}.
void check_json_error(const http_reply& r, int status, const std::string& code = {}) {
  BOOST_TEST(r.status == status, r.brief());
  BOOST_TEST(r.header("content-type").find("application/json") == 0, "content-type: " << r.header("content-type"));
  const json::value v = r.json();
  BOOST_TEST_REQUIRE(v.is_object(), "not a JSON object: " << r.brief());
  BOOST_TEST(v.as_object().contains("message"), r.brief());
  BOOST_TEST_REQUIRE(v.as_object().contains("error"), r.brief());
  if (!code.empty()) BOOST_TEST(std::string(v.at("error").as_string()) == code, r.brief());
}

// Parses what a raw exchange received as an HTTP response.
http_reply as_reply(const raw_outcome& o) {
  // Reuse the client's parser by round-tripping through a fake exchange is
  // overkill; a tiny parse suffices here.
  http_reply r;
  const auto end = o.received.find("\r\n\r\n");
  if (o.received.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) {
    r.failure = o.received.empty() ? "closed without an answer" : "not HTTP: " + o.received.substr(0, 60);
    return r;
  }
  r.status = std::atoi(o.received.c_str() + 9);
  std::size_t at = o.received.find("\r\n") + 2;
  while (at < end) {
    const auto eol = o.received.find("\r\n", at);
    const std::string line = o.received.substr(at, eol - at);
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    }
    at = eol + 2;
  }
  r.body = o.received.substr(end + 4);
  return r;
}

std::string random_bytes(std::mt19937& rng, std::size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// A frame header (frame.hpp): magic "CRFT", version, type, reserved, body
// length, CRC32C; integers little-endian.
std::string frame_header(std::uint8_t version, std::uint8_t type, std::uint32_t body_length, std::uint32_t crc = 0) {
  std::string h = "CRFT";
  h += static_cast<char>(version);
  h += static_cast<char>(type);
  h += std::string(2, '\0');
  for (int i = 0; i < 4; ++i) h += static_cast<char>((body_length >> (8 * i)) & 0xff);
  for (int i = 0; i < 4; ++i) h += static_cast<char>((crc >> (8 * i)) & 0xff);
  return h;
}

std::string hello_frame(const std::string& cluster_id, coraft::node_id id) {
  std::vector<char> out;
  coraft::net::encode_hello(coraft::net::hello{cluster_id, id}, out);
  return std::string(out.begin(), out.end());
}

std::uint64_t metric(const std::string& text, const std::string& name_with_labels) {
  const auto at = text.find("\n" + name_with_labels + " ");
  if (at == std::string::npos) return 0;
  return std::strtoull(text.c_str() + at + name_with_labels.size() + 2, nullptr, 10);
}

struct guarded_cluster : kv_cluster {
  guarded_cluster()
      : kv_cluster(/*slot=*/4, 3,
                   {"--admin-token", admin_token, "--max-value-bytes", std::to_string(max_value_bytes)}) {}
};

}  // namespace

BOOST_AUTO_TEST_SUITE(e2e_bad_input)

BOOST_FIXTURE_TEST_CASE(hostile_input_gets_json_errors_or_a_closed_connection_and_breaks_nothing, guarded_cluster) {
  start_all();
  const auto leader_or = wait_for_agreement(10s);
  BOOST_REQUIRE_MESSAGE(leader_or, "no agreed leader within 10 s");
  const int leader = *leader_or;
  BOOST_TEST_REQUIRE(call(leader, "PUT", "/v1/kv/before", "ok").status == 200);
  std::mt19937 rng(20240611);

  // A raft-port connection that claims a 60 MiB hello (under the 64 MiB
  // frame limit) and then goes silent: the node must not wait forever.
  raw_connection slow(raft_addr(1));
  BOOST_TEST_REQUIRE(slow.connected());
  BOOST_TEST(slow.send(frame_header(1, 1, 60u << 20)));
  const auto slow_since = clock_type::now();

  for (int id : ids()) {
    BOOST_TEST_CONTEXT("HTTP port of node " << id) {
      const std::string at = http_addr(id);

      // Garbage instead of a request line: 400 JSON, then the node closes.
      const raw_outcome tls = raw_exchange(
          at, std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + random_bytes(rng, 64) + "\r\n\r\n", 5s);
      BOOST_TEST(tls.closed_by_peer, "the node kept a garbage connection open");
      check_json_error(as_reply(tls), 400, "bad_request");
      std::string noise = random_bytes(rng, 4096);
      noise[0] = '\0';
      const raw_outcome rnd = raw_exchange(at, noise, 5s, /*shut_write_after=*/true);
      BOOST_TEST(rnd.closed_by_peer, "the node kept a connection of random bytes open");
      if (!rnd.received.empty()) check_json_error(as_reply(rnd), 400);
      const raw_outcome bad_len =
          raw_exchange(at, "PUT /v1/kv/x HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 5s);
      check_json_error(as_reply(bad_len), 400);

      // Headers over 8 KiB: 431 JSON.
      const raw_outcome big_head = raw_exchange(
          at, "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Filler: " + std::string(9000, 'a') + "\r\n\r\n", 5s);
      check_json_error(as_reply(big_head), 431, "headers_too_large");

      // A body over the server's limit (the header alone says so): 413 JSON.
      const raw_outcome big_body = raw_exchange(
          at, "PUT /v1/kv/big HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(1u << 20) + "\r\n\r\n", 5s);
      check_json_error(as_reply(big_body), 413, "too_large");
      // A value over --max-value-bytes but within the HTTP limit: 413 JSON.
      check_json_error(call(id, "PUT", "/v1/kv/big", std::string(max_value_bytes + 1, 'v')), 413, "too_large");

      // Keys: invalid percent-encoding and over 1 KiB are 400 JSON.
      check_json_error(call(id, "GET", "/v1/kv/%zz"), 400);
      check_json_error(call(id, "PUT", "/v1/kv/abc%2", "v"), 400);
      check_json_error(call(id, "GET", "/v1/kv/" + std::string(1025, 'k')), 400, "bad_key");
      check_json_error(call(id, "PUT", "/v1/kv/x?expect=a&absent", "v"), 400);

      // Unknown routes 404, wrong methods 405 (with Allow), all JSON.
      check_json_error(call(id, "GET", "/v1/nope"), 404, "not_found");
      check_json_error(call(id, "GET", "/nope"), 404, "not_found");
      check_json_error(call(id, "POST", "/"), 405, "method_not_allowed");  // "/" is the dashboard's page
      const http_reply wrong = call(id, "POST", "/v1/status");
      check_json_error(wrong, 405, "method_not_allowed");
      BOOST_TEST(wrong.header("allow") == "GET");
      check_json_error(call(id, "PATCH", "/v1/kv/x"), 405, "method_not_allowed");
      check_json_error(call(id, "GET", "/v1/log?from=abc"), 400);
      check_json_error(call(id, "GET", "/v1/log?limit=0"), 400);

      // Mutating admin routes: 401 without the token or with a wrong one.
      const http_reply anon = call(id, "POST", "/v1/snapshot");
      check_json_error(anon, 401, "unauthorized");
      BOOST_TEST(anon.header("www-authenticate") == "Bearer");
      check_json_error(call(id, "POST", "/v1/snapshot", {}, {{"Authorization", "Bearer wrong"}}), 401, "unauthorized");
      check_json_error(call(id, "POST", "/v1/members", "{not json", {}), 401, "unauthorized");
      check_json_error(call(id, "POST", "/v1/leader/transfer", "{\"to\":", {{"Authorization", "Basic " + admin_token}}),
                       401, "unauthorized");
      // With the token, invalid JSON is refused (400; 501 while the route
      // is not implemented yet) as a JSON error, never a success or a crash.
      const std::vector<std::pair<std::string, std::string>> auth{{"Authorization", "Bearer " + admin_token}};
      for (const auto& [route, body] : std::vector<std::pair<std::string, std::string>>{
               {"/v1/members", "{not json"}, {"/v1/members", "[1,2"}, {"/v1/leader/transfer", "{\"to\":"}}) {
        const http_reply r = call(id, "POST", route, body, auth);
        BOOST_TEST((r.status == 400 || r.status == 501), route << " with " << body << ": " << r.brief());
        check_json_error(r, r.status);
      }
      const http_reply snap = call(id, "POST", "/v1/snapshot", {}, auth);
      BOOST_TEST(snap.status != 401, snap.brief());
      BOOST_TEST(snap.json().is_object(), snap.brief());
    }

    BOOST_TEST_CONTEXT("raft port of node " << id) {
      const std::string at = raft_addr(id);
      std::string noise = random_bytes(rng, 256);
      noise[0] = '\0';  // surely not "CRFT"
      BOOST_TEST(raw_exchange(at, noise, 3s).closed_by_peer, "random bytes: connection left open");
      BOOST_TEST(raw_exchange(at, frame_header(1, 1, 0xFFFFFFF0u), 3s).closed_by_peer,
                 "a 4 GiB length prefix: connection left open");
      BOOST_TEST(raw_exchange(at, frame_header(1, 2, 0xFFFFFFF0u), 3s).closed_by_peer,
                 "a 4 GiB raft message: connection left open");
      BOOST_TEST(raw_exchange(at, frame_header(9, 1, 8), 3s).closed_by_peer, "version 9: connection left open");
      BOOST_TEST(raw_exchange(at, frame_header(1, 1, 4, 0xdeadbeef) + "abcd", 3s).closed_by_peer,
                 "a bad checksum: connection left open");
      BOOST_TEST(raw_exchange(at, hello_frame("another-cluster", 2), 3s).closed_by_peer,
                 "a hello from another cluster: connection left open");
      // Unknown ids are welcome (a member that just joined); our own is not.
      BOOST_TEST(raw_exchange(at, hello_frame("coraft", id), 3s).closed_by_peer,
                 "a hello claiming the node's own id: connection left open");
      // A well-formed hello that claims to be a peer, then a frame of
      // garbage: the impostor is cut off (and the real peer reconnects).
      const int peer = id == 1 ? 2 : 1;
      BOOST_TEST(
          raw_exchange(
              at, hello_frame("coraft", static_cast<coraft::node_id>(peer)) + frame_header(1, 2, 8, 0) + "garbage!", 3s)
              .closed_by_peer,
          "garbage after a hello: connection left open");
    }
  }

  BOOST_TEST(slow.wait_closed_by_peer(10s),
             "a silent raft connection claiming a 60 MiB frame stayed open for "
                 << std::chrono::duration_cast<std::chrono::seconds>(clock_type::now() - slow_since).count() << " s");

  // Every node is still up and answering; each counted its decode errors.
  for (int id : ids()) {
    BOOST_TEST(running(id), "node " << id << " died");
    BOOST_TEST(call(id, "GET", "/v1/status").status == 200, "node " << id << " status");
    const http_reply m = call(id, "GET", "/v1/metrics");
    BOOST_TEST(metric(m.body, "coraft_net_decode_errors_total{node=\"" + std::to_string(id) + "\"}") >= 4u,
               "node " << id << " decode errors");
  }

  // ... and the cluster still commits, and every node applies it.
  const auto now_leader = wait_for_agreement(10s);
  BOOST_REQUIRE_MESSAGE(now_leader, "no agreed leader after the hostile input");
  http_reply after;
  BOOST_TEST(
      eventually(
          10s, [&] { return (after = call_following(*now_leader, "PUT", "/v1/kv/after", "still-ok")).status == 200; }),
      "the cluster does not commit after the hostile input: " << after.brief());
  for (int id : ids()) {
    http_reply r;
    BOOST_TEST(eventually(5s, [&] { return (r = call(id, "GET", "/v1/kv/after?stale")).body == "still-ok"; }),
               "node " << id << ": " << r.brief());
    BOOST_TEST(call(id, "GET", "/v1/kv/before?stale").body == "ok");
  }
}

// ---- story 6: bad flags ----------------------------------------------------------

namespace {

// coraft-kv with `args` exits non-zero at once, saying `needle`.
void check_refused(const std::vector<std::string>& args, const std::string& needle) {
  std::string shown;
  for (const auto& a : args) shown += " " + a;
  BOOST_TEST_CONTEXT("coraft-kv" << shown) {
    const run_result r = run_to_exit(args, 10s);
    BOOST_TEST(r.exit_code != 0, "exit code " << r.exit_code << "; output:\n" << r.output);
    BOOST_TEST(r.exit_code > 0, "killed by a signal? exit code " << r.exit_code << "; output:\n" << r.output);
    BOOST_TEST(r.output.find(needle) != std::string::npos, "output lacks '" << needle << "':\n" << r.output);
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(bad_flags_stop_the_program_with_a_message_naming_the_flag) {
  kv_cluster c(/*slot=*/5);
  const std::string cl = c.cluster_flag();
  const std::string dir = (c.temp_dir() / "flags").string();

  check_refused({"--cluster", cl, "--data-dir", dir}, "--id");
  check_refused({"--id", "1", "--data-dir", dir}, "--cluster");
  check_refused({"--id", "1", "--cluster", cl}, "--data-dir");
  check_refused({"--id", "1", "--cluster", cl, "--data-dir", dir, "--frobnicate", "3"}, "--frobnicate");
  check_refused({"--id", "one", "--cluster", cl, "--data-dir", dir}, "--id");
  check_refused({"--id", "4", "--cluster", cl, "--data-dir", dir}, "--cluster");
  check_refused({"--id", "1", "--cluster", "1=127.0.0.11:28501", "--data-dir", dir}, "--cluster");
  check_refused({"--id", "1", "--cluster", "1=127.0.0.11:99999/127.0.0.11:28502", "--data-dir", dir}, "--cluster");
  check_refused({"--id", "1", "--cluster", "1=a:1/a:2,1=b:1/b:2", "--data-dir", dir}, "--cluster");
  check_refused({"--id", "1", "--cluster", "", "--data-dir", dir}, "--cluster");
  check_refused({"--id", "1", "--cluster", cl, "--data-dir", dir, "--fsync", "sometimes"}, "--fsync");
  check_refused({"--id", "1", "--cluster", cl, "--data-dir", dir, "--log-level", "loud"}, "--log-level");
  check_refused({"--id", "1", "--cluster", cl, "--data-dir", dir, "--election-timeout-ms", "20"},
                "--election-timeout-ms");
  check_refused({"--id", "1", "--cluster", cl, "--data-dir", dir, "--tick-ms", "0"}, "--tick-ms");
  check_refused({"--id", "1", "--cluster", cl, "--data-dir", dir, "--max-value-bytes", "0"}, "--max-value-bytes");
  check_refused({"--id", "1", "--cluster", cl, "--data-dir", dir, "--propose-timeout-ms", "-1"},
                "--propose-timeout-ms");
  check_refused({"--config", (c.temp_dir() / "missing.json").string()}, "--config");
  check_refused({"--id", "1", "--cluster", cl, "--data-dir", dir, "--join", "garbage"},
                "--join");  // at once, not after 30 s
  check_refused({"--id", "1", "--cluster", cl, "--data-dir", dir, "--log-format", "xml"}, "--log-format");
  // issue 17: listen addresses.
  check_refused({"--id", "1", "--cluster", cl, "--data-dir", dir, "--listen-raft", "nonsense"}, "--listen-raft");
  check_refused({"--id", "1", "--cluster", cl, "--data-dir", dir, "--listen-http", "127.0.0.11"}, "--listen-http");
  check_refused({"--id", "1", "--cluster", cl, "--data-dir", dir, "--listen-http", ""}, "--listen-http");
  check_refused({"--id", "1", "--cluster", cl, "--data-dir", dir, "--listen-raft", "no-such-host.invalid:28501"},
                "--listen-raft");
  check_refused({"--id", "1", "--cluster", cl, "--data-dir", dir, "--listen-http", "no-such-host.invalid:28502"},
                "does not resolve");
  check_refused({"--id", "1", "--cluster", "1=0.0.0.0:28501/127.0.0.11:28502", "--data-dir", dir}, "--listen-raft");
  check_refused({"--id", "1", "--cluster", "1=127.0.0.11:28501/127.0.0.11:28502,2=127.0.0.11:28501/127.0.0.12:28502",
                 "--data-dir", dir},
                "addresses of its own");
  check_refused({"--id", "1", "--cluster", "1=no-such-host.invalid:28501/127.0.0.11:28502", "--data-dir", dir},
                "--listen-raft, or this node's in --cluster");

  // A data dir is one node's own: node 2 on node 1's dir is refused, and so
  // is node 1 under another --cluster-id.
  c.start(1);
  BOOST_TEST(c.terminate(1) == 0);
  check_refused({"--id", "2", "--cluster", cl, "--data-dir", c.data_dir(1).string()}, "belongs to node 1");
  check_refused({"--id", "1", "--cluster", cl, "--data-dir", c.data_dir(1).string(), "--cluster-id", "other"},
                "belongs to cluster");

  // A second process for a running node (a restart script racing the old
  // one) must not come up, and must not harm the running one.
  c.start(1);
  c.start(2);
  const auto leader = c.wait_for_agreement(10s);
  BOOST_REQUIRE_MESSAGE(leader, "nodes 1 and 2 agree on no leader within 10 s");
  BOOST_TEST_REQUIRE(c.call_following(1, "PUT", "/v1/kv/first", "1").status == 200);
  const run_result twin = run_to_exit({"--id", "1", "--cluster", cl, "--data-dir", c.data_dir(1).string()}, 10s);
  BOOST_TEST(twin.exit_code > 0, "a second node 1 on the same data dir: exit " << twin.exit_code << "\n"
                                                                               << twin.output);
  BOOST_TEST_MESSAGE("second node 1 said: " << twin.output);
  BOOST_TEST(c.running(1));
  BOOST_TEST(c.call_following(2, "PUT", "/v1/kv/second", "2").status == 200);
  // Ports in use (issue 17): start-up stops, naming the address.
  check_refused({"--id", "9", "--cluster", "9=" + c.raft_addr(1) + "/127.0.0.19:28599", "--data-dir", dir + "9"},
                "cannot listen for raft peers on " + c.raft_addr(1));
  check_refused({"--id", "9", "--cluster", "9=127.0.0.19:28598/127.0.0.19:28599", "--data-dir", dir + "9b",
                 "--listen-http", c.http_addr(1)},
                "cannot listen for HTTP on " + c.http_addr(1));
  http_reply r;
  BOOST_TEST(kv_cluster::eventually(5s, [&] { return (r = c.call(1, "GET", "/v1/kv/second?stale")).body == "2"; }),
             r.brief());
  BOOST_TEST(c.call(1, "GET", "/v1/kv/first?stale").body == "1");
  for (int id : {1, 2}) BOOST_TEST(c.terminate(id) == 0, "node " << id);
  // ... and after a restart node 1's log is intact.
  c.start(1);
  c.start(2);
  BOOST_REQUIRE(c.wait_for_agreement(10s));
  BOOST_TEST(c.call_following(1, "GET", "/v1/kv/first").body == "1");
  BOOST_TEST(c.call_following(1, "GET", "/v1/kv/second").body == "2");
}

BOOST_AUTO_TEST_SUITE_END()
