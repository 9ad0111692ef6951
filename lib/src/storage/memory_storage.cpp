#include <coraft/memory_storage.hpp>

#include <coraft/detail/crc32c.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <span>
#include <stdexcept>
#include <string>

namespace coraft {

namespace asio = boost::asio;

recovered_state memory_storage::durable() const {
  // A snapshot being received is not kept across a restart (recovered_state
  // carries no bytes): a transfer to a restarted node starts over.
  return {state_, std::vector<entry>(log_.begin(), log_.end()), snap_, base_, bootstrap_};
}

asio::awaitable<recovered_state> memory_storage::load() { co_return durable(); }

asio::awaitable<void> memory_storage::write(log_write w) {
  // One trip through the executor, so the node's group commit batches as it
  // would against a disk.
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  if (w.bootstrap && !bootstrap_) bootstrap_ = std::move(w.bootstrap);
  if (w.reset) {
    log_.clear();
    base_ = w.reset->index;
  }
  if (w.compact) {
    while (!log_.empty() && log_.front().index <= w.compact->index) log_.pop_front();
    base_ = std::max(base_, w.compact->index);
  }
  if (w.state) state_ = *w.state;
  if (!w.entries.empty()) {
    const index_t first = w.entries.front().index;
    const index_t last = base_ + log_.size();
    if (first <= base_ || first > last + 1)
      throw std::logic_error("memory_storage: entries from " + std::to_string(first) + " do not continue a log of " +
                             std::to_string(base_ + 1) + ".." + std::to_string(last));
    if (first <= last) log_.resize(first - 1 - base_);  // conflicting suffix
    std::move(w.entries.begin(), w.entries.end(), std::back_inserter(log_));
  }
  ++writes_;
}

asio::awaitable<std::shared_ptr<const snapshot_data>> memory_storage::save_snapshot(snapshot s) {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  std::shared_ptr<const snapshot_data> data = s.data;
  if (!snap_ || s.meta.last.index > snap_->meta.last.index) snap_ = std::move(s);
  co_return data;
}

namespace {

class memory_sink final : public snapshot_sink {
 public:
  explicit memory_sink(snapshot_meta m) : meta(std::move(m)) {}
  void write(std::span<const std::byte> b) override {
    bytes.append(reinterpret_cast<const char*>(b.data()), b.size());
    crc_ = detail::crc32c_extend(crc_, b.data(), b.size());
  }
  std::uint64_t size() const override { return bytes.size(); }
  std::uint32_t crc() const override { return crc_; }
  snapshot_meta meta;
  std::string bytes;

 private:
  std::uint32_t crc_ = 0;
};

}  // namespace

std::unique_ptr<snapshot_sink> memory_storage::begin_snapshot(const membership& config) {
  snapshot_meta meta;
  meta.config = config;
  return std::make_unique<memory_sink>(std::move(meta));
}

asio::awaitable<snapshot> memory_storage::commit_snapshot(std::unique_ptr<snapshot_sink> sink, log_id last) {
  auto* m = dynamic_cast<memory_sink*>(sink.get());
  if (m == nullptr) throw std::logic_error("memory_storage: a sink of another storage");
  snapshot s{m->meta, snapshot_bytes(payload(m->bytes))};
  s.meta.last = last;
  s.meta.size = m->size();
  s.meta.crc = m->crc();
  const snapshot_meta meta = s.meta;
  std::shared_ptr<const snapshot_data> data = co_await save_snapshot(std::move(s));
  co_return snapshot{meta, std::move(data)};
}

asio::awaitable<void> memory_storage::write_snapshot_chunk(snapshot_meta meta, std::uint64_t offset, payload data) {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  if (!incoming_ || incoming_->meta != meta) incoming_ = partial{std::move(meta), {}};
  // A resumed transfer starts at the bytes kept; nothing else may skip.
  if (offset > incoming_->bytes.size())
    throw std::logic_error("memory_storage: snapshot chunk at " + std::to_string(offset) + " after " +
                           std::to_string(incoming_->bytes.size()) + " bytes");
  incoming_->bytes.resize(offset);
  incoming_->bytes.append(data.view());
}

asio::awaitable<std::shared_ptr<const snapshot_data>> memory_storage::finish_snapshot(snapshot_meta meta) {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  if (!incoming_ || incoming_->meta != meta)
    throw std::logic_error("memory_storage: finishing a snapshot not received");
  partial p = std::move(*incoming_);
  incoming_.reset();
  if (p.bytes.size() != meta.size || detail::crc32c(p.bytes.data(), p.bytes.size()) != meta.crc) co_return nullptr;
  snapshot s{std::move(meta), snapshot_bytes(payload(p.bytes))};
  std::shared_ptr<const snapshot_data> data = s.data;
  if (!snap_ || s.meta.last.index > snap_->meta.last.index) snap_ = std::move(s);
  co_return data;
}

}  // namespace coraft
