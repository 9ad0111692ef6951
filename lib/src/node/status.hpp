// status.hpp — what the node tells about itself: status, log metadata, and
// the log lines and callbacks for changes of leader, role, term and
// configuration.
//
// Invariant: config() is the configuration in force as last reported to
// node_options::on_membership; the owner hears of every change once, in
// order, on the strand, before anything is sent under it.
#pragma once

#include "node_context.hpp"

#include <chrono>
#include <map>
#include <vector>

namespace coraft::detail {

class status_tracker {
 public:
  explicit status_tracker(node_context& ctx) : ctx_(ctx) {}

  // After recovery: the term and role the node starts with.
  void started();
  // Before each flush: logs a change of leader, role or term.
  void check_leadership();
  // After each flush: tells the owner when the configuration in force changed.
  void check_membership();
  void heard_from(node_id peer, std::chrono::steady_clock::time_point at) { last_contact_[peer] = at; }
  const membership& config() const { return config_; }

  node_status make_status(index_t applied, std::size_t pending_proposals) const;
  std::vector<entry_info> log_info(index_t from, std::size_t limit) const;

 private:
  node_context& ctx_;
  membership config_;
  node_id last_leader_ = no_node;
  core::role last_role_ = core::role::follower;
  term_t last_term_ = 0;
  std::map<node_id, std::chrono::steady_clock::time_point> last_contact_;
};

}  // namespace coraft::detail
