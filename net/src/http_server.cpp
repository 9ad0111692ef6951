// http_server.cpp — Beast session loop: read (with limits and a deadline),
// route, await the handler, write; keep-alive until the client or stop()
// closes. See coraft/net/http.hpp.
#include <coraft/net/http.hpp>

#include "peer_stream.hpp"
#include "resolve.hpp"

#include <coraft/detail/task_group.hpp>
#include <coraft/log.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>

#include <list>
#include <type_traits>
#include <utility>

namespace coraft::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

std::optional<std::string> http_request::param(const std::string& name) const {
  for (const auto& [k, v] : query)
    if (k == name) return v;
  return std::nullopt;
}

std::string http_request::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

http_response http_response::error(int status, std::string code, std::string message) {
  boost::json::object o;
  o["error"] = code;
  o["message"] = message;
  return json(boost::json::serialize(o), status);
}

http_response http_response::json(std::string body, int status) {
  http_response r;
  r.status = status;
  r.body = std::move(body);
  r.body += '\n';
  return r;
}

void http_router::add(std::string method, std::string pattern, http_handler h, std::string label) {
  const bool prefix = pattern.size() >= 2 && pattern.compare(pattern.size() - 2, 2, "/*") == 0;
  if (prefix) pattern.pop_back();  // keep the trailing '/'
  if (label.empty()) label = prefix ? pattern + "{id}" : pattern;
  routes_.push_back({std::move(method), std::move(pattern), prefix, std::move(h), std::move(label)});
}

const http_handler* http_router::find(const std::string& method, const std::string& path, int& status_if_none,
                                      std::string& allowed, const std::string** route_label) const {
  bool path_known = false;
  for (const route& r : routes_) {
    const bool match = r.prefix ? (path.size() > r.pattern.size() && path.rfind(r.pattern, 0) == 0) : path == r.pattern;
    if (!match) continue;
    if (r.method == method) {
      if (route_label != nullptr) *route_label = &r.label;
      return &r.handler;
    }
    path_known = true;
    if (!allowed.empty()) allowed += ", ";
    allowed += r.method;
  }
  status_if_none = path_known ? 405 : 404;
  return nullptr;
}

bool percent_decode(std::string_view s, std::string& out) {
  out.clear();
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return false;
    const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

namespace {

// The method as a label: the ones routes use, else "other" (a client's
// made-up methods must not make series).
std::string_view method_label(std::string_view m) {
  for (std::string_view known : {"GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS"})
    if (m == known) return known;
  return "other";
}

std::string_view status_class(int status) {
  switch (status / 100) {
    case 1: return "1xx";
    case 2: return "2xx";
    case 3: return "3xx";
    case 4: return "4xx";
    default: return "5xx";
  }
}

const char* reason_code(int status) {
  switch (status) {
    case 400: return "bad_request";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 413: return "too_large";
    case 431: return "headers_too_large";
    default: return "error";
  }
}

// The answer as it goes on the wire, head and body in one buffer: one
// write, and none of Beast's serializer, whose buffer sequences cost more
// per small answer than building the bytes (profiled under puts at 64
// connections). The same head Beast wrote: a status line, Server,
// Content-Type, the handler's headers, Content-Length, and Connection when
// it differs from the version's default (close on 1.1, keep-alive on 1.0).
std::string serialize_response(const http_response& res, int version, bool keep_alive) {
  const std::string_view reason = http::obsolete_reason(static_cast<http::status>(res.status));
  const std::string length = std::to_string(res.body.size());
  std::size_t size = 64 + reason.size() + res.content_type.size() + length.size() + res.body.size();
  for (const auto& [k, v] : res.headers) size += k.size() + v.size() + 4;
  std::string out;
  out.reserve(size);
  out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(res.status);
  out += ' ';
  out += reason;
  out += "\r\nServer: coraft\r\nContent-Type: ";
  out += res.content_type;
  out += "\r\n";
  for (const auto& [k, v] : res.headers) {
    out += k;
    out += ": ";
    out += v;
    out += "\r\n";
  }
  out += "Content-Length: ";
  out += length;
  out += "\r\n";
  if (version >= 11 && !keep_alive) out += "Connection: close\r\n";
  if (version < 11 && keep_alive) out += "Connection: keep-alive\r\n";
  out += "\r\n";
  out += res.body;
  return out;
}

}  // namespace

struct http_server::impl {
  impl(asio::any_io_executor e, http_options o, http_router r)
      : ex(std::move(e)), opts(std::move(o)), router(std::move(r)), acceptor(ex) {}

  struct session_rec {
    beast::tcp_stream* stream;
    bool busy;
  };

  asio::any_io_executor ex;
  http_options opts;
  http_router router;
  tcp::acceptor acceptor;
  std::unique_ptr<asio::ssl::context> tls;  // set: HTTPS
  http_stats stats;
  bool stopping = false;
  // The accept loop is restarted if it fails; a session that fails ends
  // (its client reconnects). stop() closes the group rather than cancelling
  // it: busy sessions answer first.
  detail::task_group tasks{ex, opts.log_node_id, "http", nullptr};
  std::list<session_rec> sessions;
  log_rate_limiter accept_log{1000};
  log_rate_limiter tls_log{1000};

  asio::awaitable<void> accept_loop() {
    while (!stopping) {
      auto [ec, sock] = co_await acceptor.async_accept(asio::as_tuple(use_awaitable));
      if (stopping) break;
      if (ec) {
        std::uint64_t skipped = 0;
        if (accept_log.allow(skipped))
          log_line(log_level::warn, opts.log_node_id, "http",
                   "accept failed: " + ec.message() + " (" + std::to_string(skipped) + " similar suppressed)");
        // Out of file descriptors and the like: back off instead of spinning.
        asio::steady_timer t(ex, std::chrono::milliseconds(50));
        co_await t.async_wait(asio::as_tuple(use_awaitable));
        continue;
      }
      if (stats.connections_open >= opts.max_connections) {
        ++stats.connections_refused;
        boost::system::error_code ignored;
        sock.close(ignored);
        continue;
      }
      ++stats.connections_accepted;
      boost::system::error_code ignored;
      sock.set_option(tcp::no_delay(true), ignored);  // responses are small: never wait for Nagle
      tasks.spawn(
          "session", [this, s = std::make_shared<tcp::socket>(std::move(sock))] { return session(std::move(*s)); },
          detail::task_group::on_error::end);
    }
  }

  // Takes the body out of `req` (the parser's message, not used again).
  http_request to_request(http::request<http::string_body>& req, bool& ok, std::string& why) {
    http_request out;
    out.method = std::string(req.method_string());
    out.target = std::string(req.target());
    for (const auto& f : req) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[name] = std::string(f.value());
    }
    out.body = std::move(req.body());
    auto u = boost::urls::parse_origin_form(out.target);
    if (!u) {
      ok = false;
      why = "malformed request target (bad percent-encoding or characters): " + u.error().message();
      return out;
    }
    out.path = std::string(u->encoded_path());
    for (auto p : u->params()) out.query.emplace_back(std::string(p.key), std::string(p.value));
    ok = true;
    return out;
  }

  // `route`: the matched route's label, left as it is when none matched.
  asio::awaitable<http_response> handle(const http_request& req, std::string_view& route) {
    int status = 404;
    std::string allowed;
    const std::string* label = nullptr;
    const http_handler* h = router.find(req.method, req.path, status, allowed, &label);
    if (label != nullptr) route = *label;
    if (h == nullptr) {
      auto r = http_response::error(status, reason_code(status),
                                    status == 405
                                        ? req.method + " is not allowed on " + req.path + " (allowed: " + allowed + ")"
                                        : "no route for " + req.path);
      if (status == 405) r.headers.emplace_back("Allow", allowed);
      co_return r;
    }
    try {
      co_return co_await (*h)(req);
    } catch (const std::exception& e) {
      log_line(log_level::error, opts.log_node_id, "http", "handler for " + req.path + " failed: " + e.what());
      co_return http_response::error(500, "internal", e.what());
    }
  }

  asio::awaitable<void> session(tcp::socket sock) {
    ++stats.connections_open;
    if (tls) {
      beast::ssl_stream<beast::tcp_stream> stream(std::move(sock), *tls);
      auto rec = sessions.insert(sessions.end(), session_rec{&beast::get_lowest_layer(stream), false});
      // The handshake has the read timeout too: a client that connects and
      // says nothing holds its slot no longer than one that sends nothing.
      beast::get_lowest_layer(stream).expires_after(opts.read_timeout);
      auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, asio::as_tuple(use_awaitable));
      if (!ec) {
        co_await serve(stream, *rec);
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(1));
        auto [sec] = co_await stream.async_shutdown(asio::as_tuple(use_awaitable));
        (void)sec;
      } else {
        ++stats.tls_refused;
        std::uint64_t skipped = 0;
        if (tls_log.allow(skipped))
          log_line(log_level::warn, opts.log_node_id, "http",
                   "TLS handshake failed: " + tls_error_text(ec, stream.native_handle()) + " (" +
                       std::to_string(skipped) + " similar suppressed)");
      }
      beast::get_lowest_layer(stream).close();
      sessions.erase(rec);
    } else {
      // Non-blocking for write_now's synchronous send (asynchronous
      // operations set the mode themselves and are not affected).
      boost::system::error_code nb;
      sock.non_blocking(true, nb);
      beast::tcp_stream stream(std::move(sock));
      auto rec = sessions.insert(sessions.end(), session_rec{&stream, false});
      co_await serve(stream, *rec);
      boost::system::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      stream.close();
      sessions.erase(rec);
    }
    --stats.connections_open;
  }

  // One request's time, read to answer written (or failed to write).
  void observe(std::string_view method, std::string_view route, std::string_view code,
               std::chrono::steady_clock::time_point t0) {
    const auto key = std::make_tuple(method, route, code);
    auto it = stats.request_seconds.find(key);
    if (it == stats.request_seconds.end())
      it = stats.request_seconds
               .emplace(http_request_key(std::string(method), std::string(route), std::string(code)),
                        coraft::histogram{})
               .first;
    it->second.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }

  // Writes as much of an answer as the socket takes without waiting: on a
  // plain connection nearly every answer fits the send buffer whole, and is
  // then out without an asynchronous write (its deadline timer, its posted
  // completion, the coroutine's suspension) -- on the leader, under load,
  // that machinery cost about as much as the rest of the answer's user-space
  // work. What is left (a slow reader, a big answer) goes out asynchronously
  // under the deadline. TLS streams always take the asynchronous path: their
  // bytes are not the answer's.
  template <class Stream>
  static std::pair<std::size_t, boost::system::error_code> write_now(Stream& stream, const std::string& out) {
    boost::system::error_code ec;
    std::size_t n = 0;
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      if (stream.socket().non_blocking()) n = stream.socket().write_some(asio::buffer(out), ec);
      // Full, or a signal came first: the asynchronous path sends it all.
      if (ec == asio::error::would_block || ec == asio::error::try_again || ec == asio::error::interrupted) ec.clear();
    }
    return {n, ec};
  }

  // Requests and answers on one connection (plain or TLS) until it ends.
  template <class Stream>
  asio::awaitable<void> serve(Stream& stream, session_rec& rec) {
    beast::flat_buffer buf;
    while (!stopping) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(opts.max_header_bytes));
      parser.body_limit(opts.max_body_bytes);
      beast::get_lowest_layer(stream).expires_after(opts.read_timeout);
      auto [ec, n] = co_await http::async_read(stream, buf, parser, asio::as_tuple(use_awaitable));
      (void)n;
      if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == beast::error::timeout ||
          ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
          ec == asio::error::broken_pipe || ec == asio::ssl::error::stream_truncated || stopping)
        break;
      const bool timed = opts.latency_histograms;
      const auto t0 = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
      std::string_view method = "other", route = "unmatched";
      http_response res;
      bool keep_alive = false;
      int version = 11;
      if (ec) {
        // Malformed or oversized: answer once with a JSON error, then close.
        if (ec == http::error::body_limit)
          res = http_response::error(413, "too_large",
                                     "request body exceeds " + std::to_string(opts.max_body_bytes) + " bytes");
        else if (ec == http::error::header_limit)
          res = http_response::error(431, "headers_too_large",
                                     "request headers exceed " + std::to_string(opts.max_header_bytes) + " bytes");
        else
          res = http_response::error(400, "bad_request", "malformed HTTP request: " + ec.message());
      } else {
        auto& req = parser.get();
        method = method_label(req.method_string());
        version = req.version();
        keep_alive = req.keep_alive();
        bool ok = false;
        std::string why;
        http_request r = to_request(req, ok, why);
        ++stats.requests;
        if (!ok) {
          res = http_response::error(400, "bad_request", why);
        } else {
          rec.busy = true;
          beast::get_lowest_layer(stream).expires_never();
          res = co_await handle(r, route);
          rec.busy = false;
        }
      }
      if (res.status >= 500)
        ++stats.responses_5xx;
      else if (res.status >= 400)
        ++stats.responses_4xx;
      else if (res.status >= 300)
        ++stats.responses_3xx;
      else if (res.status >= 200)
        ++stats.responses_2xx;
      const std::string_view code = status_class(res.status);
      keep_alive = keep_alive && !stopping;
      const std::string out = serialize_response(res, version, keep_alive);
      const auto [sent, sent_ec] = write_now(stream, out);
      boost::system::error_code wec = sent_ec;
      if (!wec && sent < out.size()) {
        // Busy until the answer is out: stop() lets it finish (within the
        // deadline) rather than cutting it off midway.
        rec.busy = true;
        beast::get_lowest_layer(stream).expires_after(opts.read_timeout);
        auto [aec, an] = co_await asio::async_write(stream, asio::buffer(out.data() + sent, out.size() - sent),
                                                    asio::as_tuple(use_awaitable));
        (void)an;
        wec = aec;
        rec.busy = false;
      }
      if (timed) observe(method, route, code, t0);
      if (wec || !keep_alive) break;
    }
  }
};

http_server::http_server(asio::any_io_executor ex, http_options opts, http_router router)
    : impl_(std::make_unique<impl>(std::move(ex), std::move(opts), std::move(router))) {}

http_server::~http_server() = default;

void http_server::start() {
  auto& i = *impl_;
  if (i.opts.tls.enabled())
    i.tls = make_http_tls_context(i.opts.tls.cert_file, i.opts.tls.key_file, i.opts.tls.client_ca_file);
  boost::system::error_code ec;
  const host_port at{i.opts.host, i.opts.port, i.opts.host.find(':') != std::string::npos};
  const tcp::endpoint ep =
      listen_endpoint(at, i.acceptor.get_executor(), "the HTTP address: --listen-http, or this node's in --cluster");
  const std::string where = at.str();
  i.acceptor.open(ep.protocol(), ec);
  if (!ec) i.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) i.acceptor.bind(ep, ec);
  if (!ec) i.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error(
        "cannot listen for HTTP on " + where + ": " + ec.message() +
        " (is another process using this address? see --listen-http, or this node's HTTP address in --cluster)");
  i.tasks.spawn(
      "accept loop", [&i] { return i.accept_loop(); }, detail::task_group::on_error::restart);
}

asio::awaitable<void> http_server::stop() {
  auto& i = *impl_;
  if (!i.stopping) {
    i.stopping = true;
    boost::system::error_code ignored;
    i.acceptor.close(ignored);
    i.tasks.close();
  }
  // Idle sessions (waiting for a request) end now; busy ones answer first,
  // then see `stopping` and end.
  while (i.tasks.running() > 0) {
    for (auto& s : i.sessions)
      if (!s.busy) s.stream->cancel();
    co_await i.tasks.wait_one();
  }
}

const http_stats& http_server::stats() const { return impl_->stats; }

std::uint16_t http_server::port() const {
  boost::system::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

}  // namespace coraft::net
