// http_client.hpp — coraft-chaos's HTTP/1.1 client: one keep-alive
// connection per client, 307s followed to the leader, a deadline on every
// step, and an answer that says whether the request may have reached a
// server — the line between an operation that failed (`fail`: it cannot
// have taken effect) and one whose outcome is unknown (`info`).
//
// Invariant: `sent` is false only when no byte of the request can have
// reached a node that would act on it (the address did not parse, the
// connect failed, or every node asked answered with a redirect). Everything
// else that goes wrong after a write began is reported with sent = true.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace coraft::chaos {

struct http_answer {
  int status = 0;       // 0: no answer (see failure)
  bool sent = false;    // the request may have reached a node that acts on it
  std::string failure;  // without an answer: connect, timeout, closed, protocol, redirect
  std::string body;
  std::string error;      // the JSON error code of a 4xx/5xx answer ("" when none)
  std::string served_by;  // host:port that gave the final answer
};

class http_client {
 public:
  http_client(boost::asio::any_io_executor ex, std::chrono::milliseconds timeout);
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  // `host_port` is where to send first; a 307's Location is followed (at
  // most 4 hops). The connection is kept for the next call to the same
  // address, and dropped after any failure.
  boost::asio::awaitable<http_answer> call(std::string host_port, std::string method, std::string target,
                                           std::string body = {});
  void close();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// GET /v1/status of a node as a JSON object; nullopt when it does not
// answer 200 with one (blocking, like http_call).
std::optional<boost::json::object> status_of(const std::string& host_port,
                                             std::chrono::milliseconds timeout = std::chrono::seconds(2));

// One call on an io_context of its own, for code that is not a coroutine
// (the nemesis and the set-up): blocks for at most about `timeout` per hop.
http_answer http_call(const std::string& host_port, const std::string& method, const std::string& target,
                      const std::string& body = {}, std::chrono::milliseconds timeout = std::chrono::seconds(3));

}  // namespace coraft::chaos
