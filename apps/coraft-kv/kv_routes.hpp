// kv_routes.hpp — coraft-kv's HTTP routes (/v1/kv) on top of the node API.
//
// Writes go through the log: a 200 means committed on a majority and
// applied here. A GET or a listing without ?stale is linearizable without
// the log: a read barrier (node::read_index(), ReadIndex [thesis §6.4],
// through the leader when this node follows), then this node's map, which
// has applied at least through the barrier's index (X-Raft-Index). ?stale
// reads this node's map as it is, with no barrier.
#pragma once

#include "kv_state_machine.hpp"

#include <coraft/net/admin_api.hpp>

namespace coraft::kv {

struct kv_limits {
  std::size_t max_key_bytes = 1024;
  std::size_t max_value_bytes = 1u << 20;
  // A planted bug, for coraft-chaos's own test (test/chaos): every GET reads
  // this node's map with no read barrier, as ?stale does. Only
  // coraft-kv-faults sets it (CORAFT_KV_PLANTED_BUG=stale-reads).
  bool planted_stale_reads = false;
};

void add_kv_routes(net::http_router& router, net::admin_context& ctx, kv_state_machine& sm, kv_limits limits);

}  // namespace coraft::kv
