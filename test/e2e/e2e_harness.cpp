// e2e_harness.cpp — processes, sockets and polling for the e2e stories.
// See e2e_harness.hpp.
#include "e2e_harness.hpp"

#include "process.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/results_collector.hpp>
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#ifndef CORAFT_KV_BINARY
#error "CORAFT_KV_BINARY must name the coraft-kv binary under test"
#endif

namespace e2e {

namespace json = boost::json;

namespace {

int remaining_ms(clock_type::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

bool split_host_port(const std::string& host_port, std::string& host, std::uint16_t& port) {
  const auto colon = host_port.rfind(':');
  if (colon == std::string::npos) return false;
  host = host_port.substr(0, colon);
  port = static_cast<std::uint16_t>(std::atoi(host_port.c_str() + colon + 1));
  return port != 0;
}

// A non-blocking TCP connection to host_port, or -1 (`why` says why).
int connect_before(const std::string& host_port, clock_type::time_point deadline, std::string& why) {
  std::string host;
  std::uint16_t port = 0;
  sockaddr_in sa{};
  if (!split_host_port(host_port, host, port) || inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
    why = "bad address " + host_port;
    return -1;
  }
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    why = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) return fd;
  if (errno != EINPROGRESS) {
    why = "connect " + host_port + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, remaining_ms(deadline)) <= 0) {
    why = "connect " + host_port + ": timed out";
    ::close(fd);
    return -1;
  }
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    why = "connect " + host_port + ": " + std::strerror(err);
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends everything before the deadline; false (with `why`) otherwise.
bool send_before(int fd, std::string_view bytes, clock_type::time_point deadline, std::string& why) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, remaining_ms(deadline)) <= 0) {
        why = "send timed out";
        return false;
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    why = std::string("send: ") + std::strerror(errno);
    return false;
  }
  return true;
}

// Reads until EOF/reset (true) or the deadline (false).
bool read_until_closed(int fd, clock_type::time_point deadline, std::string& out, bool& reset) {
  char buf[16384];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) return true;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      pollfd p{fd, POLLIN, 0};
      const int left = remaining_ms(deadline);
      if (left == 0 || ::poll(&p, 1, left) <= 0) return false;
      continue;
    }
    reset = true;
    return true;
  }
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Parses a whole HTTP/1.1 response (read to EOF).
void parse_response(const std::string& raw, http_reply& r) {
  const auto end_of_head = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || end_of_head == std::string::npos) {
    r.failure = "not an HTTP response (" + std::to_string(raw.size()) + " bytes)";
    return;
  }
  std::istringstream head(raw.substr(0, end_of_head));
  std::string line;
  std::getline(head, line);
  const auto sp = line.find(' ');
  const int status = sp == std::string::npos ? 0 : std::atoi(line.c_str() + sp + 1);
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string v = line.substr(colon + 1);
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    r.headers[lower(line.substr(0, colon))] = v;
  }
  r.body = raw.substr(end_of_head + 4);
  if (auto it = r.headers.find("content-length"); it != r.headers.end()) {
    const auto len = static_cast<std::size_t>(std::strtoull(it->second.c_str(), nullptr, 10));
    if (r.body.size() < len) {
      r.failure = "truncated body: " + std::to_string(r.body.size()) + " of " + it->second + " bytes";
      return;
    }
    r.body.resize(len);
  }
  r.status = status;
}

}  // namespace

// ---- HTTP client -------------------------------------------------------------

std::string http_reply::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

json::value http_reply::json() const {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  return ec ? json::value() : v;
}

std::string http_reply::brief() const {
  if (!answered()) return "no answer (" + failure + ")";
  std::string b = body.size() > 300 ? body.substr(0, 300) + "..." : body;
  while (!b.empty() && b.back() == '\n') b.pop_back();
  return std::to_string(status) + " " + b;
}

http_reply http_call(const std::string& host_port, const std::string& method, const std::string& target,
                     const std::string& body, const std::vector<std::pair<std::string, std::string>>& extra_headers,
                     std::chrono::milliseconds timeout) {
  http_reply r;
  const auto deadline = clock_type::now() + timeout;
  const int fd = connect_before(host_port, deadline, r.failure);
  if (fd < 0) return r;
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + host_port + "\r\nConnection: close\r\n";
  if (!body.empty() || method == "PUT" || method == "POST")
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  for (const auto& [k, v] : extra_headers) req += k + ": " + v + "\r\n";
  req += "\r\n";
  req += body;
  std::string raw;
  bool reset = false;
  if (send_before(fd, req, deadline, r.failure)) {
    if (!read_until_closed(fd, deadline, raw, reset))
      r.failure = "timed out after " + std::to_string(timeout.count()) + " ms";
    else if (reset && raw.empty())
      r.failure = "connection reset";
    else
      parse_response(raw, r);
  }
  ::close(fd);
  return r;
}

raw_outcome raw_exchange(const std::string& host_port, const std::string& bytes, std::chrono::milliseconds timeout,
                         bool shut_write_after) {
  raw_outcome o;
  const auto deadline = clock_type::now() + timeout;
  std::string why;
  const int fd = connect_before(host_port, deadline, why);
  if (fd < 0) return o;
  o.connected = true;
  bool reset = false;
  if (!send_before(fd, bytes, deadline, why)) reset = true;  // the peer may close while we write
  if (shut_write_after) ::shutdown(fd, SHUT_WR);
  if (!reset) {
    o.closed_by_peer = read_until_closed(fd, deadline, o.received, reset);
    o.timed_out = !o.closed_by_peer;
  } else {
    o.closed_by_peer = true;
  }
  ::close(fd);
  return o;
}

raw_connection::raw_connection(const std::string& host_port, std::chrono::milliseconds timeout) {
  std::string why;
  fd_ = connect_before(host_port, clock_type::now() + timeout, why);
}

raw_connection::~raw_connection() {
  if (fd_ >= 0) ::close(fd_);
}

bool raw_connection::send(const std::string& bytes) {
  std::string why;
  return fd_ >= 0 && send_before(fd_, bytes, clock_type::now() + 2000ms, why);
}

bool raw_connection::wait_closed_by_peer(std::chrono::milliseconds timeout) {
  if (fd_ < 0) return false;
  std::string ignored;
  bool reset = false;
  return read_until_closed(fd_, clock_type::now() + timeout, ignored, reset);
}

std::optional<std::pair<std::string, std::string>> split_location(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return std::nullopt;
  const auto slash = url.find('/', scheme.size());
  if (slash == std::string::npos) return std::nullopt;
  return std::make_pair(url.substr(scheme.size(), slash - scheme.size()), url.substr(slash));
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// ---- processes ------------------------------------------------------------------

std::string kv_binary() {
  const char* e = std::getenv("CORAFT_KV_BINARY");
  return e != nullptr && *e != '\0' ? e : CORAFT_KV_BINARY;
}

std::string kv_faults_binary() {
  const char* e = std::getenv("CORAFT_KV_FAULTS_BINARY");
  if (e != nullptr && *e != '\0') return e;
#ifdef CORAFT_KV_FAULTS_BINARY
  return CORAFT_KV_FAULTS_BINARY;
#else
  return {};
#endif
}

namespace {

using coraft::chaos::decode_status;
using coraft::chaos::reap_within;

// coraft-kv (or how.binary) with `args`, output appended to `log`, dying
// with the test (process.hpp).
pid_t spawn(const std::vector<std::string>& args, const std::filesystem::path& log, const launch& how = {}) {
  std::vector<std::string> argv{how.binary.empty() ? kv_binary() : how.binary};
  argv.insert(argv.end(), args.begin(), args.end());
  coraft::chaos::spawn_options so;
  so.env = how.env;
  so.log = log;
  const pid_t pid = coraft::chaos::spawn(argv, so);
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  return pid;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

run_result run_to_exit(const std::vector<std::string>& args, std::chrono::milliseconds timeout, const launch& how) {
  char tmpl[] = "/tmp/coraft-e2e-run-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  ::close(fd);
  const std::filesystem::path log = tmpl;
  const pid_t pid = spawn(args, log, how);
  run_result r;
  if (auto code = reap_within(pid, timeout)) {
    r.exit_code = *code;
  } else {
    ::kill(pid, SIGKILL);
    r.exit_code = reap_within(pid, 5000ms).value_or(-997);
    r.output = "[e2e: still running after " + std::to_string(timeout.count()) + " ms; killed]\n";
  }
  r.output += read_file(log);
  std::filesystem::remove(log);
  return r;
}

// ---- kv_cluster ---------------------------------------------------------------------

kv_cluster::kv_cluster(int slot_no, int size, std::vector<std::string> extra_flags)
    : base_slot_(slot_no), extra_flags_(std::move(extra_flags)) {
  char tmpl[] = "/tmp/coraft-e2e-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  const int base = 28000 + 100 * slot_no;
  for (int i = 1; i <= size; ++i) {
    node_slot n;
    n.id = i;
    const std::string host = "127.0.0." + std::to_string(10 + i);
    n.raft = host + ":" + std::to_string(base + 1);
    n.http = host + ":" + std::to_string(base + 2);
    n.data_dir = dir_ / ("node" + std::to_string(i));
    n.log = dir_ / ("node" + std::to_string(i) + ".log");
    if (!cluster_.empty()) cluster_ += ",";
    cluster_ += std::to_string(i) + "=" + n.raft + "/" + n.http;
    nodes_.push_back(std::move(n));
  }
}

kv_cluster::~kv_cluster() {
  for (auto& n : nodes_) {
    if (n.pid > 0) {
      ::kill(n.pid, SIGKILL);
      reap_within(n.pid, 5000ms);
      n.pid = -1;
    }
  }
  bool failed = std::uncaught_exceptions() > 0;
  try {
    const auto& tc = boost::unit_test::framework::current_test_case();
    failed = failed || !boost::unit_test::results_collector.results(tc.p_id).passed();
  } catch (...) {
  }
  if (failed || std::getenv("CORAFT_E2E_LOGS") != nullptr) std::cerr << logs();
  std::error_code ec;
  if (std::getenv("CORAFT_E2E_KEEP") == nullptr)
    std::filesystem::remove_all(dir_, ec);
  else
    std::cerr << "e2e: kept " << dir_ << "\n";
}

int kv_cluster::add_joiner() {
  const int base = 28000 + 100 * base_slot_;
  node_slot n;
  n.id = size() + 1;
  const std::string host = "127.0.0." + std::to_string(10 + n.id);
  n.raft = host + ":" + std::to_string(base + 1);
  n.http = host + ":" + std::to_string(base + 2);
  n.data_dir = dir_ / ("node" + std::to_string(n.id));
  n.log = dir_ / ("node" + std::to_string(n.id) + ".log");
  n.joiner = true;
  nodes_.push_back(std::move(n));
  return size();
}

std::vector<int> kv_cluster::ids() const {
  std::vector<int> out;
  for (const auto& n : nodes_) out.push_back(n.id);
  return out;
}

kv_cluster::node_slot& kv_cluster::slot(int id) { return nodes_.at(static_cast<std::size_t>(id - 1)); }
const kv_cluster::node_slot& kv_cluster::slot(int id) const { return nodes_.at(static_cast<std::size_t>(id - 1)); }
std::string kv_cluster::http_addr(int id) const { return slot(id).http; }
std::string kv_cluster::raft_addr(int id) const { return slot(id).raft; }
std::filesystem::path kv_cluster::data_dir(int id) const { return slot(id).data_dir; }
pid_t kv_cluster::pid(int id) const { return slot(id).pid; }

int kv_cluster::id_of_http(const std::string& host_port) const {
  for (const auto& n : nodes_)
    if (n.http == host_port) return n.id;
  return 0;
}

std::vector<std::string> kv_cluster::node_args(int id, const std::vector<std::string>& extra, const launch& how) const {
  const node_slot& n = slot(id);
  const std::string cluster = how.cluster ? *how.cluster
                              : n.joiner  ? std::to_string(id) + "=" + n.raft + "/" + n.http
                                          : cluster_;
  std::vector<std::string> args{"--id", std::to_string(id), "--cluster", cluster, "--data-dir", n.data_dir.string()};
  args.insert(args.end(), extra_flags_.begin(), extra_flags_.end());
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

void kv_cluster::note_start(node_slot& n, const launch& how) {
  std::ofstream log(n.log, std::ios::app);
  log << "==== e2e: start #" << ++n.starts << " of node " << n.id;
  if (!how.binary.empty()) log << " (" << how.binary << ")";
  for (const auto& e : how.env) log << " " << e;
  if (how.cluster) log << " --cluster " << *how.cluster;
  log << " ====\n";
}

run_result kv_cluster::run_node_to_exit(int id, const std::vector<std::string>& extra,
                                        std::chrono::milliseconds timeout, const launch& how) {
  node_slot& n = slot(id);
  BOOST_REQUIRE_MESSAGE(n.pid < 0, "node " << id << " is already running");
  note_start(n, how);
  run_result r = run_to_exit(node_args(id, extra, how), timeout, how);
  std::ofstream log(n.log, std::ios::app);
  log << r.output << "==== e2e: node " << id << " exited: status " << r.exit_code << " ====\n";
  return r;
}

std::optional<int> kv_cluster::start_or_exit(int id, const std::vector<std::string>& extra, const launch& how) {
  node_slot& n = slot(id);
  BOOST_REQUIRE_MESSAGE(n.pid < 0, "node " << id << " is already running");
  note_start(n, how);
  n.exit_status.reset();
  n.pid = spawn(node_args(id, extra, how), n.log, how);
  const bool settled = eventually(10s, [&] {
    if (!running(id)) return true;
    return call(id, "GET", "/v1/status", {}, {}, 1000ms).status == 200;
  });
  BOOST_REQUIRE_MESSAGE(settled,
                        "node " << id << " neither answered GET /v1/status nor exited within 10 s of starting");
  if (running(id)) return std::nullopt;
  return n.exit_status.value_or(-999);
}

void kv_cluster::start(int id, const std::vector<std::string>& extra, const launch& how) {
  node_slot& n = slot(id);
  BOOST_REQUIRE_MESSAGE(n.pid < 0, "node " << id << " is already running");
  note_start(n, how);
  n.exit_status.reset();
  n.pid = spawn(node_args(id, extra, how), n.log, how);
  // Up means: the HTTP port answers. (The raft port is bound before it.)
  const bool up = eventually(10s, [&] {
    if (!running(id)) return true;
    return call(id, "GET", "/v1/status", {}, {}, 1000ms).status == 200;
  });
  BOOST_REQUIRE_MESSAGE(running(id), "node " << id << " exited during start-up; its log:\n" << read_file(n.log));
  BOOST_REQUIRE_MESSAGE(up, "node " << id << " did not answer GET /v1/status within 10 s of starting");
}

void kv_cluster::start_all() {
  // Fork them all before waiting for any, as an operator's script would.
  for (auto& n : nodes_) {
    if (n.joiner) continue;
    BOOST_REQUIRE(n.pid < 0);
    note_start(n, {});
    n.exit_status.reset();
    n.pid = spawn(node_args(n.id, {}, {}), n.log);
  }
  for (auto& n : nodes_) {
    if (n.joiner) continue;
    const int id = n.id;
    const bool up = eventually(10s, [&] {
      if (!running(id)) return true;
      return call(id, "GET", "/v1/status", {}, {}, 1000ms).status == 200;
    });
    BOOST_REQUIRE_MESSAGE(running(id), "node " << id << " exited during start-up; its log:\n" << read_file(n.log));
    BOOST_REQUIRE_MESSAGE(up, "node " << id << " did not answer GET /v1/status within 10 s of starting");
  }
}

void kv_cluster::crash(int id) {
  node_slot& n = slot(id);
  BOOST_REQUIRE_MESSAGE(n.pid > 0, "node " << id << " is not running");
  ::kill(n.pid, SIGKILL);
  const auto st = reap_within(n.pid, 5000ms);
  BOOST_REQUIRE_MESSAGE(st.has_value(), "node " << id << " survived SIGKILL for 5 s");
  n.pid = -1;
}

int kv_cluster::terminate(int id, std::chrono::milliseconds bound) {
  node_slot& n = slot(id);
  BOOST_REQUIRE_MESSAGE(n.pid > 0, "node " << id << " is not running");
  ::kill(n.pid, SIGTERM);
  auto st = reap_within(n.pid, bound);
  if (!st) {
    ::kill(n.pid, SIGKILL);
    reap_within(n.pid, 5000ms);
    st = -1000;
  }
  n.pid = -1;
  return *st;
}

std::map<int, int> kv_cluster::terminate_all(std::chrono::milliseconds bound) {
  std::map<int, int> out;
  for (auto& n : nodes_)
    if (n.pid > 0) ::kill(n.pid, SIGTERM);
  const auto deadline = clock_type::now() + bound;
  for (auto& n : nodes_) {
    if (n.pid <= 0) continue;
    auto st = reap_within(n.pid, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()));
    if (!st) {
      ::kill(n.pid, SIGKILL);
      reap_within(n.pid, 5000ms);
      st = -1000;
    }
    n.pid = -1;
    out[n.id] = *st;
  }
  return out;
}

void kv_cluster::crash_all() {
  for (auto& n : nodes_)
    if (n.pid > 0) ::kill(n.pid, SIGKILL);
  for (auto& n : nodes_) {
    if (n.pid <= 0) continue;
    BOOST_REQUIRE_MESSAGE(reap_within(n.pid, 5000ms).has_value(), "node " << n.id << " survived SIGKILL for 5 s");
    n.pid = -1;
  }
}

bool kv_cluster::running(int id) {
  node_slot& n = slot(id);
  if (n.pid <= 0) return false;
  int st = 0;
  const pid_t r = ::waitpid(n.pid, &st, WNOHANG);
  if (r == n.pid) {
    std::ofstream log(n.log, std::ios::app);
    log << "==== e2e: node " << id << " exited on its own: status " << decode_status(st) << " ====\n";
    n.exit_status = decode_status(st);
    n.pid = -1;
    return false;
  }
  return true;
}

std::optional<int> kv_cluster::wait_exit(int id, std::chrono::milliseconds within) {
  if (!eventually(
          within, [&] { return !running(id); }, 10ms))
    return std::nullopt;
  return slot(id).exit_status;
}

std::vector<int> kv_cluster::running_ids() {
  std::vector<int> out;
  for (const auto& n : nodes_)
    if (running(n.id)) out.push_back(n.id);
  return out;
}

std::vector<int> kv_cluster::running_or_all(const std::vector<int>& among) const {
  if (!among.empty()) return among;
  std::vector<int> out;
  for (const auto& n : nodes_)
    if (n.pid > 0) out.push_back(n.id);
  return out;
}

http_reply kv_cluster::call(int id, const std::string& method, const std::string& target, const std::string& body,
                            const std::vector<std::pair<std::string, std::string>>& extra_headers,
                            std::chrono::milliseconds timeout) const {
  return http_call(http_addr(id), method, target, body, extra_headers, timeout);
}

http_reply kv_cluster::call_following(int id, const std::string& method, const std::string& target,
                                      const std::string& body) const {
  std::string where = http_addr(id), what = target;
  http_reply r;
  for (int hop = 0; hop < 4; ++hop) {
    r = http_call(where, method, what, body);
    if (r.status != 307) return r;
    auto loc = split_location(r.header("location"));
    if (!loc) return r;
    std::tie(where, what) = *loc;
  }
  return r;
}

std::optional<node_status> kv_cluster::status(int id) const {
  const http_reply r = call(id, "GET", "/v1/status", {}, {}, 2000ms);
  if (r.status != 200) return std::nullopt;
  const json::value v = r.json();
  if (!v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  node_status s;
  try {
    s.id = static_cast<int>(o.at("id").to_number<std::int64_t>());
    s.role = std::string(o.at("role").as_string());
    s.term = o.at("term").to_number<std::uint64_t>();
    s.leader = o.at("leader").is_null() ? 0 : static_cast<int>(o.at("leader").to_number<std::int64_t>());
    s.commit_index = o.at("commit_index").to_number<std::uint64_t>();
    s.applied_index = o.at("applied_index").to_number<std::uint64_t>();
    s.last_log_index = o.at("last_log_index").to_number<std::uint64_t>();
  } catch (const std::exception&) {
    return std::nullopt;
  }
  s.raw = v;
  return s;
}

bool kv_cluster::eventually(std::chrono::milliseconds within, const std::function<bool()>& probe,
                            std::chrono::milliseconds every) {
  const auto deadline = clock_type::now() + within;
  while (true) {
    if (probe()) return true;
    if (clock_type::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

std::optional<node_status> kv_cluster::wait_for_leader(std::chrono::milliseconds within, std::uint64_t min_term,
                                                       const std::vector<int>& among) const {
  std::optional<node_status> found;
  const auto ids = running_or_all(among);
  eventually(
      within,
      [&] {
        for (int id : ids) {
          auto s = status(id);
          if (s && s->role == "leader" && s->term >= min_term) {
            found = s;
            return true;
          }
        }
        return false;
      },
      10ms);
  return found;
}

std::optional<int> kv_cluster::wait_for_agreement(std::chrono::milliseconds within,
                                                  const std::vector<int>& among) const {
  std::optional<int> agreed;
  const auto ids = running_or_all(among);
  eventually(within, [&] {
    std::optional<std::uint64_t> term;
    int leader = 0;
    bool leader_says_so = false;
    for (int id : ids) {
      auto s = status(id);
      if (!s || s->leader == 0) return false;
      if (term && (*term != s->term || leader != s->leader)) return false;
      term = s->term;
      leader = s->leader;
      if (s->id == s->leader && s->role == "leader") leader_says_so = true;
    }
    const bool leader_polled = std::find(ids.begin(), ids.end(), leader) != ids.end();
    if (leader_polled && !leader_says_so) return false;
    agreed = leader;
    return true;
  });
  return agreed;
}

bool kv_cluster::wait_applied(int id, std::uint64_t index, std::chrono::milliseconds within) const {
  return eventually(within, [&] {
    auto s = status(id);
    return s && s->applied_index >= index;
  });
}

std::string kv_cluster::logs() const {
  std::ostringstream os;
  for (const auto& n : nodes_) {
    std::string text = read_file(n.log);
    constexpr std::size_t keep = 48 * 1024;
    if (text.size() > keep)
      text = "[... " + std::to_string(text.size() - keep) + " bytes cut ...]\n" + text.substr(text.size() - keep);
    os << "---------------- node " << n.id << " log (" << n.log.string() << ") ----------------\n" << text;
  }
  return os.str();
}

std::string kv_cluster::log_of(int id) const { return read_file(slot(id).log); }

}  // namespace e2e
