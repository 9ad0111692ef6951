// snapshotter.cpp — see snapshotter.hpp.
#include "snapshotter.hpp"

#include "applier.hpp"
#include "log_writer.hpp"

#include <coraft/log.hpp>

#include <coraft/detail/crc32c.hpp>
#include <coraft/detail/planted.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <span>
#include <stdexcept>

namespace coraft::detail {

namespace {

// This node's place in [0, 1): the fractional part of id × the golden
// ratio, so that small ids (1, 2, 3...) fall far apart.
double phase_of(node_id id) {
  const double x = static_cast<double>(id) * 0.6180339887498949;
  return x - static_cast<double>(static_cast<std::uint64_t>(x));
}

// The job for the snapshot thread: the image written to a sink of
// storage, as it comes (a stop cuts it short). Built here, outside the
// coroutine: g++ 12 frees an object moved from a coroutine's frame into a
// lambda's init-capture twice.
std::function<std::unique_ptr<snapshot_sink>()> persist_job(std::shared_ptr<snapshot_image> image, storage& store,
                                                            const membership& config, const std::atomic<bool>& stop) {
  return [image = std::move(image), &store, config, &stop]() {
    std::unique_ptr<snapshot_sink> sink = store.begin_snapshot(config);
    stoppable_writer w(*sink, stop);
    image->write(w);
    return sink;
  };
}

}  // namespace

snapshotter::snapshotter(node_context& ctx, storage& store, applier& apply, log_writer& writer)
    : ctx_(ctx),
      store_(store),
      applier_(apply),
      writer_(writer),
      wake_(ctx.strand),
      phase_(phase_of(ctx.self())),
      entries_offset_(static_cast<std::uint64_t>(phase_ * static_cast<double>(ctx.opts.snapshot_entries / 2))) {}

void snapshotter::request(index_waiter w) {
  waiters_.push_back(std::move(w));
  requested_ = true;
  wake_.notify();
}

void snapshotter::applied(const entry& e) {
  ++applied_since_;
  bytes_since_ += e.data.size();
}

void snapshotter::restored(index_t index) {
  snapshot_index_ = index;
  applied_since_ = 0;
  bytes_since_ = 0;
}

index_t snapshotter::next_by_count() const {
  // Capped so that nothing below wraps (2^62 entries is never reached).
  const std::uint64_t n = std::min<std::uint64_t>(ctx_.opts.snapshot_entries, 1ull << 62);
  const index_t from = snapshot_index_ + std::max<std::uint64_t>(1, n / 2);
  const std::uint64_t k = from > entries_offset_ ? (from - entries_offset_ + n - 1) / n : 0;
  return k * n + entries_offset_;
}

void snapshotter::maybe_start() {
  const node_options& o = ctx_.opts;
  const bool by_count = o.snapshot_entries > 0 && applier_.applied_index() >= next_by_count();
  const auto bytes_bound = static_cast<std::uint64_t>(static_cast<double>(o.snapshot_log_bytes) * (1 + phase_ / 2));
  const bool by_bytes = o.snapshot_log_bytes > 0 && bytes_since_ >= bytes_bound;
  if ((by_count || by_bytes) && !running_ && !requested_) {
    requested_ = true;
    wake_.notify();
  }
}

void snapshotter::fail_all(errc e) {
  for (auto& w : waiters_) w.answer(node_error(e));
  waiters_.clear();
}

asio::awaitable<void> snapshotter::run() {
  while (true) {
    while (!requested_ && !ctx_.stopping()) co_await wake_.wait();
    if (ctx_.stopping()) co_return;
    requested_ = false;
    running_ = true;
    node_result<index_t> out = snapshot_index_;  // nothing new applied since the last one
    if (applier_.applied_index() > snapshot_index_ || applier_.backlog() > 0) {
      const std::optional<node_result<index_t>> taken = co_await take();
      if (!taken) co_return;
      out = *taken;
    }
    running_ = false;
    auto waiters = std::move(waiters_);
    waiters_.clear();
    for (auto& w : waiters) w.answer(out);
  }
}

asio::awaitable<std::optional<node_result<index_t>>> snapshotter::take() {
  // Captured on the state machine's thread, in order with the applies: the
  // state is exactly that after the entries through c->meta.last.
  std::optional<captured_state> c = co_await applier_.capture(store_);
  if (!c || ctx_.stopping()) co_return std::nullopt;
  index_t at = c->meta.last.index;
  if (at <= snapshot_index_) co_return node_result<index_t>(snapshot_index_);  // a leader's snapshot came first
  // A joiner that has not yet applied the entry adding it does not know
  // the configuration at `at` (the bootstrap configuration is not in the
  // log), and a snapshot must carry it: the applier did not capture. The
  // next apply asks again.
  if (c->busy) co_return node_error(errc::busy);
  core::raft& raft = *ctx_.raft;
  ctx_.metrics.last_snapshot_capture_s = c->seconds;
  ctx_.metrics.snapshot_capture_latency.observe(c->seconds);
  std::unique_ptr<snapshot_sink> sink = std::move(c->written);
  if (c->image) {
    // Written out on the snapshot thread, straight to storage, while the
    // state machine applies what came after `at` (the image is of the
    // state at `at`). A write() that throws fails the node, like any state
    // machine call (state_machine.hpp), unless it is the stop cutting it
    // short.
    const auto t0 = std::chrono::steady_clock::now();
    try {
      sink = co_await on_snapshot_thread(ctx_, persist_job(std::shared_ptr<snapshot_image>(std::move(c->image)), store_,
                                                           c->meta.config, ctx_.sm_stop));
    } catch (const std::exception&) {
      if (!ctx_.stopping()) throw;
    }
    if (ctx_.stopping() || !sink) co_return std::nullopt;
    ctx_.metrics.last_snapshot_persist_s = seconds_since(t0);
    // Planted: labelled with the index applied now, while the image is of
    // the state at `at`.
    if (CORAFT_PLANTED(snapshot_image_indexed_late)) at = applier_.applied_index();
  }
  if (!sink) co_return std::nullopt;  // cannot happen: a capture gives one or the other
  log_id last = c->meta.last;         // the term and index at the capture
  if (at != last.index) {             // planted only
    const auto term = raft.term_at(at);
    if (!term) co_return node_error(errc::busy);
    last = {*term, at};
  }
  // Made durable by storage, and kept there from now on (never in memory).
  std::optional<coraft::snapshot> kept =
      co_await durably(ctx_, "saving a snapshot", store_.commit_snapshot(std::move(sink), last));
  if (!kept || ctx_.stopping()) co_return std::nullopt;
  coraft::snapshot s = std::move(*kept);
  const std::uint64_t since = applied_since_;
  const std::uint64_t bytes = bytes_since_;
  applied_since_ = 0;
  bytes_since_ = 0;
  ++ctx_.metrics.snapshots_taken;
  ctx_.events.record("snapshot_taken", "took a snapshot through index " + std::to_string(at),
                     {{"index", std::to_string(at)}});
  const std::uint64_t keep = ctx_.opts.snapshot_trailing_entries;
  raft.snapshot_taken(std::move(s), at > keep ? at - keep : 0);
  snapshot_index_ = std::max(snapshot_index_, at);
  const index_t base = raft.first_index() - 1;
  if (base > 0) {
    write_job compact;
    compact.compact = log_id{*raft.term_at(base), base};
    writer_.queue(std::move(compact));
  }
  log_line(log_level::info, ctx_.self(), "snapshot",
           "took snapshot through index " + std::to_string(at) + " (" + std::to_string(since) + " entries, " +
               std::to_string(bytes) + " command bytes since the last); log compacted through " + std::to_string(base));
  ctx_.schedule_flush();
  co_return node_result<index_t>(at);
}

}  // namespace coraft::detail
