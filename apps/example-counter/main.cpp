// example-counter — a replicated counter on coraft, built against the installed package (find_package(coraft)):
//   POST /v1/counter/add (body: a whole number, +1 when empty) and GET /v1/counter, both {"value": N}.
//   example-counter --id 1 --data-dir /tmp/c1 --cluster 1=127.0.0.1:7001/127.0.0.1:8001,2=...,3=...
#include <coraft/net/admin_api.hpp>
#include <coraft/net/service.hpp>
#include <coraft/state_machine.hpp>

#include <charconv>
#include <cstdint>
#include <span>
#include <string>

using namespace coraft;
using boost::asio::awaitable;
using net::http_request;
using net::http_response;

// The state: one number. Its calls run on the state machine's thread, one at a time.
struct counter final : state_machine {
  std::int64_t value = 0;
  std::string apply(index_t, std::string_view delta) override {  // a number the route checked
    std::int64_t n = 0;
    std::from_chars(delta.data(), delta.data() + delta.size(), n);
    return std::to_string(value += n);
  }
  void save_snapshot(snapshot_writer& out) override { out.write(std::as_bytes(std::span(&value, 1))); }
  void restore_snapshot(snapshot_reader& in) override { in.read(std::as_writable_bytes(std::span(&value, 1))); }
};

// A write goes through the log; on a follower it answers 307 to the leader.
awaitable<http_response> add(net::admin_context& ctx, const http_request& req) {
  std::int64_t n = 1;
  const std::string_view b = std::string_view(req.body).substr(req.body.starts_with('+') ? 1 : 0);
  if (!req.body.empty() && std::from_chars(b.data(), b.data() + b.size(), n).ptr != b.data() + b.size())
    co_return http_response::error(400, "bad_number", "the body is a whole number (or empty for +1)");
  const node_result<applied_command> r = co_await ctx.raft_node.propose(std::to_string(n));
  if (!r) co_return net::node_error_response(ctx, r.error(), req);
  co_return http_response::json("{\"value\":" + r->result + "}");
}

// A linearizable read on any node: a read barrier, then the value where apply() runs.
awaitable<http_response> get(net::admin_context& ctx, counter& c, const http_request& req) {
  const node_result<index_t> barrier = co_await ctx.raft_node.read_index();
  if (!barrier) co_return net::node_error_response(ctx, barrier.error(), req);
  std::int64_t v = 0;
  const node_result<void> read = co_await ctx.raft_node.query_state_machine([&] { v = c.value; });
  if (!read) co_return net::node_error_response(ctx, read.error(), req);
  co_return http_response::json("{\"value\":" + std::to_string(v) + "}");
}

int main(int argc, char** argv) {
  counter c;
  return net::run_service(argc, argv, c, [&c](net::http_router& r, net::admin_context& ctx) {
    r.add("POST", "/v1/counter/add", [&ctx](const http_request& req) { return add(ctx, req); });
    r.add("GET", "/v1/counter", [&ctx, &c](const http_request& req) { return get(ctx, c, req); });
  });
}
