// workload.hpp — coraft-chaos's clients: several concurrent processes doing
// reads, writes and compare-and-set on a few keys at a time, against any
// node, over HTTP with keep-alive (http_client.hpp), and the history file
// they write as operations are invoked and complete (history.hpp's format).
//
// Keys: `active_keys` keys are in play at once; a key is retired after
// `ops_per_key` operations and a fresh one takes its place, so that every
// key's sub-history stays small enough to check exhaustively. Values are
// unique across the run (a counter), so a read names the write it saw.
//
// How an answer becomes an outcome (README "HTTP API"; the mapping of
// DESIGN.md's errors): 200 ok (a 404 read: ok with null); 409 on a cas:
// fail; an answer refused before the node accepted the command (307 chains
// that end nowhere, 503 no_leader / stopped / overloaded / transferring /
// dropped, other 4xx): fail; 504, 503 interrupted, a timeout, or a
// connection lost after the request was sent: info. A read that did not
// return ok is a fail (it changed nothing). A process whose operation ended
// in info never sends again: a fresh process id takes its place, as a
// Jepsen client would (its old request may still take effect).
//
// Invariants: one operation outstanding per process; history lines are
// written from the single thread running the io_context, with times read
// when each line is written, so the file is in time order.
#pragma once

#include "history.hpp"

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace coraft::chaos {

using clock_type = std::chrono::steady_clock;

// The run's clock: nanoseconds since the run began (the history's "time").
class run_clock {
 public:
  run_clock() : start_(clock_type::now()) {}
  std::int64_t now_ns() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - start_).count();
  }
  double now_s() const { return static_cast<double>(now_ns()) / 1e9; }

 private:
  clock_type::time_point start_;
};

class history_writer {
 public:
  history_writer(const std::string& path, const run_clock& clock);
  void invoke(std::int64_t process, op_kind f, const std::string& key, const boost::json::value& v);
  void complete(std::int64_t process, outcome r, op_kind f, const std::string& key, const boost::json::value& v);
  void flush() { out_.flush(); }

 private:
  std::ofstream out_;
  const run_clock& clock_;
};

struct workload_config {
  int clients = 8;
  int active_keys = 5;
  int ops_per_key = 200;
  std::chrono::milliseconds timeout{3000};
  std::chrono::milliseconds max_think{10};  // pause after each operation: 0 to this
  std::uint64_t seed = 1;
};

struct workload_counts {
  std::uint64_t ops = 0, ok = 0, fail = 0, info = 0;
};

class workload {
 public:
  workload(boost::asio::io_context& io, workload_config cfg, std::vector<std::string> http_addrs,
           history_writer& history, const run_clock& clock);
  ~workload();

  // Spawns the clients; they stop invoking at `until` (run-clock seconds)
  // or once `stop` is set, and finish what is outstanding (bounded by the
  // request timeout).
  void start(double until_s, const std::atomic<bool>& stop);
  // Linearizable reads of every key used, each retried until ok (at most
  // `attempts` times); runs on the io_context; `done` is called at the end
  // with the number of keys whose read never succeeded.
  void final_reads(int attempts, std::function<void(std::size_t unread)> done);

  const workload_counts& counts() const { return counts_; }
  // Completion times (run-clock ns) of ok writes and cas: availability.
  const std::vector<std::int64_t>& ok_write_times() const { return ok_writes_; }
  bool running() const { return active_ > 0; }

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  workload_counts counts_;
  std::vector<std::int64_t> ok_writes_;
  int active_ = 0;
  friend struct impl;
};

}  // namespace coraft::chaos
