// replicators.cpp — see replicators.hpp.
#include "replicators.hpp"

#include <coraft/detail/crc32c.hpp>
#include <coraft/log.hpp>

#include <algorithm>
#include <optional>

namespace coraft::detail {

void replicators::start(const membership& config) {
  // Every peer first, then their tasks (in id order).
  for (const auto* ids : {&config.voters, &config.learners}) {
    for (node_id v : *ids) {
      if (v != ctx_.self())
        peers_.emplace(std::piecewise_construct, std::forward_as_tuple(v), std::forward_as_tuple(ctx_.strand));
    }
  }
  for (auto& [id, p] : peers_) tasks_.spawn("replicator to " + std::to_string(id), [this, id] { return run(id); });
}

void replicators::route(message m) {
  auto it = peers_.find(m.to);
  if (it == peers_.end()) {
    if (m.to == no_node || m.to == ctx_.self()) return;
    it = add(m.to);
  }
  if (std::holds_alternative<append_request>(m.body) || std::holds_alternative<heartbeat_request>(m.body) ||
      std::holds_alternative<install_snapshot_request>(m.body)) {
    const auto now = std::chrono::steady_clock::now();
    note_gap(it->first, it->second, m, now);
    if (ctx_.opts.latency_histograms) note_sent(it->second, m, now);
  }
  it->second.outbox.push_back(std::move(m));
  it->second.wake.notify();
}

std::map<node_id, replicators::peer>::iterator replicators::add(node_id id) {
  auto it =
      peers_.emplace(std::piecewise_construct, std::forward_as_tuple(id), std::forward_as_tuple(ctx_.strand)).first;
  tasks_.spawn("replicator to " + std::to_string(id), [this, id] { return run(id); });
  return it;
}

// The longest silence towards each follower in this node's current term as
// leader: what a follower's election timer sees (plus the network).
void replicators::note_gap(node_id id, peer& p, const message& m, std::chrono::steady_clock::time_point now) {
  double& longest = ctx_.metrics.max_heartbeat_gap_s[id];
  if (p.gap_term != m.term) {
    p.gap_term = m.term;
    longest = 0;
  } else {
    longest = std::max(longest, std::chrono::duration<double>(now - p.last_sent).count());
  }
  p.last_sent = now;
}

void replicators::note_sent(peer& p, const message& m, std::chrono::steady_clock::time_point now) {
  std::deque<peer::sent>* q = nullptr;
  peer::sent s{m.term, 0, 0, now};
  if (const auto* a = std::get_if<append_request>(&m.body)) {
    q = &p.appends;
    s.prev = a->prev_log.index;
    s.last = a->prev_log.index + a->entries.size();
  } else if (const auto* h = std::get_if<heartbeat_request>(&m.body)) {
    q = &p.heartbeats;
    s.last = h->read_seq;
  } else {
    return;
  }
  if (q->size() >= max_in_flight) q->pop_front();  // lost on the way: never answered
  q->push_back(s);
}

// Answers come back in the order their requests went (one connection each
// way), so the oldest request the answer fits is the one it answers; the
// older ones still waiting went unanswered (dropped with a connection, or
// superseded) and are forgotten.
void replicators::answered(const message& m, std::chrono::steady_clock::time_point now) {
  const auto* a = std::get_if<append_response>(&m.body);
  const auto* h = std::get_if<heartbeat_response>(&m.body);
  if (a == nullptr && h == nullptr) return;
  auto it = peers_.find(m.from);
  if (it == peers_.end()) return;
  auto& q = a != nullptr ? it->second.appends : it->second.heartbeats;
  auto fits = [&](const peer::sent& s) {
    if (s.term != m.term) return false;
    if (h != nullptr) return s.last == h->read_seq;
    return a->success ? s.last == a->index : s.prev == a->index;
  };
  auto sent = std::find_if(q.begin(), q.end(), fits);
  if (sent == q.end()) return;
  ctx_.metrics.append_rtt[m.from].observe(std::chrono::duration<double>(now - sent->at).count());
  q.erase(q.begin(), sent + 1);
}

void replicators::wake_all() {
  for (auto& [id, p] : peers_) p.wake.notify();
}

namespace {

// Reads a chunk's bytes on the transfer thread (by value: the job owns its
// message while it runs; built outside the coroutine, see snapshotter.cpp).
auto fill_job(message m) {
  return [m = std::move(m)]() mutable {
    fill_snapshot_chunk(std::get<install_snapshot_request>(m.body));
    return m;
  };
}

// The CRC32C of `n` bytes of a snapshot at `at`, extending `crc` (on the
// snapshot thread: a file's reads block).
auto crc_piece_job(std::shared_ptr<const snapshot_data> data, std::uint64_t at, std::size_t n, std::uint32_t crc) {
  return [data = std::move(data), at, n, crc] {
    std::string piece(n, '\0');
    data->read(at, piece.data(), n);
    return coraft::detail::crc32c_extend(crc, piece.data(), n);
  };
}

}  // namespace

void replicators::verify(snapshot s) {
  if (!s.data) return;
  if (verifying_) {
    verify_next_ = std::move(s);  // checked once the one being checked is done
    return;
  }
  verifying_ = true;
  tasks_.spawn("verifying the snapshot through index " + std::to_string(s.meta.last.index),
               [this, s = std::move(s)] { return verify_snapshot(s); });
}

asio::awaitable<void> replicators::verify_snapshot(snapshot s) {
  // In 1 MiB pieces on the snapshot thread, one at a time: the transfer
  // thread's chunk reads (and the heartbeats queued behind them) never wait
  // for the whole, and a stop waits for one piece at most.
  constexpr std::uint64_t piece = 1u << 20;
  std::uint32_t crc = 0;
  std::string why;
  try {
    for (std::uint64_t at = 0; at < s.data->size() && !ctx_.stopping(); at += piece) {
      const auto n = static_cast<std::size_t>(std::min(piece, s.data->size() - at));
      crc = co_await run_elsewhere(ctx_, ctx_.snapshot_ex, crc_piece_job(s.data, at, n, crc));
    }
  } catch (const std::exception& e) {
    why = std::string("it cannot be read: ") + e.what();
  }
  verifying_ = false;
  if (ctx_.stopping()) co_return;
  if (why.empty() && crc != s.meta.crc) why = "it does not match its checksum";
  const std::string which = "the snapshot through index " + std::to_string(s.meta.last.index);
  if (why.empty()) {
    log_line(log_level::warn, ctx_.self(), "snapshot",
             which + " did not verify on a follower but verifies here: damaged on its disk or on the way");
    if (verify_next_) {
      snapshot next = std::move(*verify_next_);
      verify_next_.reset();
      verify(std::move(next));
    }
    co_return;
  }
  // Sending it again would only fail again, and the state it claims to
  // hold is not what this node's disk returns: stop. At the next start the
  // node falls back to its previous snapshot while the log still reaches
  // it, or refuses to start, naming the fix.
  ctx_.fail(which + " on this node's disk no longer verifies (" + why +
            "): its disk returns other bytes than were written");
}

asio::awaitable<void> replicators::run(node_id id) {
  peer& p = peers_.at(id);
  while (true) {
    while (p.outbox.empty() && p.chunks.empty() && !ctx_.stopping()) co_await p.wake.wait();
    if (ctx_.stopping()) co_return;
    std::vector<message> batch;
    batch.swap(p.outbox);
    // Snapshot chunks read from a file go last, once read off this strand:
    // heartbeats and appends in the same batch do not wait for the disk.
    for (auto it = batch.begin(); it != batch.end();) {
      auto* r = std::get_if<install_snapshot_request>(&it->body);
      if (r != nullptr && r->source && r->source->in_memory() == nullptr) {
        // A chunk that does not follow the last one queued is the core
        // going back (a resend) or forward (the follower held more) in its
        // stream, or another stream: everything queued is superseded. So
        // the queue never holds more than the core's window.
        if (!p.chunks.empty()) {
          const message& back = p.chunks.back();
          const auto& last = std::get<install_snapshot_request>(back.body);
          if (back.term != it->term || last.meta != r->meta || last.offset + last.fill != r->offset) p.chunks.clear();
        }
        p.chunks.push_back(std::move(*it));
        it = batch.erase(it);
      } else {
        if (r != nullptr) fill_snapshot_chunk(*r);  // in memory: a copy
        ++it;
      }
    }
    if (!batch.empty()) co_await net_.send(id, std::move(batch));
    if (p.chunks.empty()) continue;
    // One chunk, then back to the outbox. A chunk that cannot be read (its
    // file gone bad) is not sent: the leader resends from the follower's
    // offset after a heartbeat round without an answer.
    message m = std::move(p.chunks.front());
    p.chunks.pop_front();
    // Queued by a leader this node no longer is: the follower would refuse it.
    if (m.term != ctx_.raft->term() || ctx_.raft->state() != core::role::leader) continue;
    std::optional<message> filled;
    try {
      filled = co_await run_elsewhere(ctx_, ctx_.transfer_ex, fill_job(std::move(m)));
    } catch (const std::exception& e) {
      log_line(log_level::warn, ctx_.self(), "snapshot",
               "reading a chunk of the snapshot for node " + std::to_string(id) + " failed: " + e.what());
    }
    if (ctx_.stopping()) co_return;
    if (filled) {
      std::vector<message> one;
      one.push_back(std::move(*filled));
      co_await net_.send(id, std::move(one));
    }
  }
}

}  // namespace coraft::detail
