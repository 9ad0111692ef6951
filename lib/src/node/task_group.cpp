// task_group.cpp — see coraft/detail/task_group.hpp.
#include <coraft/detail/task_group.hpp>
#include <coraft/log.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

namespace coraft::detail {

namespace asio = boost::asio;

namespace {

// What an escaped exception says; empty when it is the cancellation itself.
std::string failure_text(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const boost::system::system_error& se) {
    if (se.code() == asio::error::operation_aborted) return {};
    return se.what();
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

}  // namespace

task_group::task_group(asio::any_io_executor strand, node_id log_node, std::string component,
                       std::function<void(const std::string&)> on_fail)
    : strand_(std::move(strand)),
      log_node_(log_node),
      component_(std::move(component)),
      on_fail_(std::move(on_fail)),
      done_(strand_, asio::steady_timer::time_point::max()) {}

void task_group::spawn(std::string name, factory make, on_error policy) {
  if (cancelled_) return;
  start(std::move(name), std::move(make), policy);
}

void task_group::start(std::string name, factory make, on_error policy) {
  // Signals of children that completed earlier: co_spawn is done with them.
  children_.remove_if([](const child& c) { return c.done; });
  ++running_;
  auto it = children_.emplace(children_.end());
  it->name = name;
  auto task = make();
  asio::co_spawn(strand_, std::move(task),
                 asio::bind_cancellation_slot(
                     it->signal.slot(), [this, it, name = std::move(name), make = std::move(make), policy](
                                            std::exception_ptr e) mutable { finished(it, name, make, policy, e); }));
}

void task_group::finished(std::list<child>::iterator it, const std::string& name, factory& make, on_error policy,
                          std::exception_ptr e) {
  const std::string what = e ? failure_text(e) : std::string();
  if (!what.empty()) {
    switch (policy) {
      case on_error::fail:
        if (on_fail_) on_fail_(name + ": " + what);
        break;
      case on_error::restart:
        log_line(log_level::error, log_node_, component_,
                 "task " + name + " failed: " + what + (cancelled_ ? "" : "; restarting it"));
        if (!cancelled_) restart_later(name, std::move(make), policy);
        break;
      case on_error::end: log_line(log_level::warn, log_node_, component_, "task " + name + " ended: " + what); break;
    }
  }
  --running_;
  done_.cancel();
  // Last: co_spawn is still inside this handler, so its signal must outlive
  // it; a later start() drops it.
  it->done = true;
}

// A member coroutine (not a capturing lambda): its parameters live in its
// own frame.
asio::awaitable<void> task_group::delayed_start(std::string name, factory make, on_error policy) {
  asio::steady_timer t(strand_, restart_delay);
  auto [ec] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  if (ec || cancelled_) co_return;
  start(std::move(name), std::move(make), policy);
}

void task_group::restart_later(std::string name, factory make, on_error policy) {
  start(
      "restart of " + name, [this, name, make = std::move(make), policy] { return delayed_start(name, make, policy); },
      on_error::end);
}

void task_group::cancel() {
  cancelled_ = true;
  for (auto& c : children_) {
    if (c.done) continue;
    c.signal.emit(asio::cancellation_type::total);
    c.signal.emit(asio::cancellation_type::terminal);
  }
}

asio::awaitable<void> task_group::wait() {
  while (running_ > 0) co_await wait_one();
}

// `done_` never expires; a child's end cancels every wait on it. (Setting
// its expiry again here would cancel the other waiters: two concurrent
// stop() calls would wake each other in a busy loop.)
asio::awaitable<void> task_group::wait_one() {
  if (running_ == 0) co_return;
  auto [ec] = co_await done_.async_wait(asio::as_tuple(asio::use_awaitable));
  (void)ec;  // cancelled when a child ends: that is the point
}

}  // namespace coraft::detail
