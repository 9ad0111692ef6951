// join.cpp — the HTTP side of joining a cluster (coraft/net/join.hpp).
#include <coraft/net/join.hpp>

#include <coraft/net/address.hpp>

#include "peer_stream.hpp"
#include "resolve.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <vector>

namespace coraft::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

// The request on a connected stream (plain or TLS), and its answer.
template <class Stream>
asio::awaitable<http_reply> exchange(Stream& stream, http::request<http::string_body>& req) {
  http_reply r;
  auto [wec, wn] = co_await http::async_write(stream, req, asio::as_tuple(asio::use_awaitable));
  if (wec) {
    r.error = "sending the request: " + wec.message();
    co_return r;
  }
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  auto [rec, rn] = co_await http::async_read(stream, buf, res, asio::as_tuple(asio::use_awaitable));
  if (rec) {
    r.error = "reading the answer: " + rec.message();
    co_return r;
  }
  r.status = res.result_int();
  r.body = std::move(res.body());
  if (auto it = res.find(http::field::location); it != res.end()) r.location = std::string(it->value());
  co_return r;
}

// The client TLS context of these files, built once: building one reads
// and parses them, which is slow and would run on the caller's thread at
// every call. (A renewed certificate is therefore read at the next start.)
std::shared_ptr<asio::ssl::context> client_tls_context(const http_client_tls& tls) {
  static std::mutex mu;
  static std::map<std::tuple<std::string, std::string, std::string>, std::shared_ptr<asio::ssl::context>> contexts;
  std::lock_guard lock(mu);
  const auto key = std::tuple{tls.ca_file, tls.cert_file, tls.key_file};
  if (auto it = contexts.find(key); it != contexts.end()) return it->second;
  std::shared_ptr<asio::ssl::context> ctx = make_http_client_tls_context(tls.ca_file, tls.cert_file, tls.key_file);
  contexts.emplace(key, ctx);
  return ctx;
}

using endpoints = std::vector<tcp::endpoint>;

// resolve_endpoints() within `timeout`. A lookup cannot be cancelled (it
// runs getaddrinfo on a resolver thread), so calls for a name already being
// looked up share that lookup instead of queueing another: however often
// a slow name is asked for, at most one lookup of it is in progress. And
// they run on a context of their own (`lookups_context`), whose resolver
// thread is not the node's: a slow name asked for by the dashboard or
// --join never delays the raft transport's lookups of its peers.
struct shared_lookup {
  std::optional<std::pair<boost::system::error_code, endpoints>> result;
  std::vector<std::pair<asio::any_io_executor, std::weak_ptr<asio::steady_timer>>> waiters;
};
asio::thread_pool& lookups_context() {
  static asio::thread_pool pool(1);
  return pool;
}
std::mutex lookups_mu;
std::map<std::string, std::shared_ptr<shared_lookup>>& lookups_in_progress() {
  static std::map<std::string, std::shared_ptr<shared_lookup>> m;
  return m;
}

// resolve_endpoints() on its own copy of `hp`: the call it serves may have
// given up (and its `hp` gone) before the lookup starts.
asio::awaitable<std::pair<boost::system::error_code, endpoints>> resolve_owned(host_port hp, asio::any_io_executor ex) {
  co_return co_await resolve_endpoints(hp, ex);
}

asio::awaitable<std::pair<boost::system::error_code, endpoints>> resolve_within(const host_port& hp,
                                                                                std::chrono::milliseconds timeout) {
  const auto ex = co_await asio::this_coro::executor;
  boost::system::error_code not_an_ip;
  (void)asio::ip::make_address(hp.host, not_an_ip);
  if (!not_an_ip) co_return co_await resolve_endpoints(hp, ex);  // no lookup
  const std::string key = hp.host + ":" + std::to_string(hp.port);
  auto woken = std::make_shared<asio::steady_timer>(ex);
  woken->expires_after(timeout);
  std::shared_ptr<shared_lookup> l;
  bool start = false;
  {
    std::lock_guard lock(lookups_mu);
    auto& entry = lookups_in_progress()[key];
    if (!entry) {
      entry = std::make_shared<shared_lookup>();
      start = true;
    }
    l = entry;
    l->waiters.emplace_back(ex, woken);
  }
  if (start) {
    asio::co_spawn(ex, resolve_owned(hp, lookups_context().get_executor()),
                   [l, key](std::exception_ptr e, std::pair<boost::system::error_code, endpoints> r) {
                     std::vector<std::pair<asio::any_io_executor, std::weak_ptr<asio::steady_timer>>> waiters;
                     {
                       std::lock_guard lock(lookups_mu);
                       if (e) r = {asio::error::host_not_found, {}};
                       l->result = std::move(r);
                       waiters = std::move(l->waiters);
                       lookups_in_progress().erase(key);
                     }
                     for (auto& [wex, wt] : waiters)
                       asio::post(wex, [wt] {
                         if (auto t = wt.lock()) t->cancel();
                       });
                   });
  }
  co_await woken->async_wait(asio::as_tuple(asio::use_awaitable));
  std::optional<std::pair<boost::system::error_code, endpoints>> result;
  {
    std::lock_guard lock(lookups_mu);
    result = l->result;
  }
  if (result) co_return std::move(*result);
  const std::pair<boost::system::error_code, endpoints> timed_out(asio::error::timed_out, endpoints{});
  co_return timed_out;
}

}  // namespace

void check_http_client_tls(const http_client_tls& tls) {
  if (tls.enabled()) (void)make_http_client_tls_context(tls.ca_file, tls.cert_file, tls.key_file);
}

asio::awaitable<http_reply> http_call(std::string host_port, std::string method, std::string target, std::string body,
                                      std::string bearer_token, std::chrono::milliseconds timeout,
                                      http_client_tls tls) {
  http_reply r;
  const auto hp = try_parse_host_port(host_port);
  if (!hp) {
    r.error = "'" + host_port + "' is not HOST:PORT";
    co_return r;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // A name is resolved on every call (a member that restarted under its
  // name on a new IP is found there), and each of its addresses tried.
  auto [resolve_ec, targets] = co_await resolve_within(*hp, timeout);
  if (resolve_ec) {
    r.error = "cannot resolve '" + hp->host + "': " + resolve_ec.message();
    co_return r;
  }
  const auto ex = co_await asio::this_coro::executor;
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, host_port);
  if (!bearer_token.empty()) req.set(http::field::authorization, "Bearer " + bearer_token);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = std::move(body);
  req.prepare_payload();
  if (!tls.enabled()) {
    beast::tcp_stream stream(ex);
    stream.expires_at(deadline);
    auto [cec, connected] = co_await stream.async_connect(targets, asio::as_tuple(asio::use_awaitable));
    (void)connected;
    if (cec) {
      r.error = "connecting to " + host_port + ": " + cec.message();
      co_return r;
    }
    r = co_await exchange(stream, req);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return r;
  }
  std::shared_ptr<asio::ssl::context> ctx;
  try {
    ctx = client_tls_context(tls);
  } catch (const std::runtime_error& e) {
    r.error = e.what();  // checked at start-up (check_http_client_tls)
    co_return r;
  }
  beast::ssl_stream<beast::tcp_stream> stream(ex, *ctx);
  // The member must prove it is the host we call.
  stream.set_verify_callback(asio::ssl::host_name_verification(hp->host));
  boost::system::error_code not_an_ip;
  (void)asio::ip::make_address(hp->host, not_an_ip);
  if (not_an_ip) SSL_set_tlsext_host_name(stream.native_handle(), hp->host.c_str());
  beast::get_lowest_layer(stream).expires_at(deadline);
  auto [cec, connected] =
      co_await beast::get_lowest_layer(stream).async_connect(targets, asio::as_tuple(asio::use_awaitable));
  (void)connected;
  if (cec) {
    r.error = "connecting to " + host_port + ": " + cec.message();
    co_return r;
  }
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
  if (hec) {
    r.error = "TLS with " + host_port + ": " + tls_error_text(hec, stream.native_handle());
    co_return r;
  }
  r = co_await exchange(stream, req);
  auto [sec] = co_await stream.async_shutdown(asio::as_tuple(asio::use_awaitable));
  (void)sec;
  co_return r;
}

namespace {

// "http://host:port/path" -> "host:port" (empty when it is not one).
std::string authority_of(const std::string& location) {
  auto u = boost::urls::parse_uri(location);
  if (!u || !u->has_authority()) return {};
  return std::string(u->encoded_host_and_port());
}

std::string error_message(const http_reply& r) {
  if (r.status == 0) return r.error.empty() ? "no answer" : r.error;
  boost::system::error_code ec;
  const json::value v = json::parse(r.body, ec);
  if (!ec && v.is_object()) {
    if (const auto* m = v.as_object().if_contains("message"); m && m->is_string())
      return std::to_string(r.status) + " " + std::string(m->as_string());
  }
  return std::to_string(r.status);
}

}  // namespace

asio::awaitable<http_reply> call_leader(std::string& at, const std::string& method, const std::string& target,
                                        const std::string& body, const std::string& token, const http_client_tls& tls,
                                        std::chrono::milliseconds timeout,
                                        std::function<bool(const std::string&)> may_follow) {
  http_reply r;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (int hop = 0; hop < 4; ++hop) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r = {};
      r.error = "no final answer within " + std::to_string(timeout.count()) + " ms";
      co_return r;
    }
    r = co_await http_call(at, method, target, body, token, left, tls);
    if (r.status != 307 && r.status != 308) co_return r;
    const std::string next = authority_of(r.location);
    if (next.empty() || (may_follow && !may_follow(next))) co_return r;
    at = next;
  }
  co_return r;
}

asio::awaitable<join_result> join_cluster(std::string seed_http, cluster_member self, std::string admin_token,
                                          std::chrono::milliseconds patience, http_client_tls tls) {
  join_result out;
  const auto deadline = std::chrono::steady_clock::now() + patience;
  json::object req;
  req["id"] = self.id;
  req["raft"] = self.raft;
  req["http"] = self.http;
  req["voter"] = false;
  const std::string body = json::serialize(req);
  asio::steady_timer pause(co_await asio::this_coro::executor);
  while (true) {
    std::string leader = seed_http;
    const http_reply r = co_await call_leader(leader, "POST", "/v1/members", body, admin_token, tls);
    // 409 bad_member: already a member (our earlier attempt got through).
    const bool accepted = r.status == 200 || (r.status == 409 && r.body.find("bad_member") != std::string::npos);
    if (accepted) {
      const http_reply s = co_await call_leader(leader, "GET", "/v1/status", {}, {}, tls);
      boost::system::error_code ec;
      const json::value v = json::parse(s.body, ec);
      const json::array* ms = (!ec && v.is_object() && v.as_object().contains("members"))
                                  ? v.as_object().at("members").if_array()
                                  : nullptr;
      if (s.status == 200 && ms != nullptr) {
        for (const auto& m : *ms) {
          const json::object* o = m.if_object();
          if (o == nullptr || !o->contains("id") || !o->at("id").is_number()) continue;
          cluster_member cm;
          cm.id = o->at("id").to_number<node_id>();
          if (const auto* x = o->if_contains("raft"); x && x->is_string()) cm.raft = std::string(x->as_string());
          if (const auto* x = o->if_contains("http"); x && x->is_string()) cm.http = std::string(x->as_string());
          if (const auto* x = o->if_contains("voter"); x && x->is_bool()) cm.voter = x->as_bool();
          out.members.push_back(std::move(cm));
        }
        out.ok = true;
        co_return out;
      }
      out.error = "joined, but reading the leader's status failed: " + error_message(s);
    } else {
      out.error = error_message(r);
      // A bad request or refused token will not get better by retrying.
      if (r.status == 400 || r.status == 401 || r.status == 404) co_return out;
    }
    if (std::chrono::steady_clock::now() + std::chrono::milliseconds(500) > deadline) co_return out;
    pause.expires_after(std::chrono::milliseconds(500));
    co_await pause.async_wait(asio::use_awaitable);
  }
}

}  // namespace coraft::net
