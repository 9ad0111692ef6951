#include <coraft/memory_storage.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace coraft {

namespace asio = boost::asio;

recovered_state memory_storage::durable() const {
  return {state_, std::vector<entry>(log_.begin(), log_.end())};
}

asio::awaitable<recovered_state> memory_storage::load() { co_return durable(); }

asio::awaitable<void> memory_storage::write(log_write w) {
  // One trip through the executor, so the node's group commit batches as it
  // would against a disk.
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  if (w.state) state_ = *w.state;
  if (!w.entries.empty()) {
    const index_t first = w.entries.front().index;
    if (first <= log_.size()) log_.resize(first - 1);  // conflicting suffix
    std::move(w.entries.begin(), w.entries.end(), std::back_inserter(log_));
  }
  ++writes_;
}

}  // namespace coraft
