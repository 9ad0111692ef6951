// status.cpp — see status.hpp.
#include "status.hpp"

#include <coraft/log.hpp>

#include <algorithm>

namespace coraft {

void histogram::observe(double seconds) {
  ++count;
  sum += seconds;
  for (std::size_t i = 0; i < std::size(bounds); ++i) {
    if (seconds <= bounds[i]) {
      ++buckets[i];
      return;
    }
  }
}

}  // namespace coraft

namespace coraft::detail {

void status_tracker::started() {
  last_term_ = ctx_.raft->term();
  ctx_.events.set_term(last_term_);
  ctx_.events.record("started", "started at term " + std::to_string(last_term_) + ", last log index " +
                                    std::to_string(ctx_.raft->get_status().last_log.index));
  set_log_context(ctx_.self(), last_term_, core::to_string(ctx_.raft->state()));
}

void status_tracker::check_leadership() {
  const core::raft& raft = *ctx_.raft;
  if (raft.leader() == last_leader_ && raft.state() == last_role_ && raft.term() == last_term_) return;
  const bool new_term = raft.term() != last_term_, new_role = raft.state() != last_role_,
             new_leader = raft.leader() != last_leader_;
  last_term_ = raft.term();
  if (new_leader && raft.leader() != no_node) ++ctx_.metrics.leader_changes;
  last_leader_ = raft.leader();
  last_role_ = raft.state();
  // The history (/v1/events): one event per kind of change, in this order,
  // so that a reader sees the term before the role and leader it brought.
  ctx_.events.set_term(last_term_);
  if (new_term) ctx_.events.record("term", "term " + std::to_string(last_term_));
  if (new_role)
    ctx_.events.record("role", std::string("now ") + core::to_string(last_role_),
                       {{"role", core::to_string(last_role_)}});
  if (new_leader)
    ctx_.events.record(
        "leader",
        last_leader_ == no_node ? std::string("leader unknown") : "node " + std::to_string(last_leader_) + " leads",
        {{"leader", std::to_string(last_leader_)}});
  set_log_context(ctx_.self(), raft.term(), core::to_string(last_role_));
  log_line(log_level::info, ctx_.self(), "raft",
           std::string("now ") + core::to_string(last_role_) + ", leader " +
               (last_leader_ == no_node ? std::string("unknown") : std::to_string(last_leader_)),
           {{"leader", std::to_string(last_leader_)}});
}

void status_tracker::check_membership() {
  const membership& c = ctx_.raft->config();
  if (c == config_) return;
  config_ = c;
  std::string ids;
  for (node_id v : c.voters) ids += (ids.empty() ? "" : ",") + std::to_string(v);
  for (node_id l : c.learners) ids += (ids.empty() ? "" : ",") + std::to_string(l) + "(learner)";
  const std::string text = "configuration in force: " + (ids.empty() ? "none" : ids);
  const std::string config_index = std::to_string(ctx_.raft->get_status().config_index);
  log_line(log_level::info, ctx_.self(), "raft", text, {{"config_index", config_index}});
  ctx_.events.record("membership", text, {{"config_index", config_index}});
  if (ctx_.opts.on_membership) ctx_.opts.on_membership(c);
}

node_status status_tracker::make_status(index_t applied, std::size_t pending_proposals) const {
  node_status s;
  if (ctx_.raft) static_cast<core::status&>(s) = ctx_.raft->get_status();
  s.id = ctx_.self();
  s.applied_index = applied;
  s.stopped = ctx_.stopping();
  s.fatal_error = ctx_.fatal;
  s.pending_proposals = pending_proposals;
  s.metrics = ctx_.metrics;
  const auto now = std::chrono::steady_clock::now();
  s.addresses = config_.addresses;
  for (const auto* ids : {&config_.voters, &config_.learners}) {
    for (node_id v : *ids) {
      if (v == ctx_.self()) continue;
      auto it = last_contact_.find(v);
      s.last_contact_ms.emplace_back(
          v, it == last_contact_.end()
                 ? -1
                 : std::chrono::duration_cast<std::chrono::milliseconds>(now - it->second).count());
    }
  }
  return s;
}

std::vector<entry_info> status_tracker::log_info(index_t from, std::size_t limit) const {
  std::vector<entry_info> out;
  if (!ctx_.raft) return out;
  const core::raft& raft = *ctx_.raft;
  const index_t last = raft.last_log().index;
  for (index_t i = std::max(from, raft.first_index()); i <= last && out.size() < limit; ++i) {
    const entry* e = raft.entry_at(i);
    if (e == nullptr) break;
    out.push_back({e->index, e->term, e->type, e->data.size()});
  }
  return out;
}

}  // namespace coraft::detail
