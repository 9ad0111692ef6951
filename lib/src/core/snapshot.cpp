// snapshot.cpp — log compaction and InstallSnapshot [§7, thesis ch. 5].
//
// The runtime takes snapshots (the state machine's bytes, kept by storage)
// and hands them to the core; the core compacts its log and, as leader,
// streams the newest snapshot in chunks to any follower whose next entry
// was compacted. The core never holds a snapshot's bytes: a chunk names its
// source and the runtime reads it (fill_snapshot_chunk); a follower hands
// each chunk to the runtime to write (ready::snapshot_chunks) and
// acknowledges it once written.
//
// Flow control: a window of max_snapshot_chunks_inflight chunks
// (max_snapshot_chunk bytes each) per follower, sliding as the follower
// acknowledges the bytes it has written: the leader's reads, the network
// and the follower's writes overlap, a stream holds at most the window
// ahead of a follower's heartbeats and appends on its connection, and a
// follower holds at most the window unwritten. After a heartbeat round
// without progress (a chunk or an ack lost, a follower refusing) one chunk
// is resent from the acknowledged offset, and the window opens again once
// an ack moves; an ack equal to the last never resends, and one below it
// (a follower that kept less, or a stale ack) resends from there. The
// follower acknowledges how many bytes it has written, so a lost chunk, a
// restarted follower (from what its storage kept durably:
// resume_snapshot) or a new leader sending the same snapshot resumes from
// the follower's offset; another snapshot starts over. Each chunk carries its CRC32C; the runtime checks the whole
// against the snapshot's, and the follower answers "installed" only once
// the runtime reports it durable and restored (snapshot_installed).
#include <coraft/core/raft.hpp>
#include <coraft/detail/crc32c.hpp>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace coraft {

void memory_snapshot_data::read(std::uint64_t offset, void* out, std::size_t n) const {
  if (offset > bytes_.size() || n > bytes_.size() - offset) throw std::out_of_range("snapshot read past its end");
  std::memcpy(out, bytes_.data() + offset, n);
}

std::string read_all(const snapshot_data& d) {
  std::string out(static_cast<std::size_t>(d.size()), '\0');
  d.read(0, out.data(), out.size());
  return out;
}

}  // namespace coraft

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

void raft::start_snapshot_stream(progress& pr, const snapshot& s) {
  pr.snap = s;
  pr.snap_offset = 0;
  pr.snap_acked = 0;
  pr.snap_done_sent = false;
  pr.snap_resent = false;
  pr.snap_progressed = false;
}

bool raft::may_send_snapshot_chunk(const progress& pr) const {
  if (!pr.snap || pr.snap_done_sent) return false;
  // The window: bytes sent but not acknowledged stay under the chunks in
  // flight (every chunk but a snapshot's last is a whole one). After a
  // round without progress, one chunk until an ack moves: a follower that
  // refuses chunks for a while (a full disk) is not sent the whole window
  // every heartbeat.
  const std::uint64_t chunks = pr.snap_resent ? 1 : opts_.max_snapshot_chunks_inflight;
  return pr.snap_offset - pr.snap_acked < chunks * opts_.max_snapshot_chunk;
}

void raft::send_snapshot_chunks(node_id to, progress& pr) {
  while (may_send_snapshot_chunk(pr)) {
    const snapshot& s = *pr.snap;
    const std::uint64_t size = s.meta.size;
    const std::uint64_t offset = std::min(pr.snap_offset, size);
    const std::uint64_t n = std::min<std::uint64_t>(opts_.max_snapshot_chunk, size - offset);
    message m{opts_.id, to, hs_.current_term, install_snapshot_request{}};
    auto& req = std::get<install_snapshot_request>(m.body);
    req.meta = s.meta;
    req.offset = offset;
    // A chunk past the end is empty: it asks a follower that has everything
    // whether it has installed it yet. Otherwise the runtime reads the bytes.
    if (n > 0) {
      req.source = s.data;
      req.fill = n;
    }
    req.done = offset + n == size;
    pr.snap_offset = offset + n;
    pr.snap_done_sent = req.done;
    send(std::move(m), false);
  }
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
  // Damaged on the way (or read wrong): the leader sends it again after a
  // heartbeat round without an answer.
  if (detail::crc32c(r.data.data(), r.data.size()) != r.crc) return;
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
  if (installing_) return;                       // answered "installed" once snapshot_installed() runs
  if (ticks_ < refuse_snapshots_until_) return;  // backing off after a storage failure
  if (!incoming_ || incoming_->meta != meta) {
    // A different snapshot: start over [Fig. 13 steps 2-4] (the runtime
    // discards what it wrote of the other one when this one's first chunk
    // comes).
    incoming_ = incoming_snapshot{meta, 0, 0, false};
  }
  incoming_snapshot& in = *incoming_;
  if (in.finishing) return;  // the whole is being checked: the verdict answers
  if (r.offset == in.received) {
    // In order: written by the runtime, acknowledged once written.
    in.received += r.data.size();
    in.finishing = r.done;
    ready_.snapshot_chunks.push_back(snapshot_chunk{meta, r.offset, r.data, r.done});
    return;
  }
  if (r.offset >= in.stored && r.offset < in.received) return;  // being written: the ack follows
  // A duplicate of what we hold, or a gap: answer where we are, the
  // leader resumes there.
  resp.next_offset = in.stored;
  send(std::move(reply), false);
}

void raft::snapshot_chunk_stored(const snapshot_meta& meta, std::uint64_t next_offset) {
  if (!incoming_ || incoming_->meta != meta || next_offset > incoming_->received) return;
  incoming_->stored = std::max(incoming_->stored, next_offset);
  if (incoming_->finishing && incoming_->stored == incoming_->received) return;  // the verdict answers
  if (leader_ == no_node) return;
  send(message{opts_.id, leader_, hs_.current_term,
               install_snapshot_response{meta.last.index, incoming_->stored, false}},
       false);
}

void raft::snapshot_receive_failed(const snapshot_meta& meta) {
  if (!incoming_ || incoming_->meta != meta || !incoming_->finishing) return;
  incoming_.reset();  // corrupt: ask for it again from the start
  if (leader_ == no_node) return;
  send(message{opts_.id, leader_, hs_.current_term, install_snapshot_response{meta.last.index, 0, false, true}}, false);
}

void raft::snapshot_receive_aborted(const snapshot_meta& meta, std::uint64_t refuse_ticks) {
  if (!incoming_ || incoming_->meta != meta) return;
  incoming_.reset();
  refuse_snapshots_until_ = ticks_ + refuse_ticks;
}

void raft::snapshot_received(snapshot s) {
  if (!incoming_ || incoming_->meta != s.meta || !incoming_->finishing) return;
  incoming_.reset();
  if (installing_) return;
  if (s.meta.last.index <= commit_index_) {
    // Entries arrived meanwhile and cover it (see handle_snapshot_request).
    if (leader_ != no_node)
      send(
          message{opts_.id, leader_, hs_.current_term, install_snapshot_response{s.meta.last.index, s.meta.size, true}},
          true);
    return;
  }
  installing_ = s;
  ready_.install_snapshot = std::move(s);
}

void raft::resume_snapshot(const snapshot_meta& meta, std::uint64_t durable_bytes) {
  if (durable_bytes > meta.size || meta.last.index <= commit_index_) return;
  incoming_ = incoming_snapshot{meta, durable_bytes, durable_bytes, false};
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

void raft::whole_not_verified(progress& pr) {
  // The follower found that the whole does not match the snapshot's
  // checksum (whole_failed). Every chunk carried a CRC of the bytes
  // read here, so if our copy changed on disk since it was taken, chunks
  // pass and the whole never will: have the runtime check ours (once per
  // snapshot). Start over with the newest snapshot, if there is a newer one.
  const snapshot_meta& meta = pr.snap->meta;
  if (meta.size > 0 && (!verify_asked_ || *verify_asked_ != meta)) {
    verify_asked_ = meta;
    ready_.verify_snapshot = *pr.snap;
  }
  if (snapshot_ && snapshot_->meta.last.index > meta.last.index) start_snapshot_stream(pr, *snapshot_);
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
  if (r.next_offset > pr.snap_acked) {
    // Written through there: the window moves on (and opens again).
    pr.snap_acked = std::min(r.next_offset, pr.snap->meta.size);
    pr.snap_progressed = true;
    pr.snap_resent = false;
  } else if (r.next_offset < pr.snap_acked || r.whole_failed) {
    // The follower went back: the whole did not verify (it starts over
    // from 0), or it restarted and kept less; or a stale ack. Resend from
    // there (a stale ack costs only chunks the follower answers as held).
    if (r.whole_failed) whole_not_verified(pr);
    pr.snap_acked = r.next_offset;
    pr.snap_offset = r.next_offset;
    pr.snap_done_sent = false;
    pr.snap_progressed = true;
  }
  // An ack equal to the last one is a duplicate, or the follower reporting
  // a gap (a chunk lost on the way): the heartbeat round without progress
  // resends from it, so duplicates never multiply the chunks sent.
  if (pr.snap_offset < pr.snap_acked) {
    // It holds more than we sent: a transfer resumed from another leader's
    // (or its own before a restart).
    pr.snap_offset = pr.snap_acked;
    pr.snap_done_sent = false;
  }
}

}  // namespace coraft::core
