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

#include <deque>
#include <list>
#include <map>
#include <optional>

namespace coraft {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;

namespace {

using detail::wakeup;

using propose_handler = asio::any_completion_handler<void(propose_outcome)>;

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
  struct write_job {
    std::optional<hard_state> state;
    std::vector<entry> entries;
    std::vector<message> after_sync;
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
  wakeup writer_wake_;
  std::map<node_id, peer> peers_;
  std::vector<std::vector<entry>> apply_queue_;  // ready::apply batches, in order
  wakeup applier_wake_;
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
    asio::co_spawn(strand_, std::move(task),
                   asio::bind_cancellation_slot(sig.slot(), [this](std::exception_ptr e) {
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

  // A storage or state machine failure: stop serving, acknowledge nothing more.
  void fail(const std::string& why) {
    if (fatal_.empty()) fatal_ = why;
    begin_stop();
  }

  void begin_stop() {
    if (stopping_) return;
    stopping_ = true;
    for (auto& w : waiters_) complete(w, errc::stopped);
    waiters_.clear();
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
      case core::propose_result::code::not_leader:
        return complete(w, errc::not_leader, r.leader_hint);
      case core::propose_result::code::dropped:
        return complete(w, errc::dropped);
      case core::propose_result::code::accepted:
        break;
    }
    while (!waiters_.empty() && waiters_.back().index >= r.id.index) {
      complete(waiters_.back(), errc::dropped);
      waiters_.pop_back();
    }
    w.index = r.id.index;
    w.term = r.id.term;
    w.deadline_tick = now_tick_ + static_cast<std::uint64_t>(opts_.propose_timeout_ticks);
    w.accepted = now();
    waiters_.push_back(std::move(w));
    schedule_flush();
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
    if (it == peers_.end()) return;
    it->second.outbox.push_back(std::move(m));
    it->second.wake.notify();
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
        write_queue_.push_back(write_job{std::move(rd.persist_state), std::move(rd.persist_entries),
                                         std::move(rd.send_after_sync)});
        writer_wake_.notify();
      }
      if (!rd.apply.empty()) {
        apply_queue_.push_back(std::move(rd.apply));
        applier_wake_.notify();
      }
    }
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
    schedule_flush();
  }

  // ---- tasks ------------------------------------------------------------

  awaitable<void> start_on_strand() {
    recovered_state rs = co_await store_.load();
    raft_.emplace(opts_.raft, opts_.voters, rs.state, std::move(rs.log));
    last_term_ = raft_->term();
    set_log_context(opts_.raft.id, last_term_, core::to_string(raft_->state()));
    for (node_id v : opts_.voters) {
      if (v == opts_.raft.id) continue;
      peers_.emplace(std::piecewise_construct, std::forward_as_tuple(v),
                     std::forward_as_tuple(strand_));
    }
    for (auto& [id, p] : peers_) spawn(replicator(id));
    spawn(log_writer());
    spawn(applier());
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
  // of a conflicting suffix cuts the merged entries.
  awaitable<void> log_writer() {
    while (true) {
      while (write_queue_.empty() && !stopping_) co_await writer_wake_.wait();
      if (write_queue_.empty()) co_return;
      std::deque<write_job> jobs;
      jobs.swap(write_queue_);
      log_write w;
      std::vector<message> after_sync;
      for (auto& job : jobs) {
        if (job.state) w.state = job.state;
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
      const auto t0 = std::chrono::steady_clock::now();
      ++metrics_.storage_writes;
      metrics_.storage_entries += w.entries.size();
      try {
        co_await store_.write(std::move(w));
      } catch (const boost::system::system_error& e) {
        if (e.code() == asio::error::operation_aborted) throw;
        fail(std::string("storage write failed: ") + e.what());
        co_return;
      }
      metrics_.storage_write_latency.observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      if (stopping_) co_return;
      for (auto& m : after_sync) route(std::move(m));
      if (last) raft_->synced_to(*last);
      schedule_flush();
    }
  }

  // Applies committed entries in order and completes their proposals.
  awaitable<void> applier() {
    std::vector<std::vector<entry>> batches;
    while (true) {
      while (apply_queue_.empty() && !stopping_) co_await applier_wake_.wait();
      if (stopping_) co_return;
      batches.swap(apply_queue_);
      for (auto& batch : batches) {
        for (entry& e : batch) apply_one(e);
      }
      batches.clear();
    }
  }

  void apply_one(entry& e) {
    std::string result;
    if (e.type == entry_type::normal) result = sm_.apply(e.index, e.data);
    applied_index_ = e.index;
    ++metrics_.entries_applied;
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
    for (node_id v : opts_.voters) {
      if (v == opts_.raft.id) continue;
      auto it = last_contact_.find(v);
      s.last_contact_ms.emplace_back(
          v, it == last_contact_.end()
                 ? -1
                 : std::chrono::duration_cast<std::chrono::milliseconds>(now - it->second).count());
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

node::node(asio::any_io_executor ex, node_options opts, storage& store, transport& net,
           state_machine& sm)
    : impl_(std::make_unique<impl>(std::move(ex), std::move(opts), store, net, sm)) {}

// The owner must have awaited stop() and let the executor run out of this
// node's handlers (e.g. io_context::run returned) before destroying it.
node::~node() = default;

awaitable<void> node::start() {
  co_await asio::co_spawn(impl_->strand_, impl_->start_on_strand(), use_awaitable);
}

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

awaitable<void> node::stop() {
  co_await asio::co_spawn(impl_->strand_, impl_->stop_on_strand(), use_awaitable);
}

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
