// cluster.hpp — the coraft-kv processes of one coraft-chaos run: where each
// node lives (a network namespace of its own as its own host when run as
// root, else an address on 127.0.0.0/8), starting it (fork/execve, in its
// namespace and UTS namespace, with an environment for failpoints or
// libfaketime), crashing, stopping, pausing and resuming it, and noticing
// when it exited by itself (a node whose disk failed exits: the fatal-error
// policy of DESIGN.md "Guarantees").
//
// Invariants: only pids this object forked are ever signalled, and each is
// reaped; every child dies with coraft-chaos (PR_SET_PDEATHSIG: the thread
// that starts nodes must live as long as they do — the main thread); the
// namespaces and bridge it made are removed by its destructor, and any
// left by a killed run are removed before it makes its own. Not
// thread-safe: one thread (the nemesis during a run) drives it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace coraft::chaos {

struct cluster_config {
  int nodes = 3;
  std::string binary;        // coraft-kv (or coraft-kv-faults when disk faults are wanted)
  std::string netns_script;  // test/netns/hosts.sh; empty: no namespaces (loopback)
  std::string netns_prefix = "chaos";
  int loopback_base = 160;  // node i on 127.0.0.(base+i) without namespaces
  int raft_port = 7001, http_port = 8001;
  std::filesystem::path dir;            // data and logs: dir/nI/{data,node.log}
  std::vector<std::string> node_flags;  // added to every node's command line
  std::vector<std::string> node_env;    // NAME=VALUE added to every node's environment
};

struct node_info {
  int id = 0;
  std::string raft, http;  // host:port
  std::string netns;       // "" on loopback
  pid_t pid = -1;          // -1: not running
  bool paused = false;
  bool joining = false;          // started with --join (after a membership change)
  std::optional<int> last_exit;  // how it last ended (-signal when killed by one)
};

struct launch_options {
  std::vector<std::string> env;     // NAME=VALUE on top of the cluster's
  std::optional<std::string> join;  // --join HOST:PORT with an empty data dir

  static launch_options with_env(std::vector<std::string> e) {
    launch_options o;
    o.env = std::move(e);
    return o;
  }
  static launch_options joining(std::string via) {
    launch_options o;
    o.join = std::move(via);
    return o;
  }
};

class cluster {
 public:
  // Makes the namespaces (when cfg.netns_script is set) and directories;
  // throws std::runtime_error naming what could not be set up.
  explicit cluster(cluster_config cfg);
  ~cluster();
  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  std::vector<int> ids() const;
  const node_info& node(int id) const { return nodes_.at(id); }
  bool namespaces() const { return !cfg_.netns_script.empty(); }
  std::string cluster_flag() const;
  std::filesystem::path data_dir(int id) const;
  std::filesystem::path log_path(int id) const;

  // Forks and execs node `id` (not running). False when fork failed.
  bool start(int id, const launch_options& how = {});
  // Polls GET /v1/status until it answers (true) or the node exits or
  // `within` passes (false).
  bool wait_serving(int id, std::chrono::milliseconds within);
  void kill(int id);                                        // SIGKILL and reap: a crash
  bool terminate(int id, std::chrono::milliseconds bound);  // SIGTERM, reap; SIGKILL after bound
  void pause(int id);                                       // SIGSTOP
  void resume(int id);                                      // SIGCONT
  // Reaps nodes that exited by themselves; returns their ids.
  std::vector<int> reap_exited();
  bool running(int id) const { return nodes_.at(id).pid > 0; }
  // Removes node `id`'s data directory (it must not be running).
  void wipe(int id);

  // The firewall of node `a` drops what comes from node `b` (namespaces
  // only); heal() removes every rule.
  void cut(int a, int b);
  void heal();

 private:
  void run_script(const std::vector<std::string>& args) const;

  cluster_config cfg_;
  std::map<int, node_info> nodes_;
  bool netns_up_ = false;
};

// Runs a command to its end (bounded); its exit code, -1 when it could not
// run. Output goes to `log` when given, else is discarded.
int run_command(const std::vector<std::string>& argv, const std::filesystem::path& log = {},
                std::chrono::milliseconds bound = std::chrono::seconds(20));

}  // namespace coraft::chaos
