// coraft/net/join.hpp — a new node asks a running cluster to take it in.
//
// A node started with an empty data directory and a seed address (any
// member's HTTP address) POSTs /v1/members for itself as a learner,
// following 307 redirects to the leader, then reads the leader's
// /v1/status for every member's raft address, so that it can answer the
// leader before the configuration entry naming it has reached it. Then the
// leader sends it the log (or a snapshot) and it catches up; an operator
// promotes it to voter with POST /v1/members/{id}/promote [thesis §4.2.1].
#pragma once

#include <coraft/net/admin_api.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace coraft::net {

// http_client_tls: see admin_api.hpp.
// Throws std::runtime_error naming the file, its flag (--http-ca,
// --http-cert, --http-key) and the fix when `tls` cannot be used: for a
// check at start-up.
void check_http_client_tls(const http_client_tls& tls);

// One HTTP/1.1 exchange with `host_port` (an IP or a name, resolved now),
// no redirects followed, all within `timeout` (the name's lookup too);
// HTTPS when `tls` is enabled. status 0: no answer, and `error` says why
// (the name, the connection, the TLS handshake, or the time).
struct http_reply {
  int status = 0;
  std::string body;
  std::string location;  // the Location header, if any
  std::string error;     // when status is 0
};
boost::asio::awaitable<http_reply> http_call(std::string host_port, std::string method, std::string target,
                                             std::string body, std::string bearer_token,
                                             std::chrono::milliseconds timeout, http_client_tls tls = {});

// http_call() following up to 4 redirects (307/308: a follower pointing at
// the leader), all within `timeout`; `at` becomes the address that gave the
// final answer. With `may_follow`, only to the HOST:PORTs it accepts (the
// token goes along): a refused redirect is the final answer.
boost::asio::awaitable<http_reply> call_leader(std::string& at, const std::string& method, const std::string& target,
                                               const std::string& body, const std::string& token,
                                               const http_client_tls& tls,
                                               std::chrono::milliseconds timeout = std::chrono::milliseconds(6000),
                                               std::function<bool(const std::string&)> may_follow = {});

struct join_result {
  bool ok = false;
  std::string error;                    // why not, when !ok
  std::vector<cluster_member> members;  // the cluster's members, with addresses
};
// Retries (every 500 ms) until the leader accepted the change or `patience`
// ran out. "Already a member" counts as accepted: a previous attempt of
// ours got through.
// Over HTTPS when `tls` is enabled (members serving --http-cert).
boost::asio::awaitable<join_result> join_cluster(std::string seed_http, cluster_member self, std::string admin_token,
                                                 std::chrono::milliseconds patience, http_client_tls tls = {});

}  // namespace coraft::net
