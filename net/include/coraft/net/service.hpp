// coraft/net/service.hpp — one node of a replicated service in one call:
// the common case of a state machine behind the TCP peer transport, the
// file WAL, the HTTP admin API (/v1/status, /v1/members, ...) and the
// service's own routes, run until SIGINT or SIGTERM.
//
//   int main(int argc, char** argv) {
//     my_state_machine sm;
//     return coraft::net::run_service(argc, argv, sm, [&](coraft::net::http_router& r,
//                                                         coraft::net::admin_context& ctx) {
//       r.add("POST", "/v1/thing", ...);   // co_await ctx.raft_node.propose(...)
//     });
//   }
//
// It wires the pieces as coraft-kv does (apps/coraft-kv/main.cpp), with its
// defaults (10 ms ticks, 150 ms election timeout, fsync always) and without
// its extras (--join, metrics of its own, config files): a service that
// needs those wires the pieces itself.
//
// Stopping: on SIGINT or SIGTERM a leader first hands leadership to the most
// up-to-date voter [thesis §3.10], so a planned restart costs no election
// timeout; then the HTTP server stops taking requests and answers those in
// flight, the node stops (the log is synced: nothing acknowledged is
// unsynced), then the transport.
// Threading: everything runs on the calling thread's event loop, except the
// state machine (its own thread: state_machine.hpp) and the disk (the
// storage's I/O thread).
#pragma once

#include <coraft/log.hpp>
#include <coraft/types.hpp>

#include <functional>
#include <optional>
#include <string>

namespace coraft {
class state_machine;
}

namespace coraft::net {

class http_router;
struct admin_context;

struct service_options {
  node_id id = no_node;  // this node, one of the ids in `cluster`
  // Every member, the same string on every node:
  // "ID=RAFT_HOST:PORT/HTTP_HOST:PORT,..." (cluster_spec.hpp).
  std::string cluster;
  std::string data_dir;  // this node's WAL and snapshots; created if missing
  // Shared by the cluster's nodes: peers and data directories of another
  // cluster are refused.
  std::string cluster_id = "coraft";
  std::string admin_token;  // bearer token of the mutating admin routes; empty: none
  // Where to listen, when not at this node's own addresses in `cluster`
  // (e.g. "0.0.0.0:7001" while `cluster` advertises a host name).
  std::string listen_raft, listen_http;
  // Mutual TLS between peers: all three PEM files or none
  // (tcp_transport_options::tls says what is checked).
  std::string peer_cert, peer_key, peer_ca;
  // HTTPS on the client port (http_options::tls): certificate and key, and
  // optionally the CA whose client certificates are required.
  std::string http_cert, http_key, http_client_ca;
  // The CA of the other members' HTTPS certificates: the dashboard's
  // GET /v1/cluster gathers them over HTTPS with it (showing http_cert).
  std::string http_ca;
  // The log's line format (set_log_format(), coraft/log.hpp), set when the
  // service starts; empty: left as the process set it (a hook, set with
  // set_log_hook() before run_service(), gets the records either way).
  std::optional<coraft::log_format> log_format;
};

// Reads --id N --cluster SPEC --data-dir DIR [--cluster-id NAME]
// [--admin-token T] [--listen-raft H:P] [--listen-http H:P] [--peer-cert F
// --peer-key F --peer-ca F] [--http-cert F --http-key F [--http-client-ca F]]
// [--http-ca F] [--log-format text|json] (also as --flag=value). Throws std::invalid_argument
// with a usage line when one is missing, unknown or malformed.
service_options parse_service_args(int argc, const char* const* argv);

// Adds the service's routes next to the admin routes. `ctx` (and its node,
// ctx.raft_node) outlives every request; redirect_to_leader() and
// node_error_response() (admin_api.hpp) give the usual answers.
using add_routes_fn = std::function<void(http_router& router, admin_context& ctx)>;

// Runs this node until SIGINT or SIGTERM, then stops it cleanly (above).
// Returns the process's exit code: 0 after a signal; 1 when the node could
// not start (an address in use, a data directory of another node or
// cluster) or failed for good (a storage error, the state machine threw:
// node_options::on_fatal); 2 when `opts` are invalid. Says why on the log.
// `sm` outlives the call.
int run_service(const service_options& opts, state_machine& sm, const add_routes_fn& add_routes);
// The same with the options from the command line (parse_service_args());
// malformed ones: the reason and a usage line on stderr, and 2.
int run_service(int argc, const char* const* argv, state_machine& sm, const add_routes_fn& add_routes);

}  // namespace coraft::net
