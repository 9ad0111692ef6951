// kv_routes.hpp — coraft-kv's HTTP routes (/v1/kv) on top of the node API.
//
// Writes go through the log. A GET without ?stale is linearizable: it goes
// through the log as a read command (the value returned is the one at that
// log position); ReadIndex will replace this. ?stale reads this node's map.
#pragma once

#include "kv_state_machine.hpp"

#include <coraft/net/admin_api.hpp>

namespace coraft::kv {

struct kv_limits {
  std::size_t max_key_bytes = 1024;
  std::size_t max_value_bytes = 1u << 20;
};

void add_kv_routes(net::http_router& router, net::admin_context& ctx, kv_state_machine& sm, kv_limits limits);

}  // namespace coraft::kv
