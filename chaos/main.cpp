// coraft-chaos — a Jepsen-style fault suite for coraft-kv, and the checker
// of the histories it records (issue 16; README "Fault suite").
//
//   coraft-chaos run --duration SECONDS [--nodes 3|5] [--nemesis LIST] [--seed N] [--out DIR] [--json]
//   coraft-chaos check FILE
//
// run: starts a cluster (cluster.hpp), drives clients (workload.hpp) under
// the nemesis (nemesis.hpp), heals every fault, waits for the cluster to
// recover, reads every key once more, checks the history
// (checker.hpp) and exits 0 (linearizable, nothing acknowledged lost),
// 1 (a violation or a lost acknowledged write), 2 (set-up failed), 3 (the
// cluster did not recover within 30 s of the last fault healing).
// check: 0 linearizable, 1 not (printing the smallest failing key's
// sub-history), 2 for a file it cannot read (naming the line).
#include "checker.hpp"
#include "cluster.hpp"
#include "history.hpp"
#include "http_client.hpp"
#include "nemesis.hpp"
#include "timeline.hpp"
#include "workload.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#ifndef CORAFT_KV_BINARY
#define CORAFT_KV_BINARY ""
#endif
#ifndef CORAFT_KV_FAULTS_BINARY
#define CORAFT_KV_FAULTS_BINARY ""
#endif
#ifndef CORAFT_NETNS_SCRIPT
#define CORAFT_NETNS_SCRIPT ""
#endif

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
namespace po = boost::program_options;
using namespace coraft::chaos;
using namespace std::chrono_literals;

constexpr int exit_ok = 0, exit_violation = 1, exit_setup = 2, exit_no_recovery = 3;

std::atomic<bool> interrupted{false};
// The first Ctrl-C (or SIGTERM) asks for a clean end: nodes killed,
// namespaces removed, exit 130. A second one ends the program at once
// (its nodes die with it; the next run removes its namespaces).
extern "C" void on_signal(int sig) {
  interrupted = true;
  std::signal(sig, SIG_DFL);
}

bool executable(const std::string& p) { return !p.empty() && ::access(p.c_str(), X_OK) == 0; }

// Where a program is, in PATH or the usual folders (PATH may lack the sbin
// ones); empty when nowhere.
std::string installed(const std::string& name) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    for (std::string d; std::getline(ss, d, ':');)
      if (!d.empty()) dirs.push_back(d);
  }
  for (const char* d : {"/usr/sbin", "/usr/bin", "/sbin", "/bin"}) dirs.emplace_back(d);
  for (const auto& d : dirs)
    if (executable(d + "/" + name)) return d + "/" + name;
  return {};
}

std::string first_existing(std::initializer_list<const char*> paths) {
  for (const char* p : paths)
    if (std::filesystem::exists(p)) return p;
  return {};
}

// ---- check ------------------------------------------------------------------

std::optional<std::vector<operation>> load_history(const std::string& path, std::string& why) {
  std::ifstream in(path);
  if (!in) {
    why = "cannot open " + path;
    return std::nullopt;
  }
  auto r = read_history(in);
  if (auto* e = std::get_if<parse_error>(&r)) {
    why = path + ": " + describe(*e);
    return std::nullopt;
  }
  return std::get<std::vector<operation>>(std::move(r));
}

int check_command(int argc, char** argv) {
  if (argc != 2 || std::string_view(argv[1]) == "--help") {
    std::cerr << "usage: coraft-chaos check FILE   (a history: JSON lines, README \"Fault suite\")\n";
    return argc == 2 ? 0 : exit_setup;
  }
  std::string why;
  const auto ops = load_history(argv[1], why);
  if (!ops) {
    std::cerr << "coraft-chaos check: " << why << "\n";
    return exit_setup;
  }
  const check_result r = check(*ops);
  std::printf("%zu operations on %zu keys checked in %.3f s\n", ops->size(), r.keys, r.seconds);
  if (!r.failing_keys.empty()) {
    std::printf("NOT linearizable: %zu key(s)", r.failing_keys.size());
    for (const auto& k : r.failing_keys) std::printf(" %s", k.c_str());
    std::printf("\nthe smallest, %s (%zu operations):\n%s", r.smallest_failing_key.c_str(), r.smallest_failing.size(),
                format_history(r.smallest_failing).c_str());
    return exit_violation;
  }
  if (r.timed_out) {
    std::printf("unknown: the search ran out of budget on %zu key(s)\n", r.timed_out_keys.size());
    return exit_violation;
  }
  std::printf("linearizable\n");
  return exit_ok;
}

// ---- run --------------------------------------------------------------------

struct run_flags {
  double duration = 60;
  int nodes = 3;
  std::string nemesis = "all";
  std::uint64_t seed = 0;
  std::string out;
  bool json = false;
  int clients = 8;
  int ops_per_key = 200;
  std::string binary;
  std::vector<std::string> node_env;
  std::vector<std::string> node_flags;
  bool no_namespaces = false;
  int max_active = 2;
};

void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p);
  out << text;
}

// Availability: for each fault, the time from its start to the next
// acknowledged write (or cas).
double max_unavailability(const std::vector<fault_record>& faults, const std::vector<std::int64_t>& ok_writes,
                          double end_s, std::ofstream& dat) {
  double worst = 0;
  for (const auto& f : faults) {
    const auto start_ns = static_cast<std::int64_t>(f.start_s * 1e9);
    const auto next = std::upper_bound(ok_writes.begin(), ok_writes.end(), start_ns);
    const double until = next == ok_writes.end() ? end_s : static_cast<double>(*next) / 1e9;
    worst = std::max(worst, until - f.start_s);
    dat << f.start_s << ' ' << (until - f.start_s) << ' ' << to_string(f.kind) << '\n';
  }
  return worst;
}

// The pictures of a run: acknowledged writes per second over time, the
// time from each fault to the next acknowledged write, and when each fault
// was in force, one row per kind (out/availability.svg, drawn by gnuplot
// when it is installed; the .dat files and availability.gp stay for
// redrawing).
void plot_availability(const std::filesystem::path& out, const std::vector<fault_record>& faults,
                       const std::vector<std::int64_t>& ok_writes, double end_s) {
  {
    std::ofstream w(out / "writes.dat");
    w << "# second, acknowledged writes and cas in it\n";
    std::vector<int> per_second(static_cast<std::size_t>(end_s) + 1, 0);
    for (std::int64_t t : ok_writes) {
      const auto sec = static_cast<std::size_t>(t / 1'000'000'000);
      if (sec < per_second.size()) ++per_second[sec];
    }
    for (std::size_t i = 0; i < per_second.size(); ++i) w << i << ' ' << per_second[i] << '\n';
  }
  {
    std::ofstream f(out / "faults.dat");
    f << "# row, start (s), length (s), kind\n";
    for (const auto& r : faults) {
      const auto row = std::find(all_faults().begin(), all_faults().end(), r.kind) - all_faults().begin();
      const double end = r.end_s > 0 ? r.end_s : end_s;
      f << row << ' ' << r.start_s << ' ' << std::max(end - r.start_s, 0.05) << ' ' << to_string(r.kind) << '\n';
    }
  }
  std::string ytics;
  for (std::size_t i = 0; i < all_faults().size(); ++i)
    ytics += (i ? ", \"" : "\"") + std::string(to_string(all_faults()[i])) + "\" " + std::to_string(i);
  write_file(out / "availability.gp",
             "set terminal svg size 1200,700 dynamic background '#ffffff'\n"
             "set output 'availability.svg'\n"
             "set multiplot layout 2,1\n"
             "set title 'acknowledged writes per second, and time from each fault to the next acknowledged write'\n"
             "set xlabel 'run time (s)'\nset ylabel 'writes/s'\nset y2label 'unavailability (s)'\n"
             "set y2tics\nset ytics nomirror\nset grid\nset key top left\n"
             "plot 'writes.dat' using 1:2 with lines lw 1.5 title 'acknowledged writes/s', "
             "'unavailability.dat' using 1:2 axes x1y2 with impulses lw 2 title 'fault start to next write (s)'\n"
             "set title 'faults in force'\nunset y2tics\nunset y2label\nset ylabel ''\n"
             "set ytics (" +
                 ytics + ")\nset yrange [-1:" + std::to_string(all_faults().size()) +
                 "]\n"
                 "plot 'faults.dat' using 2:1:3:(0) with vectors nohead lw 6 notitle\n"
                 "unset multiplot\n");
  if (const std::string gnuplot = installed("gnuplot"); !gnuplot.empty()) {
    const auto here = std::filesystem::current_path();
    std::filesystem::current_path(out);
    coraft::chaos::run_command({gnuplot, "availability.gp"}, "gnuplot.log");
    std::filesystem::current_path(here);
  }
}

// A write through any node, then every node applied through it: the
// cluster is whole and serving again.
bool recovered(cluster& c, std::chrono::seconds within, std::string& why) {
  const auto deadline = clock_type::now() + within;
  std::uint64_t index = 0;
  int attempt = 0;
  while (clock_type::now() < deadline && index == 0) {
    const auto ids = c.ids();
    const node_info& n = c.node(ids[static_cast<std::size_t>(attempt++) % ids.size()]);
    const http_answer a = http_call(n.http, "PUT", "/v1/kv/chaos-recovery", "x", 3s);
    why = "no write succeeded (last: " + (a.status != 0 ? std::to_string(a.status) + " " + a.error : a.failure) + ")";
    if (a.status == 200) {
      boost::system::error_code ec;
      const json::value v = json::parse(a.body, ec);
      if (!ec && v.is_object() && v.as_object().contains("index")) index = json::value_to<std::uint64_t>(v.at("index"));
    } else {
      std::this_thread::sleep_for(200ms);
    }
  }
  if (index == 0) return false;
  for (int id : c.ids()) {
    bool caught_up = false;
    while (!caught_up && clock_type::now() < deadline) {
      const auto st = status_of(c.node(id).http);
      caught_up =
          st && st->contains("applied_index") && json::value_to<std::uint64_t>(st->at("applied_index")) >= index;
      if (!caught_up) std::this_thread::sleep_for(100ms);
    }
    if (!caught_up) {
      why = "n" + std::to_string(id) + " did not apply index " + std::to_string(index);
      return false;
    }
  }
  return true;
}

int run_chaos(const run_flags& f) {
  const std::uint64_t seed = f.seed != 0 ? f.seed : std::random_device{}() | 1u;
  const std::filesystem::path out = f.out.empty() ? "coraft-chaos-" + std::to_string(seed) : f.out;
  std::filesystem::create_directories(out);
  auto say = [&](const std::string& line) {
    std::printf("coraft-chaos: %s\n", line.c_str());
    std::fflush(stdout);
  };

  // What this machine can do.
  std::vector<fault_kind> kinds;
  bool explicit_list = f.nemesis != "all";
  if (!explicit_list) {
    kinds = all_faults();
  } else {
    std::stringstream ss(f.nemesis);
    for (std::string name; std::getline(ss, name, ',');) {
      if (name == "none") continue;
      const auto k = fault_from_string(name);
      if (!k) {
        std::cerr << "coraft-chaos: --nemesis: unknown fault '" << name
                  << "' (kill, pause, partition-halves, partition-leader, partition-oneway, partition-bridge, clock, "
                     "disk, membership, transfer, all, none)\n";
        return exit_setup;
      }
      kinds.push_back(*k);
    }
  }
  const bool root = ::geteuid() == 0;
  const std::string script =
      std::getenv("CORAFT_NETNS_SCRIPT") ? std::getenv("CORAFT_NETNS_SCRIPT") : CORAFT_NETNS_SCRIPT;
  const bool can_netns = root && !f.no_namespaces && std::filesystem::exists(script) &&
                         !installed("iptables").empty() && !installed("ip").empty();
  const std::string faketime = first_existing({"/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
                                               "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1"});
  std::string binary = f.binary;
  if (binary.empty()) binary = executable(CORAFT_KV_FAULTS_BINARY) ? CORAFT_KV_FAULTS_BINARY : CORAFT_KV_BINARY;
  if (!executable(binary)) {
    std::cerr << "coraft-chaos: no coraft-kv binary at '" << binary << "': build it, or name one with --binary\n";
    return exit_setup;
  }
  const bool failpoints = binary.find("coraft-kv-faults") != std::string::npos;
  std::vector<fault_kind> usable;
  for (fault_kind k : kinds) {
    std::string missing;
    if (needs_namespaces(k) && !can_netns)
      missing = root ? "network namespaces (iproute2, iptables and test/netns/hosts.sh)"
                     : "root (each node in its own network namespace, partitions by its firewall)";
    if (k == fault_kind::clock && faketime.empty()) missing = "libfaketime (apt-get install faketime)";
    if (k == fault_kind::disk && !failpoints) missing = "coraft-kv-faults (the failpoint build; --binary)";
    if (missing.empty()) {
      usable.push_back(k);
    } else if (explicit_list) {
      std::cerr << "coraft-chaos: --nemesis " << to_string(k) << " needs " << missing << "\n";
      return exit_setup;
    } else {
      say(std::string(to_string(k)) + " skipped: needs " + missing);
    }
  }

  // One run at a time on this machine: runs share the namespaces' names and
  // the nodes' addresses, and a run's start removes what an earlier one
  // left (the lock dies with its holder, even by SIGKILL).
  const int lock_fd = ::open("/tmp/coraft-chaos.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    std::cerr << "coraft-chaos: another coraft-chaos run holds /tmp/coraft-chaos.lock; wait for it to end\n";
    return exit_setup;
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  cluster_config cc;
  cc.nodes = f.nodes;
  cc.binary = binary;
  cc.netns_script = can_netns ? script : "";
  cc.dir = out / "nodes";
  cc.node_env = f.node_env;
  cc.node_flags = {"--propose-timeout-ms", "2000", "--snapshot-entries", "2000", "--snapshot-trailing-entries", "500"};
  cc.node_flags.insert(cc.node_flags.end(), f.node_flags.begin(), f.node_flags.end());
  std::filesystem::remove_all(cc.dir);
  std::unique_ptr<cluster> c;
  try {
    c = std::make_unique<cluster>(cc);
  } catch (const std::exception& e) {
    const bool asked = std::any_of(usable.begin(), usable.end(), needs_namespaces) && explicit_list;
    if (cc.netns_script.empty() || asked) {
      std::cerr << "coraft-chaos: " << e.what() << "\n";
      return exit_setup;
    }
    // Root without the right to make namespaces (a container, say): run on
    // loopback without the partitions rather than not at all.
    say(std::string(e.what()) + ": running on loopback; the partition faults are skipped");
    usable.erase(std::remove_if(usable.begin(), usable.end(), needs_namespaces), usable.end());
    cc.netns_script.clear();
    std::filesystem::remove_all(cc.dir);
    c = std::make_unique<cluster>(cc);
  }
  say("seed " + std::to_string(seed) + ", " + std::to_string(f.nodes) + " nodes " +
      (c->namespaces() ? "in network namespaces" : "on loopback") + ", output in " + out.string());
  auto stop_now = [&] {
    c.reset();
    say("interrupted: nodes killed, namespaces removed");
    return 130;
  };
  for (int id : c->ids()) c->start(id);
  for (int id : c->ids())
    if (interrupted) {
      return stop_now();
    } else if (!c->wait_serving(id, 20s)) {
      std::cerr << "coraft-chaos: node " << id << " never started (see " << c->log_path(id) << ")\n";
      return exit_setup;
    }

  run_clock clock;
  nemesis_config nc;
  nc.kinds = usable;
  nc.seed = seed;
  nc.max_active = f.max_active;
  nc.faketime_lib = faketime;
  nc.failpoints = failpoints;
  nemesis nem(*c, nc, clock, out / "faults.log");
  {
    const auto until = clock_type::now() + 20s;
    while (nem.find_leader() == 0 && clock_type::now() < until && !interrupted) std::this_thread::sleep_for(100ms);
    if (interrupted) return stop_now();
    if (nem.find_leader() == 0) {
      std::cerr << "coraft-chaos: no leader within 20 s of start (see " << c->log_path(1) << ")\n";
      return exit_setup;
    }
  }
  nem.note("start: seed " + std::to_string(seed) + ", cluster " + c->cluster_flag());

  // The run: clients on an io_context of their own thread, the nemesis here.
  asio::io_context io;
  history_writer history((out / "history.jsonl").string(), clock);
  std::vector<std::string> addrs;
  for (int id : c->ids()) addrs.push_back(c->node(id).http);
  workload_config wc;
  wc.clients = f.clients;
  wc.ops_per_key = f.ops_per_key;
  wc.seed = seed;
  workload load(io, wc, addrs, history, clock);
  load.start(f.duration, interrupted);
  // The nemesis runs on this thread: nodes it restarts die with the thread
  // that forked them (PR_SET_PDEATHSIG follows the thread, not the process).
  std::exception_ptr clients_failed;
  std::thread clients([&] {
    try {
      io.run();
    } catch (...) {
      clients_failed = std::current_exception();
      interrupted = true;
    }
  });
  nem.run(f.duration, interrupted);
  clients.join();
  if (clients_failed) std::rethrow_exception(clients_failed);
  const double load_end_s = clock.now_s();
  if (interrupted) {
    // Ctrl-C: no healing, no check; the cluster's destructor kills every
    // node and removes the namespaces and rules.
    nem.note("interrupted; the history so far is in history.jsonl");
    return stop_now();
  }
  nem.note("load ended; healing");
  const bool whole = nem.heal_all(30s);
  if (interrupted) return stop_now();
  std::string why;
  const bool recovered_ok = whole && recovered(*c, 30s, why);
  if (!whole) why = "the membership is not whole again (see faults.log)";
  nem.note(recovered_ok ? "recovered" : "NOT recovered within 30 s: " + why);

  // A last linearizable read of every key: lost acknowledged writes show.
  const std::int64_t final_reads_ns = clock.now_ns();
  std::size_t unread = 0;
  if (interrupted) return stop_now();
  if (recovered_ok) {
    io.restart();
    load.final_reads(20, [&](std::size_t u) { unread = u; });
    io.run();
  }
  if (interrupted) return stop_now();
  history.flush();
  for (int id : c->ids()) c->terminate(id, 10s);
  c.reset();  // namespaces removed

  std::string load_why;
  const auto ops = load_history((out / "history.jsonl").string(), load_why);
  if (!ops) {
    std::cerr << "coraft-chaos: the recorded history does not parse (a bug of this tool): " << load_why << "\n";
    return exit_setup;
  }
  const check_result r = check(*ops);
  // A failing key is a lost acknowledged write when it is linearizable
  // without its final read.
  std::size_t violations = 0, lost = 0, drawn = 0;
  constexpr std::size_t max_drawn = 5;  // timelines written, at most
  for (const auto& key : r.failing_keys) {
    std::vector<operation> before, all;
    for (const auto& op : *ops)
      if (op.key == key) {
        all.push_back(op);
        if (op.invoke_ns < final_reads_ns) before.push_back(op);
      }
    const bool lost_ack = check_key(before).linearizable;
    (lost_ack ? lost : violations) += 1;
    if (drawn++ >= max_drawn && key != r.smallest_failing_key) continue;
    const std::string base = (lost_ack ? "lost-ack-" : "violation-") + key;
    write_file(out / (base + ".txt"), format_history(all));
    write_file(out / (base + ".svg"), timeline_svg(key, all));
    std::ofstream h(out / (base + ".jsonl"));
    write_history(h, all);
  }
  double worst = 0;
  {
    std::ofstream dat(out / "unavailability.dat");
    dat << "# fault start (s), time to the next acknowledged write (s), kind\n";
    worst = max_unavailability(nem.records(), load.ok_write_times(), load_end_s, dat);
  }
  plot_availability(out, nem.records(), load.ok_write_times(), load_end_s);

  const workload_counts& n = load.counts();
  std::printf("\n%llu operations: %llu ok, %llu fail, %llu info; %zu keys\n", static_cast<unsigned long long>(n.ops),
              static_cast<unsigned long long>(n.ok), static_cast<unsigned long long>(n.fail),
              static_cast<unsigned long long>(n.info), r.keys);
  std::printf("faults:");
  for (const auto& [k, v] : nem.counts()) std::printf(" %s %d", k.c_str(), v);
  std::printf("\nlongest unavailability: %.2f s (fault start to next acknowledged write)\n", worst);
  std::printf("checked %zu operations in %.3f s: %zu violation(s), %zu lost acknowledged write(s)%s\n", r.ops,
              r.seconds, violations, lost, r.timed_out ? ", some keys unknown (search budget)" : "");
  if (nem.unexpected_exits() > 0)
    std::printf("nodes that exited with no fault to explain it: %d\n", nem.unexpected_exits());
  if (!r.failing_keys.empty())
    std::printf("the smallest failing key, %s:\n%s(timelines of up to 6 keys: %s/violation-*.svg, lost-ack-*.svg)\n",
                r.smallest_failing_key.c_str(), format_history(r.smallest_failing).c_str(), out.c_str());
  if (!recovered_ok) std::printf("NOT recovered within 30 s after the faults healed: %s\n", why.c_str());
  if (unread > 0) std::printf("%zu key(s) could not be read at the end: their last writes are unchecked\n", unread);
  std::printf("history: %s, faults: %s\n", (out / "history.jsonl").c_str(), (out / "faults.log").c_str());

  int code = exit_ok;
  if (violations > 0 || lost > 0 || r.timed_out)
    code = exit_violation;
  else if (!recovered_ok || unread > 0)
    code = exit_no_recovery;
  if (f.json) {
    json::object o;
    o["ops"] = n.ops;
    o["ok"] = n.ok;
    o["fail"] = n.fail;
    o["unknown"] = n.info;  // info: the outcome is unknown
    json::object fo;
    for (const auto& [k, v] : nem.counts()) fo[k] = v;
    o["faults"] = fo;
    o["violations"] = violations;
    o["lost_acks"] = lost;
    o["unchecked_keys"] = r.timed_out_keys.size();  // the search ran out of budget: exit 1
    o["unread_keys"] = unread;                      // the final read never succeeded: exit 3
    o["max_unavailability_s"] = worst;
    o["recovered"] = recovered_ok;
    o["unexpected_exits"] = nem.unexpected_exits();
    o["check_seconds"] = r.seconds;
    o["keys"] = r.keys;
    o["seed"] = seed;
    o["namespaces"] = !cc.netns_script.empty();
    o["exit"] = code;
    std::printf("%s\n", json::serialize(o).c_str());
  }
  return code;
}

int run_main(int argc, char** argv) {
  run_flags f;
  po::options_description d("coraft-chaos run: coraft-kv under faults, then a linearizability check");
  d.add_options()("help,h", "show this help and exit")("duration", po::value(&f.duration)->required(),
                                                       "seconds of load under faults (required)")(
      "nodes", po::value(&f.nodes)->default_value(3), "3 or 5 coraft-kv processes")(
      "nemesis", po::value(&f.nemesis)->default_value("all"),
      "faults, comma-separated: kill, pause, partition-halves, partition-leader, partition-oneway, "
      "partition-bridge, clock, disk, membership, transfer; all; none")(
      "seed", po::value(&f.seed)->default_value(0), "the random seed of the nemesis and the clients (0: a new one)")(
      "out", po::value(&f.out),
      "directory for the history, fault log, node logs and timelines "
      "(default: ./coraft-chaos-SEED)")("json", po::bool_switch(&f.json), "end with one JSON line of results")(
      "clients", po::value(&f.clients)->default_value(8), "concurrent client processes")(
      "ops-per-key", po::value(&f.ops_per_key)->default_value(200), "operations on a key before it is retired")(
      "max-faults", po::value(&f.max_active)->default_value(2), "faults in force at once, at most")(
      "binary", po::value(&f.binary),
      "the coraft-kv to test (default: this build's coraft-kv-faults, which "
      "is coraft-kv plus failpoints that are off unless CORAFT_FAILPOINTS is set)")(
      "node-env", po::value(&f.node_env)->composing(), "NAME=VALUE in every node's environment (repeatable)")(
      "node-flag", po::value(&f.node_flags)->composing(), "an extra coraft-kv flag for every node (repeatable)")(
      "no-namespaces", po::bool_switch(&f.no_namespaces), "run on loopback even as root (no partitions)");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, d), vm);
    if (vm.count("help")) {
      std::cout << d
                << "\nExit: 0 linearizable and nothing acknowledged lost; 1 a violation, a lost acknowledged "
                   "write or a key left unchecked; 2 set-up failed; 3 no recovery within 30 s after the faults "
                   "healed, or a key that could not be read at the end; 130 interrupted.\n";
      return exit_ok;
    }
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "coraft-chaos run: " << e.what() << " (see coraft-chaos run --help)\n";
    return exit_setup;
  }
  if (f.nodes != 3 && f.nodes != 5) {
    std::cerr << "coraft-chaos run: --nodes must be 3 or 5\n";
    return exit_setup;
  }
  if (f.duration <= 0 || f.duration > 86400) {
    std::cerr << "coraft-chaos run: --duration must be 1 to 86400 seconds\n";
    return exit_setup;
  }
  if (f.clients < 1 || f.clients > 256 || f.ops_per_key < 1 || f.max_active < 1) {
    std::cerr << "coraft-chaos run: --clients is 1 to 256; --ops-per-key and --max-faults at least 1\n";
    return exit_setup;
  }
  for (const auto& e : f.node_env)
    if (e.find('=') == std::string::npos || e.front() == '=') {
      std::cerr << "coraft-chaos run: --node-env wants NAME=VALUE, not '" << e << "'\n";
      return exit_setup;
    }
  return run_chaos(f);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view cmd = argc > 1 ? argv[1] : "";
  try {
    if (cmd == "run") return run_main(argc - 1, argv + 1);
    if (cmd == "check") return check_command(argc - 1, argv + 1);
  } catch (const std::exception& e) {
    std::cerr << "coraft-chaos: " << e.what() << "\n";
    return exit_setup;
  }
  std::cerr << "usage: coraft-chaos run --duration SECONDS [--nodes 3|5] [--nemesis LIST] [--seed N] [--out DIR] "
               "[--json]\n       coraft-chaos check FILE\n(coraft-chaos run --help for every flag)\n";
  return cmd == "--help" || cmd == "-h" ? exit_ok : exit_setup;
}
