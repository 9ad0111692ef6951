// ticker.cpp — see ticker.hpp.
#include "ticker.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace coraft::detail {

asio::awaitable<void> run_ticker(node_context& ctx, std::function<void()> on_tick) {
  asio::steady_timer timer(ctx.strand);
  auto next = std::chrono::steady_clock::now();
  while (!ctx.stopping()) {
    next += ctx.opts.tick_interval;
    timer.expires_at(next);
    co_await timer.async_wait(asio::use_awaitable);
    on_tick();
    const auto now = std::chrono::steady_clock::now();
    if (now - next > 4 * ctx.opts.tick_interval) next = now;
  }
}

}  // namespace coraft::detail
