// service.cpp — run_service(): the wiring of apps/coraft-kv/main.cpp for
// the common case (see service.hpp), in the same order: file storage, TCP
// transport, node, admin context and routes, HTTP server; stopped in the
// reverse order after a leadership transfer.
#include <coraft/file_storage.hpp>
#include <coraft/log.hpp>
#include <coraft/net/address.hpp>
#include <coraft/net/admin_api.hpp>
#include <coraft/net/cluster_spec.hpp>
#include <coraft/net/http.hpp>
#include <coraft/net/join.hpp>
#include <coraft/net/net_metrics.hpp>
#include <coraft/net/prometheus.hpp>
#include <coraft/net/service.hpp>
#include <coraft/net/service_parts.hpp>
#include <coraft/net/tcp_transport.hpp>
#include <coraft/node.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <csignal>
#include <exception>
#include <iostream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace coraft::net {

namespace asio = boost::asio;

namespace {

constexpr std::string_view usage =
    "usage: --id N --cluster ID=RAFT_HOST:PORT/HTTP_HOST:PORT,... --data-dir DIR [--cluster-id NAME] "
    "[--admin-token TOKEN] [--listen-raft HOST:PORT] [--listen-http HOST:PORT] "
    "[--peer-cert FILE --peer-key FILE --peer-ca FILE] [--http-cert FILE --http-key FILE [--http-client-ca FILE]] "
    "[--http-ca FILE] [--log-format text|json]";

// One node of the service. Threading: every member function runs on ctx's
// single thread (the node's callbacks are posted or called there too).
struct service_node {
  service_node(const service_options& o, std::vector<cluster_member> ms, state_machine& s, const add_routes_fn& f)
      : opts(o), members(std::move(ms)), sm(s), add_routes(f) {}

  const service_options& opts;
  const std::vector<cluster_member> members;  // from opts.cluster
  state_machine& sm;
  const add_routes_fn& add_routes;

  asio::io_context ctx{1};
  std::unique_ptr<file_storage> store;
  std::unique_ptr<tcp_transport> transport;
  std::unique_ptr<node> raft;
  std::unique_ptr<admin_context> admin;
  std::unique_ptr<http_server> http;
  std::unique_ptr<membership_follower> follower;  // peers and member table follow the configuration
  asio::signal_set signals_{ctx, SIGINT, SIGTERM};
  std::string fatal_;  // the node failed for good (on_fatal)
  int exit_code = 0;

  void log(log_level l, const std::string& text) const { log_line(l, opts.id, "service", text); }

  asio::awaitable<void> run() {
    const cluster_member* self = nullptr;
    for (const auto& m : members)
      if (m.id == opts.id) self = &m;

    file_storage_options fo;
    fo.dir = opts.data_dir;
    fo.id = opts.id;
    fo.cluster_id = opts.cluster_id;
    fo.log = [id = opts.id](const std::string& line) { log_line(log_level::warn, id, "wal", line); };
    store = std::make_unique<file_storage>(fo);

    tcp_transport_options to;
    to.self = opts.id;
    to.cluster_id = opts.cluster_id;
    to.listen = opts.listen_raft.empty() ? self->raft : opts.listen_raft;
    to.tls = {opts.peer_cert, opts.peer_key, opts.peer_ca, parse_host_port(self->raft).host};
    for (const auto& m : members)
      if (m.id != opts.id) to.peers[m.id] = m.raft;
    transport = std::make_unique<tcp_transport>(ctx.get_executor(), to);

    node_options no;  // coraft-kv's defaults: 10 ms ticks, 150 ms election timeout, 50 ms heartbeats
    no.raft.id = opts.id;
    no.raft.seed =
        opts.id * 7919 + static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    // The bootstrap configuration, used on the first start only (node.hpp).
    for (const auto& m : members) {
      no.voters.push_back(m.id);
      no.addresses[m.id] = encode_member_address(m);
    }
    follower = std::make_unique<membership_follower>(ctx.get_executor(), *transport);
    no.on_membership = [this](const membership& c) { follower->follow(c, admin.get()); };
    // A storage error or a throwing state machine: the node has stopped
    // acknowledging; exit non-zero so that a supervisor restarts it.
    no.on_fatal = [this](const std::string& why) {
      asio::post(ctx, [this, why] {
        fatal_ = why;
        signals_.cancel();
      });
    };
    raft = std::make_unique<node>(ctx.get_executor(), no, *store, *transport, sm);

    admin = std::make_unique<admin_context>(*raft, members, opts.admin_token, "always");
    http_router router;
    add_admin_routes(router, *admin);
    if (add_routes) add_routes(router, *admin);
    // The transport's, the HTTP server's and the data directory's metrics,
    // named as coraft-kv names them; then the service's own, if it set any.
    admin->extra_metrics = [this, own = std::move(admin->extra_metrics)] {
      prometheus_text m("node=\"" + std::to_string(opts.id) + "\"");
      write_net_metrics(m, transport->stats(), *http, opts.data_dir);
      return own ? m.str() + own() : m.str();
    };
    http_options ho;
    const host_port http_at = parse_host_port(opts.listen_http.empty() ? self->http : opts.listen_http);
    ho.host = http_at.host;
    ho.port = http_at.port;
    ho.log_node_id = opts.id;
    ho.tls = {opts.http_cert, opts.http_key, opts.http_client_ca};
    if (ho.tls.enabled()) admin->url_scheme = "https";
    admin->member_tls = {opts.http_ca, opts.http_cert, opts.http_key};
    http = std::make_unique<http_server>(ctx.get_executor(), ho, std::move(router));

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
      log(log_level::error, "cannot start: " + failed);
      exit_code = 1;
      co_await shutdown();
      co_return;
    }
    log(log_level::info, "serving raft on " + self->raft + ", HTTP on " + self->http + ", data in " + opts.data_dir);
    if (fatal_.empty()) {
      auto [ec, sig] = co_await signals_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (!ec) log(log_level::info, "signal " + std::to_string(sig) + ": shutting down");
    }
    if (!fatal_.empty()) {
      log(log_level::error, "exiting after a fatal error: " + fatal_);
      exit_code = 1;
    }
    co_await shutdown();
  }

  // The clean stop (stop_service_node, service_parts.hpp).
  asio::awaitable<void> shutdown() {
    if (follower) follower->cancel();
    signals_.cancel();
    co_await stop_service_node(raft.get(), http.get(), transport.get(), fatal_.empty(), opts.id, "service");
    log(log_level::info, "stopped");
  }
};

// Why `opts` cannot run, or empty; `members` gets the parsed cluster.
std::string options_problem(const service_options& opts, std::vector<cluster_member>& members) {
  if (opts.id == no_node) return "the node id is required (a number >= 1 listed in the cluster)";
  if (opts.data_dir.empty()) return "a data directory is required (one per node)";
  try {
    members = parse_cluster(opts.cluster);
  } catch (const std::invalid_argument& e) {
    return std::string("the cluster: ") + e.what();
  }
  try {
    check_http_client_tls({opts.http_ca, opts.http_cert, opts.http_key});
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  for (const auto& m : members)
    if (m.id == opts.id) return {};
  return "node " + std::to_string(opts.id) + " is not a member of the cluster '" + opts.cluster + "'";
}

}  // namespace

service_options parse_service_args(int argc, const char* const* argv) {
  service_options o;
  const auto fail = [](const std::string& why) { throw std::invalid_argument(why + "\n" + std::string(usage)); };
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::string value;
    if (const auto eq = flag.find('='); eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      fail(flag + " needs a value");
    }
    if (flag == "--id") {
      if (!parse_u64(value, o.id) || o.id == no_node) fail("--id must be a number >= 1, not '" + value + "'");
    } else if (flag == "--cluster") {
      o.cluster = value;
    } else if (flag == "--data-dir") {
      o.data_dir = value;
    } else if (flag == "--cluster-id") {
      o.cluster_id = value;
    } else if (flag == "--admin-token") {
      o.admin_token = value;
    } else if (flag == "--listen-raft" || flag == "--listen-http") {
      if (!valid_host_port(value)) fail(flag + " must be HOST:PORT, not '" + value + "'");
      (flag == "--listen-raft" ? o.listen_raft : o.listen_http) = value;
    } else if (flag == "--peer-cert") {
      o.peer_cert = value;
    } else if (flag == "--peer-key") {
      o.peer_key = value;
    } else if (flag == "--peer-ca") {
      o.peer_ca = value;
    } else if (flag == "--http-cert") {
      o.http_cert = value;
    } else if (flag == "--http-key") {
      o.http_key = value;
    } else if (flag == "--http-client-ca") {
      o.http_client_ca = value;
    } else if (flag == "--http-ca") {
      o.http_ca = value;
    } else if (flag == "--log-format") {
      log_format f{};
      if (!parse_log_format(value, f)) fail("--log-format must be text or json, not '" + value + "'");
      o.log_format = f;
    } else {
      fail("unknown flag '" + flag + "'");
    }
  }
  std::vector<cluster_member> members;
  if (const std::string problem = options_problem(o, members); !problem.empty()) fail(problem);
  return o;
}

int run_service(const service_options& opts, state_machine& sm, const add_routes_fn& add_routes) {
  if (opts.log_format) set_log_format(*opts.log_format);
  std::vector<cluster_member> members;
  if (const std::string problem = options_problem(opts, members); !problem.empty()) {
    log_line(log_level::error, opts.id, "service", "cannot start: " + problem);
    return 2;
  }
  service_node s(opts, std::move(members), sm, add_routes);
  asio::co_spawn(s.ctx, s.run(), [&s](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      s.log(log_level::error, std::string("fatal: ") + ex.what());
    }
    s.exit_code = 1;
  });
  try {
    s.ctx.run();
  } catch (const std::exception& e) {
    s.log(log_level::error, std::string("fatal: ") + e.what());
    return 1;
  }
  return s.exit_code;
}

int run_service(int argc, const char* const* argv, state_machine& sm, const add_routes_fn& add_routes) {
  service_options opts;
  try {
    opts = parse_service_args(argc, argv);
  } catch (const std::invalid_argument& e) {
    std::cerr << (argc > 0 ? argv[0] : "coraft service") << ": " << e.what() << "\n";
    return 2;
  }
  return run_service(opts, sm, add_routes);
}

}  // namespace coraft::net
