// coraft/net/admin_api.hpp — the cluster inspection and operation routes of
// HTTP API v1 (DESIGN.md): /v1/status, /v1/health, /v1/metrics, /v1/log,
// /v1/members (add, promote, remove, move), /v1/leader/transfer,
// /v1/snapshot; /livez and /readyz for probes.
// They only call the node's public API.
//
// Members' addresses live in the Raft configuration (membership::addresses,
// one string per member: "RAFT_HOST:PORT HTTP_HOST:PORT"), so every node
// learns them from the log; the owner keeps admin_context's table current
// from node_options::on_membership.
//
// Also the shared helpers a service's own routes need: the leader redirect
// (307 with Location on the leader's HTTP address, or 503 no_leader with
// Retry-After) and the bearer-token check for mutating routes.
#pragma once

#include <coraft/net/cluster_spec.hpp>
#include <coraft/net/http.hpp>
#include <coraft/node.hpp>

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coraft::net {

// HTTPS for http_call (join.hpp) and the dashboard's calls to the other
// members (PEM files): the server's certificate must chain to ca_file and
// name the host called; cert_file and key_file, when given, are shown as
// the client's certificate (for members that require one). No ca_file:
// plain HTTP.
struct http_client_tls {
  std::string ca_file, cert_file, key_file;
  bool enabled() const { return !ca_file.empty(); }
};

struct admin_context {
  admin_context(node& n, std::vector<cluster_member> members, std::string token, std::string fsync)
      : raft_node(n), admin_token(std::move(token)), fsync_policy(std::move(fsync)), members_(std::move(members)) {}
  node& raft_node;
  std::string admin_token;              // empty: no auth on mutating routes
  std::string write_token;              // a service's writes (check_write_token); empty: none needed
  std::string url_scheme = "http";      // of the leader redirects: "https" when the members serve HTTPS
  std::string fsync_policy = "always";  // shown in status; "never" is unsafe
  // How this node calls the other members' HTTP addresses (/v1/cluster and
  // the dashboard's operations): HTTPS when they serve it (url_scheme).
  http_client_tls member_tls;
  // Extra Prometheus lines (transport, HTTP and service counters).
  std::function<std::string()> extra_metrics;

  // The member table (the configuration in force). Thread-safe.
  void set_members(std::vector<cluster_member> members);
  std::optional<cluster_member> member(node_id id) const;

 private:
  mutable std::mutex mu_;
  std::vector<cluster_member> members_;
};

void add_admin_routes(http_router& router, admin_context& ctx);
// The dashboard (GET /, dashboard.cpp) and what it reads: GET /v1/events
// (this node's history), GET /v1/cluster (every member's status, gathered
// by this node), and the operations it forwards to the member they concern
// with the caller's token: POST /v1/cluster/transfer,
// /v1/cluster/members/{id}/snapshot, /v1/cluster/members/{id}/promote.
// Called by add_admin_routes.
void add_dashboard_routes(http_router& router, admin_context& ctx);

// For a request that needs the leader: nullopt when this node leads;
// otherwise the 307 redirect to the leader or 503 no_leader.
std::optional<http_response> redirect_to_leader(const admin_context& ctx, const node_status& s,
                                                const http_request& req);
// 401 unless the request carries "Authorization: Bearer <token>" (when set).
std::optional<http_response> check_admin_token(const admin_context& ctx, const http_request& req);
// For a service's writes: 401 unless the request carries the write token or
// the admin token (when a write token is set).
std::optional<http_response> check_write_token(const admin_context& ctx, const http_request& req);
// Whether an Authorization header value is "Bearer <token>", compared in
// constant time (in the token). False for an empty token.
bool bearer_matches(std::string_view authorization, std::string_view token);
// The token of an Authorization header value "Bearer <token>" (the scheme
// in any case), or nullopt for another scheme.
std::optional<std::string_view> bearer_token(std::string_view authorization);
// The HTTP answer for a failed node operation (307 to the leader for
// not_leader; 503/504/409/413/400 for the others, as JSON errors), from one
// table.
http_response node_error_response(const admin_context& ctx, const node_error& e, const http_request& req);

}  // namespace coraft::net
