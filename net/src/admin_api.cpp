// admin_api.cpp — status, health, metrics, log, membership, transfer and
// snapshot routes; leader redirects.
#include <coraft/net/admin_api.hpp>

#include <coraft/net/address.hpp>
#include <coraft/net/prometheus.hpp>

#include "admin_status.hpp"

#include <boost/json.hpp>

#include <stdexcept>

namespace coraft::net {

namespace json = boost::json;
namespace asio = boost::asio;

namespace {

const char* role_name(const node_status& s) {
  switch (s.state) {
    case core::role::leader: return "leader";
    case core::role::candidate:
    case core::role::pre_candidate: return "candidate";
    case core::role::follower: break;
  }
  if (std::find(s.voters.begin(), s.voters.end(), s.id) != s.voters.end()) return "follower";
  if (std::find(s.learners.begin(), s.learners.end(), s.id) != s.learners.end()) return "learner";
  return "none";  // not (or no longer, or not yet) in the configuration
}

bool contains(const std::vector<node_id>& ids, node_id id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

void admin_context::set_members(std::vector<cluster_member> members) {
  std::lock_guard lock(mu_);
  members_ = std::move(members);
}

std::optional<cluster_member> admin_context::member(node_id id) const {
  std::lock_guard lock(mu_);
  for (const auto& m : members_)
    if (m.id == id) return m;
  return std::nullopt;
}

namespace {

// 307 to the leader's HTTP address, or 503 no_leader when it is unknown
// (or this node is stopping).
http_response leader_redirect(const admin_context& ctx, node_id leader_id, bool stopping, const http_request& req) {
  const auto leader = leader_id != no_node ? ctx.member(leader_id) : std::nullopt;
  if (!leader || leader->http.empty() || stopping) {
    auto r = http_response::error(503, "no_leader",
                                  stopping ? "this node is stopping" : "no leader is known right now; retry");
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  json::object body;
  body["error"] = "not_leader";
  body["message"] = "node " + std::to_string(leader->id) + " is the leader";
  json::object l;
  l["id"] = leader->id;
  l["http"] = leader->http;
  body["leader"] = l;
  auto r = http_response::json(json::serialize(body), 307);
  r.headers.emplace_back("Location", ctx.url_scheme + "://" + leader->http + req.target);
  return r;
}

// The one table from node errors to HTTP answers (DESIGN.md "HTTP API"):
// status, JSON error code, whether a retry may help (Retry-After: 1), and
// the message when the error's own would not say enough.
struct http_error {
  errc code;
  int status;
  const char* name;
  bool retry;
  const char* message;  // nullptr: the error code's message
};
constexpr http_error http_errors[] = {
    {errc::timeout, 504, "timeout", false, "not committed in time: the outcome is unknown"},
    {errc::stopped, 503, "stopped", true, "this node is stopping: the command was not accepted; retry on another node"},
    {errc::interrupted, 503, "interrupted", true,
     "this node stopped after accepting the command: the outcome is unknown"},
    {errc::too_large, 413, "too_large", false, nullptr},
    {errc::dropped, 503, "dropped", true,
     "another leader's entry committed at its index: the write was not applied; retry"},
    {errc::overloaded, 503, "overloaded", true, nullptr},
    {errc::transferring, 503, "transferring", true, nullptr},
    {errc::bad_target, 400, "bad_target", false, nullptr},
    {errc::busy, 409, "busy", false, nullptr},
    {errc::bad_member, 409, "bad_member", false, nullptr},
    {errc::not_caught_up, 409, "not_caught_up", true,
     "the learner's log is still far behind the leader's; retry once it caught up"},
};

}  // namespace

std::optional<http_response> redirect_to_leader(const admin_context& ctx, const node_status& s,
                                                const http_request& req) {
  if (s.state == core::role::leader && !s.stopped) return std::nullopt;
  return leader_redirect(ctx, s.leader, s.stopped, req);
}

http_response node_error_response(const admin_context& ctx, const node_error& e, const http_request& req) {
  if (e.code == errc::not_leader) return leader_redirect(ctx, e.leader_hint, false, req);
  for (const http_error& h : http_errors) {
    if (e.code != h.code) continue;
    auto r = http_response::error(h.status, h.name, h.message != nullptr ? h.message : e.code.message());
    if (h.retry) r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  return http_response::error(500, "internal", e.code.message());
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
  constexpr std::string_view scheme = "bearer ";  // the scheme is case-insensitive [RFC 7235 §2.1]
  if (authorization.size() < scheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != scheme[i]) return std::nullopt;
  return authorization.substr(scheme.size());
}

bool bearer_matches(std::string_view authorization, std::string_view token) {
  const auto sent = bearer_token(authorization);
  if (token.empty() || !sent) return false;
  const std::string_view given = *sent;
  // Constant time in the token: every byte of what was sent is compared
  // (against the token, cycled), and a length mismatch only sets a bit, so
  // the time taken tells an attacker nothing about how much of a guess was
  // right. (The length of the guess is the attacker's own.)
  unsigned char diff = given.size() == token.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ token[i % token.size()]);
  // Through a volatile: the compiler may not stop at the first difference.
  volatile unsigned char result = diff;
  return result == 0;
}

namespace {

http_response unauthorized(const std::string& what) {
  auto r =
      http_response::error(401, "unauthorized", "this route needs the header 'Authorization: Bearer <" + what + ">'");
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

}  // namespace

std::optional<http_response> check_admin_token(const admin_context& ctx, const http_request& req) {
  if (ctx.admin_token.empty() || bearer_matches(req.header("authorization"), ctx.admin_token)) return std::nullopt;
  return unauthorized("admin token");
}

std::optional<http_response> check_write_token(const admin_context& ctx, const http_request& req) {
  if (ctx.write_token.empty()) return std::nullopt;
  const std::string h = req.header("authorization");
  if (bearer_matches(h, ctx.write_token) || bearer_matches(h, ctx.admin_token)) return std::nullopt;
  return unauthorized("write token");
}

namespace {}  // namespace

json::object status_object(const admin_context& ctx, const node_status& s) {
  json::object o;
  o["id"] = s.id;
  o["role"] = role_name(s);
  o["term"] = s.term;
  if (s.leader == no_node)
    o["leader"] = nullptr;
  else
    o["leader"] = s.leader;
  o["commit_index"] = s.commit_index;
  o["applied_index"] = s.applied_index;
  o["last_log_index"] = s.last_log.index;
  o["last_log_term"] = s.last_log.term;
  o["snapshot_index"] = s.snapshot.index;
  o["first_index"] = s.first_index;
  if (s.transfer_target != no_node) o["transfer_target"] = s.transfer_target;
  o["fsync"] = ctx.fsync_policy;
  if (ctx.fsync_policy == "never") o["unsafe"] = "fsync=never: acknowledged writes can be lost in a crash";
  if (s.stopped) o["stopped"] = true;
  if (!s.fatal_error.empty()) o["fatal_error"] = s.fatal_error;
  o["config_index"] = s.config_index;
  if (s.config_pending) o["config_pending"] = true;
  json::array members;
  for (const auto& m : members_of(membership{s.voters, s.learners, s.addresses})) {
    json::object mo;
    mo["id"] = m.id;
    mo["raft"] = m.raft;
    mo["http"] = m.http;
    mo["voter"] = m.voter;
    if (s.state == core::role::leader) {
      if (m.id == s.id) {
        mo["match_index"] = s.stable_index;
        mo["next_index"] = s.last_log.index + 1;
      }
      for (const auto& p : s.progress) {
        if (p.id != m.id) continue;
        mo["match_index"] = p.match_index;
        mo["next_index"] = p.next_index;
      }
      for (const auto& [id, ms] : s.last_contact_ms)
        if (id == m.id) {
          if (ms < 0)
            mo["last_contact_ms"] = nullptr;
          else
            mo["last_contact_ms"] = ms;
        }
    }
    members.push_back(std::move(mo));
  }
  o["members"] = std::move(members);
  // What the dashboard turns into rates (puts/s, reads/s, commit latency).
  json::object counters;
  counters["proposals_ok"] = s.metrics.proposals_ok;
  counters["reads_ok"] = s.metrics.reads_ok;
  counters["entries_applied"] = s.metrics.entries_applied;
  counters["commit_latency_count"] = s.metrics.commit_latency.count;
  counters["commit_latency_sum_seconds"] = s.metrics.commit_latency.sum;
  o["counters"] = std::move(counters);
  return o;
}

namespace {

asio::awaitable<http_response> get_status(admin_context& ctx, const http_request& req) {
  const node_status s = co_await ctx.raft_node.status();
  json::object o = status_object(ctx, s);
  if (req.has_param("history")) o["history"] = history_array(ctx.raft_node);
  co_return http_response::json(json::serialize(o));
}

// /v1/health answers 503 "unhealthy", /readyz 503 "not_ready": same test.
asio::awaitable<http_response> get_health(admin_context& ctx, const http_request&, const char* not_ok = "unhealthy") {
  const node_status s = co_await ctx.raft_node.status();
  std::string reason;
  if (s.stopped)
    reason = s.fatal_error.empty() ? "stopped" : "fatal: " + s.fatal_error;
  else if (!contains(s.voters, s.id) && !contains(s.learners, s.id))
    reason = "not a member";
  else if (s.leader == no_node)
    reason = "no leader known";
  else if (s.applied_index < s.commit_index)
    reason = "applying: " + std::to_string(s.applied_index) + " of " + std::to_string(s.commit_index);
  if (!reason.empty()) {
    auto r = http_response::error(503, not_ok, reason);
    r.headers.emplace_back("Retry-After", "1");
    co_return r;
  }
  json::object o;
  o["status"] = "ok";
  o["leader"] = s.leader;
  o["term"] = s.term;
  co_return http_response::json(json::serialize(o));
}

asio::awaitable<http_response> get_metrics(admin_context& ctx, const http_request&) {
  const node_status s = co_await ctx.raft_node.status();
  prometheus_text m("node=\"" + std::to_string(s.id) + "\"");
  m.gauge("coraft_term", "Current Raft term.", s.term);
  m.family("coraft_role", "gauge", "Current role (1 for the role this node has).");
  for (const char* r : {"leader", "follower", "candidate", "learner"})
    m.sample("coraft_role", "role=\"" + std::string(r) + "\"", std::string(role_name(s)) == r ? 1 : 0);
  m.gauge("coraft_leader", "Id of the known leader (0: none).", s.leader);
  m.gauge("coraft_commit_index", "Highest log index known to be committed.", s.commit_index);
  m.gauge("coraft_applied_index", "Highest log index applied to the state machine.", s.applied_index);
  m.gauge("coraft_last_log_index", "Index of the last entry in the log.", s.last_log.index);
  m.gauge("coraft_pending_proposals", "Proposals waiting to commit on this node.", s.pending_proposals);
  m.gauge("coraft_fsync_unsafe", "1 when started with --fsync=never (acknowledged writes can be lost).",
          ctx.fsync_policy == "never" ? 1 : 0);
  m.counter("coraft_proposals_ok_total", "Proposals committed and applied.", s.metrics.proposals_ok);
  m.counter("coraft_proposals_failed_total", "Proposals that failed (not leader, timeout, dropped, stopped).",
            s.metrics.proposals_failed);
  m.counter("coraft_entries_applied_total", "Entries applied to the state machine.", s.metrics.entries_applied);
  m.counter("coraft_messages_received_total", "Raft messages received from peers.", s.metrics.messages_received);
  m.counter("coraft_leader_changes_total", "Times this node learned of a new leader.", s.metrics.leader_changes);
  m.counter("coraft_storage_writes_total", "Group commits (one write and one sync each).", s.metrics.storage_writes);
  m.counter("coraft_storage_entries_total", "Entries written in group commits.", s.metrics.storage_entries);
  m.gauge("coraft_last_snapshot_capture_seconds",
          "The state machine's pause for the last snapshot capture (applies waited): the image's capture, or the "
          "whole serialization when the state machine has no capture().",
          s.metrics.last_snapshot_capture_s);
  m.histogram("coraft_snapshot_capture_seconds", "The state machine's pause for each snapshot capture.",
              s.metrics.snapshot_capture_latency);
  m.gauge("coraft_last_snapshot_persist_seconds",
          "Writing the last snapshot image out on the snapshot thread, while applies went on (0 without capture()).",
          s.metrics.last_snapshot_persist_s);
  m.counter("coraft_reads_ok_total", "Linearizable read barriers (ReadIndex) passed.", s.metrics.reads_ok);
  m.counter("coraft_reads_failed_total", "Linearizable read barriers that failed or timed out.",
            s.metrics.reads_failed);
  m.counter("coraft_snapshots_taken_total", "Snapshots of the local state machine taken.", s.metrics.snapshots_taken);
  m.counter("coraft_snapshots_installed_total", "Snapshots received from a leader and installed.",
            s.metrics.snapshots_installed);
  m.histogram("coraft_commit_latency_seconds", "From accepting a proposal to applying it (leader).",
              s.metrics.commit_latency);
  m.histogram("coraft_wal_sync_latency_seconds", "One group commit to storage: write and sync.",
              s.metrics.storage_write_latency);
  m.histogram("coraft_propose_commit_seconds", "From accepting a proposal to knowing its entry committed (leader).",
              s.metrics.propose_commit_latency);
  m.histogram("coraft_commit_apply_seconds",
              "From learning entries committed to the state machine having applied them (one per batch).",
              s.metrics.commit_apply_latency);
  m.histogram("coraft_snapshot_install_seconds",
              "A leader's snapshot, from its first chunk stored to the state machine restored from it (follower).",
              s.metrics.snapshot_install_latency);
  if (!s.metrics.append_rtt.empty()) {
    m.family("coraft_append_rtt_seconds", "histogram",
             "Leader: AppendEntries or heartbeat sent to a follower -> its answer, per follower.");
    for (const auto& [peer, h] : s.metrics.append_rtt)
      m.histogram_samples("coraft_append_rtt_seconds", "peer=\"" + std::to_string(peer) + "\"", h);
  }
  m.histogram("coraft_tick_lag_seconds", "How late each election/heartbeat tick ran (event-loop lag).",
              s.metrics.tick_lag);
  m.gauge("coraft_tick_lag_max_seconds", "The latest a tick ever ran on this node.", s.metrics.tick_lag_max_s);
  m.counter("coraft_ticks_deferred_total",
            "Late ticks put after the messages that arrived during a stall (a stall is no sign the leader is gone).",
            s.metrics.ticks_deferred);
  m.histogram("coraft_apply_batch_seconds",
              "One batch of applies, from handing it to the state machine's thread to its results back.",
              s.metrics.apply_batch_latency);
  m.gauge("coraft_apply_backlog_entries", "Committed entries waiting for the state machine.", s.metrics.apply_backlog);
  m.family("coraft_elections_total", "counter",
           "Elections this node started, by reason: timer (its election timer ran out: a pre-vote round or, without "
           "pre-vote, an election), transfer (TimeoutNow), pre_vote_granted (the election after a won pre-vote "
           "round), requested (campaign()).");
  m.sample("coraft_elections_total", "reason=\"timer\"", s.elections.timer);
  m.sample("coraft_elections_total", "reason=\"transfer\"", s.elections.transfer);
  m.sample("coraft_elections_total", "reason=\"pre_vote_granted\"", s.elections.pre_vote_granted);
  m.sample("coraft_elections_total", "reason=\"requested\"", s.elections.requested);
  if (!s.metrics.max_heartbeat_gap_s.empty()) {
    m.family("coraft_heartbeat_gap_max_seconds", "gauge",
             "Leader: the longest gap between two messages sent to each follower in its latest term as leader.");
    for (const auto& [peer, gap] : s.metrics.max_heartbeat_gap_s)
      m.sample("coraft_heartbeat_gap_max_seconds", "peer=\"" + std::to_string(peer) + "\"", gap);
  }
  if (s.state == core::role::leader) {
    m.family("coraft_replication_lag_entries", "gauge", "Leader's last index minus the follower's match index.");
    for (const auto& p : s.progress)
      m.sample("coraft_replication_lag_entries", "peer=\"" + std::to_string(p.id) + "\"",
               s.last_log.index - std::min(s.last_log.index, p.match_index));
  }
  http_response r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = m.str();
  if (ctx.extra_metrics) r.body += ctx.extra_metrics();
  co_return r;
}

asio::awaitable<http_response> get_log(admin_context& ctx, const http_request& req) {
  std::uint64_t from = 1, limit = 100;
  if (auto f = req.param("from"); f && (!parse_u64(*f, from) || from == 0))
    co_return http_response::error(400, "bad_request", "from must be a log index >= 1");
  if (auto l = req.param("limit"); l && (!parse_u64(*l, limit) || limit == 0 || limit > 10000))
    co_return http_response::error(400, "bad_request", "limit must be 1 to 10000");
  const auto entries = co_await ctx.raft_node.log_info(from, static_cast<std::size_t>(limit));
  json::array arr;
  for (const auto& e : entries) {
    json::object o;
    o["index"] = e.index;
    o["term"] = e.term;
    o["type"] = e.type == entry_type::normal ? "normal" : e.type == entry_type::noop ? "noop" : "config";
    o["size"] = e.size;
    arr.push_back(std::move(o));
  }
  json::object o;
  o["entries"] = std::move(arr);
  co_return http_response::json(json::serialize(o));
}

asio::awaitable<http_response> post_snapshot(admin_context& ctx, const http_request& req) {
  if (auto denied = check_admin_token(ctx, req)) co_return *denied;
  const node_result<index_t> r = co_await ctx.raft_node.snapshot();
  if (!r) co_return node_error_response(ctx, r.error(), req);
  json::object o;
  o["index"] = *r;
  co_return http_response::json(json::serialize(o));
}

// POST /v1/leader/transfer {"to": 2} (body optional). Answers once another
// node leads [thesis §3.10].
asio::awaitable<http_response> post_transfer(admin_context& ctx, const http_request& req) {
  if (auto denied = check_admin_token(ctx, req)) co_return *denied;
  node_id to = no_node;
  if (!req.body.empty()) {
    boost::system::error_code ec;
    const json::value v = json::parse(req.body, ec);
    const json::object* o = ec ? nullptr : v.if_object();
    if (o == nullptr)
      co_return http_response::error(400, "bad_request", "the body must be a JSON object like {\"to\":2}");
    if (const json::value* t = o->if_contains("to"); t != nullptr && !t->is_null()) {
      if (!t->is_int64() || t->as_int64() <= 0)
        co_return http_response::error(400, "bad_request", "\"to\" must be a positive node id");
      to = static_cast<node_id>(t->as_int64());
    }
  }
  const node_result<node_id> r = co_await ctx.raft_node.transfer_leadership(to);
  if (!r) {
    if (r.error().code == errc::timeout)
      co_return http_response::error(504, "timeout", "the transfer did not complete within an election timeout");
    co_return node_error_response(ctx, r.error(), req);
  }
  json::object o;
  o["leader"] = *r;
  co_return http_response::json(json::serialize(o));
}

// Runs a membership change on the leader (307 elsewhere) and answers with
// the configuration entry's index once it is committed and applied.
// (`change` by reference: g++ 12 mishandles by-value coroutine parameters
// built in a co_await expression, STYLE.md.)
asio::awaitable<http_response> change_members(admin_context& ctx, const http_request& req,
                                              const core::config_change& change) {
  const node_status s = co_await ctx.raft_node.status();
  if (auto redirect = redirect_to_leader(ctx, s, req)) co_return *redirect;
  // An address another member has (issue 17 review: a member moved onto
  // node 3's address cut itself off, and node 1's dials to it landed on
  // node 3, which closed them and with them its link from node 1).
  if (!change.address.empty()) {
    if (const auto added = decode_member_address(change.id, change.address)) {
      for (const auto& m : members_of(membership{s.voters, s.learners, s.addresses}))
        if (const std::string why = shared_address_problem(m, *added); !why.empty())
          co_return http_response::error(409, "bad_member", why);
    }
  }
  const bool voter = contains(s.voters, change.id), learner = contains(s.learners, change.id);
  using kind = core::config_change::kind;
  // Precise answers for what the status already tells (the core decides).
  if ((change.type == kind::remove || change.type == kind::promote || change.type == kind::set_address) && !voter &&
      !learner)
    co_return http_response::error(404, "not_found", "node " + std::to_string(change.id) + " is not a member");
  if (change.type == kind::promote && voter)
    co_return http_response::error(409, "bad_member", "node " + std::to_string(change.id) + " is already a voter");
  if ((change.type == kind::add_learner || change.type == kind::add_voter) && (voter || learner))
    co_return http_response::error(409, "bad_member", "node " + std::to_string(change.id) + " is already a member");
  if (change.type == kind::remove && voter && s.voters.size() == 1)
    co_return http_response::error(409, "bad_member", "node " + std::to_string(change.id) + " is the last voter");
  core::config_change c = change;
  const node_result<index_t> r = co_await ctx.raft_node.change_membership(c);
  if (!r && change.type == kind::add_voter && r.error().code == errc::not_caught_up) {
    // [thesis §4.2.1] A server that is not yet a member holds none of the
    // log: as a voter it would count towards every majority at once (added
    // to a one-voter cluster, one that never starts leaves it without a
    // leader for good, issue 15 hole 6). Retrying cannot help, so no
    // Retry-After: the answer says what to do instead.
    const std::string id = std::to_string(change.id);
    co_return http_response::error(
        409, "not_caught_up",
        "node " + id +
            " is not a member yet, so it holds none of the log and cannot join as a voter: add it as a "
            "learner first (POST /v1/members with \"voter\":false, or start it with --join), then promote it once it "
            "has caught up (POST /v1/members/" +
            id + "/promote)");
  }
  if (!r) co_return node_error_response(ctx, r.error(), req);
  json::object o;
  o["index"] = *r;
  co_return http_response::json(json::serialize(o));
}

// POST /v1/members {"id":4,"raft":"h:p","http":"h:p","voter":false}
asio::awaitable<http_response> post_member(admin_context& ctx, const http_request& req) {
  if (auto denied = check_admin_token(ctx, req)) co_return *denied;
  boost::system::error_code ec;
  const json::value v = json::parse(req.body, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  const char* shape = "the body must be {\"id\":4,\"raft\":\"HOST:PORT\",\"http\":\"HOST:PORT\",\"voter\":false}";
  if (o == nullptr) co_return http_response::error(400, "bad_request", shape);
  const json::value* id = o->if_contains("id");
  const json::value* raft = o->if_contains("raft");
  const json::value* http = o->if_contains("http");
  const json::value* voter = o->if_contains("voter");
  if (id == nullptr || !id->is_int64() || id->as_int64() <= 0)
    co_return http_response::error(400, "bad_request", std::string("\"id\" must be a positive node id; ") + shape);
  if (raft == nullptr || !raft->is_string() || http == nullptr || !http->is_string())
    co_return http_response::error(400, "bad_request", std::string("\"raft\" and \"http\" are needed; ") + shape);
  if (voter != nullptr && !voter->is_bool())
    co_return http_response::error(400, "bad_request", "\"voter\" must be true or false");
  cluster_member m{static_cast<node_id>(id->as_int64()), std::string(raft->as_string()), std::string(http->as_string()),
                   voter != nullptr && voter->as_bool()};
  if (const std::string why = member_address_problem(m); !why.empty())
    co_return http_response::error(400, "bad_request", "\"raft\" and \"http\": " + why);
  const core::config_change change{
      m.voter ? core::config_change::kind::add_voter : core::config_change::kind::add_learner, m.id,
      encode_member_address(m)};
  co_return co_await change_members(ctx, req, change);
}

// The {id} of /v1/members/{id} and /v1/members/{id}/promote.
std::optional<node_id> member_id(const http_request& req, std::string_view suffix) {
  std::string_view p = req.path;
  constexpr std::string_view prefix = "/v1/members/";
  if (p.substr(0, prefix.size()) != prefix) return std::nullopt;
  p.remove_prefix(prefix.size());
  if (p.size() < suffix.size() || p.substr(p.size() - suffix.size()) != suffix) return std::nullopt;
  p.remove_suffix(suffix.size());
  std::uint64_t id = 0;
  if (!parse_u64(p, id) || id == 0) return std::nullopt;
  return id;
}

asio::awaitable<http_response> promote_member(admin_context& ctx, const http_request& req) {
  if (auto denied = check_admin_token(ctx, req)) co_return *denied;
  const auto id = member_id(req, "/promote");
  if (!id) co_return http_response::error(404, "not_found", "use POST /v1/members/{id}/promote with a numeric id");
  const core::config_change change{core::config_change::kind::promote, *id, {}};
  co_return co_await change_members(ctx, req, change);
}

asio::awaitable<http_response> delete_member(admin_context& ctx, const http_request& req) {
  if (auto denied = check_admin_token(ctx, req)) co_return *denied;
  const auto id = member_id(req, "");
  if (!id) co_return http_response::error(404, "not_found", "use DELETE /v1/members/{id} with a numeric id");
  const core::config_change change{core::config_change::kind::remove, *id, {}};
  co_return co_await change_members(ctx, req, change);
}

// PUT /v1/members/{id} {"raft":"h:p","http":"h:p"}: a member that moved
// (restarted on another host or IP, same id and data) gets its new
// addresses, committed through the log like any change (issue 17).
asio::awaitable<http_response> put_member(admin_context& ctx, const http_request& req) {
  if (auto denied = check_admin_token(ctx, req)) co_return *denied;
  const auto id = member_id(req, "");
  if (!id) co_return http_response::error(404, "not_found", "use PUT /v1/members/{id} with a numeric id");
  boost::system::error_code ec;
  const json::value v = json::parse(req.body, ec);
  const json::object* o = ec ? nullptr : v.if_object();
  const char* shape = "the body must be {\"raft\":\"HOST:PORT\",\"http\":\"HOST:PORT\"}";
  const json::value* raft = o != nullptr ? o->if_contains("raft") : nullptr;
  const json::value* http = o != nullptr ? o->if_contains("http") : nullptr;
  if (raft == nullptr || !raft->is_string() || http == nullptr || !http->is_string())
    co_return http_response::error(400, "bad_request", shape);
  cluster_member m{*id, std::string(raft->as_string()), std::string(http->as_string()), false};
  if (const std::string why = member_address_problem(m); !why.empty())
    co_return http_response::error(400, "bad_request", "\"raft\" and \"http\": " + why);
  const core::config_change change{core::config_change::kind::set_address, m.id, encode_member_address(m)};
  co_return co_await change_members(ctx, req, change);
}

}  // namespace

void add_admin_routes(http_router& router, admin_context& ctx) {
  admin_context* c = &ctx;
  router.add("GET", "/v1/status", [c](const http_request& r) { return get_status(*c, r); });
  router.add("GET", "/v1/health", [c](const http_request& r) { return get_health(*c, r); });
  // Kubernetes-style probes: /livez only says the process serves (a cluster
  // without quorum must not be restarted by its liveness probe: that cannot
  // bring quorum back); /readyz is /v1/health (a member that knows a leader
  // and has applied through its commit index).
  router.add("GET", "/livez", [](const http_request&) -> asio::awaitable<http_response> {
    co_return http_response::json(R"({"status":"ok"})");
  });
  router.add("GET", "/readyz", [c](const http_request& r) { return get_health(*c, r, "not_ready"); });
  router.add("GET", "/v1/metrics", [c](const http_request& r) { return get_metrics(*c, r); });
  router.add("GET", "/metrics", [c](const http_request& r) { return get_metrics(*c, r); });  // Prometheus' default
  router.add("GET", "/v1/log", [c](const http_request& r) { return get_log(*c, r); });
  router.add("POST", "/v1/members", [c](const http_request& r) { return post_member(*c, r); });
  router.add("POST", "/v1/members/*", [c](const http_request& r) { return promote_member(*c, r); });
  router.add("DELETE", "/v1/members/*", [c](const http_request& r) { return delete_member(*c, r); });
  router.add("PUT", "/v1/members/*", [c](const http_request& r) { return put_member(*c, r); });
  router.add("POST", "/v1/leader/transfer", [c](const http_request& r) { return post_transfer(*c, r); });
  router.add("POST", "/v1/snapshot", [c](const http_request& r) { return post_snapshot(*c, r); });
  add_dashboard_routes(router, ctx);
}

}  // namespace coraft::net
