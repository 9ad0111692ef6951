#include <coraft/detail/splitmix.hpp>
#include <coraft/memory_transport.hpp>
#include <coraft/node.hpp>

#include <boost/asio/steady_timer.hpp>

namespace coraft {

namespace asio = boost::asio;

class memory_network::endpoint_impl final : public transport {
 public:
  endpoint_impl(memory_network& net, node_id id) : net_(net), id_(id) {}
  // Not a coroutine: the batch is handed over before returning, so no
  // parameter copy lives in a coroutine frame (see transport.hpp).
  asio::awaitable<void> send(node_id to, std::vector<message> batch) override {
    net_.send(id_, to, std::move(batch));
    return done();
  }

 private:
  static asio::awaitable<void> done() { co_return; }

 public:
 private:
  memory_network& net_;
  node_id id_;
};

memory_network::memory_network(asio::any_io_executor ex, std::uint64_t seed) : ex_(std::move(ex)), rng_(seed) {}

memory_network::~memory_network() = default;

transport& memory_network::endpoint(node_id id) {
  std::lock_guard lk(mu_);
  auto& ep = endpoints_[id];
  if (!ep) ep = std::make_unique<endpoint_impl>(*this, id);
  return *ep;
}

void memory_network::attach(node& n) {
  std::lock_guard lk(mu_);
  nodes_[n.id()] = &n;
}

void memory_network::detach(node_id id) {
  std::lock_guard lk(mu_);
  nodes_.erase(id);
}

void memory_network::set_faults(const faults& f) {
  std::lock_guard lk(mu_);
  faults_ = f;
}

void memory_network::partition(const std::vector<std::vector<node_id>>& groups) {
  std::lock_guard lk(mu_);
  group_.clear();
  int g = 0;
  for (const auto& members : groups) {
    ++g;
    for (node_id id : members) group_[id] = g;
  }
  // Nodes in no group get a group of their own.
  for (const auto& [id, n] : nodes_)
    if (!group_.contains(id)) group_[id] = ++g;
}

void memory_network::isolate(node_id id) {
  std::lock_guard lk(mu_);
  if (group_.empty())
    for (const auto& [other, n] : nodes_) group_[other] = 1;
  group_[id] = -static_cast<int>(id);
}

void memory_network::heal() {
  std::lock_guard lk(mu_);
  group_.clear();
}

std::uint64_t memory_network::delivered() const {
  std::lock_guard lk(mu_);
  return delivered_;
}

std::uint64_t memory_network::dropped() const {
  std::lock_guard lk(mu_);
  return dropped_;
}

bool memory_network::connected(node_id a, node_id b) const {
  if (group_.empty()) return true;
  const auto ia = group_.find(a);
  const auto ib = group_.find(b);
  return ia != group_.end() && ib != group_.end() && ia->second == ib->second;
}

double memory_network::uniform() {
  const std::uint64_t z = detail::splitmix64(rng_);
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

void memory_network::send(node_id from, node_id to, std::vector<message> batch) {
  std::lock_guard lk(mu_);
  auto it = nodes_.find(to);
  if (it == nodes_.end() || !connected(from, to)) {
    dropped_ += batch.size();
    return;
  }
  const bool faulty = faults_.drop > 0 || faults_.duplicate > 0 || faults_.max_delay.count() > 0;
  if (!faulty) {
    delivered_ += batch.size();
    it->second->deliver(std::move(batch));
    return;
  }
  for (auto& m : batch) {
    if (uniform() < faults_.drop) {
      ++dropped_;
      continue;
    }
    const int copies = uniform() < faults_.duplicate ? 2 : 1;
    for (int c = 0; c < copies; ++c) {
      ++delivered_;
      const auto delay = std::chrono::microseconds(
          static_cast<std::int64_t>(uniform() * static_cast<double>(faults_.max_delay.count())));
      if (delay.count() == 0) {
        it->second->deliver({m});
        continue;
      }
      auto timer = std::make_unique<asio::steady_timer>(ex_, delay);
      auto& t = *timer;
      t.async_wait([this, to, m, timer = std::move(timer)](const boost::system::error_code&) {
        std::lock_guard lk2(mu_);
        if (auto n = nodes_.find(to); n != nodes_.end()) n->second->deliver({m});
      });
    }
  }
}

}  // namespace coraft
