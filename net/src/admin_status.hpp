// admin_status.hpp — the JSON of GET /v1/status, shared by admin_api.cpp
// and the dashboard's GET /v1/cluster (private to net/).
#pragma once

#include <coraft/net/admin_api.hpp>

#include <boost/json/object.hpp>

namespace coraft::net {

boost::json::object status_object(const admin_context& ctx, const node_status& s);
// The node's rate history (node::rates()) as [[unix_ms, proposals_ok,
// reads_ok, commit_latency_count, commit_latency_sum_seconds], ...],
// oldest first: GET /v1/status?history=1.
boost::json::array history_array(const node& n);

}  // namespace coraft::net
