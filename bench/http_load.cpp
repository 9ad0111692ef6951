// coraft-bench http — closed-loop HTTP/1.1 load against coraft-kv, or
// against etcd's v3 JSON gateway, so that one client drives both.
//
//   coraft-bench http --target http://127.0.0.11:8001 --connections 64 --duration 10
//                     --value-size 128 --workload put|get|mixed|fill [--keys 100000] [--warmup 1] [--json]
//                     [--api coraft|etcd]
//
// C keep-alive connections, each one coroutine that sends a request, waits
// for the answer and sends the next (closed loop). With --threads T the
// connections are dealt round-robin over T io_contexts, one thread each;
// nothing is shared between threads until the run is over.
//
// Keys are 16 bytes ("k" + 15 digits), uniform over --keys; put = PUT
// /v1/kv/KEY with a --value-size body, get = GET /v1/kv/KEY (linearizable;
// a 404 is a success, counted apart as not_found), mixed = 50/50, fill =
// puts of every key 0..--keys-1 once (connection i takes keys i, i + C...,
// each until it succeeds; it ends when all are done or at --duration).
//
// --api etcd speaks etcd's v3 gRPC-JSON gateway instead (etcd 3.4's
// /v3/kv/...): put = POST /v3/kv/put {"key":B64,"value":B64}, get = POST
// /v3/kv/range {"key":B64} — linearizable, as etcd's default range is; an
// answer without "kvs" is a success counted as not_found. Same keys, same
// values, same key distribution, same connection handling and accounting:
// only the bytes on the wire differ. etcd's gateway never redirects (any
// member forwards to the leader itself); point --target at the leader to
// compare like with like.
//
// Followers answer 307 with Location on the leader: the connection follows
// it (at most --max-redirects hops per request), and the leader's address is
// remembered for every later request of that thread's connections. Only
// loopback addresses are ever connected to: the target and each Location
// must be in 127.0.0.0/8, ::1 or "localhost" (a --target elsewhere exits 2;
// a redirect elsewhere counts as the error redirect_refused).
//
// Accounting: a request belongs to the measurement when it *starts* in
// [warmup, warmup + duration); after that no connection starts another one,
// and requests in flight still finish (or time out) and are counted.
// requests/s = successful requests / (last completion - end of warmup).
// Latency is that of successful requests, first byte sent to last byte read,
// redirect hops and reconnects included. Errors are by HTTP status
// ("503") or by connection failure (connect, timeout, closed, io,
// protocol, redirect_limit, redirect_refused).
//
// Bounds: every connect, write and read has --timeout (default 10 s), so a
// dead or hung server ends the run with errors after at most
// warmup + duration + timeout; each connection sends at most
// max_requests_per_connection requests.
#include "http_load.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/program_options.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace po = boost::program_options;
namespace urls = boost::urls;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// Hard cap on the requests one connection sends, so that the request loop
// is bounded by count as well as by time.
constexpr std::uint64_t max_requests_per_connection = 1'000'000'000;
// Pause after a connection failure (so a refused connect does not spin) and
// after a 5xx (no leader during an election, overloaded, dropped).
constexpr auto connect_error_backoff = 100ms;
constexpr auto server_error_backoff = 10ms;

enum class workload { put, get, mixed, fill };
enum class api_kind { coraft, etcd };

struct http_config {
  std::string target;
  int connections = 16;
  int threads = 1;
  double duration_s = 10;
  double warmup_s = 1;
  std::size_t value_size = 128;
  std::string workload_name = "put";
  workload kind = workload::put;
  std::string api_name = "coraft";
  api_kind api = api_kind::coraft;
  std::uint64_t keys = 100000;
  double timeout_s = 10;
  int max_redirects = 5;
  bool json = false;
  std::string cdf_path;  // where to write the latency CDF (empty: nowhere)
};

// A loopback HTTP address: where to connect, what to put in Host, and the
// request target (path and query) when it came from a Location header.
struct loopback_url {
  tcp::endpoint endpoint;
  std::string host_port;  // "127.0.0.11:8001" or "[::1]:8001"
  std::string target;     // "/v1/kv/k..." ("/" when the URL has no path)
};

// Parses http://HOST[:PORT][/path[?query]] where HOST is in 127.0.0.0/8, ::1
// or "localhost" (taken as 127.0.0.1, without asking a resolver). On failure
// returns why, in words that follow the flag or header name.
std::optional<std::string> parse_loopback_url(std::string_view s, loopback_url& out) {
  auto r = urls::parse_uri(s);
  if (!r) return "'" + std::string(s) + "' is not a URL like http://127.0.0.1:8001";
  const urls::url_view u = *r;
  if (u.scheme_id() != urls::scheme::http)
    return "'" + std::string(s) + "' must start with http:// (https is not supported)";
  if (u.has_userinfo()) return "'" + std::string(s) + "' must not contain user info";
  asio::ip::address addr;
  switch (u.host_type()) {
    case urls::host_type::ipv4: addr = asio::ip::address_v4(u.host_ipv4_address().to_uint()); break;
    case urls::host_type::ipv6: addr = asio::ip::address_v6(u.host_ipv6_address().to_bytes()); break;
    case urls::host_type::name: {
      std::string name = u.host_name();
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (name != "localhost")
        return "host '" + name + "' is not allowed: only loopback targets (127.0.0.0/8, localhost, ::1)";
      addr = asio::ip::make_address_v4("127.0.0.1");
      break;
    }
    default: return "'" + std::string(s) + "' has no usable host";
  }
  if (!addr.is_loopback())
    return "host " + addr.to_string() + " is not allowed: only loopback targets (127.0.0.0/8, localhost, ::1)";
  unsigned port = 80;
  if (u.has_port()) {
    const std::string_view p = u.port();
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
    if (ec != std::errc() || end != p.data() + p.size() || port == 0 || port > 65535)
      return "'" + std::string(s) + "' has a bad port (1 to 65535)";
  }
  out.endpoint = tcp::endpoint(addr, static_cast<unsigned short>(port));
  out.host_port = (addr.is_v6() ? "[" + addr.to_string() + "]" : addr.to_string()) + ":" + std::to_string(port);
  out.target = u.encoded_path().empty() ? std::string("/") : std::string(u.encoded_path());
  if (u.has_query()) out.target += "?" + std::string(u.encoded_query());
  return std::nullopt;
}

// Latency in microseconds, log-linear: exact below 2048 us, then 1024
// sub-buckets per power of two (relative error under 0.1%), so memory is
// fixed (~190 KB) however long the run.
class latency_histogram {
 public:
  latency_histogram() : counts_(bucket_count, 0) {}

  void record(std::uint64_t us) {
    us = std::min<std::uint64_t>(us, 0xFFFF'FFFFull);
    ++counts_[index_of(us)];
    ++total_;
    max_ = std::max(max_, us);
  }
  void merge(const latency_histogram& o) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    max_ = std::max(max_, o.max_);
  }
  // The value at quantile q (0..1): the middle of its bucket.
  double quantile(double q) const {
    if (total_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_) + 0.999999);
    rank = std::clamp<std::uint64_t>(rank, 1, total_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(middle_of(i), static_cast<double>(max_));
    }
    return static_cast<double>(max_);
  }
  std::uint64_t max() const { return max_; }

 private:
  static constexpr unsigned sub_bits = 10;
  static constexpr std::uint64_t sub = 1u << sub_bits;
  static constexpr std::size_t bucket_count = (32 - sub_bits + 1) * sub;

  static std::size_t index_of(std::uint64_t v) {
    if (v < 2 * sub) return static_cast<std::size_t>(v);
    const unsigned e = static_cast<unsigned>(std::bit_width(v)) - sub_bits - 1;
    return static_cast<std::size_t>((e + 1) * sub + ((v >> e) - sub));
  }
  static double middle_of(std::size_t i) {
    if (i < 2 * sub) return static_cast<double>(i);
    const std::uint64_t e = i / sub - 1, m = i % sub + sub;
    return static_cast<double>(m << e) + static_cast<double>((1ull << e) - 1) / 2;
  }

  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

// One thread's share of the run. Threading: touched only by the thread that
// runs `ctx` until that thread is joined; then read by main.
struct worker {
  const http_config* cfg = nullptr;
  loopback_url target;
  clock_type::time_point measure_start, measure_end;
  asio::io_context ctx{1};
  // The leader learnt from the last 307 followed on this thread; every
  // connection of the thread moves there before its next request.
  std::optional<loopback_url> leader;

  latency_histogram latency;
  std::uint64_t ok = 0;         // successful requests (2xx, and 404 on GET)
  std::uint64_t not_found = 0;  // of which GET answered 404
  std::uint64_t puts = 0, gets = 0;
  std::uint64_t redirects = 0;  // 307s followed (measured requests only)
  std::map<std::string, std::uint64_t> errors;
  clock_type::time_point last_done{};
  std::exception_ptr failure;
};

// A keep-alive connection; lives in its coroutine's frame.
struct connection {
  explicit connection(asio::any_io_executor ex) : stream(std::move(ex)) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  loopback_url peer;  // where `stream` is (or will be) connected
  bool open = false;

  void close() {
    beast::error_code ignored;
    stream.socket().close(ignored);
    buffer.consume(buffer.size());
    open = false;
  }
};

// The outcome of one logical request: an HTTP status, or a connection-level
// error name (status 0).
struct outcome {
  unsigned status = 0;
  const char* failure = nullptr;
  int redirects = 0;
  bool empty_range = false;  // etcd: a 200 range answer without "kvs" (key absent)
};

const char* io_failure(const beast::error_code& ec) {
  if (ec == beast::error::timeout) return "timeout";
  if (ec == asio::error::eof || ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
      ec == asio::error::broken_pipe || ec == asio::error::connection_aborted)
    return "closed";
  if (ec.category() == beast::error_code(http::error::end_of_stream).category()) return "protocol";
  return "io";
}

// Sends `req` on `c`, (re)connecting as needed, and follows 307s to the
// leader (at most cfg.max_redirects hops), remembering it in `w.leader`.
// `req`'s target and Host are rewritten on a redirect.
asio::awaitable<outcome> exchange(worker& w, connection& c, http::request<http::string_body>& req) {
  const auto timeout =
      std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(w.cfg->timeout_s));
  outcome out;
  for (int hop = 0; hop <= w.cfg->max_redirects; ++hop) {
    if (!c.open) {
      c.stream.expires_after(timeout);
      auto [ec] = co_await c.stream.async_connect(c.peer.endpoint, asio::as_tuple(asio::use_awaitable));
      if (ec) {
        c.close();
        out.failure = ec == beast::error::timeout ? "connect_timeout" : "connect";
        co_return out;
      }
      c.stream.socket().set_option(tcp::no_delay(true));
      c.open = true;
    }
    req.set(http::field::host, c.peer.host_port);
    c.stream.expires_after(timeout);
    auto [wec, wn] = co_await http::async_write(c.stream, req, asio::as_tuple(asio::use_awaitable));
    if (wec) {
      c.close();
      out.failure = io_failure(wec);
      co_return out;
    }
    http::response<http::string_body> res;
    c.stream.expires_after(timeout);
    auto [rec, rn] = co_await http::async_read(c.stream, c.buffer, res, asio::as_tuple(asio::use_awaitable));
    c.stream.expires_never();
    if (rec) {
      c.close();
      out.failure = io_failure(rec);
      co_return out;
    }
    if (!res.keep_alive()) c.close();
    if (res.result() != http::status::temporary_redirect) {
      out.status = res.result_int();
      out.empty_range = w.cfg->api == api_kind::etcd && out.status == 200 && req.target() == "/v3/kv/range" &&
                        res.body().find("\"kvs\"") == std::string::npos;
      co_return out;
    }
    // 307: the leader is elsewhere. Reconnect there and resend.
    if (hop == w.cfg->max_redirects) break;
    const auto loc = res.find(http::field::location);
    loopback_url next;
    if (loc == res.end() || parse_loopback_url(loc->value(), next)) {
      out.failure = "redirect_refused";
      co_return out;
    }
    ++out.redirects;
    c.close();
    c.peer = next;
    w.leader = next;
    req.target(next.target);
  }
  out.failure = "redirect_limit";
  co_return out;
}

// Waits `d`, or less if the measurement ends sooner.
asio::awaitable<void> pause(worker& w, clock_type::duration d) {
  const auto until = std::min(clock_type::now() + d, w.measure_end);
  if (until <= clock_type::now()) co_return;
  asio::steady_timer t(w.ctx, until);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

}  // namespace

std::string base64(std::string_view in) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const auto n = (static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16) |
                   (static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8) |
                   static_cast<unsigned char>(in[i + 2]);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  if (const std::size_t rest = in.size() - i; rest > 0) {
    auto n = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16;
    if (rest == 2) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += rest == 2 ? alphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

namespace {

std::string make_key(std::uint64_t n) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "k%015llu", static_cast<unsigned long long>(n));
  return std::string(buf, 16);
}

// One connection's closed loop. `w` outlives the coroutine: it is owned by
// run_http_bench, which joins the thread running w->ctx before reading it.
asio::awaitable<void> connection_loop(worker* w, std::uint64_t seed, std::uint64_t index) {
  const http_config& cfg = *w->cfg;
  connection c(co_await asio::this_coro::executor);
  c.peer = w->leader.value_or(w->target);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::uint64_t> key_dist(0, cfg.keys - 1);
  std::bernoulli_distribution coin(0.5);
  std::string value(cfg.value_size, 'v');
  for (std::size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>('a' + rng() % 26);
  const bool etcd = cfg.api == api_kind::etcd;
  // etcd: the value's JSON field is the same for every put of a connection.
  const std::string etcd_value_field = ",\"value\":\"" + base64(value) + "\"}";

  http::request<http::string_body> req;
  req.version(11);
  req.keep_alive(true);
  req.set(http::field::user_agent, "coraft-bench");
  // fill: this connection's keys are index, index + C, index + 2C... below
  // --keys, each put until it succeeds.
  std::uint64_t fill_next = index;
  for (std::uint64_t n = 0; n < max_requests_per_connection; ++n) {
    if (cfg.kind == workload::fill && fill_next >= cfg.keys) break;
    const asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none) break;
    const auto t0 = clock_type::now();
    if (t0 >= w->measure_end) break;
    const bool measured = t0 >= w->measure_start;

    // Move to the leader another connection of this thread found.
    if (w->leader && w->leader->endpoint != c.peer.endpoint) {
      c.close();
      c.peer = *w->leader;
    }
    const bool is_put =
        cfg.kind == workload::put || cfg.kind == workload::fill || (cfg.kind == workload::mixed && coin(rng));
    const std::string key = make_key(cfg.kind == workload::fill ? fill_next : key_dist(rng));
    if (etcd) {
      // Both verbs are POSTs of a JSON body to the gateway.
      req.method(http::verb::post);
      req.target(is_put ? "/v3/kv/put" : "/v3/kv/range");
      req.set(http::field::content_type, "application/json");
      req.body() = "{\"key\":\"" + base64(key) + "\"";
      req.body() += is_put ? etcd_value_field : std::string("}");
    } else if (is_put) {
      req.target("/v1/kv/" + key);
      req.method(http::verb::put);
      req.set(http::field::content_type, "application/octet-stream");
      req.body() = value;
    } else {
      req.target("/v1/kv/" + key);
      req.method(http::verb::get);
      req.erase(http::field::content_type);
      req.body().clear();
    }
    req.prepare_payload();

    const outcome o = co_await exchange(*w, c, req);
    const auto t1 = clock_type::now();
    const bool success = o.failure == nullptr && ((o.status >= 200 && o.status < 300) || (!is_put && o.status == 404));
    if (success && cfg.kind == workload::fill) fill_next += static_cast<std::uint64_t>(cfg.connections);
    if (measured) {
      w->last_done = std::max(w->last_done, t1);
      w->redirects += static_cast<std::uint64_t>(o.redirects);
      if (success) {
        ++w->ok;
        ++(is_put ? w->puts : w->gets);
        if (o.status == 404 || o.empty_range) ++w->not_found;
        w->latency.record(
            static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count()));
      } else {
        ++w->errors[o.failure != nullptr ? std::string(o.failure) : std::to_string(o.status)];
      }
    }
    if (o.failure != nullptr) {
      // The leader we remembered may be gone: start again from the target.
      if (w->leader && w->leader->endpoint == c.peer.endpoint) w->leader.reset();
      c.peer = w->target;
      co_await pause(*w, connect_error_backoff);
    } else if (o.status >= 500) {
      co_await pause(*w, server_error_backoff);
    }
  }
  c.close();
}

std::string format_us(double us) {
  char buf[32];
  if (us < 1000)
    std::snprintf(buf, sizeof buf, "%.0f us", us);
  else if (us < 1e6)
    std::snprintf(buf, sizeof buf, "%.2f ms", us / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.2f s", us / 1e6);
  return buf;
}

int usage(const std::string& why) {
  std::cerr << "coraft-bench: " << why << "\n"
            << "usage: coraft-bench http --target http://HOST:PORT [--connections 16] [--duration 10] "
               "[--value-size 128] [--workload put|get|mixed|fill] [--keys 100000] [--warmup 1] [--threads 1] "
               "[--timeout 10] [--max-redirects 5] [--api coraft|etcd] [--json]\n";
  return 2;
}

int run(const http_config& cfg, const loopback_url& target) {
  const int nthreads = std::min(cfg.threads, cfg.connections);
  const auto start = clock_type::now();
  const auto measure_start =
      start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(cfg.warmup_s));
  const auto measure_end =
      measure_start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(cfg.duration_s));
  std::vector<std::unique_ptr<worker>> workers;
  for (int i = 0; i < nthreads; ++i) {
    auto w = std::make_unique<worker>();
    w->cfg = &cfg;
    w->target = target;
    w->measure_start = measure_start;
    w->measure_end = measure_end;
    workers.push_back(std::move(w));
  }
  std::random_device rd;
  const std::uint64_t base_seed = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  for (int i = 0; i < cfg.connections; ++i) {
    worker* w = workers[static_cast<std::size_t>(i % nthreads)].get();
    const std::uint64_t seed = base_seed + static_cast<std::uint64_t>(i) * 0x9E3779B97F4A7C15ull;
    asio::co_spawn(w->ctx, connection_loop(w, seed, static_cast<std::uint64_t>(i)), [w](std::exception_ptr e) {
      if (e && !w->failure) w->failure = e;
    });
  }
  std::vector<std::thread> pool;
  for (int i = 1; i < nthreads; ++i) {
    worker* w = workers[static_cast<std::size_t>(i)].get();
    pool.emplace_back([w] { w->ctx.run(); });
  }
  workers[0]->ctx.run();
  for (auto& th : pool) th.join();

  latency_histogram lat;
  std::uint64_t ok = 0, not_found = 0, puts = 0, gets = 0, redirects = 0, error_total = 0;
  std::map<std::string, std::uint64_t> errors;
  // A fill ends when every key is written, usually before --duration: its
  // rate is over the time it took (a timed run's, over the whole duration).
  clock_type::time_point last_done = cfg.kind == workload::fill ? measure_start : measure_end;
  for (const auto& w : workers) {
    if (w->failure) {
      try {
        std::rethrow_exception(w->failure);
      } catch (const std::exception& e) {
        std::cerr << "coraft-bench: a connection failed: " << e.what() << "\n";
        return 1;
      }
    }
    lat.merge(w->latency);
    ok += w->ok;
    not_found += w->not_found;
    puts += w->puts;
    gets += w->gets;
    redirects += w->redirects;
    for (const auto& [k, v] : w->errors) {
      errors[k] += v;
      error_total += v;
    }
    last_done = std::max(last_done, w->last_done);
  }
  const double elapsed = std::chrono::duration<double>(last_done - measure_start).count();
  const double rate = static_cast<double>(ok) / elapsed;
  const double p50 = lat.quantile(0.50), p90 = lat.quantile(0.90), p99 = lat.quantile(0.99), p999 = lat.quantile(0.999);
  if (cfg.json) {
    std::string errs = "{";
    for (const auto& [k, v] : errors) {
      if (errs.size() > 1) errs += ",";
      errs += "\"" + k + "\":" + std::to_string(v);
    }
    errs += "}";
    std::printf(
        "{\"mode\":\"http\",\"api\":\"%s\",\"workload\":\"%s\",\"target\":\"http://"
        "%s\",\"connections\":%d,\"threads\":%d,"
        "\"value_size\":%zu,\"keys\":%llu,\"warmup_s\":%.2f,\"duration_s\":%.2f,\"requests\":%llu,"
        "\"puts\":%llu,\"gets\":%llu,\"not_found\":%llu,\"redirects\":%llu,\"ops_per_sec\":%.0f,"
        "\"p50_us\":%.0f,\"p90_us\":%.0f,\"p99_us\":%.0f,\"p999_us\":%.0f,\"max_us\":%llu,"
        "\"error_total\":%llu,\"errors\":%s}\n",
        cfg.api_name.c_str(), cfg.workload_name.c_str(), target.host_port.c_str(), cfg.connections, nthreads,
        cfg.value_size, static_cast<unsigned long long>(cfg.keys), cfg.warmup_s, elapsed,
        static_cast<unsigned long long>(ok), static_cast<unsigned long long>(puts),
        static_cast<unsigned long long>(gets), static_cast<unsigned long long>(not_found),
        static_cast<unsigned long long>(redirects), rate, p50, p90, p99, p999,
        static_cast<unsigned long long>(lat.max()), static_cast<unsigned long long>(error_total), errs.c_str());
  } else {
    std::printf(
        "http %s (%s api): http://%s, %d connections, %d thread%s, %zu-byte values, %llu keys, %.1f s after %.1f s "
        "warmup\n",
        cfg.workload_name.c_str(), cfg.api_name.c_str(), target.host_port.c_str(), cfg.connections, nthreads,
        nthreads == 1 ? "" : "s", cfg.value_size, static_cast<unsigned long long>(cfg.keys), elapsed, cfg.warmup_s);
    std::printf(
        "  %.0f requests/s (%llu ok: %llu put, %llu get of which %llu not found; %llu errors; "
        "%llu redirects followed)\n",
        rate, static_cast<unsigned long long>(ok), static_cast<unsigned long long>(puts),
        static_cast<unsigned long long>(gets), static_cast<unsigned long long>(not_found),
        static_cast<unsigned long long>(error_total), static_cast<unsigned long long>(redirects));
    std::printf("  latency p50 %s, p90 %s, p99 %s, p99.9 %s, max %s\n", format_us(p50).c_str(), format_us(p90).c_str(),
                format_us(p99).c_str(), format_us(p999).c_str(), format_us(static_cast<double>(lat.max())).c_str());
    if (!errors.empty()) {
      std::printf("  errors:");
      for (const auto& [k, v] : errors) std::printf(" %s=%llu", k.c_str(), static_cast<unsigned long long>(v));
      std::printf("\n");
    }
  }
  if (!cfg.cdf_path.empty()) {
    // "latency_us fraction" lines, for bench/plot.sh's latency CDFs.
    if (std::FILE* f = std::fopen(cfg.cdf_path.c_str(), "w")) {
      std::fprintf(f, "# coraft-bench http %s %s, %d connections: latency_us fraction\n", cfg.api_name.c_str(),
                   cfg.workload_name.c_str(), cfg.connections);
      for (int i = 1; i < 200; ++i) std::fprintf(f, "%.0f %.4f\n", lat.quantile(i / 200.0), i / 200.0);
      for (double q : {0.995, 0.999, 0.9999, 1.0}) std::fprintf(f, "%.0f %.4f\n", lat.quantile(q), q);
      std::fclose(f);
    } else {
      std::cerr << "coraft-bench: cannot write --cdf " << cfg.cdf_path << "\n";
    }
  }
  if (ok == 0) {
    std::cerr << "coraft-bench: no request succeeded against http://" << target.host_port << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int run_http_bench(int argc, char** argv) {
  http_config cfg;
  po::options_description desc("coraft-bench http options");
  desc.add_options()("help,h", "show this help")("target", po::value(&cfg.target),
                                                 "http://HOST:PORT of any node (required; loopback only)")(
      "connections", po::value(&cfg.connections)->default_value(16), "keep-alive connections (1-10000)")(
      "duration", po::value(&cfg.duration_s)->default_value(10), "measured seconds (0.1-3600)")(
      "warmup", po::value(&cfg.warmup_s)->default_value(1), "seconds of load before measuring (0-600)")(
      "value-size", po::value(&cfg.value_size)->default_value(128), "bytes per PUT value (0-1048576)")(
      "workload", po::value(&cfg.workload_name)->default_value("put"), "put, get or mixed (50/50)")(
      "keys", po::value(&cfg.keys)->default_value(100000), "key space, drawn uniformly (1-1000000000000000)")(
      "threads", po::value(&cfg.threads)->default_value(1), "threads, one io_context each (1-64)")(
      "timeout", po::value(&cfg.timeout_s)->default_value(10), "connect/write/read timeout in seconds (0.1-600)")(
      "max-redirects", po::value(&cfg.max_redirects)->default_value(5), "307 hops followed per request (0-20)")(
      "api", po::value(&cfg.api_name)->default_value("coraft"),
      "coraft (/v1/kv) or etcd (v3 JSON gateway: POST /v3/kv/put, /v3/kv/range)")(
      "cdf", po::value(&cfg.cdf_path), "also write the latency CDF (latency_us fraction) to this file")(
      "json", po::bool_switch(&cfg.json), "print one JSON object");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    return usage(e.what());
  }
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  if (cfg.target.empty()) return usage("--target is required, e.g. --target http://127.0.0.11:8001");
  if (cfg.connections < 1 || cfg.connections > 10000) return usage("--connections must be 1 to 10000");
  if (cfg.duration_s < 0.1 || cfg.duration_s > 3600) return usage("--duration must be 0.1 to 3600 seconds");
  if (cfg.warmup_s < 0 || cfg.warmup_s > 600) return usage("--warmup must be 0 to 600 seconds");
  if (cfg.value_size > (1u << 20)) return usage("--value-size must be at most 1048576");
  if (cfg.keys < 1 || cfg.keys > 1'000'000'000'000'000ull) return usage("--keys must be 1 to 1000000000000000");
  if (cfg.threads < 1 || cfg.threads > 64) return usage("--threads must be 1 to 64");
  if (cfg.timeout_s < 0.1 || cfg.timeout_s > 600) return usage("--timeout must be 0.1 to 600 seconds");
  if (cfg.max_redirects < 0 || cfg.max_redirects > 20) return usage("--max-redirects must be 0 to 20");
  if (cfg.workload_name == "put")
    cfg.kind = workload::put;
  else if (cfg.workload_name == "get")
    cfg.kind = workload::get;
  else if (cfg.workload_name == "mixed")
    cfg.kind = workload::mixed;
  else if (cfg.workload_name == "fill")
    cfg.kind = workload::fill;
  else
    return usage("--workload must be put, get, mixed or fill");
  if (cfg.api_name == "coraft")
    cfg.api = api_kind::coraft;
  else if (cfg.api_name == "etcd")
    cfg.api = api_kind::etcd;
  else
    return usage("--api must be coraft or etcd");
  loopback_url target;
  if (auto bad = parse_loopback_url(cfg.target, target)) return usage("--target: " + *bad);
  if (target.target != "/") return usage("--target must be http://HOST:PORT with no path");
  return run(cfg, target);
}
