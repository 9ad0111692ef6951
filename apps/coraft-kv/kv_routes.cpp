#include "kv_routes.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <functional>
#include <optional>

namespace coraft::kv {

namespace asio = boost::asio;
namespace json = boost::json;
using net::http_request;
using net::http_response;

namespace {

// What every route needs; copied into each handler (the pointees live as
// long as the server).
struct kv_env {
  net::admin_context* ctx;
  kv_state_machine* sm;
  kv_limits limits;
};

// The key: the percent-decoded path after /v1/kv/, 1 byte to max_key_bytes.
std::optional<http_response> parse_key(const kv_env& env, const http_request& req, std::string& key) {
  const std::string_view raw = std::string_view(req.path).substr(std::string_view("/v1/kv/").size());
  if (!net::percent_decode(raw, key))
    return http_response::error(400, "bad_key", "the key has an invalid percent-encoding");
  if (key.empty() || key.size() > env.limits.max_key_bytes)
    return http_response::error(
        400, "bad_key",
        "keys are 1 to " + std::to_string(env.limits.max_key_bytes) + " bytes (after percent-decoding)");
  return std::nullopt;
}

std::optional<http_response> parse_condition(const http_request& req, command& c) {
  const auto expect = req.param("expect");
  const bool absent = req.has_param("absent");
  if (expect && absent) return http_response::error(400, "bad_request", "use either ?expect=V or ?absent, not both");
  if (expect) {
    c.cond = condition::expect;
    c.expect = *expect;
  } else if (absent) {
    c.cond = condition::absent;
  }
  return std::nullopt;
}

// {"index":N}: every write's answer, built without a JSON object.
http_response index_body(index_t index) { return http_response::json("{\"index\":" + std::to_string(index) + "}"); }

asio::awaitable<http_response> put_key(kv_env env, const http_request& req) {
  if (auto denied = net::check_write_token(*env.ctx, req)) co_return *denied;
  command c;
  c.kind = op::put;
  if (auto bad = parse_key(env, req, c.key)) co_return *bad;
  if (req.body.size() > env.limits.max_value_bytes)
    co_return http_response::error(413, "too_large",
                                   "values are at most " + std::to_string(env.limits.max_value_bytes) + " bytes");
  if (auto bad = parse_condition(req, c)) co_return *bad;
  c.value = req.body;
  const std::string cmd = encode(c);
  const node_result<applied_command> r = co_await env.ctx->raft_node.propose(cmd);
  if (!r) co_return net::node_error_response(*env.ctx, r.error(), req);
  const result res = decode_result(r->result);
  if (res.code == status::precondition_failed)
    co_return http_response::error(
        409, "precondition_failed",
        c.cond == condition::absent ? "the key exists" : "the current value differs or the key is absent");
  co_return index_body(r->index);
}

asio::awaitable<http_response> delete_key(kv_env env, const http_request& req) {
  if (auto denied = net::check_write_token(*env.ctx, req)) co_return *denied;
  command c;
  c.kind = op::del;
  if (auto bad = parse_key(env, req, c.key)) co_return *bad;
  if (req.has_param("absent")) co_return http_response::error(400, "bad_request", "?absent makes no sense on DELETE");
  if (auto bad = parse_condition(req, c)) co_return *bad;
  const std::string cmd = encode(c);
  const node_result<applied_command> r = co_await env.ctx->raft_node.propose(cmd);
  if (!r) co_return net::node_error_response(*env.ctx, r.error(), req);
  const result res = decode_result(r->result);
  if (res.code == status::precondition_failed)
    co_return http_response::error(409, "precondition_failed", "the current value differs or the key is absent");
  if (res.code == status::not_found) co_return http_response::error(404, "not_found", "no such key");
  co_return index_body(r->index);
}

http_response value_response(std::string value, index_t index) {
  http_response out;
  out.content_type = "application/octet-stream";
  out.body = std::move(value);
  out.headers.emplace_back("X-Raft-Index", std::to_string(index));
  return out;
}

// A key's value read where the state machine runs (its own thread: the
// map is never read while an apply changes it), and the index applied then.
struct found {
  std::optional<std::string> value;
  index_t applied = 0;
};

asio::awaitable<node_result<found>> find(const kv_env& env, const std::string& key) {
  found f;
  std::function<void()> read = [&] {
    if (const payload* v = env.sm->find(key)) f.value = v->str();
    f.applied = env.sm->applied_index();
  };
  const node_result<void> r = co_await env.ctx->raft_node.query_state_machine(std::move(read));
  if (!r) co_return r.error();
  co_return f;
}

asio::awaitable<http_response> get_key(kv_env env, const http_request& req) {
  std::string key;
  if (auto bad = parse_key(env, req, key)) co_return *bad;
  if (req.has_param("stale") || env.limits.planted_stale_reads) {
    const node_result<found> f = co_await find(env, key);
    if (!f) co_return net::node_error_response(*env.ctx, f.error(), req);
    if (!f->value) co_return http_response::error(404, "not_found", "no such key (stale read)");
    co_return value_response(*f->value, f->applied);
  }
  // Linearizable without the log [thesis §6.4]: a read barrier (ReadIndex,
  // through the leader when this node follows), then the local map, which
  // has applied at least through the barrier's index.
  const node_result<index_t> r = co_await env.ctx->raft_node.read_index();
  if (!r) co_return net::node_error_response(*env.ctx, r.error(), req);
  const node_result<found> f = co_await find(env, key);
  if (!f) co_return net::node_error_response(*env.ctx, f.error(), req);
  if (!f->value) co_return http_response::error(404, "not_found", "no such key");
  co_return value_response(*f->value, *r);
}

asio::awaitable<http_response> list_keys(kv_env env, const http_request& req) {
  std::uint64_t limit = 1000;
  if (auto l = req.param("limit")) {
    auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), limit);
    if (ec != std::errc() || p != l->data() + l->size() || limit == 0 || limit > 10000)
      co_return http_response::error(400, "bad_request", "limit must be 1 to 10000");
  }
  const std::string prefix = req.param("prefix").value_or("");
  if (!req.has_param("stale")) {
    // A linearizable listing: a read barrier first, then the local map,
    // which has applied at least up to the barrier.
    const node_result<index_t> r = co_await env.ctx->raft_node.read_index();
    if (!r) co_return net::node_error_response(*env.ctx, r.error(), req);
  }
  std::vector<std::string> listed;
  std::function<void()> list = [&] { listed = env.sm->keys_with_prefix(prefix, static_cast<std::size_t>(limit)); };
  const node_result<void> q = co_await env.ctx->raft_node.query_state_machine(std::move(list));
  if (!q) co_return net::node_error_response(*env.ctx, q.error(), req);
  json::array keys;
  for (auto& k : listed) keys.emplace_back(k);
  json::object o;
  o["keys"] = std::move(keys);
  co_return http_response::json(json::serialize(o));
}

}  // namespace

void add_kv_routes(net::http_router& router, net::admin_context& ctx, kv_state_machine& sm, kv_limits limits) {
  const kv_env e{&ctx, &sm, limits};
  // Labelled by the pattern in metrics, never by the key.
  const std::string key_route = "/v1/kv/{key}";
  router.add(
      "PUT", "/v1/kv/*", [e](const http_request& r) { return put_key(e, r); }, key_route);
  router.add(
      "GET", "/v1/kv/*", [e](const http_request& r) { return get_key(e, r); }, key_route);
  router.add(
      "DELETE", "/v1/kv/*", [e](const http_request& r) { return delete_key(e, r); }, key_route);
  router.add("GET", "/v1/kv", [e](const http_request& r) { return list_keys(e, r); });
}

}  // namespace coraft::kv
