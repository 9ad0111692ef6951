#include <coraft/memory_storage.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace coraft {

namespace asio = boost::asio;

recovered_state memory_storage::durable() const {
  return {state_, std::vector<entry>(log_.begin(), log_.end())};
}

asio::awaitable<recovered_state> memory_storage::load() { co_return durable(); }

asio::awaitable<void> memory_storage::write(log_write w) {
  auto ex = co_await asio::this_coro::executor;
  if (sync_delay_.count() > 0) {
    asio::steady_timer t(ex, sync_delay_);
    co_await t.async_wait(asio::use_awaitable);
  } else {
    co_await asio::post(ex, asio::use_awaitable);
  }
  if (w.state) state_ = *w.state;
  if (!w.entries.empty()) {
    const index_t first = w.entries.front().index;
    if (first <= log_.size()) log_.resize(first - 1);  // conflicting suffix
    std::move(w.entries.begin(), w.entries.end(), std::back_inserter(log_));
  }
  ++writes_;
}

}  // namespace coraft
