// coraft-bench — throughput and latency of coraft.
//
//   coraft-bench inproc --nodes 3 --clients 256 --duration 10 --value-size 128 [--json]
//
// inproc: N nodes in one process on the in-memory transport and in-memory
// storage (engine-only, like openraft's and NuRaft's published figures); C
// client coroutines propose in a closed loop against the leader. Reports
// committed-and-applied proposals per second and latency percentiles.
#include <coraft/memory_storage.hpp>
#include <coraft/memory_transport.hpp>
#include <coraft/node.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/program_options.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
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
  std::string apply(coraft::index_t index, std::string_view command) override {
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
  std::uint64_t state_ = 0;
  std::uint64_t applied_ = 0;
};

struct inproc_config {
  int nodes = 3;
  int clients = 256;
  double duration_s = 10;
  std::size_t value_size = 128;
  int threads = 2;
  bool json = false;
};

struct client_stats {
  std::vector<std::uint32_t> latency_us;
  std::uint64_t errors = 0;
};

asio::awaitable<void> client_loop(coraft::node& leader, std::size_t value_size,
                                  clock_type::time_point until, client_stats& out) {
  std::string value(value_size, 'v');
  while (clock_type::now() < until) {
    const auto t0 = clock_type::now();
    coraft::propose_outcome r = co_await leader.propose(value);
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
  std::vector<std::unique_ptr<coraft::memory_storage>> stores;
  std::vector<std::unique_ptr<hash_state_machine>> sms;
  std::vector<std::unique_ptr<coraft::node>> nodes;
  for (coraft::node_id id : ids) {
    coraft::node_options o;
    o.raft.id = id;
    o.raft.seed = id;
    o.voters = ids;
    o.max_pending_proposals = static_cast<std::size_t>(cfg.clients) * 2 + 16;
    stores.push_back(std::make_unique<coraft::memory_storage>());
    sms.push_back(std::make_unique<hash_state_machine>());
    nodes.push_back(std::make_unique<coraft::node>(node_ctx(id).get_executor(), o, *stores.back(),
                                                   net.endpoint(id), *sms.back()));
    net.attach(*nodes.back());
  }

  std::vector<client_stats> stats(static_cast<std::size_t>(cfg.clients));
  double elapsed_s = 0;
  bool ok = true;
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
        if (s.state == coraft::core::role::leader && s.applied_index >= s.commit_index &&
            s.commit_index > 0)
          leader = n.get();
      }
    }
    if (leader == nullptr) {
      std::cerr << "coraft-bench: no leader elected within 5 s\n";
      ok = false;
    } else {
      const auto start = clock_type::now();
      const auto until = start + std::chrono::duration_cast<clock_type::duration>(
                                     std::chrono::duration<double>(cfg.duration_s));
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
  const double p50 = percentile(all, 0.50), p99 = percentile(all, 0.99),
               p999 = percentile(all, 0.999);
  if (cfg.json) {
    std::printf(
        "{\"mode\":\"inproc\",\"nodes\":%d,\"clients\":%d,\"value_size\":%zu,\"threads\":%d,"
        "\"duration_s\":%.2f,\"ops\":%zu,\"errors\":%llu,\"ops_per_sec\":%.0f,\"p50_us\":%.0f,"
        "\"p99_us\":%.0f,\"p999_us\":%.0f}\n",
        cfg.nodes, cfg.clients, cfg.value_size, cfg.threads, elapsed_s, all.size(),
        static_cast<unsigned long long>(errors), ops, p50, p99, p999);
  } else {
    std::printf("inproc: %d nodes, %d clients, %zu-byte values, %d threads, %.1f s\n", cfg.nodes,
                cfg.clients, cfg.value_size, cfg.threads, elapsed_s);
    std::printf("  %.0f proposals/s committed and applied (%zu ok, %llu errors)\n", ops, all.size(),
                static_cast<unsigned long long>(errors));
    std::printf("  latency p50 %.0f us, p99 %.0f us, p99.9 %.0f us\n", p50, p99, p999);
  }
  return 0;
}

int usage(const char* why) {
  std::cerr << "coraft-bench: " << why << "\n"
            << "usage: coraft-bench inproc [--nodes 3] [--clients 256] [--duration 10] "
               "[--value-size 128] [--threads 2] [--json]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage("missing mode");
  const std::string mode = argv[1];
  if (mode == "--help" || mode == "-h") {
    usage("modes: inproc");
    return 0;
  }
  if (mode != "inproc") return usage(("unknown mode '" + mode + "'").c_str());
  inproc_config cfg;
  po::options_description desc("coraft-bench inproc options");
  desc.add_options()("help,h", "show this help")(
      "nodes", po::value(&cfg.nodes)->default_value(3), "cluster size (1-7)")(
      "clients", po::value(&cfg.clients)->default_value(256), "concurrent proposers (1-100000)")(
      "duration", po::value(&cfg.duration_s)->default_value(10), "seconds of load (0.1-3600)")(
      "value-size", po::value(&cfg.value_size)->default_value(128), "bytes per command")(
      "threads", po::value(&cfg.threads)->default_value(2), "threads, one io_context each (1-64)")(
      "json", po::bool_switch(&cfg.json), "print one JSON object");
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
  if (cfg.value_size > (1u << 20)) return usage("--value-size must be at most 1048576");
  return run_inproc(cfg);
}
