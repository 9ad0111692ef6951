// coraft/net/http.hpp — a small HTTP/1.1 server (Boost.Beast inside) whose
// request handlers are plain functions from request to response.
//
// The session loop only reads, times out and writes; routing picks a
// handler by method and path. Limits: header bytes, body bytes (413),
// read time (a slow or idle client is cut off), connections (503 beyond).
// Every error answer is JSON: {"error": code, "message": text}.
// Threading: the server and its sessions run on the executor it is given;
// give it a single-threaded context (or a strand).
#pragma once

#include <coraft/node.hpp>  // coraft::histogram

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace coraft::net {

struct http_request {
  std::string method;                                      // "GET", "PUT", ...
  std::string target;                                      // as sent: path and query
  std::string path;                                        // percent-encoded path (no query)
  std::vector<std::pair<std::string, std::string>> query;  // decoded params, in order
  std::map<std::string, std::string> headers;              // lower-case names
  std::string body;

  std::optional<std::string> param(const std::string& name) const;
  bool has_param(const std::string& name) const { return param(name).has_value(); }
  std::string header(const std::string& lower_name) const;
};

struct http_response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  // {"error": code, "message": message} with `status`.
  static http_response error(int status, std::string code, std::string message);
  static http_response json(std::string body, int status = 200);
};

using http_handler = std::function<boost::asio::awaitable<http_response>(const http_request&)>;

// Routes by method and path. A pattern ending in "/*" matches that prefix.
// Each route has a label for metrics (the route="..." of
// coraft_http_request_duration_seconds): the pattern itself, or for a
// prefix "/x/*" "/x/{id}" unless `label` names the rest ("/v1/kv/{key}"):
// never the raw path, whose every key would be a series.
class http_router {
 public:
  void add(std::string method, std::string pattern, http_handler h, std::string label = {});
  // The handler for (method, path) and, if `route_label`, its route's
  // label; 404 or 405 reason when none.
  const http_handler* find(const std::string& method, const std::string& path, int& status_if_none,
                           std::string& allowed, const std::string** route_label = nullptr) const;

 private:
  struct route {
    std::string method;
    std::string pattern;
    bool prefix;
    http_handler handler;
    std::string label;
  };
  std::vector<route> routes_;
};

struct http_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_body_bytes = (1u << 20) + 4096;
  std::chrono::milliseconds read_timeout{10'000};  // per request, and idle keep-alive
  std::size_t max_connections = 1024;
  std::uint64_t log_node_id = 0;  // for log lines
  // Time every request into http_stats::request_seconds (two clock
  // readings and a map lookup per request); false leaves it empty.
  bool latency_histograms = true;
  // HTTPS (issue 17): PEM certificate and key (both, or neither: plain
  // HTTP); with client_ca_file, every client must show a certificate of
  // that CA. Checked at start() (unreadable, mismatched, expired: throws).
  struct tls_files {
    std::string cert_file, key_file, client_ca_file;
    bool enabled() const { return !cert_file.empty() || !key_file.empty() || !client_ca_file.empty(); }
  } tls;
};

// (method, route label, status class): method one of GET PUT POST DELETE
// HEAD PATCH OPTIONS or "other"; the route's label (http_router::add) or
// "unmatched" (no route, or a request that could not be read); "2xx"...
using http_request_key = std::tuple<std::string, std::string, std::string>;

struct http_stats {
  std::uint64_t requests = 0;
  std::uint64_t responses_2xx = 0;  // 1xx are none: every answer is final
  std::uint64_t responses_3xx = 0;
  std::uint64_t responses_4xx = 0;
  std::uint64_t responses_5xx = 0;
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_refused = 0;
  std::uint64_t tls_refused = 0;  // HTTPS handshakes that failed (no or a bad client certificate, ...)
  std::size_t connections_open = 0;
  // From a request read to its answer written, by http_request_key
  // (transparent: looked up without building strings).
  std::map<http_request_key, coraft::histogram, std::less<>> request_seconds;
};

class http_server {
 public:
  http_server(boost::asio::any_io_executor ex, http_options opts, http_router router);
  ~http_server();
  // Binds and listens (throws std::runtime_error naming the address and the
  // likely fix when it cannot), then serves until stop().
  void start();
  // Stops accepting, lets requests being handled finish and be answered,
  // closes idle connections, and waits for every session to end.
  boost::asio::awaitable<void> stop();
  // Read it on the server's executor (the sessions update it there).
  const http_stats& stats() const;
  std::uint16_t port() const;  // the bound port (useful with port 0)

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Percent-decodes `s`; false when it holds a malformed escape.
bool percent_decode(std::string_view s, std::string& out);

}  // namespace coraft::net
