// node.cpp — the coroutine runtime around the protocol core.
//
// Threading: everything in `impl` runs only on `strand_`. Public entry
// points post onto it (deliver, tick, campaign, propose) or spawn a
// coroutine on it and await that (start, status, stop).
//
// Ordering rules of the ready batch (coraft/core/raft.hpp) as carried out
// here: send_now goes to the replicators at once; persist_* and
// send_after_sync become one write job; the log writer runs jobs in FIFO
// order, so a job's after-sync messages leave only once it and every earlier
// job are durable [thesis §3.8]; apply entries go to the applier in order.
#include <coraft/node.hpp>

#include <coraft/detail/crc32c.hpp>
#include <coraft/detail/planted.hpp>
#include <coraft/detail/splitmix.hpp>
#include <coraft/detail/wakeup.hpp>
#include <coraft/log.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <random>

namespace coraft {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;

namespace {

using detail::wakeup;

using propose_handler = asio::any_completion_handler<void(propose_outcome)>;
using index_handler = asio::any_completion_handler<void(index_outcome)>;

// Resumes a caller on its own executor, never inline on the node strand.
template <class Handler, class Value>
void resume(const asio::any_io_executor& ex, Handler h, Value v) {
  asio::post(ex, [h = std::move(h), v = std::move(v)]() mutable { std::move(h)(std::move(v)); });
}

index_outcome index_error(errc e, node_id hint = no_node) {
  index_outcome out;
  out.code = make_error_code(e);
  out.leader_hint = hint;
  return out;
}

std::string ids_text(std::vector<node_id> ids) {
  std::sort(ids.begin(), ids.end());
  std::string s;
  for (node_id id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
  return s.empty() ? "none" : s;
}

// How `given` (the options) differs from `stored` (the bootstrap configuration
// written at first start); empty when they name the same members alike.
std::string bootstrap_difference(const membership& stored, const membership& given) {
  std::string out;
  auto sorted = [](std::vector<node_id> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  if (sorted(stored.voters) != sorted(given.voters))
    out += "voters " + ids_text(given.voters) + " given, " + ids_text(stored.voters) + " stored; ";
  if (sorted(stored.learners) != sorted(given.learners))
    out += "learners " + ids_text(given.learners) + " given, " + ids_text(stored.learners) + " stored; ";
  for (const auto& [id, a] : given.addresses) {
    auto it = stored.addresses.find(id);
    if (it != stored.addresses.end() && it->second != a)
      out += "address of " + std::to_string(id) + " '" + a + "' given, '" + it->second + "' stored; ";
  }
  if (!out.empty()) out.resize(out.size() - 2);
  return out;
}

std::uint64_t random_u64() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

struct node::impl {
  impl(asio::any_io_executor ex, node_options o, storage& s, transport& t, state_machine& m)
      : strand_(asio::make_strand(ex)),
        opts_(std::move(o)),
        store_(s),
        net_(t),
        sm_(m),
        writer_wake_(strand_),
        applier_wake_(strand_),
        tasks_done_(strand_) {}

  // One group-commit unit: what one ready batch asked to persist, and the
  // messages that may leave once it is durable.
  // A job may instead install a snapshot a leader sent (after every earlier
  // job), or record a compaction.
  struct write_job {
    std::optional<hard_state> state;
    std::vector<entry> entries;
    std::vector<message> after_sync;
    std::optional<coraft::snapshot> install{};
    std::optional<log_id> compact{};
  };
  // What the applier does next: entries in order, or restore a snapshot.
  struct apply_item {
    std::vector<entry> entries;
    std::optional<coraft::snapshot> restore;
  };
  // A pending read_index() (by ctx until the core answers, then by index
  // until applied), transfer_leadership() or snapshot().
  struct index_waiter {
    std::uint64_t deadline_tick;
    asio::any_io_executor client;
    index_handler handler;
  };

  struct peer {
    explicit peer(const asio::any_io_executor& ex) : wake(ex) {}
    std::vector<message> outbox;
    wakeup wake;
  };
  // A pending propose(): completes when its index is applied (success if
  // the entry there is still ours, by term) or at its deadline.
  struct waiter {
    index_t index;
    term_t term;
    std::uint64_t deadline_tick;
    asio::any_io_executor client;  // where the proposer resumes
    propose_handler handler;
    std::chrono::steady_clock::time_point accepted{};
  };

  asio::strand<asio::any_io_executor> strand_;
  node_options opts_;
  storage& store_;
  transport& net_;
  state_machine& sm_;
  std::optional<core::raft> raft_;

  bool started_ = false;
  bool stopping_ = false;
  bool stopped_ = false;
  std::string fatal_;
  std::uint64_t now_tick_ = 0;
  bool flush_scheduled_ = false;

  std::deque<write_job> write_queue_;
  std::optional<log_id> reset_on_first_write_;  // see start_on_strand
  wakeup writer_wake_;
  std::map<node_id, peer> peers_;
  membership config_;                    // the configuration in force, as last reported to on_membership
  std::vector<apply_item> apply_queue_;  // ready::apply batches and restores, in order
  wakeup applier_wake_;

  std::map<std::uint64_t, index_waiter> reads_;          // by ctx: the core has not answered
  std::multimap<index_t, index_waiter> reads_applying_;  // confirmed: wait for the apply
  // Read contexts: this incarnation's tag (never 0) in the top 32 bits, a
  // count below. Invariant: unique across incarnations of this node (up to
  // the 2^-32 chance of two incarnations drawing one tag), so an answer
  // meant for an earlier incarnation — still queued in a peer's transport
  // while we were down — matches nothing here [thesis §6.4].
  std::uint64_t read_ctx_tag_ = 0;
  std::uint64_t next_read_ctx_ = 1;
  std::vector<index_waiter> transfers_;
  std::vector<index_waiter> snapshot_waiters_;
  bool snapshot_requested_ = false;
  bool snapshot_running_ = false;
  wakeup snapshot_wake_{strand_};
  index_t snapshot_index_ = 0;          // last included index of the newest snapshot here
  std::size_t last_capture_bytes_ = 0;  // size of the last snapshot captured here
  std::uint64_t applied_since_snapshot_ = 0;
  std::uint64_t bytes_since_snapshot_ = 0;
  // Pending proposals. Invariant: ascending by index, and so by deadline too:
  // a new proposal at index i first drops every waiter at i or above — a
  // newer leader replaced those entries in our log [§5.3] — then goes last.
  std::deque<waiter> waiters_;
  index_t applied_index_ = 0;

  node_metrics metrics_;
  node_id last_leader_ = no_node;
  core::role last_role_ = core::role::follower;
  term_t last_term_ = 0;
  std::map<node_id, std::chrono::steady_clock::time_point> last_contact_;

  std::size_t running_ = 0;
  wakeup tasks_done_;
  std::list<asio::cancellation_signal> cancels_;

  // ---- task group -------------------------------------------------------

  void spawn(awaitable<void> task) {
    ++running_;
    auto& sig = cancels_.emplace_back();
    asio::co_spawn(strand_, std::move(task), asio::bind_cancellation_slot(sig.slot(), [this](std::exception_ptr e) {
                     if (e) {
                       try {
                         std::rethrow_exception(e);
                       } catch (const boost::system::system_error& se) {
                         if (se.code() != asio::error::operation_aborted) fail(se.what());
                       } catch (const std::exception& ex) {
                         fail(ex.what());
                       }
                     }
                     --running_;
                     tasks_done_.notify();
                   }));
  }

  // A storage or state machine failure: stop serving, acknowledge nothing
  // more, and tell the owner (once), who should exit with the error.
  void fail(const std::string& why) {
    if (fatal_.empty()) {
      fatal_ = why;
      log_line(log_level::error, opts_.raft.id, "node", "fatal: " + why + "; the node has stopped");
      if (opts_.on_fatal) opts_.on_fatal(why);
    }
    begin_stop();
  }

  void begin_stop() {
    if (stopping_) return;
    stopping_ = true;
    for (auto& w : waiters_) complete(w, errc::stopped);
    waiters_.clear();
    fail_index_waiters(errc::stopped);
    for (auto& t : transfers_) resume(t.client, std::move(t.handler), index_error(errc::stopped));
    transfers_.clear();
    snapshot_wake_.notify();
    for (auto& sig : cancels_) sig.emit(asio::cancellation_type::terminal);
    writer_wake_.notify();
    applier_wake_.notify();
    for (auto& [id, p] : peers_) p.wake.notify();
  }

  awaitable<void> stop_on_strand() {
    begin_stop();
    while (running_ > 0) co_await tasks_done_.wait();
    stopped_ = true;
  }

  // ---- completing proposals ---------------------------------------------

  // Resumes the proposer on its own executor, never inline on the strand.
  // Queues the proposer's completion; send_completions() resumes them.
  void complete(waiter& w, propose_outcome out) {
    if (out) {
      ++metrics_.proposals_ok;
      metrics_.commit_latency.observe(std::chrono::duration<double>(now() - w.accepted).count());
    } else {
      ++metrics_.proposals_failed;
    }
    if (completions_.empty()) schedule_completions();
    completions_.push_back({std::move(w.client), std::move(w.handler), std::move(out)});
  }

  // One post per run of proposers sharing an executor (not one per
  // proposal): each resumes there, never inline on the node strand.
  struct completion {
    asio::any_io_executor client;
    propose_handler handler;
    propose_outcome out;
  };
  std::vector<completion> completions_;
  std::optional<std::chrono::steady_clock::time_point> now_cache_;

  std::chrono::steady_clock::time_point now() {
    if (!now_cache_) now_cache_ = std::chrono::steady_clock::now();
    return *now_cache_;
  }

  void schedule_completions() {
    asio::post(strand_, [this] { send_completions(); });
  }

  void send_completions() {
    std::vector<completion> all;
    all.swap(completions_);
    now_cache_.reset();
    for (std::size_t i = 0; i < all.size();) {
      std::size_t j = i + 1;
      while (j < all.size() && all[j].client == all[i].client) ++j;
      std::vector<completion> run(std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(i)),
                                  std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(j)));
      auto ex = run.front().client;
      asio::post(ex, [run = std::move(run)]() mutable {
        for (auto& c : run) std::move(c.handler)(std::move(c.out));
      });
      i = j;
    }
  }
  void complete(waiter& w, errc e, node_id hint = no_node) {
    propose_outcome out;
    out.error.code = make_error_code(e);
    out.error.leader_hint = hint;
    complete(w, std::move(out));
  }

  void do_propose(payload cmd, waiter w) {
    if (!started_ || stopping_) return complete(w, errc::stopped);
    if (cmd.size() > opts_.max_command_bytes) return complete(w, errc::too_large);
    if (waiters_.size() >= opts_.max_pending_proposals) return complete(w, errc::overloaded);
    const core::propose_result r = raft_->propose(std::move(cmd));
    switch (r.result) {
      case core::propose_result::code::not_leader: return complete(w, errc::not_leader, r.leader_hint);
      case core::propose_result::code::dropped: return complete(w, errc::dropped);
      case core::propose_result::code::transferring: return complete(w, errc::transferring, r.leader_hint);
      case core::propose_result::code::accepted: break;
    }
    track(r.id, std::move(w));
  }

  void do_change(const core::config_change& c, waiter w) {
    if (!started_ || stopping_) return complete(w, errc::stopped);
    if (waiters_.size() >= opts_.max_pending_proposals) return complete(w, errc::overloaded);
    const core::config_result r = raft_->propose_config(c);
    using code = core::config_result::code;
    switch (r.result) {
      case code::not_leader: return complete(w, errc::not_leader, r.leader_hint);
      case code::transferring: return complete(w, errc::transferring, r.leader_hint);
      case code::busy: return complete(w, errc::busy);
      case code::bad_member: return complete(w, errc::bad_member);
      case code::not_caught_up: return complete(w, errc::not_caught_up);
      case code::accepted: break;
    }
    log_line(log_level::info, opts_.raft.id, "raft",
             "membership change appended at index " + std::to_string(r.id.index));
    track(r.id, std::move(w));
  }

  // An entry of ours was appended at `id`: complete `w` once it is applied.
  void track(log_id id, waiter w) {
    while (!waiters_.empty() && waiters_.back().index >= id.index) {
      complete(waiters_.back(), errc::dropped);
      waiters_.pop_back();
    }
    w.index = id.index;
    w.term = id.term;
    w.deadline_tick = now_tick_ + static_cast<std::uint64_t>(opts_.propose_timeout_ticks);
    w.accepted = now();
    waiters_.push_back(std::move(w));
    schedule_flush();
  }

  void fail_index_waiters(errc e) {
    for (auto& [ctx, w] : reads_) resume(w.client, std::move(w.handler), index_error(e));
    for (auto& [i, w] : reads_applying_) resume(w.client, std::move(w.handler), index_error(e));
    for (auto& w : snapshot_waiters_) resume(w.client, std::move(w.handler), index_error(e));
    metrics_.reads_failed += reads_.size() + reads_applying_.size();
    reads_.clear();
    reads_applying_.clear();
    snapshot_waiters_.clear();
  }

  // ---- reads, transfers, snapshots ----------------------------------------

  void do_read(index_waiter w) {
    if (!started_ || stopping_) return resume(w.client, std::move(w.handler), index_error(errc::stopped));
    const std::uint64_t ctx = next_read_ctx_++;
    if ((next_read_ctx_ & 0xffffffffu) == 0) {  // 2^32 reads: a new tag, so contexts stay unique
      read_ctx_tag_ = next_tag(read_ctx_tag_);
      next_read_ctx_ = read_ctx_tag_ << 32 | 1;
    }
    w.deadline_tick = now_tick_ + static_cast<std::uint64_t>(opts_.propose_timeout_ticks);
    reads_.emplace(ctx, std::move(w));
    raft_->read_index(ctx);
    schedule_flush();
  }

  static std::uint64_t next_tag(std::uint64_t seed) {
    std::uint64_t t = 0;
    while (t == 0) t = detail::splitmix64(seed) & 0xffffffffu;
    return t;
  }

  void on_read_state(const core::read_state& rs) {
    // Not this incarnation's (see read_ctx_tag_): never ours to complete.
    if (!CORAFT_PLANTED(read_ctx_reused) && rs.ctx >> 32 != read_ctx_tag_) return;
    auto it = reads_.find(rs.ctx);
    if (it == reads_.end()) return;  // expired meanwhile
    index_waiter w = std::move(it->second);
    reads_.erase(it);
    if (!rs.ok) {
      ++metrics_.reads_failed;
      return resume(w.client, std::move(w.handler), index_error(errc::not_leader, raft_->leader()));
    }
    reads_applying_.emplace(rs.index, std::move(w));
    complete_applied_reads();
  }

  void complete_applied_reads() {
    while (!reads_applying_.empty() && reads_applying_.begin()->first <= applied_index_) {
      auto node = reads_applying_.extract(reads_applying_.begin());
      index_outcome out;
      out.index = node.key();
      ++metrics_.reads_ok;
      resume(node.mapped().client, std::move(node.mapped().handler), std::move(out));
    }
  }

  void do_transfer(node_id to, index_waiter w) {
    if (!started_ || stopping_) return resume(w.client, std::move(w.handler), index_error(errc::stopped));
    switch (raft_->transfer_leadership(to)) {
      case core::raft::transfer_result::not_leader:
        return resume(w.client, std::move(w.handler), index_error(errc::not_leader, raft_->leader()));
      case core::raft::transfer_result::bad_target:
        return resume(w.client, std::move(w.handler), index_error(errc::bad_target));
      case core::raft::transfer_result::started: break;
    }
    // The core abandons it after an election timeout; this bound is a backstop.
    w.deadline_tick = now_tick_ + 4 * static_cast<std::uint64_t>(opts_.raft.election_ticks);
    transfers_.push_back(std::move(w));
    schedule_flush();
  }

  void check_transfers() {
    if (transfers_.empty()) return;
    const node_id leader = raft_->leader();
    index_outcome result;
    if (leader != no_node && leader != opts_.raft.id) {
      result.leader_hint = leader;  // another node leads: done
      result.index = raft_->commit_index();
    } else if (raft_->state() == core::role::leader && raft_->transfer_target() == no_node) {
      result = index_error(errc::timeout);  // abandoned [thesis §3.10]
    } else {
      bool expired = false;
      for (auto& t : transfers_) expired = expired || t.deadline_tick <= now_tick_;
      if (!expired) return;
      result = index_error(errc::timeout);
    }
    for (auto& t : transfers_) resume(t.client, std::move(t.handler), result);
    transfers_.clear();
  }

  // A read answers `timeout` at its deadline whether the core has not
  // confirmed it yet or it waits for the local apply (a follower cut off
  // from the leader after the confirmation may never apply that far).
  void expire_reads() {
    const auto expire = [this](auto& waiting) {
      for (auto it = waiting.begin(); it != waiting.end();) {
        if (it->second.deadline_tick > now_tick_) {
          ++it;
          continue;
        }
        ++metrics_.reads_failed;
        resume(it->second.client, std::move(it->second.handler), index_error(errc::timeout));
        it = waiting.erase(it);
      }
    };
    expire(reads_);
    if (!CORAFT_PLANTED(read_waits_forever)) expire(reads_applying_);
  }

  void maybe_request_snapshot() {
    const bool by_count = opts_.snapshot_entries > 0 && applied_since_snapshot_ >= opts_.snapshot_entries;
    const bool by_bytes = opts_.snapshot_log_bytes > 0 && bytes_since_snapshot_ >= opts_.snapshot_log_bytes;
    if ((by_count || by_bytes) && !snapshot_running_ && !snapshot_requested_) {
      snapshot_requested_ = true;
      snapshot_wake_.notify();
    }
  }

  void expire_proposals() {
    while (!waiters_.empty() && waiters_.front().deadline_tick <= now_tick_) {
      complete(waiters_.front(), errc::timeout);
      waiters_.pop_front();
    }
  }

  // ---- driving the core -------------------------------------------------

  void schedule_flush() {
    if (flush_scheduled_) return;
    flush_scheduled_ = true;
    // Posting (rather than flushing at once) batches every event already
    // queued on the strand into one ready batch.
    asio::post(strand_, [this] { flush(); });
  }

  void route(message m) {
    auto it = peers_.find(m.to);
    if (it == peers_.end()) {
      // A member that joined (or a leader we are joining): its replicator
      // starts with the first message for it.
      if (m.to == no_node || m.to == opts_.raft.id) return;
      it = peers_.emplace(std::piecewise_construct, std::forward_as_tuple(m.to), std::forward_as_tuple(strand_)).first;
      spawn(replicator(m.to));
    }
    it->second.outbox.push_back(std::move(m));
    it->second.wake.notify();
  }

  // Tells the owner when the configuration in force changed.
  void check_membership() {
    const membership& c = raft_->config();
    if (c == config_) return;
    config_ = c;
    std::string ids;
    for (node_id v : c.voters) ids += (ids.empty() ? "" : ",") + std::to_string(v);
    for (node_id l : c.learners) ids += (ids.empty() ? "" : ",") + std::to_string(l) + "(learner)";
    log_line(log_level::info, opts_.raft.id, "raft", "configuration in force: " + (ids.empty() ? "none" : ids));
    if (opts_.on_membership) opts_.on_membership(c);
  }

  void flush() {
    flush_scheduled_ = false;
    now_cache_.reset();
    if (!raft_ || stopping_) return;
    if (raft_->leader() != last_leader_ || raft_->state() != last_role_ || raft_->term() != last_term_) {
      last_term_ = raft_->term();
      if (raft_->leader() != last_leader_ && raft_->leader() != no_node) ++metrics_.leader_changes;
      last_leader_ = raft_->leader();
      last_role_ = raft_->state();
      set_log_context(opts_.raft.id, raft_->term(), core::to_string(last_role_));
      log_line(log_level::info, opts_.raft.id, "raft",
               std::string("now ") + core::to_string(last_role_) + ", leader " +
                   (last_leader_ == no_node ? std::string("unknown") : std::to_string(last_leader_)));
    }
    while (raft_->has_ready()) {
      core::ready rd = raft_->take_ready();
      for (auto& m : rd.send_now) route(std::move(m));
      if (rd.persist_state || !rd.persist_entries.empty() || !rd.send_after_sync.empty()) {
        write_queue_.push_back(
            write_job{std::move(rd.persist_state), std::move(rd.persist_entries), std::move(rd.send_after_sync)});
        writer_wake_.notify();
      }
      if (!rd.apply.empty()) {
        apply_queue_.push_back(apply_item{std::move(rd.apply), std::nullopt});
        applier_wake_.notify();
      }
      if (rd.install_snapshot) {
        log_line(log_level::info, opts_.raft.id, "snapshot",
                 "received snapshot through index " + std::to_string(rd.install_snapshot->meta.last.index) + " (" +
                     std::to_string(rd.install_snapshot->meta.size) + " bytes); installing");
        write_queue_.push_back(write_job{{}, {}, {}, std::move(rd.install_snapshot), {}});
        writer_wake_.notify();
      }
      for (const auto& r : rd.read_states) on_read_state(r);
    }
    check_membership();
    check_transfers();
  }

  void on_messages(std::vector<message>& batch) {
    if (!started_ || stopping_) return;
    const auto now = std::chrono::steady_clock::now();
    metrics_.messages_received += batch.size();
    for (const auto& m : batch) {
      last_contact_[m.from] = now;
      raft_->step(m);
    }
    schedule_flush();
  }

  void on_tick() {
    if (!started_ || stopping_) return;
    ++now_tick_;
    raft_->tick();
    expire_proposals();
    expire_reads();
    schedule_flush();
  }

  // ---- tasks ------------------------------------------------------------

  // start() counts as a task until it returns: a stop() that comes while
  // start() awaits storage waits for it, and start() then spawns nothing.
  struct start_guard {
    impl& self;
    explicit start_guard(impl& s) : self(s) { ++self.running_; }
    ~start_guard() {
      --self.running_;
      self.tasks_done_.notify();
    }
  };
  void throw_if_stopping() const {
    if (stopping_) throw boost::system::system_error(make_error_code(errc::stopped), "node stopped while starting");
  }

  awaitable<void> start_on_strand() {
    const start_guard guard(*this);
    recovered_state rs = co_await store_.load();
    throw_if_stopping();
    const membership given{opts_.voters, {}, opts_.addresses};
    membership bootstrap = given;
    const bool empty = rs.state == hard_state{} && rs.log.empty() && !rs.snap && rs.base == 0;
    if (rs.bootstrap && !CORAFT_PLANTED(bootstrap_from_options)) {
      // Once a data directory holds state, the configuration comes only from
      // it (the stored bootstrap, then config entries and snapshots); options
      // naming other members must not form another cluster over this log.
      bootstrap = *rs.bootstrap;
      if (const std::string diff = bootstrap_difference(bootstrap, given); !diff.empty())
        log_line(log_level::warn, opts_.raft.id, "raft",
                 "the bootstrap configuration given differs from the one stored at first start (" + diff +
                     "): ignored; the stored one and the log decide the members");
    } else if (empty || CORAFT_PLANTED(bootstrap_from_options)) {
      // First start: the bootstrap configuration becomes durable before the
      // node can vote or acknowledge anything, so that no later start can
      // take another one.
      if (!rs.bootstrap) {
        log_write w;
        w.bootstrap = given;
        co_await store_.write(std::move(w));
        throw_if_stopping();
      }
    } else {
      throw std::runtime_error(
          "storage holds a hard state, log or snapshot but no bootstrap configuration: it cannot say which "
          "cluster this node bootstrapped into (a storage implementation must keep log_write::bootstrap)");
    }
    read_ctx_tag_ = next_tag(opts_.incarnation_id != 0 ? opts_.incarnation_id : random_u64());
    next_read_ctx_ = CORAFT_PLANTED(read_ctx_reused) ? 1 : (read_ctx_tag_ << 32 | 1);
    const std::string restart_fix =
        "this node cannot prove it holds what it acknowledged. Do not restart it empty as the same voter "
        "(it would have forgotten its vote and log: it could vote twice in a term and count towards entries "
        "it does not hold); remove it from the cluster, wipe its data, add it back as a learner (--join) and "
        "promote it";
    if (rs.snap) {
      // [§7] Restart from the newest snapshot, then the log after it.
      const snapshot_meta meta = rs.snap->meta;
      const log_id last = meta.last;
      if (rs.base > last.index && !CORAFT_PLANTED(snapshot_fallback_clears_log))
        throw std::runtime_error("the log starts after entry " + std::to_string(rs.base) +
                                 " but the newest snapshot ends at entry " + std::to_string(last.index) +
                                 ": the entries between are lost (a newer snapshot is missing or damaged); " +
                                 restart_fix);
      bool connects = false;
      if (!rs.log.empty()) {
        const index_t first = rs.log.front().index;
        connects = first == last.index + 1 || (first <= last.index && rs.log.back().index >= last.index &&
                                               rs.log[last.index - first].term == last.term);
      }
      if (!connects) {
        // The snapshot is ahead of the log, or disagrees with it at its
        // index: a crash came between saving a leader's snapshot and
        // discarding the log (both steps of an install [§7]). Finish the
        // reset with the first write, so that entries after the snapshot
        // continue the log on disk. Until then nothing reads the old log.
        reset_on_first_write_ = last;
        rs.log.clear();
      }
      bytes_snapshot_reader in(rs.snap->data.view());
      try {
        sm_.restore_snapshot(in);
      } catch (const std::exception& e) {
        // The bytes passed their checksum, so the state machine cannot read
        // what a state machine wrote (another version's format, or a
        // snapshot a broken or hostile leader sent).
        throw std::runtime_error("the state machine cannot restore the snapshot through index " +
                                 std::to_string(meta.last.index) + " (" + e.what() + "); " + restart_fix);
      }
      applied_index_ = meta.last.index;
      snapshot_index_ = meta.last.index;
      log_line(log_level::info, opts_.raft.id, "snapshot",
               "restored snapshot through index " + std::to_string(meta.last.index));
      raft_.emplace(opts_.raft, rs.state, std::move(*rs.snap), std::move(rs.log));
    } else {
      if (rs.base > 0 || (!rs.log.empty() && rs.log.front().index != 1))
        throw std::runtime_error(
            "the log starts after entry " + std::to_string(rs.log.empty() ? rs.base : rs.log.front().index - 1) +
            " but no valid snapshot was found: the snapshot files are missing or corrupt; " + restart_fix);
      raft_.emplace(opts_.raft, bootstrap, rs.state, std::move(rs.log));
    }
    check_membership();  // the owner learns the members before anything is sent
    last_term_ = raft_->term();
    set_log_context(opts_.raft.id, last_term_, core::to_string(raft_->state()));
    for (const auto* ids : {&config_.voters, &config_.learners}) {
      for (node_id v : *ids) {
        if (v == opts_.raft.id) continue;
        peers_.emplace(std::piecewise_construct, std::forward_as_tuple(v), std::forward_as_tuple(strand_));
      }
    }
    for (auto& [id, p] : peers_) spawn(replicator(id));
    spawn(log_writer());
    spawn(applier());
    spawn(snapshotter());
    if (opts_.tick_interval.count() > 0) spawn(ticker());
    started_ = true;
  }

  // Election and heartbeat timing: one core tick per tick_interval.
  awaitable<void> ticker() {
    asio::steady_timer timer(strand_);
    auto next = std::chrono::steady_clock::now();
    while (!stopping_) {
      next += opts_.tick_interval;
      timer.expires_at(next);
      co_await timer.async_wait(use_awaitable);
      on_tick();
      // After a long stall (a paused process), do not fire a burst of ticks.
      const auto now = std::chrono::steady_clock::now();
      if (now - next > 4 * opts_.tick_interval) next = now;
    }
  }

  // Sends everything queued for one peer as one batch; the transport bounds
  // its own queue, so a slow peer never blocks the node.
  awaitable<void> replicator(node_id id) {
    peer& p = peers_.at(id);
    while (true) {
      while (p.outbox.empty() && !stopping_) co_await p.wake.wait();
      if (stopping_) co_return;
      std::vector<message> batch;
      batch.swap(p.outbox);
      co_await net_.send(id, std::move(batch));
    }
  }

  // Group commit: every job queued since the last write goes to storage as
  // one write (one sync). Jobs are merged in order; a later job's truncation
  // of a conflicting suffix cuts the merged entries. A job installing a
  // snapshot ends a group: what came before is written first.
  awaitable<void> log_writer() {
    while (true) {
      while (write_queue_.empty() && !stopping_) co_await writer_wake_.wait();
      if (write_queue_.empty()) co_return;
      if (write_queue_.front().install) {
        write_job job = std::move(write_queue_.front());
        write_queue_.pop_front();
        if (!co_await install_snapshot(std::move(*job.install))) co_return;
        continue;
      }
      log_write w;
      w.reset = std::exchange(reset_on_first_write_, std::nullopt);
      std::vector<message> after_sync;
      while (!write_queue_.empty() && !write_queue_.front().install) {
        write_job job = std::move(write_queue_.front());
        write_queue_.pop_front();
        if (job.state) w.state = job.state;
        if (job.compact && (!w.compact || w.compact->index < job.compact->index)) w.compact = job.compact;
        if (!job.entries.empty()) {
          const index_t first = job.entries.front().index;
          if (!w.entries.empty() && first <= w.entries.back().index) {
            if (first <= w.entries.front().index)
              w.entries.clear();
            else
              w.entries.resize(first - w.entries.front().index);
          }
          if (w.entries.empty())
            w.entries = std::move(job.entries);
          else
            std::move(job.entries.begin(), job.entries.end(), std::back_inserter(w.entries));
        }
        std::move(job.after_sync.begin(), job.after_sync.end(), std::back_inserter(after_sync));
      }
      const std::optional<log_id> last =
          w.entries.empty() ? std::nullopt : std::optional<log_id>(w.entries.back().id());
      const std::optional<term_t> state_term = w.state ? std::optional<term_t>(w.state->current_term) : std::nullopt;
      const auto t0 = std::chrono::steady_clock::now();
      ++metrics_.storage_writes;
      metrics_.storage_entries += w.entries.size();
      if (!co_await write_storage(std::move(w))) co_return;
      metrics_.storage_write_latency.observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      if (stopping_) co_return;
      for (auto& m : after_sync) route(std::move(m));
      if (last) raft_->synced_to(*last);
      if (state_term) raft_->state_synced(*state_term);
      schedule_flush();
    }
  }

  // One storage write; false (and the node fails) when storage failed.
  awaitable<bool> write_storage(log_write w) {
    try {
      co_await store_.write(std::move(w));
    } catch (const boost::system::system_error& e) {
      if (e.code() == asio::error::operation_aborted) throw;
      fail(std::string("storage write failed: ") + e.what());
      co_return false;
    } catch (const std::exception& e) {
      fail(std::string("storage write failed: ") + e.what());
      co_return false;
    }
    co_return true;
  }

  // One snapshot to storage; false (and the node fails) when storage failed.
  awaitable<bool> save_snapshot_durably(const coraft::snapshot& s) {
    try {
      co_await store_.save_snapshot(s);
    } catch (const boost::system::system_error& e) {
      if (e.code() == asio::error::operation_aborted) throw;
      fail(std::string("saving a snapshot failed: ") + e.what());
      co_return false;
    } catch (const std::exception& e) {
      fail(std::string("saving a snapshot failed: ") + e.what());
      co_return false;
    }
    co_return true;
  }

  // [§7] A follower installs a leader's snapshot: durable first, then the
  // log is discarded durably, then the applier restores the state machine
  // (after every entry queued before) and tells the core.
  awaitable<bool> install_snapshot(coraft::snapshot s) {
    const log_id last = s.meta.last;
    if (!co_await save_snapshot_durably(s)) co_return false;
    log_write w;
    w.reset = last;
    reset_on_first_write_.reset();  // superseded by this reset
    if (!co_await write_storage(std::move(w))) co_return false;
    if (stopping_) co_return false;
    apply_queue_.push_back(apply_item{{}, std::move(s)});
    applier_wake_.notify();
    co_return true;
  }

  // Takes a snapshot when asked (snapshot(), or the applied log passed the
  // configured size): serializes the state machine on the strand — a
  // consistent view, since apply() runs only here — then writes it on the
  // storage's thread while the node goes on serving, then compacts the log.
  awaitable<void> snapshotter() {
    while (true) {
      while (!snapshot_requested_ && !stopping_) co_await snapshot_wake_.wait();
      if (stopping_) co_return;
      snapshot_requested_ = false;
      snapshot_running_ = true;
      const index_t at = applied_index_;
      index_outcome out;
      if (at > snapshot_index_) {
        const auto term = raft_->term_at(at);
        if (!term) {
          out = index_error(errc::busy);  // cannot happen: applied entries stay until compacted
        } else if (raft_->config_at(at).voters.empty()) {
          // A joiner that has not yet applied the entry adding it does not
          // know the configuration at `at` (the bootstrap configuration is
          // not in the log), and a snapshot must carry it [thesis §5.1,
          // lastConfig]: wait until it knows. The next apply asks again.
          out = index_error(errc::busy);
        } else {
          const auto t0 = std::chrono::steady_clock::now();
          string_snapshot_writer w;
          // Room for about the last snapshot's size up front: growing a
          // 10+ MB string by doubling copies it and faults in fresh pages,
          // all while the strand waits.
          w.out.reserve(last_capture_bytes_ + last_capture_bytes_ / 8);
          sm_.save_snapshot(w);
          last_capture_bytes_ = w.out.size();
          coraft::snapshot s;
          s.meta.last = {*term, at};
          s.meta.config = raft_->config_at(at);
          s.meta.size = w.out.size();
          s.meta.crc = detail::crc32c(w.out.data(), w.out.size());
          s.data = payload(w.out);
          w.out = std::string();
          metrics_.last_snapshot_capture_s =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          const std::uint64_t since = applied_since_snapshot_;
          const std::uint64_t bytes = bytes_since_snapshot_;
          applied_since_snapshot_ = 0;
          bytes_since_snapshot_ = 0;
          if (!co_await save_snapshot_durably(s)) co_return;
          if (stopping_) co_return;
          ++metrics_.snapshots_taken;
          const std::uint64_t keep = opts_.snapshot_trailing_entries;
          raft_->snapshot_taken(std::move(s), at > keep ? at - keep : 0);
          snapshot_index_ = std::max(snapshot_index_, at);
          const index_t base = raft_->first_index() - 1;
          if (base > 0) {
            write_queue_.push_back(write_job{{}, {}, {}, std::nullopt, log_id{*raft_->term_at(base), base}});
            writer_wake_.notify();
          }
          log_line(log_level::info, opts_.raft.id, "snapshot",
                   "took snapshot through index " + std::to_string(at) + " (" + std::to_string(since) + " entries, " +
                       std::to_string(bytes) + " command bytes since the last); log compacted through " +
                       std::to_string(base));
          out.index = at;
          schedule_flush();
        }
      } else {
        out.index = snapshot_index_;  // nothing new applied since the last one
      }
      snapshot_running_ = false;
      auto waiters = std::move(snapshot_waiters_);
      snapshot_waiters_.clear();
      for (auto& w : waiters) resume(w.client, std::move(w.handler), out);
    }
  }

  // Applies committed entries in order and completes their proposals.
  awaitable<void> applier() {
    std::vector<apply_item> batches;
    while (true) {
      while (apply_queue_.empty() && !stopping_) co_await applier_wake_.wait();
      if (stopping_) co_return;
      batches.swap(apply_queue_);
      for (auto& batch : batches) {
        for (entry& e : batch.entries) apply_one(e);
        if (batch.restore) restore(std::move(*batch.restore));
      }
      batches.clear();
      complete_applied_reads();
      maybe_request_snapshot();
    }
  }

  void restore(coraft::snapshot s) {
    const log_id last = s.meta.last;
    bytes_snapshot_reader in(s.data.view());
    try {
      sm_.restore_snapshot(in);
    } catch (const std::exception& e) {
      throw std::runtime_error("the state machine cannot restore the snapshot through index " +
                               std::to_string(last.index) + " that the leader sent (" + e.what() + ")");
    }
    applied_index_ = last.index;
    snapshot_index_ = last.index;
    applied_since_snapshot_ = 0;
    bytes_since_snapshot_ = 0;
    ++metrics_.snapshots_installed;
    // Proposals at or below it: their outcome is unknown here.
    while (!waiters_.empty() && waiters_.front().index <= last.index) {
      complete(waiters_.front(), errc::timeout);
      waiters_.pop_front();
    }
    raft_->snapshot_installed(last);
    log_line(log_level::info, opts_.raft.id, "snapshot",
             "installed snapshot through index " + std::to_string(last.index));
    schedule_flush();
  }

  void apply_one(entry& e) {
    std::string result;
    if (e.type == entry_type::normal) result = sm_.apply(e.index, e.data);
    applied_index_ = e.index;
    ++metrics_.entries_applied;
    ++applied_since_snapshot_;
    bytes_since_snapshot_ += e.data.size();
    // Waiters below this index missed their entry (cannot happen while
    // indexes are applied one by one; kept as a guard against hangs).
    while (!waiters_.empty() && waiters_.front().index <= e.index) {
      waiter& w = waiters_.front();
      if (w.index == e.index && w.term == e.term) {
        propose_outcome out;
        out.value.index = e.index;
        out.value.result = std::move(result);
        complete(w, std::move(out));
      } else {
        // A newer leader put another entry at this index [§5.3]: ours can
        // never commit.
        complete(w, errc::dropped);
      }
      waiters_.pop_front();
    }
  }

  node_status make_status() const {
    node_status s;
    if (raft_) static_cast<core::status&>(s) = raft_->get_status();
    s.id = opts_.raft.id;
    s.applied_index = applied_index_;
    s.stopped = stopping_;
    s.fatal_error = fatal_;
    s.pending_proposals = waiters_.size();
    s.metrics = metrics_;
    const auto now = std::chrono::steady_clock::now();
    s.addresses = config_.addresses;
    for (const auto* ids : {&config_.voters, &config_.learners}) {
      for (node_id v : *ids) {
        if (v == opts_.raft.id) continue;
        auto it = last_contact_.find(v);
        s.last_contact_ms.emplace_back(
            v, it == last_contact_.end()
                   ? -1
                   : std::chrono::duration_cast<std::chrono::milliseconds>(now - it->second).count());
      }
    }
    return s;
  }

  awaitable<node_status> status_on_strand() { co_return make_status(); }

  awaitable<std::vector<entry_info>> log_info_on_strand(index_t from, std::size_t limit) {
    std::vector<entry_info> out;
    if (!raft_) co_return out;
    const index_t last = raft_->last_log().index;
    for (index_t i = std::max(from, raft_->first_index()); i <= last && out.size() < limit; ++i) {
      const entry* e = raft_->entry_at(i);
      if (e == nullptr) break;
      out.push_back({e->index, e->term, e->type, e->data.size()});
    }
    co_return out;
  }
};

node::node(asio::any_io_executor ex, node_options opts, storage& store, transport& net, state_machine& sm)
    : impl_(std::make_unique<impl>(std::move(ex), std::move(opts), store, net, sm)) {}

// The owner must have awaited stop() and let the executor run out of this
// node's handlers (e.g. io_context::run returned) before destroying it.
node::~node() = default;

awaitable<void> node::start() { co_await asio::co_spawn(impl_->strand_, impl_->start_on_strand(), use_awaitable); }

awaitable<propose_outcome> node::propose(std::string command) {
  impl* self = impl_.get();
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(propose_outcome)>(
      [self](auto handler, std::string cmd) {
        impl::waiter w{0, 0, 0, asio::get_associated_executor(handler, self->strand_),
                       propose_handler(std::move(handler))};
        // The one copy of the command: every later copy shares these bytes.
        asio::post(self->strand_, [self, w = std::move(w), cmd = payload(cmd)]() mutable {
          self->do_propose(std::move(cmd), std::move(w));
        });
      },
      use_awaitable, std::move(command));
}

// g++ 12 miscopies a braced temporary written inside the co_await
// expression (`co_await n.change_membership({kind, id, "short"})`: its
// short-string buffer pointer is left pointing at another copy — ASan
// bad-free); name the change first. See node.hpp.
awaitable<propose_outcome> node::change_membership(const core::config_change& change) {
  impl* self = impl_.get();
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(propose_outcome)>(
      [self](auto handler, core::config_change c) {
        impl::waiter w{0, 0, 0, asio::get_associated_executor(handler, self->strand_),
                       propose_handler(std::move(handler))};
        asio::post(self->strand_,
                   [self, w = std::move(w), c = std::move(c)]() mutable { self->do_change(c, std::move(w)); });
      },
      use_awaitable, core::config_change(change));
}

awaitable<index_outcome> node::read_index() {
  impl* self = impl_.get();
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(index_outcome)>(
      [self](auto handler) {
        impl::index_waiter w{0, asio::get_associated_executor(handler, self->strand_),
                             index_handler(std::move(handler))};
        asio::post(self->strand_, [self, w = std::move(w)]() mutable { self->do_read(std::move(w)); });
      },
      use_awaitable);
}

awaitable<index_outcome> node::transfer_leadership(node_id to) {
  impl* self = impl_.get();
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(index_outcome)>(
      [self, to](auto handler) {
        impl::index_waiter w{0, asio::get_associated_executor(handler, self->strand_),
                             index_handler(std::move(handler))};
        asio::post(self->strand_, [self, to, w = std::move(w)]() mutable { self->do_transfer(to, std::move(w)); });
      },
      use_awaitable);
}

awaitable<index_outcome> node::snapshot() {
  impl* self = impl_.get();
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(index_outcome)>(
      [self](auto handler) {
        impl::index_waiter w{0, asio::get_associated_executor(handler, self->strand_),
                             index_handler(std::move(handler))};
        asio::post(self->strand_, [self, w = std::move(w)]() mutable {
          if (!self->started_ || self->stopping_)
            return resume(w.client, std::move(w.handler), index_error(errc::stopped));
          self->snapshot_waiters_.push_back(std::move(w));
          self->snapshot_requested_ = true;
          self->snapshot_wake_.notify();
        });
      },
      use_awaitable);
}

awaitable<node_status> node::status() {
  co_return co_await asio::co_spawn(impl_->strand_, impl_->status_on_strand(), use_awaitable);
}

awaitable<std::vector<entry_info>> node::log_info(index_t from, std::size_t limit) {
  co_return co_await asio::co_spawn(impl_->strand_, impl_->log_info_on_strand(from, limit), use_awaitable);
}

void histogram::observe(double seconds) {
  ++count;
  sum += seconds;
  for (std::size_t i = 0; i < std::size(bounds); ++i) {
    if (seconds <= bounds[i]) {
      ++buckets[i];
      return;
    }
  }
}

awaitable<void> node::stop() { co_await asio::co_spawn(impl_->strand_, impl_->stop_on_strand(), use_awaitable); }

void node::deliver(std::vector<message> batch) {
  impl* self = impl_.get();
  asio::post(self->strand_, [self, b = std::move(batch)]() mutable { self->on_messages(b); });
}

void node::tick() {
  impl* self = impl_.get();
  asio::post(self->strand_, [self] { self->on_tick(); });
}

void node::campaign() {
  impl* self = impl_.get();
  asio::post(self->strand_, [self] {
    if (!self->started_ || self->stopping_) return;
    self->raft_->campaign();
    self->schedule_flush();
  });
}

node_id node::id() const { return impl_->opts_.raft.id; }

asio::any_io_executor node::get_executor() const { return impl_->strand_; }

}  // namespace coraft
