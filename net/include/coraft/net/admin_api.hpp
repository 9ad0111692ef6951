// coraft/net/admin_api.hpp — the cluster inspection and operation routes of
// HTTP API v1 (DESIGN.md): /v1/status, /v1/health, /v1/metrics, /v1/log,
// and the routes of features still to come (members, leader transfer,
// snapshot) answering 501. They only call the node's public API.
//
// Also the shared helpers a service's own routes need: the leader redirect
// (307 with Location on the leader's HTTP address, or 503 no_leader with
// Retry-After) and the bearer-token check for mutating routes.
#pragma once

#include <coraft/net/http.hpp>
#include <coraft/node.hpp>

#include <functional>
#include <string>
#include <vector>

namespace coraft::net {

struct cluster_member {
  node_id id = no_node;
  std::string raft;  // host:port
  std::string http;  // host:port
  bool voter = true;
};

// Parses "1=127.0.0.11:7001/127.0.0.11:8001,2=...": id=raft/http per member.
// Throws std::invalid_argument with a message naming the bad part.
std::vector<cluster_member> parse_cluster(const std::string& spec);

struct admin_context {
  node& raft_node;
  std::vector<cluster_member> members;
  std::string admin_token;                // empty: no auth on mutating routes
  std::string fsync_policy = "always";    // shown in status; "never" is unsafe
  // Extra Prometheus lines (transport, HTTP and service counters).
  std::function<std::string()> extra_metrics;
  const cluster_member* member(node_id id) const;
};

void add_admin_routes(http_router& router, admin_context& ctx);

// For a request that needs the leader: nullopt when this node leads;
// otherwise the 307 redirect to the leader or 503 no_leader.
std::optional<http_response> redirect_to_leader(const admin_context& ctx, const node_status& s,
                                                const http_request& req);
// 401 unless the request carries "Authorization: Bearer <token>" (when set).
std::optional<http_response> check_admin_token(const admin_context& ctx, const http_request& req);
// 503/504/409... for a failed proposal, with JSON error bodies.
http_response proposal_error(const admin_context& ctx, const propose_error& e, const http_request& req);

}  // namespace coraft::net
