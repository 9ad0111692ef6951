// cluster.cpp — see cluster.hpp.
#include "cluster.hpp"

#include "http_client.hpp"
#include "process.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace coraft::chaos {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

int run_command(const std::vector<std::string>& argv, const std::filesystem::path& log,
                std::chrono::milliseconds bound) {
  spawn_options how;
  how.log = log;
  const pid_t pid = spawn(argv, how);
  if (pid < 0) return -1;
  if (auto code = reap_within(pid, bound)) return *code;
  ::kill(pid, SIGKILL);
  return reap_within(pid, 5s).value_or(-997);
}

cluster::cluster(cluster_config cfg) : cfg_(std::move(cfg)) {
  std::filesystem::create_directories(cfg_.dir);
  if (namespaces()) {
    // `up` removes what a killed run of the same prefix left, then makes
    // one namespace per node on a bridge.
    if (run_command({"/bin/bash", cfg_.netns_script, "up", cfg_.netns_prefix, std::to_string(cfg_.nodes)},
                    cfg_.dir / "netns.log") != 0)
      throw std::runtime_error("could not make the network namespaces (see " + (cfg_.dir / "netns.log").string() +
                               "); run without root for loopback, or check iproute2 and iptables");
    netns_up_ = true;
  }
  for (int i = 1; i <= cfg_.nodes; ++i) {
    node_info n;
    n.id = i;
    const char* subnet = std::getenv("CORAFT_NETNS_SUBNET");  // as hosts.sh reads it
    const std::string host = namespaces()
                                 ? std::string(subnet != nullptr ? subnet : "10.77.0") + "." + std::to_string(10 + i)
                                 : "127.0.0." + std::to_string(cfg_.loopback_base + i);
    n.raft = host + ":" + std::to_string(cfg_.raft_port);
    n.http = host + ":" + std::to_string(cfg_.http_port);
    if (namespaces()) n.netns = cfg_.netns_prefix + "-n" + std::to_string(i);
    std::filesystem::create_directories(cfg_.dir / ("n" + std::to_string(i)));
    nodes_[i] = n;
  }
}

cluster::~cluster() {
  for (auto& [id, n] : nodes_) {
    if (n.pid <= 0) continue;
    if (n.paused) ::kill(n.pid, SIGCONT);
    ::kill(n.pid, SIGKILL);
    (void)reap_within(n.pid, 5s);
    n.pid = -1;
  }
  if (netns_up_) run_command({"/bin/bash", cfg_.netns_script, "down", cfg_.netns_prefix}, cfg_.dir / "netns.log");
}

std::vector<int> cluster::ids() const {
  std::vector<int> out;
  for (const auto& [id, n] : nodes_) out.push_back(id);
  return out;
}

std::string cluster::cluster_flag() const {
  std::string s;
  for (const auto& [id, n] : nodes_) {
    if (!s.empty()) s += ",";
    s += std::to_string(id) + "=" + n.raft + "/" + n.http;
  }
  return s;
}

std::filesystem::path cluster::data_dir(int id) const { return cfg_.dir / ("n" + std::to_string(id)) / "data"; }
std::filesystem::path cluster::log_path(int id) const { return cfg_.dir / ("n" + std::to_string(id)) / "node.log"; }

bool cluster::start(int id, const launch_options& how) {
  node_info& n = nodes_.at(id);
  if (n.pid > 0) return true;
  std::vector<std::string> argv{cfg_.binary, "--id", std::to_string(id), "--data-dir", data_dir(id).string()};
  if (how.join) {
    // A node with an empty data directory joins as a learner: its
    // --cluster names only itself.
    argv.insert(argv.end(), {"--cluster", std::to_string(id) + "=" + n.raft + "/" + n.http, "--join", *how.join});
  } else {
    argv.insert(argv.end(), {"--cluster", cluster_flag()});
  }
  argv.insert(argv.end(), cfg_.node_flags.begin(), cfg_.node_flags.end());
  spawn_options so;
  so.env = cfg_.node_env;
  so.env.insert(so.env.end(), how.env.begin(), how.env.end());
  so.netns = n.netns;
  so.hostname = "n" + std::to_string(id);
  so.log = log_path(id);
  so.own_process_group = true;
  const pid_t pid = spawn(argv, so);
  if (pid < 0) return false;
  n.pid = pid;
  n.paused = false;
  n.joining = how.join.has_value();
  return true;
}

bool cluster::wait_serving(int id, std::chrono::milliseconds within) {
  const auto deadline = clock_type::now() + within;
  while (clock_type::now() < deadline) {
    if (!running(id)) return false;
    int st = 0;
    node_info& n = nodes_.at(id);
    if (::waitpid(n.pid, &st, WNOHANG) == n.pid) {
      n.last_exit = decode_status(st);
      n.pid = -1;
      return false;
    }
    if (http_call(n.http, "GET", "/v1/status", {}, 1000ms).status == 200) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

void cluster::kill(int id) {
  node_info& n = nodes_.at(id);
  if (n.pid <= 0) return;
  ::kill(n.pid, SIGKILL);
  n.last_exit = reap_within(n.pid, 10s).value_or(-997);
  n.pid = -1;
  n.paused = false;
}

bool cluster::terminate(int id, std::chrono::milliseconds bound) {
  node_info& n = nodes_.at(id);
  if (n.pid <= 0) return true;
  if (n.paused) ::kill(n.pid, SIGCONT);
  ::kill(n.pid, SIGTERM);
  auto code = reap_within(n.pid, bound);
  const bool clean = code.has_value();
  if (!code) {
    ::kill(n.pid, SIGKILL);
    code = reap_within(n.pid, 10s).value_or(-997);
  }
  n.last_exit = code;
  n.pid = -1;
  n.paused = false;
  return clean;
}

void cluster::pause(int id) {
  node_info& n = nodes_.at(id);
  if (n.pid <= 0 || n.paused) return;
  ::kill(n.pid, SIGSTOP);
  n.paused = true;
}

void cluster::resume(int id) {
  node_info& n = nodes_.at(id);
  if (n.pid <= 0 || !n.paused) return;
  ::kill(n.pid, SIGCONT);
  n.paused = false;
}

std::vector<int> cluster::reap_exited() {
  std::vector<int> out;
  for (auto& [id, n] : nodes_) {
    if (n.pid <= 0) continue;
    int st = 0;
    if (::waitpid(n.pid, &st, WNOHANG) == n.pid) {
      n.last_exit = decode_status(st);
      n.pid = -1;
      n.paused = false;
      out.push_back(id);
    }
  }
  return out;
}

void cluster::wipe(int id) {
  if (running(id)) throw std::logic_error("wipe of a running node");
  std::filesystem::remove_all(data_dir(id));
}

void cluster::run_script(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{"/bin/bash", cfg_.netns_script};
  argv.insert(argv.end(), args.begin(), args.end());
  if (run_command(argv, cfg_.dir / "netns.log") != 0)
    throw std::runtime_error("hosts.sh " + args.front() + " failed (see " + (cfg_.dir / "netns.log").string() + ")");
}

void cluster::cut(int a, int b) {
  if (!namespaces()) return;
  run_script({"cut", cfg_.netns_prefix, std::to_string(a), std::to_string(b)});
}

void cluster::heal() {
  if (!namespaces()) return;
  run_script({"heal", cfg_.netns_prefix});
}

}  // namespace coraft::chaos
