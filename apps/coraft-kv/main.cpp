// coraft-kv — a replicated key-value store on coraft: the example service.
//
//   coraft-kv --id 1 --cluster 1=127.0.0.11:7001/127.0.0.11:8001,2=...,3=... --data-dir /tmp/kv1
//
// One process = one node: the Raft node, its write-ahead log, the TCP peer
// transport and the HTTP/JSON API (admin routes + /v1/kv). Everything runs
// on one event-loop thread; fsync runs on the storage's own I/O thread.
// SIGTERM/SIGINT: a leader first hands leadership to the most up-to-date
// voter (so a planned restart costs no election timeout), then the node
// stops accepting requests, answers the ones in flight, stops (the log is
// synced: nothing acknowledged is unsynced) and exits 0.
#include "kv_routes.hpp"
#include "kv_state_machine.hpp"

#include <coraft/file_storage.hpp>
#include <coraft/log.hpp>
#include <coraft/net/address.hpp>
#include <coraft/net/admin_api.hpp>
#include <coraft/net/http.hpp>
#include <coraft/net/join.hpp>
#include <coraft/net/net_metrics.hpp>
#include <coraft/net/prometheus.hpp>
#include <coraft/net/service_parts.hpp>
#include <coraft/net/tcp_transport.hpp>
#include <coraft/node.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string_view>

#ifdef CORAFT_KV_FAULTS
// The test build coraft-kv-faults only (apps/CMakeLists.txt): failpoints
// under the file storage, chosen by CORAFT_FAILPOINTS [issue 15, issue 16].
#include "fault_file_system.hpp"
#endif

namespace asio = boost::asio;
namespace po = boost::program_options;
namespace json = boost::json;
using namespace coraft;

namespace {

// Whether a listen address is reachable only from this machine.
bool loopback_only(const std::string& address) {
  const auto hp = net::try_parse_host_port(address);
  if (!hp) return false;
  if (hp->host == "localhost") return true;
  boost::system::error_code ec;
  const auto a = asio::ip::make_address(hp->host, ec);
  return !ec && a.is_loopback();
}

struct settings {
  std::uint64_t id = 0;
  std::string cluster;
  std::string cluster_id = "coraft";
  std::string data_dir;
  int election_timeout_ms = 150;
  int heartbeat_ms = 50;
  int tick_ms = 10;
  std::string fsync = "always";
  std::size_t max_value_bytes = 1u << 20;
  std::string admin_token;
  std::string write_token;                          // KV writes (PUT/DELETE /v1/kv) need it when set
  std::string listen_raft;                          // where to listen; default: this node's raft address in --cluster
  std::string listen_http;                          // ... and its HTTP address
  std::string peer_cert, peer_key, peer_ca;         // mutual TLS on the raft port: all three or none
  std::string http_cert, http_key, http_client_ca;  // HTTPS on the client port
  std::string http_ca;                              // --join over HTTPS: the members' HTTPS CA
  std::string log_level = "info";
  std::string log_format = "text";
  int propose_timeout_ms = 5000;
  std::uint64_t snapshot_entries = 100'000;
  std::uint64_t snapshot_log_mb = 256;
  std::uint64_t snapshot_trailing_entries = 5'000;
  bool transfer_on_shutdown = true;
  bool latency_histograms = true;  // node_options and http_options::latency_histograms
  std::string join;                // HTTP address of a member: join that cluster as a learner
};

// A start-up error: the message names the flag and the fix.
struct bad_flag : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void load_config_file(const std::string& path, po::variables_map& vm, const po::options_description& desc) {
  std::ifstream in(path);
  if (!in) throw bad_flag("--config: cannot read '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  boost::system::error_code ec;
  json::value v = json::parse(ss.str(), ec);
  if (ec || !v.is_object())
    throw bad_flag("--config: '" + path + "' is not a JSON object (" + (ec ? ec.message() : "not an object") + ")");
  // Turn {"key": value} into --key=value so that flags and file share one
  // set of checks; flags given on the command line win.
  std::vector<std::string> args{"coraft-kv"};
  for (const auto& [k, val] : v.as_object()) {
    std::string key(k);
    for (auto& c : key)
      if (c == '_') c = '-';
    if (desc.find_nothrow(key, false) == nullptr || key == "config" || key == "help")
      throw bad_flag("--config: unknown setting '" + std::string(k) + "' in " + path + " (see --help)");
    std::string s;
    if (val.is_string())
      s = std::string(val.as_string());
    else if (val.is_int64())
      s = std::to_string(val.as_int64());
    else if (val.is_uint64())
      s = std::to_string(val.as_uint64());
    else if (val.is_bool())
      s = val.as_bool() ? "true" : "false";
    else
      throw bad_flag("--config: setting '" + std::string(k) + "' must be a string or a number");
    args.push_back("--" + key + "=" + s);
  }
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  po::store(po::parse_command_line(static_cast<int>(argv.size()), argv.data(), desc), vm);
}

// CORAFT_DATA_DIR -> "data-dir" for the flags that exist (a variable that
// names no flag is left alone: CORAFT_FAILPOINTS and the like belong to
// others); --help and --version are flags only. An empty variable counts
// as unset: a compose file's "CORAFT_ADMIN_TOKEN: ${UNSET}" must not
// silently drop the token --config sets (issue 17 review).
std::string flag_of_variable(const po::options_description& desc, const std::string& variable) {
  constexpr std::string_view prefix = "CORAFT_";
  if (!variable.starts_with(prefix)) return {};
  std::string key = variable.substr(prefix.size());
  for (auto& c : key) c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (key == "help" || key == "version" || desc.find_nothrow(key, false) == nullptr) return {};
  const char* value = std::getenv(variable.c_str());
  if (value == nullptr || *value == '\0') return {};
  return key;
}

settings parse_flags(int argc, char** argv, bool& help) {
  settings s;
  po::options_description desc("coraft-kv: a replicated key-value store on coraft\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help and exit")
    ("version", "print the version and exit")
    ("config", po::value<std::string>(), "JSON file with any of these settings (keys as below, '-' or '_'); flags win")
    ("id", po::value(&s.id), "this node's id (required; one of the ids in --cluster)")
    ("cluster", po::value(&s.cluster), "every member, same string on every node (required): ID=RAFT_HOST:PORT/HTTP_HOST:PORT,...")
    ("cluster-id", po::value(&s.cluster_id)->default_value("coraft"), "name shared by the cluster's nodes; peers and data dirs of another cluster are refused")
    ("data-dir", po::value(&s.data_dir), "directory for this node's log (required; created if missing; one per node)")
    ("election-timeout-ms", po::value(&s.election_timeout_ms)->default_value(150), "minimum election timeout; each timeout is random in [T, 2T)")
    ("heartbeat-ms", po::value(&s.heartbeat_ms)->default_value(50), "leader heartbeat interval (smaller than the election timeout)")
    ("tick-ms", po::value(&s.tick_ms)->default_value(10), "timer resolution; timeouts are whole ticks")
    ("fsync", po::value(&s.fsync)->default_value("always"), "always (safe) or never (UNSAFE: for benchmarks; acknowledged writes can be lost)")
    ("max-value-bytes", po::value(&s.max_value_bytes)->default_value(1u << 20), "largest value a PUT accepts (413 above)")
    ("admin-token", po::value(&s.admin_token), "bearer token required by mutating admin routes (default: none)")
    ("write-token", po::value(&s.write_token), "bearer token required by KV writes, PUT and DELETE /v1/kv (the admin token is accepted too; default: none)")
    ("listen-raft", po::value(&s.listen_raft), "HOST:PORT to listen on for peers (default: this node's raft address in --cluster), e.g. 0.0.0.0:7001 while --cluster advertises node1.example:7001")
    ("peer-cert", po::value(&s.peer_cert), "PEM certificate this node shows its peers (mutual TLS on the raft port; with --peer-key and --peer-ca). It must name this node's advertised raft host (subject alt name)")
    ("peer-key", po::value(&s.peer_key), "PEM private key of --peer-cert (unencrypted)")
    ("peer-ca", po::value(&s.peer_ca), "PEM CA certificate(s) that every peer's certificate must chain to")
    ("http-cert", po::value(&s.http_cert), "PEM certificate for HTTPS on the client port (with --http-key; every member alike: redirects name https)")
    ("http-key", po::value(&s.http_key), "PEM private key of --http-cert (unencrypted)")
    ("http-client-ca", po::value(&s.http_client_ca), "PEM CA certificate(s): HTTPS clients must show a certificate of this CA")
    ("http-ca", po::value(&s.http_ca), "PEM CA certificate(s) of the members' HTTPS certificates: --join then asks over HTTPS (showing --http-cert as its client certificate)")
    ("listen-http", po::value(&s.listen_http), "HOST:PORT to listen on for HTTP (default: this node's HTTP address in --cluster)")
    ("log-level", po::value(&s.log_level)->default_value("info"), "debug, info, warn, error or off")
    ("log-format", po::value(&s.log_format)->default_value("text"), "text, or json: one object per line on stderr with time, level, node, term, role, component, message, fields")
    ("propose-timeout-ms", po::value(&s.propose_timeout_ms)->default_value(5000), "a write not committed by then answers 504")
    ("snapshot-entries", po::value(&s.snapshot_entries)->default_value(100'000), "snapshot and compact the log about every this many applied entries, at an offset of this node's own (0: only on POST /v1/snapshot)")
    ("snapshot-log-mb", po::value(&s.snapshot_log_mb)->default_value(256), "... or after this many MiB of applied commands (0: no size trigger)")
    ("snapshot-trailing-entries", po::value(&s.snapshot_trailing_entries)->default_value(5'000), "entries kept in the log behind a snapshot for followers a little behind")
    ("transfer-on-shutdown", po::value(&s.transfer_on_shutdown)->default_value(true), "on SIGTERM, a leader hands leadership over before it stops (true/false)")
    ("latency-histograms", po::value(&s.latency_histograms)->default_value(true), "time proposals, commits, applies, appends and HTTP requests into the /metrics histograms (true/false; false: those stay empty)")
    ("join", po::value(&s.join), "HTTP_HOST:PORT of any member of a running cluster: a node with an empty data directory asks to be added as a learner, then catches up (promote it with POST /v1/members/ID/promote). --cluster then needs only this node's own entry");
  // clang-format on
  po::variables_map vm;
  try {
    // Flags win over the environment (CORAFT_<FLAG>, e.g. CORAFT_DATA_DIR),
    // and the environment over --config's file: the first value stored wins.
    po::store(po::parse_command_line(argc, argv, desc), vm);
    try {
      po::store(po::parse_environment(desc, [&desc](const std::string& v) { return flag_of_variable(desc, v); }), vm);
    } catch (const po::error_with_option_name& e) {
      std::string flag = e.get_option_name();
      while (flag.starts_with('-')) flag.erase(0, 1);
      std::string variable = "CORAFT_" + flag;
      for (auto& c : variable) c = c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      throw bad_flag(variable + " (the environment's --" + flag + "): " + e.what());
    }
    if (vm.count("version")) {
      std::cout << "coraft-kv " << CORAFT_VERSION << "\n";
      help = true;
      return s;
    }
    if (vm.count("help")) {
      std::cout
          << desc << "\nExample (3 nodes on one machine):\n"
          << "  coraft-kv --id 1 --data-dir /tmp/kv1 --cluster "
             "1=127.0.0.11:7001/127.0.0.11:8001,2=127.0.0.12:7001/127.0.0.12:8001,3=127.0.0.13:7001/127.0.0.13:8001\n"
          << "\nEvery flag can also be set in the environment as CORAFT_ and its name in capitals with '_' for '-'\n"
          << "(CORAFT_DATA_DIR=/var/lib/coraft): flags win over the environment, the environment over --config.\n"
          << "Host names are accepted in every address; --listen-* resolves at start-up, peers on every connection.\n";
      help = true;
      return s;
    }
    if (vm.count("config")) load_config_file(vm["config"].as<std::string>(), vm, desc);
    po::notify(vm);
  } catch (const bad_flag&) {
    throw;
  } catch (const po::error& e) {
    throw bad_flag(std::string(e.what()) + " (see --help)");
  }
  if (s.id == 0) throw bad_flag("--id is required: this node's id, a number >= 1 listed in --cluster");
  if (s.cluster.empty()) throw bad_flag("--cluster is required, e.g. --cluster 1=127.0.0.11:7001/127.0.0.11:8001,...");
  if (s.data_dir.empty())
    throw bad_flag("--data-dir is required: a directory of this node's own, e.g. --data-dir ./data/node1");
  if (s.fsync != "always" && s.fsync != "never") throw bad_flag("--fsync must be 'always' or 'never'");
  log_level lvl;
  if (!parse_log_level(s.log_level, lvl)) throw bad_flag("--log-level must be debug, info, warn, error or off");
  log_format fmt;
  if (!parse_log_format(s.log_format, fmt))
    throw bad_flag("--log-format must be text or json, not '" + s.log_format + "' (e.g. --log-format json)");
  if (s.tick_ms < 1 || s.tick_ms > 1000) throw bad_flag("--tick-ms must be 1 to 1000");
  if (s.heartbeat_ms < s.tick_ms)
    throw bad_flag("--heartbeat-ms must be at least --tick-ms (" + std::to_string(s.tick_ms) + ")");
  if (s.election_timeout_ms <= s.heartbeat_ms)
    throw bad_flag(
        "--election-timeout-ms must be larger than --heartbeat-ms (Raft needs several heartbeats per election "
        "timeout)");
  if (s.election_timeout_ms > 60000) throw bad_flag("--election-timeout-ms must be at most 60000");
  if (s.max_value_bytes < 1 || s.max_value_bytes > (64u << 20))
    throw bad_flag("--max-value-bytes must be 1 to 67108864");
  if (s.propose_timeout_ms < 10) throw bad_flag("--propose-timeout-ms must be at least 10");
  if (s.snapshot_log_mb > (1u << 20)) throw bad_flag("--snapshot-log-mb must be at most 1048576");
  for (const auto& [flag, value] : {std::pair<const char*, std::string*>{"--listen-raft", &s.listen_raft},
                                    std::pair<const char*, std::string*>{"--listen-http", &s.listen_http}}) {
    if (value->empty() && vm.count(flag + 2) == 0) continue;
    try {
      *value = net::parse_host_port(*value).str();
    } catch (const std::invalid_argument& e) {
      throw bad_flag(std::string(flag) + ": " + e.what() + " (e.g. " + flag +
                     " 0.0.0.0:" + (std::string_view(flag) == "--listen-raft" ? "7001" : "8001") + ")");
    }
  }
  const int tls_files = !s.peer_cert.empty() + !s.peer_key.empty() + !s.peer_ca.empty();
  if ((!s.http_cert.empty()) != (!s.http_key.empty()) || (!s.http_client_ca.empty() && s.http_cert.empty()))
    throw bad_flag("--http-cert and --http-key go together (HTTPS), and --http-client-ca needs them");
  if (!s.http_ca.empty()) {
    try {
      net::check_http_client_tls({s.http_ca, s.http_cert, s.http_key});
    } catch (const std::runtime_error& e) {
      throw bad_flag(e.what());
    }
  }
  if (tls_files != 0 && tls_files != 3)
    throw bad_flag(
        "--peer-cert, --peer-key and --peer-ca go together: give all three (mutual TLS between peers) or none");
  if (!s.join.empty() && !net::valid_host_port(s.join))
    throw bad_flag("--join must be the HTTP_HOST:PORT of a member, not '" + s.join + "' (e.g. --join 127.0.0.11:8001)");
  return s;
}

struct app {
  settings cfg;
  asio::io_context ctx{1};
  std::vector<net::cluster_member> members;
  std::unique_ptr<file_storage> store;
  std::unique_ptr<net::tcp_transport> transport;
  kv::kv_state_machine sm;
  std::unique_ptr<node> raft;
  std::unique_ptr<net::admin_context> admin;
  std::unique_ptr<net::http_server> http;
  int exit_code = 0;
  std::unique_ptr<net::membership_follower> follower_;  // peers and member table follow the configuration
  asio::signal_set signals_{ctx, SIGINT, SIGTERM};
  std::string fatal_;           // the node failed for good (on_fatal)
  std::string warned_address_;  // this node's configured address, once warned about
#ifdef CORAFT_KV_FAULTS
  std::vector<faults::failpoint> failpoints;
  bool planted_stale_reads = false;  // CORAFT_KV_PLANTED_BUG=stale-reads (coraft-chaos's test)
#endif

  asio::awaitable<void> run() {
    const net::cluster_member* self = nullptr;
    for (const auto& m : members)
      if (m.id == cfg.id) self = &m;

    file_storage_options fo;
    fo.dir = cfg.data_dir;
    fo.id = cfg.id;
    fo.cluster_id = cfg.cluster_id;
    fo.sync = cfg.fsync == "always";
    fo.log = [id = cfg.id](const std::string& line) { log_line(log_level::warn, id, "wal", line); };
#ifdef CORAFT_KV_FAULTS
    log_line(log_level::warn, cfg.id, "faults",
             "coraft-kv-faults: a test build with failpoints (" + std::to_string(failpoints.size()) + " from " +
                 faults::failpoints_variable + "); never use it for data you want to keep");
    if (planted_stale_reads)
      log_line(log_level::warn, cfg.id, "faults",
               "CORAFT_KV_PLANTED_BUG=stale-reads: every GET skips its read barrier (a bug planted on purpose)");
    store = std::make_unique<file_storage>(
        fo, faults::make_fault_file_system(make_posix_file_system(), failpoints, [id = cfg.id](const std::string& l) {
          log_line(log_level::warn, id, "faults", l);
        }));
#else
    store = std::make_unique<file_storage>(fo);
#endif

    net::tcp_transport_options to;
    to.self = cfg.id;
    to.cluster_id = cfg.cluster_id;
    to.listen = cfg.listen_raft.empty() ? self->raft : cfg.listen_raft;
    if (cfg.join.empty())
      for (const auto& m : members)
        if (m.id != cfg.id) to.peers[m.id] = m.raft;
    to.tls = {cfg.peer_cert, cfg.peer_key, cfg.peer_ca, net::parse_host_port(self->raft).host};
    try {
      transport = std::make_unique<net::tcp_transport>(ctx.get_executor(), to);
    } catch (const std::runtime_error& e) {
      log_line(log_level::error, cfg.id, "main", std::string("cannot start: ") + e.what());
      exit_code = 2;
      co_return;
    }
    follower_ = std::make_unique<net::membership_follower>(ctx.get_executor(), *transport);

    node_options no;
    no.raft.id = cfg.id;
    no.raft.seed =
        cfg.id * 7919 + static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    no.tick_interval = std::chrono::milliseconds(cfg.tick_ms);
    no.raft.election_ticks = cfg.election_timeout_ms / cfg.tick_ms;
    no.raft.heartbeat_ticks = std::max(1, cfg.heartbeat_ms / cfg.tick_ms);
    no.propose_timeout_ticks = std::max(1, cfg.propose_timeout_ms / cfg.tick_ms);
    no.max_command_bytes = cfg.max_value_bytes + 2 * 1024 + 64;
    no.snapshot_entries = cfg.snapshot_entries;
    no.snapshot_log_bytes = cfg.snapshot_log_mb << 20;
    no.snapshot_trailing_entries = cfg.snapshot_trailing_entries;
    no.latency_histograms = cfg.latency_histograms;
    // The bootstrap configuration: --cluster. A joining node has none: the
    // leader's log tells it (config entries carry every member's address).
    if (cfg.join.empty()) {
      for (const auto& m : members) {
        no.voters.push_back(m.id);
        no.addresses[m.id] = net::encode_member_address(m);
      }
    }
    no.on_membership = [this](const membership& c) { on_membership(c); };
    // DESIGN.md "Guarantees": an fsync, write or rename error on the durable
    // path is fatal. The node has stopped acknowledging; the process exits
    // non-zero with the error, so that a supervisor restarts it and the
    // restart proves what is on disk (it rewrites and syncs what it reads).
    no.on_fatal = [this](const std::string& why) {
      asio::post(ctx, [this, why] {
        fatal_ = why;
        signals_.cancel();
      });
    };
    raft = std::make_unique<node>(ctx.get_executor(), no, *store, *transport, sm);

    admin = std::make_unique<net::admin_context>(*raft, cfg.join.empty() ? members : std::vector<net::cluster_member>{},
                                                 cfg.admin_token, cfg.fsync);
    admin->write_token = cfg.write_token;
    admin->extra_metrics = [this] {
      net::prometheus_text m("node=\"" + std::to_string(cfg.id) + "\"");
      net::write_net_metrics(m, transport->stats(), *http, cfg.data_dir);
      m.gauge("coraft_kv_keys", "Keys in this node's map.", sm.size());
      return m.str();
    };
    net::http_router router;
    net::add_admin_routes(router, *admin);
    kv::kv_limits limits{1024, cfg.max_value_bytes};
#ifdef CORAFT_KV_FAULTS
    limits.planted_stale_reads = planted_stale_reads;
#endif
    kv::add_kv_routes(router, *admin, sm, limits);
    net::http_options ho;
    const net::host_port http_at = net::parse_host_port(cfg.listen_http.empty() ? self->http : cfg.listen_http);
    ho.host = http_at.host;
    ho.port = http_at.port;
    ho.max_body_bytes = cfg.max_value_bytes + 4096;
    ho.log_node_id = cfg.id;
    ho.latency_histograms = cfg.latency_histograms;
    ho.tls = {cfg.http_cert, cfg.http_key, cfg.http_client_ca};
    if (ho.tls.enabled()) admin->url_scheme = "https";
    // The dashboard gathers the other members over HTTPS with --http-ca.
    admin->member_tls = {cfg.http_ca, cfg.http_cert, cfg.http_key};
    http = std::make_unique<net::http_server>(ctx.get_executor(), ho, std::move(router));

    std::string failed;
    try {
      co_await raft->start();
      co_await transport->start();
      transport->attach(*raft);
      http->start();
    } catch (const std::exception& e) {
      failed = e.what();
    }
    if (!failed.empty()) {
      log_line(log_level::error, cfg.id, "main", "cannot start: " + failed);
      exit_code = 1;
      co_await shutdown();
      co_return;
    }
    if (cfg.fsync == "never")
      log_line(log_level::warn, cfg.id, "main", "UNSAFE: --fsync=never: acknowledged writes can be lost in a crash");
    const std::string raft_at = cfg.listen_raft.empty() ? self->raft : cfg.listen_raft + " as " + self->raft;
    const std::string http_at_text = cfg.listen_http.empty() ? self->http : cfg.listen_http + " as " + self->http;
    log_line(log_level::info, cfg.id, "main",
             "serving raft on " + raft_at + ", HTTP on " + http_at_text + ", data in " + cfg.data_dir);
    // issue 17: plaintext is for development; say so once when it can be
    // reached from beyond this machine.
    {
      std::string plain;
      if (!to.tls.enabled() && !loopback_only(to.listen))
        plain = "raft " + to.listen + " (set --peer-cert, --peer-key, --peer-ca)";
      if (!ho.tls.enabled() && !loopback_only(http_at.str()))
        plain += (plain.empty() ? "HTTP " : ", HTTP ") + http_at.str() + " (set --http-cert, --http-key)";
      if (!plain.empty())
        log_line(log_level::warn, cfg.id, "main",
                 "listening beyond loopback in plaintext on " + plain +
                     ": traffic is readable and unauthenticated; keep these ports on a private network" +
                     (cfg.admin_token.empty() ? ", and set --admin-token" : ""));
    }
    if (!cfg.join.empty()) {
      const node_status st = co_await raft->status();
      const bool member = std::find(st.voters.begin(), st.voters.end(), cfg.id) != st.voters.end() ||
                          std::find(st.learners.begin(), st.learners.end(), cfg.id) != st.learners.end();
      if (member) {
        log_line(log_level::info, cfg.id, "main", "already a member (from the data directory): --join ignored");
      } else {
        log_line(log_level::info, cfg.id, "main",
                 "asking the cluster at " + cfg.join + " to add node " + std::to_string(cfg.id) + " as a learner");
        const net::http_client_tls join_tls{cfg.http_ca, cfg.http_cert, cfg.http_key};
        const net::join_result j =
            co_await net::join_cluster(cfg.join, *self, cfg.admin_token, std::chrono::seconds(30), join_tls);
        if (!j.ok) {
          log_line(log_level::error, cfg.id, "main", "cannot join the cluster at " + cfg.join + ": " + j.error);
          exit_code = 1;
          co_await shutdown();
          co_return;
        }
        // Until the configuration entry naming us arrives, this is how we
        // reach the leader; the entry then takes over (on_membership).
        std::map<node_id, std::string> peers;
        for (const auto& m : j.members) peers[m.id] = m.raft;
        transport->set_peers(peers);
        admin->set_members(j.members);
        log_line(log_level::info, cfg.id, "main", "joined as a learner; catching up from the leader");
      }
    }
    if (fatal_.empty()) {
      auto [ec, sig] = co_await signals_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (!ec) log_line(log_level::info, cfg.id, "main", "signal " + std::to_string(sig) + ": shutting down");
    }
    if (!fatal_.empty()) {
      log_line(log_level::error, cfg.id, "main", "exiting after a fatal error: " + fatal_);
      exit_code = 1;
    }
    co_await shutdown();
  }

  // The configuration in force changed (on the node's strand): the transport
  // and the HTTP redirects follow it (net::membership_follower).
  void on_membership(const membership& c) {
    const auto ms = net::members_of(c);
    // The members reach this node at its address in the configuration;
    // --cluster decides only where it listens. If they differ, peers send
    // where nobody listens: say so (the configuration wins; an address
    // changes through the log, not through --cluster).
    for (const auto& m : ms) {
      if (m.id != cfg.id || m.raft.empty()) continue;
      for (const auto& f : members)
        if (f.id == cfg.id && (f.raft != m.raft || f.http != m.http) && warned_address_ != m.raft + " " + m.http) {
          warned_address_ = m.raft + " " + m.http;
          log_line(log_level::warn, cfg.id, "main",
                   "the configuration says this node is at " + m.raft + "/" + m.http + " but --cluster gives " +
                       f.raft + "/" + f.http +
                       ": peers reach it at the former. If it moved, commit its new addresses: PUT /v1/members/" +
                       std::to_string(cfg.id) + " {\"raft\":\"" + f.raft + "\",\"http\":\"" + f.http +
                       "\"} on the leader; otherwise start it with --cluster giving " + std::to_string(cfg.id) + "=" +
                       m.raft + "/" + m.http);
        }
    }
    follower_->follow(c, admin.get());
  }

  // The clean stop (net::stop_service_node: hand over, stop taking
  // requests, stop the node, the HTTP server, the transport).
  asio::awaitable<void> shutdown() {
    if (follower_) follower_->cancel();
    signals_.cancel();
    co_await net::stop_service_node(raft.get(), http.get(), transport.get(), cfg.transfer_on_shutdown && fatal_.empty(),
                                    cfg.id, "main");
    log_line(log_level::info, cfg.id, "main", "stopped");
  }
};

}  // namespace

int main(int argc, char** argv) {
  app a;
  try {
    bool help = false;
    a.cfg = parse_flags(argc, argv, help);
    if (help) return 0;
    try {
      a.members = net::parse_cluster(a.cfg.cluster);
    } catch (const std::invalid_argument& e) {
      throw bad_flag(std::string("--cluster: ") + e.what());
    }
    bool found = false;
    for (const auto& m : a.members) found = found || m.id == a.cfg.id;
    if (!found) throw bad_flag("--id " + std::to_string(a.cfg.id) + " is not a member of --cluster");
#ifdef CORAFT_KV_FAULTS
    try {
      a.failpoints = faults::failpoints_from_environment();
    } catch (const std::invalid_argument& e) {
      throw bad_flag(e.what());
    }
    if (const char* bug = std::getenv("CORAFT_KV_PLANTED_BUG")) {
      if (std::string_view(bug) != "stale-reads")
        throw bad_flag("CORAFT_KV_PLANTED_BUG: the only planted bug is 'stale-reads', not '" + std::string(bug) + "'");
      a.planted_stale_reads = true;
    }
#endif
  } catch (const bad_flag& e) {
    std::cerr << "coraft-kv: " << e.what() << "\n";
    return 2;
  }
  log_level lvl = log_level::info;
  parse_log_level(a.cfg.log_level, lvl);
  set_log_level(lvl);
  log_format fmt = log_format::text;
  parse_log_format(a.cfg.log_format, fmt);
  set_log_format(fmt);
  asio::co_spawn(a.ctx, a.run(), [&a](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log_line(log_level::error, a.cfg.id, "main", std::string("fatal: ") + ex.what());
    }
    a.exit_code = 1;
  });
  try {
    a.ctx.run();
  } catch (const std::exception& e) {
    log_line(log_level::error, a.cfg.id, "main", std::string("fatal: ") + e.what());
    return 1;
  }
  return a.exit_code;
}
