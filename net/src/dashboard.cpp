// dashboard.cpp — the page at / and the routes it reads (admin_api.hpp,
// add_dashboard_routes).
//
// The browser talks only to the node that served the page: that node
// gathers the other members' /v1/status itself (GET /v1/cluster), in
// parallel and each within a deadline, so that a member down or cut off
// shows as unreachable after at most that long and never holds the page
// up. Operations are forwarded to the member they concern with the
// caller's bearer token: the page never sees another origin (a browser
// drops Authorization on a cross-origin redirect, and would need CORS).
// This node checks the token first (callers without it must not hold the
// forwarding slots), and the member that acts checks it again.
#include <coraft/events.hpp>
#include <coraft/log.hpp>
#include <coraft/net/address.hpp>
#include <coraft/net/admin_api.hpp>
#include <coraft/net/join.hpp>

#include "admin_status.hpp"
#include "dashboard_page.hpp"

#include <boost/algorithm/string/predicate.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <set>

namespace coraft::net {

namespace json = boost::json;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// A member that has not answered within this is shown as unreachable.
constexpr auto gather_timeout = 1000ms;
// Transfers and promotions answer once done; give them the server's time.
constexpr auto operation_timeout = 9000ms;

bool parse_id(std::string_view s, std::uint64_t& out) { return parse_u64(s, out) && out > 0; }

// GET /v1/events?since=N&limit=M: the events after N, oldest first; with
// no `since`, the newest `limit`. At most 200 a page: each answer is built
// on the node's thread, and a flood of big ones would starve its heartbeats.
asio::awaitable<http_response> get_events(admin_context& ctx, const http_request& req) {
  std::uint64_t since = 0, limit = 100;
  const auto since_param = req.param("since");
  if (since_param && !parse_u64(*since_param, since))
    co_return http_response::error(400, "bad_request", "since must be an event sequence number (0: from the oldest)");
  if (auto l = req.param("limit"); l && (!parse_id(*l, limit) || limit > 200))
    co_return http_response::error(400, "bad_request", "limit must be 1 to 200");
  const event_log& log = ctx.raft_node.events();
  const event_log::page p =
      since_param ? log.since(since, static_cast<std::size_t>(limit)) : log.latest(static_cast<std::size_t>(limit));
  json::object o;
  o["node"] = ctx.raft_node.id();
  o["incarnation"] = log.incarnation();
  o["last_seq"] = p.last_seq;
  o["truncated"] = p.truncated;
  json::array events;
  for (const node_event& e : p.events) {
    json::object eo;
    eo["seq"] = e.seq;
    eo["time"] = format_time_utc(e.time);
    eo["unix_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(e.time.time_since_epoch()).count();
    eo["kind"] = e.kind;
    eo["term"] = e.term;
    eo["message"] = e.message;
    json::object fields;
    for (const auto& [k, v] : e.fields) fields[k] = v;
    eo["fields"] = std::move(fields);
    events.push_back(std::move(eo));
  }
  o["events"] = std::move(events);
  co_return http_response::json(json::serialize(o));
}

}  // namespace

json::array history_array(const node& n) {
  json::array out;
  for (const rate_sample& r : n.rates().samples())
    out.push_back(json::array{r.unix_ms, r.proposals_ok, r.reads_ok, r.commit_latency_count, r.commit_latency_sum_s});
  return out;
}

namespace {

std::string reply_error(const http_reply& r) {
  if (r.status == 0) return r.error.empty() ? "no answer" : r.error;
  return "answered " + std::to_string(r.status);
}

// What the dashboard's routes share. They run on the HTTP server's
// executor (one thread), so it needs no lock.
struct dashboard_state {
  // GET /v1/cluster, with and without the history: one gather at a time;
  // requests that arrive meanwhile wait for its answer, and an answer
  // younger than `fresh` is served again. A flood of requests costs this
  // node one gather per `fresh`, not one per request.
  struct gather_slot {
    std::string body;
    std::chrono::steady_clock::time_point at;
    bool gathering = false;
    std::vector<std::shared_ptr<asio::steady_timer>> waiters;
    // Members whose last call from this slot has not returned (a connection
    // that hangs): not called again until it does, so that calls to a
    // member that never answers cannot pile up. (A slow name's lookups are
    // shared by http_call itself.)
    std::set<node_id> pending;
  } plain, with_history;
  int forwards = 0;  // operations being forwarded now
};
constexpr auto fresh = 250ms;

// Counts an operation being forwarded while it lives. (A class with a
// constructor, not an aggregate: g++ 12 miscompiles braced locals in
// coroutines.)
class forward_slot {
 public:
  explicit forward_slot(dashboard_state& s) : s_(s) { ++s_.forwards; }
  ~forward_slot() { --s_.forwards; }
  forward_slot(const forward_slot&) = delete;
  forward_slot& operator=(const forward_slot&) = delete;

 private:
  dashboard_state& s_;
};
constexpr int max_forwards = 4;

bool wants_history(const http_request& req) {
  const auto h = req.param("history");
  return h && (*h == "1" || h->empty() || boost::algorithm::iequals(*h, "true"));
}

// Asks every other member for its /v1/status, at most gather_timeout each
// (a member that does not answer by then is unreachable), and writes the
// answer of GET /v1/cluster.
asio::awaitable<std::string> gather(admin_context& ctx, std::shared_ptr<dashboard_state> st, bool history) {
  dashboard_state::gather_slot& slot = history ? st->with_history : st->plain;
  const node_status self = co_await ctx.raft_node.status();
  const auto ex = co_await asio::this_coro::executor;
  const membership config{self.voters, self.learners, self.addresses};
  const std::vector<cluster_member> members = members_of(config);

  struct gathering {
    explicit gathering(asio::any_io_executor e) : all_answered(std::move(e)) {}
    asio::steady_timer all_answered;
    std::vector<http_reply> replies;
    std::vector<std::chrono::steady_clock::time_point> answered_at;
    std::vector<bool> asked;
    std::size_t left = 0;
  };
  auto g = std::make_shared<gathering>(ex);
  g->replies.resize(members.size());
  g->answered_at.resize(members.size());
  g->asked.resize(members.size());
  const auto started = std::chrono::steady_clock::now();
  g->all_answered.expires_after(gather_timeout + 200ms);  // http_call's own deadline ends each call first
  // Members that serve HTTPS can only be asked over HTTPS, with their CA.
  const bool cannot_ask = ctx.url_scheme == "https" && !ctx.member_tls.enabled();
  for (std::size_t i = 0; i < members.size(); ++i) {
    const node_id id = members[i].id;
    if (id == self.id || members[i].http.empty() || cannot_ask || slot.pending.contains(id)) continue;
    ++g->left;
    g->asked[i] = true;
    slot.pending.insert(id);
    asio::co_spawn(ex,
                   http_call(members[i].http, "GET", history ? "/v1/status?history=1" : "/v1/status", {}, {},
                             gather_timeout, ctx.member_tls),
                   [g, st, i, id, history](std::exception_ptr e, http_reply r) {
                     (history ? st->with_history : st->plain).pending.erase(id);
                     if (!e) g->replies[i] = std::move(r);
                     g->answered_at[i] = std::chrono::steady_clock::now();
                     if (--g->left == 0) g->all_answered.cancel();
                   });
  }
  if (g->left > 0) co_await g->all_answered.async_wait(asio::as_tuple(asio::use_awaitable));

  json::object o;
  o["served_by"] = self.id;
  const auto now = std::chrono::system_clock::now();
  o["time"] = format_time_utc(now);
  // The page's rates are per second of this clock (not the browser's,
  // which a headless browser may run on virtual time).
  o["unix_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  json::array out;
  for (std::size_t i = 0; i < members.size(); ++i) {
    const cluster_member& m = members[i];
    json::object mo;
    mo["id"] = m.id;
    mo["raft"] = m.raft;
    mo["http"] = m.http;
    mo["voter"] = m.voter;
    if (m.id == self.id) {
      mo["reachable"] = true;
      json::object so = status_object(ctx, self);
      if (history) so["history"] = history_array(ctx.raft_node);
      mo["status"] = std::move(so);
    } else {
      const http_reply& r = g->replies[i];
      boost::system::error_code ec;
      json::value v = r.status == 200 ? json::parse(r.body, ec) : json::value();
      if (r.status == 200 && !ec && v.is_object()) {
        mo["reachable"] = true;
        mo["rtt_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(g->answered_at[i] - started).count();
        mo["status"] = std::move(v);
      } else {
        mo["reachable"] = false;
        mo["error"] = m.http.empty() ? "no HTTP address known"
                      : cannot_ask   ? "the members serve HTTPS: start this node with --http-ca to ask them"
                      : !g->asked[i] ? "the previous request to it has not returned yet (a name lookup or a connection)"
                                     : reply_error(r);
      }
    }
    out.push_back(std::move(mo));
  }
  o["members"] = std::move(out);
  co_return json::serialize(o);
}

// GET /v1/cluster: this node's status and every other member's, each with
// "reachable" (and "error" when not); with ?history=1, their rate
// histories too (the page asks once, when it opens).
asio::awaitable<http_response> get_cluster(admin_context& ctx, std::shared_ptr<dashboard_state> st,
                                           const http_request& req) {
  const bool history = wants_history(req);
  dashboard_state::gather_slot& slot = history ? st->with_history : st->plain;
  if (!slot.body.empty() && std::chrono::steady_clock::now() - slot.at < fresh)
    co_return http_response::json(slot.body);
  if (slot.gathering) {
    auto woken = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
    woken->expires_after(gather_timeout + 1s);
    slot.waiters.push_back(woken);
    co_await woken->async_wait(asio::as_tuple(asio::use_awaitable));
    if (slot.body.empty()) co_return http_response::error(503, "busy", "gathering the members' status; retry");
    co_return http_response::json(slot.body);
  }
  slot.gathering = true;
  std::string body = co_await gather(ctx, st, history);
  slot.body = body;
  slot.at = std::chrono::steady_clock::now();
  slot.gathering = false;
  for (auto& w : slot.waiters) w->cancel();
  slot.waiters.clear();
  co_return http_response::json(std::move(body));
}

// Forwards an operation to the member at `at` with the caller's token and
// answers what it answered; with `follow`, through redirects to the leader,
// but only to members' addresses (the token goes along).
asio::awaitable<http_response> forward(admin_context& ctx, std::shared_ptr<dashboard_state> st, const http_request& req,
                                       std::string at, std::string target, std::string body, bool follow) {
  // The token is checked here too (it is the cluster's), so that callers
  // without it cannot hold the forwarding slots.
  if (auto denied = check_admin_token(ctx, req)) co_return *denied;
  if (st->forwards >= max_forwards)
    co_return http_response::error(503, "busy", "other operations are being forwarded; retry");
  forward_slot slot(*st);
  // The caller's bearer token, as sent (any other scheme: none).
  const std::string auth = req.header("authorization");
  const std::string token(bearer_token(auth).value_or(""));
  const node_status s = co_await ctx.raft_node.status();
  std::vector<std::string> addresses;
  const membership config{s.voters, s.learners, s.addresses};
  for (const auto& m : members_of(config)) addresses.push_back(m.http);
  const auto is_member = [addresses](const std::string& hp) {
    return std::find(addresses.begin(), addresses.end(), hp) != addresses.end();
  };
  // (No co_await inside ?: — g++ 12 miscompiles it.)
  http_reply r;
  if (follow)
    r = co_await call_leader(at, "POST", target, body, token, ctx.member_tls, operation_timeout, is_member);
  else
    r = co_await http_call(at, "POST", target, body, token, operation_timeout, ctx.member_tls);
  if (r.status == 0) co_return http_response::error(502, "unreachable", "no answer from " + at + ": " + r.error);
  if (r.status >= 300 && r.status < 400)  // a redirect not followed (a snapshot's, or to a non-member)
    co_return http_response::error(
        502, "redirected",
        at + " answered " + std::to_string(r.status) + " to '" + r.location + "', which this node does not follow");
  http_response out = http_response::json(r.body, r.status);
  out.headers.emplace_back("X-Coraft-Answered-By", at);
  co_return out;
}

std::optional<cluster_member> leader_member(const admin_context& ctx, const node_status& s) {
  return s.leader == no_node ? std::nullopt : ctx.member(s.leader);
}

// POST /v1/cluster/transfer (body as /v1/leader/transfer's): to the leader.
asio::awaitable<http_response> post_cluster_transfer(admin_context& ctx, std::shared_ptr<dashboard_state> st,
                                                     const http_request& req) {
  const node_status s = co_await ctx.raft_node.status();
  const auto leader = leader_member(ctx, s);
  if (!leader) co_return http_response::error(503, "no_leader", "no leader is known right now; retry");
  co_return co_await forward(ctx, st, req, leader->http, "/v1/leader/transfer", req.body, true);
}

// POST /v1/cluster/members/{id}/snapshot: to that member.
// POST /v1/cluster/members/{id}/promote: to the leader.
asio::awaitable<http_response> post_cluster_member(admin_context& ctx, std::shared_ptr<dashboard_state> st,
                                                   const http_request& req) {
  constexpr std::string_view prefix = "/v1/cluster/members/";
  const std::string_view rest = std::string_view(req.path).substr(prefix.size());
  const auto slash = rest.find('/');
  std::uint64_t id = 0;
  if (slash == std::string_view::npos || !parse_id(rest.substr(0, slash), id))
    co_return http_response::error(404, "not_found", "use /v1/cluster/members/{id}/snapshot or .../promote");
  const std::string_view op = rest.substr(slash + 1);
  const node_status s = co_await ctx.raft_node.status();
  if (op == "snapshot") {
    const auto m = ctx.member(id);
    if (!m) co_return http_response::error(404, "not_a_member", "node " + std::to_string(id) + " is not a member");
    co_return co_await forward(ctx, st, req, m->http, "/v1/snapshot", {}, false);
  }
  if (op == "promote") {
    const auto leader = leader_member(ctx, s);
    if (!leader) co_return http_response::error(503, "no_leader", "no leader is known right now; retry");
    co_return co_await forward(ctx, st, req, leader->http, "/v1/members/" + std::to_string(id) + "/promote", {}, true);
  }
  co_return http_response::error(404, "not_found", "use /v1/cluster/members/{id}/snapshot or .../promote");
}

}  // namespace

void add_dashboard_routes(http_router& router, admin_context& ctx) {
  admin_context* c = &ctx;
  auto st = std::make_shared<dashboard_state>();
  router.add("GET", "/", [](const http_request&) -> asio::awaitable<http_response> {
    http_response r;
    r.content_type = "text/html; charset=utf-8";
    r.body = std::string(dashboard_html());
    // The page loads nothing from elsewhere; say so to the browser too.
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                           "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
    // Nor may another site frame it (its buttons act with the token).
    r.headers.emplace_back("X-Frame-Options", "DENY");
    r.headers.emplace_back("Cache-Control", "no-store");
    co_return r;
  });
  router.add("GET", "/v1/events", [c](const http_request& r) { return get_events(*c, r); });
  router.add("GET", "/v1/cluster", [c, st](const http_request& r) { return get_cluster(*c, st, r); });
  router.add("POST", "/v1/cluster/transfer",
             [c, st](const http_request& r) { return post_cluster_transfer(*c, st, r); });
  router.add(
      "POST", "/v1/cluster/members/*", [c, st](const http_request& r) { return post_cluster_member(*c, st, r); },
      "/v1/cluster/members/{id}/{operation}");
}

}  // namespace coraft::net
