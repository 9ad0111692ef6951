// snapshot.cpp — log compaction and InstallSnapshot [§7, thesis ch. 5].
//
// The runtime takes snapshots (the state machine's bytes) and hands them to
// the core; the core compacts its log and, as leader, streams the newest
// snapshot in chunks to any follower whose next entry was compacted. Chunks
// go one at a time; the follower acknowledges how many bytes it holds, so a
// lost chunk, a restarted follower or a new snapshot resumes from the
// follower's offset. The follower checks the whole snapshot's CRC32C, hands
// it out in ready::install_snapshot, and answers "installed" only once the
// runtime reports it durable and restored (snapshot_installed).
#include <coraft/core/raft.hpp>
#include <coraft/detail/crc32c.hpp>

#include <algorithm>

namespace coraft::core {

void raft::snapshot_taken(snapshot s, index_t compact_through) {
  const log_id last = s.meta.last;
  // A snapshot older than the one we have, or of state not handed out to
  // apply, or of an entry no longer in the log, is not ours to keep.
  if (snapshot_ && last.index <= snapshot_->meta.last.index) return;
  if (last.index > applied_index_) return;
  const auto t = term_at(last.index);
  if (!t || *t != last.term) return;
  snapshot_ = std::move(s);
  compact_through = std::min(compact_through, last.index);
  if (compact_through <= before_first_.index) return;
  // Everything applied is durable (applied <= stable), so nothing dropped
  // here still waits to be persisted.
  before_first_ = {*term_at(compact_through), compact_through};
  log_.erase(log_.begin(), log_.begin() + static_cast<std::ptrdiff_t>(compact_through + 1 - first_index_));
  first_index_ = compact_through + 1;
  // The newest configuration at or before the compaction point becomes the
  // base; older ones can no longer be asked for.
  std::size_t keep = 0;
  while (keep + 1 < configs_.size() && configs_[keep + 1].index <= compact_through) ++keep;
  configs_.erase(configs_.begin(), configs_.begin() + static_cast<std::ptrdiff_t>(keep));
}

void raft::send_snapshot_chunk(node_id to, progress& pr) {
  if (pr.snap_chunk_sent || !pr.snap) return;
  const snapshot& s = *pr.snap;
  const std::uint64_t size = s.data.size();
  const std::uint64_t offset = std::min(pr.snap_offset, size);
  const std::uint64_t n = std::min<std::uint64_t>(opts_.max_snapshot_chunk, size - offset);
  message m{opts_.id, to, hs_.current_term, install_snapshot_request{}};
  auto& req = std::get<install_snapshot_request>(m.body);
  req.meta = s.meta;
  req.offset = offset;
  // A chunk past the end is empty: it asks a follower that has everything
  // whether it has installed it yet.
  if (n > 0) req.data = payload(s.data.view().substr(offset, n));
  req.done = offset + n == size;
  pr.snap_chunk_sent = true;
  send(std::move(m), false);
}

void raft::handle_snapshot_request(const message& m, const install_snapshot_request& r) {
  if (role_ != role::follower) become_follower(hs_.current_term, m.from);
  leader_ = m.from;
  election_elapsed_ = 0;  // InstallSnapshot is a heartbeat too [Fig. 13]
  const snapshot_meta& meta = r.meta;
  // A snapshot's configuration always has a voter (lastConfig [thesis
  // §5.1]: the configuration in force at its index); one without is not a
  // snapshot any leader took.
  if (r.offset > meta.size || r.data.size() > meta.size - r.offset ||
      (r.done && r.offset + r.data.size() != meta.size) || meta.last.term > m.term || meta.config.voters.empty())
    return;  // malformed: ignore rather than trust it
  message reply{opts_.id, m.from, hs_.current_term, install_snapshot_response{}};
  auto& resp = std::get<install_snapshot_response>(reply.body);
  resp.index = meta.last.index;
  const auto have = term_at(meta.last.index);
  if (meta.last.index <= commit_index_ || (have && *have == meta.last.term && !installing_)) {
    // We already hold (committed) everything it covers [Fig. 13 step 6]:
    // "If existing log entry has same index and term as snapshot's last
    // included entry, retain log entries following it and reply". Discarding
    // them would drop entries we may have acknowledged (and the leader
    // counted towards commit). A snapshot covers committed entries only, so
    // our log through its last entry is committed.
    commit_index_ = std::max(commit_index_, meta.last.index);
    resp.next_offset = meta.size;
    resp.installed = true;
    // The leader will count this as match >= the snapshot's index: only
    // once what we hold through it is durable [thesis §3.8].
    send(std::move(reply), true);
    return;
  }
  if (installing_) return;  // answered "installed" once snapshot_installed() runs
  if (!incoming_ || incoming_->meta != meta) {
    // A different snapshot: start over [Fig. 13 steps 2-4].
    incoming_ = incoming_snapshot{meta, {}};
  }
  std::string& data = incoming_->data;
  if (r.offset == data.size()) data.append(r.data.view());  // in order: take it
  // else a duplicate or a gap: answer where we are, the leader resumes there.
  resp.next_offset = data.size();
  if (data.size() == meta.size) {
    if (detail::crc32c(data.data(), data.size()) != meta.crc) {
      incoming_.reset();  // corrupt: ask for it again from the start
      resp.next_offset = 0;
    } else {
      installing_ = snapshot{meta, payload(data)};
      ready_.install_snapshot = installing_;
      incoming_.reset();
      return;  // the answer waits for snapshot_installed()
    }
  }
  send(std::move(reply), false);
}

void raft::snapshot_installed(log_id last) {
  if (!installing_ || installing_->meta.last != last) return;
  snapshot s = std::move(*installing_);
  installing_.reset();
  // [§7] "discard the entire log ... reset state machine using snapshot
  // contents". While installing, commit_index_ did not move (appends and
  // heartbeat commits were refused), so this never goes back.
  if (last.index <= commit_index_) return;
  log_.clear();
  unpersisted_from_ = 0;
  before_first_ = last;
  first_index_ = last.index + 1;
  commit_index_ = last.index;
  applied_index_ = last.index;
  stable_index_ = last.index;
  set_base_config(last.index, s.meta.config);  // lastConfig [thesis §5.1]
  const std::uint64_t size = s.meta.size;
  snapshot_ = std::move(s);
  if (leader_ != no_node) {
    send(message{opts_.id, leader_, hs_.current_term, install_snapshot_response{last.index, size, true}}, false);
  }
}

void raft::handle_snapshot_response(const message& m, const install_snapshot_response& r) {
  mark_active(m.from);
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  progress& pr = it->second;
  if (r.installed) {
    // The follower's state now matches ours through r.index.
    if (r.index > last_log().index) return;  // nonsense from a peer
    if (r.index > pr.match_index) {
      pr.match_index = r.index;
      pr.progressed = true;
      maybe_commit();
    }
    if (pr.state == progress::mode::snapshot) {
      pr.state = progress::mode::probe;
      pr.probe_sent = false;
      pr.snap.reset();
    }
    pr.next_index = std::max(pr.next_index, pr.match_index + 1);
    if (pr.state == progress::mode::probe) pr.next_index = pr.match_index + 1;
    // A transfer target that caught up by snapshot may be up to date now.
    if (m.from == transfer_target_) maybe_send_timeout_now(m.from, pr);
    return;
  }
  if (pr.state != progress::mode::snapshot || !pr.snap || r.index != pr.snap->meta.last.index)
    return;  // about another snapshot than the one being sent
  // A duplicated (or stale) ack for the offset already being sent would
  // send that chunk twice, and every later one too: ignore it.
  if (pr.snap_chunk_sent && r.next_offset == pr.snap_offset) return;
  pr.snap_offset = r.next_offset;
  pr.snap_chunk_sent = false;
  pr.snap_progressed = true;
}

}  // namespace coraft::core
