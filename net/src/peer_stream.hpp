// peer_stream.hpp — one raft connection's bytes: plain TCP, or mutual TLS
// over it (private to net/src). The transport reads and writes through it
// and closes its socket; which of the two it is was decided by the
// transport's options, once.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>

namespace coraft::net {

class peer_stream {
 public:
  using tcp = boost::asio::ip::tcp;
  using error_code = boost::system::error_code;

  // TLS when `tls` is set (the transport's context, which outlives us).
  peer_stream(tcp::socket sock, boost::asio::ssl::context* tls) {
    if (tls != nullptr)
      tls_.emplace(std::move(sock), *tls);
    else
      plain_.emplace(std::move(sock));
  }

  tcp::socket& socket() { return tls_ ? tls_->next_layer() : *plain_; }
  bool secure() const { return tls_.has_value(); }
  boost::asio::ssl::stream<tcp::socket>& tls() { return *tls_; }

  boost::asio::awaitable<std::tuple<error_code, std::size_t>> read_some(boost::asio::mutable_buffer into) {
    constexpr auto token = boost::asio::as_tuple(boost::asio::use_awaitable);
    if (tls_) co_return co_await tls_->async_read_some(into, token);
    co_return co_await plain_->async_read_some(into, token);
  }

  boost::asio::awaitable<std::tuple<error_code, std::size_t>> write(boost::asio::const_buffer bytes) {
    constexpr auto token = boost::asio::as_tuple(boost::asio::use_awaitable);
    if (tls_) co_return co_await boost::asio::async_write(*tls_, bytes, token);
    co_return co_await boost::asio::async_write(*plain_, bytes, token);
  }

 private:
  std::optional<tcp::socket> plain_;
  std::optional<boost::asio::ssl::stream<tcp::socket>> tls_;
};

// The transport's TLS context from its three PEM files: TLS 1.2 or later,
// our certificate and key (which must match, and be valid now), the CA
// that peers' certificates must chain to, and a certificate required of
// every peer. Throws std::runtime_error naming the file, its flag and the
// fix.
// `own_host` (when not empty) must be named by the certificate.
std::unique_ptr<boost::asio::ssl::context> make_peer_tls_context(const std::string& cert_file,
                                                                 const std::string& key_file,
                                                                 const std::string& ca_file,
                                                                 const std::string& own_host);

// HTTPS on the client port: our certificate and key (checked as above)
// and, when `client_ca_file` is set, a client certificate of that CA
// required of every client. Throws std::runtime_error naming the flag
// (--http-cert, --http-key, --http-client-ca) and the fix.
std::unique_ptr<boost::asio::ssl::context> make_http_tls_context(const std::string& cert_file,
                                                                 const std::string& key_file,
                                                                 const std::string& client_ca_file);

// An HTTPS client's context: servers' certificates must chain to
// `ca_file` (--http-ca); `cert_file`/`key_file` (--http-cert, --http-key),
// when given, are shown as the client's certificate. Throws like the above.
std::unique_ptr<boost::asio::ssl::context> make_http_client_tls_context(const std::string& ca_file,
                                                                        const std::string& cert_file,
                                                                        const std::string& key_file);

// Whether `cert` names `host` (a DNS name, or an IP literal) in its subject
// alternative names (or, for a name without them, its common name).
bool certificate_names(X509* cert, const std::string& host);

// The reason of a failed handshake on `ssl`, for logs: OpenSSL's, and the
// certificate check's ("certificate has expired", "hostname mismatch").
std::string tls_error_text(const boost::system::error_code& ec, SSL* ssl);

}  // namespace coraft::net
