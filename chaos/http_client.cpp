// http_client.cpp — see http_client.hpp. Beast in the mode coraft::net
// exports: header-only, or compiled once in coraft::net
// (CORAFT_ASIO_SEPARATE_COMPILATION).
#include "http_client.hpp"

#include <coraft/net/address.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <poll.h>

namespace coraft::chaos {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

const char* io_failure(const beast::error_code& ec) {
  if (ec == beast::error::timeout) return "timeout";
  if (ec == asio::error::eof || ec == bhttp::error::end_of_stream || ec == asio::error::connection_reset ||
      ec == asio::error::broken_pipe || ec == asio::error::connection_aborted)
    return "closed";
  return "protocol";
}

// A peer that closed an idle keep-alive connection (a node restarted, or
// its idle timer fired) shows as readable: reconnect rather than send into
// it, so that a dead connection does not turn a clean `fail` into `info`.
bool peer_closed(tcp::socket& s) {
  pollfd p{s.native_handle(), POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) != 0;
}

std::optional<tcp::endpoint> endpoint_of(const std::string& host_port) {
  const auto hp = net::try_parse_host_port(host_port);
  if (!hp) return std::nullopt;
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(hp->host, ec);
  if (ec) return std::nullopt;  // numeric addresses only: the tool starts its own nodes
  return tcp::endpoint(addr, hp->port);
}

}  // namespace

struct http_client::impl {
  impl(asio::any_io_executor ex, std::chrono::milliseconds t) : stream(std::move(ex)), timeout(t) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  std::string peer;  // host:port of the open connection ("" when closed)
  std::chrono::milliseconds timeout;

  void close() {
    beast::error_code ignored;
    stream.socket().close(ignored);
    buffer.consume(buffer.size());
    peer.clear();
  }
};

http_client::http_client(asio::any_io_executor ex, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<impl>(std::move(ex), timeout)) {}
http_client::~http_client() = default;
void http_client::close() { impl_->close(); }

asio::awaitable<http_answer> http_client::call(std::string host_port, std::string method, std::string target,
                                               std::string body) {
  impl& c = *impl_;
  http_answer out;
  for (int hop = 0; hop < 5; ++hop) {
    if (!c.peer.empty() && (c.peer != host_port || peer_closed(c.stream.socket()))) c.close();
    if (c.peer.empty()) {
      const auto ep = endpoint_of(host_port);
      if (!ep) {
        out.failure = "bad_address";
        co_return out;
      }
      c.stream.expires_after(c.timeout);
      auto [ec] = co_await c.stream.async_connect(*ep, asio::as_tuple(asio::use_awaitable));
      if (ec) {
        c.close();
        out.failure = "connect";
        co_return out;  // nothing reached this node (earlier hops answered 307)
      }
      c.stream.socket().set_option(tcp::no_delay(true));
      c.peer = host_port;
    }
    bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
    req.set(bhttp::field::host, host_port);
    req.keep_alive(true);
    if (!body.empty() || method == "PUT" || method == "POST") {
      req.body() = body;
      req.prepare_payload();
    }
    out.sent = true;
    c.stream.expires_after(c.timeout);
    auto [wec, wn] = co_await bhttp::async_write(c.stream, req, asio::as_tuple(asio::use_awaitable));
    if (wec) {
      c.close();
      out.failure = io_failure(wec);
      co_return out;
    }
    bhttp::response<bhttp::string_body> res;
    c.stream.expires_after(c.timeout);
    auto [rec, rn] = co_await bhttp::async_read(c.stream, c.buffer, res, asio::as_tuple(asio::use_awaitable));
    c.stream.expires_never();
    if (rec) {
      c.close();
      out.failure = io_failure(rec);
      co_return out;
    }
    if (!res.keep_alive()) c.close();
    if (res.result() == bhttp::status::temporary_redirect) {
      // A follower refused it before acting on it: only the next hop can.
      out.sent = false;
      const auto loc = res.find(bhttp::field::location);
      const auto url = boost::urls::parse_uri(loc == res.end() ? std::string_view() : std::string_view(loc->value()));
      if (!url || !url->has_port()) {
        out.failure = "redirect";
        co_return out;
      }
      host_port = std::string(url->encoded_host_and_port());
      target = std::string(url->encoded_target());
      continue;
    }
    out.status = res.result_int();
    out.served_by = host_port;
    out.body = std::move(res.body());
    if (out.status >= 400) {
      boost::system::error_code jec;
      const json::value v = json::parse(out.body, jec);
      if (!jec && v.is_object())
        if (const json::value* e = v.as_object().if_contains("error"); e != nullptr && e->is_string())
          out.error = std::string(e->as_string());
    }
    co_return out;
  }
  out.failure = "redirect";
  co_return out;
}

http_answer http_call(const std::string& host_port, const std::string& method, const std::string& target,
                      const std::string& body, std::chrono::milliseconds timeout) {
  asio::io_context io;
  http_client client(io.get_executor(), timeout);
  auto f = asio::co_spawn(io, client.call(host_port, method, target, body), asio::use_future);
  io.run();
  return f.get();
}

std::optional<json::object> status_of(const std::string& host_port, std::chrono::milliseconds timeout) {
  const http_answer a = http_call(host_port, "GET", "/v1/status", {}, timeout);
  if (a.status != 200) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(a.body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

}  // namespace coraft::chaos
