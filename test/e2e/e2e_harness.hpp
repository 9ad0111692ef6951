// e2e_harness.hpp — what the e2e stories stand on: real coraft-kv processes
// (fork/execve of the binary built by this tree, or of the one named by
// CORAFT_KV_BINARY; coraft-kv-faults where a story injects disk faults) on
// loopback, one 127.0.0.x per node, and a tiny blocking HTTP client with
// deadlines.
//
// kv_cluster (a Boost.Test fixture base) owns its processes: it starts them,
// crashes them (SIGKILL) or stops them (SIGTERM, then waitpid and the exit
// status), and its destructor SIGKILLs and reaps whatever is still running,
// prints every node's log when the test failed, and removes its temporary
// directory. It only ever signals pids it forked itself.
//
// Every wait is a poll with a named, bounded deadline; a fixed pause is
// never an assertion. Nothing here calls Boost.Test assertions from a thread
// other than the test's own.
#pragma once

#include <boost/json/value.hpp>

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace e2e {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

// ---- a tiny HTTP/1.1 client (one request per connection) ----------------

struct http_reply {
  int status = 0;                              // 0: no answer (refused, reset, timed out)
  std::string failure;                         // why there was no answer
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  bool answered() const { return status != 0; }
  std::string header(const std::string& lower_name) const;
  // The body as JSON; null when it does not parse.
  boost::json::value json() const;
  // "<status> <body>" for assertion messages.
  std::string brief() const;
};

// `host_port` is "127.0.0.11:28002". Sends `Connection: close` and reads to
// the end. Never throws for network trouble: the reply says what happened.
http_reply http_call(const std::string& host_port, const std::string& method, const std::string& target,
                     const std::string& body = {},
                     const std::vector<std::pair<std::string, std::string>>& extra_headers = {},
                     std::chrono::milliseconds timeout = 8000ms);

// Raw bytes in, whatever comes back until the peer closes or the deadline.
struct raw_outcome {
  std::string received;
  bool connected = false;
  bool closed_by_peer = false;  // EOF or reset
  bool timed_out = false;
};
raw_outcome raw_exchange(const std::string& host_port, const std::string& bytes, std::chrono::milliseconds timeout,
                         bool shut_write_after = false);

// A connection kept open across other steps (to see when the peer drops it).
class raw_connection {
 public:
  explicit raw_connection(const std::string& host_port, std::chrono::milliseconds timeout = 2000ms);
  ~raw_connection();
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;
  bool connected() const { return fd_ >= 0; }
  bool send(const std::string& bytes);
  // True once the peer has closed (EOF or reset), waiting up to `timeout`.
  bool wait_closed_by_peer(std::chrono::milliseconds timeout);

 private:
  int fd_ = -1;
};

// Splits "http://host:port/target" into ("host:port", "/target").
std::optional<std::pair<std::string, std::string>> split_location(const std::string& url);

// ---- processes --------------------------------------------------------------

// Path of the coraft-kv binary under test: the environment variable
// CORAFT_KV_BINARY when set (to run the stories against another build, e.g.
// an older commit's), else the one this tree built.
std::string kv_binary();
// Path of coraft-kv-faults, the test build with failpoints under its file
// storage (test/faults/fault_file_system.hpp): CORAFT_KV_FAULTS_BINARY when
// set, else the one this tree built.
std::string kv_faults_binary();

// How to start a node, when not as usual.
struct launch {
  std::string binary;                  // empty: kv_binary()
  std::vector<std::string> env;        // "NAME=value", added to the environment
  std::optional<std::string> cluster;  // replaces the --cluster flag
};

// Runs coraft-kv with `args` to completion (at most `timeout`, then
// SIGKILL); the exit code (-signal when killed) and everything it printed.
struct run_result {
  int exit_code = 0;
  std::string output;  // stdout and stderr interleaved
};
run_result run_to_exit(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 10000ms,
                       const launch& how = {});

// ---- a cluster of coraft-kv processes ---------------------------------------

struct node_status {
  int id = 0;
  std::string role;
  std::uint64_t term = 0;
  int leader = 0;  // 0: none known
  std::uint64_t commit_index = 0;
  std::uint64_t applied_index = 0;
  std::uint64_t last_log_index = 0;
  boost::json::value raw;
};

// Node i (1-based) listens for raft on 127.0.0.(10+i):(base+1) and for HTTP
// on 127.0.0.(10+i):(base+2), where base = 28000 + 100 * slot: give every
// test its own slot so that stories never share ports.
class kv_cluster {
 public:
  kv_cluster(int slot, int size = 3, std::vector<std::string> extra_flags = {});
  ~kv_cluster();
  kv_cluster(const kv_cluster&) = delete;
  kv_cluster& operator=(const kv_cluster&) = delete;

  int size() const { return static_cast<int>(nodes_.size()); }
  std::vector<int> ids() const;  // every node, joiners included
  // Reserves node id size()+1 on 127.0.0.(10+id), same ports, outside the
  // cluster's --cluster flag: start() gives it a --cluster naming only
  // itself (a node that joins a running cluster with --join) and
  // start_all() leaves it alone. Returns its id.
  int add_joiner();
  std::string cluster_flag() const { return cluster_; }
  std::string http_addr(int id) const;
  std::string raft_addr(int id) const;
  std::filesystem::path data_dir(int id) const;
  std::filesystem::path temp_dir() const { return dir_; }
  // The node whose HTTP address is `host_port`, 0 when none.
  int id_of_http(const std::string& host_port) const;

  // Forks and execs node `id` (same data dir every time) with the cluster's
  // flags plus `extra`; returns once its HTTP port answers /v1/status (or
  // fails the test if it exits or stays silent for 10 s).
  void start(int id, const std::vector<std::string>& extra = {}, const launch& how = {});
  // Like start(), but a node that exits during start-up (refusing its data
  // directory, say) is no failure: returns its exit status then, nullopt
  // once it answers /v1/status. Fails the test only if it does neither
  // within 10 s.
  std::optional<int> start_or_exit(int id, const std::vector<std::string>& extra = {}, const launch& how = {});
  // Runs node `id` as start() would, but to its exit (a start-up that must
  // be refused): at most `timeout`, then SIGKILL. Its output also goes to
  // the node's log.
  run_result run_node_to_exit(int id, const std::vector<std::string>& extra = {},
                              std::chrono::milliseconds timeout = 10000ms, const launch& how = {});
  void start_all();
  // SIGKILL and reap: a crash.
  void crash(int id);
  // SIGTERM, wait (at most `bound`) and return the exit status
  // (-signal when killed by one, -1000 when it did not exit in time and
  // had to be SIGKILLed).
  int terminate(int id, std::chrono::milliseconds bound = 15000ms);
  // SIGTERM to every running node at once, then reap each: id -> status
  // as terminate() reports it.
  std::map<int, int> terminate_all(std::chrono::milliseconds bound = 15000ms);
  // SIGKILL every running node, then reap each.
  void crash_all();
  bool running(int id);  // the process has not exited (reaps it if it has)
  // Polls until node `id` exits on its own; its exit status (as terminate()
  // reports it), nullopt when it still runs after `within`.
  std::optional<int> wait_exit(int id, std::chrono::milliseconds within);
  pid_t pid(int id) const;

  // ---- talking to nodes ----
  http_reply call(int id, const std::string& method, const std::string& target, const std::string& body = {},
                  const std::vector<std::pair<std::string, std::string>>& extra_headers = {},
                  std::chrono::milliseconds timeout = 8000ms) const;
  // Like call(), following up to 3 redirects (307 Location), as curl -L.
  http_reply call_following(int id, const std::string& method, const std::string& target,
                            const std::string& body = {}) const;
  std::optional<node_status> status(int id) const;

  // ---- bounded waits (each says what it waited for when it gives up) ----
  // Polls every running node until one says it leads in a term >= min_term;
  // nullopt after `within`.
  std::optional<node_status> wait_for_leader(std::chrono::milliseconds within, std::uint64_t min_term = 0,
                                             const std::vector<int>& among = {}) const;
  // Polls until every node in `among` (default: every running node)
  // reports the same term and leader, and that leader says it leads.
  std::optional<int> wait_for_agreement(std::chrono::milliseconds within, const std::vector<int>& among = {}) const;
  // Polls until node `id` has applied at least `index`.
  bool wait_applied(int id, std::uint64_t index, std::chrono::milliseconds within) const;
  // Polls `probe` until it returns true or `within` passes.
  static bool eventually(std::chrono::milliseconds within, const std::function<bool()>& probe,
                         std::chrono::milliseconds every = 20ms);

  std::vector<int> running_ids();

  // Every node's log (this run), for failure reports.
  std::string logs() const;
  // Everything node `id` printed, over all its starts.
  std::string log_of(int id) const;

 private:
  struct node_slot {
    int id = 0;
    std::string raft, http;
    std::filesystem::path data_dir, log;
    pid_t pid = -1;
    std::optional<int> exit_status;  // of the last process, once it exited on its own
    int starts = 0;
    bool joiner = false;  // not in cluster_: --cluster names only itself
  };
  node_slot& slot(int id);
  const node_slot& slot(int id) const;
  std::vector<int> running_or_all(const std::vector<int>& among) const;
  std::vector<std::string> node_args(int id, const std::vector<std::string>& extra, const launch& how) const;
  void note_start(node_slot& n, const launch& how);

  int base_slot_ = 0;
  std::filesystem::path dir_;
  std::string cluster_;
  std::vector<std::string> extra_flags_;
  std::vector<node_slot> nodes_;
};

// Percent-encodes everything but unreserved characters and '/'.
std::string url_encode(const std::string& s);

}  // namespace e2e
