// test/support/run_blocking.hpp — runs one coroutine to its end on a fresh
// io_context in the calling thread: its result, or what it threw, rethrown.
// For tests of awaitable APIs (storage) that need no other tasks running.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <optional>
#include <utility>

namespace coraft::test {

template <class T>
T run(boost::asio::awaitable<T> task) {
  boost::asio::io_context io;
  std::optional<T> result;
  std::exception_ptr error;
  boost::asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T v) {
    error = e;
    if (!e) result = std::move(v);
  });
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

inline void run(boost::asio::awaitable<void> task) {
  boost::asio::io_context io;
  std::exception_ptr error;
  boost::asio::co_spawn(io, std::move(task), [&](std::exception_ptr e) { error = e; });
  io.run();
  if (error) std::rethrow_exception(error);
}

}  // namespace coraft::test
