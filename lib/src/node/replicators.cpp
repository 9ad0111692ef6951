// replicators.cpp — see replicators.hpp.
#include "replicators.hpp"

namespace coraft::detail {

void replicators::start(const membership& config) {
  // Every peer first, then their tasks (in id order).
  for (const auto* ids : {&config.voters, &config.learners}) {
    for (node_id v : *ids) {
      if (v != ctx_.self())
        peers_.emplace(std::piecewise_construct, std::forward_as_tuple(v), std::forward_as_tuple(ctx_.strand));
    }
  }
  for (auto& [id, p] : peers_) tasks_.spawn("replicator to " + std::to_string(id), [this, id] { return run(id); });
}

void replicators::route(message m) {
  auto it = peers_.find(m.to);
  if (it == peers_.end()) {
    if (m.to == no_node || m.to == ctx_.self()) return;
    it = add(m.to);
  }
  note_gap(it->first, it->second, m);
  it->second.outbox.push_back(std::move(m));
  it->second.wake.notify();
}

std::map<node_id, replicators::peer>::iterator replicators::add(node_id id) {
  auto it =
      peers_.emplace(std::piecewise_construct, std::forward_as_tuple(id), std::forward_as_tuple(ctx_.strand)).first;
  tasks_.spawn("replicator to " + std::to_string(id), [this, id] { return run(id); });
  return it;
}

// The longest silence towards each follower in this node's current term as
// leader: what a follower's election timer sees (plus the network).
void replicators::note_gap(node_id id, peer& p, const message& m) {
  const bool from_leader = std::holds_alternative<append_request>(m.body) ||
                           std::holds_alternative<heartbeat_request>(m.body) ||
                           std::holds_alternative<install_snapshot_request>(m.body);
  if (!from_leader) return;
  const auto now = std::chrono::steady_clock::now();
  double& longest = ctx_.metrics.max_heartbeat_gap_s[id];
  if (p.gap_term != m.term) {
    p.gap_term = m.term;
    longest = 0;
  } else {
    longest = std::max(longest, std::chrono::duration<double>(now - p.last_sent).count());
  }
  p.last_sent = now;
}

void replicators::wake_all() {
  for (auto& [id, p] : peers_) p.wake.notify();
}

asio::awaitable<void> replicators::run(node_id id) {
  peer& p = peers_.at(id);
  while (true) {
    while (p.outbox.empty() && !ctx_.stopping()) co_await p.wake.wait();
    if (ctx_.stopping()) co_return;
    std::vector<message> batch;
    batch.swap(p.outbox);
    co_await net_.send(id, std::move(batch));
  }
}

}  // namespace coraft::detail
