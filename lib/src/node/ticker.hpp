// ticker.hpp — election and heartbeat timing: one core tick per interval.
//
// Ticks follow a fixed schedule (not "interval after the last tick"), so
// the work done per tick does not stretch the election timeout. A stall is
// not evidence that the leader is gone: when a tick comes more than one
// interval late (the strand was busy, or the process paused), the ticks
// missed are not made up, and this one waits one more interval, so that
// what arrived meanwhile (the leader's heartbeats, waiting in the socket
// buffers) is handled before the election timer counts on [§5.2: the
// timeout is "no communication over a period of time", and the
// communication was there]. At most one tick in a row is put off, so a node
// late on every tick still counts every other one, and a leader that is
// really gone is still replaced in about one election timeout. Only ticks
// that may be put off are (`may_put_off`): a leader's send its heartbeats.
//
// Each tick's lateness goes into node_metrics::tick_lag (event-loop lag).
#pragma once

#include "node_context.hpp"

#include <boost/asio/awaitable.hpp>

#include <functional>

namespace coraft::detail {

// Calls `on_tick` every ctx.opts.tick_interval until the node stops.
asio::awaitable<void> run_ticker(node_context& ctx, std::function<void()> on_tick, std::function<bool()> may_put_off);

}  // namespace coraft::detail
