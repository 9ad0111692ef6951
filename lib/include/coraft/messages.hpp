// coraft/messages.hpp — the RPCs of the Raft paper as plain data.
//
// One `message` carries the header every RPC shares (from, to, term) and a
// body from a closed set. Field names follow Figure 2. Pre-vote [thesis §9.6]
// is a flag on the vote RPCs; heartbeats are their own small RPC (as in
// etcd-io/raft) so that they never interfere with pipelined AppendEntries.
#pragma once

#include <coraft/types.hpp>

#include <string>
#include <variant>
#include <vector>

namespace coraft {

// RequestVote [Fig. 2]. With pre_vote set, `term` is the term the sender
// would campaign in; the receiver neither changes its term nor records a vote.
struct vote_request {
  log_id last_log;  // candidate's lastLogTerm / lastLogIndex
  bool pre_vote = false;
  bool transfer = false;  // sent after TimeoutNow: ignores leader leases [thesis §3.10]
  friend bool operator==(const vote_request&, const vote_request&) = default;
};

struct vote_response {
  bool granted = false;
  bool pre_vote = false;
  friend bool operator==(const vote_response&, const vote_response&) = default;
};

// AppendEntries [Fig. 2]. An empty `entries` is still a consistency check.
struct append_request {
  log_id prev_log;  // prevLogTerm / prevLogIndex
  std::vector<entry> entries;
  index_t leader_commit = 0;
  friend bool operator==(const append_request&, const append_request&) = default;
};

// success: the follower's log matches the leader's through `index`
//   (prev_log.index + number of entries of the request).
// !success: `index` is the rejected prev_log.index, and `hint` the
//   follower's best guess of where the logs may agree (conflict term and
//   index; "fast backtracking", [§5.3] last paragraphs).
struct append_response {
  bool success = false;
  index_t index = 0;
  log_id hint;
  friend bool operator==(const append_response&, const append_response&) = default;
};

// Leader liveness and commit propagation. `commit` is min(match, commit)
// for the receiver so that a follower never learns a commit index beyond
// what it is known to hold.
// `read_seq` numbers the leader's heartbeat rounds for ReadIndex [thesis
// §6.4]: a read is confirmed once a majority echoed a round sent after it.
struct heartbeat_request {
  index_t commit = 0;
  std::uint64_t read_seq = 0;
  friend bool operator==(const heartbeat_request&, const heartbeat_request&) = default;
};

struct heartbeat_response {
  std::uint64_t read_seq = 0;  // echoed from the request
  friend bool operator==(const heartbeat_response&, const heartbeat_response&) = default;
};

// Leadership transfer: "start an election now" [thesis §3.10].
struct timeout_now {
  friend bool operator==(const timeout_now&, const timeout_now&) = default;
};

// Follower reads [thesis §6.4]: a follower asks the leader for a read index;
// the leader answers once its leadership is confirmed for a round that began
// after the request arrived. `ctx` is the follower's own request number.
struct read_index_request {
  std::uint64_t ctx = 0;
  friend bool operator==(const read_index_request&, const read_index_request&) = default;
};

struct read_index_response {
  std::uint64_t ctx = 0;
  index_t index = 0;  // serve once applied through this index
  bool ok = false;    // false: the receiver is not (or no longer) leader
  friend bool operator==(const read_index_response&, const read_index_response&) = default;
};

// InstallSnapshot [§7, Fig. 13], chunked: `offset` is where `data` goes in
// the snapshot described by `meta`; `done` marks the last chunk; `crc` is
// the CRC32C of `data`. The whole snapshot is checked against meta.crc
// before it is installed.
//
// The core never reads a snapshot's bytes: a chunk it sends names its
// `source` and how many bytes to take from it (`fill`), and the runtime
// fills `data` and `crc` (fill_snapshot_chunk(), off the event loop when
// the source is a file) before the message leaves. Neither field travels.
struct install_snapshot_request {
  snapshot_meta meta;
  std::uint64_t offset = 0;
  payload data;
  bool done = false;
  std::uint32_t crc = 0;
  std::shared_ptr<const snapshot_data> source{};  // not on the wire
  std::uint64_t fill = 0;                         // not on the wire
  friend bool operator==(const install_snapshot_request& a, const install_snapshot_request& b) {
    return a.meta == b.meta && a.offset == b.offset && a.data == b.data && a.done == b.done && a.crc == b.crc;
  }
};

// Reads a chunk's bytes from its source (blocking if that is a file) and
// sets its CRC; nothing to do for a chunk without a source.
void fill_snapshot_chunk(install_snapshot_request& r);
// Whether a message is a chunk still to fill.
bool needs_fill(const struct message& m);

// Acknowledges chunks: the follower holds the first `next_offset` bytes of
// the snapshot at meta.last.index = `index`. `installed`: the snapshot is
// durable and in force, the follower's log now matches through `index`.
struct install_snapshot_response {
  index_t index = 0;
  std::uint64_t next_offset = 0;
  bool installed = false;
  // The whole arrived and did not match the snapshot's checksum: the
  // follower starts over (next_offset 0), and the leader checks its copy.
  bool whole_failed = false;
  friend bool operator==(const install_snapshot_response&, const install_snapshot_response&) = default;
};

using message_body = std::variant<vote_request, vote_response, append_request, append_response, heartbeat_request,
                                  heartbeat_response, timeout_now, read_index_request, read_index_response,
                                  install_snapshot_request, install_snapshot_response>;

struct message {
  node_id from = no_node;
  node_id to = no_node;
  term_t term = 0;  // the sender's currentTerm (for a pre-vote request: the proposed term)
  message_body body;
  friend bool operator==(const message&, const message&) = default;
};

// Short name of the body type: "vote_request", "append_response", ...
const char* type_name(const message& m);
// One line for logs and golden scenario output, e.g.
// "1->2 t3 append prev=(2,5) n=2 commit=4".
std::string describe(const message& m);
// Total payload bytes carried (entry data); used for batching bounds.
std::size_t payload_bytes(const message& m);

}  // namespace coraft
