// node_context.hpp — what the parts of one node share (private to lib/).
//
// A node is a coordinator (node.cpp) over parts that each own one concern:
// proposals, read and transfer waiters, the log writer, the applier, the
// snapshotter, status. They all run on the node's strand (the state
// machine's calls excepted, below) and reach each other only through this
// context and the references the coordinator hands
// them, so that each can be read (and tested) alone.
//
// Four places run code: `strand` (the protocol: everything here),
// `sm_strand` (the state machine: apply, snapshot capture and restore,
// queries), `snapshot_ex` (writing a captured snapshot image out while
// applies go on) and `transfer_ex` (reading chunks of a snapshot to send). The parts reach the state machine only
// through on_state_machine(), and the image through on_snapshot_thread(), which run a function there and resume them on
// the strand, so the strand never waits for either.
//
// Invariants: every member is touched only on `strand`, except the state
// machine's and the snapshot thread's (`sm_thread`, `sm_strand`,
// `snapshot_thread`, `snapshot_ex`, `transfer_thread`, `transfer_ex`: used
// from any thread; `sm_stop`,
// `queries_in_flight`: atomics); `raft` is set once
// start-up has loaded storage (life >= running) and stays set; `life` only
// moves forward.
#pragma once

#include <coraft/core/raft.hpp>
#include <coraft/detail/planted.hpp>
#include <coraft/errors.hpp>
#include <coraft/events.hpp>
#include <coraft/node.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace coraft::detail {

namespace asio = boost::asio;

// created -> starting (loading storage) -> running -> stopping -> stopped.
// A stop during start-up goes from starting to stopping.
enum class lifecycle { created, starting, running, stopping, stopped };

using propose_handler = asio::any_completion_handler<void(node_result<applied_command>)>;
// read_index(), snapshot() (an index) and transfer_leadership() (a node id).
using index_handler = asio::any_completion_handler<void(node_result<index_t>)>;

// The thread a node's state machine (or its snapshot writer) runs on when
// the owner gives no executor. Joined at destruction (after stop(), nothing
// is queued there).
struct owned_thread {
  std::optional<asio::thread_pool> pool;
  asio::any_io_executor executor(const asio::any_io_executor& given) {
    if (given) return given;
    pool.emplace(1);
    return pool->get_executor();
  }
};

struct node_context {
  node_context(asio::any_io_executor ex, node_options o)
      : strand(asio::make_strand(std::move(ex))),
        opts(std::move(o)),
        sm_strand(asio::make_strand(sm_thread.executor(opts.state_machine_executor))),
        snapshot_ex(snapshot_thread.executor(opts.snapshot_executor)),
        transfer_ex(transfer_thread.executor(opts.snapshot_executor)) {}

  asio::strand<asio::any_io_executor> strand;
  node_options opts;
  owned_thread sm_thread;
  asio::strand<asio::any_io_executor> sm_strand;
  owned_thread snapshot_thread;
  asio::any_io_executor snapshot_ex;  // one image written at a time (the snapshotter's)
  // Reading the chunks of snapshots being sent (a file's reads block): not
  // behind an image being written out, which can take seconds.
  owned_thread transfer_thread;
  asio::any_io_executor transfer_ex;
  // Set by a stop: the state machine's thread ends its batch early, a
  // snapshot image being written out stops, and query_state_machine()
  // refuses new queries.
  std::atomic<bool> sm_stop{false};
  std::atomic<int> queries_in_flight{0};  // admitted by query_state_machine(), not yet run
  std::optional<core::raft> raft;
  node_metrics metrics;
  // The leader's snapshot being received (its last entry) and when its
  // first chunk was stored: the applier times the install once restored.
  std::optional<std::pair<log_id, std::chrono::steady_clock::time_point>> snapshot_receiving;
  event_log events;    // thread-safe (its own lock)
  rate_history rates;  // thread-safe (its own lock)
  lifecycle life = lifecycle::created;
  std::string fatal;           // why the node failed (empty while it has not)
  std::uint64_t now_tick = 0;  // ticks since start: the clock of every deadline

  // The coordinator's services: batch the core's output into one ready batch
  // soon; fail for good (storage or state machine error); send a message.
  std::function<void()> schedule_flush;
  std::function<void(const std::string&)> fail;
  std::function<void(message)> route;

  bool serving() const { return life == lifecycle::running; }
  bool stopping() const { return life >= lifecycle::stopping; }
  node_id self() const { return opts.raft.id; }
  // A deadline `ticks` from now.
  std::uint64_t deadline(std::uint64_t ticks) const { return now_tick + ticks; }
};

// Seconds since t0 (the metrics' durations).
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Resumes a caller on its own executor, never inline on the node strand.
template <class Handler, class Value>
void resume(const asio::any_io_executor& ex, Handler h, Value v) {
  asio::post(ex, [h = std::move(h), v = std::move(v)]() mutable { std::move(h)(std::move(v)); });
}

// How a public operation reaches the strand: `fn(waiter)` runs there for a
// caller awaiting an Outcome; the waiter resumes the caller on its own
// executor, never inline on the strand.
template <class Waiter, class Handler>
Waiter make_waiter(asio::any_io_executor client, Handler h) {
  if constexpr (requires(Waiter w) { w.deadline_tick; })
    return Waiter{0, std::move(client), std::move(h)};
  else
    return Waiter{std::move(client), std::move(h)};
}

template <class Outcome, class Waiter, class Fn>
asio::awaitable<Outcome> call_on_strand(const asio::strand<asio::any_io_executor>& strand, Fn fn) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(Outcome)>(
      // The strand by pointer: it is the node's and outlives the call (a copy
      // per call costs two atomic reference counts on the hot path).
      [s = &strand](auto handler, Fn f) {
        // Built in place: Boost 1.81's any_completion_handler move-assignment
        // recurses without end.
        auto client = asio::get_associated_executor(handler, *s);
        Waiter w =
            make_waiter<Waiter>(std::move(client), asio::any_completion_handler<void(Outcome)>(std::move(handler)));
        asio::post(*s, [w = std::move(w), f = std::move(f)]() mutable { f(std::move(w)); });
      },
      asio::use_awaitable, std::move(fn));
}

// Runs fn() on `where`; the awaiting coroutine (on the node's strand)
// resumes with its result, or its exception rethrown. Not cancellable: a
// stop waits for the call in progress, which is bounded (one batch of
// applies, one capture or restore; an image being written out checks
// sm_stop).
template <class R>
struct completes_with {
  using type = void(std::exception_ptr, R);
};
template <>
struct completes_with<void> {
  using type = void(std::exception_ptr);
};

template <class Fn, class R = std::invoke_result_t<Fn&>>
asio::awaitable<R> run_elsewhere(node_context& ctx, asio::any_io_executor where, Fn fn) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, typename completes_with<R>::type>(
      [strand = &ctx.strand](auto handler, asio::any_io_executor ex, Fn f) {
        auto back = asio::get_associated_executor(handler, *strand);
        asio::dispatch(ex, [h = std::move(handler), f = std::move(f), back = std::move(back)]() mutable {
          std::exception_ptr error;
          if constexpr (std::is_void_v<R>) {
            try {
              f();
            } catch (...) {
              error = std::current_exception();
            }
            asio::post(back, [h = std::move(h), error]() mutable { std::move(h)(error); });
          } else {
            std::optional<R> out;
            try {
              out.emplace(f());
            } catch (...) {
              error = std::current_exception();
            }
            asio::post(back, [h = std::move(h), error, out = std::move(out)]() mutable {
              std::move(h)(error, out ? std::move(*out) : R{});
            });
          }
        });
      },
      asio::use_awaitable, std::move(where), std::move(fn));
}

// Runs fn() on the state machine's strand (see run_elsewhere).
template <class Fn>
auto on_state_machine(node_context& ctx, Fn fn) {
  // Planted: the call runs here, on the caller's (the node's) strand.
  auto where = CORAFT_PLANTED(state_machine_on_strand) ? asio::any_io_executor(ctx.strand)
                                                       : asio::any_io_executor(ctx.sm_strand);
  return run_elsewhere(ctx, std::move(where), std::move(fn));
}

// Runs fn() on the snapshot thread (see run_elsewhere).
template <class Fn>
auto on_snapshot_thread(node_context& ctx, Fn fn) {
  return run_elsewhere(ctx, ctx.snapshot_ex, std::move(fn));
}

// A pending operation that answers with an index: read_index(),
// transfer_leadership(), snapshot().
struct index_waiter {
  std::uint64_t deadline_tick = 0;
  asio::any_io_executor client;  // where the caller resumes
  index_handler handler;
  void answer(node_result<index_t> out) { resume(client, std::move(handler), std::move(out)); }
};

}  // namespace coraft::detail
