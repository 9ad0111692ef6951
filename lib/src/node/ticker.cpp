// ticker.cpp — see ticker.hpp.
#include "ticker.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace coraft::detail {

asio::awaitable<void> run_ticker(node_context& ctx, std::function<void()> on_tick, std::function<bool()> may_put_off) {
  asio::steady_timer timer(ctx.strand);
  const auto interval = ctx.opts.tick_interval;
  auto next = std::chrono::steady_clock::now();
  bool put_off = false;  // the last tick was put off after a stall
  while (!ctx.stopping()) {
    next += interval;
    timer.expires_at(next);
    co_await timer.async_wait(asio::use_awaitable);
    const auto now = std::chrono::steady_clock::now();
    const auto lag = now - next;
    const double lag_s = std::chrono::duration<double>(lag).count();
    ctx.metrics.tick_lag.observe(lag_s);
    ctx.metrics.tick_lag_max_s = std::max(ctx.metrics.tick_lag_max_s, lag_s);
    if (lag > interval) {
      next = now;  // the ticks missed are not made up
      if (!put_off && may_put_off()) {
        put_off = true;
        ++ctx.metrics.ticks_deferred;
        continue;
      }
    }
    put_off = false;
    on_tick();
  }
}

}  // namespace coraft::detail
