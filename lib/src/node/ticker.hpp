// ticker.hpp — election and heartbeat timing: one core tick per interval.
//
// Ticks follow a fixed schedule (not "interval after the last tick"), so
// the work done per tick does not stretch the election timeout; after a
// long stall (a paused process) the schedule restarts from now rather than
// firing a burst of ticks.
#pragma once

#include "node_context.hpp"

#include <boost/asio/awaitable.hpp>

#include <functional>

namespace coraft::detail {

// Calls `on_tick` every ctx.opts.tick_interval until the node stops.
asio::awaitable<void> run_ticker(node_context& ctx, std::function<void()> on_tick);

}  // namespace coraft::detail
