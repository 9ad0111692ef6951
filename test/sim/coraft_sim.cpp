// coraft-sim — runs the deterministic cluster simulation (sim_cluster.hpp)
// for a range of seeds and stops at the first broken invariant.
//
//   coraft-sim --seeds N --first-seed S [--nodes 3|5] [--steps K]
//              [--storage memory|file|posix] [--features LIST] [--verbose]
//
// Each seed is one run: K ticks of faults, then heal and liveness. On success
// it prints "N seeds passed" and exits 0. On the first violation it prints the
// seed, the invariant, the last events and the command that replays exactly
// that run, and exits 1. A bad flag exits 2 with a message naming it.
// Invariants: those of invariant_checker ([§5.2], [§5.3], [§5.4], [Fig. 3];
// snapshots [§7]; linearizable reads [thesis §6.4]; membership changes
// [thesis ch. 4]) and the transfer checks of sim_cluster [thesis §3.10].
//
// --features picks the operations beyond the base algorithm: `all` (the
// default: each seed draws whether and how often it snapshots, reads and
// transfers and changes membership), `none` (the base algorithm:
// the histories of before these existed), or a comma list of snapshots,
// reads, transfers, membership (only those, and every seed uses them). membership:
// leaders are asked to add brand-new servers (learners, now and then
// voters; they start empty and join), promote learners, remove followers or
// themselves, one server at a time.
//
// --storage picks each node's disk: the in-memory model (memory, the
// default), the real coraft::wal over an in-memory sim_file_system per node
// (file: power loss is modelled, also in the middle of an append or of a
// recovery), or the real coraft::wal over the real file system (posix: in a
// mkdtemp directory under /tmp, removed at the end — kept after a failure;
// the kernel keeps what was written, so a crash there only reopens the log).
#include <support/planted.hpp>
#include <support/sim_cluster.hpp>

#include <boost/program_options.hpp>

#include <unistd.h>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

namespace {

namespace po = boost::program_options;
using coraft::test::sim_cluster;
using coraft::test::sim_config;
using coraft::test::sim_storage;

const int default_steps = sim_config{}.fault_ticks;

// What the abort handler prints: the core panics with std::abort when its
// own check_invariants() (or any internal assertion) fails, and the report
// must still say which seed and which events led there.
const sim_cluster* g_running = nullptr;
std::string g_replay;
std::int64_t g_seeds_run = 0;

void write_err(const std::string& s) {
  // Best effort inside a signal handler: the process is dying anyway.
  const char* p = s.data();
  std::size_t left = s.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) return;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

extern "C" void on_abort(int) {
  if (g_running != nullptr) {
    write_err("\ncoraft-sim: the core aborted (its own invariant check or a panic) in seed " +
              std::to_string(g_running->config().seed) + " after " + std::to_string(g_seeds_run) +
              " seed(s)\nlast events:\n" + g_running->trace_text() + "replay: " + g_replay + "\n");
  }
  std::signal(SIGABRT, SIG_DFL);
  std::abort();
}

// --watchdog: a seed that runs this long is stuck in a loop (a core that
// spins on bad input never returns to the simulation): report it.
extern "C" void on_alarm(int) {
  write_err("\ncoraft-sim: watchdog: seed " + std::to_string(g_running ? g_running->config().seed : 0) +
            " made no progress: a busy loop (broke an invariant: liveness of the core) after " +
            std::to_string(g_seeds_run) + " seed(s)\nreplay: " + g_replay + "\n");
  std::_Exit(1);
}

std::string replay_command(std::uint64_t seed, int nodes, int steps, const std::string& storage,
                           const std::string& features) {
  std::string cmd = "coraft-sim --seeds 1 --first-seed " + std::to_string(seed) + " --nodes " + std::to_string(nodes);
  if (steps != default_steps) cmd += " --steps " + std::to_string(steps);
  if (storage != "memory") cmd += " --storage " + storage;
  if (features != "all") cmd += " --features " + features;
  return cmd + " --verbose";
}

int usage_error(const std::string& msg, const po::options_description& desc) {
  std::cerr << "coraft-sim: " << msg << "\n\n" << desc;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t seeds = 1;
  std::int64_t first_seed = 1;
  int nodes = 3;
  int steps = default_steps;
  bool verbose = false;
  std::string storage = "memory";
  std::string features = "all";
  bool no_wal_compaction = false;
  bool old_faults = false;
  std::string plant;
  unsigned watchdog = 0;

  po::options_description desc(
      "usage: coraft-sim --seeds N --first-seed S [--nodes 3|5] [--steps K]\n"
      "                  [--storage memory|file|posix] [--features LIST] [--verbose]");
  // clang-format off
  desc.add_options()
      ("help,h", "print this help")
      ("seeds", po::value(&seeds)->default_value(1), "number of seeds to run (>= 1)")
      ("first-seed", po::value(&first_seed)->default_value(1), "first seed (>= 0)")
      ("nodes", po::value(&nodes)->default_value(3), "cluster size: 3 or 5")
      ("steps", po::value(&steps)->default_value(default_steps),
       "ticks of the fault phase per seed (>= 1)")
      ("storage", po::value(&storage)->default_value("memory"),
       "each node's disk: memory (the in-memory model), file (the real coraft::wal over an "
       "in-memory simulated file system; power loss modelled, also in the middle of appends "
       "and recoveries, with torn writes), or posix (the real coraft::wal over real files in a "
       "temporary directory under /tmp; power loss cannot be simulated there: a crash only "
       "closes and reopens the log)")
      ("features", po::value(&features)->default_value("all"),
       "operations beyond the base algorithm: all (each seed draws its rates, zero included), "
       "none, or a comma list of snapshots, reads, transfers, membership (only those, in every "
       "seed)")
      ("no-wal-compaction", po::bool_switch(&no_wal_compaction),
       "file/posix storage: snapshots are taken and installed, but log compactions are not "
       "written to the WAL (it keeps the entries a snapshot covers)")
      ("watchdog", po::value(&watchdog)->default_value(0),
       "seconds a single seed may run before it counts as stuck in a loop (0: no limit)")
      ("old-faults-only", po::bool_switch(&old_faults),
       "without the faults and checks added for issue 15 (one-way and bridge partitions, clock "
       "drift, a broken peer's hints, partitions held after the liveness phase): to compare runs")
#ifdef CORAFT_PLANTED_BUGS
      ("plant", po::value(&plant), "switch a fixed bug back on (coraft/detail/planted.hpp): its name")
#endif
      ("verbose,v", po::bool_switch(&verbose), "print every event and a summary per seed");
  // clang-format on

  po::variables_map vm;
  try {
    const po::positional_options_description no_positionals;  // a stray word is an error
    po::store(po::command_line_parser(argc, argv).options(desc).positional(no_positionals).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return usage_error(e.what(), desc);
  }
  if (vm.count("help") != 0) {
    std::cout << desc;
    return 0;
  }
  if (seeds < 1) return usage_error("--seeds must be at least 1", desc);
  if (first_seed < 0) return usage_error("--first-seed must not be negative", desc);
  if (nodes != 3 && nodes != 5) return usage_error("--nodes must be 3 or 5", desc);
  if (steps < 1) return usage_error("--steps must be at least 1", desc);
  sim_storage kind = sim_storage::memory;
  if (storage == "file")
    kind = sim_storage::sim_file;
  else if (storage == "posix")
    kind = sim_storage::posix;
  else if (storage != "memory")
    return usage_error("--storage must be memory, file or posix", desc);
  bool snapshots = true, reads = true, transfers = true, membership = true, focused = false;
  if (features == "none") {
    snapshots = reads = transfers = membership = false;
  } else if (features != "all") {
    snapshots = reads = transfers = membership = false;
    focused = true;
    std::size_t pos = 0;
    while (pos <= features.size()) {
      const std::size_t end = std::min(features.find(',', pos), features.size());
      const std::string f = features.substr(pos, end - pos);
      if (f == "snapshots")
        snapshots = true;
      else if (f == "reads")
        reads = true;
      else if (f == "transfers")
        transfers = true;
      else if (f == "membership")
        membership = true;
      else
        return usage_error("--features: unknown feature '" + f +
                               "' (all, none, or a comma list of snapshots, reads, transfers, "
                               "membership)",
                           desc);
      pos = end + 1;
    }
  }

#ifdef CORAFT_PLANTED_BUGS
  if (!plant.empty()) {
    const auto bug = coraft::test::planted_bug_named(plant);
    if (!bug)
      return usage_error("--plant: no bug named '" + plant + "' (" + coraft::test::planted_bug_list() + ")", desc);
    coraft::detail::planted = *bug;
  }
#endif
  // posix: one temporary directory for the whole run, one subdirectory per seed.
  std::string tmp_dir;
  if (kind == sim_storage::posix) {
    std::string tmpl = "/tmp/coraft-sim-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("coraft-sim: mkdtemp /tmp/coraft-sim-XXXXXX");
      return 1;
    }
    tmp_dir = tmpl;
  }

  std::signal(SIGABRT, on_abort);
  if (watchdog > 0) std::signal(SIGALRM, on_alarm);
  for (std::int64_t k = 0; k < seeds; ++k) {
    sim_config cfg;
    cfg.seed = static_cast<std::uint64_t>(first_seed + k);
    cfg.nodes = nodes;
    cfg.fault_ticks = steps;
    if (verbose) cfg.verbose = &std::cout;
    cfg.storage = kind;
    cfg.snapshots = snapshots;
    cfg.reads = reads;
    cfg.transfers = transfers;
    cfg.membership_changes = membership;
    cfg.focused = focused;
    cfg.wal_compaction = !no_wal_compaction;
    cfg.new_faults = !old_faults;
    g_seeds_run = k + 1;
    if (kind == sim_storage::posix) {
      cfg.storage_dir = tmp_dir + "/seed-" + std::to_string(cfg.seed);
      std::filesystem::create_directory(cfg.storage_dir);
    }
    g_replay = replay_command(cfg.seed, nodes, steps, storage, features) +
               (no_wal_compaction ? " --no-wal-compaction" : "") + (old_faults ? " --old-faults-only" : "") +
               (plant.empty() ? "" : " --plant " + plant);
    std::optional<coraft::test::violation> v;
    std::optional<sim_cluster> sim_holder;
    try {
      sim_holder.emplace(cfg);  // opens every node's log
    } catch (const std::exception& e) {
      std::cerr << "coraft-sim: seed " << cfg.seed << ": cannot set up storage: " << e.what() << "\n";
      return 1;
    }
    sim_cluster& sim = *sim_holder;
    g_running = &sim;
    if (watchdog > 0) ::alarm(watchdog);
    v = sim.run();
    if (watchdog > 0) ::alarm(0);
    if (verbose)
      std::cout << "seed " << cfg.seed << ": " << (v ? "FAILED" : "ok") << "; " << sim.profile().describe() << "; "
                << sim.stats().describe() << "; " << sim.checker().leaders().size() << " terms with a leader, "
                << sim.checker().committed().size() << " entries committed\n";
    if (v) {
      std::cout.flush();
      std::cerr << "coraft-sim: seed " << cfg.seed << " (" << nodes << " nodes) broke an invariant after " << (k + 1)
                << " seed(s)\n"
                << "invariant: " << v->invariant << "\n"
                << "detail:    " << v->detail << "\n"
                << "last events:\n"
                << sim.trace_text() << "replay:    " << g_replay << "\n";
      if (!tmp_dir.empty()) std::cerr << "files:     kept in " << cfg.storage_dir << "\n";
      g_running = nullptr;
      return 1;
    }
    g_running = nullptr;
    sim_holder.reset();  // closes the logs
    if (!cfg.storage_dir.empty()) std::filesystem::remove_all(cfg.storage_dir);
  }
  if (!tmp_dir.empty()) std::filesystem::remove_all(tmp_dir);
  std::cout << seeds << " seeds passed\n";
  return 0;
}
