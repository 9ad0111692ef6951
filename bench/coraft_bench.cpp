// coraft-bench — throughput and latency of coraft.
//
//   coraft-bench inproc --nodes 3 --clients 256 --duration 10 --value-size 128 [--json]
//
// inproc: N nodes in one process on the in-memory transport and in-memory
// storage (engine-only, like openraft's and NuRaft's published figures); C
// client coroutines propose in a closed loop against the leader. Reports
// committed-and-applied proposals per second and latency percentiles.
// With --storage file each node writes a real WAL (fsync on) in a temporary
// directory.
//
//   coraft-bench wal --batch 1 --value-size 128 --duration 5 [--json]
//
// wal: synced appends of `batch` entries through the write-ahead log, and in
// the same run the raw floor of this disk: a 4 KiB write + fdatasync loop on
// a zero-filled file.
//
//   coraft-bench http --target http://127.0.0.11:8001 --connections 64 --workload put [--json]
//
// http: closed-loop HTTP/1.1 load against a running coraft-kv or etcd gateway
// (http_load.cpp). failover: kill -9 the leader of a local 3-node coraft-kv or
// etcd under writes, N times (failover.cpp). snapshot-install: time for a
// new learner to receive and install a large snapshot (snapshot_install.cpp).
#include "failover.hpp"
#include "http_load.hpp"
#include "snapshot_install.hpp"
#include "temp_dir.hpp"

#include <coraft/file_storage.hpp>
#include <coraft/log.hpp>
#include <coraft/memory_storage.hpp>
#include <coraft/memory_transport.hpp>
#include <coraft/node.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/program_options.hpp>

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace po = boost::program_options;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

// A state machine with real work per command: it folds every byte into a
// running hash, 8 bytes at a time (so apply reads the whole command and
// cannot be optimised away), and returns nothing.
class hash_state_machine final : public coraft::state_machine {
 public:
  explicit hash_state_machine(std::chrono::microseconds apply_cost) : apply_cost_(apply_cost) {}
  std::string apply(coraft::index_t index, std::string_view command) override {
    // --apply-cost-us: a state machine that takes its time (on its own
    // thread: sleeping there must not cost the node its leadership).
    if (apply_cost_.count() > 0) std::this_thread::sleep_for(apply_cost_);
    std::uint64_t h = state_ ^ index;
    std::size_t i = 0;
    for (; i + 8 <= command.size(); i += 8) {
      std::uint64_t w;
      std::memcpy(&w, command.data() + i, 8);
      h = (h ^ w) * 0x100000001B3ull;
    }
    for (; i < command.size(); ++i) h = (h ^ static_cast<unsigned char>(command[i])) * 0x100000001B3ull;
    state_ = h;
    ++applied_;
    return {};
  }
  void save_snapshot(coraft::snapshot_writer&) override {}
  void restore_snapshot(coraft::snapshot_reader&) override {}
  std::uint64_t applied() const { return applied_; }

 private:
  std::chrono::microseconds apply_cost_;
  std::uint64_t state_ = 0;
  std::uint64_t applied_ = 0;
};

struct inproc_config {
  int nodes = 3;
  int clients = 256;
  double duration_s = 10;
  std::size_t value_size = 128;
  // One thread by default: with 3 nodes in one process, handing batches
  // between threads costs more than a second core gains (measured: ~390k/s
  // with 2 threads vs ~577k/s with 1 on this 2-core machine).
  int threads = 1;
  std::string storage = "memory";
  int apply_cost_us = 0;
  // Where the state machines run: "thread" (each node's own, the default)
  // or "loop" (the node's io_context: no hand-over between threads).
  std::string sm_thread = "thread";
  bool latency_histograms = true;  // node_options::latency_histograms (their cost: bench/metrics-cost.sh)
  bool json = false;
};

struct client_stats {
  std::vector<std::uint32_t> latency_us;
  std::uint64_t errors = 0;
};

asio::awaitable<void> client_loop(coraft::node& leader, std::size_t value_size, clock_type::time_point until,
                                  client_stats& out) {
  std::string value(value_size, 'v');
  while (clock_type::now() < until) {
    const auto t0 = clock_type::now();
    const coraft::node_result<coraft::applied_command> r = co_await leader.propose(value);
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - t0);
    if (r)
      out.latency_us.push_back(static_cast<std::uint32_t>(us.count()));
    else
      ++out.errors;
  }
}

double percentile(std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

int run_inproc(const inproc_config& cfg) {
  // One io_context per thread, each run by one thread (no shared queue, no
  // lock contention): the leader (node 1) and the clients on the first, the
  // followers spread over the others.
  std::vector<std::unique_ptr<asio::io_context>> ctxs;
  for (int i = 0; i < cfg.threads; ++i) ctxs.push_back(std::make_unique<asio::io_context>(1));
  asio::io_context& ctx = *ctxs[0];
  auto node_ctx = [&](coraft::node_id id) -> asio::io_context& {
    if (cfg.threads == 1 || id == 1) return ctx;
    return *ctxs[1 + (id - 2) % static_cast<std::size_t>(cfg.threads - 1)];
  };
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& c : ctxs) guards.push_back(asio::make_work_guard(*c));
  coraft::memory_network net(ctx.get_executor());
  std::vector<coraft::node_id> ids;
  for (int i = 1; i <= cfg.nodes; ++i) ids.push_back(static_cast<coraft::node_id>(i));
  std::vector<std::unique_ptr<coraft::storage>> stores;
  std::vector<std::unique_ptr<temp_dir>> dirs;
  std::vector<std::unique_ptr<hash_state_machine>> sms;
  std::vector<std::unique_ptr<coraft::node>> nodes;
  for (coraft::node_id id : ids) {
    coraft::node_options o;
    o.raft.id = id;
    o.raft.seed = id;
    o.voters = ids;
    o.max_pending_proposals = static_cast<std::size_t>(cfg.clients) * 2 + 16;
    o.latency_histograms = cfg.latency_histograms;
    if (cfg.sm_thread == "loop") o.state_machine_executor = node_ctx(id).get_executor();
    if (cfg.storage == "file") {
      dirs.push_back(std::make_unique<temp_dir>());
      coraft::file_storage_options fo;
      fo.dir = dirs.back()->path;
      fo.id = id;
      stores.push_back(std::make_unique<coraft::file_storage>(fo));
    } else {
      stores.push_back(std::make_unique<coraft::memory_storage>());
    }
    sms.push_back(std::make_unique<hash_state_machine>(std::chrono::microseconds(cfg.apply_cost_us)));
    nodes.push_back(
        std::make_unique<coraft::node>(node_ctx(id).get_executor(), o, *stores.back(), net.endpoint(id), *sms.back()));
    net.attach(*nodes.back());
  }

  std::vector<client_stats> stats(static_cast<std::size_t>(cfg.clients));
  double elapsed_s = 0;
  bool ok = true;
  // Elections any node started by its timer during the load, and terms the
  // leader's term moved by (leadership must stay put: 0 and 0).
  std::uint64_t elections = 0;
  coraft::term_t term_moves = 0;
  auto timer_elections = [&]() -> asio::awaitable<std::pair<std::uint64_t, coraft::term_t>> {
    std::uint64_t sum = 0;
    coraft::term_t term = 0;
    for (auto& n : nodes) {
      const coraft::node_status s = co_await n->status();
      sum += s.elections.timer;
      term = std::max(term, s.term);
    }
    co_return std::make_pair(sum, term);
  };
  auto main_task = [&]() -> asio::awaitable<void> {
    for (auto& n : nodes) co_await n->start();
    nodes[0]->campaign();
    asio::steady_timer t(ctx);
    coraft::node* leader = nullptr;
    for (int i = 0; i < 500 && leader == nullptr; ++i) {
      t.expires_after(10ms);
      co_await t.async_wait(asio::use_awaitable);
      for (auto& n : nodes) {
        auto s = co_await n->status();
        if (s.state == coraft::core::role::leader && s.applied_index >= s.commit_index && s.commit_index > 0)
          leader = n.get();
      }
    }
    if (leader == nullptr) {
      std::cerr << "coraft-bench: no leader elected within 5 s\n";
      ok = false;
    } else {
      const auto [elections_before, term_before] = co_await timer_elections();
      const auto start = clock_type::now();
      const auto until =
          start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(cfg.duration_s));
      std::atomic<int> running{cfg.clients};
      for (auto& st : stats) {
        st.latency_us.reserve(1 << 16);
        asio::co_spawn(ctx, client_loop(*leader, cfg.value_size, until, st),
                       [&running](std::exception_ptr) { --running; });
      }
      while (running.load() > 0) {
        t.expires_after(5ms);
        co_await t.async_wait(asio::use_awaitable);
      }
      elapsed_s = std::chrono::duration<double>(clock_type::now() - start).count();
      const auto [elections_after, term_after] = co_await timer_elections();
      elections = elections_after - elections_before;
      term_moves = term_after - term_before;
    }
    for (auto& n : nodes) co_await n->stop();
    for (auto id : ids) net.detach(id);
    guards.clear();
  };
  asio::co_spawn(ctx, main_task(), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  std::vector<std::thread> pool;
  for (int i = 1; i < cfg.threads; ++i) pool.emplace_back([&ctxs, i] { ctxs[static_cast<std::size_t>(i)]->run(); });
  ctx.run();
  for (auto& th : pool) th.join();
  if (!ok) return 1;

  std::vector<std::uint32_t> all;
  std::uint64_t errors = 0;
  for (auto& s : stats) {
    all.insert(all.end(), s.latency_us.begin(), s.latency_us.end());
    errors += s.errors;
  }
  const double ops = static_cast<double>(all.size()) / elapsed_s;
  const double p50 = percentile(all, 0.50), p99 = percentile(all, 0.99), p999 = percentile(all, 0.999);
  if (cfg.json) {
    std::printf(
        "{\"mode\":\"inproc\",\"storage\":\"%s\",\"nodes\":%d,\"clients\":%d,\"value_size\":%zu,\"threads\":%d,"
        "\"duration_s\":%.2f,\"ops\":%zu,\"errors\":%llu,\"ops_per_sec\":%.0f,\"p50_us\":%.0f,"
        "\"p99_us\":%.0f,\"p999_us\":%.0f,\"state_machine\":\"%s\",\"apply_cost_us\":%d,\"elections\":%llu,\"term_"
        "moves\":%llu}\n",
        cfg.storage.c_str(), cfg.nodes, cfg.clients, cfg.value_size, cfg.threads, elapsed_s, all.size(),
        static_cast<unsigned long long>(errors), ops, p50, p99, p999, cfg.sm_thread.c_str(), cfg.apply_cost_us,
        static_cast<unsigned long long>(elections), static_cast<unsigned long long>(term_moves));
  } else {
    std::printf("inproc (%s storage): %d nodes, %d clients, %zu-byte values, %d threads, %.1f s\n", cfg.storage.c_str(),
                cfg.nodes, cfg.clients, cfg.value_size, cfg.threads, elapsed_s);
    std::printf("  %.0f proposals/s committed and applied (%zu ok, %llu errors)\n", ops, all.size(),
                static_cast<unsigned long long>(errors));
    std::printf("  latency p50 %.0f us, p99 %.0f us, p99.9 %.0f us\n", p50, p99, p999);
    std::printf("  elections during the load: %llu (term moved by %llu)%s\n",
                static_cast<unsigned long long>(elections), static_cast<unsigned long long>(term_moves),
                cfg.apply_cost_us > 0 ? (" with " + std::to_string(cfg.apply_cost_us) + " us per apply").c_str() : "");
  }
  return 0;
}

struct wal_config {
  int batch = 1;
  std::size_t value_size = 128;
  double duration_s = 5;
  std::string dir;
  bool no_spare = false;
  bool json = false;
};

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

int run_wal(const wal_config& cfg) {
  temp_dir tmp;
  const std::string dir = cfg.dir.empty() ? tmp.path : cfg.dir;
  auto fs = coraft::make_posix_file_system();

  // The floor: what this disk does for a 4 KiB overwrite + fdatasync.
  const double floor_s = std::min(cfg.duration_s, 5.0);
  std::uint64_t floor_syncs = 0;
  {
    const std::string path = dir + "/floor.tmp";
    const auto f = fs->open(path, true);
    fs->zero_fill(f, 64ull << 20);
    fs->sync(f);
    std::vector<char> page(4096, 'x');
    const auto t0 = clock_type::now();
    std::uint64_t off = 0;
    while (seconds_since(t0) < floor_s && off + page.size() <= (64ull << 20)) {
      fs->pwrite(f, page.data(), page.size(), off);
      fs->sync(f);
      off += page.size();
      ++floor_syncs;
    }
    const double el = seconds_since(t0);
    fs->close(f);
    fs->remove(path);
    floor_syncs = static_cast<std::uint64_t>(static_cast<double>(floor_syncs) / el);
  }

  coraft::wal_options wo;
  wo.dir = dir;
  wo.prepare_spare = !cfg.no_spare;  // as file_storage does by default
  coraft::wal log(*fs, wo);
  log.open();
  const std::uint64_t segments_at_open = log.stats().segments;  // --dir may hold a log already
  const coraft::payload value(std::string(cfg.value_size, 'v'));
  std::vector<std::uint32_t> lat;
  coraft::index_t next = log.last_index() + 1;
  const auto t0 = clock_type::now();
  std::uint64_t entries = 0;
  while (seconds_since(t0) < cfg.duration_s && lat.size() < 10'000'000) {
    coraft::log_write w;
    w.entries.reserve(static_cast<std::size_t>(cfg.batch));
    for (int i = 0; i < cfg.batch; ++i) w.entries.push_back({1, next++, coraft::entry_type::normal, value});
    const auto a = clock_type::now();
    log.append(w);
    lat.push_back(static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - a).count()));
    entries += static_cast<std::uint64_t>(cfg.batch);
  }
  const double el = seconds_since(t0);
  const auto& st = log.stats();
  const double eps = static_cast<double>(entries) / el, sps = static_cast<double>(st.syncs) / el,
               mbps = static_cast<double>(st.bytes) / el / 1e6;
  const double p50 = percentile(lat, 0.5), p99 = percentile(lat, 0.99), p999 = percentile(lat, 0.999),
               max = percentile(lat, 1.0);
  const std::uint64_t rolls = st.segments - segments_at_open;
  if (cfg.json) {
    std::printf(
        "{\"mode\":\"wal\",\"batch\":%d,\"value_size\":%zu,\"duration_s\":%.2f,\"spare\":%s,"
        "\"entries_per_sec\":%.0f,\"syncs_per_sec\":%.0f,\"mb_per_sec\":%.1f,\"p50_us\":%.0f,"
        "\"p99_us\":%.0f,\"p999_us\":%.0f,\"max_us\":%.0f,\"rolls\":%llu,\"spares_used\":%llu,"
        "\"floor_syncs_per_sec\":%llu}\n",
        cfg.batch, cfg.value_size, el, cfg.no_spare ? "false" : "true", eps, sps, mbps, p50, p99, p999, max,
        static_cast<unsigned long long>(rolls), static_cast<unsigned long long>(st.spares_used),
        static_cast<unsigned long long>(floor_syncs));
  } else {
    std::printf("wal: batch %d, %zu-byte values, %.1f s, in %s\n", cfg.batch, cfg.value_size, el, dir.c_str());
    std::printf(
        "  %.0f entries/s, %.0f syncs/s, %.1f MB/s; synced append p50 %.0f us, p99 %.0f us, "
        "p99.9 %.0f us, max %.0f us\n",
        eps, sps, mbps, p50, p99, p999, max);
    std::printf("  %llu segment rolls, %llu of them onto a prepared spare\n", static_cast<unsigned long long>(rolls),
                static_cast<unsigned long long>(st.spares_used));
    std::printf("  floor (4 KiB write + fdatasync, zero-filled file): %llu syncs/s\n",
                static_cast<unsigned long long>(floor_syncs));
  }
  return 0;
}

// Recovery time: write `entries` entries (batches of 1000), then time how
// long a fresh wal takes to read and verify them all (wal::open()).
int run_wal_recover(std::uint64_t entries, std::size_t value_size, bool json) {
  temp_dir tmp;
  auto fs = coraft::make_posix_file_system();
  coraft::wal_options wo;
  wo.dir = tmp.path;
  {
    coraft::wal log(*fs, wo);
    log.open();
    const coraft::payload value(std::string(value_size, 'v'));
    for (coraft::index_t i = 1; i <= entries;) {
      coraft::log_write w;
      for (int k = 0; k < 1000 && i <= entries; ++k, ++i)
        w.entries.push_back({1, i, coraft::entry_type::normal, value});
      log.append(w);
    }
  }
  // Drop the page cache's advantage? No: a restart right after a crash or a
  // clean stop finds the segments cached too; this measures the parse and
  // CRC checks, which dominate once the files are in memory.
  const auto t0 = clock_type::now();
  coraft::wal log(*fs, wo);
  const coraft::recovered_state rs = log.open();
  const double el = seconds_since(t0);
  if (rs.log.size() != entries) {
    std::cerr << "coraft-bench: recovered " << rs.log.size() << " of " << entries << " entries\n";
    return 1;
  }
  if (json)
    std::printf("{\"mode\":\"wal-recover\",\"entries\":%llu,\"value_size\":%zu,\"recover_s\":%.3f}\n",
                static_cast<unsigned long long>(entries), value_size, el);
  else
    std::printf("wal-recover: %llu entries of %zu bytes recovered and verified in %.3f s\n",
                static_cast<unsigned long long>(entries), value_size, el);
  return 0;
}

int usage(const char* why) {
  std::cerr << "coraft-bench: " << why << "\n"
            << "usage: coraft-bench inproc [--nodes 3] [--clients 256] [--duration 10] "
               "[--value-size 128] [--threads 2] [--storage memory|file] [--latency-histograms true|false] [--json]\n"
            << "       coraft-bench wal [--batch 1] [--value-size 128] [--duration 5] [--dir D] [--json]\n"
            << "       coraft-bench http --target http://HOST:PORT [--connections 16] [--duration 10] "
               "[--value-size 128] [--workload put|get|mixed|fill] [--keys 100000] [--warmup 1] [--threads 1] "
               "[--api coraft|etcd] [--json]\n"
            << "       coraft-bench failover [--system coraft|etcd] [--runs 10] [--json] (see failover --help)\n"
            << "       coraft-bench snapshot-install [--size-mb 1024] [--chunk-kb 1024] [--window 4] [--json]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  coraft::set_log_level(coraft::log_level::warn);  // elections are not news here
  if (argc < 2) return usage("missing mode");
  const std::string mode = argv[1];
  if (mode == "--help" || mode == "-h") {
    usage("modes: inproc, wal, wal-recover, http, failover");
    return 0;
  }
  if (mode == "http") return run_http_bench(argc - 1, argv + 1);
  if (mode == "failover") return run_failover_bench(argc - 1, argv + 1);
  if (mode == "snapshot-install") return run_snapshot_install_bench(argc - 1, argv + 1);
  if (mode == "wal-recover") {
    std::uint64_t n = 1'000'000;
    std::size_t vs = 128;
    bool js = false;
    po::options_description rd("coraft-bench wal-recover options");
    rd.add_options()("help,h", "show this help")("entries", po::value(&n)->default_value(1'000'000),
                                                 "entries to write, then recover (1-100000000)")(
        "value-size", po::value(&vs)->default_value(128), "bytes per entry")("json", po::bool_switch(&js),
                                                                             "print one JSON object");
    po::variables_map rvm;
    try {
      po::store(po::parse_command_line(argc - 1, argv + 1, rd), rvm);
      po::notify(rvm);
    } catch (const std::exception& e) {
      return usage(e.what());
    }
    if (rvm.count("help")) {
      std::cout << rd;
      return 0;
    }
    if (n < 1 || n > 100'000'000) return usage("--entries must be 1 to 100000000");
    if (vs > (1u << 20)) return usage("--value-size must be at most 1048576");
    return run_wal_recover(n, vs, js);
  }
  if (mode == "wal") {
    wal_config wc;
    po::options_description wd("coraft-bench wal options");
    wd.add_options()("help,h", "show this help")("batch", po::value(&wc.batch)->default_value(1),
                                                 "entries per synced append (1-100000)")(
        "value-size", po::value(&wc.value_size)->default_value(128), "bytes per entry")(
        "duration", po::value(&wc.duration_s)->default_value(5), "seconds (0.1-3600)")(
        "dir", po::value(&wc.dir), "directory on the disk to measure (default: a temporary one)")(
        "no-spare", po::bool_switch(&wc.no_spare),
        "roll over by zero-filling the new segment inline (no spare prepared ahead)")("json", po::bool_switch(&wc.json),
                                                                                      "print one JSON object");
    po::variables_map wvm;
    try {
      po::store(po::parse_command_line(argc - 1, argv + 1, wd), wvm);
      po::notify(wvm);
    } catch (const std::exception& e) {
      return usage(e.what());
    }
    if (wvm.count("help")) {
      std::cout << wd;
      return 0;
    }
    if (wc.batch < 1 || wc.batch > 100000) return usage("--batch must be 1 to 100000");
    if (wc.duration_s < 0.1 || wc.duration_s > 3600) return usage("--duration must be 0.1 to 3600 seconds");
    if (wc.value_size > (1u << 20)) return usage("--value-size must be at most 1048576");
    return run_wal(wc);
  }
  if (mode != "inproc") return usage(("unknown mode '" + mode + "'").c_str());
  inproc_config cfg;
  po::options_description desc("coraft-bench inproc options");
  desc.add_options()("help,h", "show this help")("nodes", po::value(&cfg.nodes)->default_value(3),
                                                 "cluster size (1-7)")(
      "clients", po::value(&cfg.clients)->default_value(256), "concurrent proposers (1-100000)")(
      "duration", po::value(&cfg.duration_s)->default_value(10), "seconds of load (0.1-3600)")(
      "value-size", po::value(&cfg.value_size)->default_value(128), "bytes per command")(
      "threads", po::value(&cfg.threads)->default_value(1), "threads, one io_context each (1-64)")(
      "storage", po::value(&cfg.storage)->default_value("memory"), "memory or file (WAL, fsync on)")(
      "state-machine", po::value(&cfg.sm_thread)->default_value("thread"),
      "where the state machines run: thread (each node's own) or loop (the node's io_context)")(
      "apply-cost-us", po::value(&cfg.apply_cost_us)->default_value(0),
      "microseconds each apply sleeps (a slow state machine; 0-100000)")(
      "latency-histograms", po::value(&cfg.latency_histograms)->default_value(true),
      "keep the nodes' latency histograms (true/false)")("json", po::bool_switch(&cfg.json), "print one JSON object");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc - 1, argv + 1, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    return usage(e.what());
  }
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  if (cfg.nodes < 1 || cfg.nodes > 7) return usage("--nodes must be 1 to 7");
  if (cfg.clients < 1 || cfg.clients > 100000) return usage("--clients must be 1 to 100000");
  if (cfg.duration_s < 0.1 || cfg.duration_s > 3600) return usage("--duration must be 0.1 to 3600 seconds");
  if (cfg.threads < 1 || cfg.threads > 64) return usage("--threads must be 1 to 64");
  if (cfg.storage != "memory" && cfg.storage != "file") return usage("--storage must be memory or file");
  if (cfg.value_size > (1u << 20)) return usage("--value-size must be at most 1048576");
  if (cfg.apply_cost_us < 0 || cfg.apply_cost_us > 100000) return usage("--apply-cost-us must be 0 to 100000");
  if (cfg.sm_thread != "thread" && cfg.sm_thread != "loop") return usage("--state-machine must be thread or loop");
  return run_inproc(cfg);
}
