// coraft/net/cluster_spec.hpp — the members of a cluster as coraft-kv names
// them: --cluster "1=RAFT_HOST:PORT/HTTP_HOST:PORT,2=..." and, inside the
// Raft configuration, one address string per member ("RAFT HTTP"), so that
// every node learns every member's addresses from the log.
//
// Every address goes through the one host:port parser (address.hpp).
#pragma once

#include <coraft/types.hpp>

#include <optional>
#include <string>
#include <vector>

namespace coraft::net {

struct cluster_member {
  node_id id = no_node;
  std::string raft;  // host:port
  std::string http;  // host:port
  bool voter = true;
};

// Parses "1=127.0.0.11:7001/127.0.0.11:8001,2=...": id=raft/http per member.
// Throws std::invalid_argument with a message naming the bad part.
std::vector<cluster_member> parse_cluster(const std::string& spec);

// What a configuration keeps per member: the core refuses a configuration
// entry with a longer address string (coraft/core/membership.cpp).
inline constexpr std::size_t max_member_address_bytes = 1024;

// Why `m`'s addresses cannot go into a configuration (not HOST:PORT, a
// space, too long), or empty when they can.
std::string member_address_problem(const cluster_member& m);
// Why two members cannot be in one configuration together (one's raft or
// HTTP address is the other's), or empty. Messages sent to one would reach
// the other, which closes the connection: both would be cut off.
std::string shared_address_problem(const cluster_member& a, const cluster_member& b);

// A member's address string in the configuration, and back (nullopt when
// it is not "RAFT_HOST:PORT HTTP_HOST:PORT").
std::string encode_member_address(const cluster_member& m);
std::optional<cluster_member> decode_member_address(node_id id, const std::string& address);
// The members of a configuration with their addresses (voters, then learners).
std::vector<cluster_member> members_of(const membership& config);

}  // namespace coraft::net
