// nemesis.hpp — the faults of a coraft-chaos run, chosen by a seeded random
// stream, overlapping (at most `max_active` at once), each logged with its
// time when it starts and when it heals:
//
//   kill               SIGKILL a node; heal: restart it
//   pause              SIGSTOP; heal: SIGCONT
//   partition-halves   the nodes split in two random halves
//   partition-leader   the leader cut off from everyone
//   partition-oneway   one node stops hearing another (the leader, half the time)
//   partition-bridge   two halves that each see one middle node
//   clock              restart a node under libfaketime: its clocks (the
//                      monotonic one too) offset and running 0.5x to 2x
//   disk               restart a node (coraft-kv-faults) with a failpoint:
//                      fsync EIO, ENOSPC on the log, or fsync slowed; the
//                      node exits by the fatal-error policy; heal: restart
//   membership         remove a node, wipe it, re-add it as a learner
//                      (--join); heal: promote it
//   transfer           leadership transfer to another voter (instant)
//
// Partitions are firewall rules in each node's namespace (cluster::cut), so
// they need root; without it they are skipped with one line. Node faults
// (kill, pause, clock, disk, membership) aim at the leader half the time,
// never at a node another active fault holds, and hold at most a minority
// of the nodes at once; one partition at a time, which may overlap them (so
// a majority can still be lost for a while).
//
// Invariant: after heal_all() no fault is active: every rule is gone, every
// node runs unpaused without failpoints or faketime, and every node is a
// voter again (or heal_all says why not).
#pragma once

#include "cluster.hpp"
#include "workload.hpp"

#include <atomic>
#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace coraft::chaos {

enum class fault_kind : std::uint8_t {
  kill,
  pause,
  partition_halves,
  partition_leader,
  partition_oneway,
  partition_bridge,
  clock,
  disk,
  membership,
  transfer,
};
std::string_view to_string(fault_kind k);
std::optional<fault_kind> fault_from_string(std::string_view s);
const std::vector<fault_kind>& all_faults();
bool needs_namespaces(fault_kind k);

struct nemesis_config {
  std::vector<fault_kind> kinds;
  std::uint64_t seed = 1;
  int max_active = 2;
  double gap_min_s = 0.5, gap_max_s = 3;      // between fault starts
  double length_min_s = 1, length_max_s = 6;  // a fault's life before it heals
  std::string faketime_lib;                   // libfaketime; empty: no clock faults
  bool failpoints = false;                    // the nodes are coraft-kv-faults
};

// One fault, for the summary and the availability figures.
struct fault_record {
  fault_kind kind;
  double start_s = 0;
  double end_s = 0;  // when it healed (== start_s for instant ones)
  std::string what;
};

// A fault in force: what it holds and how it ends.
struct active_fault {
  int no = 0;
  fault_kind kind;
  std::vector<int> nodes;  // the nodes it holds (no other node fault touches them)
  bool partition = false;
  double heal_at_s = 0;
  std::size_t record = 0;  // index in records()
  std::string env;         // clock and disk: what the node was restarted with
};

class nemesis {
 public:
  nemesis(cluster& c, nemesis_config cfg, const run_clock& clock, const std::filesystem::path& log);

  // Injects and heals faults until `until_s` (run clock) or `stop`; then
  // heals what is active. Runs on a thread of its own.
  void run(double until_s, const std::atomic<bool>& stop);
  // Heals every active fault and puts the cluster back whole (see the
  // invariant above); false when it could not within `bound`.
  bool heal_all(std::chrono::seconds bound);

  // The leader with the highest term among the nodes that say they lead
  // (0: none). Asks every running node.
  int find_leader();
  // What node `id` is in the leader's configuration.
  enum class membership_of { unknown, none, learner, voter };
  membership_of member(int id);

  const std::vector<fault_record>& records() const { return records_; }
  std::map<std::string, int> counts() const;
  int unexpected_exits() const { return unexpected_exits_; }
  void note(const std::string& line);  // one timed line in the fault log

 private:
  bool start_one();
  void heal_due();
  void wait_a_little();
  void heal(active_fault& a);
  int pick_node(const std::vector<int>& candidates, bool prefer_leader);
  std::vector<int> free_nodes() const;
  void restart_plain(int id);
  void rejoin(int id);
  bool change(const std::string& method, const std::string& target, std::chrono::seconds bound,
              std::string* last = nullptr);
  void watch_exits();

  cluster& cluster_;
  nemesis_config cfg_;
  const run_clock& clock_;
  std::ofstream log_;
  std::mt19937_64 rng_;
  std::vector<active_fault> active_;
  std::vector<fault_record> records_;
  int next_fault_ = 1;
  int unexpected_exits_ = 0;
};

}  // namespace coraft::chaos
