// admin_api.cpp — status, health, metrics and log routes; leader redirects.
#include <coraft/net/admin_api.hpp>

#include <boost/json.hpp>

#include <charconv>
#include <sstream>
#include <stdexcept>

namespace coraft::net {

namespace json = boost::json;
namespace asio = boost::asio;

namespace {

bool parse_u64(std::string_view s, std::uint64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool valid_host_port(const std::string& hp) {
  const auto colon = hp.rfind(':');
  std::uint64_t port = 0;
  return colon != std::string::npos && colon > 0 && parse_u64(hp.substr(colon + 1), port) &&
         port > 0 && port < 65536;
}

const char* role_name(const node_status& s) {
  switch (s.state) {
    case core::role::leader: return "leader";
    case core::role::candidate:
    case core::role::pre_candidate: return "candidate";
    case core::role::follower: break;
  }
  return std::find(s.voters.begin(), s.voters.end(), s.id) == s.voters.end() ? "learner" : "follower";
}

}  // namespace

std::vector<cluster_member> parse_cluster(const std::string& spec) {
  std::vector<cluster_member> out;
  std::stringstream ss(spec);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (part.empty()) continue;
    const auto eq = part.find('=');
    const auto slash = part.find('/');
    cluster_member m;
    if (eq == std::string::npos || slash == std::string::npos || slash < eq ||
        !parse_u64(part.substr(0, eq), m.id) || m.id == 0)
      throw std::invalid_argument("'" + part + "' is not ID=RAFT_HOST:PORT/HTTP_HOST:PORT (ids start at 1)");
    m.raft = part.substr(eq + 1, slash - eq - 1);
    m.http = part.substr(slash + 1);
    if (!valid_host_port(m.raft) || !valid_host_port(m.http))
      throw std::invalid_argument("'" + part + "': addresses must be HOST:PORT with a port 1-65535");
    for (const auto& o : out)
      if (o.id == m.id) throw std::invalid_argument("member id " + std::to_string(m.id) + " appears twice");
    out.push_back(m);
  }
  if (out.empty()) throw std::invalid_argument("the cluster has no members");
  return out;
}

const cluster_member* admin_context::member(node_id id) const {
  for (const auto& m : members)
    if (m.id == id) return &m;
  return nullptr;
}

std::optional<http_response> redirect_to_leader(const admin_context& ctx, const node_status& s,
                                                const http_request& req) {
  if (s.state == core::role::leader && !s.stopped) return std::nullopt;
  const cluster_member* leader = s.leader != no_node ? ctx.member(s.leader) : nullptr;
  if (leader == nullptr || s.stopped) {
    auto r = http_response::error(503, "no_leader",
                                  s.stopped ? "this node is stopping" : "no leader is known right now; retry");
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
  r.headers.emplace_back("Location", "http://" + leader->http + req.target);
  return r;
}

std::optional<http_response> check_admin_token(const admin_context& ctx, const http_request& req) {
  if (ctx.admin_token.empty()) return std::nullopt;
  if (req.header("authorization") == "Bearer " + ctx.admin_token) return std::nullopt;
  auto r = http_response::error(401, "unauthorized",
                                "this route needs the header 'Authorization: Bearer <admin token>'");
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

http_response proposal_error(const admin_context& ctx, const propose_error& e, const http_request& req) {
  const auto code = static_cast<errc>(e.code.value());
  if (e.code.category() == error_category()) {
    switch (code) {
      case errc::not_leader: {
        node_status s;
        s.state = core::role::follower;
        s.leader = e.leader_hint;
        return *redirect_to_leader(ctx, s, req);
      }
      case errc::timeout:
        return http_response::error(504, "timeout", "not committed in time: the outcome is unknown");
      case errc::too_large:
        return http_response::error(413, "too_large", e.code.message());
      case errc::overloaded: {
        auto r = http_response::error(503, "overloaded", e.code.message());
        r.headers.emplace_back("Retry-After", "1");
        return r;
      }
      case errc::dropped: {
        auto r = http_response::error(503, "dropped", "leadership changed before the write committed; retry");
        r.headers.emplace_back("Retry-After", "1");
        return r;
      }
      case errc::stopped: {
        auto r = http_response::error(503, "stopped", "this node is stopping: the outcome is unknown");
        r.headers.emplace_back("Retry-After", "1");
        return r;
      }
      case errc::transferring: {
        auto r = http_response::error(503, "transferring", e.code.message());
        r.headers.emplace_back("Retry-After", "1");
        return r;
      }
      case errc::bad_target:
        return http_response::error(400, "bad_target", e.code.message());
      case errc::busy: {
        auto r = http_response::error(409, "busy", e.code.message());
        return r;
      }
    }
  }
  return http_response::error(500, "internal", e.code.message());
}

namespace {

asio::awaitable<http_response> get_status(admin_context& ctx, const http_request&) {
  const node_status s = co_await ctx.raft_node.status();
  json::object o;
  o["id"] = s.id;
  o["role"] = role_name(s);
  o["term"] = s.term;
  if (s.leader == no_node) o["leader"] = nullptr; else o["leader"] = s.leader;
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
  json::array members;
  for (const auto& m : ctx.members) {
    json::object mo;
    mo["id"] = m.id;
    mo["raft"] = m.raft;
    mo["http"] = m.http;
    mo["voter"] = std::find(s.voters.begin(), s.voters.end(), m.id) != s.voters.end();
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
          if (ms < 0) mo["last_contact_ms"] = nullptr; else mo["last_contact_ms"] = ms;
        }
    }
    members.push_back(std::move(mo));
  }
  o["members"] = std::move(members);
  co_return http_response::json(json::serialize(o));
}

asio::awaitable<http_response> get_health(admin_context& ctx, const http_request&) {
  const node_status s = co_await ctx.raft_node.status();
  std::string reason;
  if (s.stopped) reason = s.fatal_error.empty() ? "stopped" : "fatal: " + s.fatal_error;
  else if (std::find(s.voters.begin(), s.voters.end(), s.id) == s.voters.end()) reason = "not a member";
  else if (s.leader == no_node) reason = "no leader known";
  else if (s.applied_index < s.commit_index)
    reason = "applying: " + std::to_string(s.applied_index) + " of " + std::to_string(s.commit_index);
  if (!reason.empty()) {
    auto r = http_response::error(503, "unhealthy", reason);
    r.headers.emplace_back("Retry-After", "1");
    co_return r;
  }
  json::object o;
  o["status"] = "ok";
  o["leader"] = s.leader;
  o["term"] = s.term;
  co_return http_response::json(json::serialize(o));
}

void write_histogram(std::ostringstream& os, const std::string& name, const std::string& help,
                     const histogram& h, node_id id) {
  os << "# HELP " << name << " " << help << "\n# TYPE " << name << " histogram\n";
  std::uint64_t cum = 0;
  for (std::size_t i = 0; i < std::size(histogram::bounds); ++i) {
    cum += h.buckets[i];
    os << name << "_bucket{node=\"" << id << "\",le=\"" << histogram::bounds[i] << "\"} " << cum << "\n";
  }
  os << name << "_bucket{node=\"" << id << "\",le=\"+Inf\"} " << h.count << "\n";
  os << name << "_sum{node=\"" << id << "\"} " << h.sum << "\n";
  os << name << "_count{node=\"" << id << "\"} " << h.count << "\n";
}

asio::awaitable<http_response> get_metrics(admin_context& ctx, const http_request&) {
  const node_status s = co_await ctx.raft_node.status();
  std::ostringstream os;
  const std::string lbl = "{node=\"" + std::to_string(s.id) + "\"}";
  auto gauge = [&](const char* name, const char* help, auto v) {
    os << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n" << name << lbl << " " << v << "\n";
  };
  auto counter = [&](const char* name, const char* help, auto v) {
    os << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n" << name << lbl << " " << v << "\n";
  };
  gauge("coraft_term", "Current Raft term.", s.term);
  os << "# HELP coraft_role Current role (1 for the role this node has).\n# TYPE coraft_role gauge\n";
  for (const char* r : {"leader", "follower", "candidate", "learner"})
    os << "coraft_role{node=\"" << s.id << "\",role=\"" << r << "\"} " << (std::string(role_name(s)) == r ? 1 : 0) << "\n";
  gauge("coraft_leader", "Id of the known leader (0: none).", s.leader);
  gauge("coraft_commit_index", "Highest log index known to be committed.", s.commit_index);
  gauge("coraft_applied_index", "Highest log index applied to the state machine.", s.applied_index);
  gauge("coraft_last_log_index", "Index of the last entry in the log.", s.last_log.index);
  gauge("coraft_pending_proposals", "Proposals waiting to commit on this node.", s.pending_proposals);
  gauge("coraft_fsync_unsafe", "1 when started with --fsync=never (acknowledged writes can be lost).",
        ctx.fsync_policy == "never" ? 1 : 0);
  counter("coraft_proposals_ok_total", "Proposals committed and applied.", s.metrics.proposals_ok);
  counter("coraft_proposals_failed_total", "Proposals that failed (not leader, timeout, dropped, stopped).",
          s.metrics.proposals_failed);
  counter("coraft_entries_applied_total", "Entries applied to the state machine.", s.metrics.entries_applied);
  counter("coraft_messages_received_total", "Raft messages received from peers.", s.metrics.messages_received);
  counter("coraft_leader_changes_total", "Times this node learned of a new leader.", s.metrics.leader_changes);
  counter("coraft_storage_writes_total", "Group commits (one write and one sync each).", s.metrics.storage_writes);
  counter("coraft_storage_entries_total", "Entries written in group commits.", s.metrics.storage_entries);
  os << "# HELP coraft_last_snapshot_capture_seconds Time the state machine took to serialize the last snapshot (the node's strand waits).\n"
     << "# TYPE coraft_last_snapshot_capture_seconds gauge\ncoraft_last_snapshot_capture_seconds{node=\"" << s.id << "\"} "
     << s.metrics.last_snapshot_capture_s << "\n";
  counter("coraft_reads_ok_total", "Linearizable read barriers (ReadIndex) passed.", s.metrics.reads_ok);
  counter("coraft_reads_failed_total", "Linearizable read barriers that failed or timed out.", s.metrics.reads_failed);
  counter("coraft_snapshots_taken_total", "Snapshots of the local state machine taken.", s.metrics.snapshots_taken);
  counter("coraft_snapshots_installed_total", "Snapshots received from a leader and installed.",
          s.metrics.snapshots_installed);
  write_histogram(os, "coraft_commit_latency_seconds", "From accepting a proposal to applying it (leader).",
                  s.metrics.commit_latency, s.id);
  write_histogram(os, "coraft_wal_sync_latency_seconds", "One group commit to storage: write and sync.",
                  s.metrics.storage_write_latency, s.id);
  if (s.state == core::role::leader) {
    os << "# HELP coraft_replication_lag_entries Leader's last index minus the follower's match index.\n"
          "# TYPE coraft_replication_lag_entries gauge\n";
    for (const auto& p : s.progress)
      os << "coraft_replication_lag_entries{node=\"" << s.id << "\",peer=\"" << p.id << "\"} "
         << (s.last_log.index - std::min(s.last_log.index, p.match_index)) << "\n";
  }
  if (ctx.extra_metrics) os << ctx.extra_metrics();
  http_response r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = os.str();
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
  const index_outcome r = co_await ctx.raft_node.snapshot();
  if (!r) co_return proposal_error(ctx, {r.code, r.leader_hint}, req);
  json::object o;
  o["index"] = r.index;
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
  const index_outcome r = co_await ctx.raft_node.transfer_leadership(to);
  if (!r) {
    if (r.code == make_error_code(errc::timeout))
      co_return http_response::error(504, "timeout", "the transfer did not complete within an election timeout");
    co_return proposal_error(ctx, {r.code, r.leader_hint}, req);
  }
  json::object o;
  o["leader"] = r.leader_hint;
  co_return http_response::json(json::serialize(o));
}

asio::awaitable<http_response> not_yet(admin_context& ctx, const http_request& req, std::string what) {
  if (auto denied = check_admin_token(ctx, req)) co_return *denied;
  co_return http_response::error(501, "not_implemented", what + " is not implemented yet in this version");
}

}  // namespace

void add_admin_routes(http_router& router, admin_context& ctx) {
  admin_context* c = &ctx;
  router.add("GET", "/v1/status", [c](const http_request& r) { return get_status(*c, r); });
  router.add("GET", "/v1/health", [c](const http_request& r) { return get_health(*c, r); });
  router.add("GET", "/v1/metrics", [c](const http_request& r) { return get_metrics(*c, r); });
  router.add("GET", "/v1/log", [c](const http_request& r) { return get_log(*c, r); });
  router.add("POST", "/v1/members", [c](const http_request& r) { return not_yet(*c, r, "membership change"); });
  router.add("POST", "/v1/members/*", [c](const http_request& r) { return not_yet(*c, r, "membership change"); });
  router.add("DELETE", "/v1/members/*", [c](const http_request& r) { return not_yet(*c, r, "membership change"); });
  router.add("POST", "/v1/leader/transfer", [c](const http_request& r) { return post_transfer(*c, r); });
  router.add("POST", "/v1/snapshot", [c](const http_request& r) { return post_snapshot(*c, r); });
}

}  // namespace coraft::net
