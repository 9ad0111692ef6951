// coraft/memory_transport.hpp — an in-process network between nodes, with
// faults: drop, duplicate, delay (and so reorder), partitions.
//
// For tests, benchmarks and services testing themselves on an in-process
// cluster. Each node gets its own endpoint(id) as its transport; the network
// delivers into node::deliver(). Thread-safe (one mutex: test code only).
// Lifetime: destroy it only after the executor ran out of its handlers.
#pragma once

#include <coraft/transport.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

namespace coraft {

class node;

class memory_network {
 public:
  struct faults {
    double drop = 0.0;                       // probability a message is lost
    double duplicate = 0.0;                  // probability a message is delivered twice
    std::chrono::microseconds max_delay{0};  // uniform random delay: reorders
  };

  explicit memory_network(boost::asio::any_io_executor ex, std::uint64_t seed = 1);
  ~memory_network();

  // The transport to give node `id`.
  transport& endpoint(node_id id);
  // Deliveries to `n` go to n.deliver(); detach before destroying the node.
  void attach(node& n);
  void detach(node_id id);

  void set_faults(const faults& f);
  // Messages only flow within a group; nodes in no group are isolated.
  void partition(const std::vector<std::vector<node_id>>& groups);
  void isolate(node_id id);
  void heal();
  std::uint64_t delivered() const;
  std::uint64_t dropped() const;

 private:
  class endpoint_impl;
  void send(node_id from, node_id to, std::vector<message> batch);
  bool connected(node_id a, node_id b) const;  // needs mu_
  double uniform();                            // needs mu_

  boost::asio::any_io_executor ex_;
  mutable std::mutex mu_;
  std::map<node_id, node*> nodes_;
  std::map<node_id, std::unique_ptr<endpoint_impl>> endpoints_;
  std::map<node_id, int> group_;  // empty: fully connected
  faults faults_;
  std::uint64_t rng_;
  std::uint64_t delivered_ = 0;
  std::uint64_t dropped_ = 0;
};

}  // namespace coraft
