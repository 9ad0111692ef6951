// recovery.cpp — see recovery.hpp.
#include "recovery.hpp"

#include <coraft/detail/planted.hpp>
#include <coraft/log.hpp>

#include <boost/system/system_error.hpp>

#include <algorithm>
#include <stdexcept>

namespace coraft::detail {

namespace {

std::string ids_text(std::vector<node_id> ids) {
  std::sort(ids.begin(), ids.end());
  std::string s;
  for (node_id id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
  return s.empty() ? "none" : s;
}

// How `given` (the options) differs from `stored` (the bootstrap configuration
// written at first start); empty when they name the same members alike.
std::string bootstrap_difference(const membership& stored, const membership& given) {
  std::string out;
  auto sorted = [](std::vector<node_id> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  if (sorted(stored.voters) != sorted(given.voters))
    out += "voters " + ids_text(given.voters) + " given, " + ids_text(stored.voters) + " stored; ";
  if (sorted(stored.learners) != sorted(given.learners))
    out += "learners " + ids_text(given.learners) + " given, " + ids_text(stored.learners) + " stored; ";
  for (const auto& [id, a] : given.addresses) {
    auto it = stored.addresses.find(id);
    if (it != stored.addresses.end() && it->second != a)
      out += "address of " + std::to_string(id) + " '" + a + "' given, '" + it->second + "' stored; ";
  }
  if (!out.empty()) out.resize(out.size() - 2);
  return out;
}

void throw_if_stopping(const node_context& ctx) {
  if (ctx.stopping()) throw boost::system::system_error(make_error_code(errc::stopped), "node stopped while starting");
}

const char* const restart_fix =
    "this node cannot prove it holds what it acknowledged. Do not restart it empty as the same voter "
    "(it would have forgotten its vote and log: it could vote twice in a term and count towards entries "
    "it does not hold); remove it from the cluster, wipe its data, add it back as a learner (--join) and "
    "promote it";

// The bootstrap configuration this start uses; written durably on the first.
asio::awaitable<membership> settle_bootstrap(node_context& ctx, storage& store, const recovered_state& rs) {
  const membership given{ctx.opts.voters, {}, ctx.opts.addresses};
  const bool empty = rs.state == hard_state{} && rs.log.empty() && !rs.snap && rs.base == 0;
  if (rs.bootstrap && !CORAFT_PLANTED(bootstrap_from_options)) {
    // Once a data directory holds state, the configuration comes only from
    // it (the stored bootstrap, then config entries and snapshots); options
    // naming other members must not form another cluster over this log.
    if (const std::string diff = bootstrap_difference(*rs.bootstrap, given); !diff.empty())
      log_line(log_level::warn, ctx.self(), "raft",
               "the bootstrap configuration given differs from the one stored at first start (" + diff +
                   "): ignored; the stored one and the log decide the members");
    co_return *rs.bootstrap;
  }
  if (!empty && !CORAFT_PLANTED(bootstrap_from_options))
    throw std::runtime_error(
        "storage holds a hard state, log or snapshot but no bootstrap configuration: it cannot say which "
        "cluster this node bootstrapped into (a storage implementation must keep log_write::bootstrap)");
  // First start: the bootstrap configuration becomes durable before the node
  // can vote or acknowledge anything, so that no later start can take
  // another one.
  if (!rs.bootstrap) {
    log_write w;
    w.bootstrap = given;
    co_await store.write(std::move(w));
    throw_if_stopping(ctx);
  }
  co_return given;
}

}  // namespace

namespace {

// A snapshot a leader was sending: the same one resumes after the bytes
// storage kept.
void resume_incoming(node_context& ctx, const recovered_state& rs) {
  if (!rs.incoming) return;
  ctx.raft->resume_snapshot(rs.incoming->meta, rs.incoming->bytes);
}

}  // namespace

asio::awaitable<recovered> recover(node_context& ctx, storage& store, state_machine& sm) {
  recovered_state rs = co_await store.load();
  throw_if_stopping(ctx);
  const membership bootstrap = co_await settle_bootstrap(ctx, store, rs);
  recovered out;
  if (!rs.snap) {
    if (rs.base > 0 || (!rs.log.empty() && rs.log.front().index != 1))
      throw std::runtime_error(
          "the log starts after entry " + std::to_string(rs.log.empty() ? rs.base : rs.log.front().index - 1) +
          " but no valid snapshot was found: the snapshot files are missing or corrupt; " + restart_fix);
    ctx.raft.emplace(ctx.opts.raft, bootstrap, rs.state, std::move(rs.log));
    resume_incoming(ctx, rs);
    co_return out;
  }
  // [§7] Restart from the newest snapshot, then the log after it.
  const log_id last = rs.snap->meta.last;
  if (rs.base > last.index && !CORAFT_PLANTED(snapshot_fallback_clears_log))
    throw std::runtime_error("the log starts after entry " + std::to_string(rs.base) +
                             " but the newest snapshot ends at entry " + std::to_string(last.index) +
                             ": the entries between are lost (a newer snapshot is missing or damaged); " + restart_fix);
  bool connects = false;
  if (!rs.log.empty()) {
    const index_t first = rs.log.front().index;
    connects = first == last.index + 1 || (first <= last.index && rs.log.back().index >= last.index &&
                                           rs.log[last.index - first].term == last.term);
  }
  if (!connects) {
    // The snapshot is ahead of the log, or disagrees with it at its index:
    // a crash came between saving a leader's snapshot and discarding the
    // log (both steps of an install [§7]). Finish the reset with the first
    // write, so that entries after the snapshot continue the log on disk.
    // Until then nothing reads the old log.
    out.reset_on_first_write = last;
    rs.log.clear();
  }
  // On the state machine's thread, like every call into it.
  co_await on_state_machine(ctx, [&sm, &rs, last] {
    data_snapshot_reader in(*rs.snap->data);
    try {
      sm.restore_snapshot(in);
    } catch (const std::exception& e) {
      // The bytes passed their checksum, so the state machine cannot read
      // what a state machine wrote (another version's format, or a snapshot
      // a broken or hostile leader sent).
      throw std::runtime_error("the state machine cannot restore the snapshot through index " +
                               std::to_string(last.index) + " (" + e.what() + "); " + restart_fix);
    }
  });
  throw_if_stopping(ctx);
  out.snapshot_index = last.index;
  log_line(log_level::info, ctx.self(), "snapshot", "restored snapshot through index " + std::to_string(last.index));
  ctx.raft.emplace(ctx.opts.raft, rs.state, std::move(*rs.snap), std::move(rs.log));
  resume_incoming(ctx, rs);
  co_return out;
}

}  // namespace coraft::detail
