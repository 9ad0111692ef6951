// resolve.hpp — host names to endpoints, for the net library's own use
// (private to net/src). Every address coraft takes may name a host
// (issue 17): a listen address is resolved once, when the listener starts
// (its failure stops start-up with the address and the fix); a peer's or a
// member's HTTP address is resolved again on every connection, so that a
// node that restarted under the same name on a new IP (a Kubernetes pod) is
// found there.
#pragma once

#include <coraft/net/address.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace coraft::net {

// The endpoint to bind for `hp` (an IP, or a name: its first address).
// Runs the resolver synchronously: only at start-up, before anything is
// served. Throws std::runtime_error naming `flag` and the fix.
inline boost::asio::ip::tcp::endpoint listen_endpoint(const host_port& hp, boost::asio::any_io_executor ex,
                                                      const std::string& flag) {
  using boost::asio::ip::tcp;
  boost::system::error_code ec;
  const auto addr = boost::asio::ip::make_address(hp.host, ec);
  if (!ec) return {addr, hp.port};
  tcp::resolver resolver(ex);
  const auto results = resolver.resolve(hp.host, std::to_string(hp.port), tcp::resolver::passive, ec);
  if (ec || results.empty())
    throw std::runtime_error("cannot listen on " + hp.str() + " (" + flag + "): the name '" + hp.host +
                             "' does not resolve (" + (ec ? ec.message() : "no address") +
                             "); give an IP (0.0.0.0 listens on every interface) or a name this host resolves");
  return results.begin()->endpoint();
}

// Every endpoint to try for `hp`, looked up now (an IP as it is; a name
// through the resolver, each time: nothing is cached). An error when a name
// does not resolve. `hp` is read before the first suspension only.
inline boost::asio::awaitable<std::pair<boost::system::error_code, std::vector<boost::asio::ip::tcp::endpoint>>>
resolve_endpoints(const host_port& hp, boost::asio::any_io_executor ex) {
  using boost::asio::ip::tcp;
  std::vector<tcp::endpoint> out;
  boost::system::error_code ec;
  if (const auto addr = boost::asio::ip::make_address(hp.host, ec); !ec) {
    out.emplace_back(addr, hp.port);
    co_return std::pair{ec, std::move(out)};
  }
  tcp::resolver resolver(ex);
  auto [rec, results] = co_await resolver.async_resolve(hp.host, std::to_string(hp.port),
                                                        boost::asio::as_tuple(boost::asio::use_awaitable));
  for (const auto& r : results) out.push_back(r.endpoint());
  co_return std::pair{rec, std::move(out)};
}

}  // namespace coraft::net
