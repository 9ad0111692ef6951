#include <coraft/memory_storage.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <stdexcept>
#include <string>

namespace coraft {

namespace asio = boost::asio;

recovered_state memory_storage::durable() const {
  return {state_, std::vector<entry>(log_.begin(), log_.end()), snap_, base_, bootstrap_};
}

asio::awaitable<recovered_state> memory_storage::load() { co_return durable(); }

asio::awaitable<void> memory_storage::write(log_write w) {
  // One trip through the executor, so the node's group commit batches as it
  // would against a disk.
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  if (w.bootstrap && !bootstrap_) bootstrap_ = std::move(w.bootstrap);
  if (w.reset) {
    log_.clear();
    base_ = w.reset->index;
  }
  if (w.compact) {
    while (!log_.empty() && log_.front().index <= w.compact->index) log_.pop_front();
    base_ = std::max(base_, w.compact->index);
  }
  if (w.state) state_ = *w.state;
  if (!w.entries.empty()) {
    const index_t first = w.entries.front().index;
    const index_t last = base_ + log_.size();
    if (first <= base_ || first > last + 1)
      throw std::logic_error("memory_storage: entries from " + std::to_string(first) + " do not continue a log of " +
                             std::to_string(base_ + 1) + ".." + std::to_string(last));
    if (first <= last) log_.resize(first - 1 - base_);  // conflicting suffix
    std::move(w.entries.begin(), w.entries.end(), std::back_inserter(log_));
  }
  ++writes_;
}

asio::awaitable<void> memory_storage::save_snapshot(snapshot s) {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  if (!snap_ || s.meta.last.index > snap_->meta.last.index) snap_ = std::move(s);
}

}  // namespace coraft
