// snapshot_install.cpp — `coraft-bench snapshot-install`: how long a new
// follower takes to receive and install a large snapshot [§7].
//
// Node 1 (a one-voter cluster, file storage, fsync on) builds a state of
// --size-mb MiB through the log (1 MiB commands), takes a snapshot and
// compacts its whole log. Then node 2 starts with an empty data directory
// and is added as a learner [thesis §4.2.1]: the leader can only send it the
// snapshot, in InstallSnapshot chunks over TCP on loopback. Measured: from
// the membership change being accepted to node 2 having installed the
// snapshot (durable, state restored); the copy is checked byte for byte
// (CRC32C of both states).
//
// Memory: the --json line has peak_rss_bytes (the process's high-water mark,
// VmHWM) and state_bytes (the command bytes both state machines hold at the
// end); snapshots are never held whole in memory (storage keeps them in
// files, sent and received in chunks), so the difference stays small at any
// size. The disk's own sequential write speed (1 MiB writes, then one
// fdatasync) is measured in the same run, for comparison.
//
// --observer: node 3, a learner that follows by appends from the start, and
// a small write every 10 ms while node 2 installs. The stream must starve
// neither node 3's heartbeats and appends nor node 2's own heartbeats: the
// --json line has the leader's longest silence towards each (heartbeat_gap
// per peer, node_metrics::max_heartbeat_gap_s over the term) and the
// slowest of those writes.
#include "snapshot_install.hpp"

#include "temp_dir.hpp"

#include <coraft/detail/crc32c.hpp>
#include <coraft/file_storage.hpp>
#include <coraft/log.hpp>
#include <coraft/net/tcp_transport.hpp>
#include <coraft/node.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/program_options.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>

namespace asio = boost::asio;
namespace po = boost::program_options;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// The state is the concatenation of every command applied, kept as the
// commands themselves (no doubling of one large buffer as it grows).
class blob_state_machine final : public coraft::state_machine {
 public:
  std::string apply(coraft::index_t, std::string_view command) override {
    pieces_.emplace_back(command);
    bytes_ += command.size();
    return {};
  }
  void save_snapshot(coraft::snapshot_writer& out) override {
    for (const std::string& p : pieces_) out.write(std::as_bytes(std::span(p.data(), p.size())));
  }
  void restore_snapshot(coraft::snapshot_reader& in) override {
    pieces_.clear();
    bytes_ = 0;
    std::string piece(1u << 20, '\0');
    while (true) {
      std::size_t n = 0;
      while (n < piece.size()) {
        const std::size_t got = in.read(std::as_writable_bytes(std::span(piece.data() + n, piece.size() - n)));
        if (got == 0) break;
        n += got;
      }
      if (n == 0) break;
      pieces_.emplace_back(piece.data(), n);
      bytes_ += n;
    }
  }
  std::uint64_t bytes() const { return bytes_; }
  std::uint32_t crc() const {
    std::uint32_t c = 0;
    for (const std::string& p : pieces_) c = coraft::detail::crc32c_extend(c, p.data(), p.size());
    return c;
  }

 private:
  std::deque<std::string> pieces_;
  std::uint64_t bytes_ = 0;
};

// The process's resident-set high-water mark (VmHWM), in bytes.
std::uint64_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

// The disk's sequential write speed where the data directories are: `mib`
// MiB in 1 MiB writes, then one fdatasync; MiB/s.
double disk_write_mib_per_s(const std::string& dir, std::size_t mib) {
  const std::string path = dir + "/disk-speed";
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  if (fd < 0) return 0;
  std::string block(1u << 20, 'd');
  const auto t0 = clock_type::now();
  for (std::size_t i = 0; i < mib; ++i)
    if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size())) break;
  ::fdatasync(fd);
  const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
  ::close(fd);
  ::unlink(path.c_str());
  return static_cast<double>(mib) / s;
}

// One node with its storage, transport and state machine.
struct bench_node {
  bench_node(asio::io_context& ctx, coraft::node_id id, const std::string& raft_address, bool bootstrap,
             std::size_t chunk_bytes, std::size_t window) {
    coraft::file_storage_options fo;
    fo.dir = dir.path;
    fo.id = id;
    store = std::make_unique<coraft::file_storage>(fo);
    coraft::net::tcp_transport_options to;
    to.self = id;
    to.cluster_id = "snapbench";
    to.listen = raft_address;
    transport = std::make_unique<coraft::net::tcp_transport>(ctx.get_executor(), to);
    coraft::node_options o;
    o.raft.id = id;
    o.raft.seed = id;
    o.raft.max_snapshot_chunk = chunk_bytes;
    o.raft.max_snapshot_chunks_inflight = window;
    if (bootstrap) {
      o.voters = {id};
      o.addresses[id] = raft_address;
    }
    o.max_command_bytes = (1u << 20) + 64;
    o.propose_timeout_ticks = 6000;  // 60 s: a 1 GiB fill is slow on a slow disk
    o.snapshot_entries = 0;          // only the snapshot we ask for
    o.snapshot_log_bytes = 0;
    o.snapshot_trailing_entries = 0;  // compact everything: a new member needs the snapshot
    // Here a member's address is simply its raft address.
    o.on_membership = [this](const coraft::membership& c) { transport->set_peers(c.addresses); };
    node = std::make_unique<coraft::node>(ctx.get_executor(), o, *store, *transport, sm);
  }
  asio::awaitable<void> start() {
    co_await node->start();
    co_await transport->start();
    transport->attach(*node);
  }
  asio::awaitable<void> stop() {
    co_await node->stop();
    transport->detach();
    co_await transport->stop();
  }
  temp_dir dir;
  blob_state_machine sm;
  std::unique_ptr<coraft::file_storage> store;
  std::unique_ptr<coraft::net::tcp_transport> transport;
  std::unique_ptr<coraft::node> node;
};

double since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

}  // namespace

int run_snapshot_install_bench(int argc, char** argv) {
  std::size_t size_mb = 1024;
  std::size_t chunk_kb = 1024;
  std::size_t window = coraft::core::options{}.max_snapshot_chunks_inflight;
  bool json = false;
  bool observer = false;
  po::options_description desc(
      "coraft-bench snapshot-install: time for a new learner to receive and install a large snapshot\n\nOptions");
  // clang-format off
  desc.add_options()("help,h", "show this help")
      ("size-mb", po::value(&size_mb)->default_value(1024), "state (and snapshot) size in MiB, 1-8192")
      ("chunk-kb", po::value(&chunk_kb)->default_value(1024), "InstallSnapshot chunk size in KiB, 4-65536")
      ("window", po::value(&window)->default_value(window), "InstallSnapshot chunks in flight, 1-64")
      ("observer", po::bool_switch(&observer), "a third node (a learner following by appends) and writes during "
                                                  "the install; report the leader's heartbeat gaps and write latency")
      ("json", po::bool_switch(&json), "print one JSON object");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "coraft-bench snapshot-install: " << e.what() << " (see --help)\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (size_mb < 1 || size_mb > 8192 || chunk_kb < 4 || chunk_kb > 65536 || window < 1 || window > 64) {
    std::cerr << "coraft-bench snapshot-install: --size-mb must be 1-8192, --chunk-kb 4-65536 and --window 1-64\n";
    return 2;
  }
  coraft::set_log_level(coraft::log_level::warn);

  asio::io_context ctx(1);
  const std::string a1 = "127.0.0.91:7191", a2 = "127.0.0.92:7192";
  bench_node n1(ctx, 1, a1, true, chunk_kb << 10, window);
  bench_node n2(ctx, 2, a2, false, chunk_kb << 10, window);
  const std::string a3 = "127.0.0.93:7193";
  std::unique_ptr<bench_node> n3;
  if (observer) n3 = std::make_unique<bench_node>(ctx, 3, a3, false, chunk_kb << 10, window);
  std::map<coraft::node_id, double> heartbeat_gap, heartbeat_gap_before;
  std::size_t writes_during_install = 0;
  double slowest_write_s = 0;
  // The writer of --observer: told to stop once node 2 installed, and
  // waited for before the states are compared (it lives in this frame).
  bool installed = false;
  bool writer_running = false;
  double fill_s = 0, snapshot_s = 0, install_s = 0;
  std::uint64_t state_bytes = 0;
  const double disk_mib_s = disk_write_mib_per_s(n2.dir.path, std::min<std::size_t>(size_mb, 1024));
  coraft::index_t snap_index = 0;
  std::string failure;
  std::uint32_t crc1 = 0, crc2 = 0;

  auto main_task = [&]() -> asio::awaitable<void> {
    co_await n1.start();
    n1.node->campaign();
    asio::steady_timer t(ctx);
    for (int i = 0; i < 500; ++i) {
      const auto s = co_await n1.node->status();
      if (s.state == coraft::core::role::leader && s.applied_index >= 1) break;
      t.expires_after(10ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    if (n3) {
      // The observer joins before the fill and follows by appends.
      co_await n3->start();
      n3->transport->set_peers({{1, a1}});
      const coraft::core::config_change add3{coraft::core::config_change::kind::add_learner, 3, a3};
      const coraft::node_result<coraft::index_t> r = co_await n1.node->change_membership(add3);
      if (!r) failure = "adding the observer failed: " + r.error().code.message();
    }
    // Fill: size_mb commands of 1 MiB, 8 in flight.
    const auto t_fill = clock_type::now();
    std::size_t next = 0, done = 0;
    const std::size_t in_flight = 8;
    std::size_t running = 0;
    auto one = [&](std::size_t k) -> asio::awaitable<void> {
      std::string cmd(1u << 20, static_cast<char>('a' + k % 26));
      std::snprintf(cmd.data(), 32, "chunk %zu", k);
      const auto r = co_await n1.node->propose(std::move(cmd));
      if (!r && failure.empty()) failure = "propose failed: " + r.error().code.message();
      ++done;
      --running;
    };
    while (done < size_mb && failure.empty()) {
      while (running < in_flight && next < size_mb) {
        ++running;
        asio::co_spawn(ctx, one(next++), asio::detached);
      }
      t.expires_after(1ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    while (running > 0) {
      t.expires_after(1ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    fill_s = since(t_fill);
    if (failure.empty()) {
      const auto t_snap = clock_type::now();
      const coraft::node_result<coraft::index_t> s = co_await n1.node->snapshot();
      snapshot_s = since(t_snap);
      if (!s)
        failure = "snapshot failed: " + s.error().code.message();
      else
        snap_index = *s;
    }
    if (failure.empty()) {
      co_await n2.start();
      // A joiner knows nobody until a configuration reaches it (and that
      // configuration is in the snapshot it is about to receive): tell it
      // the leader's address, as coraft-kv --join does from the leader's
      // status.
      n2.transport->set_peers({{1, a1}});
      heartbeat_gap_before = (co_await n1.node->status()).metrics.max_heartbeat_gap_s;
      const auto t_install = clock_type::now();
      // A named change, not a braced temporary inside co_await: g++ 12
      // miscopies such a temporary's short string (ASan: bad-free).
      const coraft::core::config_change learner{coraft::core::config_change::kind::add_learner, 2, a2};
      const coraft::node_result<coraft::index_t> add = co_await n1.node->change_membership(learner);
      if (!add) failure = "adding the learner failed: " + add.error().code.message();
      if (n3) {
        writer_running = true;
        // Small writes while the snapshot streams: each must commit (node
        // 1 alone is the majority, but its appends to node 3 go out with
        // the chunks to node 2).
        asio::co_spawn(
            ctx,
            [&]() -> asio::awaitable<void> {
              asio::steady_timer pace(ctx);
              while (!installed && failure.empty()) {
                const auto t0 = clock_type::now();
                const auto r = co_await n1.node->propose(std::string(64, 'w'));
                if (!r && failure.empty()) failure = "a write during the install failed: " + r.error().code.message();
                slowest_write_s = std::max(slowest_write_s, since(t0));
                ++writes_during_install;
                pace.expires_after(10ms);
                co_await pace.async_wait(asio::use_awaitable);
              }
              writer_running = false;
            },
            asio::detached);
      }
      while (failure.empty()) {
        const auto s = co_await n2.node->status();
        if (s.applied_index >= snap_index) break;
        if (since(t_install) > 600) failure = "not installed within 600 s";
        t.expires_after(2ms);
        co_await t.async_wait(asio::use_awaitable);
      }
      install_s = since(t_install);
      installed = true;
      while (writer_running) {  // the last write completes (bounded by its propose timeout)
        t.expires_after(2ms);
        co_await t.async_wait(asio::use_awaitable);
      }
      // Both copies compared once node 2 applied what node 1 did after the
      // snapshot (the observer's writes).
      for (int i = 0; i < 5000 && failure.empty(); ++i) {
        const auto s1 = co_await n1.node->status();
        const auto s2 = co_await n2.node->status();
        heartbeat_gap = s1.metrics.max_heartbeat_gap_s;
        if (s2.applied_index >= s1.applied_index) break;
        t.expires_after(2ms);
        co_await t.async_wait(asio::use_awaitable);
      }
      crc1 = n1.sm.crc();
      crc2 = n2.sm.crc();
      state_bytes = n1.sm.bytes() + n2.sm.bytes() + (n3 ? n3->sm.bytes() : 0);
      if (failure.empty() && (n1.sm.bytes() != n2.sm.bytes() || crc1 != crc2))
        failure = "the learner's state differs from the leader's";
      co_await n2.stop();
    }
    if (n3) co_await n3->stop();
    co_await n1.stop();
  };
  asio::co_spawn(ctx, main_task(), [&](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      failure = std::string("error: ") + ex.what();
    }
  });
  ctx.run();
  if (!failure.empty()) {
    std::cerr << "coraft-bench snapshot-install: " << failure << "\n";
    return 1;
  }
  const double mib = static_cast<double>(size_mb);
  const std::uint64_t peak = peak_rss_bytes();
  if (json) {
    std::printf(
        "{\"size_mb\":%zu,\"chunk_kb\":%zu,\"window\":%zu,\"snapshot_index\":%llu,\"fill_s\":%.3f,\"snapshot_s\":%.3f,"
        "\"install_s\":%.3f,\"install_mb_per_s\":%.1f,\"disk_write_mb_per_s\":%.1f,\"peak_rss_bytes\":%llu,"
        "\"state_bytes\":%llu,\"rss_minus_state_bytes\":%lld",
        size_mb, chunk_kb, window, static_cast<unsigned long long>(snap_index), fill_s, snapshot_s, install_s,
        mib / install_s, disk_mib_s, static_cast<unsigned long long>(peak),
        static_cast<unsigned long long>(state_bytes),
        static_cast<long long>(peak) - static_cast<long long>(state_bytes));
    if (observer) {
      std::printf(",\"heartbeat_gap_ms\":{");
      const char* sep = "";
      for (const auto& [peer, gap] : heartbeat_gap) {
        std::printf("%s\"%llu\":%.1f", sep, static_cast<unsigned long long>(peer), gap * 1000);
        sep = ",";
      }
      std::printf("},\"heartbeat_gap_before_install_ms\":{");
      sep = "";
      for (const auto& [peer, gap] : heartbeat_gap_before) {
        std::printf("%s\"%llu\":%.1f", sep, static_cast<unsigned long long>(peer), gap * 1000);
        sep = ",";
      }
      std::printf("},\"writes_during_install\":%zu,\"slowest_write_ms\":%.1f", writes_during_install,
                  slowest_write_s * 1000);
    }
    std::printf("}\n");
  } else {
    std::printf("state %zu MiB built in %.2f s; snapshot taken in %.2f s (index %llu)\n", size_mb, fill_s, snapshot_s,
                static_cast<unsigned long long>(snap_index));
    std::printf(
        "new learner received and installed it in %.2f s (%.0f MiB/s, %zu KiB chunks over TCP, %zu in flight, "
        "fsync on; the disk writes %.0f MiB/s); states equal (CRC32C %08x)\n",
        install_s, mib / install_s, chunk_kb, window, disk_mib_s, crc2);
    if (observer) {
      std::printf("the leader's longest silence towards each follower:");
      for (const auto& [peer, gap] : heartbeat_gap)
        std::printf(" node %llu %.1f ms", static_cast<unsigned long long>(peer), gap * 1000);
      std::printf("; %zu writes during the install, the slowest %.1f ms\n", writes_during_install,
                  slowest_write_s * 1000);
    }
    std::printf("peak RSS %.0f MiB for %.0f MiB of state in both nodes (%+.0f MiB)\n",
                static_cast<double>(peak) / 1048576.0, static_cast<double>(state_bytes) / 1048576.0,
                (static_cast<double>(peak) - static_cast<double>(state_bytes)) / 1048576.0);
  }
  return 0;
}
