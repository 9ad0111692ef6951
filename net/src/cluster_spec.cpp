// cluster_spec.cpp — see coraft/net/cluster_spec.hpp.
#include <coraft/net/cluster_spec.hpp>

#include <coraft/net/address.hpp>

#include <sstream>
#include <stdexcept>

namespace coraft::net {

std::vector<cluster_member> parse_cluster(const std::string& spec) {
  std::vector<cluster_member> out;
  std::stringstream ss(spec);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (part.empty()) continue;
    const auto eq = part.find('=');
    const auto slash = part.find('/');
    cluster_member m;
    if (eq == std::string::npos || slash == std::string::npos || slash < eq || !parse_u64(part.substr(0, eq), m.id) ||
        m.id == 0)
      throw std::invalid_argument("'" + part + "' is not ID=RAFT_HOST:PORT/HTTP_HOST:PORT (ids start at 1)");
    m.raft = part.substr(eq + 1, slash - eq - 1);
    m.http = part.substr(slash + 1);
    if (const std::string why = member_address_problem(m); !why.empty())
      throw std::invalid_argument("'" + part + "': " + why);
    for (const auto& o : out) {
      if (o.id == m.id) throw std::invalid_argument("member id " + std::to_string(m.id) + " appears twice");
      if (const std::string why = shared_address_problem(o, m); !why.empty()) throw std::invalid_argument(why);
    }
    out.push_back(m);
  }
  if (out.empty()) throw std::invalid_argument("the cluster has no members");
  return out;
}

std::string member_address_problem(const cluster_member& m) {
  for (const std::string* a : {&m.raft, &m.http}) {
    if (a->find(' ') != std::string::npos) return "address '" + *a + "' has a space";
    try {
      const host_port hp = parse_host_port(*a);
      // Where peers and clients are to reach the member: "any address" is
      // where to listen (--listen-*), never where to reach.
      if (hp.host == "0.0.0.0" || hp.host == "::")
        return "address '" + *a + "' is 'any address': advertise this node's own address or name (and listen on '" +
               *a + "' with --listen-raft or --listen-http)";
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
  }
  if (encode_member_address(m).size() > max_member_address_bytes)
    return "the raft and HTTP addresses are longer than " + std::to_string(max_member_address_bytes) +
           " bytes together";
  return {};
}

std::string shared_address_problem(const cluster_member& a, const cluster_member& b) {
  if (a.id == b.id) return {};
  for (const std::string* x : {&a.raft, &a.http})
    for (const std::string* y : {&b.raft, &b.http})
      if (*x == *y)
        return "address " + *x + " is node " + std::to_string(a.id) + "'s already, not node " + std::to_string(b.id) +
               "'s: every member needs addresses of its own";
  return {};
}

std::string encode_member_address(const cluster_member& m) { return m.raft + " " + m.http; }

std::optional<cluster_member> decode_member_address(node_id id, const std::string& address) {
  const auto space = address.find(' ');
  if (space == std::string::npos) return std::nullopt;
  cluster_member m{id, address.substr(0, space), address.substr(space + 1), true};
  if (!valid_host_port(m.raft) || !valid_host_port(m.http)) return std::nullopt;
  return m;
}

std::vector<cluster_member> members_of(const membership& config) {
  std::vector<cluster_member> out;
  for (const auto* ids : {&config.voters, &config.learners}) {
    for (node_id id : *ids) {
      cluster_member m{id, "", "", ids == &config.voters};
      if (auto it = config.addresses.find(id); it != config.addresses.end()) {
        if (auto d = decode_member_address(id, it->second)) {
          m.raft = d->raft;
          m.http = d->http;
        }
      }
      out.push_back(std::move(m));
    }
  }
  return out;
}

}  // namespace coraft::net
