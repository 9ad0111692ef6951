// coraft-bench failover — how long a 3-node cluster refuses writes after its
// leader is killed with SIGKILL.
//
//   coraft-bench failover --system coraft --runs 20 [--json]
//   coraft-bench failover --system etcd --runs 20 --etcd-heartbeat-ms 50 --etcd-election-ms 300
//
// Starts the cluster itself on loopback (coraft-kv on 127.0.0.41-43, raft
// :7201, http :8201; or etcd on 127.0.0.51-53, client :2379, peer :2380),
// data in a fresh mkdtemp directory that is removed at the end, each node's
// output in a log file there (--keep keeps it). Children get
// PR_SET_PDEATHSIG, so they die with this process however it ends; Ctrl-C
// and SIGTERM stop them first.
//
// One writer puts continuously (16-byte keys, 128-byte values; coraft:
// PUT /v1/kv/K; etcd: POST /v3/kv/put on its JSON gateway), one keep-alive
// connection per node, moving to the next node after any failure (refused,
// reset, timeout, 307, 5xx) with a 2 ms pause. A closed loop alone would
// measure the client's timeout rather than the cluster: an etcd follower
// holds a put it forwarded to a leader that died until the request times
// out. So from the kill on, a prober also starts a fresh put every
// --probe-interval-ms (5) on a new connection, round robin over the three
// nodes, each with a 2 s timeout, until one write succeeds.
// Each run: wait until all three nodes answer, a leader is known and the
// writer succeeded within the last 200 ms, --settle seconds after the last
// restart; sleep a random 0-100 ms (so the kill lands anywhere in the
// heartbeat interval); SIGKILL the leader (found through GET /v1/status or
// POST /v3/maintenance/status). The run's time is from the kill to the end
// of the first successful write that *started* after the kill. Then the
// killed node restarts on its data and the next run begins. A run with no
// success within --recover-timeout counts as failed (exit code 1).
#include "failover.hpp"

#include "http_load.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/program_options.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace po = boost::program_options;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

struct failover_config {
  std::string system = "coraft";
  int runs = 10;
  double settle_s = 2;
  double recover_timeout_s = 10;
  std::string kv_binary;     // default: ../apps/coraft-kv next to this binary
  std::string coraft_flags;  // extra coraft-kv flags, space separated
  std::string etcd_binary = "etcd";
  int etcd_heartbeat_ms = 50;
  int etcd_election_ms = 300;
  std::string data_dir;  // default: mkdtemp
  bool keep = false;
  bool json = false;
  int probe_interval_ms = 5;
};

struct node_proc {
  int id = 0;          // 1-3
  tcp::endpoint http;  // coraft HTTP or etcd client address
  std::vector<std::string> argv;
  std::string log_path;
  pid_t pid = -1;
};

// Starts argv with stdout and stderr appended to log_path. The child dies
// with this process (PR_SET_PDEATHSIG).
pid_t spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);
  const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execvp(args[0], args.data());
  std::perror(("exec " + argv[0]).c_str());
  ::_exit(127);
}

// SIGTERM, then SIGKILL after 5 s; reaps the child.
void stop_process(pid_t& pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 500; ++i) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) {
      pid = -1;
      return;
    }
    ::usleep(10'000);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  pid = -1;
}

struct reply {
  unsigned status = 0;  // 0: no HTTP answer (refused, reset, timeout)
  std::string body;
};

// A keep-alive HTTP/1.1 connection to one node.
class node_link {
 public:
  node_link(asio::any_io_executor ex, tcp::endpoint ep) : stream_(std::move(ex)), ep_(ep) {}

  asio::awaitable<reply> call(http::verb verb, std::string target, std::string body, clock_type::duration timeout) {
    reply r;
    if (!open_) {
      stream_.expires_after(timeout);
      auto [ec] = co_await stream_.async_connect(ep_, asio::as_tuple(asio::use_awaitable));
      if (ec) {
        close();
        co_return r;
      }
      stream_.socket().set_option(tcp::no_delay(true));
      open_ = true;
    }
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, ep_.address().to_string() + ":" + std::to_string(ep_.port()));
    req.keep_alive(true);
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
    req.prepare_payload();
    stream_.expires_after(timeout);
    auto [wec, wn] = co_await http::async_write(stream_, req, asio::as_tuple(asio::use_awaitable));
    if (wec) {
      close();
      co_return r;
    }
    http::response<http::string_body> res;
    auto [rec, rn] = co_await http::async_read(stream_, buffer_, res, asio::as_tuple(asio::use_awaitable));
    stream_.expires_never();
    if (rec) {
      close();
      co_return r;
    }
    if (!res.keep_alive()) close();
    r.status = res.result_int();
    r.body = std::move(res.body());
    co_return r;
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().close(ignored);
    buffer_.consume(buffer_.size());
    open_ = false;
  }

 private:
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  tcp::endpoint ep_;
  bool open_ = false;
};

class failover_bench {
 public:
  failover_bench(asio::io_context& ctx, const failover_config& cfg, std::filesystem::path dir)
      : ctx_(ctx), cfg_(cfg), dir_(std::move(dir)), etcd_(cfg.system == "etcd"), rng_(std::random_device{}()) {
    std::string cluster;
    for (int i = 1; i <= 3; ++i) {
      node_proc n;
      n.id = i;
      const std::string host = (etcd_ ? "127.0.0.5" : "127.0.0.4") + std::to_string(i);
      n.http = tcp::endpoint(asio::ip::make_address_v4(host), etcd_ ? 2379 : 8201);
      n.log_path = (dir_ / ("node" + std::to_string(i) + ".log")).string();
      nodes_[static_cast<std::size_t>(i - 1)] = n;
      if (!cluster.empty()) cluster += ",";
      cluster += etcd_ ? "e" + std::to_string(i) + "=http://" + host + ":2380"
                       : std::to_string(i) + "=" + host + ":7201/" + host + ":8201";
    }
    for (auto& n : nodes_) {
      const std::string host = n.http.address().to_string();
      const std::string data = (dir_ / ("n" + std::to_string(n.id))).string();
      if (etcd_) {
        n.argv = {cfg_.etcd_binary,
                  "--name",
                  "e" + std::to_string(n.id),
                  "--data-dir",
                  data,
                  "--listen-client-urls",
                  "http://" + host + ":2379",
                  "--advertise-client-urls",
                  "http://" + host + ":2379",
                  "--listen-peer-urls",
                  "http://" + host + ":2380",
                  "--initial-advertise-peer-urls",
                  "http://" + host + ":2380",
                  "--initial-cluster",
                  cluster,
                  "--initial-cluster-state",
                  "new",
                  "--initial-cluster-token",
                  "coraft-failover",
                  "--heartbeat-interval",
                  std::to_string(cfg_.etcd_heartbeat_ms),
                  "--election-timeout",
                  std::to_string(cfg_.etcd_election_ms),
                  "--logger",
                  "zap",
                  "--log-level",
                  "warn"};
      } else {
        n.argv = {cfg_.kv_binary, "--id", std::to_string(n.id), "--cluster", cluster,
                  "--data-dir",   data,   "--log-level",        "warn"};
        std::istringstream extra(cfg_.coraft_flags);
        for (std::string f; extra >> f;) n.argv.push_back(f);
      }
      links_.emplace_back(ctx_.get_executor(), n.http);
      probes_.emplace_back(ctx_.get_executor(), n.http);
    }
  }

  ~failover_bench() { stop_all(); }

  void stop_all() {
    stopping_ = true;
    for (auto& n : nodes_) stop_process(n.pid);
  }

  asio::awaitable<int> run() {
    for (auto& n : nodes_) n.pid = spawn(n.argv, n.log_path);
    if (!co_await wait_ready(30s)) {
      std::cerr << "coraft-bench failover: the cluster did not become ready in 30 s; logs in " << dir_
                << " (use --keep)\n";
      co_return 1;
    }
    asio::co_spawn(ctx_, writer(), [](std::exception_ptr) {});
    int failed = 0;
    for (int run = 1; run <= cfg_.runs && !stopping_; ++run) {
      if (!co_await wait_ready(30s)) {
        std::cerr << "coraft-bench failover: run " << run << ": not ready after 30 s\n";
        failed = cfg_.runs - run + 1;
        break;
      }
      co_await sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 99'999)(rng_)));
      const std::optional<int> leader = co_await find_leader();
      if (!leader) {
        --run;
        continue;
      }
      node_proc& victim = nodes_[static_cast<std::size_t>(*leader - 1)];
      recovered_at_.reset();
      kill_time_ = clock_type::now();
      ::kill(victim.pid, SIGKILL);
      ::waitpid(victim.pid, nullptr, 0);
      victim.pid = -1;
      const auto deadline = kill_time_ + std::chrono::duration_cast<clock_type::duration>(
                                             std::chrono::duration<double>(cfg_.recover_timeout_s));
      const auto interval = std::chrono::milliseconds(cfg_.probe_interval_ms);
      for (std::size_t k = 0; !recovered_at_ && clock_type::now() < deadline && !stopping_; ++k) {
        ++probes_in_flight_;
        asio::co_spawn(ctx_, probe_write(k % nodes_.size()), [this](std::exception_ptr) { --probes_in_flight_; });
        co_await sleep_for(interval);
      }
      if (recovered_at_) {
        const double ms = std::chrono::duration<double, std::milli>(*recovered_at_ - kill_time_).count();
        times_ms_.push_back(ms);
        if (!cfg_.json)
          std::printf("run %d: killed node %d (leader), first write after %.1f ms (on node %d)\n", run, victim.id, ms,
                      recovered_on_);
      } else {
        ++failed;
        if (!cfg_.json)
          std::printf("run %d: killed node %d (leader), no write within %.1f s\n", run, victim.id,
                      cfg_.recover_timeout_s);
      }
      std::fflush(stdout);
      kill_time_ = {};
      victim.pid = spawn(victim.argv, victim.log_path);
      restarted_at_ = clock_type::now();
    }
    writer_stop_ = true;
    // Let the last probes end (each has a 2 s timeout) before the nodes stop.
    for (int i = 0; i < 300 && probes_in_flight_ > 0; ++i) co_await sleep_for(10ms);
    report(failed);
    co_return failed == 0 && !times_ms_.empty() ? 0 : 1;
  }

 private:
  asio::awaitable<void> sleep_for(clock_type::duration d) {
    asio::steady_timer t(ctx_, d);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }

  // One status request to node i (coraft: GET /v1/status; etcd: its
  // maintenance status through the gateway).
  asio::awaitable<reply> probe(std::size_t i) {
    if (etcd_) co_return co_await probes_[i].call(http::verb::post, "/v3/maintenance/status", "{}", 1s);
    co_return co_await probes_[i].call(http::verb::get, "/v1/status", "", 1s);
  }

  // The leader's id (1-3) as some live node reports it, if any.
  asio::awaitable<std::optional<int>> find_leader() {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].pid <= 0) continue;
      const reply r = co_await probe(i);
      if (r.status != 200) continue;
      if (!etcd_) {
        if (r.body.find("\"role\":\"leader\"") != std::string::npos) co_return nodes_[i].id;
        continue;
      }
      // etcd: the answering member leads when its member_id is the leader id.
      boost::system::error_code ec;
      const auto v = boost::json::parse(r.body, ec);
      if (ec || !v.is_object()) continue;
      const auto* header = v.as_object().if_contains("header");
      const auto* leader = v.as_object().if_contains("leader");
      if (header == nullptr || leader == nullptr || !header->is_object()) continue;
      const auto* member = header->as_object().if_contains("member_id");
      if (member != nullptr && *member == *leader) co_return nodes_[i].id;
    }
    co_return std::nullopt;
  }

  // All nodes answer, a leader is known, the writer succeeded lately, and
  // --settle seconds passed since the last restart.
  asio::awaitable<bool> wait_ready(clock_type::duration limit) {
    const auto deadline = clock_type::now() + limit;
    const auto settle = std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(cfg_.settle_s));
    while (clock_type::now() < deadline && !stopping_) {
      bool all_up = true;
      for (std::size_t i = 0; i < nodes_.size(); ++i) {
        int status = 0;
        if (::waitpid(nodes_[i].pid, &status, WNOHANG) == nodes_[i].pid) {
          std::cerr << "coraft-bench failover: node " << nodes_[i].id << " exited; see " << nodes_[i].log_path << "\n";
          nodes_[i].pid = -1;
          co_return false;
        }
        const reply r = co_await probe(i);
        all_up = all_up && r.status == 200;
      }
      const bool writing = writer_started_ && clock_type::now() - last_success_ < 200ms;
      if (all_up && (writing || !writer_started_) && clock_type::now() - restarted_at_ >= settle) {
        const std::optional<int> leader = co_await find_leader();
        if (leader) co_return true;
      }
      co_await sleep_for(50ms);
    }
    co_return false;
  }

  // The put for key number n, on `link`.
  asio::awaitable<reply> put(node_link& link, std::uint64_t n, const std::string& value,
                             const std::string& etcd_value) {
    char key[24];
    std::snprintf(key, sizeof key, "k%015llu", static_cast<unsigned long long>(n % 100000));
    if (etcd_) {
      std::string body = "{\"key\":\"" + base64(std::string_view(key, 16)) + "\",\"value\":\"" + etcd_value + "\"}";
      co_return co_await link.call(http::verb::post, "/v3/kv/put", std::move(body), 2s);
    }
    co_return co_await link.call(http::verb::put, std::string("/v1/kv/") + key, value, 2s);
  }

  void note_success(clock_type::time_point t0, clock_type::time_point t1, std::size_t node) {
    last_success_ = t1;
    if (kill_time_ != clock_type::time_point{} && t0 >= kill_time_ && !recovered_at_) {
      recovered_at_ = t1;
      recovered_on_ = nodes_[node].id;
    }
  }

  // One put on a fresh connection to node i (started after a kill).
  asio::awaitable<void> probe_write(std::size_t i) {
    node_link link(ctx_.get_executor(), nodes_[i].http);
    const std::string value(128, 'p');
    const std::string etcd_value = base64(value);
    const auto t0 = clock_type::now();
    const reply r = co_await put(link, rng_(), value, etcd_value);
    if (r.status == 200) note_success(t0, clock_type::now(), i);
    link.close();
  }

  asio::awaitable<void> writer() {
    writer_started_ = true;
    std::mt19937_64 rng(rng_());
    std::string value(128, 'v');
    for (auto& ch : value) ch = static_cast<char>('a' + rng() % 26);
    const std::string etcd_value = base64(value);
    // Starts at node 1 and moves on after each failure, so it reaches the
    // leader within three tries. (The probes are run()'s: one operation at a
    // time per connection.)
    std::size_t at = 0;
    for (std::uint64_t n = 0; !writer_stop_ && !stopping_ && n < 1'000'000'000; ++n) {
      const auto t0 = clock_type::now();
      // (No co_await inside ?: or && anywhere here: g++ 12 mishandles the
      // temporaries of such expressions in coroutines.)
      const reply r = co_await put(links_[at], rng(), value, etcd_value);
      if (r.status == 200) {
        note_success(t0, clock_type::now(), at);
        continue;
      }
      at = (at + 1) % nodes_.size();
      co_await sleep_for(2ms);
    }
  }

  void report(int failed) {
    std::vector<double> t = times_ms_;
    std::sort(t.begin(), t.end());
    auto q = [&](double p) {
      if (t.empty()) return 0.0;
      auto i = static_cast<std::size_t>(p * static_cast<double>(t.size()) + 0.999999);
      return t[std::clamp<std::size_t>(i, 1, t.size()) - 1];
    };
    if (cfg_.json) {
      std::string list;
      for (double v : times_ms_) list += (list.empty() ? "" : ",") + std::to_string(v);
      std::printf(
          "{\"mode\":\"failover\",\"system\":\"%s\",\"runs\":%d,\"recovered\":%zu,\"failed\":%d,"
          "\"min_ms\":%.1f,\"median_ms\":%.1f,\"p90_ms\":%.1f,\"max_ms\":%.1f,\"times_ms\":[%s]",
          cfg_.system.c_str(), cfg_.runs, times_ms_.size(), failed, q(0), q(0.5), q(0.9), q(1), list.c_str());
      if (etcd_)
        std::printf(",\"etcd_heartbeat_ms\":%d,\"etcd_election_ms\":%d}\n", cfg_.etcd_heartbeat_ms,
                    cfg_.etcd_election_ms);
      else
        std::printf(",\"coraft_flags\":\"%s\"}\n", cfg_.coraft_flags.c_str());
    } else {
      std::printf(
          "failover %s: %zu of %d runs recovered; kill -> first write: min %.1f ms, median %.1f ms, "
          "p90 %.1f ms, max %.1f ms\n",
          cfg_.system.c_str(), times_ms_.size(), cfg_.runs, q(0), q(0.5), q(0.9), q(1));
    }
  }

  asio::io_context& ctx_;
  const failover_config& cfg_;
  std::filesystem::path dir_;
  bool etcd_;
  std::mt19937_64 rng_;
  std::array<node_proc, 3> nodes_;
  std::vector<node_link> links_;   // the writer's connections
  std::vector<node_link> probes_;  // status probes
  bool stopping_ = false;
  bool writer_stop_ = false;
  bool writer_started_ = false;
  clock_type::time_point last_success_{};
  clock_type::time_point kill_time_{};
  clock_type::time_point restarted_at_{};
  std::optional<clock_type::time_point> recovered_at_;
  int recovered_on_ = 0;
  int probes_in_flight_ = 0;
  std::vector<double> times_ms_;
};

int usage(const std::string& why) {
  std::cerr << "coraft-bench: " << why << "\n"
            << "usage: coraft-bench failover [--system coraft|etcd] [--runs 10] [--settle 2] "
               "[--recover-timeout 10] [--kv-binary PATH] [--coraft-flags '...'] [--etcd-binary etcd] "
               "[--etcd-heartbeat-ms 50] [--etcd-election-ms 300] [--probe-interval-ms 5] [--data-dir D] [--keep] "
               "[--json]\n";
  return 2;
}

}  // namespace

int run_failover_bench(int argc, char** argv) {
  failover_config cfg;
  po::options_description desc("coraft-bench failover options");
  desc.add_options()("help,h", "show this help")("system", po::value(&cfg.system)->default_value("coraft"),
                                                 "coraft (coraft-kv) or etcd")(
      "runs", po::value(&cfg.runs)->default_value(10), "leader kills (1-1000)")(
      "settle", po::value(&cfg.settle_s)->default_value(2), "seconds after a restart before the next kill (0-600)")(
      "recover-timeout", po::value(&cfg.recover_timeout_s)->default_value(10),
      "seconds to wait for the first write after a kill (0.1-600)")(
      "kv-binary", po::value(&cfg.kv_binary), "coraft-kv to run (default: ../apps/coraft-kv beside this program)")(
      "coraft-flags", po::value(&cfg.coraft_flags), "extra coraft-kv flags, e.g. '--election-timeout-ms 150'")(
      "etcd-binary", po::value(&cfg.etcd_binary)->default_value("etcd"), "etcd to run")(
      "etcd-heartbeat-ms", po::value(&cfg.etcd_heartbeat_ms)->default_value(50), "etcd --heartbeat-interval")(
      "etcd-election-ms", po::value(&cfg.etcd_election_ms)->default_value(300), "etcd --election-timeout")(
      "data-dir", po::value(&cfg.data_dir), "empty directory for the nodes' data and logs (default: mkdtemp)")(
      "keep", po::bool_switch(&cfg.keep), "keep the data directory and logs")(
      "probe-interval-ms", po::value(&cfg.probe_interval_ms)->default_value(5),
      "after a kill, start a put on a fresh connection this often (1-1000)")("json", po::bool_switch(&cfg.json),
                                                                             "print one JSON object");
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
  if (cfg.probe_interval_ms < 1 || cfg.probe_interval_ms > 1000) return usage("--probe-interval-ms must be 1 to 1000");
  if (cfg.system != "coraft" && cfg.system != "etcd") return usage("--system must be coraft or etcd");
  if (cfg.runs < 1 || cfg.runs > 1000) return usage("--runs must be 1 to 1000");
  if (cfg.settle_s < 0 || cfg.settle_s > 600) return usage("--settle must be 0 to 600 seconds");
  if (cfg.recover_timeout_s < 0.1 || cfg.recover_timeout_s > 600)
    return usage("--recover-timeout must be 0.1 to 600 seconds");
  if (cfg.kv_binary.empty()) {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    cfg.kv_binary = (self.parent_path().parent_path() / "apps" / "coraft-kv").string();
  }
  if (cfg.system == "coraft" && ::access(cfg.kv_binary.c_str(), X_OK) != 0)
    return usage("--kv-binary: " + cfg.kv_binary + " is not an executable (build the coraft-kv target)");

  std::filesystem::path dir;
  bool made_dir = false;
  if (cfg.data_dir.empty()) {
    std::string tmpl = "/tmp/coraft-failover.XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("coraft-bench failover: mkdtemp");
      return 1;
    }
    dir = tmpl;
    made_dir = true;
  } else {
    dir = cfg.data_dir;
    std::filesystem::create_directories(dir);
  }

  int rc = 1;
  {
    asio::io_context ctx(1);
    failover_bench bench(ctx, cfg, dir);
    asio::signal_set signals(ctx, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      std::cerr << "coraft-bench failover: interrupted; stopping the nodes\n";
      bench.stop_all();
      rc = 130;
      ctx.stop();
    });
    asio::co_spawn(ctx, bench.run(), [&](std::exception_ptr e, int result) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          std::cerr << "coraft-bench failover: " << ex.what() << "\n";
        }
        result = 1;
      }
      rc = result;
      bench.stop_all();
      ctx.stop();
    });
    ctx.run();
  }
  if (made_dir && !cfg.keep) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  } else {
    std::cerr << "coraft-bench failover: data and logs kept in " << dir << "\n";
  }
  return rc;
}
