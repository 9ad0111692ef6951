// coraft/detail/task_group.hpp — the long-lived coroutines of one owner.
//
// The node, the TCP transport and the HTTP server each keep their tasks in
// one task_group: spawn() starts and counts a child, cancel() asks every
// child to end (total cancellation first — the operation has no effect —
// then terminal, for the operations that support only that), wait() returns
// once none runs.
//
// One policy for an exception that escapes a child, chosen per task:
// - fail: the owner's failure handler gets "<task>: <what>" (the node stops
//   and reports it as fatal; nothing is left half-running);
// - restart: the task is logged and started again from its factory after
//   `restart_delay` (a transport writer must not leave its peer without one);
// - end: the task is logged and ends (one client connection; the client
//   reconnects).
// operation_aborted never counts as a failure: that is how a cancelled child
// ends. Nothing else escapes silently.
//
// Invariants: every member function runs on the owner's strand (or its one
// thread); running() counts children spawned and not yet completed; after
// close() or cancel() nothing is restarted and spawn() starts nothing.
#pragma once

#include <coraft/types.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <list>
#include <string>

namespace coraft::detail {

class task_group {
 public:
  enum class on_error { fail, restart, end };
  using factory = std::function<boost::asio::awaitable<void>()>;

  // `log_node` and `component` label the group's log lines; `on_fail` is
  // called once per failed `fail` task, on the strand.
  task_group(boost::asio::any_io_executor strand, node_id log_node, std::string component,
             std::function<void(const std::string&)> on_fail);
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;

  // `make` returns the child coroutine (called again on a restart). Let it
  // call a member coroutine or a function taking its values as parameters:
  // a lambda that is itself a coroutine keeps its captures in the lambda,
  // which does not outlive the call.
  void spawn(std::string name, factory make, on_error policy = on_error::fail);
  // No new child and no restart from now on; the children end on their own
  // (the owner closes what they wait on). For a server whose busy children
  // must finish their work first.
  void close() { cancelled_ = true; }
  // close(), and every child is asked to end now.
  void cancel();
  // Returns once no child runs.
  boost::asio::awaitable<void> wait();
  // Returns once a child ended (at once when none runs).
  boost::asio::awaitable<void> wait_one();

  // Counts as a running child while it lives: the owner's own coroutine
  // (a node's start-up) that wait() must also await.
  class [[nodiscard]] hold {
   public:
    explicit hold(task_group& g) : g_(g) { ++g_.running_; }
    hold(const hold&) = delete;
    hold& operator=(const hold&) = delete;
    ~hold() {
      --g_.running_;
      g_.done_.cancel();
    }

   private:
    task_group& g_;
  };

  std::size_t running() const { return running_; }
  std::chrono::milliseconds restart_delay{100};

 private:
  struct child {
    std::string name;
    boost::asio::cancellation_signal signal;
    bool done = false;  // its completion returned: the signal may go at the next start
  };
  void start(std::string name, factory make, on_error policy);
  void finished(std::list<child>::iterator it, const std::string& name, factory& make, on_error policy,
                std::exception_ptr e);
  void restart_later(std::string name, factory make, on_error policy);
  boost::asio::awaitable<void> delayed_start(std::string name, factory make, on_error policy);

  boost::asio::any_io_executor strand_;
  node_id log_node_;
  std::string component_;
  std::function<void(const std::string&)> on_fail_;
  std::list<child> children_;
  std::size_t running_ = 0;
  bool cancelled_ = false;
  boost::asio::steady_timer done_;  // never expires: cancelled when a child ends
};

}  // namespace coraft::detail
