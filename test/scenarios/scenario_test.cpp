// test/scenarios/scenario_test.cpp — golden scenario tests of the protocol
// core (label `scenario`).
//
// Each test/scenarios/NAME.txt is a script over a few core_nodes on an
// explicit network (test/core/cluster.hpp): nothing moves unless a command
// moves it, and the only randomness is the cores' seeded election timeouts.
// Running a script echoes each command and prints what happened (messages
// delivered or lost, described by coraft::describe; role, term, leader and
// commit changes; command results). The output must equal NAME.golden.
// Set CORAFT_REWRITE_GOLDEN=1 to rewrite the golden files instead — then
// read the diff: a golden file records behaviour, right or wrong.
//
// Commands (node ids are numbers, A->B patterns may leave either side empty):
//   cluster N [pre_vote=0|1] [check_quorum=0|1] [election=T] [heartbeat=T]
//             [max_append=N] [max_inflight=N] [seed=S]
//   campaign N            node N starts an election now
//   tick N [k]            k ticks of node N (default 1)
//   tick-all k            k ticks of every node
//   run k                 k rounds of: every node ticks once, then stabilize
//   propose N data        propose `data` on node N
//   deliver               deliver every message in flight (one round)
//   deliver-msgs [A->B] [drop=X,Y]
//                         deliver the in-flight messages matching A->B,
//                         except those to X, Y, which are lost
//   drop [A->B]           lose the in-flight messages matching A->B
//   msgs                  list the messages in flight
//   sync N | sync-all     make node N's (everyone's) writes durable
//   stabilize             sync and deliver until nothing moves
//   isolate N | cut A B | partition A,B C,D,E | heal
//   crash N | restart N
//   status                each node's role, term, leader, commit, last log
//   log N                 node N's log
// Lines starting with '#' and blank lines are echoed as they are.
#define BOOST_TEST_MODULE coraft_scenarios
#include <boost/test/unit_test.hpp>

#include <core/cluster.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#ifndef CORAFT_SCENARIO_DIR
#error "CORAFT_SCENARIO_DIR must name the directory of the scenario files"
#endif

namespace coraft::test {
namespace {

std::string str(log_id id) { return "(" + std::to_string(id.term) + "," + std::to_string(id.index) + ")"; }

class interpreter {
 public:
  std::string run(std::istream& script) {
    std::string line;
    int lineno = 0;
    while (std::getline(script, line)) {
      ++lineno;
      if (line.empty() || line[0] == '#') {
        out_ << line << '\n';
        continue;
      }
      out_ << "> " << line << '\n';
      std::istringstream words(line);
      std::vector<std::string> args;
      for (std::string w; words >> w;) args.push_back(w);
      try {
        execute(args);
      } catch (const std::exception& e) {
        out_ << "  ERROR: " << e.what() << '\n';
        BOOST_ERROR("line " << lineno << ": " << line << ": " << e.what());
      }
      observe();
      report_violations();
    }
    return out_.str();
  }

 private:
  struct snapshot {
    bool up = false;
    core::role state = core::role::follower;
    term_t term = 0;
    node_id leader = no_node;
    index_t commit = 0;
    friend bool operator==(const snapshot&, const snapshot&) = default;
  };

  cluster& net() {
    if (!net_) throw std::runtime_error("no cluster: start with `cluster N`");
    return *net_;
  }

  static node_id id_of(const std::string& s) { return std::stoull(s); }

  static cluster::filter pattern(const std::string& p) {
    const auto arrow = p.find("->");
    if (arrow == std::string::npos) throw std::runtime_error("expected A->B, got " + p);
    const std::string a = p.substr(0, arrow);
    const std::string b = p.substr(arrow + 2);
    return from_to(a.empty() || a == "*" ? no_node : id_of(a), b.empty() || b == "*" ? no_node : id_of(b));
  }

  static std::set<node_id> id_list(const std::string& s) {
    std::set<node_id> ids;
    std::stringstream in(s);
    for (std::string item; std::getline(in, item, ',');)
      if (!item.empty()) ids.insert(id_of(item));
    return ids;
  }

  void start(const std::vector<std::string>& args) {
    core::options o;
    for (std::size_t i = 2; i < args.size(); ++i) {
      const auto eq = args[i].find('=');
      if (eq == std::string::npos) throw std::runtime_error("expected key=value: " + args[i]);
      const std::string key = args[i].substr(0, eq);
      const std::uint64_t v = std::stoull(args[i].substr(eq + 1));
      if (key == "pre_vote")
        o.pre_vote = v != 0;
      else if (key == "check_quorum")
        o.check_quorum = v != 0;
      else if (key == "election")
        o.election_ticks = static_cast<int>(v);
      else if (key == "heartbeat")
        o.heartbeat_ticks = static_cast<int>(v);
      else if (key == "max_append")
        o.max_append_entries = v;
      else if (key == "max_inflight")
        o.max_inflight = v;
      else if (key == "seed")
        o.seed = v;
      else
        throw std::runtime_error("unknown option " + key);
    }
    net_ = std::make_unique<cluster>(std::stoul(args.at(1)), o);
    net_->on_deliver = [this](const message& m) { out_ << "  " << describe(m) << '\n'; };
    net_->on_drop = [this](const message& m) { out_ << "  lost: " << describe(m) << '\n'; };
    net_->on_stepped = [this](const message&) { observe(); };
    seen_.clear();
    observe(/*quiet=*/true);
  }

  void execute(const std::vector<std::string>& a) {
    const std::string& cmd = a.at(0);
    if (cmd == "cluster") {
      start(a);
    } else if (cmd == "campaign") {
      net().raft(id_of(a.at(1))).campaign();
      net().take_all();
    } else if (cmd == "tick") {
      const int k = a.size() > 2 ? std::stoi(a[2]) : 1;
      for (int i = 0; i < k; ++i) {
        net().tick(id_of(a.at(1)));
        observe();
      }
    } else if (cmd == "tick-all") {
      const int k = a.size() > 1 ? std::stoi(a[1]) : 1;
      for (int i = 0; i < k; ++i) {
        net().tick_all();
        observe();
      }
    } else if (cmd == "run") {
      const int k = a.size() > 1 ? std::stoi(a[1]) : 1;
      for (int i = 0; i < k; ++i) {
        net().tick_all();
        observe();
        net().stabilize();
      }
    } else if (cmd == "propose") {
      const node_id id = id_of(a.at(1));
      const auto r = net().raft(id).propose(a.at(2));
      switch (r.result) {
        case core::propose_result::code::accepted: out_ << "  accepted at " << str(r.id) << '\n'; break;
        case core::propose_result::code::not_leader:
          out_ << "  not_leader, leader hint " << r.leader_hint << '\n';
          break;
        case core::propose_result::code::dropped: out_ << "  dropped\n"; break;
        case core::propose_result::code::transferring: out_ << "  transferring\n"; break;
      }
      net().take_all();
    } else if (cmd == "deliver") {
      net().deliver();
    } else if (cmd == "deliver-msgs") {
      cluster::filter which;
      std::set<node_id> lose;
      for (std::size_t i = 1; i < a.size(); ++i) {
        if (a[i].rfind("drop=", 0) == 0)
          lose = id_list(a[i].substr(5));
        else
          which = pattern(a[i]);
      }
      const auto selected = [&](const message& m) { return !which || which(m); };
      net().drop([&](const message& m) { return selected(m) && lose.count(m.to) > 0; });
      net().deliver(selected);
    } else if (cmd == "drop") {
      net().drop(a.size() > 1 ? pattern(a[1]) : cluster::filter([](const message&) { return true; }));
    } else if (cmd == "msgs") {
      if (net().in_flight().empty()) out_ << "  (none)\n";
      for (const auto& m : net().in_flight()) out_ << "  " << describe(m) << '\n';
    } else if (cmd == "sync") {
      net().sync(id_of(a.at(1)));
    } else if (cmd == "sync-all") {
      net().sync_all();
    } else if (cmd == "stabilize") {
      net().stabilize();
    } else if (cmd == "isolate") {
      net().isolate(id_of(a.at(1)));
    } else if (cmd == "cut") {
      net().cut(id_of(a.at(1)), id_of(a.at(2)));
    } else if (cmd == "partition") {
      std::vector<std::set<node_id>> groups;
      for (std::size_t i = 1; i < a.size(); ++i) groups.push_back(id_list(a[i]));
      for (std::size_t g = 0; g < groups.size(); ++g)
        for (std::size_t h = g + 1; h < groups.size(); ++h)
          for (node_id x : groups[g])
            for (node_id y : groups[h]) net().cut(x, y);
    } else if (cmd == "heal") {
      net().heal();
    } else if (cmd == "crash") {
      net().crash(id_of(a.at(1)));
    } else if (cmd == "restart") {
      net().restart(id_of(a.at(1)));
    } else if (cmd == "status") {
      status();
    } else if (cmd == "log") {
      log(id_of(a.at(1)));
    } else {
      throw std::runtime_error("unknown command " + cmd);
    }
  }

  void status() {
    for (node_id id : net().ids()) {
      core_node& n = net().node(id);
      if (!n.up()) {
        out_ << "  " << id << ": down (durable: term " << n.disk().state.current_term << ", " << n.disk().log.size()
             << " entries)\n";
        continue;
      }
      const core::status s = n.raft().get_status();
      out_ << "  " << id << ": " << core::to_string(s.state) << " term=" << s.term << " leader=" << s.leader
           << " commit=" << s.commit_index << " applied=" << s.applied_index << " last=" << str(s.last_log) << '\n';
    }
  }

  void log(node_id id) {
    core_node& n = net().node(id);
    if (!n.up()) {
      out_ << "  " << id << ": down\n";
      return;
    }
    const core::raft& r = n.raft();
    out_ << "  " << id << ":";
    if (r.last_log().index < r.first_index()) out_ << " (empty)";
    for (index_t i = r.first_index(); i <= r.last_log().index; ++i) {
      const entry* e = r.entry_at(i);
      out_ << ' ' << str(e->id());
      if (e->type == entry_type::noop)
        out_ << " noop";
      else
        out_ << " \"" << std::string_view(e->data) << '"';
      if (i < r.last_log().index) out_ << ',';
    }
    out_ << '\n';
  }

  // Prints how each node's role, term, leader or commit index changed since
  // the last look.
  void observe(bool quiet = false) {
    if (!net_) return;
    for (node_id id : net_->ids()) {
      core_node& n = net_->node(id);
      snapshot now;
      now.up = n.up();
      if (now.up) {
        now.state = n.raft().state();
        now.term = n.raft().term();
        now.leader = n.raft().leader();
        now.commit = n.raft().commit_index();
      }
      auto it = seen_.find(id);
      if (it != seen_.end() && !quiet && !(it->second == now)) {
        const snapshot& was = it->second;
        if (!now.up) {
          out_ << "  [" << id << " is down]\n";
        } else if (!was.up) {
          out_ << "  [" << id << " is up: " << core::to_string(now.state) << " term=" << now.term
               << " commit=" << now.commit << "]\n";
        } else {
          std::string change;
          if (was.state != now.state || was.term != now.term)
            change += std::string(" ") + core::to_string(now.state) + " term=" + std::to_string(now.term);
          if (was.leader != now.leader) change += " leader=" + std::to_string(now.leader);
          if (was.commit != now.commit) change += " commit=" + std::to_string(now.commit);
          out_ << "  [" << id << change << "]\n";
        }
      }
      seen_[id] = now;
    }
  }

  void report_violations() {
    if (!net_) return;
    net_->check();
    const auto& v = net_->violations();
    for (; reported_ < v.size(); ++reported_) {
      out_ << "  SAFETY VIOLATION: " << v[reported_] << '\n';
      BOOST_ERROR("safety violation: " << v[reported_]);
    }
  }

  std::unique_ptr<cluster> net_;
  std::map<node_id, snapshot> seen_;
  std::size_t reported_ = 0;
  std::ostringstream out_;
};

std::filesystem::path dir() { return CORAFT_SCENARIO_DIR; }

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void run_scenario(const std::string& name) {
  std::ifstream script(dir() / (name + ".txt"));
  BOOST_TEST_REQUIRE(script.good(), "cannot open " << (dir() / (name + ".txt")));
  interpreter it;
  const std::string got = it.run(script);
  const auto golden = dir() / (name + ".golden");
  const char* rewrite = std::getenv("CORAFT_REWRITE_GOLDEN");
  if (rewrite != nullptr && std::string(rewrite) == "1") {
    std::ofstream(golden, std::ios::binary) << got;
    BOOST_TEST_MESSAGE("rewrote " << golden);
    return;
  }
  BOOST_TEST_REQUIRE(std::filesystem::exists(golden),
                     golden << " is missing; run with CORAFT_REWRITE_GOLDEN=1 and review it");
  const std::string want = read_all(golden);
  if (got == want) return;
  // Show the first difference with a little context.
  std::istringstream g(got), w(want);
  std::string gl, wl;
  int line = 0;
  while (true) {
    const bool more_g = static_cast<bool>(std::getline(g, gl));
    const bool more_w = static_cast<bool>(std::getline(w, wl));
    ++line;
    if (!more_g && !more_w) break;
    if (!more_g || !more_w || gl != wl) {
      BOOST_ERROR(name << ": output differs from " << golden.filename() << " at line " << line
                       << "\n  golden: " << (more_w ? wl : "<end>") << "\n  actual: " << (more_g ? gl : "<end>")
                       << "\n(CORAFT_REWRITE_GOLDEN=1 rewrites it)");
      break;
    }
  }
}

const std::vector<std::string>& scenario_names() {
  static const std::vector<std::string> names{
      "basic_election", "leader_crash_log_repair", "partitioned_leader", "pre_vote_rejoin", "conflicting_suffix",
  };
  return names;
}

}  // namespace

BOOST_AUTO_TEST_CASE(basic_election) { run_scenario("basic_election"); }
BOOST_AUTO_TEST_CASE(leader_crash_log_repair) { run_scenario("leader_crash_log_repair"); }
BOOST_AUTO_TEST_CASE(partitioned_leader) { run_scenario("partitioned_leader"); }
BOOST_AUTO_TEST_CASE(pre_vote_rejoin) { run_scenario("pre_vote_rejoin"); }
BOOST_AUTO_TEST_CASE(conflicting_suffix) { run_scenario("conflicting_suffix"); }

BOOST_AUTO_TEST_CASE(every_scenario_file_is_run) {
  for (const auto& f : std::filesystem::directory_iterator(dir())) {
    if (f.path().extension() != ".txt" || f.path().filename() == "CMakeLists.txt") continue;
    const std::string name = f.path().stem().string();
    const auto& names = scenario_names();
    BOOST_TEST((std::find(names.begin(), names.end(), name) != names.end()),
               name << ".txt has no test case in scenario_test.cpp");
  }
}

}  // namespace coraft::test
