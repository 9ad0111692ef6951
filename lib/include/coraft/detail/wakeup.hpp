// coraft/detail/wakeup.hpp — wakes one task waiting on a strand.
//
// A steady_timer that never expires on its own: wait() suspends until
// notify() cancels it. A notify() with nobody waiting is not remembered, so
// waiters re-check their condition before waiting again (all on one strand,
// so there is no race between the check and the wait).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace coraft::detail {

class wakeup {
 public:
  explicit wakeup(const boost::asio::any_io_executor& ex) : timer_(ex, boost::asio::steady_timer::time_point::max()) {}
  void notify() { timer_.cancel(); }
  boost::asio::awaitable<void> wait() {
    auto [ec] = co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    (void)ec;  // cancelled by notify(): that is the point
  }

 private:
  boost::asio::steady_timer timer_;
};

}  // namespace coraft::detail
