// peer_tls.cpp — the raft port's TLS context and certificate checks (see
// peer_stream.hpp and tcp_transport_options::tls).
#include "peer_stream.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <fstream>

namespace coraft::net {

namespace ssl = boost::asio::ssl;

namespace {

std::string openssl_reason(const boost::system::error_code& ec) {
  std::string why = ec.message();
  if (const unsigned long e = ERR_peek_last_error(); e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    why = buf;
  }
  ERR_clear_error();
  return why;
}

void readable(const std::string& file, const char* what, const char* flag) {
  if (file.empty())
    throw std::runtime_error(std::string("peer TLS needs ") + what + " (" + flag +
                             "): give --peer-cert, --peer-key and --peer-ca together, or none of them");
  if (!std::ifstream(file))
    throw std::runtime_error(std::string("cannot read ") + what + " '" + file + "' (" + flag +
                             "): check the path and that this user may read it");
}

std::string time_text(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return "?";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// A TLS 1.2+ context holding our certificate and key, both checked: they
// match, the key is not encrypted, the certificate is valid now. Messages
// name `cert_flag` and `key_flag`.
std::unique_ptr<ssl::context> identity_context(const std::string& cert_file, const std::string& key_file,
                                               const std::string& cert_flag, const std::string& key_flag) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression);
  // No pass phrase: an encrypted key fails here instead of OpenSSL asking
  // for one on the terminal (and hanging a node started by hand).
  ctx->set_password_callback([](std::size_t, ssl::context::password_purpose) { return std::string(); });
  const std::string cert = "the certificate '" + cert_file + "' (" + cert_flag + ")";
  const std::string key = "the private key '" + key_file + "' (" + key_flag + ")";
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec) throw std::runtime_error(cert + " is not a PEM certificate: " + openssl_reason(ec));
  ctx->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec)
    throw std::runtime_error(
        key + " is not usable with '" + cert_file + "': " + openssl_reason(ec) +
        " (is it the key of that certificate, in unencrypted PEM? an encrypted key cannot be used)");
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) throw std::runtime_error(key + " does not match " + cert);
  X509* own = SSL_CTX_get0_certificate(ctx->native_handle());
  if (own != nullptr && X509_cmp_current_time(X509_get0_notAfter(own)) < 0)
    throw std::runtime_error(cert + " expired on " + time_text(X509_get0_notAfter(own)) + ": issue a new one");
  if (own != nullptr && X509_cmp_current_time(X509_get0_notBefore(own)) > 0)
    throw std::runtime_error(cert + " is not valid before " + time_text(X509_get0_notBefore(own)) +
                             " (is this machine's clock right?)");
  return ctx;
}

// Loads `ca_file` as the CA the other side's certificate must chain to, and
// requires that certificate in the handshake, before anything is read.
void require_certificates_of(ssl::context& ctx, const std::string& ca_file, const std::string& ca_flag) {
  boost::system::error_code ec;
  ctx.load_verify_file(ca_file, ec);
  if (ec)
    throw std::runtime_error("the CA certificate '" + ca_file + "' (" + ca_flag +
                             ") is not a PEM certificate: " + openssl_reason(ec));
  ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
}

}  // namespace

std::unique_ptr<ssl::context> make_peer_tls_context(const std::string& cert_file, const std::string& key_file,
                                                    const std::string& ca_file, const std::string& own_host) {
  readable(cert_file, "the certificate", "--peer-cert");
  readable(key_file, "the private key", "--peer-key");
  readable(ca_file, "the CA certificate", "--peer-ca");
  auto ctx = identity_context(cert_file, key_file, "--peer-cert", "--peer-key");
  require_certificates_of(*ctx, ca_file, "--peer-ca");
  X509* own = SSL_CTX_get0_certificate(ctx->native_handle());
  if (own != nullptr && !own_host.empty() && !certificate_names(own, own_host))
    throw std::runtime_error("the certificate '" + cert_file + "' (--peer-cert) does not name " + own_host +
                             ", this node's raft host in --cluster: peers would refuse it. Issue one with "
                             "subjectAltName DNS:" +
                             own_host + " (or IP: for an address)");
  return ctx;
}

std::unique_ptr<ssl::context> make_http_tls_context(const std::string& cert_file, const std::string& key_file,
                                                    const std::string& client_ca_file) {
  const auto need = [](const std::string& file, const char* what, const char* flag) {
    if (file.empty())
      throw std::runtime_error(std::string("HTTPS needs ") + what + " (" + flag +
                               "): give --http-cert and --http-key together");
    if (!std::ifstream(file))
      throw std::runtime_error(std::string("cannot read ") + what + " '" + file + "' (" + flag +
                               "): check the path and that this user may read it");
  };
  need(cert_file, "the certificate", "--http-cert");
  need(key_file, "the private key", "--http-key");
  auto ctx = identity_context(cert_file, key_file, "--http-cert", "--http-key");
  if (!client_ca_file.empty()) {
    need(client_ca_file, "the client CA certificate", "--http-client-ca");
    require_certificates_of(*ctx, client_ca_file, "--http-client-ca");
  }
  return ctx;
}

std::unique_ptr<ssl::context> make_http_client_tls_context(const std::string& ca_file, const std::string& cert_file,
                                                           const std::string& key_file) {
  if (!std::ifstream(ca_file))
    throw std::runtime_error("cannot read the CA certificate '" + ca_file +
                             "' (--http-ca): check the path and that this user may read it");
  std::unique_ptr<ssl::context> ctx;
  if (!cert_file.empty()) {
    ctx = identity_context(cert_file, key_file, "--http-cert", "--http-key");
  } else {
    ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  }
  boost::system::error_code ec;
  ctx->load_verify_file(ca_file, ec);
  if (ec)
    throw std::runtime_error("the CA certificate '" + ca_file +
                             "' (--http-ca) is not a PEM certificate: " + openssl_reason(ec));
  ctx->set_verify_mode(ssl::verify_peer);
  return ctx;
}

bool certificate_names(X509* cert, const std::string& host) {
  if (cert == nullptr) return false;
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  if (!ec) return X509_check_ip_asc(cert, host.c_str(), 0) == 1;
  return X509_check_host(cert, host.data(), host.size(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr) == 1;
}

std::string tls_error_text(const boost::system::error_code& ec, SSL* ssl) {
  std::string why = openssl_reason(ec);
  if (ssl != nullptr) {
    if (const long v = SSL_get_verify_result(ssl); v != X509_V_OK)
      why += std::string(": ") + X509_verify_cert_error_string(v);
  }
  return why;
}

}  // namespace coraft::net
