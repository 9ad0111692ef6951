// node.cpp — the coordinator: the public API, start-up, routing of inbound
// events into the core, and the flush that turns each ready batch into work
// for the node's parts [node_context.hpp]:
//
//   propose() ─> core ─> flush ─┬─> replicators (send_now)
//                               ├─> log_writer (persist, then send_after_sync)
//                               ├─> snapshot_receiver (chunks of a leader's snapshot, to storage)
//                               ├─> applier ─> proposals, reads, snapshotter
//                               └─> reads, transfers (answers)
//
// Threading: everything runs only on the node's strand, except the state
// machine, which runs on its own (node_context::on_state_machine): the
// applier hands it batches, the snapshotter captures through the applier,
// recovery restores there, and query_state_machine() runs there. Public
// entry points post onto the strand (deliver, tick, campaign, propose...)
// or spawn a coroutine on it and await that (start, status, stop).
//
// Ordering rules of the ready batch (coraft/core/raft.hpp) as carried out
// here: send_now goes to the replicators at once; persist_* and
// send_after_sync become one write job; the log writer runs jobs in FIFO
// order, so a job's after-sync messages leave only once it and every
// earlier job are durable [thesis §3.8]; apply entries go to the applier in
// order.
//
// Every long-lived coroutine (replicators, log writer, applier,
// snapshotter, snapshot receiver, ticker) is a child in one task group with the `fail` policy:
// an exception that escapes one stops the node loudly (on_fatal).
#include <coraft/node.hpp>

#include "applier.hpp"
#include "log_writer.hpp"
#include "node_context.hpp"
#include "proposals.hpp"
#include "recovery.hpp"
#include "replicators.hpp"
#include "snapshot_receiver.hpp"
#include "snapshotter.hpp"
#include "status.hpp"
#include "ticker.hpp"
#include "waiters.hpp"

#include <coraft/detail/task_group.hpp>
#include <coraft/log.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace coraft {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using namespace detail;

struct node::impl {
  impl(asio::any_io_executor ex, node_options o, storage& s, transport& t, state_machine& m)
      : ctx(std::move(ex), std::move(o)),
        store(s),
        net(t),
        sm(m),
        props(ctx),
        reads(ctx),
        transfers(ctx),
        status(ctx),
        apply(ctx, sm, props, reads, snaps),
        writer(ctx, store, [this](coraft::snapshot s) { apply.queue_restore(std::move(s)); }),
        snaps(ctx, store, apply, writer),
        receiver(ctx, store),
        tasks(ctx.strand, ctx.self(), "node", [this](const std::string& why) { fail(why); }),
        peers(ctx, net, tasks) {
    ctx.schedule_flush = [this] { schedule_flush(); };
    ctx.fail = [this](const std::string& why) { fail(why); };
    ctx.route = [this](message msg) { peers.route(std::move(msg)); };
  }

  node_context ctx;
  storage& store;
  transport& net;
  state_machine& sm;
  proposals props;
  read_waiters reads;
  transfer_waiters transfers;
  status_tracker status;
  applier apply;
  log_writer writer;
  snapshotter snaps;
  snapshot_receiver receiver;
  task_group tasks;
  replicators peers;
  bool flush_scheduled = false;

  // ---- start-up ---------------------------------------------------------

  awaitable<void> start_on_strand() {
    // A stop() that comes while start-up awaits storage waits for it; start-up
    // then throws `stopped` and spawns nothing.
    const task_group::hold guard(tasks);
    if (ctx.life == lifecycle::created) ctx.life = lifecycle::starting;
    const recovered r = co_await recover(ctx, store, sm);
    if (r.reset_on_first_write) writer.reset_on_first_write(*r.reset_on_first_write);
    reads.start(ctx.opts.incarnation_id);
    if (r.snapshot_index > 0) {
      apply.recovered(r.snapshot_index);
      snaps.restored(r.snapshot_index);
      reads.applied(r.snapshot_index);
    }
    status.started();           // first in the history: the term it starts with
    status.check_membership();  // the owner learns the members before anything is sent
    peers.start(status.config());
    tasks.spawn("log writer", [this] { return writer.run(); });
    tasks.spawn("applier", [this] { return apply.run(); });
    tasks.spawn("snapshotter", [this] { return snaps.run(); });
    tasks.spawn("snapshot receiver", [this] { return receiver.run(); });
    if (ctx.opts.tick_interval.count() > 0)
      tasks.spawn("ticker", [this] {
        // A leader's ticks are never put off: they send the heartbeats.
        return run_ticker(
            ctx, [this] { on_tick(); }, [this] { return ctx.raft->state() != core::role::leader; });
      });
    ctx.life = lifecycle::running;
  }

  // ---- inbound events, into the core ------------------------------------

  void do_propose(payload cmd, proposals::waiter&& w) {
    if (!ctx.serving()) return props.reject(std::move(w), errc::stopped);
    if (cmd.size() > ctx.opts.max_command_bytes) return props.reject(std::move(w), errc::too_large);
    if (props.size() >= ctx.opts.max_pending_proposals) return props.reject(std::move(w), errc::overloaded);
    // Backpressure: a leader whose state machine is that far behind what is
    // committed (a follower answers not_leader below, with the hint).
    if (ctx.opts.max_apply_backlog > 0 && apply.backlog() >= ctx.opts.max_apply_backlog &&
        ctx.raft->state() == core::role::leader)
      return props.reject(std::move(w), errc::overloaded);
    const core::propose_result r = ctx.raft->propose(std::move(cmd));
    switch (r.result) {
      case core::propose_result::code::not_leader: return props.reject(std::move(w), errc::not_leader, r.leader_hint);
      case core::propose_result::code::dropped: return props.reject(std::move(w), errc::dropped);
      case core::propose_result::code::transferring:
        return props.reject(std::move(w), errc::transferring, r.leader_hint);
      case core::propose_result::code::accepted: break;
    }
    props.track(r.id, std::move(w));
    schedule_flush();
  }

  void do_change(const core::config_change& c, proposals::waiter&& w) {
    if (!ctx.serving()) return props.reject(std::move(w), errc::stopped);
    if (props.size() >= ctx.opts.max_pending_proposals) return props.reject(std::move(w), errc::overloaded);
    const core::config_result r = ctx.raft->propose_config(c);
    using code = core::config_result::code;
    switch (r.result) {
      case code::not_leader: return props.reject(std::move(w), errc::not_leader, r.leader_hint);
      case code::transferring: return props.reject(std::move(w), errc::transferring, r.leader_hint);
      case code::busy: return props.reject(std::move(w), errc::busy);
      case code::bad_member: return props.reject(std::move(w), errc::bad_member);
      case code::not_caught_up: return props.reject(std::move(w), errc::not_caught_up);
      case code::accepted: break;
    }
    log_line(log_level::info, ctx.self(), "raft", "membership change appended at index " + std::to_string(r.id.index));
    props.track(r.id, std::move(w));
    schedule_flush();
  }

  void do_read(index_waiter w) {
    if (!ctx.serving()) return w.answer(errc::stopped);
    reads.begin(std::move(w));
    schedule_flush();
  }

  void do_transfer(node_id to, index_waiter w) {
    if (!ctx.serving()) return w.answer(errc::stopped);
    if (transfers.begin(to, std::move(w))) schedule_flush();
  }

  void do_snapshot(index_waiter w) {
    if (!ctx.serving()) return w.answer(errc::stopped);
    snaps.request(std::move(w));
  }

  void on_messages(std::vector<message>& batch) {
    if (!ctx.serving()) return;
    const auto now = std::chrono::steady_clock::now();
    ctx.metrics.messages_received += batch.size();
    for (const auto& m : batch) {
      status.heard_from(m.from, now);
      if (ctx.opts.latency_histograms) peers.answered(m, now);
      ctx.raft->step(m);
    }
    schedule_flush();
  }

  void on_tick() {
    if (!ctx.serving()) return;
    ++ctx.now_tick;
    sample_rates();
    ctx.raft->tick();
    props.expire();
    reads.expire();
    schedule_flush();
  }

  // About once a second of ticks: the counters the dashboard charts.
  void sample_rates() {
    if (ctx.opts.tick_interval.count() <= 0) return;  // ticks driven by hand (tests): no clock to sample on
    const auto every = std::max<std::uint64_t>(1, std::chrono::milliseconds(1000) / ctx.opts.tick_interval);
    if (ctx.now_tick % every != 0) return;
    rate_sample r;
    r.unix_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    r.proposals_ok = ctx.metrics.proposals_ok;
    r.reads_ok = ctx.metrics.reads_ok;
    r.commit_latency_count = ctx.metrics.commit_latency.count;
    r.commit_latency_sum_s = ctx.metrics.commit_latency.sum;
    ctx.rates.add(r);
  }

  // ---- the core's output, out to the parts ------------------------------

  void schedule_flush() {
    if (flush_scheduled) return;
    flush_scheduled = true;
    // Posting (rather than flushing at once) batches every event already
    // queued on the strand into one ready batch.
    asio::post(ctx.strand, [this] { flush(); });
  }

  void flush() {
    flush_scheduled = false;
    props.forget_time();
    if (!ctx.raft || ctx.stopping()) return;
    status.check_leadership();
    while (ctx.raft->has_ready()) {
      core::ready rd = ctx.raft->take_ready();
      for (auto& m : rd.send_now) peers.route(std::move(m));
      if (rd.persist_state || !rd.persist_entries.empty() || !rd.send_after_sync.empty())
        writer.queue(
            write_job{std::move(rd.persist_state), std::move(rd.persist_entries), std::move(rd.send_after_sync)});
      if (!rd.apply.empty()) {
        props.committed(rd.apply);
        apply.queue(std::move(rd.apply));
      }
      if (!rd.snapshot_chunks.empty()) receiver.queue(std::move(rd.snapshot_chunks));
      if (rd.install_snapshot) writer.queue_install(std::move(*rd.install_snapshot));
      if (rd.verify_snapshot) peers.verify(std::move(*rd.verify_snapshot));
      for (const auto& r : rd.read_states) reads.on_read_state(r);
    }
    status.check_membership();
    transfers.check();
  }

  // ---- stopping ---------------------------------------------------------

  // A storage or state machine failure: stop serving, acknowledge nothing
  // more, and tell the owner (once), who should exit with the error.
  void fail(const std::string& why) {
    if (ctx.fatal.empty()) {
      ctx.fatal = why;
      log_line(log_level::error, ctx.self(), "node", "fatal: " + why + "; the node has stopped");
      if (ctx.opts.on_fatal) ctx.opts.on_fatal(why);
    }
    begin_stop();
  }

  void begin_stop() {
    if (ctx.stopping()) return;
    ctx.life = lifecycle::stopping;
    ctx.sm_stop = true;
    // Proposals in the log may still commit under the next leader: their
    // callers learn the outcome is unknown, not that they failed.
    props.fail_all(errc::interrupted);
    reads.fail_all(errc::stopped);
    snaps.fail_all(errc::stopped);
    transfers.fail_all(errc::stopped);
    snaps.wake();
    receiver.wake();
    tasks.cancel();
    writer.wake();
    apply.wake();
    peers.wake_all();
  }

  awaitable<void> stop_on_strand() {
    begin_stop();
    co_await tasks.wait();
    // Queries admitted before the stop: each trip through the state
    // machine's strand lets the ones queued there run.
    while (ctx.queries_in_flight.load() > 0) co_await on_state_machine(ctx, [] {});
    ctx.life = lifecycle::stopped;
  }

  awaitable<node_status> status_on_strand() {
    ctx.metrics.apply_backlog = apply.backlog();
    co_return status.make_status(apply.applied_index(), props.size());
  }

  awaitable<std::vector<entry_info>> log_info_on_strand(index_t from, std::size_t limit) {
    co_return status.log_info(from, limit);
  }
};

namespace {

// A configuration entry's outcome: its index.
awaitable<node_result<index_t>> entry_index(awaitable<node_result<applied_command>> applied) {
  const node_result<applied_command> r = co_await std::move(applied);
  if (!r) co_return r.error();
  co_return r->index;
}

}  // namespace

node::node(asio::any_io_executor ex, node_options opts, storage& store, transport& net, state_machine& sm)
    : impl_(std::make_unique<impl>(std::move(ex), std::move(opts), store, net, sm)) {}

// The owner must have awaited stop() and let the executor run out of this
// node's handlers (e.g. io_context::run returned) before destroying it.
node::~node() = default;

awaitable<void> node::start() { co_await asio::co_spawn(impl_->ctx.strand, impl_->start_on_strand(), use_awaitable); }

awaitable<node_result<applied_command>> node::propose(std::string command) {
  impl* self = impl_.get();
  // The one copy of the command: every later copy shares these bytes.
  return call_on_strand<node_result<applied_command>, proposals::waiter>(
      self->ctx.strand, [self, cmd = payload(command)](proposals::waiter&& w) mutable {
        self->do_propose(std::move(cmd), std::move(w));
      });
}

// g++ 12 miscopies a braced temporary written inside the co_await
// expression (`co_await n.change_membership({kind, id, "short"})`: its
// short-string buffer pointer is left pointing at another copy — ASan
// bad-free); name the change first. See node.hpp.
awaitable<node_result<index_t>> node::change_membership(const core::config_change& change) {
  impl* self = impl_.get();
  return entry_index(call_on_strand<node_result<applied_command>, proposals::waiter>(
      self->ctx.strand, [self, c = change](proposals::waiter&& w) { self->do_change(c, std::move(w)); }));
}

awaitable<node_result<index_t>> node::read_index() {
  impl* self = impl_.get();
  return call_on_strand<node_result<index_t>, index_waiter>(self->ctx.strand,
                                                            [self](index_waiter&& w) { self->do_read(std::move(w)); });
}

awaitable<node_result<node_id>> node::transfer_leadership(node_id to) {
  impl* self = impl_.get();
  return call_on_strand<node_result<index_t>, index_waiter>(
      self->ctx.strand, [self, to](index_waiter&& w) { self->do_transfer(to, std::move(w)); });
}

awaitable<node_result<index_t>> node::snapshot() {
  impl* self = impl_.get();
  return call_on_strand<node_result<index_t>, index_waiter>(
      self->ctx.strand, [self](index_waiter&& w) { self->do_snapshot(std::move(w)); });
}

awaitable<node_status> node::status() {
  co_return co_await asio::co_spawn(impl_->ctx.strand, impl_->status_on_strand(), use_awaitable);
}

namespace {

awaitable<node_result<void>> refused_query() { co_return node_error(errc::stopped); }

awaitable<node_result<void>> admitted_query(awaitable<void> run) {
  co_await std::move(run);
  co_return node_result<void>();
}

}  // namespace

// Not a coroutine itself: g++ 12 frees a coroutine's parameter twice when it
// is moved into a lambda's init-capture (ASan: double free of `fn`).
awaitable<node_result<void>> node::query_state_machine(std::function<void()> fn) {
  node_context& ctx = impl_->ctx;
  // Counted before the check, so that a stop either refuses this query or
  // waits for it (stop_on_strand): none runs on a destroyed node.
  ++ctx.queries_in_flight;
  if (ctx.sm_stop.load()) {
    --ctx.queries_in_flight;
    return refused_query();
  }
  // Straight to the state machine's strand: the node's strand is not
  // involved, and the caller resumes on its own executor.
  return admitted_query(on_state_machine(ctx, [&ctx, fn = std::move(fn)] {
    struct done {
      node_context& c;
      ~done() { --c.queries_in_flight; }
    } count_down{ctx};
    fn();
  }));
}

awaitable<std::vector<entry_info>> node::log_info(index_t from, std::size_t limit) {
  co_return co_await asio::co_spawn(impl_->ctx.strand, impl_->log_info_on_strand(from, limit), use_awaitable);
}

awaitable<void> node::stop() { co_await asio::co_spawn(impl_->ctx.strand, impl_->stop_on_strand(), use_awaitable); }

void node::deliver(std::vector<message> batch) {
  impl* self = impl_.get();
  asio::post(self->ctx.strand, [self, b = std::move(batch)]() mutable { self->on_messages(b); });
}

void node::tick() {
  impl* self = impl_.get();
  asio::post(self->ctx.strand, [self] { self->on_tick(); });
}

void node::campaign() {
  impl* self = impl_.get();
  asio::post(self->ctx.strand, [self] {
    if (!self->ctx.serving()) return;
    self->ctx.raft->campaign();
    self->schedule_flush();
  });
}

node_id node::id() const { return impl_->ctx.self(); }
event_log& node::events() { return impl_->ctx.events; }
const rate_history& node::rates() const { return impl_->ctx.rates; }

asio::any_io_executor node::get_executor() const { return impl_->ctx.strand; }

}  // namespace coraft
